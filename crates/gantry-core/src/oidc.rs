//! Keyless CI (DESIGN §8): what a trust policy asks of an OIDC ID token, and the strict check
//! of one. Pure logic — the keys come from the caller (the server fetches and caches them) —
//! so every rule here is unit-tested and fuzzed without a network.
//!
//! The check, in order: the JWT's size and shape; its header's algorithm (RS256 or ES256
//! only: never `none`, never HMAC, whatever the key); its signature, by the issuer key the
//! header names; then the claims — `iss` and `aud` exact, `exp`/`nbf`/`iat` with
//! [`LEEWAY`], a lifetime of at most [`MAX_JWT_LIFETIME`], `jti` present — and last the
//! policy's conditions, claim by claim. Every refusal says which rule failed, for the audit
//! log; the exchange answers all of them alike.

use crate::time::Timestamp;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const LEEWAY: Duration = Duration::from_secs(60);
/// The longest an accepted ID token may live (`exp - iat`).
pub const MAX_JWT_LIFETIME: Duration = Duration::from_secs(3600);
/// The largest JWT looked at, in bytes (GitHub's are about 1.5 KiB).
pub const MAX_JWT_BYTES: usize = 16 * 1024;

/// GitHub Actions' issuer.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// GitLab.com's issuer.
pub const GITLAB_ISSUER: &str = "https://gitlab.com";

/// Claims that a policy's issuer and audience (and the exchange itself) decide: never
/// conditions.
pub const RESERVED_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti"];

/// Claims copied from an accepted token into the issued token's record and the audit log:
/// what says which run it was.
pub const RUN_CLAIMS: &[&str] = &[
    "repository",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "project_path",
    "project_id",
    "namespace_path",
    "namespace_id",
    "ref",
    "ref_type",
    "ref_protected",
    "environment",
    "event_name",
    "pipeline_source",
    "workflow_ref",
    "job_workflow_ref",
    "run_id",
    "run_attempt",
    "pipeline_id",
    "job_id",
    "actor",
    "user_login",
    "runner_environment",
    "sha",
];

/// A CI system whose immutable-id claims a policy must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Github,
    Gitlab,
}

impl Preset {
    pub fn parse(s: &str) -> Option<Preset> {
        match s {
            "github" => Some(Preset::Github),
            "gitlab" => Some(Preset::Gitlab),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Github => "github",
            Preset::Gitlab => "gitlab",
        }
    }

    /// The issuer the preset selects unless the policy names another (GitHub Enterprise
    /// Server, a self-managed GitLab).
    pub fn issuer(self) -> &'static str {
        match self {
            Preset::Github => GITHUB_ISSUER,
            Preset::Gitlab => GITLAB_ISSUER,
        }
    }

    /// Claims the preset requires as exact conditions: ids that a renamed or re-created
    /// repository, owner, project or group does not inherit. Each inner list is satisfied by
    /// any one of its claims.
    pub fn required(self) -> &'static [&'static [&'static str]] {
        match self {
            Preset::Github => &[
                &["repository_id"],
                &["repository_owner_id"],
                &["ref", "environment"],
            ],
            Preset::Gitlab => &[
                &["project_id"],
                &["namespace_id"],
                &["ref"],
                &["ref_protected"],
            ],
        }
    }
}

/// What a trust policy asks of an ID token (the stored policy's rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub issuer: String,
    /// `aud` must contain exactly this.
    pub audience: String,
    /// Claim → exact value, or a glob where `*` stands for any run of characters.
    pub conditions: BTreeMap<String, String>,
    pub preset: Option<Preset>,
    /// GitHub: refuse `event_name: pull_request_target` (unless this is true).
    pub allow_pull_request_target: bool,
}

/// Why an ID token was refused: for the operator (audit log, the `test` answer), never for
/// the caller of the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a JWT at all, or larger than [`MAX_JWT_BYTES`].
    Malformed(String),
    /// An algorithm other than RS256 and ES256.
    Algorithm(String),
    /// The issuer's discovery document or key set could not be had (unreachable, refused by
    /// the outbound rules, too large, malformed).
    IssuerKeys(String),
    /// No key of the issuer has the header's `kid` (or none fits the algorithm).
    UnknownKey(Option<String>),
    /// The signature does not verify.
    Signature,
    /// A claim is missing, malformed or out of bounds.
    Claim { claim: String, why: String },
    /// A policy condition is not met.
    Condition { claim: String, why: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Malformed(why) => write!(f, "malformed token: {why}"),
            Refusal::Algorithm(alg) => write!(f, "algorithm {alg} is not accepted (RS256, ES256)"),
            Refusal::IssuerKeys(why) => write!(f, "the issuer's keys: {why}"),
            Refusal::UnknownKey(Some(kid)) => write!(f, "the issuer has no key '{kid}'"),
            Refusal::UnknownKey(None) => write!(f, "the token names no key (kid)"),
            Refusal::Signature => f.write_str("the signature does not verify"),
            Refusal::Claim { claim, why } | Refusal::Condition { claim, why } => {
                write!(f, "{claim}: {why}")
            }
        }
    }
}

