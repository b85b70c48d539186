//! seeds/003 — Fly.io deploy tokens: scoped to manage a single application (narrower than an
//! org token, which controls every app of one org, and the auth token, which controls every
//! app of every org the user is in); created with an optional name and expiry (`-x 175200h`);
//! listed with ID / NAME / CREATED BY / EXPIRES AT, by app (default) or by org (`-s org`: deploy
//! tokens and the org's other tokens); revoked by ID (several at once), after which they leave
//! the list and stop working.

use crate::helpers::*;
use serde_json::json;

/// [`acme`] with a second app `api`, and org `globex` with app `zap` of someone else, whose
/// token is returned.
async fn with_globex() -> (Acme, String) {
    let acme = acme().await.and_app("api").await;
    let (_, other) = acme.app.user("someone@globex.test").await;
    acme.app.org_with_app(&other, "globex", "zap").await;
    (acme, other)
}

#[tokio::test]
async fn deploy_token_limited_to_its_app() {
    let (Acme { app, owner, .. }, other) = with_globex().await;
    let (_, web) = app
        .deploy_token(&owner, "web", json!({"name": "web deploys"}))
        .await;

    // Its own app; a sibling app in the same org and an app of another org are invisible.
    assert_deploy_scope(&app, &web, "acme", "web", &["api", "zap"]).await;
    assert_error(&app.get("/v1/orgs/globex", &web).await, 404, "not_found");
    assert_error(
        &app.get("/v1/orgs/globex/apps", &web).await,
        404,
        "not_found",
    );
    // Nothing was written anywhere else.
    assert!(items(&app.get("/v1/apps/api/deploys", &owner).await).is_empty());
    assert!(items(&app.get("/v1/apps/zap/deploys", &other).await).is_empty());
    assert!(items(&app.get("/v1/apps/api/env", &owner).await).is_empty());
}

#[tokio::test]
async fn org_token_controls_every_app_in_its_org() {
    let (Acme { app, owner, .. }, _) = with_globex().await;
    let (_, org) = app.org_token(&owner, "acme", "operator").await;
    assert!(org.starts_with("gto_"), "{org}");
    assert_eq!(
        app.deploy(&org, "web", b"a".to_vec(), None, false)
            .await
            .status,
        201
    );
    assert_eq!(
        app.deploy(&org, "api", b"b".to_vec(), None, false)
            .await
            .status,
        201
    );
    let apps = items(&app.get("/v1/orgs/acme/apps", &org).await);
    assert_eq!(apps.len(), 2, "{apps:?}");
    // Only within that org.
    assert_error(
        &app.deploy(&org, "zap", b"c".to_vec(), None, false).await,
        404,
        "not_found",
    );
    assert_error(&app.get("/v1/orgs/globex", &org).await, 404, "not_found");
    let me = app.get("/v1/user", &org).await;
    assert_eq!(me.body["kind"], "org");
    assert_eq!(me.body["org"], "acme");
    assert_eq!(me.body["role"], "operator");
    let orgs = items(&app.get("/v1/orgs", &org).await);
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["role"], "operator");
}

#[tokio::test]
async fn personal_token_controls_every_app_of_every_org_the_user_is_in() {
    let (Acme { app, owner, .. }, other) = with_globex().await;
    let (uid, session) = app.user("dev@example.com").await;
    app.add_member(&owner, "acme", &uid, "operator").await;
    app.add_member(&other, "globex", &uid, "operator").await;
    let (_, pat) = app
        .personal_token(&session, json!({"name": "laptop"}))
        .await;
    for target in ["web", "api", "zap"] {
        assert_eq!(
            app.deploy(&pat, target, b"x".to_vec(), None, false)
                .await
                .status,
            201,
            "{target}"
        );
    }
    let orgs = items(&app.get("/v1/orgs", &pat).await);
    assert_eq!(orgs.len(), 2, "{orgs:?}");
}

