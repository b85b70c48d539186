//! Release artifacts on local disk, content-addressed: `<root>/<aa>/<sha256>`. Uploads stream
//! into `<root>/tmp/` while being hashed, are fsync'd, then renamed into place (and the
//! directory fsync'd), so a reader never sees a partial file and a committed release never
//! points at a file a power cut took away. A temp file is removed when its upload fails or is
//! abandoned; `sweep` removes blobs no release points at once they are old enough.
//! Directories are created 0700 and blobs written 0600 ([`private_fs`]).

use crate::private_fs;
use crate::upload::Upload;
use async_trait::async_trait;
use gantry_core::artifacts::{ArtifactReader, ArtifactStore, StoredArtifact};
use gantry_core::ids::new_id;
use gantry_core::store::Store;
use gantry_core::{CoreError, CoreResult};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncWriteExt;

/// Artifacts in a directory.
#[derive(Debug, Clone)]
pub struct DiskArtifacts {
    root: PathBuf,
}

/// Deletes the temp file unless the upload completed (client gone, limit hit, error).
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl DiskArtifacts {
    /// Uses (and creates) `root`; clears leftovers of interrupted uploads.
    pub async fn open(root: &Path) -> CoreResult<DiskArtifacts> {
        let tmp = root.join("tmp");
        if tokio::fs::try_exists(&tmp).await.unwrap_or(false) {
            tokio::fs::remove_dir_all(&tmp)
                .await
                .map_err(CoreError::io)?;
        }
        private_fs::create_private_dir(&tmp).map_err(CoreError::io)?;
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
        let mut guard = TempGuard(Some(tmp_path.clone()));
        let (sha256, size) = write_hashed(&tmp_path, reader, limit).await?;
        let final_path = self
            .path_of(&sha256)
            .ok_or_else(|| CoreError::internal("bad digest"))?;
        if tokio::fs::try_exists(&final_path).await.unwrap_or(false) {
            // Reused: mark it fresh so a sweep running now leaves it for this deploy.
            if let Ok(f) = std::fs::File::options().write(true).open(&final_path) {
                let _ = f.set_modified(SystemTime::now());
            }
            return Ok(StoredArtifact {
                sha256,
                size,
                created: false,
            });
        }
        let dir = final_path
            .parent()
            .ok_or_else(|| CoreError::internal("artifact path without parent"))?;
        private_fs::create_private_dir(dir).map_err(CoreError::io)?;
        tokio::fs::rename(&tmp_path, &final_path)
            .await
            .map_err(CoreError::io)?;
        guard.0 = None;
        // Make the rename itself durable before a release row can point at the file.
        for d in [dir, self.root.as_path()] {
            if let Ok(f) = tokio::fs::File::open(d).await {
                let _ = f.sync_all().await;
            }
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
                let len = f.metadata().await.map_err(CoreError::io)?.len();
                Ok(Some((Box::new(f), len)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CoreError::io(e)),
        }
    }

    async fn remove(&self, sha256: &str) -> CoreResult<()> {
        if let Some(path) = self.path_of(sha256) {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CoreError::io(e)),
            }
        }
        Ok(())
    }

    async fn sweep(&self, store: &dyn Store, min_age: Duration) -> CoreResult<usize> {
        let mut removed = 0;
        let mut dirs = tokio::fs::read_dir(&self.root)
            .await
            .map_err(CoreError::io)?;
        while let Some(dir) = dirs.next_entry().await.map_err(CoreError::io)? {
            let name = dir.file_name().to_string_lossy().into_owned();
            if name.len() != 2 || !dir.path().is_dir() {
                continue;
            }
            let mut files = tokio::fs::read_dir(dir.path())
                .await
                .map_err(CoreError::io)?;
            while let Some(f) = files.next_entry().await.map_err(CoreError::io)? {
                let sha = f.file_name().to_string_lossy().into_owned();
                if self.path_of(&sha).is_none() {
                    continue;
                }
                let age = f
                    .metadata()
                    .await
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .unwrap_or_default();
                if age >= min_age && !store.artifact_in_use(&sha).await? {
                    self.remove(&sha).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

async fn write_hashed(
    path: &Path,
    reader: &mut (dyn tokio::io::AsyncRead + Send + Unpin),
    limit: u64,
) -> CoreResult<(String, u64)> {
    let file = private_fs::create_private_file(path).map_err(CoreError::io)?;
    let mut file = tokio::fs::File::from_std(file);
    let mut upload = Upload::new(reader, limit);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = upload.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).await.map_err(CoreError::io)?;
    }
    let digest = upload.finish()?;
    file.sync_all().await.map_err(CoreError::io)?;
    Ok(digest)
}
