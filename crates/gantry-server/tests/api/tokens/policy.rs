//! The instance's token policy: default and maximum lifetimes, tokens that never expire.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

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
    let Acme { app, owner, .. } = acme().await;
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
