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
    pub fn record(&self, token_id: &str, at: Timestamp, ip: Option<String>) {
        if let Ok(mut map) = self.pending.lock() {
            map.insert(
                token_id.to_owned(),
                TokenUse {
                    token_id: token_id.to_owned(),
                    at,
                    ip,
                },
            );
        }
    }

    /// The not-yet-flushed use of a token, so reads on this node are never behind.
    pub fn pending(&self, token_id: &str) -> Option<TokenUse> {
        self.pending
            .lock()
            .ok()
            .and_then(|map| map.get(token_id).cloned())
    }

    /// Takes every pending use for a flush.
    pub fn drain(&self) -> Vec<TokenUse> {
        match self.pending.lock() {
            Ok(mut map) => map.drain().map(|(_, u)| u).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Puts back uses whose flush failed, without overwriting newer ones.
    pub fn restore(&self, uses: Vec<TokenUse>) {
        if let Ok(mut map) = self.pending.lock() {
            for u in uses {
                map.entry(u.token_id.clone()).or_insert(u);
            }
        }
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
