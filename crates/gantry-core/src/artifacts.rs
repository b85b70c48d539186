//! The artifact port: release bytes, content-addressed by SHA-256. The disk implementation
//! lives in `gantry-store`, beside a PostgreSQL-backed one for nodes that share no disk.

use crate::error::CoreResult;
use crate::store::Store;
use async_trait::async_trait;
use std::time::Duration;
use tokio::io::AsyncRead;

/// What storing an artifact produced.
#[derive(Debug, Clone)]
pub struct StoredArtifact {
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub size: u64,
    /// False when identical bytes were already stored.
    pub created: bool,
}

/// A readable artifact and its length.
pub type ArtifactReader = (Box<dyn AsyncRead + Send + Unpin>, u64);

/// Release artifact storage.
#[async_trait]
pub trait ArtifactStore: Send + Sync + 'static {
    /// Streams `reader` into storage, hashing as it goes; refuses (TooLarge) past `limit`
    /// bytes and (Invalid) an empty artifact, leaving nothing behind in either case.
    async fn put(
        &self,
        reader: &mut (dyn AsyncRead + Send + Unpin),
        limit: u64,
    ) -> CoreResult<StoredArtifact>;
    /// Opens an artifact for reading.
    async fn open(&self, sha256: &str) -> CoreResult<Option<ArtifactReader>>;
    /// Removes an artifact no release points at.
    async fn remove(&self, sha256: &str) -> CoreResult<()>;
    /// Removes artifacts that no release points at and that were last written or reused more
    /// than `min_age` ago (a younger one may belong to a deploy still being recorded).
    /// Returns how many were removed.
    async fn sweep(&self, store: &dyn Store, min_age: Duration) -> CoreResult<usize>;
}
