//! Bad input on every write route: malformed JSON (400), a non-JSON content type (415),
//! unknown, missing and mistyped fields (422 `invalid_body`), values out of bounds (422
//! `invalid_field` naming the field), conflicts (409), empty and oversized artifacts (422, 413),
//! bad query parameters, unknown ids (404). Never a 5xx (the harness checks every answer), always
//! the error envelope, and a refused request changes nothing.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Who {
    Nobody,
    Owner,
    Admin,
}

struct Fx {
    app: TestApp,
    owner: String,
    /// A user who is not a member of `acme` yet.
    member_id: String,
    /// A deploy token of `web`.
    token_id: String,
}

impl Fx {
    fn tok(&self, who: Who) -> Option<&str> {
        match who {
            Who::Nobody => None,
            Who::Owner => Some(self.owner.as_str()),
            Who::Admin => Some(self.app.admin_token.as_str()),
        }
    }

    async fn call(&self, method: Method, path: &str, who: Who, body: Value) -> Resp {
        self.app.req(method, path, self.tok(who), Some(body)).await
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        who: Who,
        content_type: &str,
        body: &[u8],
    ) -> Resp {
        self.app
            .raw(method, path, self.tok(who), content_type, body.to_vec())
            .await
    }
}

async fn fx() -> Fx {
    let app = spawn_app().await;
    let (_, owner) = app.user("owner@acme.test").await;
    app.org_with_app(&owner, "acme", "web").await;
    let member_id = app.create_user("member@acme.test").await;
    let (token_id, _) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    Fx {
        app,
        owner,
        member_id,
        token_id,
    }
}

/// A JSON write route with a body it would accept.
struct JsonRoute {
    method: Method,
    path: String,
    who: Who,
    valid: Value,
    /// The config route takes any JSON object, so unknown fields are its content.
    free_form: bool,
}

fn json_routes(f: &Fx) -> Vec<JsonRoute> {
    let r = |method: Method, path: String, who: Who, valid: Value| JsonRoute {
        method,
        path,
        who,
        valid,
        free_form: false,
    };
    let mut v = vec![
        r(
            Method::POST,
            "/v1/auth/login".into(),
            Who::Nobody,
            json!({"email": "owner@acme.test", "password": PASSWORD}),
        ),
        r(
            Method::POST,
            "/v1/users".into(),
            Who::Admin,
            json!({"email": "fresh@example.com", "password": PASSWORD}),
        ),
        r(
            Method::PATCH,
            format!("/v1/users/{}", f.member_id),
            Who::Admin,
            json!({"name": "M"}),
        ),
        r(
            Method::PUT,
            "/v1/user/password".into(),
            Who::Owner,
            json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}),
        ),
        r(
            Method::POST,
            "/v1/orgs".into(),
            Who::Owner,
            json!({"slug": "neworg"}),
        ),
        r(
            Method::PUT,
            format!("/v1/orgs/acme/members/{}", f.member_id),
            Who::Owner,
            json!({"role": "viewer"}),
        ),
        r(
            Method::POST,
            "/v1/orgs/acme/apps".into(),
            Who::Owner,
            json!({"slug": "newapp"}),
        ),
        r(
            Method::POST,
            "/v1/orgs/acme/alerts".into(),
            Who::Owner,
            json!({"name": "a", "event": "deploy", "target": "https://hooks.example.com/x"}),
        ),
        r(
            Method::PUT,
            "/v1/apps/web/env/KEY".into(),
            Who::Owner,
            json!({"value": "v"}),
        ),
        r(
            Method::POST,
            "/v1/apps/web/tokens".into(),
            Who::Owner,
            json!({"name": "n"}),
        ),
        r(
            Method::POST,
            "/v1/orgs/acme/tokens".into(),
            Who::Owner,
            json!({"name": "n", "role": "viewer"}),
        ),
        r(
            Method::POST,
            "/v1/user/tokens".into(),
            Who::Owner,
            json!({"name": "n"}),
        ),
        r(
            Method::PATCH,
            format!("/v1/tokens/{}", f.token_id),
            Who::Owner,
            json!({"name": "n"}),
        ),
        r(
            Method::POST,
            format!("/v1/tokens/{}/rotate", f.token_id),
            Who::Owner,
            json!({}),
        ),
    ];
    v.push(JsonRoute {
        method: Method::PUT,
        path: "/v1/apps/web/config".into(),
        who: Who::Owner,
        valid: json!({"replicas": 2}),
        free_form: true,
    });
    v
}

/// `base` with `key` set to `value`.
fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut b = base.clone();
    if let Some(map) = b.as_object_mut() {
        map.insert(key.to_owned(), value);
    }
    b
}

/// Nothing the refused requests aimed at has changed.
async fn assert_nothing_changed(f: &Fx) {
    let t = f
        .app
        .get(&format!("/v1/tokens/{}", f.token_id), &f.owner)
        .await;
    assert_eq!(t.body["name"], "ci", "{}", t.text);
    assert!(t.body["rotated_at"].is_null(), "{}", t.text);
    assert_error(
        &f.app.get("/v1/orgs/neworg", &f.owner).await,
        404,
        "not_found",
    );
    assert_error(
        &f.app.get("/v1/apps/newapp", &f.owner).await,
        404,
        "not_found",
    );
    assert!(items(&f.app.get("/v1/orgs/acme/alerts", &f.owner).await).is_empty());
    assert!(items(&f.app.get("/v1/apps/web/env", &f.owner).await).is_empty());
    let config = f.app.get("/v1/apps/web/config", &f.owner).await;
    assert_eq!(
        config.header("x-gantry-config-version"),
        "0",
        "{}",
        config.text
    );
    let members = items(&f.app.get("/v1/orgs/acme/members", &f.owner).await);
    assert_eq!(members.len(), 1, "{members:?}");
    // The password is what it was.
    assert_eq!(f.app.login("owner@acme.test", PASSWORD).await.len(), 40);
}

