//! ID tokens for keyless CI: whatever arrives as `subject_token` — no input panics in the
//! header and payload parsing, the key choice, the signature check or the claim and
//! condition checks, and nothing unsigned is ever accepted.
#![no_main]

use gantry_core::oidc::{self, Preset, Rules};
use gantry_core::time::Timestamp;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// A P-256 public key (RFC 7515 appendix A.3) and an RSA one, so that the key choice and the
/// signature check run for every input that names one.
fn keys() -> &'static jsonwebtoken::jwk::JwkSet {
    static KEYS: OnceLock<jsonwebtoken::jwk::JwkSet> = OnceLock::new();
    KEYS.get_or_init(|| {
        serde_json::from_str(
            r#"{"keys":[
              {"kty":"EC","kid":"ec-1","crv":"P-256","alg":"ES256",
               "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
              {"kty":"RSA","kid":"rsa-1","alg":"RS256","e":"AQAB",
               "n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}
            ]}"#,
        )
        .expect("the fuzz keys parse")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(jwt) = std::str::from_utf8(data) else {
        return;
    };
    let rules = Rules {
        issuer: "https://token.actions.githubusercontent.com".into(),
        audience: "https://gantry.example.com".into(),
        conditions: [
            ("repository_id".to_owned(), "1001".to_owned()),
            ("ref".to_owned(), "refs/heads/*".to_owned()),
        ]
        .into(),
        preset: Some(Preset::Github),
        allow_pull_request_target: false,
    };
    let Ok(peeked) = oidc::peek(jwt) else {
        return;
    };
    let Some(key) = oidc::find_key(keys(), &peeked) else {
        return;
    };
    // Without the private keys nothing can carry a valid signature: acceptance is a bug.
    if let Ok(claims) = oidc::verify_signature(jwt, &peeked, key) {
        let _ = oidc::check_claims(&claims, &rules, Timestamp(1_700_000_000_000));
        let _ = oidc::check_conditions(&claims, &rules);
        panic!("a token no key signed was accepted: {jwt:?}");
    }
    // The glob matcher on whatever text the input carries.
    let parts: Vec<&str> = jwt.splitn(2, '.').collect();
    if parts.len() == 2 {
        let _ = oidc::matches(parts[0], parts[1]);
    }
});