#[tokio::test]
async fn org_token_acts_with_its_role() {
    let (Acme { app, owner, .. }, _) = with_globex().await;
    let (_, viewer) = app.org_token(&owner, "acme", "viewer").await;
    assert_eq!(app.get("/v1/apps/web/deploys", &viewer).await.status, 200);
    assert_forbidden(&app.deploy(&viewer, "web", b"x".to_vec(), None, false).await);
    assert_forbidden(
        &app.post("/v1/orgs/acme/apps", &viewer, json!({"slug": "nope"}))
            .await,
    );
    let (_, admin) = app.org_token(&owner, "acme", "admin").await;
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &admin,
            json!({"name": "made by an org token"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["created_by"]["type"], "token");
}

#[tokio::test]
async fn create_deploy_token_with_a_name() {
    // fly tokens create deploy -n "shiny happy token"
    let (Acme { app, owner, .. }, _) = with_globex().await;
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &owner,
            json!({"name": "shiny happy token"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["name"], "shiny happy token");
    let id = r.body["id"].as_str().unwrap().to_owned();
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    assert_eq!(find_id(&list, &id).unwrap()["name"], "shiny happy token");
}

#[tokio::test]
async fn expiry_is_optional() {
    let (Acme { app, owner, .. }, _) = with_globex().await;
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &owner,
            json!({"name": "no expiry given"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.body["expires_at"].is_string(),
        "a default expiry applies: {}",
        r.text
    );
}

#[tokio::test]
async fn duration_175200h_accepted() {
    // flyctl's default expiry, and the way Go prints it.
    let (Acme { app, owner, .. }, _) = with_globex().await;
    for expiry in ["175200h", "175200h0m0s"] {
        let r = app
            .post(
                "/v1/apps/web/tokens",
                &owner,
                json!({"name": expiry, "expires_in": expiry}),
            )
            .await;
        assert_eq!(r.status, 201, "{expiry}: {}", r.text);
        let lifetime = millis_of(&r.body["expires_at"]) - millis_of(&r.body["created_at"]);
        assert_eq!(lifetime, 175_200 * HOUR_MS, "{expiry}");
        let raw = r.body["token"].as_str().unwrap().to_owned();
        // Twenty years on, almost: still good.
        app.advance(std::time::Duration::from_secs(175_199 * 3600));
        assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200, "{expiry}");
        app.advance(std::time::Duration::from_secs(3600));
        assert_unauthorized(&app.get("/v1/apps/web", &raw).await, "token_expired");
    }
}

#[tokio::test]
async fn expiration_date_can_be_picked_instead_of_a_duration() {
    // The dashboard offers an expiration date.
    let (Acme { app, owner, .. }, _) = with_globex().await;
    let at = app.instant_in(std::time::Duration::from_secs(45 * 86_400));
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &owner,
            json!({"name": "dated", "expires_at": at}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(millis_of(&r.body["expires_at"]), millis(&at));
}

#[tokio::test]
async fn list_shows_id_name_created_by_and_expires_at() {
    let (
        Acme {
            app,
            owner_id,
            owner,
        },
        _,
    ) = with_globex().await;
    let (id, _) = app
        .deploy_token(&owner, "web", json!({"name": "test deploy token"}))
        .await;
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    let t = find_id(&list, &id).unwrap();
    assert_eq!(t["name"], "test deploy token");
    assert_eq!(t["created_by"]["type"], "user");
    assert_eq!(t["created_by"]["id"], owner_id.as_str());
    assert_eq!(t["created_by"]["name"], ACME_OWNER);
    assert_eq!(
        millis_of(&t["expires_at"]) - millis_of(&t["created_at"]),
        90 * DAY_MS
    );
}

#[tokio::test]
async fn list_scope_app_shows_only_the_apps_deploy_tokens() {
    let (Acme { app, owner, .. }, _) = with_globex().await;
    let (web1, _) = app
        .deploy_token(&owner, "web", json!({"name": "web one"}))
        .await;
    let (web2, _) = app
        .deploy_token(&owner, "web", json!({"name": "web two"}))
        .await;
    let (api, _) = app
        .deploy_token(&owner, "api", json!({"name": "api"}))
        .await;
    let (org, _) = app.org_token(&owner, "acme", "admin").await;
    let (pat, _) = app.personal_token(&owner, json!({"name": "mine"})).await;
    let list = items(&app.get("/v1/apps/web/tokens", &owner).await);
    let mut listed = ids_of(&list);
    listed.sort();
    let mut expected = vec![web1, web2];
    expected.sort();
    assert_eq!(listed, expected, "{list:?}");
    assert!(
        find_id(&list, &api).is_none()
            && find_id(&list, &org).is_none()
            && find_id(&list, &pat).is_none()
    );
}

#[tokio::test]
async fn list_scope_org_shows_deploy_tokens_and_all_other_org_tokens() {
    let (Acme { app, owner, .. }, other) = with_globex().await;
    let (org_tok, _) = app
        .org_token_with(
            &owner,
            "acme",
            json!({"name": "test org token", "role": "admin"}),
        )
        .await;
    let (poll, _) = app
        .org_token_with(
            &owner,
            "acme",
            json!({"name": "litefs_cloud_poll", "role": "viewer", "expires_in": "30d"}),
        )
        .await;
    let (web, _) = app
        .deploy_token(&owner, "web", json!({"name": "test deploy token"}))
        .await;
    let (api, _) = app
        .deploy_token(&owner, "api", json!({"name": "api deploy token"}))
        .await;
    let (pat, _) = app
        .personal_token(&owner, json!({"name": "personal"}))
        .await;
    let (zap, _) = app
        .deploy_token(&other, "zap", json!({"name": "someone else's"}))
        .await;

    let list = items(&app.get("/v1/orgs/acme/tokens", &owner).await);
    let mut listed = which_of(&list, &[&org_tok, &poll, &web, &api, &pat, &zap]);
    listed.sort();
    let mut expected = vec![org_tok.clone(), poll.clone(), web.clone(), api.clone()];
    expected.sort();
    assert_eq!(listed, expected, "{list:?}");
    for t in &list {
        assert!(t["kind"] == "org" || t["kind"] == "deploy", "{t}");
        assert_eq!(t["org"], "acme");
    }
    assert_eq!(find_id(&list, &poll).unwrap()["role"], "viewer");
    assert_eq!(find_id(&list, &web).unwrap()["app"], "web");

    // An org token with the admin role sees the same list.
    let (_, admin_raw) = app.org_token(&owner, "acme", "admin").await;
    let list = items(&app.get("/v1/orgs/acme/tokens", &admin_raw).await);
    assert_eq!(
        which_of(&list, &[&org_tok, &poll, &web, &api, &pat, &zap]).len(),
        4
    );
}

#[tokio::test]
async fn revoked_token_leaves_the_list_and_stops_working() {
    let (Acme { app, owner, .. }, _) = with_globex().await;
    let (id, raw) = app
        .deploy_token(&owner, "web", json!({"name": "test deploy token"}))
        .await;
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200);
    app.revoke(&owner, &id).await;
    assert!(find_id(&items(&app.get("/v1/apps/web/tokens", &owner).await), &id).is_none());
    assert!(find_id(&items(&app.get("/v1/orgs/acme/tokens", &owner).await), &id).is_none());
    assert!(find_id(&items(&app.get("/v1/tokens", &owner).await), &id).is_none());
    assert_unauthorized(
        &app.deploy(&raw, "web", b"x".to_vec(), None, false).await,
        "token_revoked",
    );
}

#[tokio::test]
async fn revoke_several_tokens_by_id() {
    // fly tokens revoke ID_number_1 ID_number_3
    let (Acme { app, owner, .. }, _) = with_globex().await;
    let (one, one_raw) = app.org_token(&owner, "acme", "operator").await;
    let (two, two_raw) = app
        .deploy_token(&owner, "web", json!({"name": "keep me"}))
        .await;
    let (three, three_raw) = app
        .deploy_token(&owner, "api", json!({"name": "test deploy token"}))
        .await;
    for id in [&one, &three] {
        let r = app.revoke(&owner, id).await;
        assert_eq!(r.body["already_revoked"], false);
    }
    assert_unauthorized(&app.get("/v1/orgs/acme", &one_raw).await, "token_revoked");
    assert_unauthorized(&app.get("/v1/apps/api", &three_raw).await, "token_revoked");
    assert_eq!(app.get("/v1/apps/web", &two_raw).await.status, 200);
    let list = items(&app.get("/v1/orgs/acme/tokens", &owner).await);
    assert_eq!(which_of(&list, &[&one, &two, &three]), vec![two.clone()]);
}

#[tokio::test]
async fn org_token_survives_creator_leaving() {
    let (Acme { app, owner, .. }, _) = with_globex().await;
    let (admin_id, admin) = app.user("admin@acme.test").await;
    app.add_member(&owner, "acme", &admin_id, "admin").await;
    let (id, org) = app.org_token(&admin, "acme", "operator").await;

    // The creator leaves on their own.
    let r = app
        .delete(&format!("/v1/orgs/acme/members/{admin_id}"), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_error(&app.get("/v1/orgs/acme", &admin).await, 404, "not_found");

    // The org token keeps its org and its role.
    assert_eq!(
        app.deploy(&org, "web", b"x".to_vec(), None, false)
            .await
            .status,
        201
    );
    let r = app.get("/v1/orgs/acme", &org).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["role"], "operator");
    let t = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(t.body["status"], "active");
    assert_eq!(t.body["created_by"]["id"], admin_id.as_str());
    // Still listed with the org, still manageable by the org's admins.
    let list = items(&app.get("/v1/orgs/acme/tokens", &owner).await);
    assert!(find_id(&list, &id).is_some());
}

#[tokio::test]
async fn deploy_token_survives_creator_being_removed() {
    let (Acme { app, owner, .. }, _) = with_globex().await;
    let (admin_id, admin) = app.user("admin@acme.test").await;
    app.add_member(&owner, "acme", &admin_id, "admin").await;
    let (_, raw) = app.deploy_token(&admin, "web", json!({"name": "ci"})).await;
    let r = app
        .delete(&format!("/v1/orgs/acme/members/{admin_id}"), &owner)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.deploy(&raw, "web", b"x".to_vec(), None, false)
            .await
            .status,
        201
    );
    // Even the creator's account being disabled does not stop the app's pipeline.
    let r = app
        .patch(
            &format!("/v1/users/{admin_id}"),
            &app.admin_token,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.deploy(&raw, "web", b"y".to_vec(), None, false)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn deleting_an_app_revokes_its_deploy_tokens() {
    let (Acme { app, owner, .. }, _) = with_globex().await;
    let (id, raw) = app
        .deploy_token(&owner, "api", json!({"name": "api ci"}))
        .await;
    let (_, web) = app
        .deploy_token(&owner, "web", json!({"name": "web ci"}))
        .await;
    let r = app.delete("/v1/apps/api", &owner).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_error(&app.get("/v1/apps/api", &owner).await, 404, "not_found");
    assert_unauthorized(&app.get("/v1/apps/api", &raw).await, "token_revoked");
    assert_eq!(app.get("/v1/apps/web", &web).await.status, 200);
    let t = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    if t.status == 200 {
        assert_eq!(t.body["status"], "revoked", "{}", t.text);
    } else {
        assert_error(&t, 404, "not_found");
    }
    // A new app under the old name does not bring the old token back.
    let r = app
        .post("/v1/orgs/acme/apps", &owner, json!({"slug": "api"}))
        .await;
    assert!(r.status == 201 || r.status == 409, "{}", r.text);
    assert_unauthorized(
        &app.deploy(&raw, "api", b"x".to_vec(), None, false).await,
        "token_revoked",
    );
}
