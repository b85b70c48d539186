//! The token format of DESIGN §2 and the secret-carrying types.
//!
//! `<prefix><30 base62 random><6 base62 CRC-32 of the 30>`, 40 characters in all.
//!
//! !!! THE KIND PREFIXES (`gtp_`, `gto_`, `gtd_`), THE ALPHABET AND THE CHECKSUM NEVER CHANGE. !!!
//! Scanners, CI secret detectors and every token already issued depend on them.

use gantry_api::TokenKind;
use rand::rngs::OsRng;
use rand::Rng;
use sha2::{Digest, Sha256};
use std::fmt;

/// Base62 alphabet, `0-9A-Za-z` in that order.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters after the kind prefix.
pub const RANDOM_LEN: usize = 30;
/// Checksum characters at the end.
pub const CHECKSUM_LEN: usize = 6;
/// Kind prefix length (`gtd_`).
pub const KIND_PREFIX_LEN: usize = 4;
/// Whole token length.
pub const TOKEN_LEN: usize = KIND_PREFIX_LEN + RANDOM_LEN + CHECKSUM_LEN;
/// How many leading characters form the public, displayable prefix.
pub const DISPLAY_PREFIX_LEN: usize = 12;

/// The kind prefix of each token kind. Never change these.
pub fn kind_prefix(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Personal => "gtp_",
        TokenKind::Org => "gto_",
        TokenKind::Deploy => "gtd_",
    }
}

fn kind_of_prefix(prefix: &str) -> Option<TokenKind> {
    match prefix {
        "gtp_" => Some(TokenKind::Personal),
        "gto_" => Some(TokenKind::Org),
        "gtd_" => Some(TokenKind::Deploy),
        _ => None,
    }
}

/// CRC-32 (IEEE) of `random`, as 6 base62 digits, left-padded with `0`.
pub fn checksum(random: &str) -> String {
    checksum_digits(random).iter().map(|&b| b as char).collect()
}

/// [`checksum`] without the allocation, for verifying.
fn checksum_digits(random: &str) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(random.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    // 62^6 > 2^32, so the number always fits.
    out
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Why a presented string is not a well-formed gantry token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// Not 40 characters.
    Length,
    /// Not `gtp_`, `gto_` or `gtd_`.
    UnknownKind,
    /// A character outside base62.
    Alphabet,
    /// The checksum does not match the random part.
    Checksum,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FormatError::Length => "a gantry token is 40 characters long",
            FormatError::UnknownKind => "a gantry token starts with gtp_, gto_ or gtd_",
            FormatError::Alphabet => {
                "a gantry token contains only letters and digits after its kind"
            }
            FormatError::Checksum => "the token's checksum does not match (mistyped or truncated?)",
        })
    }
}

/// A raw token. The only type that ever holds one; its `Debug` and `Display` print the public
/// prefix and nothing more, so a stray `{:?}` cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken {
    value: String,
    kind: TokenKind,
}

impl PlainToken {
    /// A fresh token of `kind` from the operating system's CSPRNG.
    pub fn generate(kind: TokenKind) -> PlainToken {
        let mut rng = OsRng;
        let random: String = (0..RANDOM_LEN)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect();
        PlainToken::from_random(kind, &random)
    }

    fn from_random(kind: TokenKind, random: &str) -> PlainToken {
        let mut value = String::with_capacity(TOKEN_LEN);
        value.push_str(kind_prefix(kind));
        value.push_str(random);
        value.extend(checksum_digits(random).map(char::from));
        PlainToken { value, kind }
    }

    /// Checks the format and checksum of a presented string (no lookup).
    pub fn parse(s: &str) -> Result<PlainToken, FormatError> {
        let presented = PresentedToken::parse(s)?;
        Ok(PlainToken {
            value: s.to_owned(),
            kind: presented.kind,
        })
    }

    /// The token's kind, read from its prefix.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The public prefix (first 12 characters) shown in lists.
    pub fn display_prefix(&self) -> &str {
        &self.value[..DISPLAY_PREFIX_LEN]
    }

    /// SHA-256 of the whole token: all the store ever sees.
    pub fn hash(&self) -> TokenHash {
        hash_of(&self.value)
    }

    /// The raw value, for the one response that hands it out.
    pub fn expose_secret(&self) -> &str {
        &self.value
    }
}

fn hash_of(value: &str) -> TokenHash {
    TokenHash(Sha256::digest(value.as_bytes()).into())
}

/// A token as presented in a request, its format and checksum checked: what verification
/// needs (hash, public prefix), borrowed from the request instead of copying the secret.
#[derive(Clone, Copy)]
pub struct PresentedToken<'a> {
    value: &'a str,
    kind: TokenKind,
}

impl<'a> PresentedToken<'a> {
    /// Checks the format and checksum of a presented string (no lookup).
    pub fn parse(s: &'a str) -> Result<PresentedToken<'a>, FormatError> {
        if s.len() != TOKEN_LEN || !s.is_ascii() {
            return Err(FormatError::Length);
        }
        let kind = kind_of_prefix(&s[..KIND_PREFIX_LEN]).ok_or(FormatError::UnknownKind)?;
        let body = &s[KIND_PREFIX_LEN..];
        if !is_base62(body) {
            return Err(FormatError::Alphabet);
        }
        let (random, sum) = body.split_at(RANDOM_LEN);
        if checksum_digits(random) != sum.as_bytes() {
            return Err(FormatError::Checksum);
        }
        Ok(PresentedToken { value: s, kind })
    }

    /// The token's kind, read from its prefix.
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The public prefix (first 12 characters) shown in lists.
    pub fn display_prefix(&self) -> &'a str {
        &self.value[..DISPLAY_PREFIX_LEN]
    }

