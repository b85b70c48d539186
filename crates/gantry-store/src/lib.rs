//! Store implementations behind `gantry_core::store::Store`, and the on-disk artifact store.
//!
//! `sqlite` is the embedded default: one writer connection (SQLite allows one writer at a
//! time; queuing in the pool beats `SQLITE_BUSY` retries) and a pool of read-only readers over
//! WAL, with `synchronous=FULL` so a 2xx means the write survives power loss. Each backend
//! keeps its own `migrations/<backend>/`, applied on open. PostgreSQL slots in as a sibling
//! module implementing the same trait; [`open`] picks the backend from the URL.

mod cached;
mod disk;
mod sqlite;

pub use cached::{CacheConfig, CachedStore};
pub use disk::DiskArtifacts;
pub use sqlite::SqliteStore;

use gantry_core::store::Store;
use gantry_core::{CoreError, CoreResult};
use std::path::Path;
use std::sync::Arc;

/// Opens the store a database URL names (`sqlite://path`), or the embedded SQLite database
/// under `data_dir` when there is none, applying migrations.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> CoreResult<Arc<dyn Store>> {
    match database_url {
        None => Ok(Arc::new(
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
            Ok(Arc::new(SqliteStore::open(Path::new(path)).await?))
        }
        Some(url) if url.starts_with("postgres:") || url.starts_with("postgresql:") => {
            Err(CoreError::Internal(
                "PostgreSQL is not supported by this build yet; use the embedded SQLite store"
                    .into(),
            ))
        }
        Some(_) => Err(CoreError::invalid(
            "database_url",
            "must start with sqlite: (PostgreSQL support is planned)",
        )),
    }
}
