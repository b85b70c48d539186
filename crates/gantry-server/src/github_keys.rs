//! The keys that sign GitHub secret scanning reports (DESIGN §9), and the check of a report's
//! signature: ECDSA over NIST P-256 with SHA-256, of the raw body, DER-encoded and base64'd in
//! `Github-Public-Key-Signature`, by the key `Github-Public-Key-Identifier` names.
//!
//! The key list (`leaks.github_keys_url`, GitHub's `/meta/public_keys/secret_scanning`: `{
//! "public_keys": [{"key_identifier", "key": PEM, "is_current"}] }`) is fetched on the first
//! report, by the rules of [`crate::fetch`] (64 KiB at most), and used for an hour. A report
//! naming a key not in it refetches the list, at most once a minute whatever it names, so a
//! flood of made-up identifiers costs one fetch a minute. Every listed key is accepted,
//! `is_current` or not (GitHub signs with either while it rotates); a key GitHub no longer
//! lists stops being accepted at the next fetch. When a fetch fails, the list fetched before
//! keeps serving for at most a day.

use crate::fetch::{KeyFetcher, Reach};
use base64::Engine;
use gantry_core::outbound::AllowNetworks;
use gantry_core::time::{Clock, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most of the key list read.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// How long a fetched key list is used without asking again.
pub const KEYS_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches of the list.
pub const REFETCH_EVERY: Duration = Duration::from_secs(60);
/// How long a list keeps serving while fetches of a newer one fail.
pub const STALE_FOR: Duration = Duration::from_secs(24 * 3600);
/// Most keys taken from the list.
const MAX_KEYS: usize = 64;
/// Longest key identifier and signature header values looked at.
pub const MAX_HEADER: usize = 512;

/// The DER of a P-256 SubjectPublicKeyInfo up to its point: SEQUENCE { SEQUENCE {
/// id-ecPublicKey, prime256v1 }, BIT STRING (65 bytes, no unused bits) }. DER has one encoding,
/// so a P-256 key in SPKI form is exactly this prefix and a 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Why a report is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No identifier or signature header, or one that is not text.
    MissingHeaders,
    /// The key identifier is in no list GitHub publishes (after a refetch).
    UnknownKey,
    /// Not a signature of this body by that key.
    BadSignature,
    /// The key list could not be had (why, for the log).
    KeysUnavailable(String),
}

/// Key identifier → uncompressed P-256 point.
type Keys = Arc<HashMap<String, Vec<u8>>>;

struct Fetched {
    keys: Keys,
    /// When these keys were fetched.
    keys_at: Timestamp,
    /// The last fetch tried (failed or not).
    tried_at: Timestamp,
    /// Why that fetch failed, if it did.
    failed: Option<String>,
}

/// GitHub's secret scanning keys, fetched on demand and cached.
pub struct GithubKeys {
    url: String,
    fetcher: KeyFetcher,
    state: Mutex<Option<Fetched>>,
    /// Serialises fetches: concurrent reports wait for one fetch.
    fetching: tokio::sync::Mutex<()>,
    clock: Arc<dyn Clock>,
}

impl GithubKeys {
    pub fn new(
        url: String,
        allow: AllowNetworks,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<GithubKeys> {
        Ok(GithubKeys {
            url,
            fetcher: KeyFetcher::new(
                allow,
                concat!("gantry-secret-scanning/", env!("CARGO_PKG_VERSION")),
            )?,
            state: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            clock,
        })
    }

    /// Checks that `body` was signed by the key `key_id` names (`signature`: base64 of the
    /// DER-encoded ECDSA signature).
    pub async fn verify(&self, key_id: &str, signature: &str, body: &[u8]) -> Result<(), Refusal> {
        if key_id.is_empty()
            || signature.is_empty()
            || key_id.len() > MAX_HEADER
            || signature.len() > MAX_HEADER
        {
            return Err(Refusal::MissingHeaders);
        }
        let sig = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|_| Refusal::BadSignature)?;
        // What cannot be a DER ECDSA P-256 signature is refused without a key fetch.
        if !der_signature_shape(&sig) {
            return Err(Refusal::BadSignature);
        }
        let mut keys = self.keys(false).await?;
        if !keys.contains_key(key_id) {
            keys = self.keys(true).await?;
        }
        let point = keys.get(key_id).ok_or(Refusal::UnknownKey)?;
        verify_p256(point, body, &sig)
    }