    /// SHA-256 of the whole token, as [`PlainToken::hash`].
    pub fn hash(&self) -> TokenHash {
        hash_of(self.value)
    }
}

impl fmt::Debug for PresentedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PresentedToken({}…)", self.display_prefix())
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainToken({}…)", self.display_prefix())
    }
}

/// SHA-256 of a token. Safe to store, index and log.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// From the bytes a store keeps.
    pub fn from_slice(bytes: &[u8]) -> Option<TokenHash> {
        <[u8; 32]>::try_from(bytes).ok().map(TokenHash)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..12])
    }
}

/// Finds every gantry token in `text` (prefix + length + checksum); returns byte offsets.
/// A run of base62 longer than a token is not a token.
pub fn find_tokens(text: &str) -> Vec<(usize, PlainToken)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + TOKEN_LEN <= bytes.len() {
        let starts_word = i == 0 || !is_token_byte(bytes[i - 1]);
        if starts_word && bytes[i] == b'g' && bytes[i + 1] == b't' && bytes[i + 3] == b'_' {
            let end = i + TOKEN_LEN;
            let ends_word = end == bytes.len() || !is_token_byte(bytes[end]);
            if ends_word {
                if let Some(candidate) = text.get(i..end) {
                    if let Ok(token) = PlainToken::parse(candidate) {
                        found.push((i, token));
                        i = end;
                        continue;
                    }
                }
            }
        }
        i += 1;
    }
    found
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/token-vectors.json");
        let text = std::fs::read_to_string(path).expect("docs/token-vectors.json");
        serde_json::from_str(&text).unwrap()
    }

    /// SHA-256 of DESIGN §2's `shared/token-vectors.json` when it was copied: the suite reads
    /// nothing outside the repository, so the copy is held to the design's file by its hash.
    const DESIGN_VECTORS_SHA256: &str =
        "9fe75da29f4baa8fffd9463aa1b3eeb4d2cad637f85832a713f8aeb9bd93bf8f";

    #[test]
    fn the_vectors_are_the_designs_byte_for_byte() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/token-vectors.json");
        let bytes = std::fs::read(path).expect("docs/token-vectors.json");
        let hex: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex, DESIGN_VECTORS_SHA256,
            "docs/token-vectors.json differs from the design's vectors: copy shared/token-vectors.json again"
        );
    }

    #[test]
    fn valid_vectors_parse_with_their_kind_prefix_and_checksum() {
        for v in vectors()["valid"].as_array().unwrap() {
            let random = v["random"].as_str().unwrap();
            assert_eq!(
                crc32fast::hash(random.as_bytes()) as u64,
                v["crc32"].as_u64().unwrap()
            );
            assert_eq!(checksum(random), v["checksum"].as_str().unwrap());
            let token = PlainToken::parse(v["token"].as_str().unwrap()).unwrap();
            assert_eq!(token.kind().as_str(), v["kind"].as_str().unwrap());
            assert_eq!(token.display_prefix(), v["prefix"].as_str().unwrap());
            let rebuilt = PlainToken::from_random(token.kind(), random);
            assert_eq!(rebuilt.expose_secret(), v["token"].as_str().unwrap());
            // Verification's borrowed view reads the same token the same way.
            let presented = PresentedToken::parse(v["token"].as_str().unwrap()).unwrap();
            assert_eq!(presented.kind(), token.kind());
            assert_eq!(presented.display_prefix(), token.display_prefix());
            assert_eq!(presented.hash(), token.hash());
        }
    }

    #[test]
    fn invalid_vectors_are_refused() {
        for v in vectors()["invalid"].as_array().unwrap() {
            let t = v["token"].as_str().unwrap();
            assert!(
                PlainToken::parse(t).is_err(),
                "{} should fail: {}",
                t,
                v["why"]
            );
        }
    }

    #[test]
    fn generated_tokens_parse_and_differ() {
        let a = PlainToken::generate(TokenKind::Deploy);
        let b = PlainToken::generate(TokenKind::Deploy);
        assert_ne!(a, b);
        assert_eq!(a.expose_secret().len(), TOKEN_LEN);
        assert!(a.expose_secret().starts_with("gtd_"));
        assert_eq!(PlainToken::parse(a.expose_secret()).unwrap(), a);
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let t = PlainToken::generate(TokenKind::Org);
        let shown = format!("{t:?} {:?}", t.hash());
        assert!(!shown.contains(t.expose_secret()));
        assert!(!shown.contains(&t.expose_secret()[12..]));
    }

    #[test]
    fn non_ascii_input_is_refused_without_panicking() {
        let s = "gtd_ééééééééééééééééé1";
        assert!(PlainToken::parse(s).is_err());
        assert!(find_tokens(s).is_empty());
    }

    #[test]
    fn find_tokens_sees_real_tokens_and_skips_near_misses() {
        let t = PlainToken::generate(TokenKind::Deploy);
        let raw = t.expose_secret();
        let mut broken = raw.to_owned();
        broken.pop();
        broken.push(if raw.ends_with('A') { 'B' } else { 'A' });
        let text = format!("x={raw}\ny={broken}\nz=a{raw}\n");
        let found = find_tokens(&text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, t);
    }
}
