//! DESIGN §3 × every kind of caller, in one table.
//!
//! Every route (but `/v1/oauth/*` and `/v1/auth/check`, which have their own rules) is called
//! by: nobody; the instance administrator; the owner, an admin, an operator and a viewer of org
//! `acme` (each through a personal token); a user of another org; org tokens of `acme` with the
//! roles viewer, operator and admin; a deploy token of `acme/web`, one of `acme/api`, and one
//! of `globex/zap`. Each answer's status is compared with the table; every mismatch is
//! collected and reported together, naming the route and the caller. Destructive rows get a
//! fresh target per call (a throwaway app, member, alert, env var or token), so rows never
//! disturb one another.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum P {
    Anonymous,
    InstanceAdmin,
    Owner,
    Admin,
    Operator,
    Viewer,
    Outsider,
    OrgViewer,
    OrgOperator,
    OrgAdmin,
    /// A deploy token of the app the route is about (`web`; for "delete an app", the app
    /// being deleted).
    DeployWeb,
    /// A deploy token of another app (`api`) of the same org.
    DeployApi,
    /// A deploy token of an app (`zap`) of another org (`globex`).
    DeployOther,
}

/// The table's columns, in order.
const PRINCIPALS: [P; 13] = [
    P::Anonymous,
    P::InstanceAdmin,
    P::Owner,
    P::Admin,
    P::Operator,
    P::Viewer,
    P::Outsider,
    P::OrgViewer,
    P::OrgOperator,
    P::OrgAdmin,
    P::DeployWeb,
    P::DeployApi,
    P::DeployOther,
];

type Row = [u16; 13];

// Columns: anon, instance admin, owner, admin, operator, viewer, outsider,
//          org viewer, org operator, org admin, deploy web, deploy api, deploy other.

/// No credential needed.
fn public(s: u16) -> Row {
    [s; 13]
}
/// Any credential.
fn anyone(s: u16) -> Row {
    [401, s, s, s, s, s, s, s, s, s, s, s, s]
}
/// Users only (personal tokens), not org or deploy tokens.
fn users(s: u16) -> Row {
    [401, s, s, s, s, s, s, 403, 403, 403, 403, 403, 403]
}
/// Instance administrators only.
fn instance_admin(s: u16) -> Row {
    [
        401, s, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403,
    ]
}
/// Reading org `acme` itself or its app list (deploy tokens see their own org).
fn read_org(s: u16) -> Row {
    [401, s, s, s, s, s, 404, s, s, s, s, s, 404]
}
/// Org-wide lists (members, alert rules): deploy tokens of the org get what they can see
/// (an empty list, DESIGN §2) instead of a refusal.
fn read_org_details(s: u16) -> Row {
    [401, s, s, s, s, s, 404, s, s, s, s, s, 404]
}
/// One alert rule's deliveries: like the org-wide lists, but a deploy token of the org is
/// refused (it sees no rules, so it has no rule id to ask about).
fn read_rule(s: u16) -> Row {
    [401, s, s, s, s, s, 404, s, s, s, 403, 403, 404]
}
/// Reading app `web` and what is inside it.
fn read_web(s: u16) -> Row {
    [401, s, s, s, s, s, 404, s, s, s, s, 404, 404]
}
/// Deploy, env, config of `web`: operator and up, and web's deploy token.
fn write_web(s: u16) -> Row {
    [401, s, s, s, s, 403, 404, 403, s, s, s, 404, 404]
}
/// Org-level writes for operators and up (apps, alert rules).
fn operator_org(s: u16) -> Row {
    [401, s, s, s, s, 403, 404, 403, s, s, 403, 403, 404]
}
/// Org-level administration (members, org tokens).
fn admin_org(s: u16) -> Row {
    [401, s, s, s, 403, 403, 404, 403, 403, s, 403, 403, 404]
}
/// App-level administration (the app's deploy tokens, deleting the app).
fn admin_app(s: u16) -> Row {
    [401, s, s, s, 403, 403, 404, 403, 403, s, 403, 404, 404]
}
/// `/v1/tokens/{id}` of an org or deploy token of `acme`.
fn manage_token(s: u16) -> Row {
    [401, s, s, s, 403, 403, 404, 403, 403, s, 403, 403, 403]
}
/// `/v1/tokens/{id}` of the owner's personal token: the owner and the instance admin only.
fn owners_personal_token(s: u16) -> Row {
    [401, s, s, 404, 404, 404, 404, 404, 404, 404, 403, 403, 403]
}
/// `GET /v1/tokens`: users (their manageable tokens), org admin tokens.
fn list_tokens(s: u16) -> Row {
    [401, s, s, s, s, s, s, 403, 403, s, 403, 403, 403]
}
/// `PUT /v1/orgs/{org}/policy`: owners (and owner-role org tokens, none here).
fn owner_org(s: u16) -> Row {
    [401, s, s, 403, 403, 403, 404, 403, 403, 403, 403, 403, 404]
}
/// `GET /v1/audit`: every user and org token sees what it may; deploy tokens nothing.
fn audit(s: u16) -> Row {
    [401, s, s, s, s, s, s, s, s, s, 403, 403, 403]
}

