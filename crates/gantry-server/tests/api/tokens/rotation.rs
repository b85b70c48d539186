//! Rotation: grace periods, the new value, what a rotation keeps and what it refuses.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn grace_period_keeps_old_value_until_it_ends() {
    let Acme { app, owner, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
    let (id, old) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    app.rotate(&owner, &id, json!({"grace_period": "0s"})).await;
    assert_unauthorized(&app.get("/v1/apps/web", &old).await, "invalid_token");
}

#[tokio::test]
async fn revoking_during_grace_stops_both_values() {
    let Acme { app, owner, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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

#[tokio::test]
async fn a_deploy_token_made_with_rotate_self_renews_itself_and_nothing_else() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    app.org_with_app(&admin, "acme", "web").await;
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &admin,
            json!({"name": "ci", "expires_in": "1d", "rotate_self": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["rotate_self"], true);
    let old = r.body["token"].as_str().unwrap().to_owned();
    let old_expiry = millis_of(&r.body["expires_at"]);
    // It renews itself for longer than it had: the instance policy bounds it, not its past.
    let r = app
        .post(
            "/v1/tokens/self/rotate",
            &old,
            json!({"expires_in": "30d", "grace_period": "1h"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.body["token"].as_str().unwrap().to_owned();
    assert!(
        millis_of(&r.body["expires_at"]) > old_expiry + 28 * DAY_MS,
        "{}",
        r.text
    );
    assert_eq!(app.get("/v1/apps/web", &new).await.status, 200);
    assert_eq!(
        app.get("/v1/apps/web", &old).await.status,
        200,
        "within the grace"
    );
    app.advance(2 * HOUR);
    assert_eq!(app.get("/v1/apps/web", &old).await.status, 401);
    // Nothing else of token management.
    assert_eq!(
        app.post("/v1/apps/web/tokens", &new, json!({"name": "x"}))
            .await
            .status,
        403
    );
    assert_eq!(app.get("/v1/apps/web/tokens", &new).await.status, 403);
    let id = r.body["id"].as_str().unwrap();
    assert_eq!(
        app.post(&format!("/v1/tokens/{id}/rotate"), &new, json!({}))
            .await
            .status,
        403
    );
    // Other tokens may not: a deploy token made without it, org and personal tokens.
    let (_, plain) = app
        .deploy_token(&admin, "web", json!({"name": "plain"}))
        .await;
    let (_, org) = app.org_token(&admin, "acme", "admin").await;
    for t in [&plain, &org, &admin] {
        let r = app.post("/v1/tokens/self/rotate", t, json!({})).await;
        assert_forbidden(&r);
    }
    let r = app
        .post(
            "/v1/orgs/acme/tokens",
            &admin,
            json!({"name": "x", "role": "viewer", "rotate_self": true}),
        )
        .await;
    assert_invalid_field(&r, "rotate_self");
    // Revoked, it cannot come back by rotating itself.
    app.revoke(&admin, id).await;
    assert_eq!(
        app.post("/v1/tokens/self/rotate", &new, json!({}))
            .await
            .status,
        401
    );
}
