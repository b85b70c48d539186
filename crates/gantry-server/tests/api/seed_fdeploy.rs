//! seeds/001 — fDeploy personal access tokens: tied to the user who created them and acting
//! with that user's roles; SHA-256 hashed, shown once; optional expiry (none = valid until
//! revoked); `Authorization: Bearer`; package upload with overwrite; a list with name, prefix,
//! status, created, expires, last used (when and from which IP); admins see and manage the
//! tokens of all users; revoked tokens are permanently dead; Active / Expired / Revoked.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

use std::time::Duration;

/// A member of `acme` with `role`: (user id, a fresh personal token).
async fn member_with_pat(app: &TestApp, owner: &str, email: &str, role: &str) -> (String, String) {
    let (id, session) = app.user(email).await;
    app.add_member(owner, "acme", &id, role).await;
    let (_, pat) = app
        .personal_token(&session, json!({"name": "ci pipeline"}))
        .await;
    (id, pat)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn personal_token_authenticates_as_its_user() {
    let app = spawn_app().await;
    let (uid, session) = app.user("alice@example.com").await;
    let (tid, pat) = app
        .personal_token(&session, json!({"name": "scripts"}))
        .await;
    assert!(pat.starts_with("gtp_"), "{pat}");
    let me = app.get("/v1/user", &pat).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["kind"], "user");
    assert_eq!(me.body["user"]["id"], uid.as_str());
    assert_eq!(me.body["user"]["email"], "alice@example.com");
    assert_eq!(me.body["token"]["id"], tid.as_str());
    assert_eq!(me.body["token"]["kind"], "personal");
    assert_no_secret(&me, &pat);
    let created = app.get(&format!("/v1/tokens/{tid}"), &pat).await;
    // The owner is named by id or email (the server shows the email).
    let owner = &created.body["user"];
    assert!(
        owner == uid.as_str() || owner == "alice@example.com",
        "{}",
        created.text
    );
    assert_eq!(created.body["created_by"]["type"], "user");
    assert_eq!(created.body["created_by"]["id"], uid.as_str());
}

