//! Narrower tokens (DESIGN §10): `capabilities` on org and deploy tokens — every app route and
//! forward auth against each single capability, and no token handing out more than it holds.

use crate::helpers::*;
use serde_json::json;

const CAPS: [&str; 4] = ["read", "deploy", "env", "config"];

/// Each app-level route, by the capability it needs: (what, method, path, capability).
async fn call(app: &TestApp, token: &str, what: &str, n: usize) -> u16 {
    match what {
        "get app" => app.get("/v1/apps/web", token).await.status,
        "list env" => app.get("/v1/apps/web/env", token).await.status,
        "get config" => app.get("/v1/apps/web/config", token).await.status,
        "list releases" => app.get("/v1/apps/web/deploys", token).await.status,
        "deploy" => {
            app.deploy(token, "web", format!("build {n}").into_bytes(), None, false)
                .await
                .status
        }
        "set env" => {
            app.put(
                &format!("/v1/apps/web/env/K{n}"),
                token,
                json!({"value": "v"}),
            )
            .await
            .status
        }
        "unset env" => app.delete("/v1/apps/web/env/SEEDED", token).await.status,
        "set config" => {
            app.put("/v1/apps/web/config", token, json!({"n": n}))
                .await
                .status
        }
        other => panic!("{other}"),
    }
}

const ROUTES: [(&str, &str); 8] = [
    ("get app", "read"),
    ("list env", "read"),
    ("get config", "read"),
    ("list releases", "read"),
    ("deploy", "deploy"),
    ("set env", "env"),
    ("unset env", "env"),
    ("set config", "config"),
];

#[tokio::test]
async fn each_single_capability_allows_exactly_its_actions_on_every_app_route_and_in_forward_auth()
{
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    app.org_with_app(&admin, "acme", "web").await;
    let mut wrong = Vec::new();
    let mut n = 0;
    for cap in CAPS {
        let (_, deploy) = app
            .deploy_token(
                &admin,
                "web",
                json!({"name": format!("only {cap}"), "capabilities": [cap]}),
            )
            .await;
        let (_, org) = app
            .org_token_with(
                &admin,
                "acme",
                json!({"name": format!("op {cap}"), "role": "operator", "capabilities": [cap]}),
            )
            .await;
        for (kind, token) in [("deploy", &deploy), ("org operator", &org)] {
            for (route, needs) in ROUTES {
                n += 1;
                // Something to unset, put there by the admin each time.
                app.put("/v1/apps/web/env/SEEDED", &admin, json!({"value": "x"}))
                    .await;
                let status = call(&app, token, route, n).await;
                let allowed = (200..300).contains(&status);
                if allowed != (needs == cap) {
                    wrong.push(format!("{kind} token with [{cap}]: {route} → {status}"));
                }
                if !allowed && status != 403 {
                    wrong.push(format!(
                        "{kind} token with [{cap}]: {route} → {status}, not 403"
                    ));
                }
            }
            for asked in CAPS {
                let r = app
                    .get(&format!("/v1/auth/check?app=web&capability={asked}"), token)
                    .await;
                let expected = if asked == cap { 200 } else { 403 };
                if r.status != expected {
                    wrong.push(format!(
                        "{kind} token with [{cap}]: check {asked} → {}",
                        r.status
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn a_token_gives_no_more_capabilities_than_it_holds_and_old_tokens_keep_them_all() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    app.org_with_app(&admin, "acme", "web").await;
    // Without `capabilities`: all four, shown as the list; introspection says so too.
    let (id, plain) = app.deploy_token(&admin, "web", json!({"name": "ci"})).await;
    let shown = app.get(&format!("/v1/tokens/{id}"), &admin).await;
    assert_eq!(shown.body["capabilities"], json!(CAPS), "{}", shown.text);
    let r = app
        .http
        .post(format!("{}/v1/oauth/introspect", app.base))
        .bearer_auth(&admin)
        .form(&[("token", plain.as_str())])
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["capabilities"], json!(CAPS), "{body}");
    // An admin org token narrowed to read and deploy makes at most that.
    let (_, narrow) = app
        .org_token_with(
            &admin,
            "acme",
            json!({"name": "bot", "role": "admin", "capabilities": ["deploy", "read"]}),
        )
        .await;
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &narrow,
            json!({"name": "wider", "capabilities": ["env"]}),
        )
        .await;
    assert_invalid_field(&r, "capabilities");
    assert!(r.text.contains("read, deploy"), "{}", r.text);
    let r = app
        .post("/v1/apps/web/tokens", &narrow, json!({"name": "default"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["capabilities"], json!(["read", "deploy"]));
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &narrow,
            json!({"name": "narrower", "capabilities": ["deploy"]}),
        )
        .await;
    assert_eq!(r.body["capabilities"], json!(["deploy"]), "{}", r.text);
    // Bad lists, and personal tokens, which act as their user.
    for bad in [json!([]), json!(["admin"]), json!(["read", "write"])] {
        let r = app
            .post(
                "/v1/apps/web/tokens",
                &admin,
                json!({"name": "x", "capabilities": bad}),
            )
            .await;
        assert_invalid_field(&r, "capabilities");
    }
    let r = app
        .post(
            "/v1/user/tokens",
            &admin,
            json!({"name": "x", "capabilities": ["read"]}),
        )
        .await;
    assert_invalid_field(&r, "capabilities");
    // A narrowed token keeps its capabilities through rotation.
    let (id, _) = app
        .deploy_token(
            &admin,
            "web",
            json!({"name": "env only", "capabilities": ["env"]}),
        )
        .await;
    let r = app.rotate(&admin, &id, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["capabilities"], json!(["env"]));
    let rotated = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.put("/v1/apps/web/env/A", &rotated, json!({"value": "1"}))
            .await
            .status,
        200
    );
    assert_eq!(
        app.put("/v1/apps/web/config", &rotated, json!({}))
            .await
            .status,
        403
    );
}