impl Refusal {
    /// A short stable word for the audit log and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::Algorithm(_) => "algorithm",
            Refusal::IssuerKeys(_) => "issuer_keys",
            Refusal::UnknownKey(_) => "unknown_key",
            Refusal::Signature => "signature",
            Refusal::Claim { .. } => "claims",
            Refusal::Condition { .. } => "conditions",
        }
    }
}

fn claim_refusal(claim: &str, why: impl Into<String>) -> Refusal {
    Refusal::Claim {
        claim: claim.to_owned(),
        why: why.into(),
    }
}

/// What the unverified header and payload say: enough to pick the policies (by `iss`) and
/// the key (by `kid`) before anything is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    pub algorithm: Algorithm,
    pub kid: Option<String>,
    pub issuer: String,
}

/// Reads a JWT's header and `iss` without trusting either. Refuses anything that is not a
/// compact JWS of an accepted algorithm.
pub fn peek(jwt: &str) -> Result<Unverified, Refusal> {
    if jwt.len() > MAX_JWT_BYTES {
        return Err(Refusal::Malformed(format!(
            "longer than {MAX_JWT_BYTES} bytes"
        )));
    }
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(Refusal::Malformed("not three dot-separated parts".into()));
    }
    let header = decode_part(parts[0], "header")?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| Refusal::Malformed("the header has no alg".into()))?;
    let algorithm = match alg {
        "RS256" => Algorithm::RS256,
        "ES256" => Algorithm::ES256,
        other => return Err(Refusal::Algorithm(printable(other))),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(Refusal::Malformed("kid is not a string".into())),
    };
    let payload = decode_part(parts[1], "payload")?;
    let issuer = payload
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| claim_refusal("iss", "missing"))?
        .to_owned();
    Ok(Unverified {
        algorithm,
        kid,
        issuer,
    })
}

fn decode_part(part: &str, what: &str) -> Result<Map<String, Value>, Refusal> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Refusal::Malformed(format!("the {what} is not base64url")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Refusal::Malformed(format!(
            "the {what} is not a JSON object"
        ))),
    }
}

/// The key in `keys` that `peeked` names and that fits its algorithm.
pub fn find_key<'a>(keys: &'a JwkSet, peeked: &Unverified) -> Option<&'a Jwk> {
    keys.keys.iter().find(|k| {
        let fits = match (&k.algorithm, peeked.algorithm) {
            (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
            (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
                ec.curve == jsonwebtoken::jwk::EllipticCurve::P256
            }
            _ => false,
        };
        // A key marked for another algorithm is not used for this one.
        let declared = match k.common.key_algorithm {
            None => true,
            Some(KeyAlgorithm::RS256) => peeked.algorithm == Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => peeked.algorithm == Algorithm::ES256,
            Some(_) => false,
        };
        fits && declared && k.common.key_id == peeked.kid
    })
}

/// Verifies the signature of `jwt` with `key` and returns its claims (nothing about them is
/// checked yet: [`check_claims`] does).
pub fn verify_signature(
    jwt: &str,
    peeked: &Unverified,
    key: &Jwk,
) -> Result<Map<String, Value>, Refusal> {
    let decoding =
        DecodingKey::from_jwk(key).map_err(|_| Refusal::UnknownKey(peeked.kid.clone()))?;
    let mut validation = Validation::new(peeked.algorithm);
    validation.algorithms = vec![peeked.algorithm];
    // The claims are checked by `check_claims`, each with its own reason.
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    match jsonwebtoken::decode::<Map<String, Value>>(jwt, &decoding, &validation) {
        Ok(data) => Ok(data.claims),
        Err(e) => match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Err(Refusal::Signature),
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                Err(Refusal::Algorithm("mismatch".into()))
            }
            _ => Err(Refusal::Malformed("the token does not decode".into())),
        },
    }
}

/// An accepted token's identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub issuer: String,
    pub subject: String,
    pub jti: String,
    pub expires_at: Timestamp,
    /// [`RUN_CLAIMS`] present in the token, as text.
    pub run: BTreeMap<String, String>,
}

