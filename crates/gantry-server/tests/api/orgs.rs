//! Memberships, orgs, apps and users: the last owner, who grants which role, slugs.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn last_owner_cannot_be_removed_or_demoted() {
    let Acme {
        app,
        owner_id,
        owner,
    } = acme().await;
    let path = format!("/v1/orgs/acme/members/{owner_id}");
    assert_error(&app.delete(&path, &owner).await, 409, "last_owner");
    assert_error(
        &app.put(&path, &owner, json!({"role": "admin"})).await,
        409,
        "last_owner",
    );
    assert_error(
        &app.delete(&path, &app.admin_token).await,
        409,
        "last_owner",
    );
    assert_eq!(app.get("/v1/orgs/acme", &owner).await.body["role"], "owner");

    // With a second owner, the first may step down.
    let (second_id, second) = member(&app, &owner, "second@acme.test", "owner").await;
    let r = app.put(&path, &second, json!({"role": "admin"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["role"], "admin");
    assert_error(
        &app.delete(&format!("/v1/orgs/acme/members/{second_id}"), &second)
            .await,
        409,
        "last_owner",
    );
}

#[tokio::test]
async fn only_owners_grant_change_or_remove_the_owner_role() {
    let Acme {
        app,
        owner_id,
        owner,
    } = acme().await;
    let (admin_id, admin) = member(&app, &owner, "admin@acme.test", "admin").await;
    let target = app.create_user("target@acme.test").await;

    let grant = app
        .put(
            &format!("/v1/orgs/acme/members/{target}"),
            &admin,
            json!({"role": "owner"}),
        )
        .await;
    assert_forbidden(&grant);
    let demote = app
        .put(
            &format!("/v1/orgs/acme/members/{owner_id}"),
            &admin,
            json!({"role": "viewer"}),
        )
        .await;
    assert_forbidden(&demote);
    assert_forbidden(
        &app.delete(&format!("/v1/orgs/acme/members/{owner_id}"), &admin)
            .await,
    );
    assert_forbidden(
        &app.put(
            &format!("/v1/orgs/acme/members/{admin_id}"),
            &admin,
            json!({"role": "owner"}),
        )
        .await,
    );

    let r = app
        .put(
            &format!("/v1/orgs/acme/members/{target}"),
            &owner,
            json!({"role": "owner"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let members = items(&app.get("/v1/orgs/acme/members", &admin).await);
    let t = members
        .iter()
        .find(|m| m["user_id"] == target.as_str())
        .unwrap();
    assert_eq!(t["role"], "owner");
    assert_eq!(t["email"], "target@acme.test");
}

#[tokio::test]
async fn admins_manage_members_below_owner() {
    let Acme { app, owner, .. } = acme().await;
    let (_, admin) = member(&app, &owner, "admin@acme.test", "admin").await;
    let (_, operator) = member(&app, &owner, "operator@acme.test", "operator").await;
    let uid = app.create_user("new@acme.test").await;
    let path = format!("/v1/orgs/acme/members/{uid}");

    assert_forbidden(&app.put(&path, &operator, json!({"role": "viewer"})).await);
    let r = app.put(&path, &admin, json!({"role": "viewer"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user_id"], uid.as_str());
    assert_eq!(r.body["role"], "viewer");
    let r = app.put(&path, &admin, json!({"role": "admin"})).await;
    assert_eq!(r.body["role"], "admin", "{}", r.text);
    let r = app.delete(&path, &admin).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let members = items(&app.get("/v1/orgs/acme/members", &owner).await);
    assert!(
        members.iter().all(|m| m["user_id"] != uid.as_str()),
        "{members:?}"
    );
    assert_error(&app.delete(&path, &admin).await, 404, "not_found");
    // Members of an unknown user.
    let r = app
        .put(
            "/v1/orgs/acme/members/usr_doesnotexist00",
            &admin,
            json!({"role": "viewer"}),
        )
        .await;
    assert_error(&r, 404, "not_found");
}

#[tokio::test]
async fn a_member_may_leave_an_org() {
    let Acme { app, owner, .. } = acme().await;
    let (viewer_id, viewer) = member(&app, &owner, "viewer@acme.test", "viewer").await;
    let r = app
        .delete(&format!("/v1/orgs/acme/members/{viewer_id}"), &viewer)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_error(&app.get("/v1/orgs/acme", &viewer).await, 404, "not_found");
    // A viewer cannot remove somebody else.
    let (other_id, _) = member(&app, &owner, "other@acme.test", "viewer").await;
    let (_, viewer2) = member(&app, &owner, "viewer2@acme.test", "viewer").await;
    assert_forbidden(
        &app.delete(&format!("/v1/orgs/acme/members/{other_id}"), &viewer2)
            .await,
    );
}

#[tokio::test]
async fn orgs_and_apps_show_the_callers_view() {
    let Acme {
        app,
        owner_id,
        owner,
    } = acme().await;
    let r = app.get("/v1/orgs/acme", &owner).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["slug"], "acme");
    assert_eq!(r.body["role"], "owner");
    for f in ["id", "name", "created_at"] {
        assert!(r.body[f].is_string(), "{f}: {}", r.text);
    }
    let (_, viewer) = member(&app, &owner, "viewer@acme.test", "viewer").await;
    assert_eq!(
        app.get("/v1/orgs/acme", &viewer).await.body["role"],
        "viewer"
    );
    let orgs = items(&app.get("/v1/orgs", &viewer).await);
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["role"], "viewer");

    let r = app
        .post(
            "/v1/orgs/acme/apps",
            &owner,
            json!({"slug": "worker", "name": "Background worker"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["slug"], "worker");
    assert_eq!(r.body["name"], "Background worker");
    assert_eq!(r.body["org"], "acme");
    let r = app.get("/v1/apps/web", &viewer).await;
    assert_eq!(r.body["slug"], "web");
    assert_eq!(r.body["name"], "web");
    assert_eq!(r.body["org"], "acme");
    let apps = items(&app.get("/v1/orgs/acme/apps", &viewer).await);
    assert_eq!(apps.len(), 2);
    let members = items(&app.get("/v1/orgs/acme/members", &viewer).await);
    assert!(members
        .iter()
        .any(|m| m["user_id"] == owner_id.as_str() && m["role"] == "owner"));

    // The instance administrator sees every org.
    let all = items(&app.get("/v1/orgs", &app.admin_token).await);
    assert!(all.iter().any(|o| o["slug"] == "acme"));
}

#[tokio::test]
async fn instance_admin_manages_users() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/v1/users",
            &app.admin_token,
            json!({"email": "Erin@Example.com", "password": PASSWORD, "name": "Erin"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["email"], "erin@example.com");
    assert_eq!(r.body["name"], "Erin");
    assert_eq!(r.body["is_admin"], false);
    assert_eq!(r.body["disabled"], false);
    assert!(r.body["created_at"].is_string());
    assert!(
        !r.text.contains(PASSWORD) && !r.text.contains("argon2"),
        "{}",
        r.text
    );
    let erin = r.body["id"].as_str().unwrap().to_owned();
    let erin_token = app.login("erin@example.com", PASSWORD).await;

    let list = items(&app.get("/v1/users", &app.admin_token).await);
    assert!(list.iter().any(|u| u["id"] == erin.as_str()));
    assert!(!app
        .get("/v1/users", &app.admin_token)
        .await
        .text
        .contains("argon2"));
    assert_forbidden(&app.get("/v1/users", &erin_token).await);
    assert_forbidden(
        &app.post(
            "/v1/users",
            &erin_token,
            json!({"email": "x@y.z", "password": PASSWORD}),
        )
        .await,
    );

    let r = app
        .patch(
            &format!("/v1/users/{erin}"),
            &app.admin_token,
            json!({"is_admin": true, "name": "Erin A."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["is_admin"], true);
    assert_eq!(r.body["name"], "Erin A.");
    // Takes effect on the very next request.
    assert_eq!(app.get("/v1/users", &erin_token).await.status, 200);
    assert_eq!(
        app.get("/v1/user", &erin_token).await.body["user"]["is_admin"],
        true
    );

    // Duplicate email.
    let r = app
        .post(
            "/v1/users",
            &app.admin_token,
            json!({"email": "erin@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_envelope(&r);
    assert_error(
        &app.patch(
            "/v1/users/usr_doesnotexist00",
            &app.admin_token,
            json!({"name": "x"}),
        )
        .await,
        404,
        "not_found",
    );
}
