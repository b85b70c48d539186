//! Token lifetimes: the duration syntax (`90d`, `720h`, `175200h0m0s`), the three ways to ask
//! for an expiry, and the instance policy that caps them.

use crate::error::{CoreError, CoreResult};
use crate::time::Timestamp;
use std::time::Duration;

/// The lifetime a token gets when none is asked for.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(90 * 86_400);
/// The longest grace period a rotation may keep the old value alive for.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 86_400);
/// No lifetime may exceed a century: it keeps arithmetic far from overflow.
const MAX_DURATION: Duration = Duration::from_secs(100 * 366 * 86_400);

/// Parses `<n><unit>` repeated, units `w d h m s` (e.g. `90d`, `1d12h`, `175200h0m0s`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        digits.clear();
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if !digits.is_empty() {
        return None; // a trailing number without a unit
    }
    let d = Duration::from_secs(total);
    (d <= MAX_DURATION).then_some(d)
}

/// Formats a duration the way people write it: `90d`, `36h`, `90d12h`.
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// What the caller asked for, before policy.
#[derive(Debug, Clone, Default)]
pub struct ExpiryRequest<'a> {
    pub expires_in: Option<&'a str>,
    pub expires_at: Option<&'a str>,
    pub never_expires: Option<bool>,
}

/// A resolved expiry: when, and the lifetime a rotation will renew it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// None: never expires.
    pub expires_at: Option<Timestamp>,
    /// None: never expires.
    pub lifetime: Option<Duration>,
}

impl Expiry {
    /// This expiry, no later than `ceiling` (the credential's own expiry, see
    /// [`crate::policy::expiry_ceiling`]). A later one asked for in `explicit` (the request
    /// field that chose it) is refused; a default one is cut to the ceiling, keeping the
    /// lifetime a later rotation renews by.
    pub fn within(
        self,
        ceiling: Option<Timestamp>,
        explicit: Option<&str>,
        now: Timestamp,
    ) -> CoreResult<Expiry> {
        let Some(ceiling) = ceiling else {
            return Ok(self);
        };
        if self.expires_at.is_some_and(|at| at <= ceiling) {
            return Ok(self);
        }
        if let Some(field) = explicit {
            return Err(CoreError::invalid(
                field,
                format!(
                    "must not be later than {}, when the token making this request expires: a \
                     token never makes a longer-lived one (sign in with a password, or use a \
                     token whose own life covers it)",
                    ceiling.to_rfc3339()
                ),
            ));
        }
        let left = Duration::from_millis(u64::try_from(ceiling.0 - now.0).unwrap_or(0));
        Ok(Expiry {
            expires_at: Some(ceiling),
            lifetime: self.lifetime.or(Some(left)),
        })
    }
}

/// The instance's rules for token lifetimes. Off by default.
#[derive(Debug, Clone, Default)]
pub struct TokenPolicy {
    /// The longest lifetime any token may have.
    pub max_lifetime: Option<Duration>,
    /// Refuse tokens that never expire.
    pub forbid_non_expiring: bool,
    /// Set when an org policy tightened this one (`for_org`): refusals name the org's rule.
    pub tightened_by_org: bool,
}

impl TokenPolicy {
    /// This instance policy as an org's tokens meet it: the shorter of the two maximum
    /// lifetimes, and never-expiring tokens refused if either refuses them. An org policy only
    /// ever tightens.
    pub fn for_org(&self, org: &crate::model::OrgPolicy) -> TokenPolicy {
        let max_lifetime = match (self.max_lifetime, org.max_lifetime) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let tightened =
            max_lifetime != self.max_lifetime || (org.require_expiry && !self.forbid_non_expiring);
        TokenPolicy {
            max_lifetime,
            forbid_non_expiring: self.forbid_non_expiring || org.require_expiry,
            tightened_by_org: tightened,
        }
    }

