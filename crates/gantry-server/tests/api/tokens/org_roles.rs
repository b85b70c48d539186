//! Org tokens and their roles: a role no higher than the creator's, and only on org tokens.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn org_token_role_cannot_exceed_creators_role() {
    let Acme { app, owner, .. } = acme().await;
    let (_, admin) = member(&app, &owner, "admin@acme.test", "admin").await;
    let (_, operator) = member(&app, &owner, "operator@acme.test", "operator").await;

    let body = |role: &str| json!({"name": format!("{role} token"), "role": role});
    assert_forbidden(
        &app.post("/v1/orgs/acme/tokens", &admin, body("owner"))
            .await,
    );
    for role in ["admin", "operator", "viewer"] {
        let r = app.post("/v1/orgs/acme/tokens", &admin, body(role)).await;
        assert_eq!(r.status, 201, "{role}: {}", r.text);
        assert_eq!(r.body["role"], role);
        assert_eq!(r.body["kind"], "org");
        assert_eq!(r.body["org"], "acme");
    }
    // Operators do not manage tokens at all.
    assert_forbidden(
        &app.post("/v1/orgs/acme/tokens", &operator, body("viewer"))
            .await,
    );
    // Owners and instance administrators may hand out owner.
    assert_eq!(
        app.post("/v1/orgs/acme/tokens", &owner, body("owner"))
            .await
            .status,
        201
    );
    assert_eq!(
        app.post("/v1/orgs/acme/tokens", &app.admin_token, body("owner"))
            .await
            .status,
        201
    );
    // An org token is held to its own role in turn.
    let (_, org_admin) = app.org_token(&owner, "acme", "admin").await;
    assert_forbidden(
        &app.post("/v1/orgs/acme/tokens", &org_admin, body("owner"))
            .await,
    );
    assert_eq!(
        app.post("/v1/orgs/acme/tokens", &org_admin, body("operator"))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn only_org_tokens_carry_a_role() {
    let Acme { app, owner, .. } = acme().await;
    let r = app
        .post("/v1/orgs/acme/tokens", &owner, json!({"name": "no role"}))
        .await;
    assert_invalid_field(&r, "role");
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &owner,
            json!({"name": "d", "role": "viewer"}),
        )
        .await;
    assert_invalid_field(&r, "role");
    let r = app
        .post(
            "/v1/user/tokens",
            &owner,
            json!({"name": "p", "role": "viewer"}),
        )
        .await;
    assert_invalid_field(&r, "role");
}
