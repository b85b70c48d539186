//! Leaked tokens (DESIGN §9): the public revoke endpoint.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

async fn report(app: &TestApp, credentials: serde_json::Value) -> Resp {
    app.anon(
        Method::POST,
        "/v1/credentials/revoke",
        Some(json!({ "credentials": credentials })),
    )
    .await
}

#[tokio::test]
async fn a_leak_report_answers_alike_for_live_unknown_and_garbage_values_and_revokes_the_live() {
    let acme = acme().await;
    let rule = acme.rule_for(&["token.leaked"]).await;
    let Acme { app, owner, .. } = acme;
    let (deploy_id, deploy) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let (_, org) = app.org_token(&owner, "acme", "operator").await;
    let (_, keep) = app
        .deploy_token(&owner, "web", json!({"name": "kept"}))
        .await;
    // A well-formed token nobody has, and garbage.
    let unknown = unknown_token();
    let answers = [
        report(&app, json!([unknown])).await,
        report(&app, json!(["not a token", ""])).await,
        report(&app, json!([deploy, org, deploy, "junk"])).await,
    ];
    for r in &answers {
        assert_eq!(r.status, 202, "{}", r.text);
        assert_no_secret(r, &deploy);
    }
    // The same answer whatever the values were (only the count of values received differs).
    assert_eq!(answers[0].body, json!({"received": 1}));
    assert_eq!(answers[1].body, json!({"received": 2}));
    assert_eq!(answers[2].body, json!({"received": 4}));

    assert_unauthorized(&app.get("/v1/apps/web", &deploy).await, "token_revoked");
    assert_unauthorized(&app.get("/v1/orgs/acme", &org).await, "token_revoked");
    assert_eq!(
        app.get("/v1/apps/web", &keep).await.status,
        200,
        "nothing else revoked"
    );

    // Audited with the reporter's address; token.leaked reaches the rule.
    let (_, rows) = app.audit_items("?action=token.revoke").await;
    let ours: Vec<_> = rows
        .iter()
        .filter(|r| r["target_id"] == deploy_id.as_str())
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "revoked once though reported twice: {rows:?}"
    );
    assert_eq!(ours[0]["detail"]["reason"], "leak_report");
    assert_eq!(ours[0]["ip"], "127.0.0.1");
    assert_eq!(ours[0]["actor"]["type"], "anonymous");
    let (_, leaked) = app.audit_items("?action=token.leaked").await;
    assert_eq!(leaked.len(), 2, "{leaked:?}");
    let r = app
        .get(&format!("/v1/orgs/acme/alerts/{rule}/deliveries"), &owner)
        .await;
    let types: Vec<_> = items(&r)
        .iter()
        .map(|d| d["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(types, ["token.leaked", "token.leaked"], "{}", r.text);
    // Reported again: already revoked, nothing more happens, same answer.
    let again = report(&app, json!([deploy])).await;
    assert_eq!(again.body, json!({"received": 1}));
    assert_eq!(app.audit_items("?action=token.leaked").await.1.len(), 2);
    // No raw value in anything stored.
    for (place, bytes) in app.stored().await {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&deploy) && !text.contains(&org), "{place}");
    }
}

#[tokio::test]
async fn a_leak_report_is_bounded_and_rate_limited_per_address() {
    let app = spawn_app_with(|c| c.settings.leak_report_limit = limit(3, 60)).await;
    let many: Vec<String> = (0..1001).map(|i| format!("v{i}")).collect();
    let r = report(&app, json!(many)).await;
    assert_invalid_field(&r, "credentials");
    let r = app
        .raw(
            Method::POST,
            "/v1/credentials/revoke",
            None,
            "application/json",
            b"[1,2]".to_vec(),
        )
        .await;
    assert!(r.status == 400 || r.status == 422, "{}", r.text);
    for _ in 0..2 {
        assert_eq!(report(&app, json!(["x"])).await.status, 202);
    }
    let r = report(&app, json!(["x"])).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(!r.header("retry-after").is_empty());
}