    fn whose(&self) -> &'static str {
        if self.tightened_by_org {
            "this org's"
        } else {
            "this instance's"
        }
    }

    /// The lifetime used when the caller asks for none: 90 days, or the cap if shorter.
    pub fn default_lifetime(&self) -> Duration {
        match self.max_lifetime {
            Some(max) if max < DEFAULT_LIFETIME => max,
            _ => DEFAULT_LIFETIME,
        }
    }

    fn check_lifetime(&self, field: &str, d: Duration) -> CoreResult<()> {
        if d < Duration::from_secs(60) {
            return Err(CoreError::invalid(field, "must be at least one minute"));
        }
        if let Some(max) = self.max_lifetime {
            if d > max {
                return Err(CoreError::invalid(
                    field,
                    format!(
                        "exceeds {} maximum token lifetime of {}",
                        self.whose(),
                        format_duration(max)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Whether tokens that never expire may be created (not when forbidden, nor under a cap).
    pub fn allows_never(&self) -> bool {
        !self.forbid_non_expiring && self.max_lifetime.is_none()
    }

    fn never(&self, field: &str) -> CoreResult<Expiry> {
        if !self.allows_never() {
            return Err(CoreError::invalid(
                field,
                format!(
                    "{} policy does not allow tokens that never expire",
                    self.whose()
                ),
            ));
        }
        Ok(Expiry {
            expires_at: None,
            lifetime: None,
        })
    }

    /// Resolves a creation request against the policy.
    pub fn resolve(&self, req: &ExpiryRequest<'_>, now: Timestamp) -> CoreResult<Expiry> {
        // `never_expires: false` is the same as not saying anything.
        let given = [
            req.expires_in.is_some(),
            req.expires_at.is_some(),
            req.never_expires == Some(true),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(CoreError::invalid(
                "expires_in",
                "give at most one of expires_in, expires_at and never_expires",
            ));
        }
        if let Some(s) = req.expires_in {
            return self.lifetime("expires_in", s, now);
        }
        if let Some(s) = req.expires_at {
            let at = Timestamp::parse_rfc3339(s).ok_or_else(|| {
                CoreError::invalid(
                    "expires_at",
                    "must be an RFC 3339 instant, e.g. 2027-01-31T00:00:00Z",
                )
            })?;
            if at <= now {
                return Err(CoreError::invalid("expires_at", "must be in the future"));
            }
            let lifetime = Duration::from_millis(u64::try_from(at.0 - now.0).unwrap_or(0));
            if lifetime > MAX_DURATION {
                return Err(CoreError::invalid("expires_at", "must be within 100 years"));
            }
            self.check_lifetime("expires_at", lifetime)?;
            return Ok(Expiry {
                expires_at: Some(at),
                lifetime: Some(lifetime),
            });
        }
        match req.never_expires {
            Some(true) => self.never("never_expires"),
            Some(false) | None => Ok(self.fixed(self.default_lifetime(), now)),
        }
    }

    /// Resolves a duration string (`expires_in`, or `-x` on the CLI).
    pub fn lifetime(&self, field: &str, s: &str, now: Timestamp) -> CoreResult<Expiry> {
        let d = parse_duration(s).ok_or_else(|| {
            CoreError::invalid(
                field,
                "must be a duration such as 90d, 720h or 1d12h (units w, d, h, m, s)",
            )
        })?;
        self.check_lifetime(field, d)?;
        Ok(self.fixed(d, now))
    }

    /// The expiry a rotation gives: the same length again from now, re-checked against the
    /// policy as it is today (a cap added since is honoured).
    pub fn renew(&self, lifetime: Option<Duration>, now: Timestamp) -> CoreResult<Expiry> {
        match lifetime {
            None => self.never("expires_in"),
            Some(d) => {
                let d = match self.max_lifetime {
                    Some(max) if d > max => max,
                    _ => d,
                };
                Ok(self.fixed(d, now))
            }
        }
    }

    fn fixed(&self, d: Duration, now: Timestamp) -> Expiry {
        Expiry {
            expires_at: Some(now.plus(d)),
            lifetime: Some(d),
        }
    }
}

/// Parses a rotation grace period: at most 7 days.
pub fn parse_grace(s: &str) -> CoreResult<Duration> {
    let d = parse_duration(s)
        .ok_or_else(|| CoreError::invalid("grace_period", "must be a duration such as 1h or 2d"))?;
    if d > MAX_GRACE {
        return Err(CoreError::invalid("grace_period", "must be at most 7d"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_700_000_000_000);

    #[test]
    fn durations_in_the_seed_formats_parse() {
        assert_eq!(
            parse_duration("90d"),
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(
            parse_duration("720h"),
            Some(Duration::from_secs(720 * 3_600))
        );
        assert_eq!(
            parse_duration("175200h0m0s"),
            Some(Duration::from_secs(175_200 * 3_600))
        );
        assert_eq!(
            parse_duration("1d12h"),
            Some(Duration::from_secs(36 * 3_600))
        );
        assert_eq!(parse_duration("2w"), Some(Duration::from_secs(14 * 86_400)));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in [
            "",
            "d",
            "90",
            "90x",
            "-1d",
            "1.5h",
            "99999999999999999999d",
            "200000000h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn default_is_ninety_days_or_the_cap() {
        let p = TokenPolicy::default();
        let e = p.resolve(&ExpiryRequest::default(), NOW).unwrap();
        assert_eq!(e.lifetime, Some(DEFAULT_LIFETIME));
        let capped = TokenPolicy {
            max_lifetime: Some(Duration::from_secs(86_400)),
            ..Default::default()
        };
        let e = capped.resolve(&ExpiryRequest::default(), NOW).unwrap();
        assert_eq!(e.lifetime, Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn an_org_policy_only_tightens() {
        let instance = TokenPolicy {
            max_lifetime: Some(Duration::from_secs(30 * 86_400)),
            ..Default::default()
        };
        let looser = crate::model::OrgPolicy {
            max_lifetime: Some(Duration::from_secs(400 * 86_400)),
            ..Default::default()
        };
        let p = instance.for_org(&looser);
        assert_eq!(p.max_lifetime, instance.max_lifetime);
        assert!(!p.tightened_by_org && !p.forbid_non_expiring);
        let tighter = crate::model::OrgPolicy {
            max_lifetime: Some(Duration::from_secs(86_400)),
            require_expiry: true,
            allowed_ips: None,
        };
        let p = instance.for_org(&tighter);
        assert_eq!(p.max_lifetime, Some(Duration::from_secs(86_400)));
        assert!(p.forbid_non_expiring && p.tightened_by_org);
        let err = p.lifetime("expires_in", "2d", NOW).unwrap_err().to_string();
        assert!(
            err.contains("this org's maximum token lifetime of 1d"),
            "{err}"
        );
        let open = TokenPolicy::default().for_org(&crate::model::OrgPolicy {
            require_expiry: true,
            ..Default::default()
        });
        assert!(!open.allows_never());
        assert_eq!(open.max_lifetime, None);
    }

    #[test]
    fn policy_caps_lifetime_and_can_forbid_never() {
        let p = TokenPolicy {
            max_lifetime: Some(Duration::from_secs(30 * 86_400)),
            forbid_non_expiring: true,
            ..Default::default()
        };
        let long = ExpiryRequest {
            expires_in: Some("31d"),
            ..Default::default()
        };
        assert!(p.resolve(&long, NOW).is_err());
        let never = ExpiryRequest {
            never_expires: Some(true),
            ..Default::default()
        };
        assert!(p.resolve(&never, NOW).is_err());
        let open = TokenPolicy::default();
        assert_eq!(open.resolve(&never, NOW).unwrap().expires_at, None);
    }

    #[test]
    fn only_one_expiry_field_may_be_given() {
        let both = ExpiryRequest {
            expires_in: Some("1d"),
            never_expires: Some(true),
            ..Default::default()
        };
        assert!(TokenPolicy::default().resolve(&both, NOW).is_err());
    }

    #[test]
    fn instants_must_be_future_rfc3339() {
        let p = TokenPolicy::default();
        let past = ExpiryRequest {
            expires_at: Some("2001-01-01T00:00:00Z"),
            ..Default::default()
        };
        assert!(p.resolve(&past, NOW).is_err());
        let junk = ExpiryRequest {
            expires_at: Some("tomorrow"),
            ..Default::default()
        };
        assert!(p.resolve(&junk, NOW).is_err());
        let future = ExpiryRequest {
            expires_at: Some("2099-01-01T00:00:00Z"),
            ..Default::default()
        };
        assert!(p.resolve(&future, NOW).unwrap().expires_at.is_some());
    }

    #[test]
    fn grace_is_at_most_seven_days() {
        assert!(parse_grace("7d").is_ok());
        assert!(parse_grace("169h").is_err());
    }
}
