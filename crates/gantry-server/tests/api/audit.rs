//! The audit log: every change and failed authentication recorded, what it must never contain, who sees which events.

use crate::helpers::*;
use serde_json::{json, Value};

#[tokio::test]
async fn audit_records_every_change_and_failed_authentication() {
    let Acme {
        app,
        owner_id,
        owner,
    } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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
