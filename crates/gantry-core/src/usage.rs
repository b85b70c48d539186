//! Coalesced "last used" tracking. An accepted use updates this node's in-memory record of
//! the token (time and IP) unless the node noted a use of it from the same IP less than
//! [`NOTE_WITHIN`] ago (checked on the cached token itself, see [`Noted`]), so reads on this
//! node are exact to [`NOTE_WITHIN`] at once; the database is written in one batch per flush
//! interval, and only for tokens whose last written use is at least [`GRANULARITY`] old or
//! came from another IP. A hot token therefore costs one row write a minute, not one per
//! request, and a node verifying 100,000 distinct tokens a second does not turn into a
//! database writing 100,000 rows a second. Graceful shutdown writes everything noted.
//!
//! What a crash can lose: last-used times (at most [`GRANULARITY`] of precision, or a token's
//! first use in the last flush interval). Never a revocation or any other write: those are
//! committed before their API call answers.

use crate::store::TokenUse;
use crate::time::Timestamp;
use compact_str::CompactString;
use std::collections::HashMap;
use std::sync::Mutex;

/// A use this close to the last written one, from the same IP, is not written again.
pub const GRANULARITY: std::time::Duration = std::time::Duration::from_secs(60);

/// A use this close to the last one this node noted for the same cached token, from the same
/// IP, is not noted again: a token verified a thousand times a second costs the tracker one
/// update per this interval, and "last used" on this node is exact to it.
pub const NOTE_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// When this node last noted a use of a cached token, kept on the token's record so that
/// deciding to skip a repeat costs no lookup: the second (high 32 bits) and a fingerprint of
/// the client address (low 32 bits); 0 when never. A copy of a record starts afresh.
#[derive(Default)]
pub struct Noted(std::sync::atomic::AtomicU64);

impl Noted {
    /// Whether a use at `at` from `ip` is news to the tracker — the first use of this record,
    /// or one from another address, or at least [`NOTE_WITHIN`] after the last one noted — and
    /// if so, remembers it. Uses racing on two threads may both be news; that is harmless.
    pub fn news(&self, at: Timestamp, ip: Option<&str>) -> bool {
        use std::hash::BuildHasher;
        use std::sync::atomic::Ordering::Relaxed;
        // Seconds are kept modulo 2^32 (compared with wrapping arithmetic); a fingerprint
        // collision only delays an address change by NOTE_WITHIN.
        let second = at.0.div_euclid(1000) as u32;
        let address = foldhash::fast::FixedState::with_seed(0).hash_one(ip) as u32;
        let last = self.0.load(Relaxed);
        // Negative: older than the use noted, which the tracker would ignore anyway.
        let since = second.wrapping_sub((last >> 32) as u32) as i32;
        if last != 0 && last as u32 == address && i64::from(since) < NOTE_WITHIN.as_secs() as i64 {
            return false;
        }
        self.0
            .store(u64::from(second) << 32 | u64::from(address), Relaxed);
        true
    }
}

impl Clone for Noted {
    fn clone(&self) -> Self {
        Noted::default()
    }
}

impl std::fmt::Debug for Noted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Noted")
    }
}

/// Most uses one flush writes. A flush holds the database's write lock (SQLite has one
/// writer), so a wave of due tokens — 100,000 first used in the same minute come due together
/// a minute later — is written over several flushes instead of stalling every other write,
/// revocations included, for the length of one huge transaction.
pub const MAX_BATCH: usize = 10_000;

/// Fast hashing of server-generated token ids (no attacker chooses them).
type Map<V> = HashMap<Id, V, foldhash::fast::RandomState>;

/// Token ids and client addresses are short enough to be stored inline (up to 24 bytes), so a
/// verified request compares them without following a pointer: with 100,000 tokens in use,
/// each pointer followed is a likely cache miss.
type Id = CompactString;

