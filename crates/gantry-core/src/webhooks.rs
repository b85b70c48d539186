//! Standard Webhooks v1 (DESIGN §7): the rule's secret, the signature of each try, the body,
//! and when a failed try is tried again.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::time::Duration;

/// How a secret starts.
pub const SECRET_PREFIX: &str = "whsec_";

/// How long the previous secret keeps signing after `rotate-secret`.
pub const PREVIOUS_SECRET_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// A rule's signing secret: `whsec_` and base64 of 24 random bytes. Shown once, in the answer
/// that made it; stored sealed. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    pub fn generate() -> WebhookSecret {
        let mut key = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut key);
        WebhookSecret(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
    }

    /// A secret read back (unsealed); None when it is not one.
    pub fn parse(s: &str) -> Option<WebhookSecret> {
        let key = STANDARD.decode(s.strip_prefix(SECRET_PREFIX)?).ok()?;
        (!key.is_empty()).then(|| WebhookSecret(s.to_owned()))
    }

    /// The secret as shown to its owner, once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key(&self) -> Vec<u8> {
        STANDARD
            .decode(self.0.strip_prefix(SECRET_PREFIX).unwrap_or_default())
            .unwrap_or_default()
    }

    /// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key()) else {
            return String::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret, space-separated (the current
/// secret first, then the previous one while it still signs).
pub fn signature_header(
    secrets: &[&WebhookSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The body of a delivery: `{"type", "timestamp", "data"}`.
pub fn body(event_type: &str, at: crate::time::Timestamp, data: &serde_json::Value) -> Vec<u8> {
    serde_json::json!({
        "type": event_type,
        "timestamp": at.to_rfc3339(),
        "data": data,
    })
    .to_string()
    .into_bytes()
}

/// After the n-th failed try (1-based), how long until the next; None: no more tries.
pub fn retry_after(tries: i64) -> Option<Duration> {
    const SCHEDULE: [u64; 9] = [
        5,
        5 * 60,
        30 * 60,
        2 * 3600,
        5 * 3600,
        10 * 3600,
        14 * 3600,
        20 * 3600,
        24 * 3600,
    ];
    let i = usize::try_from(tries).ok()?.checked_sub(1)?;
    SCHEDULE.get(i).map(|s| Duration::from_secs(*s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_standard_webhooks_reference_does() {
        // The example of the Standard Webhooks specification.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_fresh_prefixed_and_never_shown_by_debug() {
        let a = WebhookSecret::generate();
        let b = WebhookSecret::generate();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(SECRET_PREFIX));
        assert_eq!(STANDARD.decode(&a.expose()[6..]).unwrap().len(), 24);
        assert_eq!(WebhookSecret::parse(a.expose()), Some(a.clone()));
        assert!(!format!("{a:?}").contains(&a.expose()[6..]));
        assert_eq!(WebhookSecret::parse("whsec_"), None);
        assert_eq!(WebhookSecret::parse("gts_abc"), None);
    }

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        let mins: Vec<u64> = (1..=9).map(|n| retry_after(n).unwrap().as_secs()).collect();
        assert_eq!(
            mins,
            [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
        );
        assert_eq!(retry_after(10), None);
        assert_eq!(retry_after(0), None);
    }
}
