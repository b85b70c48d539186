//! Coalesced "last used" tracking: accepted uses are kept in memory (latest per token) and
//! written in one batch per flush interval and on shutdown, so verifying a token never waits
//! for a write. A token whose last written use is less than [`GRANULARITY`] old (same IP) is
//! not written again, so "last used" in the database is within a few seconds of the truth and
//! a hot token costs one row write per few seconds, not one per request or per flush. A crash
//! loses at most one interval of last-used timestamps, nothing else.

use crate::store::TokenUse;
use crate::time::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A use this close to the last written one (same IP) is not written again.
pub const GRANULARITY: std::time::Duration = std::time::Duration::from_secs(5);
/// Written batches kept to decide that (at one flush a second, enough for the granularity).
const RECENT_BATCHES: usize = 8;

/// Pending uses, not yet written.
#[derive(Debug, Default)]
pub struct UsageTracker {
    inner: Mutex<Maps>,
}

/// Uses recorded since the last flush began, and the batch a flush is writing. Swapping them
/// is O(1), so a flush of 100,000 tokens never holds the lock that every request takes.
#[derive(Debug, Default)]
struct Maps {
    pending: HashMap<String, TokenUse>,
    in_flight: Option<Arc<HashMap<String, TokenUse>>>,
    /// Batches already written, newest first.
    recent: VecDeque<Arc<HashMap<String, TokenUse>>>,
}

impl Maps {
    /// The newest use of a token not in `pending`: in flight or recently written.
    fn last_flushed(&self, token_id: &str) -> Option<&TokenUse> {
        self.in_flight
            .iter()
            .chain(self.recent.iter())
            .find_map(|m| m.get(token_id))
    }
}

fn newer(a: Option<&TokenUse>, b: Option<&TokenUse>) -> Option<TokenUse> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if x.at >= y.at { x.clone() } else { y.clone() }),
        (x, y) => x.or(y).cloned(),
    }
}

impl UsageTracker {
    /// Notes a use; the latest per token wins.
    pub fn record(&self, token_id: &str, at: Timestamp, ip: Option<&str>) {
        let Ok(mut maps) = self.inner.lock() else {
            return;
        };
        // The hot case — a token already pending — allocates nothing unless its IP changed.
        if let Some(u) = maps.pending.get_mut(token_id) {
            if u.at <= at {
                u.at = at;
                if u.ip.as_deref() != ip {
                    u.ip = ip.map(str::to_owned);
                }
            }
            return;
        }
        // Written (or being written) moments ago from the same address: nothing new to say.
        let fresh = maps.last_flushed(token_id).is_some_and(|u| {
            u.ip.as_deref() == ip && at.0.saturating_sub(u.at.0) < GRANULARITY.as_millis() as i64
        });
        if fresh {
            return;
        }
        maps.pending.insert(
            token_id.to_owned(),
            TokenUse {
                token_id: token_id.to_owned(),
                at,
                ip: ip.map(str::to_owned),
            },
        );
    }

    /// The not-yet-written use of a token (pending or being written), so reads on this node
    /// are never behind.
    pub fn pending(&self, token_id: &str) -> Option<TokenUse> {
        let maps = self.inner.lock().ok()?;
        let flying = maps.in_flight.as_ref().and_then(|m| m.get(token_id));
        newer(maps.pending.get(token_id), flying)
            .or_else(|| maps.recent.iter().find_map(|m| m.get(token_id)).cloned())
    }

    /// Starts a flush: the pending uses become the in-flight batch (merged with a batch whose
    /// write failed, so nothing is lost). None when there is nothing to write.
    pub fn begin_flush(&self) -> Option<Arc<HashMap<String, TokenUse>>> {
        let mut maps = self.inner.lock().ok()?;
        let fresh = std::mem::take(&mut maps.pending);
        let batch = match maps.in_flight.take() {
            Some(failed) => {
                let mut merged = (*failed).clone();
                for (k, v) in fresh {
                    let keep = merged.get(&k).is_none_or(|old| old.at <= v.at);
                    if keep {
                        merged.insert(k, v);
                    }
                }
                merged
            }
            None if fresh.is_empty() => return None,
            None => fresh,
        };
        let batch = Arc::new(batch);
        maps.in_flight = Some(batch.clone());
        Some(batch)
    }

    /// Ends a flush whose batch was written.
    pub fn end_flush(&self) {
        let retired = match self.inner.lock() {
            Ok(mut maps) => {
                if let Some(done) = maps.in_flight.take() {
                    maps.recent.push_front(done);
                }
                if maps.recent.len() > RECENT_BATCHES {
                    maps.recent.pop_back()
                } else {
                    None
                }
            }
            Err(_) => None,
        };
        // Freed outside the lock.
        drop(retired);
    }

    /// How many tokens have unwritten uses.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|m| m.pending.len() + m.in_flight.as_ref().map_or(0, |f| f.len()))
            .unwrap_or(0)
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
        let batch = t.begin_flush().unwrap();
        assert_eq!(batch.len(), 1);
        t.record("tok_1", Timestamp(20), Some("10.0.0.1"));
        t.record("tok_1", Timestamp(15), None); // out of order: ignored
        assert_eq!(t.pending("tok_1").map(|u| u.at), Some(Timestamp(20)));
        t.end_flush();
        assert_eq!(
            t.pending("tok_1").map(|u| u.at),
            Some(Timestamp(20)),
            "the newer use stays pending"
        );
        assert!(t.begin_flush().is_some());
        t.end_flush();
        assert!(t.is_empty());
    }

    #[test]
    fn a_use_right_after_a_written_one_is_not_written_again() {
        let t = UsageTracker::default();
        t.record("tok_1", Timestamp(1_000), Some("10.0.0.1"));
        let _ = t.begin_flush().unwrap();
        t.end_flush();
        t.record("tok_1", Timestamp(3_000), Some("10.0.0.1"));
        assert!(
            t.is_empty(),
            "two seconds later, same address: nothing to write"
        );
        assert_eq!(t.pending("tok_1").map(|u| u.at), Some(Timestamp(1_000)));
        t.record("tok_1", Timestamp(4_000), Some("10.0.0.2"));
        assert_eq!(t.len(), 1, "a new address is news");
        let _ = t.begin_flush();
        t.end_flush();
        t.record("tok_1", Timestamp(10_000), Some("10.0.0.2"));
        assert_eq!(t.len(), 1, "six seconds later: written again");
    }

    #[test]
    fn a_failed_flush_loses_nothing() {
        let t = UsageTracker::default();
        t.record("tok_1", Timestamp(10), None);
        let _ = t.begin_flush().unwrap(); // the write fails: no end_flush
        t.record("tok_2", Timestamp(11), None);
        assert_eq!(
            t.pending("tok_1").map(|u| u.at),
            Some(Timestamp(10)),
            "still visible"
        );
        let retry = t.begin_flush().unwrap();
        assert_eq!(retry.len(), 2, "the retry carries both");
    }
}
