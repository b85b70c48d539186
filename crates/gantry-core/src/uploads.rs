//! How many deploy uploads may be in progress at once: the node's slots
//! (`limits.max_concurrent_uploads`, so a burst can neither fill the disk in parallel nor hold
//! every connection) and each credential's share of them (`limits.max_uploads_per_credential`,
//! so one tenant cannot take every slot). [`crate::Gantry::deploy`] holds one of each for the
//! whole upload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Which bound refused an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The credential holds its whole share (HTTP 429).
    Credential,
    /// Every slot of this node is taken (HTTP 503).
    Node,
}

/// Upload slots of one node, and each credential's share of them.
#[derive(Debug)]
pub struct UploadSlots {
    node: Arc<Semaphore>,
    per_credential: usize,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

/// One upload's slot and its credential's share, given back when dropped.
#[derive(Debug)]
pub struct UploadPermit {
    _node: OwnedSemaphorePermit,
    held: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
}

impl UploadSlots {
    pub fn new(node: usize, per_credential: usize) -> UploadSlots {
        UploadSlots {
            node: Arc::new(Semaphore::new(node)),
            per_credential,
            held: Arc::default(),
        }
    }

    /// Most uploads one credential may have in progress.
    pub fn per_credential(&self) -> usize {
        self.per_credential
    }

    /// A slot for an upload by `key` (a token id, or a user id for a session). The credential's
    /// share is checked first, so a credential at its share is told so even on a busy node.
    /// The map holds only credentials with an upload in progress: it is bounded by the slots.
    pub fn try_acquire(&self, key: &str) -> Result<UploadPermit, Full> {
        {
            let held = self.held.lock().map_err(|_| Full::Node)?;
            if held.get(key).is_some_and(|n| *n >= self.per_credential) {
                return Err(Full::Credential);
            }
        }
        let node = self
            .node
            .clone()
            .try_acquire_owned()
            .map_err(|_| Full::Node)?;
        let mut held = self.held.lock().map_err(|_| Full::Node)?;
        let n = held.entry(key.to_owned()).or_insert(0);
        if *n >= self.per_credential {
            return Err(Full::Credential);
        }
        *n += 1;
        Ok(UploadPermit {
            _node: node,
            held: self.held.clone(),
            key: key.to_owned(),
        })
    }
}

impl Drop for UploadPermit {
    fn drop(&mut self) {
        if let Ok(mut held) = self.held.lock() {
            if let Some(n) = held.get_mut(&self.key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    held.remove(&self.key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_holds_at_most_its_share_and_gets_it_back() {
        let slots = UploadSlots::new(16, 2);
        let a = slots.try_acquire("tok_a").unwrap();
        let _b = slots.try_acquire("tok_a").unwrap();
        assert_eq!(slots.try_acquire("tok_a").unwrap_err(), Full::Credential);
        assert!(slots.try_acquire("tok_b").is_ok(), "per credential");
        drop(a);
        assert!(slots.try_acquire("tok_a").is_ok());
    }

    #[test]
    fn the_node_bound_holds_across_credentials_and_frees_on_drop() {
        let slots = UploadSlots::new(2, 4);
        let a = slots.try_acquire("tok_a").unwrap();
        let _b = slots.try_acquire("tok_b").unwrap();
        assert_eq!(slots.try_acquire("tok_c").unwrap_err(), Full::Node);
        drop(a);
        assert!(slots.try_acquire("tok_c").is_ok());
        assert!(slots.held.lock().unwrap().get("tok_a").is_none());
    }
}
