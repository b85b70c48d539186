//! The token lifecycle beyond the seed pages (DESIGN §2): rotation grace periods, revocation,
//! list filters, the instance lifetime policy, org-token role ceilings, the token format, the
//! 401 reasons; memberships and users; the audit log and what it must never contain.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// Org `acme` with app `web`; (app, owner id, never-expiring owner token).
async fn setup() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let (owner_id, session) = app.user("owner@acme.test").await;
    let owner = app.forever(&session).await;
    app.org_with_app(&owner, "acme", "web").await;
    (app, owner_id, owner)
}

async fn member(app: &TestApp, owner: &str, email: &str, role: &str) -> (String, String) {
    let (id, session) = app.user(email).await;
    app.add_member(owner, "acme", &id, role).await;
    (id, session)
}

fn raw_of(r: &Resp) -> String {
    r.body["token"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Rotation

#[tokio::test]
async fn grace_period_keeps_old_value_until_it_ends() {
    let (app, _, owner) = setup().await;
    let (id, old) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let r = app.rotate(&owner, &id, json!({"grace_period": "1h"})).await;
    let new = raw_of(&r);

    // Both values work while the grace period runs: CI can be updated without downtime.
    assert_eq!(
        app.deploy(&old, "web", b"1".to_vec(), None, false)
            .await
            .status,
        201
    );
    assert_eq!(
        app.deploy(&new, "web", b"2".to_vec(), None, false)
            .await
            .status,
        201
    );
    app.advance(59 * MINUTE);
    assert_eq!(app.get("/v1/apps/web", &old).await.status, 200);

    // Then only the new one.
    app.advance(2 * MINUTE);
    let r = app.get("/v1/apps/web", &old).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_envelope(&r);
    assert_no_secret(&r, &old);
    assert_eq!(app.get("/v1/apps/web", &new).await.status, 200);
    // Still the same single token.
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    assert_eq!(ids_of(&list), vec![id]);
}

#[tokio::test]
async fn grace_period_never_outlives_the_old_expiry() {
    let (app, _, owner) = setup().await;
    let (id, old) = app
        .deploy_token(&owner, "web", json!({"name": "ci", "expires_in": "2h"}))
        .await;
    app.rotate(&owner, &id, json!({"grace_period": "7d"})).await;
    assert_eq!(app.get("/v1/apps/web", &old).await.status, 200);
    app.advance(2 * HOUR);
    assert_eq!(app.get("/v1/apps/web", &old).await.status, 401);
}

#[tokio::test]
async fn grace_period_over_7d_refused() {
    let (app, _, owner) = setup().await;
    let (id, old) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    for grace in ["8d", "169h", "2w"] {
        let r = app
            .post(
                &format!("/v1/tokens/{id}/rotate"),
                &owner,
                json!({"grace_period": grace}),
            )
            .await;
        assert_invalid_field(&r, "grace_period");
    }
    // Nothing happened to the token.
    let v = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert!(v.body["rotated_at"].is_null(), "{}", v.text);
    assert_eq!(app.get("/v1/apps/web", &old).await.status, 200);
    // Exactly seven days is fine.
    let r = app.rotate(&owner, &id, json!({"grace_period": "7d"})).await;
    app.advance(7 * DAY - MINUTE);
    assert_eq!(app.get("/v1/apps/web", &old).await.status, 200);
    app.advance(2 * MINUTE);
    assert_eq!(app.get("/v1/apps/web", &old).await.status, 401);
    assert_eq!(app.get("/v1/apps/web", &raw_of(&r)).await.status, 200);
}

#[tokio::test]
async fn zero_grace_period_stops_the_old_value_at_once() {
    let (app, _, owner) = setup().await;
    let (id, old) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    app.rotate(&owner, &id, json!({"grace_period": "0s"})).await;
    assert_unauthorized(&app.get("/v1/apps/web", &old).await, "invalid_token");
}

#[tokio::test]
async fn revoking_during_grace_stops_both_values() {
    let (app, _, owner) = setup().await;
    let (id, old) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let new = raw_of(&app.rotate(&owner, &id, json!({"grace_period": "1d"})).await);
    app.revoke(&owner, &id).await;
    for raw in [&old, &new] {
        let r = app.get("/v1/apps/web", raw).await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_no_secret(&r, raw);
    }
    assert_unauthorized(&app.get("/v1/apps/web", &new).await, "token_revoked");
}

#[tokio::test]
async fn revoked_token_cannot_be_rotated() {
    let (app, _, owner) = setup().await;
    let (id, raw) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    app.revoke(&owner, &id).await;
    for body in [
        json!({}),
        json!({"expires_in": "30d"}),
        json!({"grace_period": "1h"}),
    ] {
        let r = app
            .post(&format!("/v1/tokens/{id}/rotate"), &owner, body)
            .await;
        assert_error(&r, 409, "token_revoked");
        assert!(r.body.get("token").is_none());
    }
    assert_unauthorized(&app.get("/v1/apps/web", &raw).await, "token_revoked");
}

#[tokio::test]
async fn rotation_renews_the_original_lifetime_or_takes_a_new_one() {
    let (app, _, owner) = setup().await;
    let (id, _) = app
        .deploy_token(&owner, "web", json!({"name": "ci", "expires_in": "36h"}))
        .await;
    app.advance(HOUR);
    let r = app.rotate(&owner, &id, json!({})).await;
    let now = app.now_millis();
    assert_eq!(
        millis_of(&r.body["expires_at"]),
        now + 36 * HOUR_MS,
        "{}",
        r.text
    );
    assert_eq!(millis_of(&r.body["rotated_at"]), now);
    let r = app.rotate(&owner, &id, json!({"expires_in": "2d"})).await;
    assert_eq!(
        millis_of(&r.body["expires_at"]),
        now + 2 * DAY_MS,
        "{}",
        r.text
    );
    // The new length sticks for the next rotation.
    app.advance(HOUR);
    let r = app.rotate(&owner, &id, json!({})).await;
    assert_eq!(
        millis_of(&r.body["expires_at"]),
        app.now_millis() + 2 * DAY_MS,
        "{}",
        r.text
    );
    // A never-expiring token stays never-expiring.
    let (forever, _) = app
        .deploy_token(&owner, "web", json!({"name": "f", "never_expires": true}))
        .await;
    let r = app.rotate(&owner, &forever, json!({})).await;
    assert!(r.body["expires_at"].is_null(), "{}", r.text);
}

#[tokio::test]
async fn every_kind_of_token_can_be_rotated_by_whoever_manages_it() {
    let (app, _, owner) = setup().await;
    let (org_id, _) = app.org_token(&owner, "acme", "viewer").await;
    let (pat_id, _) = app.personal_token(&owner, json!({"name": "p"})).await;
    let (_, org_admin) = app.org_token(&owner, "acme", "admin").await;
    let (dep_id, _) = app.deploy_token(&owner, "web", json!({"name": "d"})).await;

    let r = app.rotate(&owner, &org_id, json!({})).await;
    assert!(raw_of(&r).starts_with("gto_"));
    let r = app.rotate(&owner, &pat_id, json!({})).await;
    assert!(raw_of(&r).starts_with("gtp_"));
    let r = app.rotate(&org_admin, &dep_id, json!({})).await;
    assert!(raw_of(&r).starts_with("gtd_"));
    // An org token cannot touch a user's personal token.
    let r = app
        .post(
            &format!("/v1/tokens/{pat_id}/rotate"),
            &org_admin,
            json!({}),
        )
        .await;
    assert_error(&r, 404, "not_found");
}

// ---------------------------------------------------------------------------------------------
// Revocation and status

#[tokio::test]
async fn revoking_twice_is_harmless() {
    let (app, _, owner) = setup().await;
    let (id, raw) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let first = app.revoke(&owner, &id).await;
    assert_eq!(first.body["already_revoked"], false);
    assert_eq!(first.body["token"]["status"], "revoked");
    let revoked_at = first.body["token"]["revoked_at"].clone();
    assert!(revoked_at.is_string(), "{}", first.text);
    assert_eq!(millis_of(&revoked_at), app.now_millis());

    app.advance(HOUR);
    let second = app.revoke(&owner, &id).await;
    assert_eq!(second.body["already_revoked"], true);
    assert_eq!(second.body["token"]["status"], "revoked");
    assert_eq!(
        second.body["token"]["revoked_at"], revoked_at,
        "the first revocation time stays"
    );
    assert_no_secret(&second, &raw);

    let (_, events) = app.audit_items("?action=token.revoke").await;
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e["target_id"] == id.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "one revocation, one audit event: {events:?}");
}

#[tokio::test]
async fn list_filters_by_status_and_hides_revoked_by_default() {
    let (app, _, owner) = setup().await;
    let (active, _) = app
        .deploy_token(&owner, "web", json!({"name": "active"}))
        .await;
    let (expired, _) = app
        .deploy_token(
            &owner,
            "web",
            json!({"name": "expired", "expires_in": "1d"}),
        )
        .await;
    let (revoked, _) = app
        .deploy_token(&owner, "web", json!({"name": "revoked"}))
        .await;
    app.revoke(&owner, &revoked).await;
    app.advance(2 * DAY);
    let ours = [active.as_str(), expired.as_str(), revoked.as_str()];

    for base in ["/v1/apps/web/tokens", "/v1/orgs/acme/tokens", "/v1/tokens"] {
        let cases: [(&str, Vec<&String>); 6] = [
            ("", vec![&active, &expired]),
            ("?status=active", vec![&active]),
            ("?status=expired", vec![&expired]),
            ("?status=revoked", vec![&revoked]),
            ("?status=all", vec![&active, &expired, &revoked]),
            ("?status=all&expiring_within=7d", vec![]),
        ];
        for (query, want) in cases {
            let list = items(&app.get(&format!("{base}{query}"), &owner).await);
            let want: Vec<String> = want.into_iter().cloned().collect();
            assert_eq!(which_of(&list, &ours), want, "{base}{query}");
            for t in &list {
                if query.contains("status=active") {
                    assert_eq!(t["status"], "active", "{t}");
                }
            }
        }
    }
    // Revoked tokens listed on request show when.
    let list = items(&app.get("/v1/apps/web/tokens?status=revoked", &owner).await);
    assert!(find_id(&list, &revoked).unwrap()["revoked_at"].is_string());
    // The personal list filters the same way.
    let (pat, _) = app.personal_token(&owner, json!({"name": "p"})).await;
    app.revoke(&owner, &pat).await;
    assert!(find_id(&items(&app.get("/v1/user/tokens", &owner).await), &pat).is_none());
    assert!(find_id(
        &items(&app.get("/v1/user/tokens?status=revoked", &owner).await),
        &pat
    )
    .is_some());
}

#[tokio::test]
async fn list_filters_tokens_expiring_within() {
    let (app, _, owner) = setup().await;
    let (gone, _) = app
        .deploy_token(&owner, "web", json!({"name": "gone", "expires_in": "1d"}))
        .await;
    app.advance(2 * DAY);
    let (d3, _) = app
        .deploy_token(&owner, "web", json!({"name": "3d", "expires_in": "3d"}))
        .await;
    let (d30, _) = app
        .deploy_token(&owner, "web", json!({"name": "30d", "expires_in": "30d"}))
        .await;
    let (never, _) = app
        .deploy_token(
            &owner,
            "web",
            json!({"name": "never", "never_expires": true}),
        )
        .await;
    let ours = [gone.as_str(), d3.as_str(), d30.as_str(), never.as_str()];

    let list = items(
        &app.get("/v1/apps/web/tokens?expiring_within=7d", &owner)
            .await,
    );
    assert_eq!(which_of(&list, &ours), vec![d3.clone()]);
    let list = items(
        &app.get("/v1/apps/web/tokens?expiring_within=31d", &owner)
            .await,
    );
    assert_eq!(which_of(&list, &ours), vec![d3.clone(), d30.clone()]);
    let list = items(
        &app.get("/v1/orgs/acme/tokens?expiring_within=80h", &owner)
            .await,
    );
    assert_eq!(which_of(&list, &ours), vec![d3.clone()]);
    // Time passes; the window moves with it.
    app.advance(4 * DAY);
    let list = items(
        &app.get("/v1/apps/web/tokens?expiring_within=30d", &owner)
            .await,
    );
    assert_eq!(which_of(&list, &ours), vec![d30]);
}

#[tokio::test]
async fn status_is_computed_at_read_time() {
    let (app, _, owner) = setup().await;
    let (id, _) = app
        .deploy_token(&owner, "web", json!({"name": "ci", "expires_in": "1h"}))
        .await;
    let path = format!("/v1/tokens/{id}");
    assert_eq!(app.get(&path, &owner).await.body["status"], "active");
    app.advance(HOUR - Duration::from_millis(1));
    assert_eq!(app.get(&path, &owner).await.body["status"], "active");
    app.advance(Duration::from_millis(1));
    assert_eq!(app.get(&path, &owner).await.body["status"], "expired");
    let list = items(&app.get("/v1/apps/web/tokens?status=expired", &owner).await);
    assert_eq!(ids_of(&list), vec![id]);
}

// ---------------------------------------------------------------------------------------------
// Instance policy

#[tokio::test]
async fn instance_policy_caps_lifetime_and_forbids_non_expiring() {
    let app = spawn_app_with(|c| {
        c.settings.token_policy.max_lifetime = Some(Duration::from_secs(30 * 86400));
        c.settings.token_policy.forbid_non_expiring = true;
    })
    .await;
    let (_, owner) = app.user("owner@acme.test").await;
    app.org_with_app(&owner, "acme", "web").await;

    for path in ["/v1/apps/web/tokens", "/v1/user/tokens"] {
        let r = app
            .post(path, &owner, json!({"name": "long", "expires_in": "31d"}))
            .await;
        assert_invalid_field(&r, "expires_in");
        let r = app
            .post(
                path,
                &owner,
                json!({"name": "never", "never_expires": true}),
            )
            .await;
        assert_invalid_field(&r, "never_expires");
        let at = app.instant_in(31 * DAY);
        let r = app
            .post(path, &owner, json!({"name": "dated", "expires_at": at}))
            .await;
        assert_invalid_field(&r, "expires_at");

        let r = app
            .post(path, &owner, json!({"name": "max", "expires_in": "30d"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        // The default shrinks to the cap.
        let r = app.post(path, &owner, json!({"name": "default"})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let lifetime = millis_of(&r.body["expires_at"]) - millis_of(&r.body["created_at"]);
        assert_eq!(lifetime, 30 * DAY_MS);
    }
    let r = app
        .post(
            "/v1/orgs/acme/tokens",
            &owner,
            json!({"name": "o", "role": "viewer", "expires_in": "720h1m"}),
        )
        .await;
    assert_invalid_field(&r, "expires_in");

    // Rotation obeys the cap too.
    let (id, _) = app
        .deploy_token(&owner, "web", json!({"name": "ci", "expires_in": "7d"}))
        .await;
    let r = app
        .post(
            &format!("/v1/tokens/{id}/rotate"),
            &owner,
            json!({"expires_in": "60d"}),
        )
        .await;
    assert_invalid_field(&r, "expires_in");
    let r = app.rotate(&owner, &id, json!({"expires_in": "30d"})).await;
    assert_eq!(
        millis_of(&r.body["expires_at"]),
        app.now_millis() + 30 * DAY_MS
    );

    // Logging in under the policy gives a capped token as well.
    let r = app
        .anon(
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": "owner@acme.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let lifetime = millis_of(&r.body["expires_at"]) - millis_of(&r.body["created_at"]);
    assert!(lifetime <= 30 * DAY_MS, "{}", r.text);
}

#[tokio::test]
async fn policy_forbidding_only_non_expiring_tokens_keeps_the_90_day_default() {
    let app = spawn_app_with(|c| c.settings.token_policy.forbid_non_expiring = true).await;
    // A password login: the credential that may give any lifetime the policy allows.
    app.user("owner@acme.test").await;
    let r = login_with(&app, "owner@acme.test", json!({"never_expires": true})).await;
    assert_invalid_field(&r, "never_expires");
    let r = login_with(&app, "owner@acme.test", json!({"expires_in": "3650d"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = login_with(&app, "owner@acme.test", json!({})).await;
    let lifetime = millis_of(&r.body["expires_at"]) - millis_of(&r.body["created_at"]);
    assert_eq!(lifetime, 90 * DAY_MS);
}

#[tokio::test]
async fn tokens_may_be_created_without_expiry_when_no_policy_is_set() {
    let (app, _, owner) = setup().await;
    for (path, body) in [
        (
            "/v1/apps/web/tokens",
            json!({"name": "d", "never_expires": true}),
        ),
        (
            "/v1/orgs/acme/tokens",
            json!({"name": "o", "never_expires": true, "role": "viewer"}),
        ),
        (
            "/v1/user/tokens",
            json!({"name": "p", "never_expires": true}),
        ),
    ] {
        let r = app.post(path, &owner, body).await;
        assert_eq!(r.status, 201, "{path}: {}", r.text);
        assert!(r.body["expires_at"].is_null(), "{}", r.text);
    }
    // never_expires: false is just the default.
    let r = app
        .post(
            "/v1/user/tokens",
            &owner,
            json!({"name": "p", "never_expires": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["expires_at"].is_string(), "{}", r.text);
}

// ---------------------------------------------------------------------------------------------
// Org tokens and roles

#[tokio::test]
async fn org_token_role_cannot_exceed_creators_role() {
    let (app, _, owner) = setup().await;
    let (_, admin) = member(&app, &owner, "admin@acme.test", "admin").await;
    let (_, operator) = member(&app, &owner, "operator@acme.test", "operator").await;

    let body = |role: &str| json!({"name": format!("{role} token"), "role": role});
    assert_forbidden(
        &app.post("/v1/orgs/acme/tokens", &admin, body("owner"))
            .await,
    );
    for role in ["admin", "operator", "viewer"] {
        let r = app.post("/v1/orgs/acme/tokens", &admin, body(role)).await;
        assert_eq!(r.status, 201, "{role}: {}", r.text);
        assert_eq!(r.body["role"], role);
        assert_eq!(r.body["kind"], "org");
        assert_eq!(r.body["org"], "acme");
    }
    // Operators do not manage tokens at all.
    assert_forbidden(
        &app.post("/v1/orgs/acme/tokens", &operator, body("viewer"))
            .await,
    );
    // Owners and instance administrators may hand out owner.
    assert_eq!(
        app.post("/v1/orgs/acme/tokens", &owner, body("owner"))
            .await
            .status,
        201
    );
    assert_eq!(
        app.post("/v1/orgs/acme/tokens", &app.admin_token, body("owner"))
            .await
            .status,
        201
    );
    // An org token is held to its own role in turn.
    let (_, org_admin) = app.org_token(&owner, "acme", "admin").await;
    assert_forbidden(
        &app.post("/v1/orgs/acme/tokens", &org_admin, body("owner"))
            .await,
    );
    assert_eq!(
        app.post("/v1/orgs/acme/tokens", &org_admin, body("operator"))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn only_org_tokens_carry_a_role() {
    let (app, _, owner) = setup().await;
    let r = app
        .post("/v1/orgs/acme/tokens", &owner, json!({"name": "no role"}))
        .await;
    assert_invalid_field(&r, "role");
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &owner,
            json!({"name": "d", "role": "viewer"}),
        )
        .await;
    assert_invalid_field(&r, "role");
    let r = app
        .post(
            "/v1/user/tokens",
            &owner,
            json!({"name": "p", "role": "viewer"}),
        )
        .await;
    assert_invalid_field(&r, "role");
}

// ---------------------------------------------------------------------------------------------
// Token format and authentication failures

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

    let (app, _, owner) = setup().await;
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
    let (app, _, owner) = setup().await;
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

// ---------------------------------------------------------------------------------------------
// Audit

#[tokio::test]
async fn audit_records_every_change_and_failed_authentication() {
    let (app, owner_id, owner) = setup().await;
    let uid = app.create_user("member@acme.test").await;
    app.add_member(&owner, "acme", &uid, "viewer").await;
    let r = app
        .delete(&format!("/v1/orgs/acme/members/{uid}"), &owner)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let (id, raw) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    assert_eq!(
        app.deploy(&raw, "web", b"x".to_vec(), Some("v1"), false)
            .await
            .status,
        201
    );
    assert_eq!(
        app.put("/v1/apps/web/env/A", &raw, json!({"value": "1"}))
            .await
            .status,
        200
    );
    assert_eq!(
        app.put("/v1/apps/web/config", &raw, json!({"a": 1}))
            .await
            .status,
        200
    );
    let new = raw_of(&app.rotate(&owner, &id, json!({})).await);
    app.revoke(&owner, &id).await;
    assert_eq!(app.get("/v1/apps/web", &new).await.status, 401);

    let (r, events) = app.audit_items("").await;
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    for wanted in [
        "member.put",
        "member.delete",
        "token.create",
        "deploy.create",
        "env.set",
        "config.set",
        "token.rotate",
        "token.revoke",
        "auth.failed",
    ] {
        assert!(
            actions.contains(&wanted),
            "no {wanted} event in {actions:?}"
        );
    }
    assert_no_secret(&r, &raw);
    assert_no_secret(&r, &new);

    let find = |action: &str| -> Value {
        events
            .iter()
            .find(|e| e["action"] == action)
            .cloned()
            .unwrap_or_else(|| panic!("no {action}"))
    };
    let rotate = find("token.rotate");
    assert_eq!(rotate["target_id"], id.as_str());
    assert_eq!(rotate["actor"]["type"], "user");
    assert_eq!(rotate["actor"]["id"], owner_id.as_str());
    assert_eq!(rotate["outcome"], "success");
    assert_eq!(rotate["ip"], "127.0.0.1");
    let deploy = find("deploy.create");
    assert_eq!(deploy["actor"]["type"], "token");
    assert_eq!(deploy["actor"]["id"], id.as_str());
    assert_eq!(deploy["app"], "web");
    assert_eq!(deploy["org"], "acme");
    let failed = find("auth.failed");
    assert_eq!(failed["outcome"], "failure");
    assert_eq!(failed["target_id"], id.as_str());
    let member_put = find("member.put");
    assert_eq!(member_put["target_id"], uid.as_str());

    // Newest first.
    let ids: Vec<i64> = events.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");

    // Filters.
    let (_, only) = app.audit_items("?action=token.rotate").await;
    assert!(
        !only.is_empty() && only.iter().all(|e| e["action"] == "token.rotate"),
        "{only:?}"
    );
    let (_, by_token) = app.audit_items(&format!("?actor={id}")).await;
    assert!(!by_token.is_empty() && by_token.iter().all(|e| e["actor"]["id"] == id.as_str()));
    let (_, limited) = app.audit_items("?limit=2").await;
    assert_eq!(limited.len(), 2);
    let (_, in_acme) = app.audit_items("?org=acme").await;
    assert!(in_acme.iter().all(|e| e["org"] == "acme"), "{in_acme:?}");
    assert!(in_acme.iter().any(|e| e["action"] == "deploy.create"));
}

#[tokio::test]
async fn auth_failed_event_never_contains_the_presented_token() {
    let (app, _, owner) = setup().await;
    let (rev_id, revoked) = app
        .deploy_token(&owner, "web", json!({"name": "revoked"}))
        .await;
    app.revoke(&owner, &rev_id).await;
    let (_, expired) = app
        .deploy_token(&owner, "web", json!({"name": "e", "expires_in": "1h"}))
        .await;
    let (rot_id, rotated_away) = app
        .deploy_token(&owner, "web", json!({"name": "rotated"}))
        .await;
    app.rotate(&owner, &rot_id, json!({})).await;
    app.advance(2 * HOUR);
    let unknown = token_vectors()["valid"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let malformed = "gtd_thisIsNotAValidGantryTokenAtAll123456".to_owned();

    let presented = [
        revoked.clone(),
        expired.clone(),
        rotated_away,
        unknown.clone(),
        malformed,
    ];
    for raw in &presented {
        assert_eq!(app.get("/v1/apps/web", raw).await.status, 401, "{raw}");
    }
    let (r, events) = app.audit_items("?action=auth.failed").await;
    assert!(events.len() >= presented.len(), "{events:?}");
    for raw in &presented {
        assert!(
            !r.text.contains(raw.as_str()),
            "auth.failed event carries a presented token: {}",
            r.text
        );
        assert!(
            !r.text.contains(&raw[12..]),
            "auth.failed event carries a token secret: {}",
            r.text
        );
    }
    let reasons: Vec<&str> = events
        .iter()
        .filter_map(|e| e["detail"]["reason"].as_str())
        .collect();
    for reason in ["revoked", "expired", "unknown", "malformed"] {
        assert!(reasons.contains(&reason), "no {reason} in {reasons:?}");
    }
    for e in &events {
        assert_eq!(e["outcome"], "failure", "{e}");
        assert_eq!(e["ip"], "127.0.0.1", "{e}");
    }
    // The public prefix is enough to tell which token it was.
    let ev = events
        .iter()
        .find(|e| e["target_id"] == rev_id.as_str())
        .expect("event names the revoked token");
    assert_eq!(ev["detail"]["prefix"], &revoked[..12]);
    assert!(
        events
            .iter()
            .any(|e| e["detail"]["reason"] == "unknown" && e["detail"]["prefix"] == unknown[..12]),
        "{events:?}"
    );
    // The whole log holds no value ever shown to anyone.
    let (all, _) = app.audit_items("?limit=1000").await;
    for raw in [&revoked, &expired, &owner, &app.admin_token] {
        assert_no_secret(&all, raw);
    }
}

#[tokio::test]
async fn audit_log_is_visible_to_org_admins_not_to_viewers() {
    let (app, _, owner) = setup().await;
    let (viewer_id, viewer) = member(&app, &owner, "viewer@acme.test", "viewer").await;
    let (_, admin) = member(&app, &owner, "admin@acme.test", "admin").await;
    let (_, outsider) = app.user("outsider@globex.test").await;
    app.deploy_token(&owner, "web", json!({"name": "ci"})).await;

    let r = app.get("/v1/audit?org=acme", &admin).await;
    let list = items(&r);
    assert!(
        list.iter()
            .any(|e| e["action"] == "token.create" && e["org"] == "acme"),
        "{list:?}"
    );

    assert_forbidden(&app.get("/v1/audit?org=acme", &viewer).await);
    assert_error(
        &app.get("/v1/audit?org=acme", &outsider).await,
        404,
        "not_found",
    );
    // Without a filter a viewer sees only what they did themselves.
    let mine = items(&app.get("/v1/audit", &viewer).await);
    assert!(
        mine.iter().all(|e| e["actor"]["id"] == viewer_id.as_str()),
        "{mine:?}"
    );
    let theirs = items(&app.get("/v1/audit", &outsider).await);
    assert!(theirs.iter().all(|e| e["org"] != "acme"), "{theirs:?}");
}

// ---------------------------------------------------------------------------------------------
// Members, orgs, apps, users

#[tokio::test]
async fn last_owner_cannot_be_removed_or_demoted() {
    let (app, owner_id, owner) = setup().await;
    let path = format!("/v1/orgs/acme/members/{owner_id}");
    assert_error(&app.delete(&path, &owner).await, 409, "last_owner");
    assert_error(
        &app.put(&path, &owner, json!({"role": "admin"})).await,
        409,
        "last_owner",
    );
    assert_error(
        &app.delete(&path, &app.admin_token).await,
        409,
        "last_owner",
    );
    assert_eq!(app.get("/v1/orgs/acme", &owner).await.body["role"], "owner");

    // With a second owner, the first may step down.
    let (second_id, second) = member(&app, &owner, "second@acme.test", "owner").await;
    let r = app.put(&path, &second, json!({"role": "admin"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["role"], "admin");
    assert_error(
        &app.delete(&format!("/v1/orgs/acme/members/{second_id}"), &second)
            .await,
        409,
        "last_owner",
    );
}

#[tokio::test]
async fn only_owners_grant_change_or_remove_the_owner_role() {
    let (app, owner_id, owner) = setup().await;
    let (admin_id, admin) = member(&app, &owner, "admin@acme.test", "admin").await;
    let target = app.create_user("target@acme.test").await;

    let grant = app
        .put(
            &format!("/v1/orgs/acme/members/{target}"),
            &admin,
            json!({"role": "owner"}),
        )
        .await;
    assert_forbidden(&grant);
    let demote = app
        .put(
            &format!("/v1/orgs/acme/members/{owner_id}"),
            &admin,
            json!({"role": "viewer"}),
        )
        .await;
    assert_forbidden(&demote);
    assert_forbidden(
        &app.delete(&format!("/v1/orgs/acme/members/{owner_id}"), &admin)
            .await,
    );
    assert_forbidden(
        &app.put(
            &format!("/v1/orgs/acme/members/{admin_id}"),
            &admin,
            json!({"role": "owner"}),
        )
        .await,
    );

    let r = app
        .put(
            &format!("/v1/orgs/acme/members/{target}"),
            &owner,
            json!({"role": "owner"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let members = items(&app.get("/v1/orgs/acme/members", &admin).await);
    let t = members
        .iter()
        .find(|m| m["user_id"] == target.as_str())
        .unwrap();
    assert_eq!(t["role"], "owner");
    assert_eq!(t["email"], "target@acme.test");
}

#[tokio::test]
async fn admins_manage_members_below_owner() {
    let (app, _, owner) = setup().await;
    let (_, admin) = member(&app, &owner, "admin@acme.test", "admin").await;
    let (_, operator) = member(&app, &owner, "operator@acme.test", "operator").await;
    let uid = app.create_user("new@acme.test").await;
    let path = format!("/v1/orgs/acme/members/{uid}");

    assert_forbidden(&app.put(&path, &operator, json!({"role": "viewer"})).await);
    let r = app.put(&path, &admin, json!({"role": "viewer"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user_id"], uid.as_str());
    assert_eq!(r.body["role"], "viewer");
    let r = app.put(&path, &admin, json!({"role": "admin"})).await;
    assert_eq!(r.body["role"], "admin", "{}", r.text);
    let r = app.delete(&path, &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let members = items(&app.get("/v1/orgs/acme/members", &owner).await);
    assert!(
        members.iter().all(|m| m["user_id"] != uid.as_str()),
        "{members:?}"
    );
    assert_error(&app.delete(&path, &admin).await, 404, "not_found");
    // Members of an unknown user.
    let r = app
        .put(
            "/v1/orgs/acme/members/usr_doesnotexist00",
            &admin,
            json!({"role": "viewer"}),
        )
        .await;
    assert_error(&r, 404, "not_found");
}

#[tokio::test]
async fn a_member_may_leave_an_org() {
    let (app, _, owner) = setup().await;
    let (viewer_id, viewer) = member(&app, &owner, "viewer@acme.test", "viewer").await;
    let r = app
        .delete(&format!("/v1/orgs/acme/members/{viewer_id}"), &viewer)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_error(&app.get("/v1/orgs/acme", &viewer).await, 404, "not_found");
    // A viewer cannot remove somebody else.
    let (other_id, _) = member(&app, &owner, "other@acme.test", "viewer").await;
    let (_, viewer2) = member(&app, &owner, "viewer2@acme.test", "viewer").await;
    assert_forbidden(
        &app.delete(&format!("/v1/orgs/acme/members/{other_id}"), &viewer2)
            .await,
    );
}

#[tokio::test]
async fn orgs_and_apps_show_the_callers_view() {
    let (app, owner_id, owner) = setup().await;
    let r = app.get("/v1/orgs/acme", &owner).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["slug"], "acme");
    assert_eq!(r.body["role"], "owner");
    for f in ["id", "name", "created_at"] {
        assert!(r.body[f].is_string(), "{f}: {}", r.text);
    }
    let (_, viewer) = member(&app, &owner, "viewer@acme.test", "viewer").await;
    assert_eq!(
        app.get("/v1/orgs/acme", &viewer).await.body["role"],
        "viewer"
    );
    let orgs = items(&app.get("/v1/orgs", &viewer).await);
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["role"], "viewer");

    let r = app
        .post(
            "/v1/orgs/acme/apps",
            &owner,
            json!({"slug": "worker", "name": "Background worker"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["slug"], "worker");
    assert_eq!(r.body["name"], "Background worker");
    assert_eq!(r.body["org"], "acme");
    let r = app.get("/v1/apps/web", &viewer).await;
    assert_eq!(r.body["slug"], "web");
    assert_eq!(r.body["name"], "web");
    assert_eq!(r.body["org"], "acme");
    let apps = items(&app.get("/v1/orgs/acme/apps", &viewer).await);
    assert_eq!(apps.len(), 2);
    let members = items(&app.get("/v1/orgs/acme/members", &viewer).await);
    assert!(members
        .iter()
        .any(|m| m["user_id"] == owner_id.as_str() && m["role"] == "owner"));

    // The instance administrator sees every org.
    let all = items(&app.get("/v1/orgs", &app.admin_token).await);
    assert!(all.iter().any(|o| o["slug"] == "acme"));
}

#[tokio::test]
async fn instance_admin_manages_users() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/v1/users",
            &app.admin_token,
            json!({"email": "Erin@Example.com", "password": PASSWORD, "name": "Erin"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["email"], "erin@example.com");
    assert_eq!(r.body["name"], "Erin");
    assert_eq!(r.body["is_admin"], false);
    assert_eq!(r.body["disabled"], false);
    assert!(r.body["created_at"].is_string());
    assert!(
        !r.text.contains(PASSWORD) && !r.text.contains("argon2"),
        "{}",
        r.text
    );
    let erin = r.body["id"].as_str().unwrap().to_owned();
    let erin_token = app.login("erin@example.com", PASSWORD).await;

    let list = items(&app.get("/v1/users", &app.admin_token).await);
    assert!(list.iter().any(|u| u["id"] == erin.as_str()));
    assert!(!app
        .get("/v1/users", &app.admin_token)
        .await
        .text
        .contains("argon2"));
    assert_forbidden(&app.get("/v1/users", &erin_token).await);
    assert_forbidden(
        &app.post(
            "/v1/users",
            &erin_token,
            json!({"email": "x@y.z", "password": PASSWORD}),
        )
        .await,
    );

    let r = app
        .patch(
            &format!("/v1/users/{erin}"),
            &app.admin_token,
            json!({"is_admin": true, "name": "Erin A."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["is_admin"], true);
    assert_eq!(r.body["name"], "Erin A.");
    // Takes effect on the very next request.
    assert_eq!(app.get("/v1/users", &erin_token).await.status, 200);
    assert_eq!(
        app.get("/v1/user", &erin_token).await.body["user"]["is_admin"],
        true
    );

    // Duplicate email.
    let r = app
        .post(
            "/v1/users",
            &app.admin_token,
            json!({"email": "erin@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_envelope(&r);
    assert_error(
        &app.patch(
            "/v1/users/usr_doesnotexist00",
            &app.admin_token,
            json!({"name": "x"}),
        )
        .await,
        404,
        "not_found",
    );
}

// ---------------------------------------------------------------------------------------------
// Found in review: escalation through token management, and input that must round-trip.

#[tokio::test]
async fn admin_cannot_take_over_an_owner_role_org_token() {
    let app = spawn_app().await;
    let (_, owner) = app.user("owner@example.com").await;
    let (admin_id, admin) = app.user("org-admin@example.com").await;
    app.org_with_app(&owner, "acme", "web").await;
    app.add_member(&owner, "acme", &admin_id, "admin").await;
    let r = app
        .post(
            "/v1/orgs/acme/tokens",
            &owner,
            json!({"name": "owner bot", "role": "owner"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let owner_token_id = r.body["id"].as_str().unwrap().to_owned();

    // An admin may see the token, but not obtain its value or touch it.
    assert_eq!(
        app.get(&format!("/v1/tokens/{owner_token_id}"), &admin)
            .await
            .status,
        200
    );
    let rotate = app
        .post(
            &format!("/v1/tokens/{owner_token_id}/rotate"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(rotate.status, 403, "{}", rotate.text);
    assert!(rotate.body.get("token").is_none());
    let rename = app
        .patch(
            &format!("/v1/tokens/{owner_token_id}"),
            &admin,
            json!({"name": "mine"}),
        )
        .await;
    assert_eq!(rename.status, 403);
    assert_eq!(
        app.delete(&format!("/v1/tokens/{owner_token_id}"), &admin)
            .await
            .status,
        403
    );

    // Nor can an admin-role org token.
    let r = app
        .post(
            "/v1/orgs/acme/tokens",
            &admin,
            json!({"name": "admin bot", "role": "admin"}),
        )
        .await;
    let admin_bot = r.body["token"].as_str().unwrap().to_owned();
    let rotate = app
        .post(
            &format!("/v1/tokens/{owner_token_id}/rotate"),
            &admin_bot,
            json!({}),
        )
        .await;
    assert_eq!(rotate.status, 403, "{}", rotate.text);

    // The owner still can; admins still manage tokens up to their own role.
    assert_eq!(
        app.post(
            &format!("/v1/tokens/{owner_token_id}/rotate"),
            &owner,
            json!({})
        )
        .await
        .status,
        200
    );
    let admin_bot_id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.post(
            &format!("/v1/tokens/{admin_bot_id}/rotate"),
            &admin,
            json!({})
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn instance_admin_sees_and_revokes_but_cannot_rotate_another_users_personal_token() {
    let app = spawn_app().await;
    let (_, dev) = app.user("dev@example.com").await;
    let r = app
        .post("/v1/user/tokens", &dev, json!({"name": "laptop"}))
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&format!("/v1/tokens/{id}"), &app.admin_token)
            .await
            .status,
        200
    );
    // Rotating would hand the administrator a working credential that acts as the user.
    let rotate = app
        .post(
            &format!("/v1/tokens/{id}/rotate"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(rotate.status, 403, "{}", rotate.text);
    assert!(rotate.body.get("token").is_none());
    assert_eq!(
        app.post(&format!("/v1/tokens/{id}/rotate"), &dev, json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        app.delete(&format!("/v1/tokens/{id}"), &app.admin_token)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn never_expires_false_counts_as_not_given() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/v1/user/tokens",
            &app.admin_token,
            json!({"name": "ci", "expires_in": "30d", "never_expires": false}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["expires_at"].is_string());
}

#[tokio::test]
async fn config_document_is_returned_exactly_as_written() {
    let app = spawn_app().await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let doc = r#"{"zeta": 1, "alpha": {"big": 12345678901234567890123, "pi": 3.141592653589793238}, "list": [3, 2, 1]}"#;
    let put = app
        .raw(
            Method::PUT,
            "/v1/apps/web/config",
            Some(&app.admin_token),
            "application/json",
            doc.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let got = app.get("/v1/apps/web/config", &app.admin_token).await;
    assert_eq!(
        got.text, doc,
        "keys keep their order and numbers their digits"
    );
    // Still validated: duplicate keys and non-objects are refused.
    let dup = app
        .raw(
            Method::PUT,
            "/v1/apps/web/config",
            Some(&app.admin_token),
            "application/json",
            br#"{"a":1,"a":2}"#.to_vec(),
        )
        .await;
    assert_eq!(dup.status, 422, "{}", dup.text);
}

/// 150 rounds of a rotation and a revocation of the same token at once, the rotated-in value
/// used the moment the rotation answers: once both have answered, neither value is accepted
/// (the cache drops what the revocation's own transaction saw, never what it read before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_racing_rotation_leaves_no_value_accepted() {
    let app = spawn_app_with(|c| c.settings.failed_auth_limit = limit(100_000, 60)).await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let admin = app.admin_token.clone();
    let mut accepted = Vec::new();
    for round in 0..150 {
        let (id, old) = app.deploy_token(&admin, "web", json!({"name": "ci"})).await;
        assert_eq!(app.get("/v1/apps/web", &old).await.status, 200);
        let rotating = async {
            let r = app
                .post(&format!("/v1/tokens/{id}/rotate"), &admin, json!({}))
                .await;
            let new = r.body["token"].as_str().map(str::to_owned);
            if let Some(new) = &new {
                // Used at once: on a node with the bug, this caches the new value as active.
                let _ = app.get("/v1/apps/web", new).await;
            }
            assert!(r.status == 200 || r.status == 409, "{}", r.text);
            new
        };
        let revoking = async { app.delete(&format!("/v1/tokens/{id}"), &admin).await };
        let (new, revoked) = tokio::join!(rotating, revoking);
        assert_eq!(revoked.status, 200, "{}", revoked.text);
        for value in std::iter::once(old).chain(new) {
            let r = app.get("/v1/apps/web", &value).await;
            if r.status != 401 {
                accepted.push((round, r.status));
            }
        }
    }
    assert!(
        accepted.is_empty(),
        "accepted after revocation: {accepted:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// A token never makes a longer-lived or stronger token

/// Signs in with the password; `extra` adds login fields (`expires_in`, `never_expires`).
async fn login_with(app: &TestApp, email: &str, extra: Value) -> Resp {
    let mut body = json!({"email": email, "password": PASSWORD});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    app.anon(Method::POST, "/v1/auth/login", Some(body)).await
}

#[tokio::test]
async fn personal_tokens_never_make_longer_lived_personal_tokens() {
    let (app, _, _) = setup().await;
    let login = login_with(&app, "owner@acme.test", json!({"expires_in": "1d"})).await;
    assert_eq!(login.status, 201, "{}", login.text);
    let (day, day_expiry) = (raw_of(&login), millis_of(&login.body["expires_at"]));

    for (body, field) in [
        (json!({"name": "t", "expires_in": "30d"}), "expires_in"),
        (json!({"name": "t", "never_expires": true}), "never_expires"),
        (
            json!({"name": "t", "expires_at": app.instant_in(2 * 24 * HOUR)}),
            "expires_at",
        ),
    ] {
        let r = app.post("/v1/user/tokens", &day, body).await;
        assert_invalid_field(&r, field);
    }
    // Nothing asked: the default lifetime, cut to the creator's expiry.
    let (_, child) = app.personal_token(&day, json!({"name": "child"})).await;
    let me = app.get("/v1/user", &child).await;
    assert!(millis_of(&me.body["token"]["expires_at"]) <= day_expiry);
    // Within the creator's life: as asked.
    app.personal_token(&day, json!({"name": "short", "expires_in": "1h"}))
        .await;

    // A password login is the credential that gives a longer life.
    let long = login_with(&app, "owner@acme.test", json!({"expires_in": "365d"})).await;
    assert_eq!(long.status, 201, "{}", long.text);
    assert!(millis_of(&long.body["expires_at"]) > day_expiry + 300 * 24 * 3_600_000);
    // A personal token acts for its user on the org's tokens: the seed flows (a CLI signed in
    // for 90 days creates a deploy token for years) keep working.
    let (_, _) = app
        .deploy_token(&day, "web", json!({"name": "ci", "expires_in": "175200h"}))
        .await;
}

#[tokio::test]
async fn a_token_rotating_itself_gets_a_new_value_but_not_a_later_expiry() {
    let (app, _, owner) = setup().await;
    let login = login_with(&app, "owner@acme.test", json!({"expires_in": "1d"})).await;
    let (id, day) = (
        login.body["id"].as_str().unwrap().to_owned(),
        raw_of(&login),
    );
    let expiry = millis_of(&login.body["expires_at"]);
    app.advance(HOUR);

    let r = app
        .post(
            &format!("/v1/tokens/{id}/rotate"),
            &day,
            json!({"expires_in": "30d"}),
        )
        .await;
    assert_invalid_field(&r, "expires_in");
    // The default renewal (its 1-day lifetime again from now) would outlive it: kept as it was.
    let r = app.rotate(&day, &id, json!({})).await;
    assert_eq!(millis_of(&r.body["expires_at"]), expiry);
    let new = raw_of(&r);
    assert_eq!(app.get("/v1/user", &new).await.status, 200);

    // An org token rotating itself: the same.
    let (oid, org_tok) = app
        .org_token_with(
            &owner,
            "acme",
            json!({"name": "o", "role": "admin", "expires_in": "2h"}),
        )
        .await;
    let shown = app.get(&format!("/v1/tokens/{oid}"), &owner).await;
    let org_expiry = millis_of(&shown.body["expires_at"]);
    let r = app.rotate(&org_tok, &oid, json!({})).await;
    assert_eq!(millis_of(&r.body["expires_at"]), org_expiry);

    // Another credential whose life covers it extends it: the never-expiring owner token.
    let r = app.rotate(&owner, &id, json!({"expires_in": "30d"})).await;
    assert!(millis_of(&r.body["expires_at"]) > expiry + 20 * 24 * 3_600_000);
}

#[tokio::test]
async fn org_tokens_never_make_longer_lived_or_stronger_tokens() {
    let (app, _, owner) = setup().await;
    let (_, admin_tok) = app
        .org_token_with(
            &owner,
            "acme",
            json!({"name": "o", "role": "admin", "expires_in": "1d"}),
        )
        .await;
    let me = app.get("/v1/user", &admin_tok).await;
    let expiry = millis_of(&me.body["token"]["expires_at"]);

    // Deploy tokens and org tokens it creates: no later than itself.
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &admin_tok,
            json!({"name": "ci", "expires_in": "30d"}),
        )
        .await;
    assert_invalid_field(&r, "expires_in");
    let r = app
        .post(
            "/v1/orgs/acme/tokens",
            &admin_tok,
            json!({"name": "o2", "role": "viewer", "never_expires": true}),
        )
        .await;
    assert_invalid_field(&r, "never_expires");
    let (did, _) = app
        .deploy_token(&admin_tok, "web", json!({"name": "ci"}))
        .await;
    let shown = app.get(&format!("/v1/tokens/{did}"), &owner).await;
    assert!(millis_of(&shown.body["expires_at"]) <= expiry);
    // Rotating a deploy token it may manage: no later than itself either.
    let r = app.rotate(&admin_tok, &did, json!({})).await;
    assert!(millis_of(&r.body["expires_at"]) <= expiry);

    // No more rights: an owner token from an admin token is refused.
    let r = app
        .post(
            "/v1/orgs/acme/tokens",
            &admin_tok,
            json!({"name": "up", "role": "owner"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // And deploy tokens make no tokens at all.
    let (_, deploy) = app.deploy_token(&owner, "web", json!({"name": "d"})).await;
    let r = app
        .post("/v1/apps/web/tokens", &deploy, json!({"name": "x"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
}
