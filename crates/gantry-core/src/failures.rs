//! Failed authentications in the audit log, aggregated: the first failure of a (prefix,
//! reason, client address) in a window is written at once, so one bad use shows up as it
//! happens; the repeats are counted in memory and written as one summary row (`count`,
//! `first_at`, `last_at`) when the window ends. Thousands of uses of a revoked token become a
//! handful of rows instead of thousands of writes on SQLite's one writer.
//!
//! Bounded: at most [`MAX_KEYS`] keys; past that, failures are counted under their reason
//! alone (prefix and address dropped), so nothing goes uncounted.

use crate::model::AuditRecord;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Most (prefix, reason, address) keys aggregated at once.
pub const MAX_KEYS: usize = 10_000;

/// What one failure is aggregated under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FailureKey {
    pub prefix: Option<String>,
    pub reason: &'static str,
    pub ip: Option<String>,
}

/// Whether a failure's row is written now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Always (a rate limit was crossed: news of its own).
    Always,
    /// If it is the first of its key in the window.
    IfFirst,
    /// Never now (the client is rate limited): only counted.
    Never,
}

#[derive(Debug)]
struct Entry {
    started: Timestamp,
    last: Timestamp,
    /// Failures not written as rows of their own.
    repeats: u64,
    /// The first failure's row: the summary's actor, target, scope and address.
    template: AuditRecord,
}

/// The aggregator of one process.
#[derive(Debug)]
pub struct FailureLog {
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<FailureKey, Entry, foldhash::fast::RandomState>,
    /// Summaries of windows ended by a later failure, written at the next flush.
    ready: Vec<AuditRecord>,
}

impl FailureLog {
    /// Aggregates over windows of `window` (the failure limit's).
    pub fn new(window: Duration) -> FailureLog {
        FailureLog {
            window,
            state: Mutex::default(),
        }
    }

    fn ended(&self, e: &Entry, now: Timestamp) -> bool {
        let window = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        now.0.saturating_sub(e.started.0) >= window
    }

    /// Notes one failure; returns the row to write now, if any. `record` builds the row (only
    /// called for the first failure of a key in a window, or when `write` is `Always`).
    pub fn note(
        &self,
        key: FailureKey,
        now: Timestamp,
        write: Write,
        record: impl FnOnce() -> AuditRecord,
    ) -> Option<AuditRecord> {
        let Ok(mut state) = self.state.lock() else {
            // Poisoned: write every row rather than lose any.
            return Some(record());
        };
        let state = &mut *state;
        let key = if state.entries.len() >= MAX_KEYS && !state.entries.contains_key(&key) {
            FailureKey {
                prefix: None,
                reason: key.reason,
                ip: None,
            }
        } else {
            key
        };
        if let Some(e) = state.entries.get_mut(&key) {
            if !self.ended(e, now) {
                e.last = now;
                if write == Write::Always {
                    return Some(record());
                }
                e.repeats += 1;
                return None;
            }
        }
        // The first of its key in a new window.
        let row = record();
        let written = write != Write::Never;
        let entry = Entry {
            started: now,
            last: now,
            repeats: u64::from(!written),
            template: row.clone(),
        };
        if let Some(old) = state.entries.insert(key, entry) {
            state.ready.extend(summary(old));
        }
        written.then_some(row)
    }

    /// The summary rows due: of every window that has ended, or of all with `everything`
    /// (shutdown, tests). Their keys start afresh.
    pub fn due(&self, now: Timestamp, everything: bool) -> Vec<AuditRecord> {
        let Ok(mut state) = self.state.lock() else {
            return Vec::new();
        };
        let mut out = std::mem::take(&mut state.ready);
        let ended: Vec<FailureKey> = state
            .entries
            .iter()
            .filter(|(_, e)| everything || self.ended(e, now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            if let Some(e) = state.entries.remove(&k) {
                out.extend(summary(e));
            }
        }
        out
    }
}

/// The row for a window's repeats, if there were any.
fn summary(e: Entry) -> Option<AuditRecord> {
    if e.repeats == 0 {
        return None;
    }
    let mut row = e.template;
    row.id = 0;
    row.at = e.last;
    if let Some(d) = row.detail.as_object_mut() {
        d.remove("rate_limited");
        d.insert("count".into(), e.repeats.into());
        d.insert("first_at".into(), e.started.to_rfc3339().into());
        d.insert("last_at".into(), e.last.to_rfc3339().into());
        d.insert("repeated".into(), true.into());
    }
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ActorRef;

    fn key(prefix: &str) -> FailureKey {
        FailureKey {
            prefix: Some(prefix.into()),
            reason: "revoked",
            ip: Some("192.0.2.1".into()),
        }
    }

    fn row() -> AuditRecord {
        AuditRecord {
            detail: serde_json::json!({"reason": "revoked"}),
            ..AuditRecord::new(Timestamp(0), ActorRef::Anonymous, "auth.failed")
        }
    }

    #[test]
    fn thousands_of_failures_make_one_row_and_one_summary_per_window() {
        let log = FailureLog::new(Duration::from_secs(60));
        let mut written = 0;
        for i in 0..3_000 {
            written += log
                .note(key("gtd_a"), Timestamp(i * 10), Write::IfFirst, row)
                .is_some() as usize;
        }
        assert_eq!(written, 1);
        assert!(
            log.due(Timestamp(30_000), false).is_empty(),
            "window not over"
        );
        let due = log.due(Timestamp(60_000), false);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].detail["count"], 2_999);
        assert_eq!(due[0].detail["repeated"], true);
        assert!(log.due(Timestamp(120_000), true).is_empty(), "written once");
    }

    #[test]
    fn keys_are_apart_and_limited_failures_are_counted_not_written() {
        let log = FailureLog::new(Duration::from_secs(60));
        assert!(log
            .note(key("a"), Timestamp(0), Write::IfFirst, row)
            .is_some());
        assert!(log
            .note(key("b"), Timestamp(0), Write::IfFirst, row)
            .is_some());
        assert!(log
            .note(key("c"), Timestamp(0), Write::Never, row)
            .is_none());
        assert!(log
            .note(key("c"), Timestamp(1), Write::Always, row)
            .is_some());
        let due = log.due(Timestamp(1), true);
        assert_eq!(due.len(), 1, "only c had failures without a row");
        assert_eq!(due[0].detail["count"], 1);
    }

    #[test]
    fn memory_stays_bounded_and_nothing_goes_uncounted() {
        let log = FailureLog::new(Duration::from_secs(60));
        for i in 0..(MAX_KEYS + 100) {
            log.note(key(&format!("p{i}")), Timestamp(0), Write::IfFirst, row);
        }
        let due = log.due(Timestamp(0), true);
        assert_eq!(due.len(), 1);
        assert_eq!(
            due[0].detail["count"], 99,
            "the overflow key's first was written"
        );
    }
}