// ---------------------------------------------------------------------------------------------
// Body syntax and shape, on every JSON write route

#[tokio::test]
async fn malformed_json_is_400_on_every_json_route() {
    let f = fx().await;
    for rt in json_routes(&f) {
        // Each breaks before any field name is read (a known or unknown key would be judged
        // first, as a 422).
        let bodies: [&[u8]; 5] = [b"{", b"{,}", b"not json at all", b"{\"unterminated", b"]"];
        for body in bodies {
            let r = f
                .raw(
                    rt.method.clone(),
                    &rt.path,
                    rt.who,
                    "application/json",
                    body,
                )
                .await;
            assert_eq!(r.status, 400, "{} {}: {}", rt.method, rt.path, r.text);
            assert_error(&r, 400, "malformed_json");
        }
    }
    assert_nothing_changed(&f).await;
}

#[tokio::test]
async fn non_json_content_type_is_415_on_every_json_route() {
    let f = fx().await;
    // Rotation has its own test below (its body is optional).
    for rt in json_routes(&f)
        .into_iter()
        .filter(|rt| !rt.path.ends_with("/rotate"))
    {
        let body = rt.valid.to_string();
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/xml",
        ] {
            let r = f
                .raw(rt.method.clone(), &rt.path, rt.who, ct, body.as_bytes())
                .await;
            assert_eq!(
                r.status, 415,
                "{} {} as {ct}: {}",
                rt.method, rt.path, r.text
            );
            assert_envelope(&r);
        }
    }
    assert_nothing_changed(&f).await;
}

#[tokio::test]
async fn rotate_with_a_non_json_body_is_415() {
    let f = fx().await;
    let path = format!("/v1/tokens/{}/rotate", f.token_id);
    for ct in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = f
            .raw(
                Method::POST,
                &path,
                Who::Owner,
                ct,
                b"{\"grace_period\": \"1h\"}",
            )
            .await;
        assert_eq!(r.status, 415, "{ct}: {}", r.text);
        assert_envelope(&r);
        assert!(r.body.get("token").is_none(), "rotated anyway: {}", r.text);
    }
    assert_nothing_changed(&f).await;
    // The body is optional: no body at all is a plain rotation.
    let r = f
        .app
        .req(Method::POST, &path, Some(f.owner.as_str()), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["token"].is_string(), "{}", r.text);
}

#[tokio::test]
async fn unknown_fields_are_refused_on_every_write_route() {
    let f = fx().await;
    for rt in json_routes(&f).into_iter().filter(|rt| !rt.free_form) {
        let body = with(&rt.valid, "surprise_field", json!(true));
        let r = f.call(rt.method.clone(), &rt.path, rt.who, body).await;
        assert_eq!(r.status, 422, "{} {}: {}", rt.method, rt.path, r.text);
        assert_error(&r, 422, "invalid_body");
        assert_names_field(&r, "surprise_field");
    }
    assert_nothing_changed(&f).await;
}

#[tokio::test]
async fn missing_required_fields_are_named() {
    let f = fx().await;
    let cases: Vec<(Method, String, Who, Value, &str)> = vec![
        (
            Method::POST,
            "/v1/auth/login".into(),
            Who::Nobody,
            json!({"email": "owner@acme.test"}),
            "password",
        ),
        (
            Method::POST,
            "/v1/auth/login".into(),
            Who::Nobody,
            json!({"password": PASSWORD}),
            "email",
        ),
        (
            Method::POST,
            "/v1/users".into(),
            Who::Admin,
            json!({"email": "m@example.com"}),
            "password",
        ),
        (
            Method::POST,
            "/v1/users".into(),
            Who::Admin,
            json!({"password": PASSWORD}),
            "email",
        ),
        (
            Method::PUT,
            "/v1/user/password".into(),
            Who::Owner,
            json!({"new_password": "another fine passphrase"}),
            "current_password",
        ),
        (
            Method::PUT,
            "/v1/user/password".into(),
            Who::Owner,
            json!({"current_password": PASSWORD}),
            "new_password",
        ),
        (
            Method::POST,
            "/v1/orgs".into(),
            Who::Owner,
            json!({"name": "No slug"}),
            "slug",
        ),
        (
            Method::PUT,
            format!("/v1/orgs/acme/members/{}", f.member_id),
            Who::Owner,
            json!({}),
            "role",
        ),
        (
            Method::POST,
            "/v1/orgs/acme/apps".into(),
            Who::Owner,
            json!({"name": "No slug"}),
            "slug",
        ),
        (
            Method::POST,
            "/v1/orgs/acme/alerts".into(),
            Who::Owner,
            json!({"name": "a", "event": "deploy"}),
            "target",
        ),
        (
            Method::POST,
            "/v1/orgs/acme/alerts".into(),
            Who::Owner,
            json!({"event": "deploy", "target": "https://hooks.example.com"}),
            "name",
        ),
        (
            Method::PUT,
            "/v1/apps/web/env/KEY".into(),
            Who::Owner,
            json!({"secret": true}),
            "value",
        ),
        (
            Method::POST,
            "/v1/apps/web/tokens".into(),
            Who::Owner,
            json!({"description": "d"}),
            "name",
        ),
        (
            Method::POST,
            "/v1/orgs/acme/tokens".into(),
            Who::Owner,
            json!({"role": "viewer"}),
            "name",
        ),
        (
            Method::POST,
            "/v1/user/tokens".into(),
            Who::Owner,
            json!({"expires_in": "1d"}),
            "name",
        ),
    ];
    for (method, path, who, body, field) in cases {
        let r = f.call(method.clone(), &path, who, body).await;
        assert_eq!(r.status, 422, "{method} {path} without {field}: {}", r.text);
        assert_error(&r, 422, "invalid_body");
        assert_names_field(&r, field);
    }
    assert_nothing_changed(&f).await;
}

