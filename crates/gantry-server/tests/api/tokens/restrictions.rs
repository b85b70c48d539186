//! Narrower tokens, second part (DESIGN §10): `allowed_ips` on every kind (API, forward auth,
//! introspection; directly and through a trusted proxy; IPv4 and IPv6), tokens made by
//! restricted tokens, the org policy, and rotations whose old value ends at the new one's
//! first use.

use crate::helpers::*;
use serde_json::{json, Value};
use std::time::Duration;

/// A server behind a trusted proxy on loopback (it reports clients in `X-Forwarded-For`),
/// with its metrics listener on, and failures never rate limited (these tests fail on purpose).
async fn behind_proxy() -> Acme {
    acme_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        c.settings.failed_auth_limit = limit(100_000, 60);
    })
    .await
}

/// `GET path` with `token`, as the proxy reports client `from` (None: no header, the peer).
async fn get_from(app: &TestApp, path: &str, token: &str, from: Option<&str>) -> Resp {
    let mut rb = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token);
    if let Some(ip) = from {
        rb = rb.header("x-forwarded-for", ip);
    }
    TestApp::finish(rb).await
}

/// Introspects `token` as the instance administrator, with `client_ip` if given.
async fn introspect(app: &TestApp, token: &str, client_ip: Option<&str>) -> Resp {
    let mut form = vec![("token", token.to_owned())];
    if let Some(ip) = client_ip {
        form.push(("client_ip", ip.to_owned()));
    }
    let rb = app
        .http
        .post(format!("{}/v1/oauth/introspect", app.base))
        .bearer_auth(&app.admin_token)
        .form(&form);
    TestApp::finish(rb).await
}

