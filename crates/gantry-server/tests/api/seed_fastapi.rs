//! seeds/000 — FastAPI Cloud "Deploy Tokens": deploy from CI without personal credentials, a
//! name and an expiry (1–365 days, default 90), the value shown once, a per-app list with
//! name / last used / expiration / status, regenerate (old value dead at once), delete (dead at
//! once, not recoverable), expired tokens fail and can be regenerated with a fresh expiry.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

fn artifact(tag: &str) -> Vec<u8> {
    format!("release artifact {tag}").into_bytes()
}

/// Creates a deploy token for `web` and returns the whole create answer.
async fn create(app: &TestApp, owner: &str, body: Value) -> Resp {
    let r = app.post("/v1/apps/web/tokens", owner, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r
}

#[tokio::test]
async fn deploy_token_deploys_from_ci_without_personal_credentials() {
    let Acme { app, owner, .. } = acme().await;
    let (id, raw) = app
        .deploy_token(&owner, "web", json!({"name": "github actions"}))
        .await;
    assert!(raw.starts_with("gtd_"), "{raw}");

    // `fastapi deploy` with FASTAPI_CLOUD_TOKEN and FASTAPI_CLOUD_APP_ID set: nothing else.
    let r = app
        .deploy(&raw, "web", artifact("1"), Some("3f2a9c1"), false)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["app"], "web");
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["label"], "3f2a9c1");
    assert_eq!(r.body["created_by"]["type"], "token");
    assert_eq!(r.body["created_by"]["id"], id.as_str());

    // The credential is not a person: whoami says so.
    let me = app.get("/v1/user", &raw).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["kind"], "deploy");
    assert_eq!(me.body["app"], "web");
    assert!(me.body["user"].is_null(), "{}", me.text);
}

