//! Reading an upload: hashed as it streams, bounded in size, abandoned when idle. Shared by
//! both artifact stores.

use gantry_core::{CoreError, CoreResult};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// An upload that sends nothing for this long is abandoned.
pub const UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The upload being read.
pub(crate) struct Upload<'a> {
    reader: &'a mut (dyn AsyncRead + Send + Unpin),
    limit: u64,
    hasher: Sha256,
    size: u64,
}

impl<'a> Upload<'a> {
    pub(crate) fn new(reader: &'a mut (dyn AsyncRead + Send + Unpin), limit: u64) -> Upload<'a> {
        Upload {
            reader,
            limit,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Reads the next piece into `buf`; 0 at the end.
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> CoreResult<usize> {
        let n = match tokio::time::timeout(UPLOAD_IDLE_TIMEOUT, self.reader.read(buf)).await {
            Ok(Ok(n)) => n,
            // The body stream failing is the client's doing (disconnect, limit), not ours.
            Ok(Err(e)) => {
                return Err(CoreError::invalid(
                    "artifact",
                    format!("upload interrupted: {e}"),
                ))
            }
            Err(_) => {
                return Err(CoreError::invalid(
                    "artifact",
                    format!(
                        "upload stalled: nothing received for {}s",
                        UPLOAD_IDLE_TIMEOUT.as_secs()
                    ),
                ))
            }
        };
        self.size += n as u64;
        if self.size > self.limit {
            return Err(CoreError::TooLarge(format!(
                "artifact: must be at most {} bytes",
                self.limit
            )));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    /// The hex SHA-256 and size of everything read; refuses an empty upload.
    pub(crate) fn finish(self) -> CoreResult<(String, u64)> {
        if self.size == 0 {
            return Err(CoreError::invalid("artifact", "must not be empty"));
        }
        Ok((hex::encode(self.hasher.finalize()), self.size))
    }
}
