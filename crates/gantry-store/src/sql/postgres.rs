//! The PostgreSQL backend: several stateless `gantry serve` nodes on one database.
//!
//! Writes serialise on a transaction-scoped advisory lock, so every invariant `common/`
//! checks inside a transaction holds across nodes exactly as under SQLite's single writer.
//! A write that changes what nodes may have cached also inserts its [`Key`]s into the
//! `invalidations` log (in the same transaction, so the log order is the commit order) and
//! wakes the other nodes with `NOTIFY`; it then returns only once every live node has read the
//! log past it (`crate::coherence` runs the reading side).

use super::{db, Key};
use gantry_core::ids::new_id;
use gantry_core::{CoreError, CoreResult};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Transaction};
use std::str::FromStr;
use std::time::{Duration, Instant};

type Db = sqlx::Postgres;
type DbRow = sqlx::postgres::PgRow;
type Conn = sqlx::PgConnection;

// The same store source, compiled against this backend's types (see `common/mod.rs`).
#[allow(clippy::duplicate_mod)]
#[path = "common/mod.rs"]
mod common;

pub use common::{Importer, SqlStore as PgStore};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Advisory lock keys ("gantry" + a purpose), transaction-scoped.
const WRITE_LOCK: i64 = 0x6761_6e74_7279_0001;
const USAGE_LOCK: i64 = 0x6761_6e74_7279_0002;

/// How a dispatcher's claim locks the deliveries it takes: rows another node is claiming are
/// skipped, not waited for.
const SKIP_LOCKED: &str = "FOR UPDATE OF d SKIP LOCKED";

/// The `NOTIFY` channel that wakes nodes to read the invalidation log.
pub const CHANNEL: &str = "gantry_invalidate";

/// A node that has not checked in for this long no longer trusts its caches (it reads
/// through to the database until it has caught up), so writers stop waiting for it.
pub const STALENESS_BOUND: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Pools {
    pool: PgPool,
    /// This process, as the `nodes` table and the `invalidations.origin` column know it.
    node_id: String,
}

impl Pools {
    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// Takes advisory lock `key` until `tx` ends.
    async fn lock(tx: &mut Conn, key: i64) -> CoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn begin_locked(&self, key: i64) -> CoreResult<Transaction<'static, Db>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        Self::lock(&mut tx, key).await?;
        Ok(tx)
    }

    async fn begin_write(&self) -> CoreResult<Transaction<'static, Db>> {
        self.begin_locked(WRITE_LOCK).await
    }

    /// The dispatchers' claims and results: no invariant of the write lock is involved, so
    /// nodes claim concurrently, each skipping the rows another is claiming ([`SKIP_LOCKED`]).
    async fn begin_dispatch(&self) -> CoreResult<Transaction<'static, Db>> {
        self.pool.begin().await.map_err(db)
    }

    /// A PostgreSQL COMMIT is durable when it returns (`synchronous_commit`, the server's
    /// business).
    async fn durable(&self) -> CoreResult<()> {
        Ok(())
    }

    /// Last-used flushes from several nodes queue behind each other, not behind writes.
    async fn begin_usage(&self) -> CoreResult<Transaction<'static, Db>> {
        self.begin_locked(USAGE_LOCK).await
    }

    /// For a write that updates many token rows: waits for (and blocks) last-used flushes,
    /// so the two never hold row locks the other needs. Lock order is always write, then usage.
    async fn exclude_usage_flush(&self, tx: &mut Conn) -> CoreResult<()> {
        Self::lock(tx, USAGE_LOCK).await
    }

    async fn publish(&self, tx: &mut Conn, keys: &[Key]) -> CoreResult<Option<i64>> {
        if keys.is_empty() {
            return Ok(None);
        }
        let text: Vec<String> = keys.iter().map(Key::encode).collect();
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO invalidations (origin, at, keys) VALUES ($1, gantry_now_ms(), $2) RETURNING seq",
        )
        .bind(&self.node_id)
        .bind(text.join("\n"))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(Some(seq))
    }

    /// Waits until every other node that checked in within the staleness bound has read the
    /// log up to `seq`. A node that has not is past the bound and bypasses its caches.
    async fn await_acks(&self, seq: Option<i64>) {
        let Some(seq) = seq else { return };
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let lagging: Result<i64, _> = sqlx::query_scalar(
                "SELECT COUNT(*) FROM nodes WHERE id <> $1 AND applied_seq < $2 \
                 AND heartbeat_at > gantry_now_ms() - $3",
            )
            .bind(&self.node_id)
            .bind(seq)
            .bind(STALENESS_BOUND.as_millis() as i64)
            .fetch_one(&self.pool)
            .await;
            match lagging {
                Ok(0) => return,
                Ok(_) if started.elapsed() < STALENESS_BOUND + Duration::from_secs(1) => {}
                Ok(n) => {
                    tracing::warn!(
                        nodes = n,
                        seq,
                        "nodes did not confirm an invalidation in time"
                    );
                    return;
                }
                Err(e) => {
                    // The write is committed; a node that cannot be asked about is bounded
                    // by the staleness bound all the same.
                    tracing::warn!(error = %e, "could not check invalidation acknowledgements");
                    tokio::time::sleep(STALENESS_BOUND).await;
                    return;
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    async fn begin_snapshot(&self) -> CoreResult<Transaction<'static, Db>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(tx)
    }

    /// Imported audit events keep their ids; new ones continue after them.
    async fn after_import(&self, tx: &mut Conn) -> CoreResult<()> {
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('audit_events', 'id'),              COALESCE((SELECT MAX(id) FROM audit_events), 0) + 1, false)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and applies migrations.
    pub async fn open(url: &str) -> CoreResult<PgStore> {
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            CoreError::invalid("database_url", format!("not a PostgreSQL URL: {e}"))
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(db)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| CoreError::caused("migrations", e))?;
        Ok(PgStore {
            pools: Pools {
                pool,
                node_id: new_id("node"),
            },
            #[cfg(test)]
            pause: Default::default(),
        })
    }

    /// The connection pool (the coherence loop and the artifact store share it).
    pub fn pool(&self) -> &PgPool {
        &self.pools.pool
    }

    /// This node's id in the `nodes` table.
    pub fn node_id(&self) -> &str {
        &self.pools.node_id
    }
}