async fn metrics(app: &TestApp) -> String {
    let addr = app.started.metrics_addr.expect("metrics listener");
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn counter(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

const REFUSED_SERIES: &str = r#"gantry_token_verifications_total{outcome="address_not_allowed"}"#;

#[tokio::test]
async fn a_token_with_allowed_ips_works_only_from_inside_them_on_the_api_and_in_forward_auth() {
    let Acme { app, owner, .. } = behind_proxy().await;
    let (id, deploy) = app
        .deploy_token(
            &owner,
            "web",
            json!({"name": "office ci", "allowed_ips": ["203.0.113.0/24", "2001:db8::/32"]}),
        )
        .await;
    let before = counter(&metrics(&app).await, REFUSED_SERIES);
    for inside in ["203.0.113.7", "2001:db8::42", "::ffff:203.0.113.8"] {
        let r = get_from(&app, "/v1/apps/web", &deploy, Some(inside)).await;
        assert_eq!(r.status, 200, "from {inside}: {}", r.text);
        let r = get_from(
            &app,
            "/v1/auth/check?app=web&capability=deploy",
            &deploy,
            Some(inside),
        )
        .await;
        assert_eq!(r.status, 200, "forward auth from {inside}: {}", r.text);
    }
    // Outside, and the proxy itself (no header: the peer, 127.0.0.1, is the client).
    for outside in [
        Some("198.51.100.1"),
        Some("2001:db9::1"),
        Some("203.0.114.1"),
        None,
    ] {
        let r = get_from(&app, "/v1/apps/web", &deploy, outside).await;
        assert_unauthorized(&r, "address_not_allowed");
        assert!(r.text.contains(&id), "names the token: {}", r.text);
        assert!(
            !r.text.contains("203.0.113"),
            "tells nothing of its networks: {}",
            r.text
        );
        let r = get_from(&app, "/v1/auth/check?app=web", &deploy, outside).await;
        assert_eq!(r.status, 401, "forward auth from {outside:?}: {}", r.text);
        assert!(r.header("www-authenticate").contains("invalid_token"));
    }
    // The right-most untrusted hop is the client: a forged left-most entry changes nothing.
    let r = get_from(
        &app,
        "/v1/apps/web",
        &deploy,
        Some("203.0.113.7, 198.51.100.1"),
    )
    .await;
    assert_unauthorized(&r, "address_not_allowed");
    let r = get_from(
        &app,
        "/v1/apps/web",
        &deploy,
        Some("198.51.100.1, 203.0.113.7"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Counted and audited (the first refusal per address in the window has its own row).
    let after = counter(&metrics(&app).await, REFUSED_SERIES);
    assert_eq!(after - before, 9, "each refused use is counted");
    let (_, rows) = app.audit_items("?action=auth.failed").await;
    let refused: Vec<&Value> = rows
        .iter()
        .filter(|r| r["detail"]["reason"] == "address_not_allowed")
        .collect();
    assert!(
        refused
            .iter()
            .any(|r| r["ip"] == "198.51.100.1" && r["target_id"] == id.as_str()),
        "audited with the address and the token: {refused:?}"
    );
    assert!(refused.iter().any(|r| r["ip"] == "2001:db9::1"));

    // The token view says where it may be used from.
    let r = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(
        r.body["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::/32"])
    );
}

#[tokio::test]
async fn a_proxy_that_is_not_trusted_cannot_claim_an_address_for_its_client() {
    let Acme { app, owner, .. } = acme().await;
    let (_, deploy) = app
        .deploy_token(
            &owner,
            "web",
            json!({"name": "office", "allowed_ips": ["203.0.113.0/24"]}),
        )
        .await;
    let r = get_from(&app, "/v1/apps/web", &deploy, Some("203.0.113.7")).await;
    assert_unauthorized(&r, "address_not_allowed");
    let (_, local) = app
        .deploy_token(
            &owner,
            "web",
            json!({"name": "here", "allowed_ips": ["127.0.0.0/8"]}),
        )
        .await;
    let r = get_from(&app, "/v1/apps/web", &local, Some("198.51.100.1")).await;
    assert_eq!(r.status, 200, "the peer is the client: {}", r.text);
}

#[tokio::test]
async fn allowed_ips_hold_for_a_client_connecting_over_ipv6_directly() {
    let app = spawn_app_with(|c| c.listen = "[::1]:0".parse().unwrap()).await;
    assert!(app.base.starts_with("http://[::1]:"), "{}", app.base);
    let admin = app.admin_token.clone();
    app.org_with_app(&admin, "acme", "web").await;
    for (nets, want) in [
        (json!(["::1/128"]), 200),
        (json!(["2001:db8::/32", "::1"]), 200),
        (json!(["127.0.0.1/32"]), 401),
        (json!(["2001:db8::/32"]), 401),
    ] {
        let (_, t) = app
            .deploy_token(&admin, "web", json!({"name": "v6", "allowed_ips": nets}))
            .await;
        let r = app.get("/v1/apps/web", &t).await;
        assert_eq!(r.status, want, "{nets}: {}", r.text);
    }
    // Every kind takes them: a personal token restricted elsewhere is refused too.
    let (_, personal) = app
        .personal_token(
            &admin,
            json!({"name": "p", "allowed_ips": ["192.0.2.0/24"]}),
        )
        .await;
    assert_unauthorized(&app.get("/v1/user", &personal).await, "address_not_allowed");
    let (_, org) = app
        .org_token_with(
            &admin,
            "acme",
            json!({"name": "o", "role": "viewer", "allowed_ips": ["::1/128"]}),
        )
        .await;
    assert_eq!(app.get("/v1/orgs/acme", &org).await.status, 200);
}

#[tokio::test]
async fn introspection_reports_a_restricted_token_active_only_for_a_client_inside_its_networks() {
    let Acme { app, owner, .. } = acme().await;
    let (_, deploy) = app
        .deploy_token(
            &owner,
            "web",
            json!({"name": "r", "allowed_ips": ["203.0.113.0/24", "2001:db8::/32"]}),
        )
        .await;
    for (client, active) in [
        (None, false),
        (Some("203.0.113.9"), true),
        (Some("2001:db8::1"), true),
        (Some("198.51.100.1"), false),
        (Some(""), false),
    ] {
        let r = introspect(&app, &deploy, client).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["active"], active, "client_ip {client:?}: {}", r.text);
        if active {
            assert_eq!(
                r.body["allowed_ips"],
                json!(["203.0.113.0/24", "2001:db8::/32"])
            );
        } else {
            assert_eq!(r.body, json!({"active": false}));
        }
    }
    let r = introspect(&app, &deploy, Some("not an address")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"], "invalid_request");
    // An unrestricted token is active whatever client_ip says.
    let (_, open) = app
        .deploy_token(&owner, "web", json!({"name": "open"}))
        .await;
    let r = introspect(&app, &open, Some("198.51.100.1")).await;
    assert_eq!(r.body["active"], true);
    assert!(r.body.get("allowed_ips").is_none(), "{}", r.text);
}

#[tokio::test]
async fn malformed_allowed_ips_are_refused_naming_the_field_and_nothing_is_created() {
    let Acme { app, owner, .. } = acme().await;
    for (nets, says) in [
        (json!([]), "at least one"),
        (json!(["10.0.0.5/8"]), "did you mean 10.0.0.0/8"),
        (json!(["300.1.1.1"]), "not an IPv4 or IPv6 network"),
        (json!(["10.0.0.0/33"]), "not an IPv4 or IPv6 network"),
        (json!(["example.com"]), "not an IPv4 or IPv6 network"),
        (
            json!((0..33)
                .map(|i| format!("10.{i}.0.0/16"))
                .collect::<Vec<_>>()),
            "at most 32",
        ),
        (json!("10.0.0.0/8"), ""),
    ] {
        let r = app
            .post(
                "/v1/apps/web/tokens",
                &owner,
                json!({"name": "bad", "allowed_ips": nets}),
            )
            .await;
        assert!(r.status == 422 || r.status == 400, "{nets}: {}", r.text);
        if !says.is_empty() {
            assert_invalid_field(&r, "allowed_ips");
            assert!(r.text.contains(says), "{nets}: {}", r.text);
        }
    }
    let r = app.get("/v1/apps/web/tokens", &owner).await;
    assert!(items(&r).is_empty(), "nothing half-made: {}", r.text);
}

#[tokio::test]
async fn a_restricted_token_makes_and_rotates_only_tokens_as_restricted_as_itself() {
    let Acme { app, owner, .. } = behind_proxy().await;
    let (_, admin) = app
        .org_token_with(
            &owner,
            "acme",
            json!({"name": "bot", "role": "admin", "allowed_ips": ["10.0.0.0/8"]}),
        )
        .await;
    let post = |body: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let rb = app
                .http
                .post(format!("{}/v1/apps/web/tokens", app.base))
                .bearer_auth(admin)
                .header("x-forwarded-for", "10.1.2.3")
                .json(&body);
            TestApp::finish(rb).await
        }
    };
    // Without networks of its own, the child gets the creator's.
    let r = post(json!({"name": "child"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["allowed_ips"], json!(["10.0.0.0/8"]));
    let r = post(json!({"name": "narrower", "allowed_ips": ["10.1.0.0/16"]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    for wider in [
        json!(["0.0.0.0/0"]),
        json!(["10.0.0.0/7"]),
        json!(["10.1.0.0/16", "192.0.2.1"]),
    ] {
        let r = post(json!({"name": "wider", "allowed_ips": wider})).await;
        assert_invalid_field(&r, "allowed_ips");
        assert!(
            r.text
                .contains("the token making this request (10.0.0.0/8)"),
            "{}",
            r.text
        );
    }
    // Rotating an unrestricted token would hand the restricted one a value usable anywhere.
    let (open_id, _) = app
        .deploy_token(&owner, "web", json!({"name": "open"}))
        .await;
    let rb = app
        .http
        .post(format!("{}/v1/tokens/{open_id}/rotate", app.base))
        .bearer_auth(&admin)
        .header("x-forwarded-for", "10.1.2.3")
        .json(&json!({}));
    let r = TestApp::finish(rb).await;
    assert_forbidden(&r);
    assert!(r.text.contains("allowed_ips"), "{}", r.text);
    let child_id = id_of(&post(json!({"name": "to rotate"})).await);
    let rb = app
        .http
        .post(format!("{}/v1/tokens/{child_id}/rotate", app.base))
        .bearer_auth(&admin)
        .header("x-forwarded-for", "10.1.2.3")
        .json(&json!({}));
    assert_eq!(TestApp::finish(rb).await.status, 200);
}

#[tokio::test]
async fn the_org_policy_is_set_by_owners_only_and_tightens_without_loosening() {
    // The instance caps lifetimes at 90 days; its administrator (a password login) owns acme.
    let app = spawn_app_with(|c| {
        c.settings.token_policy.max_lifetime = Some(Duration::from_secs(90 * 86_400));
    })
    .await;
    let owner = app.admin_token.clone();
    app.org_with_app(&owner, "acme", "web").await;
    let r = app.get("/v1/orgs/acme/policy", &owner).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"max_lifetime": null, "require_expiry": false, "allowed_ips": null,
               "effective": {"max_lifetime": "90d", "require_expiry": true}})
    );
    let (_, admin_session) = member(&app, &owner, "admin@acme.test", "admin").await;
    let (_, viewer_session) = member(&app, &owner, "viewer@acme.test", "viewer").await;
    let (_, org_owner_token) = app.org_token(&owner, "acme", "owner").await;
    let (_, deploy) = app.deploy_token(&owner, "web", json!({"name": "d"})).await;
    let tight =
        json!({"max_lifetime": "30d", "require_expiry": true, "allowed_ips": ["203.0.113.0/24"]});
    assert_eq!(
        app.get("/v1/orgs/acme/policy", &viewer_session)
            .await
            .status,
        200
    );
    assert_forbidden(&app.get("/v1/orgs/acme/policy", &deploy).await);
    assert_forbidden(
        &app.put("/v1/orgs/acme/policy", &admin_session, tight.clone())
            .await,
    );
    assert_forbidden(
        &app.put("/v1/orgs/acme/policy", &deploy, tight.clone())
            .await,
    );
    let (_, outsider) = app.user("out@globex.test").await;
    assert_eq!(
        app.put("/v1/orgs/acme/policy", &outsider, tight.clone())
            .await
            .status,
        404
    );

    // Loosening is refused, naming the field; nothing changes.
    let r = app
        .put(
            "/v1/orgs/acme/policy",
            &owner,
            json!({"max_lifetime": "400d"}),
        )
        .await;
    assert_invalid_field(&r, "max_lifetime");
    assert!(r.text.contains("instance's maximum of 90d"), "{}", r.text);
    for bad in [
        json!({"max_lifetime": "soon"}),
        json!({"max_lifetime": "10s"}),
        json!({"allowed_ips": ["10.0.0.1/8"]}),
        json!({"allowed_ips": []}),
        json!({"max_age": "1d"}),
    ] {
        let r = app.put("/v1/orgs/acme/policy", &owner, bad.clone()).await;
        assert!(r.status == 422 || r.status == 400, "{bad}: {}", r.text);
    }
    assert_eq!(
        app.get("/v1/orgs/acme/policy", &owner).await.body["max_lifetime"],
        Value::Null
    );

    // Owners (and owner-role org tokens) set it; it is audited.
    let r = app
        .put("/v1/orgs/acme/policy", &org_owner_token, tight.clone())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["effective"],
        json!({"max_lifetime": "30d", "require_expiry": true})
    );
    let (_, rows) = app.audit_items("?action=org.policy_update").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["detail"]["max_lifetime"], "30d");
}

#[tokio::test]
async fn the_org_policy_bounds_new_tokens_rotations_rotate_self_but_not_personal_tokens() {
    let Acme { app, owner, .. } = acme().await;
    // Made before the policy: 90 days, rotated under it: 30.
    let (old_id, _) = app
        .deploy_token(&owner, "web", json!({"name": "before"}))
        .await;
    let (_, ci) = app
        .deploy_token(
            &owner,
            "web",
            json!({"name": "ci", "rotate_self": true, "expires_in": "60d"}),
        )
        .await;
    let r = app
        .put(
            "/v1/orgs/acme/policy",
            &owner,
            json!({"max_lifetime": "30d", "require_expiry": true, "allowed_ips": ["127.0.0.0/8", "203.0.113.0/24"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // New tokens: the org's shorter default, its maximum, its expiry rule, its networks.
    let r = app
        .post("/v1/apps/web/tokens", &owner, json!({"name": "new"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let day = 86_400_000;
    assert_eq!(
        (millis_of(&r.body["expires_at"]) - app.now_millis()) / day,
        30
    );
    assert_eq!(
        r.body["allowed_ips"],
        json!(["127.0.0.0/8", "203.0.113.0/24"])
    );
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &owner,
            json!({"name": "long", "expires_in": "31d"}),
        )
        .await;
    assert_invalid_field(&r, "expires_in");
    assert!(
        r.text.contains("this org's maximum token lifetime of 30d"),
        "{}",
        r.text
    );
    let r = app
        .post(
            "/v1/orgs/acme/tokens",
            &owner,
            json!({"name": "forever", "role": "viewer", "never_expires": true}),
        )
        .await;
    assert_invalid_field(&r, "never_expires");
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &owner,
            json!({"name": "narrow", "allowed_ips": ["203.0.113.128/25"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            "/v1/apps/web/tokens",
            &owner,
            json!({"name": "wide", "allowed_ips": ["0.0.0.0/0"]}),
        )
        .await;
    assert_invalid_field(&r, "allowed_ips");
    assert!(r.text.contains("the org policy"), "{}", r.text);

    // Rotations: the new expiry is bounded by the org's maximum.
    let r = app.rotate(&owner, &old_id, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (millis_of(&r.body["expires_at"]) - app.now_millis()) / day,
        30
    );
    let r = app
        .post(
            &format!("/v1/tokens/{old_id}/rotate"),
            &owner,
            json!({"expires_in": "45d"}),
        )
        .await;
    assert_invalid_field(&r, "expires_in");
    // rotate_self too.
    let r = app
        .post("/v1/tokens/self/rotate", &ci, json!({"expires_in": "60d"}))
        .await;
    assert_invalid_field(&r, "expires_in");
    let r = app.post("/v1/tokens/self/rotate", &ci, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (millis_of(&r.body["expires_at"]) - app.now_millis()) / day,
        30
    );

    // Personal tokens belong to no org: untouched.
    let r = app
        .post(
            "/v1/user/tokens",
            &owner,
            json!({"name": "laptop", "expires_in": "80d"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body.get("allowed_ips").is_none());
}

#[tokio::test]
async fn a_rotation_until_first_use_ends_the_old_value_at_the_new_ones_first_use() {
    let Acme { app, owner, .. } = acme().await;
    let (id, old) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let r = app
        .post(
            &format!("/v1/tokens/{id}/rotate"),
            &owner,
            json!({"until_first_use": true}),
        )
        .await;
    assert_invalid_field(&r, "until_first_use");
    assert_eq!(
        app.get("/v1/apps/web", &old).await.status,
        200,
        "refused rotation changed nothing"
    );

    let r = app
        .rotate(
            &owner,
            &id,
            json!({"grace_period": "1d", "until_first_use": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = raw_of(&r);
    assert_eq!(r.body["grace_until_first_use"], true);
    assert!(r.body["grace_until"].is_string(), "{}", r.text);
    // Until the new value is used, the old one works (as often as it likes).
    for _ in 0..3 {
        assert_eq!(app.get("/v1/apps/web", &old).await.status, 200);
    }
    assert_eq!(app.get("/v1/apps/web", &new).await.status, 200);
    assert_unauthorized(&app.get("/v1/apps/web", &old).await, "invalid_token");
    assert_eq!(app.get("/v1/apps/web", &new).await.status, 200);
    let r = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert!(r.body.get("grace_until").is_none(), "{}", r.text);
    let (_, rows) = app.audit_items("?action=token.grace_ended").await;
    assert_eq!(rows.len(), 1, "audited once: {rows:?}");
    assert_eq!(rows[0]["detail"]["reason"], "first_use_of_new_value");

    // Without until_first_use the old value outlives the new one's use, to the grace's end.
    let r = app.rotate(&owner, &id, json!({"grace_period": "1h"})).await;
    let newer = raw_of(&r);
    assert_eq!(app.get("/v1/apps/web", &newer).await.status, 200);
    assert_eq!(app.get("/v1/apps/web", &new).await.status, 200);
    // And until_first_use still ends at the grace period when the new value is never used.
    let r = app
        .rotate(
            &owner,
            &id,
            json!({"grace_period": "1h", "until_first_use": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.get("/v1/apps/web", &newer).await.status, 200);
    app.advance(Duration::from_secs(3601));
    assert_unauthorized(&app.get("/v1/apps/web", &newer).await, "invalid_token");
}

#[tokio::test]
async fn the_cli_shaped_requests_of_restrictions_round_trip_through_the_typed_client() {
    // The typed client (the CLI's) carries the new fields both ways.
    let Acme { app, owner, .. } = acme().await;
    let client = gantry_client::Client::new(&app.base).with_token(&owner);
    let made = client
        .create_token(
            gantry_client::TokenScope::App("web"),
            &gantry_api::CreateTokenRequest {
                name: "typed".into(),
                allowed_ips: Some(vec!["192.0.2.0/24".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(made.view.allowed_ips, Some(vec!["192.0.2.0/24".to_owned()]));
    let p = client
        .put_org_policy(
            "acme",
            &gantry_api::PutOrgPolicyRequest {
                max_lifetime: Some("7d".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(p.max_lifetime.as_deref(), Some("7d"));
    assert_eq!(
        client
            .get_org_policy("acme")
            .await
            .unwrap()
            .effective
            .max_lifetime
            .as_deref(),
        Some("7d")
    );
}
