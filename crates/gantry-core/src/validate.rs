//! Every input limit, written down once, and the checks that apply them. Services call them
//! before anything reaches the store, so the API and the dashboard share them. [`slug`] is
//! the constructor of a new [`Slug`] (the store takes slugs and ids as their own types,
//! `crate::ids`); the other checks return the checked text.

use crate::error::{CoreError, CoreResult};
use crate::ids::Slug;
use std::time::Duration;

/// Longest token, org, app or alert name.
pub const MAX_NAME: usize = 100;
/// Longest token description.
pub const MAX_DESCRIPTION: usize = 1000;
/// Longest org or app slug.
pub const MAX_SLUG: usize = 40;
/// Longest email address (RFC 5321 path limit).
pub const MAX_EMAIL: usize = 254;
/// Shortest and longest password.
pub const MIN_PASSWORD: usize = 12;
/// Longest password accepted (argon2 would take more, but there is no reason to).
pub const MAX_PASSWORD: usize = 1024;
/// Longest env var key.
pub const MAX_ENV_KEY: usize = 256;
/// Largest env var value, in bytes.
pub const MAX_ENV_VALUE: usize = 64 * 1024;
/// Most env vars per app.
pub const MAX_ENV_VARS: i64 = 1000;
/// Largest config document, in bytes.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;
/// Longest release label and message.
pub const MAX_LABEL: usize = 200;
/// Longest release message.
pub const MAX_MESSAGE: usize = 4000;
/// Longest alert target.
pub const MAX_TARGET: usize = 2048;
/// Most event types one alert rule asks for.
pub const MAX_RULE_EVENTS: usize = 16;

fn no_control_chars(field: &str, s: &str) -> CoreResult<()> {
    if s.chars().any(|c| c.is_control()) {
        return Err(CoreError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A human-readable name: 1..=100 characters, trimmed, no control characters.
pub fn name(field: &str, s: &str) -> CoreResult<String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if s.chars().count() > MAX_NAME {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    no_control_chars(field, s)?;
    Ok(s.to_owned())
}

/// An optional description: at most 1000 characters; empty means none.
pub fn description(field: &str, s: Option<&str>) -> CoreResult<Option<String>> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if s.chars().count() > MAX_DESCRIPTION {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(CoreError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(s.to_owned()))
}

/// An org or app slug: 2..=40 of `a-z 0-9 -`, starting and ending with a letter or digit.
pub fn slug(field: &str, s: &str) -> CoreResult<Slug> {
    let ok_len = (2..=MAX_SLUG).contains(&s.len());
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ok_ends = !s.starts_with('-') && !s.ends_with('-');
    if !(ok_len && ok_chars && ok_ends) {
        return Err(CoreError::invalid(
            field,
            format!(
                "must be 2-{MAX_SLUG} characters of a-z, 0-9 and '-', not starting or ending with '-'"
            ),
        ));
    }
    Ok(Slug::checked(s))
}

/// An email address: lower-cased, one `@` with something on both sides, ≤ 254 characters.
pub fn email(field: &str, s: &str) -> CoreResult<String> {
    let s = s.trim().to_lowercase();
    let valid = s.len() <= MAX_EMAIL
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(CoreError::invalid(
            field,
            format!("must be an email address of at most {MAX_EMAIL} characters"),
        ));
    }
    Ok(s)
}

/// A new password: 12..=1024 characters.
pub fn password(field: &str, s: &str) -> CoreResult<()> {
    let n = s.chars().count();
    if n < MIN_PASSWORD {
        return Err(CoreError::invalid(
            field,
            format!("must be at least {MIN_PASSWORD} characters"),
        ));
    }
    if n > MAX_PASSWORD {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {MAX_PASSWORD} characters"),
        ));
    }
    Ok(())
}

/// An env var key: `[A-Za-z_][A-Za-z0-9_]*`, at most 256 characters.
pub fn env_key(field: &str, s: &str) -> CoreResult<String> {
    let mut bytes = s.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !first_ok || !rest_ok || s.len() > MAX_ENV_KEY {
        return Err(CoreError::invalid(
            field,
            format!("must match [A-Za-z_][A-Za-z0-9_]* and be at most {MAX_ENV_KEY} characters"),
        ));
    }
    Ok(s.to_owned())
}

