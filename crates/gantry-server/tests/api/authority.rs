//! Issue 5: the hot path stays coherent (every revocation path is refused by the very next
//! request, with the in-memory index warm), last use is coalesced and flushed, RFC 7662
//! introspection and RFC 7009 revocation answer as the RFCs say, and forward auth works
//! behind a real nginx.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// Calls `GET /v1/apps/web` with `token` a few times (warming every cache on the way).
async fn warm(app: &TestApp, token: &str, path: &str) {
    for _ in 0..3 {
        let r = app.get(path, token).await;
        assert_eq!(r.status, 200, "warming {path}: {}", r.text);
    }
}

async fn refused(app: &TestApp, token: &str, path: &str) -> u16 {
    let r = app.get(path, token).await;
    assert!(
        r.status == 401 || r.status == 403 || r.status == 404,
        "{path} still answers {}: {}",
        r.status,
        r.text
    );
    r.status
}

#[tokio::test]
async fn revocation_through_any_path_is_refused_by_the_next_request() {
    let app = spawn_app().await;
    let (dev_id, dev) = app.user("dev@example.com").await;
    let owner = app.admin_token.clone();
    app.org_with_app(&owner, "acme", "web").await;
    app.add_member(&owner, "acme", &dev_id, "operator").await;

    // 1. DELETE /v1/tokens/{id}
    let (id, t) = app.deploy_token(&owner, "web", json!({"name": "a"})).await;
    warm(&app, &t, "/v1/apps/web").await;
    assert_eq!(
        app.delete(&format!("/v1/tokens/{id}"), &owner).await.status,
        200
    );
    assert_eq!(refused(&app, &t, "/v1/apps/web").await, 401);

    // 2. Rotation without grace: the old value.
    let (id, old) = app.deploy_token(&owner, "web", json!({"name": "b"})).await;
    warm(&app, &old, "/v1/apps/web").await;
    let new = app
        .post(&format!("/v1/tokens/{id}/rotate"), &owner, json!({}))
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(refused(&app, &old, "/v1/apps/web").await, 401);
    warm(&app, &new, "/v1/apps/web").await;

    // 3. Rotation with grace: the old value until the grace ends, on the clock.
    let rotated = app
        .post(
            &format!("/v1/tokens/{id}/rotate"),
            &owner,
            json!({"grace_period": "1h"}),
        )
        .await;
    let newer = rotated.body["token"].as_str().unwrap().to_owned();
    warm(&app, &new, "/v1/apps/web").await;
    warm(&app, &newer, "/v1/apps/web").await;
    app.advance(Duration::from_secs(3601));
    assert_eq!(refused(&app, &new, "/v1/apps/web").await, 401);
    warm(&app, &newer, "/v1/apps/web").await;

    // 4. Expiry, on the clock.
    let (_, short) = app
        .deploy_token(&owner, "web", json!({"name": "c", "expires_in": "2h"}))
        .await;
    warm(&app, &short, "/v1/apps/web").await;
    app.advance(Duration::from_secs(2 * 3600 + 1));
    assert_eq!(refused(&app, &short, "/v1/apps/web").await, 401);

    // 5. Deleting the app revokes its deploy tokens.
    let r = app
        .post("/v1/orgs/acme/apps", &owner, json!({"slug": "tmp"}))
        .await;
    assert_eq!(r.status, 201);
    let (_, tmp) = app.deploy_token(&owner, "tmp", json!({"name": "d"})).await;
    warm(&app, &tmp, "/v1/apps/tmp").await;
    assert_eq!(app.delete("/v1/apps/tmp", &owner).await.status, 204);
    assert_eq!(refused(&app, &tmp, "/v1/user").await, 401);
    // …and the slug is free again, also in the cache.
    assert_eq!(
        app.post("/v1/orgs/acme/apps", &owner, json!({"slug": "tmp"}))
            .await
            .status,
        201
    );

    // 6. Membership removal: the user's personal token loses the app at once.
    warm(&app, &dev, "/v1/apps/web").await;
    assert_eq!(
        app.delete(&format!("/v1/orgs/acme/members/{dev_id}"), &owner)
            .await
            .status,
        204
    );
    assert_eq!(refused(&app, &dev, "/v1/apps/web").await, 404);

    // 7. Disabling the user: every request refused.
    app.add_member(&owner, "acme", &dev_id, "operator").await;
    warm(&app, &dev, "/v1/apps/web").await;
    assert_eq!(
        app.patch(
            &format!("/v1/users/{dev_id}"),
            &owner,
            json!({"disabled": true})
        )
        .await
        .status,
        200
    );
    assert_eq!(refused(&app, &dev, "/v1/user").await, 401);
    assert_eq!(
        app.patch(
            &format!("/v1/users/{dev_id}"),
            &owner,
            json!({"disabled": false})
        )
        .await
        .status,
        200
    );
    warm(&app, &dev, "/v1/apps/web").await;

    // 8. RFC 7009 revocation by whoever holds the token.
    let (_, leaked) = app.deploy_token(&owner, "web", json!({"name": "e"})).await;
    warm(&app, &leaked, "/v1/apps/web").await;
    let r = app
        .http
        .post(format!("{}/v1/oauth/revoke", app.base))
        .form(&[("token", leaked.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(refused(&app, &leaked, "/v1/apps/web").await, 401);

    // 9. A role lowered: the operator's personal token can no longer deploy config.
    let put = app.put("/v1/apps/web/config", &dev, json!({"a": 1})).await;
    assert_eq!(put.status, 200);
    app.add_member(&owner, "acme", &dev_id, "viewer").await;
    assert_eq!(
        app.put("/v1/apps/web/config", &dev, json!({"a": 2}))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn last_use_is_flushed_within_the_interval_without_a_write_per_request() {
    let app = spawn_app().await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let (id, t) = app
        .deploy_token(&app.admin_token, "web", json!({"name": "ci"}))
        .await;
    for _ in 0..20 {
        assert_eq!(app.get("/v1/apps/web", &t).await.status, 200);
    }
    // Coalesced: one pending record for twenty uses, visible at once through the overlay.
    assert!(app.started.gantry.usage().pending(&id).is_some());
    let shown = app.get(&format!("/v1/tokens/{id}"), &app.admin_token).await;
    assert!(shown.body["last_used_at"].is_string());
    // Written within the flush interval (200 ms in tests, 1 s by default).
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !app.started.gantry.usage().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "last use was not flushed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shown = app.get(&format!("/v1/tokens/{id}"), &app.admin_token).await;
    assert!(
        shown.body["last_used_at"].is_string(),
        "read back from the database: {}",
        shown.text
    );
    assert_eq!(shown.body["last_used_ip"], "127.0.0.1");
}

async fn introspect(
    app: &TestApp,
    caller: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, Value, String) {
    let mut rb = app
        .http
        .post(format!("{}/v1/oauth/introspect", app.base))
        .form(form);
    if let Some(c) = caller {
        rb = rb.bearer_auth(c);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    assert!(status < 500, "{text}");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        cache,
    )
}

#[tokio::test]
async fn introspection_answers_as_rfc_7662_section_2_2_says() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    app.org_with_app(&admin, "acme", "web").await;
    let (id, deploy) = app
        .deploy_token(&admin, "web", json!({"name": "ci", "expires_in": "30d"}))
        .await;

    let (status, body, cache) = introspect(
        &app,
        Some(&admin),
        &[("token", &deploy), ("token_type_hint", "access_token")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(cache, "no-store");
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "app:web:deploy");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["client_id"], id.as_str());
    assert_eq!(body["jti"], id.as_str());
    assert_eq!(body["iss"], "gantry");
    assert_eq!(
        (
            body["kind"].as_str(),
            body["org"].as_str(),
            body["app"].as_str()
        ),
        (Some("deploy"), Some("acme"), Some("web"))
    );
    let (iat, exp) = (body["iat"].as_i64().unwrap(), body["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 30 * 86_400);
    assert!(
        !body.to_string().contains(&deploy[12..]),
        "no secret in the answer"
    );

    // An org token of another org may not see it: inactive, not an error.
    let (_, other) = app.user("other@example.com").await;
    app.org_with_app(&other, "globex", "zap").await;
    let r = app
        .post(
            "/v1/orgs/globex/tokens",
            &other,
            json!({"name": "x", "role": "admin"}),
        )
        .await;
    let globex_admin = r.body["token"].as_str().unwrap().to_owned();
    let (status, body, _) = introspect(&app, Some(&globex_admin), &[("token", &deploy)]).await;
    assert_eq!((status, body), (200, json!({"active": false})));

    // Inactive is exactly {"active": false}: unknown, malformed, expired, revoked.
    let unknown = {
        let mut u = deploy.clone();
        u.replace_range(4..10, "ZZZZZZ");
        u
    };
    for presented in [unknown.as_str(), "garbage", ""] {
        let (status, body, _) = introspect(&app, Some(&admin), &[("token", presented)]).await;
        if presented.is_empty() {
            assert_eq!(status, 400);
            assert_eq!(body["error"], "invalid_request");
        } else {
            assert_eq!(
                (status, body),
                (200, json!({"active": false})),
                "{presented}"
            );
        }
    }
    app.advance(Duration::from_secs(31 * 86_400));
    let (_, body, _) = introspect(&app, Some(&admin), &[("token", &deploy)]).await;
    assert_eq!(body, json!({"active": false}), "expired");
    let (id2, t2) = app
        .deploy_token(&admin, "web", json!({"name": "ci2"}))
        .await;
    app.delete(&format!("/v1/tokens/{id2}"), &admin).await;
    let (_, body, _) = introspect(&app, Some(&admin), &[("token", &t2)]).await;
    assert_eq!(body, json!({"active": false}), "revoked");

    // Personal tokens: the user sees their own; the answer names them.
    let (_, dev) = app.user("dev@example.com").await;
    let (_, body, _) = introspect(&app, Some(&dev), &[("token", &dev)]).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["username"], "dev@example.com");
    assert_eq!(body["scope"], "user");

    // The caller must authenticate (RFC 7662 §2.1) and may not be a deploy token.
    let (status, _, _) = introspect(&app, None, &[("token", &dev)]).await;
    assert_eq!(status, 401);
    let (_, d3) = app
        .deploy_token(&admin, "web", json!({"name": "ci3"}))
        .await;
    let (status, _, _) = introspect(&app, Some(&d3), &[("token", &d3)]).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn revocation_answers_as_rfc_7009_section_2_2_says_and_is_audited() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    app.org_with_app(&admin, "acme", "web").await;
    let (id, t) = app.deploy_token(&admin, "web", json!({"name": "ci"})).await;
    let revoke = |token: String| {
        let http = app.http.clone();
        let url = format!("{}/v1/oauth/revoke", app.base);
        async move {
            let r = http
                .post(url)
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // No authentication needed: possession of the token is the proof.
    assert_eq!(revoke(t.clone()).await.0, 200);
    assert_eq!(app.get("/v1/apps/web", &t).await.code(), "token_revoked");
    // Revoking again, an unknown token, garbage: 200 all the same (§2.2).
    assert_eq!(revoke(t.clone()).await.0, 200);
    assert_eq!(revoke("gtd_notarealtoken".into()).await.0, 200);
    let mut unknown = t.clone();
    unknown.replace_range(4..10, "ZZZZZZ");
    assert_eq!(revoke(unknown).await.0, 200);
    // A request without the parameter is invalid_request (RFC 6749 §5.2).
    let r = app
        .http
        .post(format!("{}/v1/oauth/revoke", app.base))
        .form(&[("nothing", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let shown = app.get(&format!("/v1/tokens/{id}?"), &admin).await;
    assert_eq!(shown.body["status"], "revoked");
    let audit = app.get("/v1/audit?action=token.revoke", &admin).await;
    let events = audit.body["items"].as_array().unwrap();
    assert_eq!(
        events.len(),
        1,
        "revoked once, audited once: {}",
        audit.text
    );
    assert_eq!(events[0]["detail"]["via"], "oauth_revoke");
    assert_eq!(events[0]["target_id"], id.as_str());
    assert_eq!(events[0]["ip"], "127.0.0.1");
    assert!(!audit.text.contains(&t[12..]));
}

#[tokio::test]
async fn forward_auth_answers_with_headers_or_a_challenge() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    app.org_with_app(&admin, "acme", "web").await;
    let (id, t) = app.deploy_token(&admin, "web", json!({"name": "ci"})).await;
    let r = app
        .get("/v1/auth/check?app=web&capability=deploy", &t)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-gantry-token-id"), id);
    assert_eq!(r.header("x-gantry-kind"), "deploy");
    assert_eq!(
        (
            r.header("x-gantry-org").as_str(),
            r.header("x-gantry-app").as_str()
        ),
        ("acme", "web")
    );
    // Wrong app: 403 (never 404: a proxy can only pass 401 and 403 on).
    let r = app
        .get("/v1/auth/check?app=other&capability=read", &t)
        .await;
    assert_eq!(r.status, 403);
    assert!(r.header("www-authenticate").contains("insufficient_scope"));
    let r = app.get("/v1/auth/check?capability=launch", &t).await;
    assert_eq!(r.status, 422);
    // The query is parsed in place: escapes still decode, unknown and repeated names are
    // refused with the name.
    let r = app
        .get("/v1/auth/check?app=w%65b&capability=de%70loy", &t)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-gantry-app"), "web");
    let r = app.get("/v1/auth/check?app=web&scope=deploy", &t).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "invalid_query");
    assert!(r.text.contains("scope"), "{}", r.text);
    let r = app.get("/v1/auth/check?app=web&app=other", &t).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("app"), "{}", r.text);
    let r = app.req(Method::GET, "/v1/auth/check", None, None).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").starts_with("Bearer"));
    // A personal token names its user.
    let r = app
        .get("/v1/auth/check?app=web&capability=config", &admin)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-gantry-user"), ADMIN_EMAIL);
    assert_eq!(r.header("x-gantry-kind"), "personal");
}

/// nginx from Debian, if present; `GANTRY_REQUIRE_NGINX` (set by .ci/run) makes it mandatory.
fn nginx() -> Option<&'static str> {
    let path = "/usr/sbin/nginx";
    if std::path::Path::new(path).exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("GANTRY_REQUIRE_NGINX").is_none(),
        "GANTRY_REQUIRE_NGINX is set but /usr/sbin/nginx is missing (apt-get install nginx-light)"
    );
    eprintln!("\n!!! SKIPPING forward_auth_behind_real_nginx: /usr/sbin/nginx not installed !!!\n");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn forward_auth_behind_real_nginx_lets_only_valid_deploy_tokens_through() {
    let Some(nginx) = nginx() else { return };
    // The README's recipe: gantry trusts the proxy's X-Forwarded-For (set from $remote_addr,
    // so a client's own header is overwritten, never believed).
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let admin = app.admin_token.clone();
    app.org_with_app(&admin, "acme", "web").await;
    assert_eq!(
        app.post("/v1/orgs/acme/apps", &admin, json!({"slug": "api"}))
            .await
            .status,
        201
    );
    let (id, valid) = app
        .deploy_token(&admin, "web", json!({"name": "ci", "expires_in": "2h"}))
        .await;
    let (_, other_app) = app
        .deploy_token(&admin, "api", json!({"name": "api ci"}))
        .await;
    let (revoked_id, revoked) = app
        .deploy_token(&admin, "web", json!({"name": "old"}))
        .await;
    // allowed_ips: the original client's address as nginx reports it.
    let (_, from_here) = app
        .deploy_token(
            &admin,
            "web",
            json!({"name": "here", "allowed_ips": ["127.0.0.0/8"]}),
        )
        .await;
    let (_, from_office) = app
        .deploy_token(
            &admin,
            "web",
            json!({"name": "office", "allowed_ips": ["192.0.2.0/24"]}),
        )
        .await;
    assert_eq!(
        app.delete(&format!("/v1/tokens/{revoked_id}"), &admin)
            .await
            .status,
        200
    );

    let dir = tempfile::tempdir().unwrap();
    let (front, upstream) = (free_port(), free_port());
    let gantry = app.base.trim_start_matches("http://");
    let p = dir.path().display();
    let conf = format!(
        r#"
# One process, no workers: killing it kills nginx whole (an orphaned worker would keep the
# test's output pipes open and hang whoever reads them).
master_process off;
daemon off;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {p}/body; proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fastcgi;
    uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;
    # The protected service: it only ever sees requests gantry allowed.
    server {{
        listen 127.0.0.1:{upstream};
        location / {{ return 200 "upstream ok token=$http_x_gantry_token_id app=$http_x_gantry_app\n"; }}
    }}
    server {{
        listen 127.0.0.1:{front};
        location = /_gantry {{
            internal;
            proxy_pass http://{gantry}/v1/auth/check?app=web&capability=deploy;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
        location /deploy/ {{
            auth_request /_gantry;
            auth_request_set $gantry_token $upstream_http_x_gantry_token_id;
            auth_request_set $gantry_app $upstream_http_x_gantry_app;
            proxy_set_header X-Gantry-Token-Id $gantry_token;
            proxy_set_header X-Gantry-App $gantry_app;
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
}}
"#
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut child = std::process::Command::new(nginx)
        .arg("-c")
        .arg(&conf_path)
        .arg("-p")
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", front)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "nginx exited: {status}: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
        }
        assert!(std::time::Instant::now() < deadline, "nginx did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _nginx = Kill(child);

    let through = |token: Option<String>| {
        let http = app.http.clone();
        async move {
            let mut rb = http.get(format!("http://127.0.0.1:{front}/deploy/release"));
            if let Some(t) = token {
                rb = rb.bearer_auth(t);
            }
            let r = rb.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = through(Some(valid.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.trim(), format!("upstream ok token={id} app=web"));
    assert_eq!(through(Some(revoked)).await.0, 401, "revoked");
    assert_eq!(through(Some(other_app)).await.0, 403, "wrong app");
    assert_eq!(through(None).await.0, 401, "missing");
    assert_eq!(through(Some(from_here)).await.0, 200, "inside allowed_ips");
    assert_eq!(
        through(Some(from_office.clone())).await.0,
        401,
        "outside allowed_ips"
    );
    let spoofed = app
        .http
        .get(format!("http://127.0.0.1:{front}/deploy/release"))
        .bearer_auth(&from_office)
        .header("x-forwarded-for", "192.0.2.10")
        .send()
        .await
        .unwrap();
    assert_eq!(
        spoofed.status().as_u16(),
        401,
        "a client's own X-Forwarded-For is not believed"
    );
    assert_eq!(
        through(Some("gtd_garbage".into())).await.0,
        401,
        "malformed"
    );
    app.advance(Duration::from_secs(2 * 3600 + 1));
    assert_eq!(through(Some(valid)).await.0, 401, "expired");
    // Forward-auth checks count as uses.
    let shown = app.get(&format!("/v1/tokens/{id}"), &admin).await;
    assert!(shown.body["last_used_at"].is_string());
}

#[tokio::test]
async fn a_deleted_apps_slug_stays_reserved_to_its_org_and_proxies_can_pin_the_app_by_id() {
    let app = spawn_app().await;
    let admin = app.admin_token.clone();
    app.org_with_app(&admin, "acme", "web").await;
    let r = app
        .post("/v1/orgs", &admin, json!({"slug": "mallory"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let web = app.get("/v1/apps/web", &admin).await;
    let web_id = web.body["id"].as_str().unwrap().to_owned();
    let (_, t) = app.deploy_token(&admin, "web", json!({"name": "ci"})).await;

    // A proxy pins the app by its immutable id.
    let r = app
        .get(
            &format!("/v1/auth/check?app={web_id}&capability=deploy"),
            &t,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-gantry-app"), "web");

    assert_eq!(app.delete("/v1/apps/web", &admin).await.status, 204);
    // Another org cannot take the slug for 30 days…
    let r = app
        .post("/v1/orgs/mallory/apps", &admin, json!({"slug": "web"}))
        .await;
    assert_error(&r, 409, "slug_reserved");
    app.advance(Duration::from_secs(29 * 86_400));
    let r = app
        .post("/v1/orgs/mallory/apps", &admin, json!({"slug": "web"}))
        .await;
    assert_error(&r, 409, "slug_reserved");
    // …its own org can, at once or any time.
    let r = app
        .post("/v1/orgs/acme/apps", &admin, json!({"slug": "web"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let new_id = r.body["id"].as_str().unwrap().to_owned();
    // The old id names nothing now, even though the slug lives again: pinned proxies refuse.
    let (_, t2) = app
        .deploy_token(&admin, "web", json!({"name": "ci2"}))
        .await;
    let r = app
        .get(
            &format!("/v1/auth/check?app={web_id}&capability=deploy"),
            &t2,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .get(
            &format!("/v1/auth/check?app={new_id}&capability=deploy"),
            &t2,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // After the reservation, the slug of a deleted app is free for anyone.
    assert_eq!(app.delete("/v1/apps/web", &admin).await.status, 204);
    app.advance(Duration::from_secs(31 * 86_400));
    let r = app
        .post("/v1/orgs/mallory/apps", &admin, json!({"slug": "web"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}
