//! The token format and authentication failures: what each 401 says, and never the token.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn base62_6(n: u32) -> String {
    let mut n = u64::from(n);
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

/// DESIGN §2: `<kind prefix><30 base62><6 base62 CRC-32 of the 30>`.
fn assert_well_formed(raw: &str, kind_prefix: &str) {
    assert_eq!(raw.len(), 40, "{raw}");
    assert!(raw.starts_with(kind_prefix), "{raw}");
    let body = &raw[4..];
    assert!(body.bytes().all(|b| BASE62.contains(&b)), "{raw}");
    let (random, sum) = body.split_at(30);
    assert_eq!(base62_6(crc32(random.as_bytes())), sum, "checksum of {raw}");
}

#[tokio::test]
async fn issued_tokens_follow_the_documented_format() {
    // The checker above must agree with the shared vectors before it judges the server.
    let vectors = token_vectors();
    for v in vectors["valid"].as_array().unwrap() {
        let random = v["random"].as_str().unwrap();
        assert_eq!(
            u64::from(crc32(random.as_bytes())),
            v["crc32"].as_u64().unwrap()
        );
        assert_eq!(
            base62_6(crc32(random.as_bytes())),
            v["checksum"].as_str().unwrap()
        );
    }

    let Acme { app, owner, .. } = acme().await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let r = app
            .post("/v1/apps/web/tokens", &owner, json!({"name": "d"}))
            .await;
        assert_well_formed(&raw_of(&r), "gtd_");
        assert_eq!(r.body["prefix"], &raw_of(&r)[..12]);
        seen.push(raw_of(&r));
        let r = app
            .post(
                "/v1/orgs/acme/tokens",
                &owner,
                json!({"name": "o", "role": "viewer"}),
            )
            .await;
        assert_well_formed(&raw_of(&r), "gto_");
        seen.push(raw_of(&r));
        let r = app
            .post("/v1/user/tokens", &owner, json!({"name": "p"}))
            .await;
        assert_well_formed(&raw_of(&r), "gtp_");
        assert_eq!(r.body["prefix"], &raw_of(&r)[..12]);
        seen.push(raw_of(&r));
    }
    assert_well_formed(&app.admin_token, "gtp_");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "tokens repeat");
    let (pat_id, _) = app
        .personal_token(&owner, json!({"name": "to rotate"}))
        .await;
    let rotated = app.rotate(&owner, &pat_id, json!({})).await;
    assert_well_formed(&raw_of(&rotated), "gtp_");
    assert_eq!(rotated.body["prefix"], &raw_of(&rotated)[..12]);
}

#[tokio::test]
async fn unknown_and_malformed_tokens_are_invalid_token() {
    let app = spawn_app().await;
    let vectors = token_vectors();
    let mut presented = Vec::new();
    for v in vectors["valid"]
        .as_array()
        .unwrap()
        .iter()
        .chain(vectors["invalid"].as_array().unwrap())
    {
        presented.push(v["token"].as_str().unwrap().to_owned());
    }
    presented.push("not-a-token".to_owned());
    presented.push(format!("{}x", app.admin_token)); // one character too many
    presented.push(app.admin_token[..39].to_owned()); // truncated
    for raw in &presented {
        let r = app.get("/v1/user", raw).await;
        assert_unauthorized(&r, "invalid_token");
        assert!(
            r.header("www-authenticate")
                .contains("error=\"invalid_token\""),
            "{raw}"
        );
        assert!(
            !r.text.contains(raw.as_str()),
            "the presented value is echoed: {}",
            r.text
        );
    }
    // The real token is fine.
    assert_eq!(app.get("/v1/user", &app.admin_token).await.status, 200);
}

#[tokio::test]
async fn auth_errors_name_the_reason() {
    let Acme { app, owner, .. } = acme().await;
    let r = app.anon(Method::GET, "/v1/user", None).await;
    assert_unauthorized(&r, "unauthenticated");
    assert!(r.header("www-authenticate").contains("realm=\"gantry\""));

    let (_, expired) = app
        .deploy_token(&owner, "web", json!({"name": "e", "expires_in": "1h"}))
        .await;
    let (rev_id, revoked) = app.deploy_token(&owner, "web", json!({"name": "r"})).await;
    app.revoke(&owner, &rev_id).await;
    app.advance(2 * HOUR);

    let r = app.get("/v1/apps/web", &expired).await;
    assert_unauthorized(&r, "token_expired");
    assert!(r
        .header("www-authenticate")
        .contains("error=\"invalid_token\""));
    assert_no_secret(&r, &expired);

    let r = app.get("/v1/apps/web", &revoked).await;
    assert_unauthorized(&r, "token_revoked");
    assert!(r
        .header("www-authenticate")
        .contains("error=\"invalid_token\""));
    assert_no_secret(&r, &revoked);

    // A 403 says insufficient_scope.
    let (_, viewer) = member(&app, &owner, "viewer@acme.test", "viewer").await;
    let r = app.put("/v1/apps/web/config", &viewer, json!({})).await;
    assert_forbidden(&r);
}