/// An env var value: at most 64 KiB, no NUL.
pub fn env_value(field: &str, s: &str) -> CoreResult<String> {
    if s.len() > MAX_ENV_VALUE {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {MAX_ENV_VALUE} bytes"),
        ));
    }
    if s.contains('\0') {
        return Err(CoreError::invalid(field, "must not contain NUL"));
    }
    Ok(s.to_owned())
}

/// Optional free text with a length limit (release label and message).
pub fn optional_text(field: &str, s: Option<&str>, max: usize) -> CoreResult<Option<String>> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if s.chars().count() > max {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if s.contains('\0') {
        return Err(CoreError::invalid(field, "must not contain NUL"));
    }
    Ok(Some(s.to_owned()))
}

/// An event type or an older alias (`crate::events`), as its canonical type.
pub fn alert_event(field: &str, s: &str) -> CoreResult<&'static str> {
    crate::events::canonical(s).ok_or_else(|| {
        let aliases: Vec<&str> = crate::events::ALIASES.iter().map(|(a, _)| *a).collect();
        CoreError::invalid(
            field,
            format!(
                "must be one of {} (or the older {})",
                crate::events::EVENT_TYPES.join(", "),
                aliases.join(", ")
            ),
        )
    })
}

/// An alert rule's events: `event` or `events` (one of the two), each an event type or an
/// older alias, at most [`MAX_RULE_EVENTS`]. Returns the name as first given and the
/// canonical types, without repeats.
pub fn alert_events(
    event: Option<&str>,
    events: Option<&[String]>,
) -> CoreResult<(String, Vec<String>)> {
    let (field, names): (&str, Vec<&str>) = match (event, events) {
        (Some(_), Some(_)) => {
            return Err(CoreError::invalid(
                "events",
                "give either event or events, not both",
            ))
        }
        (Some(e), None) => ("event", vec![e]),
        (None, Some(list)) => ("events", list.iter().map(String::as_str).collect()),
        (None, None) => {
            return Err(CoreError::invalid(
                "event",
                "is required (or events, a list of event types)",
            ))
        }
    };
    if names.is_empty() || names.len() > MAX_RULE_EVENTS {
        return Err(CoreError::invalid(
            field,
            format!("must name 1 to {MAX_RULE_EVENTS} event types"),
        ));
    }
    let mut canonical: Vec<String> = Vec::with_capacity(names.len());
    for name in &names {
        let kind = alert_event(field, name)?;
        if !canonical.iter().any(|k| k == kind) {
            canonical.push(kind.to_owned());
        }
    }
    Ok((names[0].to_owned(), canonical))
}

/// Most addresses one `mailto:` target lists.
pub const MAX_MAIL_RECIPIENTS: usize = 20;

/// An alert target, at most 2048 characters: an `https://` URL (or `http://` inside
/// `alerts.allow_networks`) without user-info or a literal address gantry refuses to send to
/// ([`crate::outbound`]), or `mailto:` with 1–20 comma-separated addresses.
pub fn alert_target(
    field: &str,
    s: &str,
    allow: &crate::outbound::AllowNetworks,
) -> CoreResult<String> {
    let s = s.trim();
    if s.len() > MAX_TARGET || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CoreError::invalid(
            field,
            format!("must be a URL or mailto: target of at most {MAX_TARGET} characters, without spaces"),
        ));
    }
    if let Some(list) = s.strip_prefix("mailto:") {
        let addresses: Vec<&str> = list.split(',').collect();
        if addresses.len() > MAX_MAIL_RECIPIENTS {
            return Err(CoreError::invalid(
                field,
                format!("mailto: lists at most {MAX_MAIL_RECIPIENTS} addresses"),
            ));
        }
        let mut clean = Vec::with_capacity(addresses.len());
        for a in addresses {
            clean.push(email(field, a).map_err(|_| {
                CoreError::invalid(field, "mailto: must list email addresses, comma-separated")
            })?);
        }
        return Ok(format!("mailto:{}", clean.join(",")));
    }
    crate::outbound::check_webhook_target(field, s, allow)?;
    Ok(s.to_owned())
}

