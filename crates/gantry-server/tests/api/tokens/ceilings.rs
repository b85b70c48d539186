//! A token never makes a longer-lived or stronger token than itself.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn personal_tokens_never_make_longer_lived_personal_tokens() {
    let Acme { app, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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