/// Checks the registered claims of a verified token against `rules` at `now`.
pub fn check_claims(
    claims: &Map<String, Value>,
    rules: &Rules,
    now: Timestamp,
) -> Result<Accepted, Refusal> {
    let issuer = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if issuer != rules.issuer {
        return Err(claim_refusal(
            "iss",
            format!(
                "is '{}', the policy trusts '{}'",
                printable(issuer),
                rules.issuer
            ),
        ));
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => *a == rules.audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(&rules.audience)),
        _ => return Err(claim_refusal("aud", "missing")),
    };
    if !audience_ok {
        return Err(claim_refusal(
            "aud",
            format!("does not contain '{}'", rules.audience),
        ));
    }
    let leeway = LEEWAY.as_secs() as i64;
    let now_s = now.0.div_euclid(1000);
    let seconds = |name: &str, required: bool| -> Result<Option<i64>, Refusal> {
        match claims.get(name) {
            None if required => Err(claim_refusal(name, "missing")),
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| claim_refusal(name, "is not a number of seconds")),
        }
    };
    let exp = seconds("exp", true)?.unwrap_or_default();
    let iat = seconds("iat", true)?.unwrap_or_default();
    let nbf = seconds("nbf", false)?;
    if exp.saturating_add(leeway) <= now_s {
        return Err(claim_refusal("exp", "the token has expired"));
    }
    if let Some(nbf) = nbf {
        if nbf.saturating_sub(leeway) > now_s {
            return Err(claim_refusal("nbf", "the token is not valid yet"));
        }
    }
    if iat.saturating_sub(leeway) > now_s {
        return Err(claim_refusal("iat", "issued in the future"));
    }
    if exp.saturating_sub(iat) > MAX_JWT_LIFETIME.as_secs() as i64 {
        return Err(claim_refusal(
            "exp",
            format!(
                "the token lives {} s; at most {} s are accepted",
                exp.saturating_sub(iat),
                MAX_JWT_LIFETIME.as_secs()
            ),
        ));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| claim_refusal("jti", "missing"))?;
    let subject = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    let run = RUN_CLAIMS
        .iter()
        .filter_map(|c| Some(((*c).to_owned(), claim_text(claims.get(*c)?)?)))
        .collect();
    Ok(Accepted {
        issuer: issuer.to_owned(),
        subject: printable(subject),
        jti: jti.to_owned(),
        expires_at: Timestamp(exp.saturating_add(leeway).saturating_mul(1000)),
        run,
    })
}

/// One line of a policy's verdict on a token: a condition or a rule of the preset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionCheck {
    pub claim: String,
    /// What the policy asks (`"exact"`, `"glob*"`, or a preset's rule in words).
    pub expected: String,
    /// What the token says (None: the claim is missing or not text).
    pub actual: Option<String>,
    pub ok: bool,
}

/// Every condition of `rules` against `claims`, claim by claim (the `test` answer), and the
/// preset's refusals (`pull_request_target`).
pub fn check_conditions(claims: &Map<String, Value>, rules: &Rules) -> Vec<ConditionCheck> {
    let mut checks: Vec<ConditionCheck> = rules
        .conditions
        .iter()
        .map(|(claim, expected)| {
            let actual = claims.get(claim).and_then(claim_text);
            let ok = actual.as_deref().is_some_and(|a| matches(expected, a));
            ConditionCheck {
                claim: claim.clone(),
                expected: expected.clone(),
                actual: actual.map(|a| printable(&a)),
                ok,
            }
        })
        .collect();
    if rules.preset == Some(Preset::Github) && !rules.allow_pull_request_target {
        let actual = claims.get("event_name").and_then(claim_text);
        checks.push(ConditionCheck {
            claim: "event_name".into(),
            expected: "not pull_request_target (allow_pull_request_target is false)".into(),
            ok: actual.as_deref() != Some("pull_request_target"),
            actual: actual.map(|a| printable(&a)),
        });
    }
    checks
}

/// The first failed check as a refusal.
pub fn first_failure(checks: &[ConditionCheck]) -> Option<Refusal> {
    checks.iter().find(|c| !c.ok).map(|c| Refusal::Condition {
        claim: c.claim.clone(),
        why: match &c.actual {
            None => format!("missing; the policy asks for '{}'", c.expected),
            Some(a) => format!("is '{a}'; the policy asks for '{}'", c.expected),
        },
    })
}