/// A config document: a JSON object without duplicate keys (at any depth), at most 1 MiB.
/// Checked without building a value, so the text can be stored exactly as sent.
pub fn config_document(field: &str, text: &str) -> CoreResult<()> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(CoreError::TooLarge(format!(
            "{field}: must be at most {MAX_CONFIG_BYTES} bytes"
        )));
    }
    match serde_json::from_str::<JsonShape>(text) {
        Ok(JsonShape { is_object: true }) => Ok(()),
        Ok(_) => Err(CoreError::invalid(field, "must be a JSON object")),
        Err(e) if e.is_syntax() || e.is_eof() => Err(CoreError::Malformed(format!(
            "the body is not valid JSON: {e}"
        ))),
        Err(e) => Err(CoreError::invalid(field, e.to_string())),
    }
}

/// Walks any JSON value, refusing duplicate object keys; remembers whether the top is an object.
struct JsonShape {
    is_object: bool,
}

impl<'de> serde::Deserialize<'de> for JsonShape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> serde::de::Visitor<'de> for ShapeVisitor {
    type Value = JsonShape;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<JsonShape, E> {
        Ok(JsonShape { is_object: false })
    }
    fn visit_i64<E>(self, _: i64) -> Result<JsonShape, E> {
        Ok(JsonShape { is_object: false })
    }
    fn visit_u64<E>(self, _: u64) -> Result<JsonShape, E> {
        Ok(JsonShape { is_object: false })
    }
    fn visit_f64<E>(self, _: f64) -> Result<JsonShape, E> {
        Ok(JsonShape { is_object: false })
    }
    fn visit_str<E>(self, _: &str) -> Result<JsonShape, E> {
        Ok(JsonShape { is_object: false })
    }
    fn visit_unit<E>(self) -> Result<JsonShape, E> {
        Ok(JsonShape { is_object: false })
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonShape, A::Error> {
        while seq.next_element::<JsonShape>()?.is_some() {}
        Ok(JsonShape { is_object: false })
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonShape, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let shown: String = key.chars().take(64).collect();
                return Err(serde::de::Error::custom(format!("duplicate key `{shown}`")));
            }
            map.next_value::<JsonShape>()?;
        }
        Ok(JsonShape { is_object: true })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn config_documents_are_objects_without_duplicate_keys() {
        assert!(config_document(
            "config",
            r#"{"a": {"b": [1, {"c": 2}]}, "n": 123456789012345678901234567890}"#
        )
        .is_ok());
        assert!(config_document("config", "[1]").is_err());
        assert!(config_document("config", r#"{"a": 1, "a": 2}"#).is_err());
        assert!(config_document("config", r#"{"x": {"a": 1, "a": 2}}"#).is_err());
        assert!(matches!(
            config_document("config", "{"),
            Err(CoreError::Malformed(_))
        ));
    }

    use super::*;

    #[test]
    fn names_are_trimmed_and_limited() {
        assert_eq!(name("name", "  ci  ").unwrap(), "ci");
        assert!(name("name", "").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
        assert!(name("name", &"é".repeat(100)).is_ok());
        assert!(name("name", "a\u{7}b").is_err());
    }

    #[test]
    fn slugs_follow_dns_like_rules() {
        assert!(slug("slug", "my-app-1").is_ok());
        for bad in ["a", "-ab", "ab-", "Ab", "a_b", "a b", &"a".repeat(41)] {
            assert!(slug("slug", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_keys_are_shell_identifiers() {
        assert!(env_key("key", "DATABASE_URL").is_ok());
        assert!(env_key("key", "_X1").is_ok());
        for bad in ["", "1X", "A-B", "A B", "É"] {
            assert!(env_key("key", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            email("email", " Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in ["", "ann", "@x", "a@", "a@b@c", "a b@c"] {
            assert!(email("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_web_urls_are_kept_from_leak_reports() {
        let blob = "https://github.com/o/r/blob/abc/.env";
        assert_eq!(leak_url(Some(blob)), Some(blob));
        assert_eq!(leak_url(Some(" http://x.test/a ")), Some("http://x.test/a"));
        let long = format!("https://x.test/{}", "a".repeat(MAX_LEAK_URL));
        for dropped in [
            "javascript:alert(1)",
            "data:text/html,x",
            "https://user:pw@x.test/",
            "not a url",
            "",
            long.as_str(),
        ] {
            assert_eq!(leak_url(Some(dropped)), None, "{dropped}");
        }
        assert_eq!(leak_url(None), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Trust policies (DESIGN §8)

/// Most conditions one trust policy holds.
pub const MAX_CONDITIONS: usize = 32;
/// Longest condition value (exact or glob).
pub const MAX_CONDITION_VALUE: usize = 256;
/// Longest issuer or audience.
pub const MAX_ISSUER_LEN: usize = 500;
/// Issued tokens' lifetime when the policy names none, and the most it may name.
pub const DEFAULT_FEDERATED_LIFETIME: Duration = Duration::from_secs(15 * 60);
pub const MAX_FEDERATED_LIFETIME: Duration = Duration::from_secs(3600);
/// A token's or trust policy's `capabilities` as asked for: all when absent; otherwise 1–4 of
/// `read`, `deploy`, `env`, `config`.
pub fn capabilities(
    field: &str,
    names: Option<&[String]>,
) -> CoreResult<crate::policy::Capabilities> {
    let Some(names) = names else {
        return Ok(crate::policy::Capabilities::ALL);
    };
    if names.is_empty() {
        return Err(CoreError::invalid(
            field,
            "needs at least one of read, deploy, env, config (or leave it out for all)",
        ));
    }
    crate::policy::Capabilities::parse(names)
        .ok_or_else(|| CoreError::invalid(field, "must name read, deploy, env or config"))
}

/// Most credentials one leak report (`POST /v1/credentials/revoke`) carries, and most
/// matches one GitHub secret scanning report does.
pub const MAX_REPORTED_CREDENTIALS: usize = 1000;

/// Largest GitHub secret scanning report (`POST /v1/secret-scanning/github`) read.
pub const MAX_SCANNING_REPORT_BYTES: usize = 1024 * 1024;

/// Longest "found at" URL a leak report keeps on a token.
pub const MAX_LEAK_URL: usize = 2048;

/// The URL a leak report says a token was found at, if it is one worth keeping and showing:
/// `https://` or `http://`, without user-info, at most [`MAX_LEAK_URL`] bytes. Anything else
/// is dropped (the report still counts; a reporter's odd URL must not save a leaked token).
pub fn leak_url(url: Option<&str>) -> Option<&str> {
    let raw = url?.trim();
    if raw.len() > MAX_LEAK_URL {
        return None;
    }
    let parsed = url::Url::parse(raw).ok()?;
    let web = matches!(parsed.scheme(), "https" | "http");
    (web && parsed.username().is_empty() && parsed.password().is_none()).then_some(raw)
}

/// Most networks one `allowed_ips` list (a token's or an org policy's) names.
pub const MAX_ALLOWED_IPS: usize = 32;

/// An `allowed_ips` list as asked for: None when absent; otherwise 1–32 IPv4 or IPv6 CIDRs
/// (`203.0.113.0/24`, `2001:db8::/32`) or single addresses (taken as /32 or /128), without
/// host bits (`10.0.0.5/8` is refused, naming `10.0.0.0/8`: a typo must not widen a rule).
pub fn networks(
    field: &str,
    list: Option<&[String]>,
) -> CoreResult<Option<crate::policy::Networks>> {
    let Some(list) = list else {
        return Ok(None);
    };
    if list.is_empty() {
        return Err(CoreError::invalid(
            field,
            "needs at least one network (or leave it out to allow any address)",
        ));
    }
    if list.len() > MAX_ALLOWED_IPS {
        return Err(CoreError::invalid(
            field,
            format!("names at most {MAX_ALLOWED_IPS} networks"),
        ));
    }
    let mut nets = Vec::with_capacity(list.len());
    for entry in list {
        let text = entry.trim();
        let shown = crate::service::printable(text);
        let net = match text.parse::<ipnet::IpNet>() {
            Ok(net) => net,
            Err(_) => match text.parse::<std::net::IpAddr>() {
                Ok(ip) => ipnet::IpNet::from(ip.to_canonical()),
                Err(_) => {
                    return Err(CoreError::invalid(
                        field,
                        format!("'{shown}' is not an IPv4 or IPv6 network (e.g. 203.0.113.0/24)"),
                    ))
                }
            },
        };
        if net.trunc() != net {
            return Err(CoreError::invalid(
                field,
                format!("'{shown}' has host bits set; did you mean {}?", net.trunc()),
            ));
        }
        nets.push(net);
    }
    Ok(Some(crate::policy::Networks::new(nets)))
}

/// An org policy as asked for (`PUT /v1/orgs/{org}/policy`), checked against the instance's
/// `instance` policy: it may only tighten it, so a longer `max_lifetime` than the instance's is
/// refused (422, naming the field) rather than silently ignored. `require_expiry: false` says
/// the org adds no rule of its own (the instance's still holds), so a document read with GET
/// can always be sent back.
pub fn org_policy(
    instance: &crate::expiry::TokenPolicy,
    req: &gantry_api::PutOrgPolicyRequest,
) -> CoreResult<crate::model::OrgPolicy> {
    let max_lifetime = match req.max_lifetime.as_deref() {
        None => None,
        Some(s) => {
            let d = crate::expiry::parse_duration(s).ok_or_else(|| {
                CoreError::invalid(
                    "max_lifetime",
                    "must be a duration such as 30d, 720h or 1d12h (units w, d, h, m, s)",
                )
            })?;
            if d < Duration::from_secs(60) {
                return Err(CoreError::invalid(
                    "max_lifetime",
                    "must be at least one minute",
                ));
            }
            if let Some(max) = instance.max_lifetime.filter(|max| d > *max) {
                return Err(CoreError::invalid(
                    "max_lifetime",
                    format!(
                        "must not exceed the instance's maximum of {}: an org policy only tightens",
                        crate::expiry::format_duration(max)
                    ),
                ));
            }
            Some(d)
        }
    };
    Ok(crate::model::OrgPolicy {
        max_lifetime,
        require_expiry: req.require_expiry == Some(true),
        allowed_ips: networks("allowed_ips", req.allowed_ips.as_deref())?,
    })
}

/// A trust policy as asked for, checked.
#[derive(Debug, Clone)]
pub struct TrustPolicyInput {
    pub name: String,
    pub rules: crate::oidc::Rules,
    pub waived_immutable_ids: Option<String>,
    pub capabilities: crate::policy::Capabilities,
    pub token_lifetime: Duration,
}

/// Checks a trust policy: an issuer (`https://`, or listed in `insecure_issuers`), at least
/// one condition, each a claim name and a bounded value, and — under a preset — the preset's
/// immutable-id claims as exact values unless waived with a reason.
pub fn trust_policy(
    req: &gantry_api::CreateTrustPolicyRequest,
    default_audience: &str,
    insecure_issuers: &[String],
    allow: &crate::outbound::AllowNetworks,
) -> CoreResult<TrustPolicyInput> {
    use crate::oidc::{Preset, RESERVED_CLAIMS};
    let name = name("name", &req.name)?;
    let preset = match req.preset.as_deref() {
        None => None,
        Some(p) => Some(
            Preset::parse(p)
                .ok_or_else(|| CoreError::invalid("preset", "must be github or gitlab"))?,
        ),
    };
    let issuer = match (req.issuer.as_deref(), preset) {
        (Some(i), _) => i.trim().to_owned(),
        (None, Some(p)) => p.issuer().to_owned(),
        (None, None) => {
            return Err(CoreError::invalid(
                "issuer",
                "is required without a preset (the issuer's URL, as its tokens' iss says)",
            ))
        }
    };
    issuer_url("issuer", &issuer, insecure_issuers, allow)?;
    let audience = req
        .audience
        .as_deref()
        .map(str::trim)
        .unwrap_or(default_audience)
        .to_owned();
    if audience.is_empty() || audience.len() > MAX_ISSUER_LEN {
        return Err(CoreError::invalid(
            "audience",
            format!("must be 1–{MAX_ISSUER_LEN} characters"),
        ));
    }
    no_control_chars("audience", &audience)?;
    if req.conditions.is_empty() {
        return Err(CoreError::invalid(
            "conditions",
            "needs at least one condition besides iss and aud: a policy without one trusts every job of the issuer",
        ));
    }
    if req.conditions.len() > MAX_CONDITIONS {
        return Err(CoreError::invalid(
            "conditions",
            format!("at most {MAX_CONDITIONS}"),
        ));
    }
    for (claim, value) in &req.conditions {
        let field = format!("conditions.{}", crate::service::printable(claim));
        let well_formed = !claim.is_empty()
            && claim.len() <= 64
            && claim
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !well_formed {
            return Err(CoreError::invalid(
                &field,
                "a claim name is 1–64 letters, digits, '_', '-' or '.'",
            ));
        }
        if RESERVED_CLAIMS.contains(&claim.as_str()) {
            return Err(CoreError::invalid(
                &field,
                "iss, aud, exp, nbf, iat and jti are checked by the exchange itself, not by conditions",
            ));
        }
        if value.is_empty() || value.chars().count() > MAX_CONDITION_VALUE {
            return Err(CoreError::invalid(
                &field,
                format!("must be 1–{MAX_CONDITION_VALUE} characters"),
            ));
        }
        no_control_chars(&field, value)?;
        if value.chars().all(|c| c == '*') {
            return Err(CoreError::invalid(
                &field,
                "a condition that matches anything is no condition",
            ));
        }
    }
    let waived = match (req.require_immutable_ids, req.reason.as_deref()) {
        (Some(false), Some(r)) if !r.trim().is_empty() => Some(description("reason", Some(r))?.unwrap_or_default()),
        (Some(false), _) => {
            return Err(CoreError::invalid(
                "reason",
                "is required when require_immutable_ids is false (say why names are trusted instead of ids)",
            ))
        }
        _ => None,
    };
    if let (Some(p), None) = (preset, &waived) {
        for any_of in p.required() {
            let named = any_of.iter().find(|c| req.conditions.contains_key(**c));
            let Some(claim) = named else {
                return Err(CoreError::invalid(
                    "conditions",
                    format!(
                        "the {} preset requires {} as a condition (names can be reused after a rename; ids cannot)",
                        p.as_str(),
                        any_of.join(" or ")
                    ),
                ));
            };
            if claim.ends_with("_id") && req.conditions[*claim].contains('*') {
                return Err(CoreError::invalid(
                    &format!("conditions.{claim}"),
                    "an id must be matched exactly, not by a glob",
                ));
            }
        }
    }
    if req.allow_pull_request_target == Some(true) && preset != Some(Preset::Github) {
        return Err(CoreError::invalid(
            "allow_pull_request_target",
            "applies to the github preset only",
        ));
    }
    let capabilities = capabilities("capabilities", req.capabilities.as_deref())?;
    let token_lifetime = match req.token_lifetime.as_deref() {
        None => DEFAULT_FEDERATED_LIFETIME,
        Some(s) => crate::expiry::parse_duration(s)
            .filter(|d| !d.is_zero() && *d <= MAX_FEDERATED_LIFETIME)
            .ok_or_else(|| {
                CoreError::invalid(
                    "token_lifetime",
                    "must be a duration from 1s to 1h, such as 15m",
                )
            })?,
    };
    Ok(TrustPolicyInput {
        name,
        rules: crate::oidc::Rules {
            issuer,
            audience,
            conditions: req.conditions.clone(),
            preset,
            allow_pull_request_target: req.allow_pull_request_target == Some(true),
        },
        waived_immutable_ids: waived,
        capabilities,
        token_lifetime,
    })
}

/// An issuer URL: `https://` with a host and no user info, query or fragment, and not a literal
/// address the outbound rules refuse (DESIGN §7); `http://`, and any address, only when listed
/// in `oidc.allow_insecure_issuers`. (A name is checked when it is resolved, at each fetch.)
pub fn issuer_url(
    field: &str,
    issuer: &str,
    insecure_issuers: &[String],
    allow: &crate::outbound::AllowNetworks,
) -> CoreResult<()> {
    if issuer.len() > MAX_ISSUER_LEN {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {MAX_ISSUER_LEN} characters"),
        ));
    }
    let url = url::Url::parse(issuer)
        .map_err(|_| CoreError::invalid(field, "must be an https:// URL"))?;
    if url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(CoreError::invalid(
            field,
            "must be an https:// URL with a host and no user info, query or fragment",
        ));
    }
    if insecure_issuers.iter().any(|i| i == issuer) {
        return Ok(());
    }
    if url.scheme() != "https" {
        return Err(CoreError::invalid(
            field,
            "must be https:// (plain-http issuers only when listed in oidc.allow_insecure_issuers)",
        ));
    }
    if let Some(ip) = crate::outbound::literal_host(&url) {
        if let Some(why) = crate::outbound::refusal(ip, allow, false) {
            return Err(CoreError::invalid(field, format!("refused: {why}")));
        }
    }
    Ok(())
}
