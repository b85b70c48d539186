//! seeds/002 and seeds/004 — Astronomer Deployment API tokens: programmatic access to one
//! Deployment (push code, update environment variables, update the deployment's configuration
//! "as code", inspect it); the permissions of an Operator but only for deployment-level
//! operations (no alert rules: those belong to the whole workspace); not scoped to a user
//! role; name, optional description, expiration in days; the value shown once; edit name and
//! description; delete (not recoverable); rotate (same name, description and permissions, new
//! value, the previous value stops working).

use crate::helpers::*;
use serde_json::json;
use std::time::Duration;

/// A Deployment API token for `web`: (id, raw).
async fn web_token(app: &TestApp, owner: &str) -> (String, String) {
    app.deploy_token(
        owner,
        "web",
        json!({"name": "astro ci", "description": "GitHub Actions deploys", "expires_in": "30d"}),
    )
    .await
}

fn alert() -> serde_json::Value {
    json!({"name": "deploy failures", "event": "deploy", "target": "https://hooks.example.com/astro"})
}

#[tokio::test]
async fn deployment_token_pushes_code() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (id, raw) = web_token(&app, &owner).await;
    let r = app
        .deploy_form(
            Some(raw.as_str()),
            "web",
            b"dags bundle".to_vec(),
            &[("label", "dags-42"), ("message", "daily ETL")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["label"], "dags-42");
    assert_eq!(r.body["message"], "daily ETL");
    assert_eq!(r.body["artifact_size"], 11);
    assert_eq!(r.body["artifact_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(r.body["created_by"]["type"], "token");
    assert_eq!(r.body["created_by"]["id"], id.as_str());
    assert_eq!(r.body["created_by"]["name"], "astro ci");
    let blob = app.get("/v1/apps/web/deploys/1/artifact", &raw).await;
    assert_eq!(blob.status, 200);
    assert_eq!(blob.text, "dags bundle");
}

#[tokio::test]
async fn deployment_token_updates_environment_variables() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (id, raw) = web_token(&app, &owner).await;

    let r = app
        .put(
            "/v1/apps/web/env/AIRFLOW__CORE__PARALLELISM",
            &raw,
            json!({"value": "32"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["key"], "AIRFLOW__CORE__PARALLELISM");
    assert_eq!(r.body["value"], "32");
    assert_eq!(r.body["secret"], false);
    assert_eq!(r.body["updated_by"]["type"], "token");
    assert_eq!(r.body["updated_by"]["id"], id.as_str());

    let secret = "postgres://etl:hunter2hunter2@db.internal/etl";
    let r = app
        .put(
            "/v1/apps/web/env/DATABASE_URL",
            &raw,
            json!({"value": secret, "secret": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["value"].is_null(),
        "a secret echoed back: {}",
        r.text
    );
    assert!(!r.text.contains(secret));

    // Changing a value replaces it.
    let r = app
        .put(
            "/v1/apps/web/env/AIRFLOW__CORE__PARALLELISM",
            &raw,
            json!({"value": "64"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    for reader in [&raw, &owner] {
        let r = app.get("/v1/apps/web/env", reader).await;
        let vars = items(&r);
        assert!(
            !r.text.contains(secret),
            "a secret value is readable: {}",
            r.text
        );
        let p = vars
            .iter()
            .find(|v| v["key"] == "AIRFLOW__CORE__PARALLELISM")
            .unwrap();
        assert_eq!(p["value"], "64");
        let d = vars.iter().find(|v| v["key"] == "DATABASE_URL").unwrap();
        assert_eq!(d["secret"], true);
        assert!(d["value"].is_null(), "{d}");
        assert_eq!(vars.len(), 2);
    }

    let r = app
        .delete("/v1/apps/web/env/AIRFLOW__CORE__PARALLELISM", &raw)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .delete("/v1/apps/web/env/AIRFLOW__CORE__PARALLELISM", &raw)
        .await;
    assert_error(&r, 404, "not_found");
    assert_eq!(items(&app.get("/v1/apps/web/env", &raw).await).len(), 1);
}

#[tokio::test]
async fn deployment_token_updates_deployment_configuration() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (_, raw) = web_token(&app, &owner).await;

    // Never set: an empty document, version 0.
    let r = app.get("/v1/apps/web/config", &raw).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({}));
    assert_eq!(r.header("x-gantry-config-version"), "0");

    let v1 = json!({"deployment": {"executor": "celery", "workers": {"min": 1, "max": 10}}});
    let r = app.put("/v1/apps/web/config", &raw, v1.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, v1);
    assert_eq!(r.header("x-gantry-config-version"), "1");

    let v2 = json!({"deployment": {"executor": "kubernetes", "workers": {"min": 2, "max": 20}}});
    let r = app.put("/v1/apps/web/config", &raw, v2.clone()).await;
    assert_eq!(r.header("x-gantry-config-version"), "2", "{}", r.text);

    let r = app.get("/v1/apps/web/config", &owner).await;
    assert_eq!(r.body, v2);
    assert_eq!(r.header("x-gantry-config-version"), "2");
    let r = app.get("/v1/apps/web/config?version=1", &raw).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, v1);
    assert_eq!(r.header("x-gantry-config-version"), "1");
    assert_error(
        &app.get("/v1/apps/web/config?version=3", &raw).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn deploy_token_cannot_create_alert_rule() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (_, raw) = web_token(&app, &owner).await;
    let r = app.post("/v1/orgs/acme/alerts", &raw, alert()).await;
    assert_forbidden(&r);
    assert!(items(&app.get("/v1/orgs/acme/alerts", &owner).await).is_empty());

    // Unlike a Workspace Operator, who can.
    let (uid, session) = app.user("operator@acme.test").await;
    app.add_member(&owner, "acme", &uid, "operator").await;
    let r = app.post("/v1/orgs/acme/alerts", &session, alert()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["event"], "deploy");
    assert_eq!(r.body["org"], "acme");
    let alert_id = r.body["id"].as_str().unwrap().to_owned();

    // Nor may the deploy token remove one.
    let r = app
        .delete(&format!("/v1/orgs/acme/alerts/{alert_id}"), &raw)
        .await;
    assert_forbidden(&r);
    assert_eq!(
        items(&app.get("/v1/orgs/acme/alerts", &owner).await).len(),
        1
    );
    let r = app
        .delete(&format!("/v1/orgs/acme/alerts/{alert_id}"), &session)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
}

#[tokio::test]
async fn deploy_token_has_operator_powers_only_for_deployment_level_operations() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (_, raw) = web_token(&app, &owner).await;
    // Deployment-level operations allowed; workspace-level ones (apps, members, tokens,
    // alert rules, the audit log) refused; org-wide lists show it nothing (DESIGN §2).
    assert_deploy_scope(&app, &raw, "acme", "web", &["api"]).await;
    // The app is still there.
    assert_eq!(app.get("/v1/apps/web", &owner).await.status, 200);
}

#[tokio::test]
async fn deployment_token_is_not_scoped_to_a_user_role() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (admin_id, admin) = app.user("admin@acme.test").await;
    app.add_member(&owner, "acme", &admin_id, "admin").await;
    let r = app
        .post("/v1/apps/web/tokens", &admin, json!({"name": "ci"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["role"].is_null(), "{}", r.text);
    assert!(r.body["user"].is_null(), "{}", r.text);
    let raw = r.body["token"].as_str().unwrap().to_owned();

    // A role cannot be given to it.
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &owner,
            json!({"name": "x", "role": "viewer"}),
        )
        .await;
    assert_invalid_field(&r, "role");

    // The creator's role changing, or the creator leaving, changes nothing.
    app.add_member(&owner, "acme", &admin_id, "viewer").await;
    assert_eq!(
        app.deploy(&raw, "web", b"1".to_vec(), None, false)
            .await
            .status,
        201
    );
    let r = app
        .delete(&format!("/v1/orgs/acme/members/{admin_id}"), &owner)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.deploy(&raw, "web", b"2".to_vec(), None, false)
            .await
            .status,
        201
    );
    let me = app.get("/v1/user", &raw).await;
    assert_eq!(me.body["kind"], "deploy");
    assert!(me.body["role"].is_null(), "{}", me.text);
}

#[tokio::test]
async fn create_with_name_description_and_expiration_in_days() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &owner,
            json!({"name": "nightly", "description": "Deploys DAGs every night", "expires_in": "14d"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["kind"], "deploy");
    assert_eq!(r.body["name"], "nightly");
    assert_eq!(r.body["description"], "Deploys DAGs every night");
    assert_eq!(r.body["app"], "web");
    assert_eq!(r.body["org"], "acme");
    assert_eq!(r.body["status"], "active");
    assert_eq!(
        millis_of(&r.body["expires_at"]) - millis_of(&r.body["created_at"]),
        14 * DAY_MS
    );
    // The description is optional.
    let r = app
        .post("/v1/apps/web/tokens", &owner, json!({"name": "bare"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body["description"].is_null(), "{}", r.text);

    // Usable for exactly that many days.
    let raw = {
        let r = app
            .post(
                "/v1/apps/web/tokens",
                &owner,
                json!({"name": "short", "expires_in": "2d"}),
            )
            .await;
        r.body["token"].as_str().unwrap().to_owned()
    };
    app.advance(2 * DAY - Duration::from_secs(1));
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200);
    app.advance(Duration::from_secs(1));
    assert_unauthorized(&app.get("/v1/apps/web", &raw).await, "token_expired");
}

#[tokio::test]
async fn token_value_cannot_be_retrieved_again() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (id, raw) = web_token(&app, &owner).await;
    for r in [
        app.get(&format!("/v1/tokens/{id}"), &owner).await,
        app.get("/v1/apps/web/tokens?status=all", &owner).await,
        app.get("/v1/orgs/acme/tokens?status=all", &owner).await,
        app.patch(
            &format!("/v1/tokens/{id}"),
            &owner,
            json!({"description": "x"}),
        )
        .await,
    ] {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_no_secret(&r, &raw);
        assert!(!r.text.contains("\"token\":\"gtd_"), "{}", r.text);
    }
}

#[tokio::test]
async fn update_name_and_description() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (id, raw) = web_token(&app, &owner).await;
    let before = app.get(&format!("/v1/tokens/{id}"), &owner).await;

    let r = app
        .patch(
            &format!("/v1/tokens/{id}"),
            &owner,
            json!({"name": "astro prod", "description": "prod only"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "astro prod");
    assert_eq!(r.body["description"], "prod only");
    assert_no_secret(&r, &raw);
    // Only those: same id, prefix, scope, expiry; the value keeps working.
    for field in [
        "id",
        "prefix",
        "kind",
        "app",
        "org",
        "expires_at",
        "created_at",
        "status",
    ] {
        assert_eq!(
            r.body[field], before.body[field],
            "{field} changed by an update"
        );
    }
    assert_eq!(
        app.deploy(&raw, "web", b"x".to_vec(), None, false)
            .await
            .status,
        201
    );

    // Name alone, description alone.
    let r = app
        .patch(
            &format!("/v1/tokens/{id}"),
            &owner,
            json!({"name": "renamed"}),
        )
        .await;
    assert_eq!(r.body["description"], "prod only", "{}", r.text);
    let r = app
        .patch(
            &format!("/v1/tokens/{id}"),
            &owner,
            json!({"description": "new words"}),
        )
        .await;
    assert_eq!(r.body["name"], "renamed", "{}", r.text);
    // An empty description clears it.
    let r = app
        .patch(
            &format!("/v1/tokens/{id}"),
            &owner,
            json!({"description": ""}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["description"].is_null(), "{}", r.text);
    // And the list shows the change.
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    assert_eq!(find_id(&list, &id).unwrap()["name"], "renamed");
}

#[tokio::test]
async fn update_cannot_change_scope_or_expiry() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (id, raw) = web_token(&app, &owner).await;
    let before = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    for body in [
        json!({"expires_in": "365d"}),
        json!({"app": "api"}),
        json!({"role": "admin"}),
        json!({"name": "x", "never_expires": true}),
    ] {
        let r = app.patch(&format!("/v1/tokens/{id}"), &owner, body).await;
        assert_error(&r, 422, "invalid_body");
        assert_no_secret(&r, &raw);
    }
    let after = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(after.body, before.body);
    assert_error(&app.get("/v1/apps/api", &raw).await, 404, "not_found");
}

#[tokio::test]
async fn deleted_token_cannot_be_recovered() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (id, raw) = web_token(&app, &owner).await;
    let r = app.delete(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token"]["id"], id.as_str());
    assert_eq!(r.body["token"]["status"], "revoked");

    assert_unauthorized(
        &app.deploy(&raw, "web", b"x".to_vec(), None, false).await,
        "token_revoked",
    );
    assert_error(
        &app.post(&format!("/v1/tokens/{id}/rotate"), &owner, json!({}))
            .await,
        409,
        "token_revoked",
    );
    // Kept for the audit trail, out of the way.
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    assert!(find_id(&list, &id).is_none());
    let list = items(&app.get("/v1/apps/web/tokens?status=revoked", &owner).await);
    let t = find_id(&list, &id).expect("revoked token listed on request");
    assert!(t["revoked_at"].is_string(), "{t}");

    // The way forward: a new token, with a new value.
    let (new_id, new_raw) = web_token(&app, &owner).await;
    assert_ne!(new_id, id);
    assert_ne!(new_raw, raw);
    assert_eq!(
        app.deploy(&new_raw, "web", b"x".to_vec(), None, false)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn rotate_keeps_name_description_and_scope() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (id, old) = web_token(&app, &owner).await;
    let before = app.get(&format!("/v1/tokens/{id}"), &owner).await;

    let r = app.rotate(&owner, &id, json!({})).await;
    let new = r.body["token"].as_str().unwrap().to_owned();
    for field in [
        "id",
        "kind",
        "name",
        "description",
        "app",
        "org",
        "role",
        "created_at",
        "created_by",
    ] {
        assert_eq!(
            r.body[field], before.body[field],
            "{field} changed by a rotation"
        );
    }
    assert_ne!(r.body["prefix"], before.body["prefix"]);
    assert_eq!(r.body["prefix"], &new[..12]);
    assert!(r.body["rotated_at"].is_string());

    // Same permissions: its own deployment, nothing else.
    assert_eq!(
        app.deploy(&new, "web", b"x".to_vec(), None, false)
            .await
            .status,
        201
    );
    assert_eq!(
        app.put("/v1/apps/web/env/A", &new, json!({"value": "1"}))
            .await
            .status,
        200
    );
    assert_error(
        &app.deploy(&new, "api", b"x".to_vec(), None, false).await,
        404,
        "not_found",
    );
    assert_forbidden(&app.post("/v1/orgs/acme/alerts", &new, alert()).await);
    let me = app.get("/v1/user", &new).await;
    assert_eq!(me.body["token"]["id"], id.as_str());
    assert_eq!(me.body["app"], "web");
    // The GET shows the same as the rotate answer minus the value.
    let after = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(after.body["prefix"], r.body["prefix"]);
    assert_no_secret(&after, &new);
    assert_unauthorized(&app.get("/v1/apps/web", &old).await, "invalid_token");
}

#[tokio::test]
async fn rotate_gives_a_new_value_when_the_current_one_is_lost() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (id, old) = web_token(&app, &owner).await;
    let first = app.rotate(&owner, &id, json!({})).await;
    let second = app.rotate(&owner, &id, json!({})).await;
    let a = first.body["token"].as_str().unwrap();
    let b = second.body["token"].as_str().unwrap();
    assert!(a != old && b != old && a != b);
    assert_eq!(a.len(), 40);
    assert!(b.starts_with("gtd_"));
    // Only the latest value works.
    assert_unauthorized(&app.get("/v1/apps/web", a).await, "invalid_token");
    assert_eq!(app.get("/v1/apps/web", b).await.status, 200);
}

#[tokio::test]
async fn previous_value_stops_working_after_rotation() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (id, old) = web_token(&app, &owner).await;
    assert_eq!(
        app.deploy(&old, "web", b"1".to_vec(), None, false)
            .await
            .status,
        201
    );
    app.rotate(&owner, &id, json!({})).await;
    for r in [
        app.deploy(&old, "web", b"2".to_vec(), None, false).await,
        app.put("/v1/apps/web/env/A", &old, json!({"value": "1"}))
            .await,
        app.put("/v1/apps/web/config", &old, json!({"a": 1})).await,
        app.get("/v1/apps/web", &old).await,
    ] {
        assert_unauthorized(&r, "invalid_token");
        assert_no_secret(&r, &old);
    }
    assert_eq!(
        items(&app.get("/v1/apps/web/deploys", &owner).await).len(),
        1
    );
}

#[tokio::test]
async fn rotate_renews_for_the_same_number_of_days() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (id, _) = web_token(&app, &owner).await; // 30 days
    app.advance(10 * DAY);
    let r = app.rotate(&owner, &id, json!({})).await;
    assert_eq!(
        millis_of(&r.body["expires_at"]),
        app.now_millis() + 30 * DAY_MS,
        "{}",
        r.text
    );
}

#[tokio::test]
async fn deployment_token_can_inspect_its_deployment() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (_, raw) = web_token(&app, &owner).await;
    assert_eq!(
        app.deploy(&owner, "web", b"v1".to_vec(), Some("one"), false)
            .await
            .status,
        201
    );

    let r = app.get("/v1/apps/web", &raw).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["slug"], "web");
    assert_eq!(r.body["org"], "acme");
    assert_eq!(items(&app.get("/v1/apps/web/deploys", &raw).await).len(), 1);
    assert_eq!(
        app.get("/v1/apps/web/deploys/1", &raw).await.body["label"],
        "one"
    );
    assert_eq!(
        app.get("/v1/apps/web/deploys/1/artifact", &raw).await.text,
        "v1"
    );
    assert_eq!(app.get("/v1/apps/web/env", &raw).await.status, 200);
    assert_eq!(app.get("/v1/apps/web/config", &raw).await.status, 200);
    assert_eq!(app.get("/v1/orgs/acme", &raw).await.status, 200);
    // Listing the workspace's deployments shows just this one.
    let apps = items(&app.get("/v1/orgs/acme/apps", &raw).await);
    assert_eq!(apps.len(), 1, "{apps:?}");
    assert_eq!(apps[0]["slug"], "web");
    let orgs = items(&app.get("/v1/orgs", &raw).await);
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["slug"], "acme");
}

#[tokio::test]
async fn deployment_token_cannot_reach_other_deployments() {
    let Acme { app, owner, .. } = acme().await.and_app("api").await;
    let (_, raw) = web_token(&app, &owner).await;
    assert_eq!(
        app.deploy(&owner, "api", b"v1".to_vec(), None, false)
            .await
            .status,
        201
    );
    // Another deployment looks exactly like one that does not exist, reads and writes alike...
    assert_deploy_scope(&app, &raw, "acme", "web", &["api"]).await;
    // ... its releases and their artifacts included.
    for path in ["/v1/apps/api/deploys/1", "/v1/apps/api/deploys/1/artifact"] {
        assert_error(&app.get(path, &raw).await, 404, "not_found");
    }
}