/// A claim's value as text: strings as they are, numbers and booleans written out (GitLab
/// sends `ref_protected` as `"true"`, some issuers as `true`); arrays and objects are not
/// matched.
pub fn claim_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether `value` matches `pattern`: exact, or a glob where each `*` stands for any run of
/// characters (possibly empty). No other character is special.
pub fn matches(pattern: &str, value: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == value;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if value.len() < first.len() + last.len() || !value.starts_with(first) || !value.ends_with(last)
    {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The payload of a JWT, unverified (to show what a token claims after its signature failed).
pub fn unverified_claims(jwt: &str) -> Option<Map<String, Value>> {
    decode_part(jwt.split('.').nth(1)?, "payload").ok()
}

/// Text from a token, safe to show and log: control characters replaced, at most 200
/// characters.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn rules() -> Rules {
        Rules {
            issuer: "https://issuer.example".into(),
            audience: "https://gantry.example".into(),
            conditions: [("repository_id".to_owned(), "42".to_owned())].into(),
            preset: Some(Preset::Github),
            allow_pull_request_target: false,
        }
    }

    fn claims(extra: Value) -> Map<String, Value> {
        let mut base = serde_json::json!({
            "iss": "https://issuer.example", "aud": "https://gantry.example",
            "iat": 1_000, "exp": 1_300, "jti": "j1", "sub": "repo:o/r:ref:refs/heads/main",
            "repository_id": "42", "event_name": "push"
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            base[k] = v.clone();
        }
        base.as_object().cloned().unwrap_or_default()
    }

    const NOW: Timestamp = Timestamp(1_100_000);

    #[test]
    fn globs_match_runs_of_characters_and_nothing_else() {
        assert!(matches("refs/heads/*", "refs/heads/main"));
        assert!(matches("refs/heads/*", "refs/heads/"));
        assert!(!matches("refs/heads/*", "refs/tags/v1"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXcYYb"));
        assert!(matches("*", ""));
        assert!(!matches("main", "main2"));
        assert!(!matches("a?c", "abc"));
        assert!(!matches("ab*ba", "aba"));
    }

    #[test]
    fn the_registered_claims_are_checked_with_leeway() {
        let r = rules();
        assert!(check_claims(&claims(serde_json::json!({})), &r, NOW).is_ok());
        let refused = |extra: Value| check_claims(&claims(extra), &r, NOW).err();
        let claim = |e: Option<Refusal>| match e {
            Some(Refusal::Claim { claim, .. }) => claim,
            other => format!("{other:?}"),
        };
        assert_eq!(
            claim(refused(serde_json::json!({"iss": "https://other"}))),
            "iss"
        );
        assert_eq!(claim(refused(serde_json::json!({"aud": "x"}))), "aud");
        assert!(refused(serde_json::json!({"aud": ["x", "https://gantry.example"]})).is_none());
        // Expired beyond the leeway; within it still good.
        assert_eq!(claim(refused(serde_json::json!({"exp": 1_039}))), "exp");
        assert!(refused(serde_json::json!({"exp": 1_041, "iat": 1_000})).is_none());
        assert_eq!(claim(refused(serde_json::json!({"nbf": 1_161}))), "nbf");
        assert!(refused(serde_json::json!({"nbf": 1_159})).is_none());
        assert_eq!(
            claim(refused(serde_json::json!({"iat": 1_161, "exp": 1_200}))),
            "iat"
        );
        // Lives longer than an hour.
        assert_eq!(
            claim(refused(serde_json::json!({"iat": 1_000, "exp": 4_601}))),
            "exp"
        );
        let mut no_jti = claims(serde_json::json!({}));
        no_jti.remove("jti");
        assert_eq!(claim(check_claims(&no_jti, &r, NOW).err()), "jti");
    }

    #[test]
    fn conditions_and_pull_request_target_are_checked_claim_by_claim() {
        let r = rules();
        assert!(first_failure(&check_conditions(&claims(serde_json::json!({})), &r)).is_none());
        let c = check_conditions(&claims(serde_json::json!({"repository_id": 43})), &r);
        assert_eq!(c[0].actual.as_deref(), Some("43"));
        assert!(!c[0].ok);
        let c = check_conditions(
            &claims(serde_json::json!({"event_name": "pull_request_target"})),
            &r,
        );
        assert!(
            matches!(first_failure(&c), Some(Refusal::Condition { claim, .. }) if claim == "event_name")
        );
        let allowed = Rules {
            allow_pull_request_target: true,
            ..r
        };
        let c = check_conditions(
            &claims(serde_json::json!({"event_name": "pull_request_target"})),
            &allowed,
        );
        assert!(first_failure(&c).is_none());
    }

    #[test]
    fn only_rs256_and_es256_headers_are_looked_at() {
        let payload = b64(&serde_json::json!({"iss": "https://issuer.example"}));
        for alg in ["none", "HS256", "RS512", "PS256", "EdDSA"] {
            let jwt = format!("{}.{payload}.", b64(&serde_json::json!({"alg": alg})));
            assert!(matches!(peek(&jwt), Err(Refusal::Algorithm(_))), "{alg}");
        }
        let jwt = format!(
            "{}.{payload}.sig",
            b64(&serde_json::json!({"alg": "ES256", "kid": "k1"}))
        );
        let p = peek(&jwt).ok();
        assert_eq!(
            p.map(|p| (p.kid, p.issuer)),
            Some((Some("k1".into()), "https://issuer.example".into()))
        );
        assert!(matches!(peek("a.b"), Err(Refusal::Malformed(_))));
        assert!(matches!(
            peek(&"a".repeat(MAX_JWT_BYTES + 1)),
            Err(Refusal::Malformed(_))
        ));
    }
}
