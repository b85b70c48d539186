//! The embedded SQLite backend: one writer connection and a pool of read-only readers.

use super::{db, Key};
use crate::private_fs;
use gantry_core::{CoreError, CoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqlitePool, Transaction};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

type Db = sqlx::Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;
type Conn = sqlx::SqliteConnection;

// The same store source, compiled against this backend's types (see `common/mod.rs`).
#[allow(clippy::duplicate_mod)]
#[path = "common/mod.rs"]
mod common;

pub use common::{Importer, SqlStore as SqliteStore};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// One writer, several readers.
#[derive(Debug, Clone)]
struct Pools {
    writer: SqlitePool,
    reader: SqlitePool,
    wal: Arc<WalSync>,
}

/// Group commit. The writer runs with `synchronous=NORMAL`, so COMMIT itself does not fsync
/// and the single writer is held only while it writes; a write becomes durable when the WAL
/// file is fsync'd after its COMMIT returned. Writers that commit while an fsync is under way
/// share the next one, so N concurrent writes cost about two fsyncs, not N. (fsync flushes the
/// file, whichever descriptor wrote it; SQLite itself fsyncs the WAL before every checkpoint
/// and the database after it, so a checkpoint never loses what this promised.)
#[derive(Debug)]
struct WalSync {
    path: PathBuf,
    /// Commits that have returned and want durability.
    tickets: AtomicU64,
    /// Every ticket up to this one is durable. Held while an fsync runs.
    synced: tokio::sync::Mutex<u64>,
}

impl WalSync {
    async fn durable(&self) -> CoreResult<()> {
        let ticket = self.tickets.fetch_add(1, Ordering::SeqCst) + 1;
        let mut synced = self.synced.lock().await;
        if *synced >= ticket {
            return Ok(()); // an fsync that began after our COMMIT covered it
        }
        // Every ticket taken so far belongs to a COMMIT that has returned: this fsync covers it.
        let target = self.tickets.load(Ordering::SeqCst);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || match std::fs::File::open(&path) {
            Ok(f) => f.sync_data(),
            // No WAL: the last connection closed, which checkpointed and synced the database.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(|e| CoreError::caused("the write-ahead log fsync task", e))?
        .map_err(|e| CoreError::caused("fsync of the write-ahead log", e))?;
        *synced = target;
        Ok(())
    }
}

/// The single writer serialises claims; there are no row locks to skip.
const SKIP_LOCKED: &str = "";

impl Pools {
    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// The single writer connection serialises writes.
    async fn begin_write(&self) -> CoreResult<Transaction<'static, Db>> {
        self.writer.begin().await.map_err(db)
    }

    async fn begin_usage(&self) -> CoreResult<Transaction<'static, Db>> {
        self.begin_write().await
    }

    async fn begin_dispatch(&self) -> CoreResult<Transaction<'static, Db>> {
        self.begin_write().await
    }

    /// The single writer already excludes everything.
    async fn exclude_usage_flush(&self, _tx: &mut Conn) -> CoreResult<()> {
        Ok(())
    }

    async fn publish(&self, _tx: &mut Conn, _keys: &[Key]) -> CoreResult<Option<i64>> {
        Ok(None)
    }

    async fn await_acks(&self, _seq: Option<i64>) {}

    /// Returns once every write committed so far is on stable storage (group commit).
    async fn durable(&self) -> CoreResult<()> {
        self.wal.durable().await
    }

    /// Reads in one transaction see one snapshot (WAL).
    async fn begin_snapshot(&self) -> CoreResult<Transaction<'static, Db>> {
        self.reader.begin().await.map_err(db)
    }

    /// AUTOINCREMENT follows the largest id inserted by itself.
    async fn after_import(&self, _tx: &mut Conn) -> CoreResult<()> {
        Ok(())
    }

    async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> CoreResult<SqliteStore> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                private_fs::create_private_dir(dir).map_err(CoreError::io)?;
            }
        }
        // SQLite creates `-wal` and `-shm` with the database file's mode, so a database this
        // creates (0600, before SQLite sees it) keeps all three private whatever the umask.
        private_fs::ensure_private_file(path)
            .map_err(|e| CoreError::caused(&format!("creating {}", path.display()), e))?;
        let url = format!("sqlite://{}", path.display());
        let base = SqliteConnectOptions::from_str(&url)
            .map_err(db)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durability comes from `WalSync` (group commit), not from an fsync per COMMIT.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // The writer is never recycled: it keeps the WAL file (which `WalSync` fsyncs) alive.
        // secure_delete: what a write replaces or deletes (a secret sealed anew, a revoked
        // token's old hash) is zeroed in the file, not left in free pages.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(base.clone().pragma("secure_delete", "ON"))
            .await
            .map_err(db)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| CoreError::caused("migrations", e))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(base.read_only(true))
            .await
            .map_err(db)?;
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        let mut shm_path = path.as_os_str().to_owned();
        shm_path.push("-shm");
        // A database from before this was created with the umask's mode, and so were the
        // `-wal` and `-shm` that opening it just made: make all three private.
        for file in [path, Path::new(&wal_path), Path::new(&shm_path)] {
            if let Err(e) = private_fs::set_private_if_exists(file) {
                tracing::warn!(path = %file.display(), error = %e, "could not make the database file private (chmod 600 it)");
            }
        }
        Ok(SqliteStore {
            pools: Pools {
                writer,
                reader,
                wal: Arc::new(WalSync {
                    path: PathBuf::from(wal_path),
                    tickets: AtomicU64::new(0),
                    synced: tokio::sync::Mutex::new(0),
                }),
            },
            #[cfg(test)]
            pause: Default::default(),
        })
    }
}

#[cfg(test)]
impl SqliteStore {
    /// The writer pool, for tests that bypass the store (`scope_tests`).
    pub(crate) fn writer_pool(&self) -> &SqlitePool {
        self.pools.writer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::TABLES;

    /// Tables `gantry export` leaves out on purpose (see `TABLES`).
    const NOT_EXPORTED: &[&str] = &["sessions", "key_check"];

    #[tokio::test]
    async fn export_carries_every_table_and_column_of_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let pool = store.pools.reader();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%' ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let tables: Vec<String> = tables
            .into_iter()
            .filter(|t| !NOT_EXPORTED.contains(&t.as_str()))
            .collect();
        let mut exported: Vec<String> = TABLES.iter().map(|(t, _)| t.to_string()).collect();
        exported.sort();
        assert_eq!(tables, exported);
        for (table, cols) in TABLES {
            let names: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                    .bind(table)
                    .fetch_all(pool)
                    .await
                    .unwrap();
            let expected: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
            assert_eq!(names, expected, "{table}");
        }
    }
}