/// A github-preset trust policy of `web`, named after `n`.
fn trust_policy(n: usize) -> Value {
    json!({"name": format!("ci {n}"), "preset": "github",
        "conditions": {"repository_id": "1", "repository_owner_id": "2", "ref": "refs/heads/main"}})
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum R {
    Healthz,
    Readyz,
    OpenApi,
    Login,
    WhoAmI,
    ListUsers,
    CreateUser,
    PatchUser,
    ListOrgs,
    CreateOrg,
    GetOrg,
    ListMembers,
    GetOrgPolicy,
    PutOrgPolicy,
    PutMember,
    DeleteMember,
    ListApps,
    CreateApp,
    GetApp,
    DeleteApp,
    ListAlerts,
    CreateAlert,
    DeleteAlert,
    UpdateAlert,
    RotateAlertSecret,
    TestAlert,
    ListDeliveries,
    RetryDelivery,
    PushDeploy,
    ListDeploys,
    GetDeploy,
    GetArtifact,
    ListEnv,
    PutEnv,
    DeleteEnv,
    GetConfig,
    PutConfig,
    CreateAppToken,
    ListAppTokens,
    CreateTrustPolicy,
    ListTrustPolicies,
    GetTrustPolicy,
    TestTrustPolicy,
    DeleteTrustPolicy,
    CreateOrgToken,
    ListOrgTokens,
    CreateUserToken,
    ListUserTokens,
    ListTokens,
    ListAllUsersTokens,
    GetDeployToken,
    PatchDeployToken,
    RotateDeployToken,
    RevokeDeployToken,
    GetOrgToken,
    GetPersonalToken,
    RevokePersonalToken,
    RotateSelf,
    Audit,
}

fn table() -> Vec<(R, Row)> {
    vec![
        (R::Healthz, public(200)),
        (R::Readyz, public(200)),
        (R::OpenApi, public(200)),
        (R::Login, public(201)),
        (R::WhoAmI, anyone(200)),
        (R::ListUsers, instance_admin(200)),
        (R::CreateUser, instance_admin(201)),
        (R::PatchUser, instance_admin(200)),
        (R::ListOrgs, anyone(200)),
        (R::CreateOrg, users(201)),
        (R::GetOrg, read_org(200)),
        (R::ListMembers, read_org_details(200)),
        // Org policy: what the org's tokens meet is org-wide detail (no deploy tokens).
        (R::GetOrgPolicy, read_rule(200)),
        (R::PutOrgPolicy, owner_org(200)),
        (R::PutMember, admin_org(200)),
        (R::DeleteMember, admin_org(204)),
        (R::ListApps, read_org(200)),
        (R::CreateApp, operator_org(201)),
        (R::GetApp, read_web(200)),
        (R::DeleteApp, admin_app(204)),
        (R::ListAlerts, read_org_details(200)),
        (R::CreateAlert, operator_org(201)),
        (R::DeleteAlert, operator_org(204)),
        (R::UpdateAlert, operator_org(200)),
        (R::RotateAlertSecret, operator_org(200)),
        (R::TestAlert, operator_org(202)),
        (R::ListDeliveries, read_rule(200)),
        (R::RetryDelivery, operator_org(202)),
        (R::PushDeploy, write_web(201)),
        (R::ListDeploys, read_web(200)),
        (R::GetDeploy, read_web(200)),
        (R::GetArtifact, read_web(200)),
        (R::ListEnv, read_web(200)),
        (R::PutEnv, write_web(200)),
        (R::DeleteEnv, write_web(204)),
        (R::GetConfig, read_web(200)),
        (R::PutConfig, write_web(200)),
        (R::CreateAppToken, admin_app(201)),
        (R::ListAppTokens, admin_app(200)),
        (R::CreateTrustPolicy, admin_app(201)),
        (R::ListTrustPolicies, admin_app(200)),
        (R::GetTrustPolicy, admin_app(200)),
        (R::TestTrustPolicy, admin_app(200)),
        (R::DeleteTrustPolicy, admin_app(204)),
        (R::CreateOrgToken, admin_org(201)),
        (R::ListOrgTokens, admin_org(200)),
        (R::CreateUserToken, users(201)),
        (R::ListUserTokens, users(200)),
        (R::ListTokens, list_tokens(200)),
        (R::ListAllUsersTokens, instance_admin(200)),
        (R::GetDeployToken, manage_token(200)),
        (R::PatchDeployToken, manage_token(200)),
        (R::RotateDeployToken, manage_token(200)),
        (R::RevokeDeployToken, manage_token(200)),
        (R::GetOrgToken, manage_token(200)),
        (R::GetPersonalToken, owners_personal_token(200)),
        (R::RevokePersonalToken, owners_personal_token(200)),
        // Only a deploy token created with rotate_self (none of these) rotates itself.
        (R::RotateSelf, anyone(403)),
        (R::Audit, audit(200)),
    ]
}

/// Routes whose successful answer legitimately carries a raw token.
fn hands_out_a_token(r: R) -> bool {
    matches!(
        r,
        R::Login
            | R::CreateAppToken
            | R::CreateOrgToken
            | R::CreateUserToken
            | R::RotateDeployToken
    )
}

struct World {
    app: TestApp,
    owner: String,
    admin: String,
    operator: String,
    viewer: String,
    viewer_id: String,
    outsider: String,
    org_viewer: String,
    org_operator: String,
    org_admin: String,
    deploy_web: String,
    deploy_api: String,
    deploy_other: String,
    /// A deploy token of `web` that rows read and rename (never revoke).
    target_deploy: String,
    /// An org token of `acme` that rows read.
    target_org: String,
    /// A personal token of the owner that rows read.
    target_personal: String,
}

impl World {
    fn token(&self, p: P) -> Option<String> {
        let t = match p {
            P::Anonymous => return None,
            P::InstanceAdmin => &self.app.admin_token,
            P::Owner => &self.owner,
            P::Admin => &self.admin,
            P::Operator => &self.operator,
            P::Viewer => &self.viewer,
            P::Outsider => &self.outsider,
            P::OrgViewer => &self.org_viewer,
            P::OrgOperator => &self.org_operator,
            P::OrgAdmin => &self.org_admin,
            P::DeployWeb => &self.deploy_web,
            P::DeployApi => &self.deploy_api,
            P::DeployOther => &self.deploy_other,
        };
        Some(t.clone())
    }

    fn all_raw_tokens(&self) -> Vec<String> {
        PRINCIPALS.iter().filter_map(|p| self.token(*p)).collect()
    }
}

async fn world() -> World {
    world_with(|_| {}).await
}

async fn world_with(tweak: impl FnOnce(&mut gantry_server::ServerConfig)) -> World {
    let app = spawn_app_with(tweak).await;
    let (_, owner) = app.user("owner@acme.test").await;
    app.org_with_app(&owner, "acme", "web").await;
    let r = app
        .post("/v1/orgs/acme/apps", &owner, json!({"slug": "api"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut sessions = Vec::new();
    for role in ["admin", "operator", "viewer"] {
        let (id, session) = app.user(&format!("{role}@acme.test")).await;
        app.add_member(&owner, "acme", &id, role).await;
        sessions.push((id, session));
    }
    let (_, outsider) = app.user("outsider@globex.test").await;
    app.org_with_app(&outsider, "globex", "zap").await;

    let (_, org_viewer) = app.org_token(&owner, "acme", "viewer").await;
    let (_, org_operator) = app.org_token(&owner, "acme", "operator").await;
    let (_, org_admin) = app.org_token(&owner, "acme", "admin").await;
    let (_, deploy_web) = app
        .deploy_token(&owner, "web", json!({"name": "web ci"}))
        .await;
    let (_, deploy_api) = app
        .deploy_token(&owner, "api", json!({"name": "api ci"}))
        .await;
    let (_, deploy_other) = app
        .deploy_token(&outsider, "zap", json!({"name": "zap ci"}))
        .await;

    let (target_deploy, _) = app
        .deploy_token(&owner, "web", json!({"name": "target"}))
        .await;
    let (target_org, _) = app.org_token(&owner, "acme", "operator").await;
    let (target_personal, _) = app
        .personal_token(&owner, json!({"name": "owner laptop"}))
        .await;
    let r = app
        .deploy(&owner, "web", b"release one".to_vec(), Some("one"), false)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let (viewer_id, viewer) = sessions.pop().unwrap();
    let (_, operator) = sessions.pop().unwrap();
    let (_, admin) = sessions.pop().unwrap();

    World {
        app,
        owner,
        admin,
        operator,
        viewer,
        viewer_id,
        outsider,
        org_viewer,
        org_operator,
        org_admin,
        deploy_web,
        deploy_api,
        deploy_other,
        target_deploy,
        target_org,
        target_personal,
    }
}

enum Body {
    Empty,
    Json(Value),
    /// A multipart deploy of a small artifact to `web`.
    Artifact,
}

struct Call {
    method: Method,
    path: String,
    body: Body,
    /// Replaces the caller's token (the deploy token of a throwaway app for "delete an app").
    as_token: Option<String>,
}

/// Builds the request for `route` as `p`, creating whatever fresh target the row needs.
async fn prepare(w: &World, route: R, p: P, n: usize) -> Call {
    let app = &w.app;
    let owner = w.owner.as_str();
    let (method, path, body) = match route {
        R::Healthz => (Method::GET, "/healthz".to_owned(), Body::Empty),
        R::Readyz => (Method::GET, "/readyz".to_owned(), Body::Empty),
        R::OpenApi => (Method::GET, "/v1/openapi.json".to_owned(), Body::Empty),
        R::Login => (
            Method::POST,
            "/v1/auth/login".to_owned(),
            Body::Json(json!({"email": "viewer@acme.test", "password": PASSWORD})),
        ),
        R::WhoAmI => (Method::GET, "/v1/user".to_owned(), Body::Empty),
        R::ListUsers => (Method::GET, "/v1/users".to_owned(), Body::Empty),
        R::CreateUser => (
            Method::POST,
            "/v1/users".to_owned(),
            Body::Json(json!({"email": format!("new{n}@example.com"), "password": PASSWORD})),
        ),
        R::PatchUser => (
            Method::PATCH,
            format!("/v1/users/{}", w.viewer_id),
            Body::Json(json!({"name": format!("Viewer {n}")})),
        ),
        R::ListOrgs => (Method::GET, "/v1/orgs".to_owned(), Body::Empty),
        R::CreateOrg => (
            Method::POST,
            "/v1/orgs".to_owned(),
            Body::Json(json!({"slug": format!("org-{n}")})),
        ),
        R::GetOrg => (Method::GET, "/v1/orgs/acme".to_owned(), Body::Empty),
        R::ListMembers => (Method::GET, "/v1/orgs/acme/members".to_owned(), Body::Empty),
        R::GetOrgPolicy => (Method::GET, "/v1/orgs/acme/policy".to_owned(), Body::Empty),
        // The empty policy: what every row's tokens already live under.
        R::PutOrgPolicy => (
            Method::PUT,
            "/v1/orgs/acme/policy".to_owned(),
            Body::Json(json!({})),
        ),
        R::PutMember => {
            let uid = app.create_user(&format!("put{n}@example.com")).await;
            (
                Method::PUT,
                format!("/v1/orgs/acme/members/{uid}"),
                Body::Json(json!({"role": "viewer"})),
            )
        }
        R::DeleteMember => {
            let uid = app.create_user(&format!("del{n}@example.com")).await;
            app.add_member(owner, "acme", &uid, "viewer").await;
            (
                Method::DELETE,
                format!("/v1/orgs/acme/members/{uid}"),
                Body::Empty,
            )
        }
        R::ListApps => (Method::GET, "/v1/orgs/acme/apps".to_owned(), Body::Empty),
        R::CreateApp => (
            Method::POST,
            "/v1/orgs/acme/apps".to_owned(),
            Body::Json(json!({"slug": format!("app-{n}")})),
        ),
        R::GetApp => (Method::GET, "/v1/apps/web".to_owned(), Body::Empty),
        R::DeleteApp => {
            let slug = format!("tmp-{n}");
            let r = app
                .post("/v1/orgs/acme/apps", owner, json!({"slug": slug.as_str()}))
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            let path = format!("/v1/apps/{slug}");
            if p == P::DeployWeb {
                let (_, own) = app
                    .deploy_token(owner, &slug, json!({"name": "own app"}))
                    .await;
                return Call {
                    method: Method::DELETE,
                    path,
                    body: Body::Empty,
                    as_token: Some(own),
                };
            }
            (Method::DELETE, path, Body::Empty)
        }
        R::ListAlerts => (Method::GET, "/v1/orgs/acme/alerts".to_owned(), Body::Empty),
        R::CreateAlert => (
            Method::POST,
            "/v1/orgs/acme/alerts".to_owned(),
            Body::Json(json!({
                "name": format!("alert {n}"),
                "event": "deploy",
                "target": "https://hooks.example.com/gantry"
            })),
        ),
        R::ListDeliveries => {
            let r = app
                .post(
                    "/v1/orgs/acme/alerts",
                    owner,
                    json!({"name": format!("watched {n}"), "events": ["token.created"], "target": "https://hooks.example.com/gantry"}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            let id = r.body["id"].as_str().unwrap().to_owned();
            (
                Method::GET,
                format!("/v1/orgs/acme/alerts/{id}/deliveries"),
                Body::Empty,
            )
        }
        R::UpdateAlert | R::RotateAlertSecret | R::TestAlert | R::RetryDelivery => {
            let r = app
                .post(
                    "/v1/orgs/acme/alerts",
                    owner,
                    json!({"name": format!("managed {n}"), "event": "ping", "target": "https://hooks.example.com/gantry"}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            let id = r.body["id"].as_str().unwrap().to_owned();
            let base = format!("/v1/orgs/acme/alerts/{id}");
            match route {
                R::UpdateAlert => (Method::PATCH, base, Body::Json(json!({"enabled": false}))),
                R::RotateAlertSecret => {
                    (Method::POST, format!("{base}/rotate-secret"), Body::Empty)
                }
                R::TestAlert => (Method::POST, format!("{base}/test"), Body::Empty),
                _ => {
                    let t = app.post(&format!("{base}/test"), owner, json!({})).await;
                    assert_eq!(t.status, 202, "{}", t.text);
                    let d = t.body["id"].as_str().unwrap();
                    (
                        Method::POST,
                        format!("{base}/deliveries/{d}/retry"),
                        Body::Empty,
                    )
                }
            }
        }
        R::DeleteAlert => {
            let r = app
                .post(
                    "/v1/orgs/acme/alerts",
                    owner,
                    json!({"name": format!("doomed {n}"), "event": "token_revoked", "target": "mailto:ops@acme.test"}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            let id = r.body["id"].as_str().unwrap().to_owned();
            (
                Method::DELETE,
                format!("/v1/orgs/acme/alerts/{id}"),
                Body::Empty,
            )
        }
        R::PushDeploy => (
            Method::POST,
            "/v1/apps/web/deploys".to_owned(),
            Body::Artifact,
        ),
        R::ListDeploys => (Method::GET, "/v1/apps/web/deploys".to_owned(), Body::Empty),
        R::GetDeploy => (
            Method::GET,
            "/v1/apps/web/deploys/1".to_owned(),
            Body::Empty,
        ),
        R::GetArtifact => (
            Method::GET,
            "/v1/apps/web/deploys/1/artifact".to_owned(),
            Body::Empty,
        ),
        R::ListEnv => (Method::GET, "/v1/apps/web/env".to_owned(), Body::Empty),
        R::PutEnv => (
            Method::PUT,
            format!("/v1/apps/web/env/KEY_{n}"),
            Body::Json(json!({"value": "v"})),
        ),
        R::DeleteEnv => {
            let key = format!("DOOMED_{n}");
            let r = app
                .put(
                    &format!("/v1/apps/web/env/{key}"),
                    owner,
                    json!({"value": "x"}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            (
                Method::DELETE,
                format!("/v1/apps/web/env/{key}"),
                Body::Empty,
            )
        }
        R::GetConfig => (Method::GET, "/v1/apps/web/config".to_owned(), Body::Empty),
        R::PutConfig => (
            Method::PUT,
            "/v1/apps/web/config".to_owned(),
            Body::Json(json!({"row": n})),
        ),
        R::CreateAppToken => (
            Method::POST,
            "/v1/apps/web/tokens".to_owned(),
            Body::Json(json!({"name": format!("t{n}")})),
        ),
        R::ListAppTokens => (Method::GET, "/v1/apps/web/tokens".to_owned(), Body::Empty),
        R::CreateTrustPolicy => (
            Method::POST,
            "/v1/apps/web/trust-policies".to_owned(),
            Body::Json(trust_policy(n)),
        ),
        R::ListTrustPolicies => (
            Method::GET,
            "/v1/apps/web/trust-policies".to_owned(),
            Body::Empty,
        ),
        R::GetTrustPolicy | R::TestTrustPolicy | R::DeleteTrustPolicy => {
            let r = app
                .post(
                    "/v1/apps/web/trust-policies",
                    owner,
                    trust_policy(n + 10_000),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            let path = format!(
                "/v1/apps/web/trust-policies/{}",
                r.body["id"].as_str().unwrap()
            );
            match route {
                R::GetTrustPolicy => (Method::GET, path, Body::Empty),
                R::TestTrustPolicy => (
                    Method::POST,
                    format!("{path}/test"),
                    Body::Json(json!({"token": "not.a.jwt"})),
                ),
                _ => (Method::DELETE, path, Body::Empty),
            }
        }
        R::CreateOrgToken => (
            Method::POST,
            "/v1/orgs/acme/tokens".to_owned(),
            Body::Json(json!({"name": format!("t{n}"), "role": "viewer"})),
        ),
        R::ListOrgTokens => (Method::GET, "/v1/orgs/acme/tokens".to_owned(), Body::Empty),
        R::CreateUserToken => (
            Method::POST,
            "/v1/user/tokens".to_owned(),
            Body::Json(json!({"name": format!("t{n}")})),
        ),
        R::ListUserTokens => (Method::GET, "/v1/user/tokens".to_owned(), Body::Empty),
        R::ListTokens => (Method::GET, "/v1/tokens".to_owned(), Body::Empty),
        R::RotateSelf => (
            Method::POST,
            "/v1/tokens/self/rotate".to_owned(),
            Body::Json(json!({})),
        ),
        R::ListAllUsersTokens => (
            Method::GET,
            "/v1/tokens?all_users=true".to_owned(),
            Body::Empty,
        ),
        R::GetDeployToken => (
            Method::GET,
            format!("/v1/tokens/{}", w.target_deploy),
            Body::Empty,
        ),
        R::PatchDeployToken => (
            Method::PATCH,
            format!("/v1/tokens/{}", w.target_deploy),
            Body::Json(json!({"description": format!("touched by row {n}")})),
        ),
        R::RotateDeployToken => {
            let (id, _) = app
                .deploy_token(owner, "web", json!({"name": format!("rot{n}")}))
                .await;
            (
                Method::POST,
                format!("/v1/tokens/{id}/rotate"),
                Body::Json(json!({})),
            )
        }
        R::RevokeDeployToken => {
            let (id, _) = app
                .deploy_token(owner, "web", json!({"name": format!("rev{n}")}))
                .await;
            (Method::DELETE, format!("/v1/tokens/{id}"), Body::Empty)
        }
        R::GetOrgToken => (
            Method::GET,
            format!("/v1/tokens/{}", w.target_org),
            Body::Empty,
        ),
        R::GetPersonalToken => (
            Method::GET,
            format!("/v1/tokens/{}", w.target_personal),
            Body::Empty,
        ),
        R::RevokePersonalToken => {
            let (id, _) = app
                .personal_token(owner, json!({"name": format!("pat{n}")}))
                .await;
            (Method::DELETE, format!("/v1/tokens/{id}"), Body::Empty)
        }
        R::Audit => (Method::GET, "/v1/audit".to_owned(), Body::Empty),
    };
    Call {
        method,
        path,
        body,
        as_token: None,
    }
}

async fn send(app: &TestApp, call: Call, token: Option<&str>) -> Resp {
    match call.body {
        Body::Empty => app.req(call.method, &call.path, token, None).await,
        Body::Json(v) => app.req(call.method, &call.path, token, Some(v)).await,
        Body::Artifact => {
            app.deploy_form(token, "web", b"table artifact".to_vec(), &[])
                .await
        }
    }
}

/// What is wrong with an answer besides its status, if anything.
fn shape_problem(r: &Resp) -> Option<String> {
    if r.status < 400 {
        return None;
    }
    let code = r.body["error"]["code"].as_str().unwrap_or("");
    let message = r.body["error"]["message"].as_str().unwrap_or("");
    if code.is_empty() || message.is_empty() {
        return Some(format!("no error envelope: {}", r.text));
    }
    let challenge = r.header("www-authenticate");
    match r.status {
        401 if !challenge.starts_with("Bearer") => {
            Some(format!("401 without a Bearer challenge ({challenge:?})"))
        }
        403 if code != "forbidden" || !challenge.contains("error=\"insufficient_scope\"") => {
            Some(format!(
                "403 should be `forbidden` with insufficient_scope, got {code} / {challenge:?}"
            ))
        }
        404 if code != "not_found" => Some(format!("404 should be `not_found`, got {code}")),
        _ => None,
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_table_says() {
    let w = world().await;
    let secrets = w.all_raw_tokens();
    let mut failures = Vec::new();
    let mut calls = 0usize;

    for (route, row) in table() {
        for (col, p) in PRINCIPALS.iter().enumerate() {
            calls += 1;
            let call = prepare(&w, route, *p, calls).await;
            let described = format!("{} {} ({route:?})", call.method, call.path);
            let token = call.as_token.clone().or_else(|| w.token(*p));
            let r = send(&w.app, call, token.as_deref()).await;
            let want = row[col];
            if r.status != want {
                failures.push(format!(
                    "{described} as {p:?}: expected {want}, got {} {}",
                    r.status,
                    r.text.chars().take(200).collect::<String>()
                ));
                continue;
            }
            if let Some(problem) = shape_problem(&r) {
                failures.push(format!("{described} as {p:?}: {problem}"));
            }
            if !hands_out_a_token(route) || r.status >= 400 {
                for s in &secrets {
                    if r.text.contains(s.as_str()) {
                        failures.push(format!(
                            "{described} as {p:?}: a raw token is in the answer"
                        ));
                    }
                }
            }
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {calls} calls differ from the table:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Where a restricted token is used from, in the address dimension of the table.
#[derive(Clone, Copy, Debug)]
enum Whence {
    /// Through the trusted proxy (`X-Forwarded-For`), inside / outside the token's networks.
    ProxiedInsideV4,
    ProxiedInsideV6,
    ProxiedOutsideV4,
    ProxiedOutsideV6,
    /// Straight from the peer (127.0.0.1), inside / outside.
    DirectInside,
    DirectOutside,
}

impl Whence {
    const ALL: [Whence; 6] = [
        Whence::ProxiedInsideV4,
        Whence::ProxiedInsideV6,
        Whence::ProxiedOutsideV4,
        Whence::ProxiedOutsideV6,
        Whence::DirectInside,
        Whence::DirectOutside,
    ];

    fn forwarded_for(self) -> Option<&'static str> {
        match self {
            Whence::ProxiedInsideV4 => Some("203.0.113.9"),
            Whence::ProxiedInsideV6 => Some("2001:db8::9"),
            Whence::ProxiedOutsideV4 => Some("198.51.100.9"),
            Whence::ProxiedOutsideV6 => Some("2001:db9::9"),
            Whence::DirectInside | Whence::DirectOutside => None,
        }
    }

    fn inside(self) -> bool {
        matches!(
            self,
            Whence::ProxiedInsideV4 | Whence::ProxiedInsideV6 | Whence::DirectInside
        )
    }

    /// The networks of the token used from here.
    fn networks(self) -> Value {
        match self {
            Whence::DirectInside => json!(["127.0.0.0/8", "::1/128"]),
            Whence::DirectOutside => json!(["10.0.0.0/8", "fd00::/8"]),
            _ => json!(["203.0.113.0/24", "2001:db8::/32"]),
        }
    }
}

/// A token like `p`'s (same kind, scope and role), restricted to `nets`.
async fn restricted_like(w: &World, p: P, nets: &Value) -> String {
    let app = &w.app;
    match p {
        P::Owner => {
            app.personal_token(&w.owner, json!({"name": "restricted", "allowed_ips": nets}))
                .await
                .1
        }
        P::OrgAdmin => {
            app.org_token_with(
                &w.owner,
                "acme",
                json!({"name": "restricted", "role": "admin", "allowed_ips": nets}),
            )
            .await
            .1
        }
        P::DeployWeb => {
            app.deploy_token(
                &w.owner,
                "web",
                json!({"name": "restricted", "allowed_ips": nets}),
            )
            .await
            .1
        }
        other => panic!("no restricted twin for {other:?}"),
    }
}

#[tokio::test]
async fn every_route_answers_a_restricted_token_by_the_address_it_is_used_from() {
    // The address dimension (DESIGN §10): for a personal, an org and a deploy token, a twin
    // restricted with allowed_ips answers every route exactly as the table says when used from
    // inside its networks — through the trusted proxy (IPv4 and IPv6) or directly — and 401
    // from outside, on every route that takes a credential at all.
    let mut w = world_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.settings.failed_auth_limit = limit(1_000_000, 60);
    })
    .await;
    let plain_client = w.app.http.clone();
    let mut failures = Vec::new();
    let mut calls = 0usize;
    for from in Whence::ALL {
        let nets = from.networks();
        let mut twins = Vec::new();
        for p in [P::Owner, P::OrgAdmin, P::DeployWeb] {
            twins.push((p, restricted_like(&w, p, &nets).await));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(ip) = from.forwarded_for() {
            headers.insert("x-forwarded-for", ip.parse().unwrap());
        }
        w.app.http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap();
        for (route, row) in table() {
            for (p, token) in &twins {
                let col = PRINCIPALS.iter().position(|x| x == p).unwrap();
                calls += 1;
                let call = prepare(&w, route, *p, calls).await;
                if call.as_token.is_some() {
                    continue; // the row acts with another token than the caller's
                }
                let described = format!("{} {} ({route:?})", call.method, call.path);
                let public = row[0] != 401;
                let want = if public || !from.inside() {
                    if public {
                        row[col]
                    } else {
                        401
                    }
                } else if route == R::RotateDeployToken && row[col] == 200 {
                    // Rotating an unrestricted token would hand this one a value usable
                    // from anywhere: refused (a token never widens itself).
                    403
                } else {
                    row[col]
                };
                let r = send(&w.app, call, Some(token)).await;
                if r.status != want {
                    failures.push(format!(
                        "{described} as restricted {p:?} from {from:?}: expected {want}, got {} {}",
                        r.status,
                        r.text.chars().take(160).collect::<String>()
                    ));
                } else if want == 401
                    && r.status == 401
                    && r.body["error"]["code"] != "address_not_allowed"
                {
                    failures.push(format!(
                        "{described} from {from:?}: 401 for another reason: {}",
                        r.text
                    ));
                }
            }
        }
        w.app.http = plain_client.clone();
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