#[tokio::test]
async fn wrong_types_are_refused() {
    let f = fx().await;
    let token = format!("/v1/tokens/{}", f.token_id);
    let cases: Vec<(Method, String, Who, Value)> = vec![
        (
            Method::POST,
            "/v1/auth/login".into(),
            Who::Nobody,
            json!({"email": 5, "password": PASSWORD}),
        ),
        (
            Method::POST,
            "/v1/users".into(),
            Who::Admin,
            json!({"email": "w@example.com", "password": PASSWORD, "is_admin": "yes"}),
        ),
        (
            Method::PATCH,
            format!("/v1/users/{}", f.member_id),
            Who::Admin,
            json!({"disabled": "no"}),
        ),
        (
            Method::PUT,
            "/v1/user/password".into(),
            Who::Owner,
            json!({"current_password": 1, "new_password": "another fine passphrase"}),
        ),
        (
            Method::POST,
            "/v1/orgs".into(),
            Who::Owner,
            json!({"slug": 5}),
        ),
        (
            Method::POST,
            "/v1/orgs".into(),
            Who::Owner,
            json!({"slug": "okslug", "name": {"first": "x"}}),
        ),
        (
            Method::PUT,
            format!("/v1/orgs/acme/members/{}", f.member_id),
            Who::Owner,
            json!({"role": 3}),
        ),
        (
            Method::POST,
            "/v1/orgs/acme/apps".into(),
            Who::Owner,
            json!({"slug": ["newapp"]}),
        ),
        (
            Method::POST,
            "/v1/orgs/acme/alerts".into(),
            Who::Owner,
            json!({"name": "a", "event": 1, "target": "https://hooks.example.com"}),
        ),
        (
            Method::PUT,
            "/v1/apps/web/env/KEY".into(),
            Who::Owner,
            json!({"value": 5}),
        ),
        (
            Method::PUT,
            "/v1/apps/web/env/KEY".into(),
            Who::Owner,
            json!({"value": "x", "secret": "yes"}),
        ),
        (
            Method::POST,
            "/v1/apps/web/tokens".into(),
            Who::Owner,
            json!({"name": 5}),
        ),
        (
            Method::POST,
            "/v1/apps/web/tokens".into(),
            Who::Owner,
            json!({"name": "n", "expires_in": 90}),
        ),
        (
            Method::POST,
            "/v1/apps/web/tokens".into(),
            Who::Owner,
            json!([5]),
        ),
        (
            Method::POST,
            "/v1/apps/web/tokens".into(),
            Who::Owner,
            json!(null),
        ),
        (
            Method::POST,
            "/v1/orgs/acme/tokens".into(),
            Who::Owner,
            json!({"name": "n", "role": 5}),
        ),
        (
            Method::POST,
            "/v1/user/tokens".into(),
            Who::Owner,
            json!({"name": "n", "never_expires": "yes"}),
        ),
        (
            Method::POST,
            "/v1/user/tokens".into(),
            Who::Owner,
            json!({"name": "n", "description": 7}),
        ),
        (
            Method::PATCH,
            token.clone(),
            Who::Owner,
            json!({"description": 5}),
        ),
        (Method::PATCH, token.clone(), Who::Owner, json!("rename")),
        (
            Method::POST,
            format!("{token}/rotate"),
            Who::Owner,
            json!({"expires_in": 90}),
        ),
        (
            Method::POST,
            format!("{token}/rotate"),
            Who::Owner,
            json!({"grace_period": true}),
        ),
    ];
    for (method, path, who, body) in cases {
        let shown = body.to_string();
        let r = f.call(method.clone(), &path, who, body).await;
        assert_eq!(r.status, 422, "{method} {path} {shown}: {}", r.text);
        assert_error(&r, 422, "invalid_body");
    }
    assert_nothing_changed(&f).await;
}

#[tokio::test]
async fn unknown_roles_are_refused() {
    let f = fx().await;
    let member = format!("/v1/orgs/acme/members/{}", f.member_id);
    for role in ["superuser", "Owner", "", "deploy"] {
        let r = f
            .call(Method::PUT, &member, Who::Owner, json!({"role": role}))
            .await;
        assert_eq!(r.status, 422, "{role}: {}", r.text);
        assert_names_field(&r, "role");
        let r = f
            .call(
                Method::POST,
                "/v1/orgs/acme/tokens",
                Who::Owner,
                json!({"name": "n", "role": role}),
            )
            .await;
        assert_eq!(r.status, 422, "{role}: {}", r.text);
        assert_names_field(&r, "role");
    }
    assert_nothing_changed(&f).await;
}

