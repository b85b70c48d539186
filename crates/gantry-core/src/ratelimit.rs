//! Failure rate limits: brute force against tokens (per client IP and per token prefix) and
//! against passwords (per client IP and per email). Only failures count, so a valid credential
//! is never slowed: a token that verifies is accepted whatever its IP did before.
//!
//! Fixed windows per key, in one map bounded to [`MAX_KEYS`]; when it is full, expired windows
//! are swept (at most once per window) and, failing that, new keys are refused (429) until the
//! next sweep: a flood of distinct keys costs neither a scan per request nor the windows that
//! already block, and never lets failures through uncounted.
//!
//! Client addresses are keyed by [`client_key`]: IPv6 by its /64 (one subscriber's prefix, which
//! hands out more addresses than any limit could count), IPv4 by the address.

use crate::time::Timestamp;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

/// Most keys tracked at once per limiter.
pub const MAX_KEYS: usize = 100_000;

/// The limiter key of a client address: an IPv6 address by its /64 network, an IPv4 address
/// (also one mapped into IPv6) as itself, anything unparseable as given.
pub fn client_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let net = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(net))
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

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

/// What counting one failure found.
enum Counted {
    /// Within the limit: this many failures in the window.
    Within(u32),
    /// Over it: wait this long; whether this failure crossed it.
    Over(Duration, bool),
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
        match self.count(key, now) {
            Counted::Within(_) => None,
            Counted::Over(retry_after, crossed) => Some((retry_after, crossed)),
        }
    }

    /// Counts a failure of `key`: how many there are in its window now (this one included), or
    /// how long to wait. A full map refuses a new key (it is never let through uncounted).
    fn count(&self, key: &str, now: Timestamp) -> Counted {
        let window_ms = self.window_ms();
        let Ok(mut windows) = self.windows.lock() else {
            // A poisoned lock (a panic while counting): refuse rather than count nothing.
            return Counted::Over(self.limit.window, false);
        };
        if windows.map.len() >= MAX_KEYS && !windows.map.contains_key(key) {
            // Full: sweep expired windows at most once per window; if that frees nothing, new
            // keys are refused until the next sweep, rather than costing a scan per call,
            // evicting windows that still block, or going uncounted.
            let due = windows
                .swept
                .is_none_or(|at| now.0.saturating_sub(at.0) >= window_ms);
            if due {
                windows.swept = Some(now);
                windows
                    .map
                    .retain(|_, w| now.0.saturating_sub(w.start.0) < window_ms);
            }
            if windows.map.len() >= MAX_KEYS {
                let next_sweep = Window {
                    start: windows.swept.unwrap_or(now),
                    failures: 0,
                };
                return Counted::Over(self.retry_after(&next_sweep, now), false);
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
        if w.failures > self.limit.max {
            Counted::Over(self.retry_after(&w, now), w.failures == self.limit.max + 1)
        } else {
            Counted::Within(w.failures)
        }
    }

    /// Counts an attempt *before* it is checked (logins: the check is slow, and concurrent
    /// guesses must not all pass a check that only counts afterwards). Returns how long to wait
    /// if the key is over its limit. A successful attempt is given back with
    /// [`FailureLimiter::forgive`].
    pub fn attempt(&self, key: &str, now: Timestamp) -> Option<Duration> {
        self.fail(key, now).map(|(retry_after, _)| retry_after)
    }

    /// [`FailureLimiter::attempt`], saying also whether this is the key's only attempt in its
    /// window (the key had no recent failure): `Ok(first)` or `Err(retry_after)`.
    pub fn first_attempt(&self, key: &str, now: Timestamp) -> Result<bool, Duration> {
        match self.count(key, now) {
            Counted::Within(n) => Ok(n == 1),
            Counted::Over(retry_after, _) => Err(retry_after),
        }
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
    fn ipv6_clients_are_keyed_by_their_64_and_ipv4_by_address() {
        assert_eq!(client_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(client_key("2001:db8:1:2::ffff"), "2001:db8:1:2::/64");
        assert_ne!(client_key("2001:db8:1:3::1"), client_key("2001:db8:1:2::1"));
        assert_eq!(client_key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key("192.0.2.7"), "192.0.2.7");
        assert_eq!(client_key("not an address"), "not an address");
    }

    #[test]
    fn a_full_limiter_refuses_new_keys_instead_of_letting_them_through() {
        let l = FailureLimiter::new(Limit {
            max: 5,
            window: Duration::from_secs(60),
        });
        for i in 0..MAX_KEYS {
            assert!(l.fail(&format!("k{i}"), Timestamp(0)).is_none());
        }
        // Full of windows that still count: a new key is refused, a known one counted.
        assert!(l.fail("new", Timestamp(1_000)).is_some());
        assert!(l.first_attempt("new", Timestamp(1_000)).is_err());
        assert!(l.fail("k1", Timestamp(1_000)).is_none());
        // Once the windows have ended, the sweep makes room.
        assert!(l.fail("new", Timestamp(61_000)).is_none());
    }

    #[test]
    fn first_attempt_says_whether_the_key_had_no_recent_failure() {
        let l = FailureLimiter::new(Limit {
            max: 2,
            window: Duration::from_secs(60),
        });
        assert_eq!(l.first_attempt("a", Timestamp(0)), Ok(true));
        l.forgive("a");
        assert_eq!(l.first_attempt("a", Timestamp(1)), Ok(true), "forgiven");
        assert_eq!(l.first_attempt("a", Timestamp(2)), Ok(false));
        assert!(l.first_attempt("a", Timestamp(3)).is_err());
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
