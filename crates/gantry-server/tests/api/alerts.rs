//! Alert rules and the events they are queued (DESIGN §7): each lifecycle change writes its
//! event in the change's own transaction, with a pending delivery for every rule of the org
//! that asks for its type (and app); a refused change writes none.

use crate::helpers::*;
use serde_json::{json, Value};

const HOOK: &str = "https://hooks.example.com/gantry";

/// Creates a rule as `owner`: its id.
async fn rule(app: &TestApp, owner: &str, body: Value) -> String {
    let r = app.post("/v1/orgs/acme/alerts", owner, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    id_of(&r)
}

/// The rule's deliveries, newest first.
async fn deliveries(app: &TestApp, owner: &str, rule: &str) -> Vec<Value> {
    items(
        &app.get(&format!("/v1/orgs/acme/alerts/{rule}/deliveries"), owner)
            .await,
    )
}

fn types(deliveries: &[Value]) -> Vec<&str> {
    deliveries
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn each_change_queues_one_delivery_per_rule_that_asks_for_it() {
    // The dispatcher looks once, at start, and then not for an hour: what is queued stays so.
    let Acme { app, owner, .. } = acme_with(|c| c.dispatch.poll = HOUR)
        .await
        .and_app("api")
        .await;
    let tokens = rule(
        &app,
        &owner,
        json!({"name": "tokens", "events": ["token.created", "token.rotated", "token.revoked"], "target": HOOK}),
    )
    .await;
    // An old event name, narrowed to one app; and one for the other app only.
    let web_deploys = rule(
        &app,
        &owner,
        json!({"name": "web deploys", "event": "deploy", "app": "web", "target": HOOK}),
    )
    .await;
    let api_deploys = rule(
        &app,
        &owner,
        json!({"name": "api deploys", "events": ["release.created"], "app": "api", "target": HOOK}),
    )
    .await;
    let settings = rule(
        &app,
        &owner,
        json!({"name": "settings", "events": ["env.changed", "config.changed"], "target": "mailto:ops@acme.test"}),
    )
    .await;

    // A second between changes, so "newest first" is well defined (deliveries are ordered by
    // time, to the millisecond).
    let tick = || app.advance(std::time::Duration::from_secs(1));
    let (id, _) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    tick();
    assert_eq!(app.rotate(&owner, &id, json!({})).await.status, 200);
    tick();
    app.revoke(&owner, &id).await;
    tick();
    let r = app.deploy(&owner, "web", b"v1".to_vec(), None, false).await;
    assert_eq!(r.status, 201, "{}", r.text);
    tick();
    let r = app
        .put("/v1/apps/web/env/PORT", &owner, json!({"value": "8080"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    tick();
    assert_eq!(
        app.delete("/v1/apps/web/env/PORT", &owner).await.status,
        204
    );
    tick();
    let r = app
        .put("/v1/apps/web/config", &owner, json!({"a": 1}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let queued = deliveries(&app, &owner, &tokens).await;
    assert_eq!(
        types(&queued),
        ["token.revoked", "token.rotated", "token.created"],
        "newest first"
    );
    for d in &queued {
        assert_eq!(d["state"], "pending", "{d}");
        assert_eq!(d["attempts"], 0, "{d}");
        assert!(d["event_id"].as_str().unwrap().starts_with("evt_"), "{d}");
        assert!(d["next_attempt_at"].is_string(), "{d}");
    }
    let ids: std::collections::HashSet<&str> = queued
        .iter()
        .map(|d| d["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "one event per change");
    assert_eq!(
        types(&deliveries(&app, &owner, &web_deploys).await),
        ["release.created"]
    );
    assert!(deliveries(&app, &owner, &api_deploys).await.is_empty());
    assert_eq!(
        types(&deliveries(&app, &owner, &settings).await),
        ["config.changed", "env.changed", "env.changed"]
    );

    // The rule shows what it asks for.
    let rules = items(&app.get("/v1/orgs/acme/alerts", &owner).await);
    let web = find_id(&rules, &web_deploys).unwrap();
    assert_eq!(web["event"], "deploy");
    assert_eq!(web["events"], json!(["release.created"]));
    assert_eq!(web["app"], "web");
    assert_eq!(web["enabled"], true);
}

#[tokio::test]
async fn a_refused_change_queues_nothing() {
    let Acme { app, owner, .. } = acme().await;
    let all = rule(
        &app,
        &owner,
        json!({"name": "all", "events": ["token.created", "token.revoked", "env.changed", "config.changed", "release.created"], "target": HOOK}),
    )
    .await;
    let (_, viewer) = member(&app, &owner, "viewer@acme.test", "viewer").await;

    let refused = [
        app.post("/v1/apps/web/tokens", &owner, json!({"name": ""}))
            .await,
        app.post("/v1/apps/web/tokens", &viewer, json!({"name": "ci"}))
            .await,
        app.put("/v1/apps/web/env/K", &viewer, json!({"value": "v"}))
            .await,
        app.put("/v1/apps/web/env/bad key", &owner, json!({"value": "v"}))
            .await,
        app.delete("/v1/apps/web/env/MISSING", &owner).await,
        app.delete("/v1/tokens/tok_nonexistent", &owner).await,
        app.raw(
            reqwest::Method::PUT,
            "/v1/apps/web/config",
            Some(&owner),
            "application/json",
            b"[1, 2]".to_vec(),
        )
        .await,
    ];
    for r in &refused {
        assert!(r.status >= 400, "{} {}", r.status, r.text);
    }
    assert!(deliveries(&app, &owner, &all).await.is_empty());
}

#[tokio::test]
async fn rules_name_known_events_and_an_app_of_their_org() {
    let Acme { app, owner, .. } = acme().await;
    let (_, other) = app.user("someone@globex.test").await;
    app.org_with_app(&other, "globex", "zap").await;
    let too_many: Vec<&str> = std::iter::repeat_n("ping", 17).collect();
    // Neither `event` nor `events` (a 422 naming `event`: either may be given, so serde does not
    // require one).
    for (body, field) in [
        (json!({"name": "a", "target": HOOK}), "event"),
        (
            json!({"name": "a", "event": "deploy", "events": ["ping"], "target": HOOK}),
            "events",
        ),
        (json!({"name": "a", "events": [], "target": HOOK}), "events"),
        (
            json!({"name": "a", "events": too_many, "target": HOOK}),
            "events",
        ),
        (
            json!({"name": "a", "events": ["token.created", "token.eaten"], "target": HOOK}),
            "events",
        ),
        (
            json!({"name": "a", "event": "token.created", "app": "zap", "target": HOOK}),
            "app",
        ),
        (
            json!({"name": "a", "event": "token.created", "app": "nope", "target": HOOK}),
            "app",
        ),
    ] {
        let r = app.post("/v1/orgs/acme/alerts", &owner, body).await;
        assert_invalid_field(&r, field);
    }
    assert!(items(&app.get("/v1/orgs/acme/alerts", &owner).await).is_empty());
    // Repeats and aliases of one type are one type.
    let id = rule(
        &app,
        &owner,
        json!({"name": "a", "events": ["deploy", "release.created", "token_revoked"], "target": HOOK}),
    )
    .await;
    let rules = items(&app.get("/v1/orgs/acme/alerts", &owner).await);
    assert_eq!(
        find_id(&rules, &id).unwrap()["events"],
        json!(["release.created", "token.revoked"])
    );
}

#[tokio::test]
async fn deliveries_belong_to_their_rule_and_go_with_it() {
    let Acme { app, owner, .. } = acme().await;
    let id = rule(
        &app,
        &owner,
        json!({"name": "t", "events": ["token.created"], "target": HOOK}),
    )
    .await;
    app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    assert_eq!(deliveries(&app, &owner, &id).await.len(), 1);

    // Another org's owner cannot see them; an unknown rule is the same answer.
    let (_, other) = app.user("someone@globex.test").await;
    app.org_with_app(&other, "globex", "zap").await;
    let path = format!("/v1/orgs/acme/alerts/{id}/deliveries");
    assert_error(&app.get(&path, &other).await, 404, "not_found");
    let r = app
        .get(&format!("/v1/orgs/globex/alerts/{id}/deliveries"), &other)
        .await;
    assert_error(&r, 404, "not_found");
    let r = app
        .get("/v1/orgs/acme/alerts/alr_nonexistent/deliveries", &owner)
        .await;
    assert_error(&r, 404, "not_found");
    for limit in ["0", "1001", "-1"] {
        let r = app.get(&format!("{path}?limit={limit}"), &owner).await;
        assert_invalid_field(&r, "limit");
    }
    assert_eq!(
        items(&app.get(&format!("{path}?limit=1"), &owner).await).len(),
        1
    );

    let r = app
        .delete(&format!("/v1/orgs/acme/alerts/{id}"), &owner)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_error(&app.get(&path, &owner).await, 404, "not_found");
}