/// One token's uses as this node saw them.
#[derive(Debug)]
struct Entry {
    /// The newest accepted use on this node.
    at: Timestamp,
    ip: Option<CompactString>,
    /// The use this node last wrote (or is writing) to the database.
    written_at: Option<Timestamp>,
    written_ip: Option<CompactString>,
    /// In `Inner::dirty` already.
    queued: bool,
}

impl Entry {
    fn due(&self) -> bool {
        match self.written_at {
            None => true,
            Some(w) => {
                self.ip != self.written_ip
                    || self.at.0.saturating_sub(w.0) >= GRANULARITY.as_millis() as i64
            }
        }
    }

    fn fully_written(&self) -> bool {
        self.written_at == Some(self.at) && self.ip == self.written_ip
    }
}

#[derive(Debug, Default)]
struct Inner {
    entries: Map<Entry>,
    /// Tokens with a use to write, each once.
    dirty: Vec<Id>,
    /// Uses handed to a flush that has not finished.
    in_flight: usize,
}

/// Pending and recent uses of every token this node verified.
#[derive(Debug, Default)]
pub struct UsageTracker {
    inner: Mutex<Inner>,
    /// When `prune_due` last pruned (ms).
    pruned_at: std::sync::atomic::AtomicI64,
}

/// A batch handed out by [`UsageTracker::begin_flush`].
#[derive(Debug)]
pub struct Batch {
    pub uses: Vec<TokenUse>,
}

impl UsageTracker {
    /// Notes a use; the newest per token wins. Allocates only for a token's first use here
    /// or a new IP.
    pub fn record(&self, token_id: &str, at: Timestamp, ip: Option<&str>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let inner = &mut *inner;
        match inner.entries.get_mut(token_id) {
            Some(e) => {
                if at < e.at {
                    return; // out of order: an older use changes nothing
                }
                e.at = at;
                if e.ip.as_deref() != ip {
                    e.ip = ip.map(CompactString::from);
                }
                if !e.queued && e.due() {
                    e.queued = true;
                    inner.dirty.push(token_id.into());
                }
            }
            None => {
                inner.entries.insert(
                    token_id.into(),
                    Entry {
                        at,
                        ip: ip.map(CompactString::from),
                        written_at: None,
                        written_ip: None,
                        queued: true,
                    },
                );
                inner.dirty.push(token_id.into());
            }
        }
    }

    /// This node's newest use of a token, written or not, so reads here are never behind.
    pub fn pending(&self, token_id: &str) -> Option<TokenUse> {
        let inner = self.inner.lock().ok()?;
        inner.entries.get(token_id).map(|e| TokenUse {
            token_id: token_id.into(),
            at: e.at,
            ip: e.ip.as_ref().map(|ip| ip.to_string()),
        })
    }

    /// Starts a flush: up to `max` of the uses that are due, oldest first (`everything`:
    /// every use not yet written, for shutdown). They count as written from now on;
    /// [`UsageTracker::end_flush`] with `written == false` puts them back.
    pub fn begin_flush(&self, everything: bool, max: usize) -> Option<Batch> {
        let mut inner = self.inner.lock().ok()?;
        let inner = &mut *inner;
        if everything {
            for (id, e) in inner.entries.iter_mut() {
                if !e.queued && !e.fully_written() {
                    e.queued = true;
                    inner.dirty.push(id.clone());
                }
            }
        }
        if inner.dirty.is_empty() {
            return None;
        }
        let rest = inner.dirty.split_off(max.min(inner.dirty.len()));
        let keys = std::mem::replace(&mut inner.dirty, rest);
        let mut uses = Vec::with_capacity(keys.len());
        for id in keys {
            if let Some(e) = inner.entries.get_mut(&id) {
                e.queued = false;
                e.written_at = Some(e.at);
                e.written_ip.clone_from(&e.ip);
                uses.push(TokenUse {
                    token_id: crate::ids::TokenId::from(&*id),
                    at: e.at,
                    ip: e.ip.as_ref().map(|ip| ip.to_string()),
                });
            }
        }
        inner.in_flight += uses.len();
        Some(Batch { uses })
    }

