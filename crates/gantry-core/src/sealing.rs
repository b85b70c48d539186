//! Encryption at rest of env values marked secret. They are write-only through the API, so
//! nothing in gantry reads them back; sealing keeps them out of database dumps, backups and
//! exports for anyone without the key.
//!
//! XChaCha20-Poly1305 with a random 192-bit nonce per value; the app and the key name are the
//! associated data, so a sealed value cannot be moved to another variable unnoticed. Stored as
//! `sealed:v1:<key id>:<base64url(nonce ‖ ciphertext)>`, where the key id is the first 8 hex
//! digits of the key's SHA-256, so several keys can be open at once during a rotation.

use crate::error::{CoreError, CoreResult};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "sealed:v1:";

/// A 256-bit key. Its `Debug` shows the key id only.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> SecretKey {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        SecretKey(k)
    }

    /// Parses 64 hex digits (what [`SecretKey::to_hex`] writes and `GANTRY_SECRET_KEY` holds).
    pub fn parse(s: &str) -> Option<SecretKey> {
        let bytes = hex::decode(s.trim()).ok()?;
        Some(SecretKey(bytes.try_into().ok()?))
    }

    /// 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The public name of the key, stored beside each value it sealed.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0)[..4])
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.id())
    }
}

/// Seals with the current key; opens with it or any previous one.
#[derive(Debug, Clone)]
pub struct Sealer {
    current: SecretKey,
    previous: Vec<SecretKey>,
}

fn aad(app_id: &str, key: &str) -> Vec<u8> {
    format!("gantry env {app_id} {key}").into_bytes()
}

impl Sealer {
    /// `current` seals; `previous` keys only open (during a rotation).
    pub fn new(current: SecretKey, previous: Vec<SecretKey>) -> Sealer {
        Sealer { current, previous }
    }

    /// The id of the key new values are sealed with.
    pub fn current_id(&self) -> String {
        self.current.id()
    }

    /// Whether `stored` is a sealed value.
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// Whether `stored` was sealed with the current key.
    pub fn sealed_with_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.current.id())
    }

    /// Seals the value of env var `key` of app `app_id`.
    pub fn seal(&self, app_id: &str, key: &str, value: &str) -> CoreResult<String> {
        let cipher = XChaCha20Poly1305::new((&self.current.0).into());
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = aad(app_id, key);
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| CoreError::internal("sealing a secret failed"))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        Ok(format!(
            "{PREFIX}{}:{}",
            self.current.id(),
            URL_SAFE_NO_PAD.encode(blob)
        ))
    }

    /// Opens a sealed value of env var `key` of app `app_id`.
    pub fn open(&self, app_id: &str, key: &str, stored: &str) -> CoreResult<String> {
        let bad = |why: &str| CoreError::internal(format!("secret {key} of {app_id}: {why}"));
        let rest = stored
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("not sealed"))?;
        let (id, b64) = rest.split_once(':').ok_or_else(|| bad("malformed"))?;
        let k = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id() == id)
            .ok_or_else(|| bad(&format!("sealed with key {id}, which is not configured")))?;
        let blob = URL_SAFE_NO_PAD.decode(b64).map_err(|_| bad("malformed"))?;
        if blob.len() < 24 {
            return Err(bad("malformed"));
        }
        let (nonce, ct) = blob.split_at(24);
        let aad = aad(app_id, key);
        let plain = XChaCha20Poly1305::new((&k.0).into())
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| bad("does not open with its key (damaged or moved)"))?;
        String::from_utf8(plain).map_err(|_| bad("not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_their_place() {
        let s = Sealer::new(SecretKey::generate(), vec![]);
        let sealed = s
            .seal("app_1", "DATABASE_URL", "postgres://u:pw@db")
            .unwrap();
        assert!(Sealer::is_sealed(&sealed));
        assert!(!sealed.contains("pw@db"));
        assert_eq!(
            s.open("app_1", "DATABASE_URL", &sealed).unwrap(),
            "postgres://u:pw@db"
        );
        assert!(
            s.open("app_2", "DATABASE_URL", &sealed).is_err(),
            "moved to another app"
        );
        assert!(
            s.open("app_1", "OTHER", &sealed).is_err(),
            "moved to another key"
        );
        let other = Sealer::new(SecretKey::generate(), vec![]);
        assert!(other.open("app_1", "DATABASE_URL", &sealed).is_err());
        assert_ne!(
            sealed,
            s.seal("app_1", "DATABASE_URL", "postgres://u:pw@db")
                .unwrap()
        );
    }

    #[test]
    fn a_rotation_opens_old_values_and_seals_new_ones_with_the_new_key() {
        let old = SecretKey::generate();
        let sealed = Sealer::new(old.clone(), vec![])
            .seal("a", "K", "v")
            .unwrap();
        let rotated = Sealer::new(SecretKey::generate(), vec![old]);
        assert!(!rotated.sealed_with_current(&sealed));
        assert_eq!(rotated.open("a", "K", &sealed).unwrap(), "v");
        let resealed = rotated.seal("a", "K", "v").unwrap();
        assert!(rotated.sealed_with_current(&resealed));
    }

    #[test]
    fn keys_parse_from_hex_and_never_print() {
        let k = SecretKey::generate();
        let parsed = SecretKey::parse(&k.to_hex()).unwrap();
        assert_eq!(parsed.id(), k.id());
        assert!(!format!("{k:?}").contains(&k.to_hex()));
        assert!(SecretKey::parse("abc").is_none());
    }
}
