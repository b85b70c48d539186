//! What bounds a deploy upload besides its size: the node's upload slots
//! (`limits.max_concurrent_uploads`), each credential's share of them
//! (`limits.max_uploads_per_credential`, so one tenant cannot take every slot), an idle timeout
//! over the whole request body (`limits.upload_idle_timeout`: between fields and inside any of
//! them, not only the artifact's bytes), and a total deadline (`limits.upload_deadline`).

use axum::body::Body;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Uploads in progress per credential.
#[derive(Debug)]
pub struct CredentialSlots {
    max: usize,
    held: Mutex<HashMap<String, usize>>,
}

/// One credential's upload slot, given back when dropped.
#[derive(Debug)]
pub struct CredentialSlot {
    slots: Arc<CredentialSlots>,
    key: String,
}

impl CredentialSlots {
    pub fn new(max: usize) -> Arc<CredentialSlots> {
        Arc::new(CredentialSlots {
            max,
            held: Mutex::default(),
        })
    }

    /// A slot for `key` (a token id, or a user id for a session), or None when it holds all of
    /// its share. The map holds only credentials with an upload in progress, so it is bounded
    /// by the node's slots.
    pub fn try_acquire(self: &Arc<Self>, key: &str) -> Option<CredentialSlot> {
        let mut held = self.held.lock().ok()?;
        let n = held.entry(key.to_owned()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(CredentialSlot {
            slots: self.clone(),
            key: key.to_owned(),
        })
    }
}

impl Drop for CredentialSlot {
    fn drop(&mut self) {
        if let Ok(mut held) = self.slots.held.lock() {
            if let Some(n) = held.get_mut(&self.key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    held.remove(&self.key);
                }
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_holds_at_most_its_share_and_gets_it_back() {
        let slots = CredentialSlots::new(2);
        let a = slots.try_acquire("tok_a").unwrap();
        let _b = slots.try_acquire("tok_a").unwrap();
        assert!(slots.try_acquire("tok_a").is_none());
        assert!(slots.try_acquire("tok_b").is_some(), "per credential");
        drop(a);
        assert!(slots.try_acquire("tok_a").is_some());
    }
}
