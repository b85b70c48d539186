//! Failure rate limits: brute force against tokens (per client IP and per token prefix) and
//! against passwords (per client IP and per email). Only failures count, so a valid credential
//! is never slowed: a token that verifies is accepted whatever its IP did before.
//!
//! Fixed windows per key, in one map bounded to [`MAX_KEYS`]; when it is full, expired windows
//! are swept (at most once per window) and, failing that, new keys go uncounted until the next
//! sweep: a flood of distinct keys costs neither a scan per request nor the windows that
//! already block.

use crate::time::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Most keys tracked at once per limiter.
pub const MAX_KEYS: usize = 100_000;

/// At most `max` failures per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    /// Parses `N/DURATION`, e.g. `30/1m`, `10/5m` (units of [`crate::expiry::parse_duration`]).
    pub fn parse(s: &str) -> Option<Limit> {
        let (n, d) = s.trim().split_once('/')?;
        let max = n.trim().parse::<u32>().ok().filter(|n| *n > 0)?;
        let window = crate::expiry::parse_duration(d.trim()).filter(|d| !d.is_zero())?;
        (window <= Duration::from_secs(86_400)).then_some(Limit { max, window })
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            self.max,
            crate::expiry::format_duration(self.window)
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Timestamp,
    failures: u32,
}

/// Counts failures per key.
#[derive(Debug)]
pub struct FailureLimiter {
    limit: Limit,
    windows: Mutex<Windows>,
}

#[derive(Debug, Default)]
struct Windows {
    map: HashMap<String, Window, foldhash::fast::RandomState>,
    /// When a full map was last swept of expired windows.
    swept: Option<Timestamp>,
}

impl FailureLimiter {
    /// A limiter allowing `limit`.
    pub fn new(limit: Limit) -> FailureLimiter {
        FailureLimiter {
            limit,
            windows: Mutex::default(),
        }
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.limit.window.as_millis()).unwrap_or(i64::MAX)
    }

    fn retry_after(&self, w: &Window, now: Timestamp) -> Duration {
        let ends = w.start.0.saturating_add(self.window_ms());
        let ms = u64::try_from(ends.saturating_sub(now.0)).unwrap_or(0);
        // Whole seconds, rounded up, at least one: what `Retry-After` can say.
        Duration::from_secs(ms.div_ceil(1000).max(1))
    }

    /// Counts a failure of `key`. Returns how long to wait if the key is now over its limit
    /// (this failure included), and whether this failure is the one that crossed it.
    pub fn fail(&self, key: &str, now: Timestamp) -> Option<(Duration, bool)> {
        let mut windows = self.windows.lock().ok()?;
        let window_ms = self.window_ms();
        if windows.map.len() >= MAX_KEYS && !windows.map.contains_key(key) {
            // Full: sweep expired windows at most once per window; if that frees nothing, new
            // keys go uncounted until the next sweep rather than costing a scan per call or
            // evicting windows that still block.
            let due = windows
                .swept
                .is_none_or(|at| now.0.saturating_sub(at.0) >= window_ms);
            if !due {
                return None;
            }
            windows.swept = Some(now);
            windows
                .map
                .retain(|_, w| now.0.saturating_sub(w.start.0) < window_ms);
            if windows.map.len() >= MAX_KEYS {
                return None;
            }
        }
        let w = windows.map.entry(key.to_owned()).or_insert(Window {
            start: now,
            failures: 0,
        });
        if now.0.saturating_sub(w.start.0) >= window_ms {
            *w = Window {
                start: now,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
        let w = *w;
        (w.failures > self.limit.max)
            .then(|| (self.retry_after(&w, now), w.failures == self.limit.max + 1))
    }

    /// Counts an attempt *before* it is checked (logins: the check is slow, and concurrent
    /// guesses must not all pass a check that only counts afterwards). Returns how long to wait
    /// if the key is over its limit. A successful attempt is given back with
    /// [`FailureLimiter::forgive`].
    pub fn attempt(&self, key: &str, now: Timestamp) -> Option<Duration> {
        self.fail(key, now).map(|(retry_after, _)| retry_after)
    }

    /// Gives back one counted attempt of `key` (it succeeded).
    pub fn forgive(&self, key: &str) {
        if let Ok(mut windows) = self.windows.lock() {
            if let Some(w) = windows.map.get_mut(key) {
                w.failures = w.failures.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_print() {
        let l = Limit::parse("30/1m").unwrap();
        assert_eq!((l.max, l.window), (30, Duration::from_secs(60)));
        assert_eq!(l.to_string(), "30/1m");
        for bad in ["", "30", "0/1m", "x/1m", "30/0s", "30/2d"] {
            assert!(Limit::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_failure_past_the_limit_is_refused_until_the_window_ends() {
        let l = FailureLimiter::new(Limit {
            max: 3,
            window: Duration::from_secs(60),
        });
        for i in 0..3 {
            assert!(l.fail("10.0.0.1", Timestamp(i)).is_none());
        }
        assert_eq!(
            l.fail("10.0.0.1", Timestamp(1_000)),
            Some((Duration::from_secs(59), true))
        );
        assert_eq!(
            l.fail("10.0.0.1", Timestamp(2_000)),
            Some((Duration::from_secs(58), false)),
            "only the crossing is news"
        );
        assert!(l.fail("10.0.0.2", Timestamp(2_000)).is_none(), "per key");
        assert!(
            l.fail("10.0.0.1", Timestamp(60_000)).is_none(),
            "a new window"
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let l = FailureLimiter::new(Limit {
            max: 1,
            window: Duration::from_secs(60),
        });
        for i in 0..(MAX_KEYS as i64 + 10) {
            l.fail(&format!("k{i}"), Timestamp(i));
        }
        assert!(l.windows.lock().unwrap().map.len() <= MAX_KEYS);
    }
}