#[tokio::test]
async fn personal_token_inherits_users_roles() {
    let Acme { app, owner, .. } = acme().await;
    let (_, viewer) = member_with_pat(&app, &owner, "viewer@acme.test", "viewer").await;
    let (_, operator) = member_with_pat(&app, &owner, "operator@acme.test", "operator").await;

    // The same role-based access control as a signed-in user.
    assert_eq!(app.get("/v1/apps/web", &viewer).await.status, 200);
    let r = app
        .deploy(&viewer, "web", b"pkg".to_vec(), None, false)
        .await;
    assert_forbidden(&r);
    let r = app
        .put("/v1/apps/web/env/MODE", &viewer, json!({"value": "x"}))
        .await;
    assert_forbidden(&r);

    assert_eq!(
        app.deploy(&operator, "web", b"pkg".to_vec(), None, false)
            .await
            .status,
        201
    );
    let r = app
        .put("/v1/apps/web/env/MODE", &operator, json!({"value": "x"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // An operator is not an admin: no tokens for the app.
    let r = app
        .post("/v1/apps/web/tokens", &operator, json!({"name": "x"}))
        .await;
    assert_forbidden(&r);
}

#[tokio::test]
async fn personal_token_follows_role_removal_on_next_request() {
    let Acme { app, owner, .. } = acme().await;
    let (uid, pat) = member_with_pat(&app, &owner, "operator@acme.test", "operator").await;
    assert_eq!(
        app.deploy(&pat, "web", b"one".to_vec(), None, false)
            .await
            .status,
        201
    );

    let r = app
        .delete(&format!("/v1/orgs/acme/members/{uid}"), &owner)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);

    // No cache, no re-login: the very next request sees the change.
    assert_error(&app.get("/v1/apps/web", &pat).await, 404, "not_found");
    let r = app.deploy(&pat, "web", b"two".to_vec(), None, false).await;
    assert_error(&r, 404, "not_found");
    assert_error(&app.get("/v1/orgs/acme", &pat).await, 404, "not_found");
    let orgs = items(&app.get("/v1/orgs", &pat).await);
    assert!(orgs.is_empty(), "{orgs:?}");
    // The token itself still works for what the user may still do.
    assert_eq!(app.get("/v1/user", &pat).await.status, 200);
}

#[tokio::test]
async fn personal_token_follows_role_change_on_next_request() {
    let Acme { app, owner, .. } = acme().await;
    let (uid, pat) = member_with_pat(&app, &owner, "operator@acme.test", "operator").await;
    assert_eq!(
        app.deploy(&pat, "web", b"one".to_vec(), None, false)
            .await
            .status,
        201
    );

    app.add_member(&owner, "acme", &uid, "viewer").await;
    assert_forbidden(&app.deploy(&pat, "web", b"two".to_vec(), None, false).await);
    assert_eq!(app.get("/v1/apps/web/deploys", &pat).await.status, 200);

    app.add_member(&owner, "acme", &uid, "admin").await;
    assert_eq!(
        app.deploy(&pat, "web", b"three".to_vec(), None, false)
            .await
            .status,
        201
    );
    let r = app
        .post("/v1/apps/web/tokens", &pat, json!({"name": "now allowed"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn disabled_user_token_refused() {
    let Acme { app, owner, .. } = acme().await;
    let (uid, pat) = member_with_pat(&app, &owner, "operator@acme.test", "operator").await;
    assert_eq!(app.get("/v1/user", &pat).await.status, 200);

    let r = app
        .patch(
            &format!("/v1/users/{uid}"),
            &app.admin_token,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["disabled"], true);

    let r = app.get("/v1/user", &pat).await;
    assert_unauthorized(&r, "user_disabled");
    assert_no_secret(&r, &pat);
    let r = app.deploy(&pat, "web", b"pkg".to_vec(), None, false).await;
    assert_unauthorized(&r, "user_disabled");
    // Nor can a disabled user get a fresh token by logging in.
    let r = app
        .anon(
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": "operator@acme.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_envelope(&r);

    // Enabled again, the (never revoked) token works again.
    let r = app
        .patch(
            &format!("/v1/users/{uid}"),
            &app.admin_token,
            json!({"disabled": false}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get("/v1/user", &pat).await.status, 200);
}

#[tokio::test]
async fn raw_token_shown_once_and_never_stored() {
    let Acme { app, owner, .. } = acme().await;
    let r = app
        .post("/v1/user/tokens", &owner, json!({"name": "deploy script"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let raw = r.body["token"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/v1/user", &raw).await.status, 200);
    app.flush_usage().await;

    for read in [
        app.get(&format!("/v1/tokens/{id}"), &owner).await,
        app.get("/v1/user/tokens", &owner).await,
        app.get("/v1/user/tokens", &raw).await,
        app.get("/v1/tokens?all_users=true", &app.admin_token).await,
    ] {
        assert_eq!(read.status, 200, "{}", read.text);
        assert_no_secret(&read, &raw);
    }

    // Only a hash is kept: the value is in no file of the data directory and no row.
    let stored = app.stored().await;
    assert!(!stored.is_empty(), "nothing stored?");
    for (place, bytes) in stored {
        assert!(
            !contains(&bytes, raw.as_bytes()),
            "raw token stored in {place}"
        );
        assert!(
            !contains(&bytes, &raw.as_bytes()[12..]),
            "token secret stored in {place}"
        );
    }
}

#[tokio::test]
async fn token_without_expiry_never_expires() {
    let Acme { app, owner, .. } = acme().await;
    let r = app
        .post(
            "/v1/user/tokens",
            &owner,
            json!({"name": "forever", "never_expires": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["expires_at"].is_null(), "{}", r.text);
    let raw = r.body["token"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();

    app.advance(3650 * DAY);
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200);
    let v = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(v.body["status"], "active");
    assert!(v.body["expires_at"].is_null());
    // Never in an "expiring soon" list.
    let soon = items(
        &app.get("/v1/user/tokens?expiring_within=3650d", &owner)
            .await,
    );
    assert!(find_id(&soon, &id).is_none(), "{soon:?}");

    // Valid until revoked.
    app.revoke(&owner, &id).await;
    assert_unauthorized(&app.get("/v1/apps/web", &raw).await, "token_revoked");
}

#[tokio::test]
async fn optional_expiration_date_is_honoured() {
    let Acme { app, owner, .. } = acme().await;
    let at = app.instant_in(30 * DAY);
    let r = app
        .post(
            "/v1/user/tokens",
            &owner,
            json!({"name": "until month end", "expires_at": at}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(millis_of(&r.body["expires_at"]), millis(&at));
    let raw = r.body["token"].as_str().unwrap().to_owned();

    app.advance(30 * DAY - Duration::from_secs(60));
    assert_eq!(app.get("/v1/user", &raw).await.status, 200);
    app.advance(Duration::from_secs(120));
    assert_unauthorized(&app.get("/v1/user", &raw).await, "token_expired");
}

#[tokio::test]
async fn bearer_header_authenticates_api_calls() {
    let Acme { app, owner, .. } = acme().await;
    let r = app
        .with_authorization(Method::GET, "/v1/apps/web", &format!("Bearer {owner}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // No credential at all.
    let r = app.anon(Method::GET, "/v1/apps/web", None).await;
    assert_unauthorized(&r, "unauthenticated");
    assert!(
        r.header("www-authenticate").contains("realm=\"gantry\""),
        "{:?}",
        r.headers
    );

    // Another scheme is not a bearer token.
    let r = app
        .with_authorization(Method::GET, "/v1/apps/web", "Basic b3duZXI6cGFzcw==")
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_envelope(&r);
    assert!(r.header("www-authenticate").starts_with("Bearer"));

    // A token that is not one.
    let r = app
        .with_authorization(Method::GET, "/v1/apps/web", "Bearer fdp_your_token_here")
        .await;
    assert_unauthorized(&r, "invalid_token");
    assert!(r
        .header("www-authenticate")
        .contains("error=\"invalid_token\""));
    assert!(!r.text.contains("fdp_your_token_here"), "{}", r.text);
}

#[tokio::test]
async fn upload_with_overwrite_replaces_label() {
    let Acme { app, owner, .. } = acme().await;
    let (_, pat) = member_with_pat(&app, &owner, "ci@acme.test", "operator").await;

    let first = app
        .deploy(
            &pat,
            "web",
            b"package 1.0.0 build A".to_vec(),
            Some("1.0.0"),
            false,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["version"], 1);
    let second = app
        .deploy(&pat, "web", b"package 1.1.0".to_vec(), Some("1.1.0"), false)
        .await;
    assert_eq!(second.body["version"], 2, "{}", second.text);

    // Same label again without OverWriteExisting: refused, nothing changes.
    let dup = app
        .deploy(
            &pat,
            "web",
            b"package 1.0.0 build B".to_vec(),
            Some("1.0.0"),
            false,
        )
        .await;
    assert_error(&dup, 409, "duplicate_label");

    // With overwrite: the release carrying the label is replaced in place.
    let bytes = b"package 1.0.0 build C, rebuilt".to_vec();
    let over = app
        .deploy(&pat, "web", bytes.clone(), Some("1.0.0"), true)
        .await;
    assert_eq!(over.status, 200, "{}", over.text);
    assert_eq!(over.body["version"], 1);
    assert_eq!(over.body["label"], "1.0.0");
    assert_eq!(over.body["artifact_size"], bytes.len() as u64);
    assert_ne!(over.body["artifact_sha256"], first.body["artifact_sha256"]);

    let list = items(&app.get("/v1/apps/web/deploys", &pat).await);
    assert_eq!(list.len(), 2, "{list:?}");
    let one = app.get("/v1/apps/web/deploys/1", &pat).await;
    assert_eq!(one.body["artifact_sha256"], over.body["artifact_sha256"]);
    let blob = app.get("/v1/apps/web/deploys/1/artifact", &pat).await;
    assert_eq!(blob.status, 200);
    assert_eq!(blob.text.as_bytes(), &bytes[..]);

    // Overwrite of a label that does not exist yet is simply a new release.
    let fresh = app
        .deploy(&pat, "web", b"package 2.0.0".to_vec(), Some("2.0.0"), true)
        .await;
    assert!(fresh.status == 201 || fresh.status == 200, "{}", fresh.text);
    assert_eq!(fresh.body["version"], 3, "{}", fresh.text);
}

#[tokio::test]
async fn list_shows_name_prefix_status_created_expires_last_used() {
    let Acme { app, owner, .. } = acme().await;
    let (id, raw) = app
        .personal_token(&owner, json!({"name": "nightly export"}))
        .await;
    let created_at = app.now_millis();
    app.advance(Duration::from_secs(600));
    assert_eq!(app.get("/v1/user", &raw).await.status, 200);

    let list = items(&app.get("/v1/user/tokens", &owner).await);
    let t = find_id(&list, &id).expect("token listed");
    assert_eq!(t["name"], "nightly export");
    assert_eq!(t["kind"], "personal");
    assert_eq!(t["prefix"], &raw[..12]);
    assert!(t["prefix"].as_str().unwrap().starts_with("gtp_"));
    assert_eq!(t["status"], "active");
    assert_eq!(millis_of(&t["created_at"]), created_at);
    assert_eq!(millis_of(&t["expires_at"]), created_at + 90 * DAY_MS);
    assert_eq!(millis_of(&t["last_used_at"]), created_at + 600_000);
    assert_eq!(t["last_used_ip"], "127.0.0.1");
    for field in ["description", "rotated_at", "revoked_at"] {
        assert!(t.get(field).is_some(), "`{field}` missing from {t}");
    }
}

#[tokio::test]
async fn list_shows_last_used_time_and_ip() {
    let Acme { app, owner, .. } = acme().await;
    let (id, raw) = app.personal_token(&owner, json!({"name": "curl"})).await;
    let v = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert!(
        v.body["last_used_at"].is_null() && v.body["last_used_ip"].is_null(),
        "{}",
        v.text
    );

    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200);
    let first = app.now_millis();
    let list = items(&app.get("/v1/user/tokens", &owner).await);
    let t = find_id(&list, &id).unwrap();
    assert_eq!(millis_of(&t["last_used_at"]), first);
    assert_eq!(t["last_used_ip"], "127.0.0.1");

    app.advance(Duration::from_secs(3600));
    app.flush_usage().await;
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200);
    app.flush_usage().await;
    let list = items(&app.get("/v1/user/tokens", &owner).await);
    let t = find_id(&list, &id).unwrap();
    assert_eq!(millis_of(&t["last_used_at"]), first + HOUR_MS);
    assert_eq!(t["last_used_ip"], "127.0.0.1");

    // A refused request is not a use.
    app.revoke(&owner, &id).await;
    app.advance(Duration::from_secs(3600));
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 401);
    app.flush_usage().await;
    let v = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(
        millis_of(&v.body["last_used_at"]),
        first + HOUR_MS,
        "{}",
        v.text
    );
}

#[tokio::test]
async fn status_is_active_expired_or_revoked() {
    let Acme { app, owner, .. } = acme().await;
    let (active, _) = app.personal_token(&owner, json!({"name": "active"})).await;
    let (expired, expired_raw) = app
        .personal_token(&owner, json!({"name": "expired", "expires_in": "1d"}))
        .await;
    let (revoked, revoked_raw) = app.personal_token(&owner, json!({"name": "revoked"})).await;
    app.revoke(&owner, &revoked).await;
    app.advance(2 * DAY);

    let list = items(&app.get("/v1/user/tokens?status=all", &owner).await);
    for (id, status) in [
        (&active, "active"),
        (&expired, "expired"),
        (&revoked, "revoked"),
    ] {
        let t = find_id(&list, id).unwrap_or_else(|| panic!("{status} token not listed"));
        assert_eq!(t["status"], status, "{t}");
    }
    assert!(find_id(&list, &revoked).unwrap()["revoked_at"].is_string());
    // Expired: no longer accepted. Revoked: permanently disabled.
    assert_unauthorized(&app.get("/v1/user", &expired_raw).await, "token_expired");
    assert_unauthorized(&app.get("/v1/user", &revoked_raw).await, "token_revoked");
}

#[tokio::test]
async fn admin_lists_tokens_of_all_users() {
    let Acme { app, owner, .. } = acme().await;
    let (_, alice) = app.user("alice@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let (a, _) = app
        .personal_token(&alice, json!({"name": "alice script"}))
        .await;
    let (b, _) = app
        .personal_token(&bob, json!({"name": "bob script"}))
        .await;
    let (d, _) = app
        .deploy_token(&owner, "web", json!({"name": "web ci"}))
        .await;
    let (o, _) = app.org_token(&owner, "acme", "viewer").await;

    // "Show all users".
    let all = items(&app.get("/v1/tokens?all_users=true", &app.admin_token).await);
    assert_eq!(which_of(&all, &[&a, &b, &d, &o]).len(), 4, "{all:?}");
    let alice_item = find_id(&all, &a).unwrap();
    assert_eq!(alice_item["kind"], "personal");
    assert!(alice_item["user"].is_string(), "{alice_item}");

    // Not for everybody.
    assert_forbidden(&app.get("/v1/tokens?all_users=true", &alice).await);
    assert_forbidden(&app.get("/v1/tokens?all_users=true", &owner).await);
    // A user sees their own.
    let mine = items(&app.get("/v1/user/tokens", &alice).await);
    assert_eq!(which_of(&mine, &[&a, &b, &d, &o]), vec![a.clone()]);
    let mine = items(&app.get("/v1/tokens", &alice).await);
    assert_eq!(which_of(&mine, &[&a, &b, &d, &o]), vec![a.clone()]);
}

#[tokio::test]
async fn admin_revokes_any_users_token() {
    let app = spawn_app().await;
    let (_, alice) = app.user("alice@example.com").await;
    let (id, raw) = app
        .personal_token(&alice, json!({"name": "alice script"}))
        .await;
    assert_eq!(app.get("/v1/user", &raw).await.status, 200);

    let v = app.get(&format!("/v1/tokens/{id}"), &app.admin_token).await;
    assert_eq!(v.status, 200, "{}", v.text);
    let r = app
        .patch(
            &format!("/v1/tokens/{id}"),
            &app.admin_token,
            json!({"description": "seen by admin"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.revoke(&app.admin_token, &id).await;
    assert_eq!(r.body["already_revoked"], false);
    assert_unauthorized(&app.get("/v1/user", &raw).await, "token_revoked");
}

#[tokio::test]
async fn users_revoke_their_own_tokens_only() {
    let app = spawn_app().await;
    let (_, alice) = app.user("alice@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let (mine, mine_raw) = app.personal_token(&alice, json!({"name": "mine"})).await;
    let (theirs, theirs_raw) = app.personal_token(&bob, json!({"name": "theirs"})).await;

    // Bob's token does not exist as far as Alice can tell.
    assert_error(
        &app.get(&format!("/v1/tokens/{theirs}"), &alice).await,
        404,
        "not_found",
    );
    assert_error(
        &app.delete(&format!("/v1/tokens/{theirs}"), &alice).await,
        404,
        "not_found",
    );
    let r = app
        .post(&format!("/v1/tokens/{theirs}/rotate"), &alice, json!({}))
        .await;
    assert_error(&r, 404, "not_found");
    assert_eq!(app.get("/v1/user", &theirs_raw).await.status, 200);

    app.revoke(&alice, &mine).await;
    assert_unauthorized(&app.get("/v1/user", &mine_raw).await, "token_revoked");
    // A token may even revoke itself: the session ends there.
    let (own, own_raw) = app.personal_token(&bob, json!({"name": "self"})).await;
    let r = app.delete(&format!("/v1/tokens/{own}"), &own_raw).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_unauthorized(&app.get("/v1/user", &own_raw).await, "token_revoked");
}

#[tokio::test]
async fn revoked_token_cannot_be_reused() {
    let Acme { app, owner, .. } = acme().await;
    let (id, raw) = app.personal_token(&owner, json!({"name": "x"})).await;
    app.revoke(&owner, &id).await;
    for _ in 0..3 {
        assert_unauthorized(&app.get("/v1/apps/web", &raw).await, "token_revoked");
        app.advance(365 * DAY);
    }
    assert_error(
        &app.post(&format!("/v1/tokens/{id}/rotate"), &owner, json!({}))
            .await,
        409,
        "token_revoked",
    );
    assert_eq!(
        app.get(&format!("/v1/tokens/{id}"), &owner).await.body["status"],
        "revoked"
    );
}

#[tokio::test]
async fn login_issues_a_personal_token() {
    let app = spawn_app().await;
    let uid = app.create_user("carol@example.com").await;
    let r = app
        .anon(
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": "carol@example.com", "password": PASSWORD, "token_name": "carol laptop"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["kind"], "personal");
    assert_eq!(r.body["name"], "carol laptop");
    let owner = &r.body["user"];
    assert!(
        owner == uid.as_str() || owner == "carol@example.com",
        "{}",
        r.text
    );
    let raw = r.body["token"].as_str().unwrap().to_owned();
    assert!(raw.starts_with("gtp_"));
    assert!(
        !r.text.contains(PASSWORD),
        "the password is echoed: {}",
        r.text
    );
    assert_eq!(
        app.get("/v1/user", &raw).await.body["user"]["email"],
        "carol@example.com"
    );

    let r = app
        .anon(
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": "carol@example.com", "password": "not the password at all"})),
        )
        .await;
    assert_unauthorized_or_plain(&r);
    assert_eq!(r.code(), "invalid_credentials", "{}", r.text);
    assert!(!r.text.contains("not the password at all"));
    // An unknown user gets exactly the same answer.
    let r2 = app
        .anon(
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": "nobody@example.com", "password": "not the password at all"})),
        )
        .await;
    assert_eq!(r2.status, 401);
    assert_eq!(r2.code(), "invalid_credentials");
    assert_eq!(r2.body["error"]["message"], r.body["error"]["message"]);
}

/// A failed login is a 401 with the envelope (a challenge header is allowed but not required).
fn assert_unauthorized_or_plain(r: &Resp) {
    assert_eq!(r.status, 401, "{}", r.text);
    assert_envelope(r);
}

#[tokio::test]
async fn changed_password_takes_effect_at_next_login() {
    let app = spawn_app().await;
    let (_, session) = app.user("dave@example.com").await;
    let new_password = "a much better passphrase";
    let r = app
        .put(
            "/v1/user/password",
            &session,
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains(new_password));
    let old = app
        .anon(
            Method::POST,
            "/v1/auth/login",
            Some(json!({"email": "dave@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(old.status, 401, "{}", old.text);
    assert_eq!(app.login("dave@example.com", new_password).await.len(), 40);
}
