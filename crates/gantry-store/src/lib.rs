//! Store implementations behind `gantry_core::store::Store`, and the artifact stores.
//!
//! - [`sql`]: one SQL store compiled for SQLite (the embedded default) and PostgreSQL
//!   (several stateless nodes on one database).
//! - [`CachedStore`]: the hot in-memory index in front of either, kept coherent across
//!   PostgreSQL nodes by `coherence`.
//! - [`DiskArtifacts`] (SQLite) and [`PgArtifacts`] (PostgreSQL: nodes share no disk).
//! - [`transfer`]: `gantry export` / `gantry import`, rows and artifacts between the two.
//! - [`backup`]: `gantry backup` / `gantry restore` of the embedded store, online.
//! - [`private_fs`]: the 0700 directories and 0600 files all of the above write.

pub mod backup;
mod cached;
mod coherence;
mod disk;
mod pg_artifacts;
pub mod private_fs;
#[cfg(test)]
mod race_tests;
pub mod sql;
pub mod testing;
pub mod transfer;
mod upload;

pub use cached::{CacheConfig, CachedStore};
pub use coherence::Gate;
pub use disk::DiskArtifacts;
pub use pg_artifacts::PgArtifacts;
pub use sql::postgres::{PgStore, STALENESS_BOUND};
pub use sql::sqlite::SqliteStore;
pub use upload::UPLOAD_IDLE_TIMEOUT;

use gantry_core::artifacts::ArtifactStore;
use gantry_core::metrics::Metrics;
use gantry_core::store::Store;
use gantry_core::{CoreError, CoreResult};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// An open database of either kind.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Database {
    /// Opens the database `url` names (`sqlite://PATH`, `postgres://…`), or the embedded
    /// SQLite file under `data_dir` when there is none, applying migrations.
    pub async fn open(url: Option<&str>, data_dir: &Path) -> CoreResult<Database> {
        match url {
            None => Ok(Database::Sqlite(
                SqliteStore::open(&data_dir.join("gantry.db")).await?,
            )),
            Some(url) if url.starts_with("sqlite:") => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or_default();
                if path.is_empty() || path.contains(":memory:") {
                    // Each pooled connection would get its own empty in-memory database.
                    return Err(CoreError::invalid(
                        "database_url",
                        "must name a file (sqlite://PATH); in-memory SQLite is not supported",
                    ));
                }
                Ok(Database::Sqlite(SqliteStore::open(Path::new(path)).await?))
            }
            Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
                Ok(Database::Postgres(PgStore::open(url).await?))
            }
            Some(_) => Err(CoreError::invalid(
                "database_url",
                "must start with sqlite:, postgres: or postgresql:",
            )),
        }
    }

    /// The store, uncached (offline tools: one command, then exit).
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Database::Sqlite(s) => Arc::new(s.clone()),
            Database::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// Where release artifacts live: `<data_dir>/artifacts` beside SQLite, inside the
    /// database with PostgreSQL (so nodes need no shared disk).
    pub async fn artifacts(&self, data_dir: &Path) -> CoreResult<Arc<dyn ArtifactStore>> {
        Ok(match self {
            Database::Sqlite(_) => {
                Arc::new(DiskArtifacts::open(&data_dir.join("artifacts")).await?)
            }
            Database::Postgres(s) => Arc::new(PgArtifacts::new(s.pool().clone())),
        })
    }

    /// The serving node's store: the hot index in front of the database, and with
    /// PostgreSQL the task that keeps it coherent with other nodes' writes (until `stop`).
    pub fn serve(
        &self,
        cache: &CacheConfig,
        metrics: Arc<Metrics>,
        stop: watch::Receiver<bool>,
    ) -> (Arc<CachedStore>, Option<JoinHandle<()>>) {
        match self {
            Database::Sqlite(_) => (
                Arc::new(CachedStore::new(self.store(), cache, metrics)),
                None,
            ),
            Database::Postgres(pg) => {
                let gate = Arc::new(Gate::closed());
                let cached = Arc::new(CachedStore::gated(
                    self.store(),
                    cache,
                    metrics,
                    Some(gate.clone()),
                ));
                let task = coherence::spawn(pg, cached.clone(), gate, stop);
                (cached, Some(task))
            }
        }
    }
}