    fn age(&self, since: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.clock.now().0 - since.0).unwrap_or(0))
    }

    /// The cached keys if they will do (`refresh`: a key was missing, so only a list fetched
    /// in the last minute will), else None: fetch.
    fn cached(&self, refresh: bool) -> Option<Result<Keys, Refusal>> {
        let state = self.state.lock().ok()?;
        let f = state.as_ref()?;
        let tried = self.age(f.tried_at);
        let keys_age = self.age(f.keys_at);
        if tried < REFETCH_EVERY && (refresh || f.failed.is_some()) {
            // Asked a moment ago: answer with what that fetch left.
            return Some(match &f.failed {
                Some(why) if keys_age >= STALE_FOR || f.keys.is_empty() => {
                    Err(Refusal::KeysUnavailable(why.clone()))
                }
                _ => Ok(f.keys.clone()),
            });
        }
        (!refresh && f.failed.is_none() && keys_age < KEYS_TTL).then(|| Ok(f.keys.clone()))
    }

    async fn keys(&self, refresh: bool) -> Result<Keys, Refusal> {
        if let Some(k) = self.cached(refresh) {
            return k;
        }
        let _one = self.fetching.lock().await;
        let tried_at = self.clock.now();
        // Another report may have fetched while this one waited.
        if let Some(k) = self.cached(refresh) {
            return k;
        }
        let fetched = self.fetch().await;
        let mut state = self
            .state
            .lock()
            .map_err(|_| Refusal::KeysUnavailable("key cache poisoned".into()))?;
        let next = match (fetched, state.take()) {
            (Ok(keys), _) => Fetched {
                keys: Arc::new(keys),
                keys_at: tried_at,
                tried_at,
                failed: None,
            },
            (Err(why), previous) => {
                tracing::warn!(url = %self.url, error = %why, "could not fetch GitHub's secret scanning keys");
                let (keys, keys_at) =
                    previous.map_or((Arc::default(), tried_at), |p| (p.keys, p.keys_at));
                Fetched {
                    keys,
                    keys_at,
                    tried_at,
                    failed: Some(why),
                }
            }
        };
        let usable =
            next.failed.is_none() || (!next.keys.is_empty() && self.age(next.keys_at) < STALE_FOR);
        let answer = if usable {
            Ok(next.keys.clone())
        } else {
            Err(Refusal::KeysUnavailable(
                next.failed.clone().unwrap_or_default(),
            ))
        };
        *state = Some(next);
        answer
    }

    async fn fetch(&self) -> Result<HashMap<String, Vec<u8>>, String> {
        let list: KeyList = self
            .fetcher
            .get_json(&self.url, MAX_DOCUMENT_BYTES, Reach::Checked)
            .await?;
        let keys = parse_keys(list);
        if keys.is_empty() {
            return Err("the list holds no P-256 key".into());
        }
        Ok(keys)
    }
}

#[derive(serde::Deserialize)]
struct KeyList {
    public_keys: Vec<ListedKey>,
}

#[derive(serde::Deserialize)]
struct ListedKey {
    key_identifier: String,
    key: String,
}

/// Identifier → point of every listed P-256 key (others skipped, with a warning).
fn parse_keys(list: KeyList) -> HashMap<String, Vec<u8>> {
    let mut keys = HashMap::new();
    for k in list.public_keys.into_iter().take(MAX_KEYS) {
        match p256_point(&k.key) {
            Some(point) if !k.key_identifier.is_empty() => {
                keys.insert(k.key_identifier, point);
            }
            _ => tracing::warn!(
                key_identifier = %k.key_identifier,
                "skipped a GitHub secret scanning key that is not a P-256 public key in PEM"
            ),
        }
    }
    keys
}

/// The uncompressed point of a P-256 public key in PEM (`-----BEGIN PUBLIC KEY-----`).
fn p256_point(pem_text: &str) -> Option<Vec<u8>> {
    let parsed = pem::parse(pem_text).ok()?;
    if parsed.tag() != "PUBLIC KEY" {
        return None;
    }
    let der = parsed.contents();
    let point = der.strip_prefix(&P256_SPKI_PREFIX[..])?;
    (point.len() == 65 && point[0] == 0x04).then(|| point.to_vec())
}