#[tokio::test]
async fn a_value_presented_after_its_rotation_and_grace_fires_token_reused_once_an_hour() {
    let Acme { app, owner, .. } = acme().await;
    let r = app
        .post(
            "/v1/orgs/acme/alerts",
            &owner,
            json!({"name": "reuse", "events": ["token.reused"], "target": "https://hooks.example.com/x"}),
        )
        .await;
    let rule = r.body["id"].as_str().unwrap().to_owned();
    let (id, old) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let r = app.rotate(&owner, &id, json!({"grace_period": "1h"})).await;
    let new = raw_of(&r);
    // Inside the grace period the old value works: no reuse.
    assert_eq!(app.get("/v1/apps/web", &old).await.status, 200);
    assert!(app.audit_items("?action=token.reused").await.1.is_empty());
    app.advance(std::time::Duration::from_secs(3601));
    for _ in 0..3 {
        assert_unauthorized(&app.get("/v1/apps/web", &old).await, "invalid_token");
    }
    let (_, rows) = app.audit_items("?action=token.reused").await;
    assert_eq!(
        rows.len(),
        1,
        "once, though presented three times: {rows:?}"
    );
    assert_eq!(rows[0]["target_id"], id.as_str());
    assert_eq!(rows[0]["ip"], "127.0.0.1");
    assert_eq!(rows[0]["detail"]["since_rotation_secs"], 3601);
    let r = app
        .get(&format!("/v1/orgs/acme/alerts/{rule}/deliveries"), &owner)
        .await;
    assert_eq!(items(&r).len(), 1, "{}", r.text);
    // Not revoked by default; an hour later it is reported again.
    assert_eq!(app.get("/v1/apps/web", &new).await.status, 200);
    app.advance(std::time::Duration::from_secs(3601));
    assert_eq!(app.get("/v1/apps/web", &new).await.status, 200);
    assert_unauthorized(&app.get("/v1/apps/web", &old).await, "invalid_token");
    assert_eq!(app.audit_items("?action=token.reused").await.1.len(), 2);
    // A value nobody ever had is only unknown.
    let never = gantry_core::token::PlainToken::generate(gantry_api::TokenKind::Deploy);
    app.get("/v1/apps/web", never.expose_secret()).await;
    assert_eq!(app.audit_items("?action=token.reused").await.1.len(), 2);
}

#[tokio::test]
async fn with_revoke_on_reuse_a_reused_old_value_revokes_its_token() {
    let Acme { app, owner, .. } = acme_with(|c| c.settings.revoke_on_reuse = true).await;
    let (id, old) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let r = app.rotate(&owner, &id, json!({})).await;
    let new = raw_of(&r);
    assert_eq!(app.get("/v1/apps/web", &new).await.status, 200);
    // Someone replays the old copy: refused, and the token (its new value too) dies.
    assert_unauthorized(&app.get("/v1/apps/web", &old).await, "invalid_token");
    assert_unauthorized(&app.get("/v1/apps/web", &new).await, "token_revoked");
    let (_, rows) = app.audit_items("?action=token.revoke").await;
    assert!(
        rows.iter()
            .any(|r| r["target_id"] == id.as_str() && r["detail"]["reason"] == "reused"),
        "{rows:?}"
    );
    // A rotation whose old value ended at the new one's first use: the old one is a reuse.
    let (id2, old2) = app
        .deploy_token(&owner, "web", json!({"name": "ci2"}))
        .await;
    let r = app
        .rotate(
            &owner,
            &id2,
            json!({"grace_period": "1d", "until_first_use": true}),
        )
        .await;
    let new2 = raw_of(&r);
    assert_eq!(
        app.get("/v1/apps/web", &old2).await.status,
        200,
        "in its grace"
    );
    assert_eq!(
        app.get("/v1/apps/web", &new2).await.status,
        200,
        "first use"
    );
    assert_unauthorized(&app.get("/v1/apps/web", &old2).await, "invalid_token");
    assert_unauthorized(&app.get("/v1/apps/web", &new2).await, "token_revoked");
}
