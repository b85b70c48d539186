//! Revocation and token status: what a revoked or expired token answers, and the list filters.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn revoking_twice_is_harmless() {
    let Acme { app, owner, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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
    let Acme { app, owner, .. } = acme().await;
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
