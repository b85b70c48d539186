//! Release artifacts on local disk, content-addressed: `<root>/<aa>/<sha256>`. Uploads stream
//! into `<root>/tmp/` while being hashed, are fsync'd, then renamed into place, so a reader
//! never sees a partial file and an interrupted upload leaves only a temp file that the next
//! start removes.

use async_trait::async_trait;
use gantry_core::artifacts::{ArtifactReader, ArtifactStore, StoredArtifact};
use gantry_core::ids::new_id;
use gantry_core::{CoreError, CoreResult};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Artifacts in a directory.
#[derive(Debug, Clone)]
pub struct DiskArtifacts {
    root: PathBuf,
}

impl DiskArtifacts {
    /// Uses (and creates) `root`; clears leftovers of interrupted uploads.
    pub async fn open(root: &Path) -> CoreResult<DiskArtifacts> {
        let tmp = root.join("tmp");
        if tokio::fs::try_exists(&tmp).await.unwrap_or(false) {
            tokio::fs::remove_dir_all(&tmp)
                .await
                .map_err(CoreError::internal)?;
        }
        tokio::fs::create_dir_all(&tmp)
            .await
            .map_err(CoreError::internal)?;
        Ok(DiskArtifacts {
            root: root.to_owned(),
        })
    }

    fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| self.root.join(&sha256[..2]).join(sha256))
    }
}

#[async_trait]
impl ArtifactStore for DiskArtifacts {
    async fn put(
        &self,
        reader: &mut (dyn tokio::io::AsyncRead + Send + Unpin),
        limit: u64,
    ) -> CoreResult<StoredArtifact> {
        let tmp_path = self.root.join("tmp").join(new_id("upload"));
        let result = write_hashed(&tmp_path, reader, limit).await;
        let (sha256, size) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp_path).await;
                return Err(e);
            }
        };
        let Some(final_path) = self.path_of(&sha256) else {
            let _ = tokio::fs::remove_file(&tmp_path).await;
            return Err(CoreError::internal("bad digest"));
        };
        if tokio::fs::try_exists(&final_path).await.unwrap_or(false) {
            let _ = tokio::fs::remove_file(&tmp_path).await;
            return Ok(StoredArtifact {
                sha256,
                size,
                created: false,
            });
        }
        if let Some(dir) = final_path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(CoreError::internal)?;
        }
        if let Err(e) = tokio::fs::rename(&tmp_path, &final_path).await {
            let _ = tokio::fs::remove_file(&tmp_path).await;
            return Err(CoreError::internal(e));
        }
        Ok(StoredArtifact {
            sha256,
            size,
            created: true,
        })
    }

    async fn open(&self, sha256: &str) -> CoreResult<Option<ArtifactReader>> {
        let Some(path) = self.path_of(sha256) else {
            return Ok(None);
        };
        match tokio::fs::File::open(&path).await {
            Ok(f) => {
                let len = f.metadata().await.map_err(CoreError::internal)?.len();
                Ok(Some((Box::new(f), len)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CoreError::internal(e)),
        }
    }

    async fn remove(&self, sha256: &str) -> CoreResult<()> {
        if let Some(path) = self.path_of(sha256) {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CoreError::internal(e)),
            }
        }
        Ok(())
    }
}

async fn write_hashed(
    path: &Path,
    reader: &mut (dyn tokio::io::AsyncRead + Send + Unpin),
    limit: u64,
) -> CoreResult<(String, u64)> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(CoreError::internal)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| {
            // The body stream failing is the client's doing (disconnect, limit), not ours.
            CoreError::invalid("artifact", format!("upload interrupted: {e}"))
        })?;
        if n == 0 {
            break;
        }
        size += n as u64;
        if size > limit {
            return Err(CoreError::TooLarge(format!(
                "artifact: must be at most {limit} bytes"
            )));
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .await
            .map_err(CoreError::internal)?;
    }
    if size == 0 {
        return Err(CoreError::invalid("artifact", "must not be empty"));
    }
    file.sync_all().await.map_err(CoreError::internal)?;
    Ok((hex::encode(hasher.finalize()), size))
}