/// A DER SEQUENCE of two INTEGERs of at most 33 bytes each, by its outer shape: `30 len …`
/// with `len` the rest (8 to 72 bytes in all). ring checks the inside.
fn der_signature_shape(sig: &[u8]) -> bool {
    (8..=72).contains(&sig.len()) && sig[0] == 0x30 && usize::from(sig[1]) == sig.len() - 2
}

/// Checks a DER-encoded ECDSA P-256/SHA-256 signature of `body` by the key at `point`.
fn verify_p256(point: &[u8], body: &[u8], sig: &[u8]) -> Result<(), Refusal> {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(body, sig)
        .map_err(|_| Refusal::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    // GitHub's own example (its partner program documentation): this payload, signed with
    // the key published under identifier 90a42116…, gives this signature.
    const GITHUB_KEY: &str = "-----BEGIN PUBLIC KEY-----\n\
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9MJJHnMfn2+H4xL4YaPDA4RpJqUq\n\
        kCmRCBnYERxZanmcpzQSXs1X/AljlKkbJ8qpVIW4clayyef9gWhFbNHWAA==\n\
        -----END PUBLIC KEY-----\n";
    const GITHUB_PAYLOAD: &[u8] =
        br#"[{"token":"some_token","type":"some_type","url":"some_url"}]"#;
    const GITHUB_SIGNATURE: &str =
        "MEUCIQDKZokqnCjrRtw0tni+2Ltvl/uiMJ1EGumEsp1BsNr32AIgQY1YXD2nlj+XNfGK4rBfkMJ1JDOQcYXxa2sY8FNkrKc=";

    fn decode(b64: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    }

    #[test]
    fn githubs_published_example_verifies_and_a_changed_byte_does_not() {
        let point = p256_point(GITHUB_KEY).expect("a P-256 SPKI key");
        let sig = decode(GITHUB_SIGNATURE);
        assert_eq!(verify_p256(&point, GITHUB_PAYLOAD, &sig), Ok(()));
        let mut changed = GITHUB_PAYLOAD.to_vec();
        changed[12] ^= 1;
        assert_eq!(
            verify_p256(&point, &changed, &sig),
            Err(Refusal::BadSignature)
        );
        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            verify_p256(&point, GITHUB_PAYLOAD, &bad),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn only_what_has_a_der_signatures_shape_is_worth_a_key_fetch() {
        assert!(der_signature_shape(&decode(GITHUB_SIGNATURE)));
        for bad in ["", "AAAA", "MA==", "MEUCIQDK"] {
            assert!(!der_signature_shape(&decode(bad)), "{bad}");
        }
        assert!(!der_signature_shape(&[0x30; 80]));
    }

    #[test]
    fn only_p256_public_keys_in_pem_are_taken() {
        assert!(p256_point("not pem").is_none());
        // The same bytes under another PEM label.
        let relabelled = GITHUB_KEY.replace("PUBLIC KEY", "PRIVATE KEY");
        assert!(p256_point(&relabelled).is_none());
        // A truncated key.
        let der = pem::parse(GITHUB_KEY).unwrap().contents().to_vec();
        let short = pem::encode(&pem::Pem::new("PUBLIC KEY", der[..der.len() - 1].to_vec()));
        assert!(p256_point(&short).is_none());
        // An Ed25519 SPKI key (another algorithm).
        let ed = "-----BEGIN PUBLIC KEY-----\n\
                  MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
                  -----END PUBLIC KEY-----\n";
        assert!(p256_point(ed).is_none());
        let list: KeyList = serde_json::from_value(serde_json::json!({"public_keys": [
            {"key_identifier": "good", "key": GITHUB_KEY, "is_current": true},
            {"key_identifier": "ed", "key": ed, "is_current": false},
            {"key_identifier": "", "key": GITHUB_KEY, "is_current": false},
        ]}))
        .unwrap();
        let keys = parse_keys(list);
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["good"]);
    }
}
