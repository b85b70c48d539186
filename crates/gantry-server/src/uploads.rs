//! What bounds a deploy's request body besides its size: an idle timeout over the whole body
//! (`limits.upload_idle_timeout`: between fields and inside any of them, not only the
//! artifact's bytes) and a total deadline (`limits.upload_deadline`). The upload slots (per
//! node and per credential) are the service's: `gantry_core::uploads`.

use axum::body::Body;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Why a guarded body was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Nothing arrived for the idle timeout.
    Idle,
    /// The deadline passed.
    Deadline,
}

/// Records whether (and why) a [`guard`]ed body was cut off.
#[derive(Debug, Clone, Default)]
pub struct CutOff(Arc<AtomicU8>);

impl CutOff {
    pub fn get(&self) -> Option<Cut> {
        match self.0.load(Ordering::Acquire) {
            1 => Some(Cut::Idle),
            2 => Some(Cut::Deadline),
            _ => None,
        }
    }

    fn set(&self, cut: Cut) {
        let v = match cut {
            Cut::Idle => 1,
            Cut::Deadline => 2,
        };
        self.0.store(v, Ordering::Release);
    }
}

/// `body`, failing as soon as nothing arrives for `idle` or `deadline` passes; `cut` says which.
pub fn guard(body: Body, idle: Duration, deadline: Instant, cut: CutOff) -> Body {
    let stream = body.into_data_stream();
    let guarded = futures_util::stream::unfold(Some(stream), move |state| {
        let cut = cut.clone();
        async move {
            let mut stream = state?;
            let now = Instant::now();
            let left = deadline.saturating_duration_since(now);
            let (wait, reason) = if left <= idle {
                (left, Cut::Deadline)
            } else {
                (idle, Cut::Idle)
            };
            match tokio::time::timeout(wait, stream.next()).await {
                Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(stream))),
                Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
                Ok(None) => None,
                Err(_) => {
                    cut.set(reason);
                    let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "upload cut off");
                    Some((Err(e), None))
                }
            }
        }
    });
    Body::from_stream(guarded)
}