// ---------------------------------------------------------------------------------------------
// Names, descriptions, slugs

#[tokio::test]
async fn oversize_names_are_refused_and_100_characters_accepted() {
    let f = fx().await;
    let long = "x".repeat(101);
    let token = format!("/v1/tokens/{}", f.token_id);
    let user = format!("/v1/users/{}", f.member_id);
    let cases: Vec<(Method, String, Who, Value)> = vec![
        (
            Method::POST,
            "/v1/apps/web/tokens".into(),
            Who::Owner,
            json!({"name": long}),
        ),
        (
            Method::POST,
            "/v1/orgs/acme/tokens".into(),
            Who::Owner,
            json!({"name": long, "role": "viewer"}),
        ),
        (
            Method::POST,
            "/v1/user/tokens".into(),
            Who::Owner,
            json!({"name": long}),
        ),
        (
            Method::PATCH,
            token.clone(),
            Who::Owner,
            json!({"name": long}),
        ),
        (
            Method::POST,
            "/v1/orgs".into(),
            Who::Owner,
            json!({"slug": "neworg", "name": long}),
        ),
        (
            Method::POST,
            "/v1/orgs/acme/apps".into(),
            Who::Owner,
            json!({"slug": "newapp", "name": long}),
        ),
        (
            Method::POST,
            "/v1/orgs/acme/alerts".into(),
            Who::Owner,
            json!({"name": long, "event": "deploy", "target": "https://hooks.example.com"}),
        ),
        (
            Method::POST,
            "/v1/users".into(),
            Who::Admin,
            json!({"email": "l@example.com", "password": PASSWORD, "name": long}),
        ),
        (
            Method::PATCH,
            user.clone(),
            Who::Admin,
            json!({"name": long}),
        ),
    ];
    for (method, path, who, body) in cases {
        let r = f.call(method.clone(), &path, who, body).await;
        assert_invalid_field(&r, "name");
    }
    // Empty and blank names are no names.
    for blank in ["", "   "] {
        let r = f
            .call(
                Method::POST,
                "/v1/apps/web/tokens",
                Who::Owner,
                json!({"name": blank}),
            )
            .await;
        assert_invalid_field(&r, "name");
        let r = f
            .call(Method::PATCH, &token, Who::Owner, json!({"name": blank}))
            .await;
        assert_invalid_field(&r, "name");
    }
    // A control character is not part of a name.
    let r = f
        .call(
            Method::POST,
            "/v1/user/tokens",
            Who::Owner,
            json!({"name": "bell\u{7}"}),
        )
        .await;
    assert_invalid_field(&r, "name");
    // The login's token name obeys the same rule.
    let r = f
        .call(
            Method::POST,
            "/v1/auth/login",
            Who::Nobody,
            json!({"email": "owner@acme.test", "password": PASSWORD, "token_name": long}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_envelope(&r);
    let field = r.body["error"]["field"].as_str().unwrap_or("");
    let message = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        field.contains("name") || message.contains("name"),
        "{}",
        r.text
    );
    assert_nothing_changed(&f).await;

    // 100 characters (not bytes) is fine.
    for name in ["x".repeat(100), "é".repeat(100)] {
        let r = f
            .call(
                Method::POST,
                "/v1/apps/web/tokens",
                Who::Owner,
                json!({"name": name}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["name"], name.as_str());
    }
}

#[tokio::test]
async fn oversize_descriptions_are_refused_and_1000_characters_accepted() {
    let f = fx().await;
    let long = "d".repeat(1001);
    let cases: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/v1/apps/web/tokens".into(),
            json!({"name": "n", "description": long}),
        ),
        (
            Method::POST,
            "/v1/orgs/acme/tokens".into(),
            json!({"name": "n", "role": "viewer", "description": long}),
        ),
        (
            Method::POST,
            "/v1/user/tokens".into(),
            json!({"name": "n", "description": long}),
        ),
        (
            Method::PATCH,
            format!("/v1/tokens/{}", f.token_id),
            json!({"description": long}),
        ),
    ];
    for (method, path, body) in cases {
        let r = f.call(method, &path, Who::Owner, body).await;
        assert_invalid_field(&r, "description");
    }
    assert_nothing_changed(&f).await;
    let ok = "d".repeat(1000);
    let r = f
        .call(
            Method::POST,
            "/v1/apps/web/tokens",
            Who::Owner,
            json!({"name": "n", "description": ok}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["description"], ok.as_str());
    // Several lines are fine in a description.
    let r = f
        .call(
            Method::POST,
            "/v1/user/tokens",
            Who::Owner,
            json!({"name": "n", "description": "line one\nline two"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn bad_slugs_are_refused() {
    let f = fx().await;
    let mut bad: Vec<String> = [
        "A", "-ab", "ab-", "Ab", "a_b", "a b", "a", "", "ab.cd", "ab/cd", "ünï",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    bad.push("a".repeat(41));
    for slug in &bad {
        let r = f
            .call(Method::POST, "/v1/orgs", Who::Owner, json!({"slug": slug}))
            .await;
        assert_invalid_field(&r, "slug");
        let r = f
            .call(
                Method::POST,
                "/v1/orgs/acme/apps",
                Who::Owner,
                json!({"slug": slug}),
            )
            .await;
        assert_invalid_field(&r, "slug");
    }
    let orgs = items(&f.app.get("/v1/orgs", &f.owner).await);
    assert_eq!(orgs.len(), 1, "{orgs:?}");
    assert_eq!(
        items(&f.app.get("/v1/orgs/acme/apps", &f.owner).await).len(),
        1
    );
    // The longest and shortest good slugs.
    let longest = "b".repeat(40);
    for slug in ["ab", "a-1", longest.as_str()] {
        let r = f
            .call(
                Method::POST,
                "/v1/orgs/acme/apps",
                Who::Owner,
                json!({"slug": slug}),
            )
            .await;
        assert_eq!(r.status, 201, "{slug}: {}", r.text);
    }
}

#[tokio::test]
async fn duplicate_slugs_conflict() {
    let f = fx().await;
    let r = f
        .call(
            Method::POST,
            "/v1/orgs",
            Who::Owner,
            json!({"slug": "acme"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_envelope(&r);
    let r = f
        .call(
            Method::POST,
            "/v1/orgs/acme/apps",
            Who::Owner,
            json!({"slug": "web"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_envelope(&r);
    // App slugs are unique across the whole instance, not per org.
    let (_, other) = f.app.user("other@globex.test").await;
    let r = f
        .app
        .post("/v1/orgs", &other, json!({"slug": "globex"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = f
        .app
        .post("/v1/orgs/globex/apps", &other, json!({"slug": "web"}))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_envelope(&r);
    // The conflict says nothing about who owns the other one.
    assert!(!r.text.contains("acme"), "{}", r.text);
    // The existing app is untouched.
    assert_eq!(
        f.app.get("/v1/apps/web", &f.owner).await.body["org"],
        "acme"
    );
}

// ---------------------------------------------------------------------------------------------
// Expiry

#[tokio::test]
async fn invalid_durations_are_refused() {
    let f = fx().await;
    let bad = [
        "90x",
        "-1d",
        "",
        "1.5h",
        "90",
        "d",
        "30s",
        "59s",
        "99999999999999999999d",
        "1y",
        "1 d",
        "101y",
    ];
    let creates = [
        ("/v1/apps/web/tokens", json!({"name": "n"})),
        (
            "/v1/orgs/acme/tokens",
            json!({"name": "n", "role": "viewer"}),
        ),
        ("/v1/user/tokens", json!({"name": "n"})),
    ];
    for (path, base) in &creates {
        for d in bad {
            let r = f
                .call(
                    Method::POST,
                    path,
                    Who::Owner,
                    with(base, "expires_in", json!(d)),
                )
                .await;
            assert_invalid_field(&r, "expires_in");
        }
        // A century and more is refused too.
        let r = f
            .call(
                Method::POST,
                path,
                Who::Owner,
                with(base, "expires_in", json!("36700d")),
            )
            .await;
        assert_invalid_field(&r, "expires_in");
        // One minute is the shortest lifetime.
        let r = f
            .call(
                Method::POST,
                path,
                Who::Owner,
                with(base, "expires_in", json!("1m")),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let rotate = format!("/v1/tokens/{}/rotate", f.token_id);
    for d in bad {
        let r = f
            .call(Method::POST, &rotate, Who::Owner, json!({"expires_in": d}))
            .await;
        assert_invalid_field(&r, "expires_in");
    }
    for query in [
        "?expiring_within=soon",
        "?expiring_within=-1d",
        "?expiring_within=",
    ] {
        let r = f
            .app
            .get(&format!("/v1/apps/web/tokens{query}"), &f.owner)
            .await;
        assert!(r.status == 400 || r.status == 422, "{query}: {}", r.text);
        assert_names_field(&r, "expiring_within");
    }
    assert_nothing_changed(&f).await;
}

#[tokio::test]
async fn expires_at_must_be_a_future_rfc3339_instant() {
    let f = fx().await;
    let past = f.app.instant_ago(Duration::from_secs(86_400));
    let now = f.app.instant_in(Duration::ZERO);
    for at in [
        past.as_str(),
        now.as_str(),
        "tomorrow",
        "2030-13-01T00:00:00Z",
        "2030-01-01",
        "2030-01-01 00:00:00",
        "2999-01-01T00:00:00Z",
        "",
    ] {
        for (path, base) in [
            ("/v1/apps/web/tokens", json!({"name": "n"})),
            (
                "/v1/orgs/acme/tokens",
                json!({"name": "n", "role": "viewer"}),
            ),
            ("/v1/user/tokens", json!({"name": "n"})),
        ] {
            let r = f
                .call(
                    Method::POST,
                    path,
                    Who::Owner,
                    with(&base, "expires_at", json!(at)),
                )
                .await;
            assert_invalid_field(&r, "expires_at");
        }
    }
    // Offsets other than Z are fine.
    let soon = f.app.instant_in(Duration::from_secs(2 * 86_400));
    let shifted = soon.replace('Z', "+00:00");
    let r = f
        .call(
            Method::POST,
            "/v1/user/tokens",
            Who::Owner,
            json!({"name": "n", "expires_at": shifted}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(millis_of(&r.body["expires_at"]), millis(&soon));
}

#[tokio::test]
async fn at_most_one_expiry_field_at_once() {
    let f = fx().await;
    let at = f.app.instant_in(Duration::from_secs(10 * 86_400));
    for extra in [
        json!({"expires_in": "1d", "expires_at": at}),
        json!({"expires_in": "1d", "never_expires": true}),
        json!({"expires_at": at, "never_expires": true}),
        json!({"expires_in": "1d", "expires_at": at, "never_expires": true}),
    ] {
        for (path, mut body) in [
            ("/v1/apps/web/tokens", json!({"name": "n"})),
            (
                "/v1/orgs/acme/tokens",
                json!({"name": "n", "role": "viewer"}),
            ),
            ("/v1/user/tokens", json!({"name": "n"})),
        ] {
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                for (k, v) in e {
                    b.insert(k.clone(), v.clone());
                }
            }
            let r = f.call(Method::POST, path, Who::Owner, body).await;
            assert_eq!(r.status, 422, "{path} {extra}: {}", r.text);
            assert_eq!(r.code(), "invalid_field", "{}", r.text);
            let named = r.body["error"]["field"]
                .as_str()
                .unwrap_or("")
                .contains("expires")
                || r.body["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("expires");
            assert!(named, "the error should name the expiry fields: {}", r.text);
        }
    }
    assert_nothing_changed(&f).await;
}

#[tokio::test]
async fn grace_period_must_be_a_duration_of_at_most_7d() {
    let f = fx().await;
    let rotate = format!("/v1/tokens/{}/rotate", f.token_id);
    for grace in ["8d", "7d1s", "169h", "abc", "-1h", "", "1y"] {
        let r = f
            .call(
                Method::POST,
                &rotate,
                Who::Owner,
                json!({"grace_period": grace}),
            )
            .await;
        assert_eq!(r.status, 422, "{grace}: {}", r.text);
        assert_invalid_field(&r, "grace_period");
    }
    assert_nothing_changed(&f).await;
}

// ---------------------------------------------------------------------------------------------
// Env, config, alerts, users

#[tokio::test]
async fn bad_env_keys_and_values_are_refused() {
    let f = fx().await;
    let long_key = "K".repeat(257);
    for key in [
        "1ABC",
        "A-B",
        "A.B",
        "A%20B",
        "%C3%89",
        "9",
        long_key.as_str(),
    ] {
        let r = f
            .call(
                Method::PUT,
                &format!("/v1/apps/web/env/{key}"),
                Who::Owner,
                json!({"value": "v"}),
            )
            .await;
        assert_invalid_field(&r, "key");
    }
    let r = f
        .call(
            Method::PUT,
            "/v1/apps/web/env/BIG",
            Who::Owner,
            json!({"value": "v".repeat(64 * 1024 + 1)}),
        )
        .await;
    assert_invalid_field(&r, "value");
    let r = f
        .call(
            Method::PUT,
            "/v1/apps/web/env/NUL",
            Who::Owner,
            json!({"value": "a\u{0}b"}),
        )
        .await;
    assert_invalid_field(&r, "value");
    assert_nothing_changed(&f).await;
    // The limits themselves are fine.
    let longest = "K".repeat(256);
    for key in ["_X1", "lower_case", longest.as_str()] {
        let r = f
            .call(
                Method::PUT,
                &format!("/v1/apps/web/env/{key}"),
                Who::Owner,
                json!({"value": ""}),
            )
            .await;
        assert_eq!(r.status, 200, "{key}: {}", r.text);
    }
    let r = f
        .call(
            Method::PUT,
            "/v1/apps/web/env/BIG",
            Who::Owner,
            json!({"value": "v".repeat(64 * 1024)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Removing what is not there.
    assert_error(
        &f.app.delete("/v1/apps/web/env/ABSENT", &f.owner).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn config_must_be_a_json_object() {
    let f = fx().await;
    for doc in [
        json!([1, 2]),
        json!("text"),
        json!(42),
        json!(null),
        json!(true),
    ] {
        let shown = doc.to_string();
        let r = f
            .call(Method::PUT, "/v1/apps/web/config", Who::Owner, doc)
            .await;
        assert_eq!(r.status, 422, "{shown}: {}", r.text);
        assert_names_field(&r, "config");
    }
    // Over 1 MiB.
    let big = json!({"blob": "x".repeat(1024 * 1024 + 10)});
    let r = f
        .call(Method::PUT, "/v1/apps/web/config", Who::Owner, big)
        .await;
    assert_eq!(
        r.status,
        413,
        "{}",
        r.text.chars().take(200).collect::<String>()
    );
    assert_envelope(&r);
    let r = f.app.get("/v1/apps/web/config?version=abc", &f.owner).await;
    assert!((400..500).contains(&r.status), "{}", r.text);
    assert_envelope(&r);
    assert_error(
        &f.app.get("/v1/apps/web/config?version=7", &f.owner).await,
        404,
        "not_found",
    );
    assert_nothing_changed(&f).await;
}

#[tokio::test]
async fn alert_rules_validate_event_and_target() {
    let f = fx().await;
    let base = json!({"name": "a", "event": "deploy", "target": "https://hooks.example.com/x"});
    for event in ["nope", "", "Deploy", "deploys"] {
        let r = f
            .call(
                Method::POST,
                "/v1/orgs/acme/alerts",
                Who::Owner,
                with(&base, "event", json!(event)),
            )
            .await;
        assert_invalid_field(&r, "event");
    }
    let long = format!("https://hooks.example.com/{}", "p".repeat(2048));
    for target in [
        "ftp://files.example.com",
        "https://",
        "javascript:alert(1)",
        "hooks.example.com",
        "https://a b.example",
        "",
        long.as_str(),
    ] {
        let r = f
            .call(
                Method::POST,
                "/v1/orgs/acme/alerts",
                Who::Owner,
                with(&base, "target", json!(target)),
            )
            .await;
        assert_invalid_field(&r, "target");
    }
    assert_nothing_changed(&f).await;
    for (event, target) in [
        ("env_change", "mailto:ops@acme.test"),
        ("config_change", "http://localhost:9000/hook"),
        ("token_expiring", "https://hooks.example.com/x"),
        ("token_revoked", "https://hooks.example.com/y"),
        ("deploy", "https://hooks.example.com/z"),
    ] {
        let r = f
            .call(
                Method::POST,
                "/v1/orgs/acme/alerts",
                Who::Owner,
                json!({"name": event, "event": event, "target": target}),
            )
            .await;
        assert_eq!(r.status, 201, "{event}: {}", r.text);
    }
    let r = f
        .app
        .delete("/v1/orgs/acme/alerts/alr_doesnotexist00", &f.owner)
        .await;
    assert_error(&r, 404, "not_found");
}

#[tokio::test]
async fn user_fields_are_validated() {
    let f = fx().await;
    for email in [
        "not-an-email",
        "",
        "@example.com",
        "a@",
        "a@b@c",
        "a b@example.com",
    ] {
        let r = f
            .call(
                Method::POST,
                "/v1/users",
                Who::Admin,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_invalid_field(&r, "email");
    }
    for password in ["elevenchars".to_owned(), "p".repeat(1025)] {
        let r = f
            .call(
                Method::POST,
                "/v1/users",
                Who::Admin,
                json!({"email": "p@example.com", "password": password}),
            )
            .await;
        assert_invalid_field(&r, "password");
        assert!(
            !r.text.contains(password.as_str()),
            "the password is echoed: {}",
            r.text
        );
    }
    let r = f
        .call(
            Method::POST,
            "/v1/users",
            Who::Admin,
            json!({"email": "owner@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_envelope(&r);
    let r = f
        .call(
            Method::PATCH,
            &format!("/v1/users/{}", f.member_id),
            Who::Admin,
            json!({"name": ""}),
        )
        .await;
    assert_invalid_field(&r, "name");
    let r = f
        .call(
            Method::PATCH,
            "/v1/users/usr_doesnotexist00",
            Who::Admin,
            json!({"disabled": true}),
        )
        .await;
    assert_error(&r, 404, "not_found");
    // Exactly twelve characters is enough.
    let r = f
        .call(
            Method::POST,
            "/v1/users",
            Who::Admin,
            json!({"email": "twelve@example.com", "password": "twelve chars"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn password_change_is_validated() {
    let f = fx().await;
    let r = f
        .call(
            Method::PUT,
            "/v1/user/password",
            Who::Owner,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_invalid_field(&r, "new_password");
    let r = f
        .call(
            Method::PUT,
            "/v1/user/password",
            Who::Owner,
            json!({"current_password": "this is not it at all", "new_password": "another fine passphrase"}),
        )
        .await;
    assert_invalid_field(&r, "current_password");
    assert!(!r.text.contains("this is not it at all"));
    // Tokens have no password.
    let (_, deploy) = f
        .app
        .deploy_token(&f.owner, "web", json!({"name": "d"}))
        .await;
    let r = f
        .app
        .put(
            "/v1/user/password",
            &deploy,
            json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}),
        )
        .await;
    assert_forbidden(&r);
    assert_nothing_changed(&f).await;
}

// ---------------------------------------------------------------------------------------------
// Deploys

#[tokio::test]
async fn empty_artifact_is_422() {
    let f = fx().await;
    let r = f
        .app
        .deploy(&f.owner, "web", Vec::new(), Some("empty"), false)
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_envelope(&r);
    assert!(items(&f.app.get("/v1/apps/web/deploys", &f.owner).await).is_empty());
}

#[tokio::test]
async fn artifact_over_the_limit_is_413() {
    let app = spawn_app_with(|c| c.settings.max_artifact_bytes = 1024).await;
    let (_, owner) = app.user("owner@acme.test").await;
    app.org_with_app(&owner, "acme", "web").await;
    let r = app
        .deploy(&owner, "web", vec![b'a'; 2048], Some("too big"), false)
        .await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_envelope(&r);
    let r = app
        .deploy(
            &owner,
            "web",
            vec![b'a'; 1025],
            Some("one byte over"),
            false,
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert!(items(&app.get("/v1/apps/web/deploys", &owner).await).is_empty());
    // The limit itself is fine, and the refused uploads did not use up a version.
    let r = app
        .deploy(&owner, "web", vec![b'a'; 1024], Some("just right"), false)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["artifact_size"], 1024);
    // A refused label can be used after all.
    let r = app
        .deploy(&owner, "web", b"small".to_vec(), Some("too big"), false)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn deploy_metadata_is_validated() {
    let f = fx().await;
    let label = "l".repeat(201);
    let r = f
        .app
        .deploy_form(
            Some(f.owner.as_str()),
            "web",
            b"x".to_vec(),
            &[("label", label.as_str())],
        )
        .await;
    assert_invalid_field(&r, "label");
    let message = "m".repeat(4001);
    let r = f
        .app
        .deploy_form(
            Some(f.owner.as_str()),
            "web",
            b"x".to_vec(),
            &[("message", message.as_str())],
        )
        .await;
    assert_invalid_field(&r, "message");
    // No artifact part at all.
    let form = reqwest::multipart::Form::new().text("label", "nothing");
    let r = f.app.send_form(Some(f.owner.as_str()), "web", form).await;
    assert!((400..500).contains(&r.status), "{}", r.text);
    assert_envelope(&r);
    // JSON where multipart is expected.
    let r = f
        .raw(
            Method::POST,
            "/v1/apps/web/deploys",
            Who::Owner,
            "application/json",
            b"{\"artifact\": \"x\"}",
        )
        .await;
    assert!((400..500).contains(&r.status), "{}", r.text);
    assert_envelope(&r);
    assert!(items(&f.app.get("/v1/apps/web/deploys", &f.owner).await).is_empty());
    // The limits themselves are fine.
    let label = "l".repeat(200);
    let r = f
        .app
        .deploy_form(
            Some(f.owner.as_str()),
            "web",
            b"x".to_vec(),
            &[("label", label.as_str())],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn unknown_releases_and_bad_versions() {
    let f = fx().await;
    assert_eq!(
        f.app
            .deploy(&f.owner, "web", b"x".to_vec(), None, false)
            .await
            .status,
        201
    );
    for path in [
        "/v1/apps/web/deploys/2",
        "/v1/apps/web/deploys/0",
        "/v1/apps/web/deploys/2/artifact",
    ] {
        assert_error(&f.app.get(path, &f.owner).await, 404, "not_found");
    }
    for path in [
        "/v1/apps/web/deploys/abc",
        "/v1/apps/web/deploys/-1",
        "/v1/apps/web/deploys/99999999999999999999999",
    ] {
        let r = f.app.get(path, &f.owner).await;
        assert!((400..500).contains(&r.status), "{path}: {}", r.text);
        assert_envelope(&r);
    }
}

// ---------------------------------------------------------------------------------------------
// Query parameters and ids

#[tokio::test]
async fn bad_status_filter_is_refused() {
    let f = fx().await;
    for base in [
        "/v1/apps/web/tokens",
        "/v1/orgs/acme/tokens",
        "/v1/user/tokens",
        "/v1/tokens",
    ] {
        for status in ["bogus", "ACTIVE", "", "revoked,active"] {
            let r = f
                .app
                .get(&format!("{base}?status={status}"), &f.owner)
                .await;
            assert!(
                r.status == 400 || r.status == 422,
                "{base}?status={status}: {}",
                r.text
            );
            assert_names_field(&r, "status");
        }
    }
}

#[tokio::test]
async fn bad_audit_queries_are_refused() {
    let f = fx().await;
    for (query, field) in [
        ("?since=yesterday", "since"),
        ("?since=2026-02-30T00:00:00Z", "since"),
        ("?limit=0", "limit"),
        ("?limit=100000", "limit"),
        ("?limit=-5", "limit"),
    ] {
        let r = f
            .app
            .get(&format!("/v1/audit{query}"), &f.app.admin_token)
            .await;
        assert!(r.status == 400 || r.status == 422, "{query}: {}", r.text);
        assert_names_field(&r, field);
    }
    let r = f
        .app
        .get("/v1/audit?org=nosuchorg", &f.app.admin_token)
        .await;
    assert_error(&r, 404, "not_found");
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let f = fx().await;
    let t = f.owner.as_str();
    for path in [
        "/v1/tokens/tok_doesnotexist00",
        "/v1/tokens/not-even-an-id",
        "/v1/apps/nosuchapp",
        "/v1/apps/nosuchapp/deploys",
        "/v1/apps/nosuchapp/env",
        "/v1/apps/nosuchapp/config",
        "/v1/apps/nosuchapp/tokens",
        "/v1/orgs/nosuchorg",
        "/v1/orgs/nosuchorg/apps",
        "/v1/orgs/nosuchorg/members",
        "/v1/orgs/nosuchorg/tokens",
        "/v1/orgs/nosuchorg/alerts",
    ] {
        assert_error(&f.app.get(path, t).await, 404, "not_found");
    }
    let r = f
        .app
        .patch("/v1/tokens/tok_doesnotexist00", t, json!({"name": "x"}))
        .await;
    assert_error(&r, 404, "not_found");
    let r = f
        .app
        .post("/v1/tokens/tok_doesnotexist00/rotate", t, json!({}))
        .await;
    assert_error(&r, 404, "not_found");
    assert_error(
        &f.app.delete("/v1/tokens/tok_doesnotexist00", t).await,
        404,
        "not_found",
    );
    assert_error(
        &f.app.delete("/v1/apps/nosuchapp", t).await,
        404,
        "not_found",
    );
    let r = f
        .app
        .post("/v1/apps/nosuchapp/tokens", t, json!({"name": "x"}))
        .await;
    assert_error(&r, 404, "not_found");
    let r = f
        .app
        .post("/v1/orgs/nosuchorg/apps", t, json!({"slug": "fine"}))
        .await;
    assert_error(&r, 404, "not_found");
    let r = f
        .app
        .deploy(t, "nosuchapp", b"x".to_vec(), None, false)
        .await;
    assert_error(&r, 404, "not_found");
    // Unknown routes answer with the envelope as well.
    let r = f.app.get("/v1/no/such/route", t).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_envelope(&r);
}