#[tokio::test]
async fn token_and_app_id_are_all_a_ci_job_needs() {
    let Acme { app, owner, .. } = acme().await;
    let r = app
        .post("/v1/orgs/acme/apps", &owner, json!({"slug": "api"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (_, raw) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    // The app id in the URL picks the target; the token decides whether it may.
    assert_eq!(
        app.deploy(&raw, "web", artifact("a"), None, false)
            .await
            .status,
        201
    );
    let r = app.deploy(&raw, "api", artifact("b"), None, false).await;
    assert_error(&r, 404, "not_found");
    // Releases list of the app shows the pushed release.
    let list = items(&app.get("/v1/apps/web/deploys", &raw).await);
    assert_eq!(list.len(), 1);
}

#[tokio::test]
async fn default_expiration_is_90_days() {
    let Acme { app, owner, .. } = acme().await;
    let r = create(&app, &owner, json!({"name": "ci"})).await;
    let lifetime = millis_of(&r.body["expires_at"]) - millis_of(&r.body["created_at"]);
    assert_eq!(lifetime, 90 * DAY_MS, "{}", r.text);
    assert_eq!(r.body["status"], "active");
}

#[tokio::test]
async fn expiration_period_of_1_to_365_days_is_accepted() {
    let Acme { app, owner, .. } = acme().await;
    for days in [1i64, 7, 90, 365] {
        let r = create(
            &app,
            &owner,
            json!({"name": format!("{days} days"), "expires_in": format!("{days}d")}),
        )
        .await;
        let lifetime = millis_of(&r.body["expires_at"]) - millis_of(&r.body["created_at"]);
        assert_eq!(lifetime, days * DAY_MS, "{days}d: {}", r.text);
    }
}

#[tokio::test]
async fn token_value_shown_only_once() {
    let Acme { app, owner, .. } = acme().await;
    let r = create(&app, &owner, json!({"name": "ci"})).await;
    let raw = raw_of(&r);
    let id = id_of(&r);
    assert_eq!(raw.len(), 40);
    assert_eq!(r.body["prefix"], &raw[..12]);

    // Use it once so that every field is filled in, then read it back every way there is.
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200);
    let reads = [
        app.get(&format!("/v1/tokens/{id}"), &owner).await,
        app.get("/v1/apps/web/tokens", &owner).await,
        app.get("/v1/orgs/acme/tokens", &owner).await,
        app.get("/v1/tokens", &owner).await,
        app.get("/v1/tokens?all_users=true", &app.admin_token).await,
        app.patch(
            &format!("/v1/tokens/{id}"),
            &owner,
            json!({"name": "ci renamed"}),
        )
        .await,
        app.get("/v1/audit", &app.admin_token).await,
    ];
    for read in &reads {
        assert_eq!(read.status, 200, "{}", read.text);
        assert_no_secret(read, &raw);
    }
    assert!(reads[0].body.get("token").is_none(), "{}", reads[0].text);
    for item in items(&reads[1]) {
        assert!(
            item.get("token").is_none(),
            "a listed token carries its value: {item}"
        );
    }
    // Revoking answers with the view, not the value.
    let revoked = app.revoke(&owner, &id).await;
    assert_no_secret(&revoked, &raw);
    assert!(
        revoked.body["token"].get("token").is_none(),
        "{}",
        revoked.text
    );
}

#[tokio::test]
async fn lost_token_can_be_regenerated() {
    let Acme { app, owner, .. } = acme().await;
    let r = create(&app, &owner, json!({"name": "ci"})).await;
    let (id, old) = (id_of(&r), raw_of(&r));
    // The value is lost: regenerate the same token instead of making a new one.
    let rotated = app.rotate(&owner, &id, json!({})).await;
    let new = raw_of(&rotated);
    assert_ne!(new, old);
    assert_eq!(rotated.body["id"], id.as_str());
    assert!(new.starts_with("gtd_"));
    assert_eq!(
        app.deploy(&new, "web", artifact("x"), None, false)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn lost_token_can_be_replaced_by_a_new_token() {
    let Acme { app, owner, .. } = acme().await;
    let (first, _) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let r = create(&app, &owner, json!({"name": "ci"})).await;
    assert_ne!(
        id_of(&r),
        first,
        "a second token with the same name is a new token"
    );
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    assert_eq!(which_of(&list, &[&first, &id_of(&r)]).len(), 2);
}

#[tokio::test]
async fn regenerate_invalidates_old_value_immediately() {
    let Acme { app, owner, .. } = acme().await;
    let (id, old) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    assert_eq!(
        app.deploy(&old, "web", artifact("1"), None, false)
            .await
            .status,
        201
    );

    let new = raw_of(&app.rotate(&owner, &id, json!({})).await);

    // No clock movement at all: the old value is dead on the very next request.
    let r = app.deploy(&old, "web", artifact("2"), None, false).await;
    assert_unauthorized(&r, "invalid_token");
    assert_no_secret(&r, &old);
    assert_eq!(
        app.deploy(&new, "web", artifact("3"), None, false)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn regenerate_keeps_the_same_entry_in_the_list() {
    let Acme { app, owner, .. } = acme().await;
    let (id, _) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let rotated = app.rotate(&owner, &id, json!({})).await;
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["name"], "ci");
    assert!(list[0]["rotated_at"].is_string(), "{}", list[0]);
    assert_eq!(list[0]["prefix"], rotated.body["prefix"]);
}

#[tokio::test]
async fn list_shows_name_last_used_expiration_and_status() {
    let Acme { app, owner, .. } = acme().await;
    let (used, raw) = app
        .deploy_token(&owner, "web", json!({"name": "production deploys"}))
        .await;
    let (unused, _) = app
        .deploy_token(&owner, "web", json!({"name": "staging deploys"}))
        .await;
    assert_eq!(
        app.deploy(&raw, "web", artifact("1"), None, false)
            .await
            .status,
        201
    );
    let deployed_at = app.now_millis();

    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    let u = find_id(&list, &used).expect("used token listed");
    assert_eq!(u["name"], "production deploys");
    assert_eq!(millis_of(&u["last_used_at"]), deployed_at, "{u}");
    assert!(u["expires_at"].is_string(), "{u}");
    assert_eq!(u["status"], "active");
    let n = find_id(&list, &unused).expect("unused token listed");
    assert_eq!(n["name"], "staging deploys");
    assert!(n["last_used_at"].is_null(), "{n}");
    assert!(n["expires_at"].is_string(), "{n}");
    assert_eq!(n["status"], "active");
}

#[tokio::test]
async fn last_used_moves_with_each_deployment() {
    let Acme { app, owner, .. } = acme().await;
    let (id, raw) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    assert_eq!(
        app.deploy(&raw, "web", artifact("1"), None, false)
            .await
            .status,
        201
    );
    let first = app.now_millis();
    app.advance(Duration::from_secs(3 * 3600));
    assert_eq!(
        app.deploy(&raw, "web", artifact("2"), None, false)
            .await
            .status,
        201
    );
    let second = app.now_millis();
    assert_eq!(second - first, 3 * HOUR_MS);

    let v = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(millis_of(&v.body["last_used_at"]), second, "{}", v.text);
    // Written to the database, it still reads the same.
    app.flush_usage().await;
    let v = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(millis_of(&v.body["last_used_at"]), second, "{}", v.text);
    assert_eq!(v.body["last_used_ip"], "127.0.0.1");
}

#[tokio::test]
async fn last_used_on_the_node_is_exact_to_ten_seconds() {
    let Acme { app, owner, .. } = acme().await;
    let (id, raw) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let last_used = || async {
        let v = app.get(&format!("/v1/tokens/{id}"), &owner).await;
        millis_of(&v.body["last_used_at"])
    };
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200);
    let first = app.now_millis();
    assert_eq!(last_used().await, first);

    // A hot token is noted (on a warm node) once per ten seconds, not on every request: what
    // the node shows is never more than that behind.
    app.advance(Duration::from_secs(9));
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200);
    let shown = last_used().await;
    assert!(
        shown == first || shown == first + 9_000,
        "{shown} vs {first}"
    );
    app.advance(Duration::from_secs(1));
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200);
    assert_eq!(last_used().await, first + 10_000);

    // What is noted reaches the database.
    app.flush_usage().await;
    assert_eq!(last_used().await, first + 10_000);
}

#[tokio::test]
async fn deployments_using_an_expired_token_fail() {
    let Acme { app, owner, .. } = acme().await;
    let (_, raw) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    app.advance(90 * DAY - Duration::from_secs(1));
    assert_eq!(
        app.deploy(&raw, "web", artifact("1"), None, false)
            .await
            .status,
        201
    );
    app.advance(Duration::from_secs(1));
    let r = app.deploy(&raw, "web", artifact("2"), None, false).await;
    assert_unauthorized(&r, "token_expired");
    assert!(r
        .header("www-authenticate")
        .contains("error=\"invalid_token\""));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("expired"),
        "{}",
        r.text
    );
    assert_no_secret(&r, &raw);
    // Nothing was recorded by the refused push.
    assert_eq!(
        items(&app.get("/v1/apps/web/deploys", &owner).await).len(),
        1
    );
}

#[tokio::test]
async fn expired_token_shows_expired_and_can_be_regenerated() {
    let Acme { app, owner, .. } = acme().await;
    let (id, old) = app
        .deploy_token(&owner, "web", json!({"name": "ci", "expires_in": "30d"}))
        .await;
    app.advance(31 * DAY);

    // The dashboard shows it as Expired (and still lists it: expired is not revoked).
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    assert_eq!(
        find_id(&list, &id).expect("expired token listed")["status"],
        "expired"
    );
    assert_eq!(
        app.get(&format!("/v1/tokens/{id}"), &owner).await.body["status"],
        "expired"
    );

    // No need to create a new one: regenerate it.
    let rotated = app.rotate(&owner, &id, json!({})).await;
    assert_eq!(rotated.body["status"], "active");
    let new = raw_of(&rotated);
    assert_eq!(
        app.deploy(&new, "web", artifact("1"), None, false)
            .await
            .status,
        201
    );
    assert_unauthorized(&app.get("/v1/apps/web", &old).await, "invalid_token");
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    assert_eq!(
        find_id(&list, &id).expect("still listed")["status"],
        "active"
    );
}

#[tokio::test]
async fn regenerating_an_expired_token_gives_a_fresh_expiration() {
    let Acme { app, owner, .. } = acme().await;
    let (id, _) = app
        .deploy_token(&owner, "web", json!({"name": "ci", "expires_in": "7d"}))
        .await;
    app.advance(40 * DAY);
    let rotated = app.rotate(&owner, &id, json!({})).await;
    let now = app.now_millis();
    assert_eq!(millis_of(&rotated.body["rotated_at"]), now);
    // A fresh period of the same length, counted from the regeneration.
    assert_eq!(
        millis_of(&rotated.body["expires_at"]),
        now + 7 * DAY_MS,
        "{}",
        rotated.text
    );
    // And it can be given a different length while at it.
    let again = app.rotate(&owner, &id, json!({"expires_in": "365d"})).await;
    assert_eq!(
        millis_of(&again.body["expires_at"]),
        now + 365 * DAY_MS,
        "{}",
        again.text
    );
}

#[tokio::test]
async fn deleted_tokens_are_immediately_invalidated() {
    let Acme { app, owner, .. } = acme().await;
    let (id, raw) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    assert_eq!(
        app.deploy(&raw, "web", artifact("1"), None, false)
            .await
            .status,
        201
    );
    let r = app.revoke(&owner, &id).await;
    assert_eq!(r.body["already_revoked"], false);
    assert_eq!(r.body["token"]["status"], "revoked");
    assert!(r.body["token"]["revoked_at"].is_string(), "{}", r.text);
    let r = app.deploy(&raw, "web", artifact("2"), None, false).await;
    assert_unauthorized(&r, "token_revoked");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("revoked"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn deleted_token_cannot_be_recovered() {
    let Acme { app, owner, .. } = acme().await;
    let (id, raw) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    app.revoke(&owner, &id).await;

    // Regenerating is no way back.
    let r = app
        .post(&format!("/v1/tokens/{id}/rotate"), &owner, json!({}))
        .await;
    assert_error(&r, 409, "token_revoked");
    // Neither is time, nor a rename.
    app.advance(400 * DAY);
    let r = app
        .patch(
            &format!("/v1/tokens/{id}"),
            &owner,
            json!({"name": "ci again"}),
        )
        .await;
    assert!(r.status == 200 || r.status == 409, "{}", r.text);
    let r = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(r.body["status"], "revoked", "{}", r.text);
    assert_unauthorized(&app.get("/v1/apps/web", &raw).await, "token_revoked");
    // Gone from the list.
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    assert!(find_id(&list, &id).is_none(), "{list:?}");
}

#[tokio::test]
async fn expiring_tokens_can_be_found_before_they_break_deploys() {
    // "Consider setting calendar reminders to rotate tokens before they expire."
    let Acme { app, owner, .. } = acme().await;
    let (soon, _) = app
        .deploy_token(&owner, "web", json!({"name": "soon", "expires_in": "5d"}))
        .await;
    let (later, _) = app
        .deploy_token(&owner, "web", json!({"name": "later"}))
        .await;
    let list = items(
        &app.get("/v1/apps/web/tokens?expiring_within=7d", &owner)
            .await,
    );
    assert_eq!(which_of(&list, &[&soon, &later]), vec![soon.clone()]);
    // Rotating it ahead of time takes it off the list.
    app.rotate(&owner, &soon, json!({"expires_in": "90d"}))
        .await;
    let list = items(
        &app.get("/v1/apps/web/tokens?expiring_within=7d", &owner)
            .await,
    );
    assert!(which_of(&list, &[&soon, &later]).is_empty(), "{list:?}");
}

#[tokio::test]
async fn app_tokens_page_lists_only_that_apps_tokens() {
    let Acme { app, owner, .. } = acme().await;
    let r = app
        .post("/v1/orgs/acme/apps", &owner, json!({"slug": "api"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (web, _) = app
        .deploy_token(&owner, "web", json!({"name": "web ci"}))
        .await;
    let (api, _) = app
        .deploy_token(&owner, "api", json!({"name": "api ci"}))
        .await;
    let (org, _) = app.org_token(&owner, "acme", "operator").await;
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    assert_eq!(ids_of(&list), vec![web.clone()]);
    assert_eq!(list[0]["app"], "web");
    assert_eq!(list[0]["kind"], "deploy");
    let list = items(&app.get("/v1/apps/api/tokens", &owner).await);
    assert_eq!(which_of(&list, &[&web, &api, &org]), vec![api]);
}

#[tokio::test]
async fn creating_a_token_requires_a_name() {
    let Acme { app, owner, .. } = acme().await;
    let r = app
        .post("/v1/apps/web/tokens", &owner, json!({"expires_in": "90d"}))
        .await;
    assert_error(&r, 422, "invalid_body");
    assert_names_field(&r, "name");
    let r = app
        .post("/v1/apps/web/tokens", &owner, json!({"name": "   "}))
        .await;
    assert_invalid_field(&r, "name");
}
