//! Coalesced "last used" tracking: accepted uses are kept in memory (latest per token) and
//! written in one batch per flush interval and on shutdown, so verifying a token never waits
//! for a write. A crash loses at most one interval of last-used timestamps, nothing else.

use crate::store::TokenUse;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;

/// Pending uses, not yet written.
#[derive(Debug, Default)]
pub struct UsageTracker {
    pending: Mutex<HashMap<String, TokenUse>>,
}

impl UsageTracker {
    /// Notes a use; the latest per token wins.
    pub fn record(&self, token_id: &str, at: Timestamp, ip: Option<&str>) {
        let Ok(mut map) = self.pending.lock() else {
            return;
        };
        // The hot case — a token already pending — allocates nothing unless its IP changed.
        if let Some(u) = map.get_mut(token_id) {
            if u.at <= at {
                u.at = at;
                if u.ip.as_deref() != ip {
                    u.ip = ip.map(str::to_owned);
                }
            }
            return;
        }
        map.insert(
            token_id.to_owned(),
            TokenUse {
                token_id: token_id.to_owned(),
                at,
                ip: ip.map(str::to_owned),
            },
        );
    }

    /// A copy of every pending use, to write. Entries stay pending (and visible to reads)
    /// until [`UsageTracker::written`] confirms them, so "last used" never goes backwards.
    pub fn snapshot(&self) -> Vec<TokenUse> {
        match self.pending.lock() {
            Ok(map) => map.values().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Forgets the uses that were written, unless a newer use arrived meanwhile.
    pub fn written(&self, uses: &[TokenUse]) {
        if let Ok(mut map) = self.pending.lock() {
            for u in uses {
                if map.get(&u.token_id).is_some_and(|p| p.at == u.at) {
                    map.remove(&u.token_id);
                }
            }
        }
    }

    /// The not-yet-flushed use of a token, so reads on this node are never behind.
    pub fn pending(&self, token_id: &str) -> Option<TokenUse> {
        self.pending
            .lock()
            .ok()
            .and_then(|map| map.get(token_id).cloned())
    }

    /// How many tokens have unwritten uses.
    pub fn len(&self) -> usize {
        self.pending.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_uses_stay_visible_until_written_and_newer_ones_survive() {
        let t = UsageTracker::default();
        t.record("tok_1", Timestamp(10), None);
        let batch = t.snapshot();
        t.record("tok_1", Timestamp(20), Some("10.0.0.1"));
        t.record("tok_1", Timestamp(15), None); // out of order: ignored
        assert_eq!(t.pending("tok_1").map(|u| u.at), Some(Timestamp(20)));
        t.written(&batch);
        assert_eq!(
            t.pending("tok_1").map(|u| u.at),
            Some(Timestamp(20)),
            "the newer use stays pending"
        );
        t.written(&t.snapshot());
        assert!(t.is_empty());
    }
}
