//! Release artifacts inside PostgreSQL, for nodes that share no disk. Content-addressed like
//! the disk store: `artifacts` maps a SHA-256 to a blob of 1 MiB rows in `artifact_chunks`.
//! An upload writes its chunks in one transaction that commits only after the digest is
//! known, so an interrupted or refused upload leaves nothing behind, and identical bytes
//! uploaded twice are stored once.

use crate::sql::db;
use crate::upload::Upload;
use async_trait::async_trait;
use gantry_core::artifacts::{ArtifactReader, ArtifactStore, StoredArtifact};
use gantry_core::ids::new_id;
use gantry_core::store::Store;
use gantry_core::{CoreError, CoreResult};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

const CHUNK: usize = 1024 * 1024;

/// Uploads in progress at once on one node. Each holds a pooled connection (its transaction)
/// for as long as the client takes; the rest of the pool stays free for everything else.
pub const MAX_CONCURRENT_UPLOADS: usize = 6;

/// Artifacts in the database.
#[derive(Debug, Clone)]
pub struct PgArtifacts {
    pool: PgPool,
    uploads: Arc<Semaphore>,
}

impl PgArtifacts {
    /// Uses the store's pool (the tables come with its migrations).
    pub fn new(pool: PgPool) -> PgArtifacts {
        PgArtifacts {
            pool,
            uploads: Arc::new(Semaphore::new(MAX_CONCURRENT_UPLOADS)),
        }
    }
}

#[async_trait]
impl ArtifactStore for PgArtifacts {
    async fn put(
        &self,
        reader: &mut (dyn tokio::io::AsyncRead + Send + Unpin),
        limit: u64,
    ) -> CoreResult<StoredArtifact> {
        // Further uploads queue here instead of starving the pool.
        let _slot = self
            .uploads
            .acquire()
            .await
            .map_err(|_| CoreError::internal("upload slots closed"))?;
        let blob_id = new_id("blob");
        let mut upload = Upload::new(reader, limit);
        // Dropped without commit on any error: the chunks written so far vanish with it.
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut chunk = vec![0u8; CHUNK];
        let mut seq: i32 = 0;
        loop {
            let mut filled = 0;
            while filled < CHUNK {
                let n = upload.read(&mut chunk[filled..]).await?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            sqlx::query("INSERT INTO artifact_chunks (blob_id, seq, data) VALUES ($1, $2, $3)")
                .bind(&blob_id)
                .bind(seq)
                .bind(&chunk[..filled])
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            seq += 1;
            if filled < CHUNK {
                break;
            }
        }
        let (sha256, size) = upload.finish()?;
        let inserted = sqlx::query(
            "INSERT INTO artifacts (sha256, blob_id, size, touched_at) \
             VALUES ($1, $2, $3, gantry_now_ms()) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&sha256)
        .bind(&blob_id)
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if inserted == 0 {
            // Already stored: drop this copy, and mark the stored one fresh so a sweep
            // running now leaves it for this deploy.
            tx.rollback().await.map_err(db)?;
            sqlx::query("UPDATE artifacts SET touched_at = gantry_now_ms() WHERE sha256 = $1")
                .bind(&sha256)
                .execute(&self.pool)
                .await
                .map_err(db)?;
            return Ok(StoredArtifact {
                sha256,
                size,
                created: false,
            });
        }
        tx.commit().await.map_err(db)?;
        Ok(StoredArtifact {
            sha256,
            size,
            created: true,
        })
    }

    async fn open(&self, sha256: &str) -> CoreResult<Option<ArtifactReader>> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT blob_id, size FROM artifacts WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        let Some((blob_id, size)) = row else {
            return Ok(None);
        };
        // One chunk in memory at a time, fetched as the response is written.
        let pool = self.pool.clone();
        let chunks = futures_util::stream::try_unfold(0i32, move |seq| {
            let pool = pool.clone();
            let blob_id = blob_id.clone();
            async move {
                let data: Option<Vec<u8>> = sqlx::query_scalar(
                    "SELECT data FROM artifact_chunks WHERE blob_id = $1 AND seq = $2",
                )
                .bind(&blob_id)
                .bind(seq)
                .fetch_optional(&pool)
                .await
                .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(data.map(|d| (bytes::Bytes::from(d), seq + 1)))
            }
        });
        let reader = tokio_util::io::StreamReader::new(Box::pin(chunks));
        Ok(Some((
            Box::new(reader),
            u64::try_from(size).unwrap_or_default(),
        )))
    }

    async fn remove(&self, sha256: &str) -> CoreResult<()> {
        sqlx::query(
            "WITH gone AS (DELETE FROM artifacts WHERE sha256 = $1 RETURNING blob_id) \
             DELETE FROM artifact_chunks WHERE blob_id IN (SELECT blob_id FROM gone)",
        )
        .bind(sha256)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn sweep(&self, _store: &dyn Store, min_age: Duration) -> CoreResult<usize> {
        // One statement: the release check and the delete see the same snapshot.
        let removed = sqlx::query(
            "WITH gone AS (DELETE FROM artifacts a WHERE a.touched_at < gantry_now_ms() - $1 \
             AND NOT EXISTS (SELECT 1 FROM releases r WHERE r.artifact_sha256 = a.sha256) \
             RETURNING blob_id), \
             chunks AS (DELETE FROM artifact_chunks WHERE blob_id IN (SELECT blob_id FROM gone)) \
             SELECT COUNT(*) FROM gone",
        )
        .bind(i64::try_from(min_age.as_millis()).unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let n: i64 = sqlx::Row::try_get(&removed, 0).map_err(db)?;
        Ok(usize::try_from(n).unwrap_or_default())
    }
}