    /// Ends a flush. When the write failed, its uses are due again (nothing is lost).
    pub fn end_flush(&self, batch: &Batch, written: bool) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let inner = &mut *inner;
        inner.in_flight = inner.in_flight.saturating_sub(batch.uses.len());
        if written {
            return;
        }
        for u in &batch.uses {
            if let Some(e) = inner.entries.get_mut(u.token_id.as_str()) {
                e.written_at = None;
                if !e.queued {
                    e.queued = true;
                    inner.dirty.push(u.token_id.as_str().into());
                }
            }
        }
    }

    /// Forgets tokens whose newest use is written and older than `older_than`: the database
    /// says all there is to say about them. Keeps memory to the tokens in recent use.
    pub fn prune(&self, older_than: Timestamp) -> usize {
        let Ok(mut inner) = self.inner.lock() else {
            return 0;
        };
        let before = inner.entries.len();
        inner
            .entries
            .retain(|_, e| e.queued || !e.fully_written() || e.at >= older_than);
        before - inner.entries.len()
    }

    /// Prunes (see [`UsageTracker::prune`]) uses older than twice the granularity, at most
    /// once per granularity.
    pub fn prune_due(&self, now: Timestamp) -> usize {
        use std::sync::atomic::Ordering;
        let every = GRANULARITY.as_millis() as i64;
        let last = self.pruned_at.load(Ordering::Relaxed);
        if now.0.saturating_sub(last) < every
            || self
                .pruned_at
                .compare_exchange(last, now.0, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return 0;
        }
        self.prune(Timestamp(now.0.saturating_sub(2 * every)))
    }

    /// How many tokens have uses not yet written (due, or being written).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|i| i.dirty.len() + i.in_flight)
            .unwrap_or(0)
    }

    /// Whether nothing is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn ids(b: &Batch) -> Vec<(&str, i64)> {
        b.uses
            .iter()
            .map(|u| (u.token_id.as_str(), u.at.0))
            .collect()
    }

    #[test]
    fn a_repeat_from_the_same_address_is_news_only_after_note_within() {
        let within = NOTE_WITHIN.as_millis() as i64;
        let n = Noted::default();
        let t0 = 1_764_000_000_000;
        assert!(
            n.news(Timestamp(t0), Some("10.0.0.1")),
            "a first use is news"
        );
        assert!(!n.news(Timestamp(t0 + within - 1_000), Some("10.0.0.1")));
        let t1 = t0 + within - 500;
        assert!(
            n.news(Timestamp(t1), Some("10.0.0.2")),
            "another address is news at once"
        );
        assert!(!n.news(Timestamp(t1 + 100), Some("10.0.0.2")));
        assert!(n.news(Timestamp(t1 + 200), None), "so is no address");
        assert!(
            !n.news(Timestamp(t0 - 5_000), None),
            "an older use than the last noted is not"
        );
        assert!(
            n.news(Timestamp(t1 + within), None),
            "NOTE_WITHIN later it is"
        );
        assert!(
            n.clone().news(Timestamp(t1 + within), None),
            "a copy of a record starts afresh"
        );
    }

    #[test]
    fn first_use_is_due_and_reads_see_the_newest_use_at_once() {
        let t = UsageTracker::default();
        t.record("tok_1", Timestamp(10), None);
        t.record("tok_1", Timestamp(20), Some("10.0.0.1"));
        t.record("tok_1", Timestamp(15), None); // out of order: ignored
        assert_eq!(t.len(), 1, "twenty uses, one pending row");
        assert_eq!(t.pending("tok_1").map(|u| u.at), Some(Timestamp(20)));
        let b = t.begin_flush(false, MAX_BATCH).unwrap();
        assert_eq!(ids(&b), vec![("tok_1", 20)]);
        t.end_flush(&b, true);
        assert!(t.is_empty());
        assert_eq!(t.pending("tok_1").map(|u| u.at), Some(Timestamp(20)));
    }

    #[test]
    fn a_use_within_the_granularity_from_the_same_ip_is_not_written_again() {
        let t = UsageTracker::default();
        t.record("tok_1", Timestamp(1_000), Some("10.0.0.1"));
        let b = t.begin_flush(false, MAX_BATCH).unwrap();
        t.end_flush(&b, true);
        t.record("tok_1", Timestamp(1_000 + MIN / 2), Some("10.0.0.1"));
        assert!(
            t.is_empty(),
            "half a minute later, same address: nothing due"
        );
        assert_eq!(
            t.pending("tok_1").map(|u| u.at),
            Some(Timestamp(1_000 + MIN / 2)),
            "but this node shows the exact time"
        );
        t.record("tok_1", Timestamp(1_000 + MIN / 2 + 1), Some("10.0.0.2"));
        assert_eq!(t.len(), 1, "a new address is news");
        let b = t.begin_flush(false, MAX_BATCH).unwrap();
        t.end_flush(&b, true);
        t.record("tok_1", Timestamp(1_000 + 2 * MIN), Some("10.0.0.2"));
        assert_eq!(t.len(), 1, "a minute later: written again");
    }

    #[test]
    fn a_failed_flush_loses_nothing() {
        let t = UsageTracker::default();
        t.record("tok_1", Timestamp(10), None);
        let b = t.begin_flush(false, MAX_BATCH).unwrap();
        t.record("tok_2", Timestamp(11), None);
        assert_eq!(t.len(), 2, "one in flight, one due");
        t.end_flush(&b, false);
        let retry = t.begin_flush(false, MAX_BATCH).unwrap();
        let mut got = ids(&retry);
        got.sort();
        assert_eq!(
            got,
            vec![("tok_1", 10), ("tok_2", 11)],
            "the retry carries both"
        );
    }

    #[test]
    fn shutdown_writes_uses_the_granularity_held_back() {
        let t = UsageTracker::default();
        t.record("tok_1", Timestamp(0), None);
        let b = t.begin_flush(false, MAX_BATCH).unwrap();
        t.end_flush(&b, true);
        t.record("tok_1", Timestamp(5_000), None);
        assert!(t.begin_flush(false, MAX_BATCH).is_none(), "not due yet");
        let b = t.begin_flush(true, MAX_BATCH).unwrap();
        assert_eq!(ids(&b), vec![("tok_1", 5_000)]);
    }

    #[test]
    fn a_flush_carries_at_most_max_uses_oldest_first_and_the_rest_follow() {
        let t = UsageTracker::default();
        for i in 0..5 {
            t.record(&format!("tok_{i}"), Timestamp(i), None);
        }
        let first = t.begin_flush(false, 2).unwrap();
        assert_eq!(ids(&first), vec![("tok_0", 0), ("tok_1", 1)]);
        t.end_flush(&first, true);
        assert_eq!(t.len(), 3, "the rest wait for the next flush");
        let second = t.begin_flush(false, 2).unwrap();
        assert_eq!(ids(&second), vec![("tok_2", 2), ("tok_3", 3)]);
        t.end_flush(&second, true);
        let third = t.begin_flush(false, 2).unwrap();
        assert_eq!(ids(&third), vec![("tok_4", 4)]);
        t.end_flush(&third, true);
        assert!(t.begin_flush(false, 2).is_none());
    }

    #[test]
    fn pruning_forgets_only_written_old_uses() {
        let t = UsageTracker::default();
        t.record("old", Timestamp(0), None);
        t.record("unwritten", Timestamp(0), None);
        let b = t.begin_flush(false, MAX_BATCH).unwrap();
        t.end_flush(&b, true);
        t.record("unwritten", Timestamp(1), None); // held back by the granularity
        t.record("fresh", Timestamp(10 * MIN), None);
        assert_eq!(t.prune(Timestamp(5 * MIN)), 1);
        assert!(t.pending("old").is_none());
        assert!(t.pending("unwritten").is_some());
        assert!(t.pending("fresh").is_some());
    }
}
