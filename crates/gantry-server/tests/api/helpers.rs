//! `spawn_app()`: the real router on 127.0.0.1:<random port> with a clock the test moves by
//! hand, over a fresh SQLite file in a temporary data directory or, in the `api_postgres`
//! suite (`crate::BACKEND`), over a fresh PostgreSQL database dropped after the test.

#![allow(dead_code)]

use gantry_core::time::ManualClock;
use gantry_server::{ServerConfig, Started};
use gantry_store::testing::TestDatabase;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const PASSWORD: &str = "correct horse battery staple";

/// A running server and what a test needs to drive it.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub started: Started,
    /// Personal token of the instance administrator created at start.
    pub admin_token: String,
    pub data_dir: tempfile::TempDir,
    /// The PostgreSQL database, when the suite runs on PostgreSQL.
    pub db: Option<TestDatabase>,
}

/// Which store a suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut ServerConfig)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::for_data_dir(data_dir.path());
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_email = Some(ADMIN_EMAIL.into());
    config.admin_password = Some(PASSWORD.into());
    config.usage_flush_interval = Duration::from_millis(200);
    let db = match crate::BACKEND {
        Backend::Sqlite => None,
        Backend::Postgres => TestDatabase::create().await.unwrap(),
    };
    config.database_url = db.as_ref().map(|d| d.url.clone());
    tweak(&mut config);
    let clock = ManualClock::new();
    let started = gantry_server::start(config, clock.clone()).await.unwrap();
    let base = format!("http://{}", started.local_addr);
    let http = reqwest::Client::new();
    let mut app = TestApp {
        base,
        http,
        clock,
        started,
        admin_token: String::new(),
        data_dir,
        db,
    };
    app.admin_token = app.login(ADMIN_EMAIL, PASSWORD).await;
    app
}

impl TestApp {
    /// Everything the server has stored, as (where, bytes): the files of the data directory,
    /// and with PostgreSQL every row of every table as text.
    pub async fn stored(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        files_under(self.data_dir.path(), &mut files);
        let mut stored: Vec<(String, Vec<u8>)> = files
            .into_iter()
            .map(|f| {
                (
                    f.display().to_string(),
                    std::fs::read(&f).unwrap_or_default(),
                )
            })
            .collect();
        if let Some(db) = &self.db {
            stored.push((
                "the PostgreSQL database".into(),
                db.dump_text().await.unwrap().into_bytes(),
            ));
        }
        stored
    }

    pub async fn req(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        Self::finish(rb).await
    }

    /// Sends a request with a raw body and content type (for malformed-input tests).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Resp {
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        Self::finish(rb).await
    }

    pub async fn finish(rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status < 500, "server error {status}: {text}");
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.req(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.req(Method::POST, path, Some(token), Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.req(Method::PUT, path, Some(token), Some(body)).await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.req(Method::PATCH, path, Some(token), Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.req(Method::DELETE, path, Some(token), None).await
    }

    /// `POST /v1/auth/login`, whatever it answers.
    pub async fn try_login(&self, email: &str, password: &str) -> Resp {
        self.req(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    /// Logs in and returns the raw personal token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self.try_login(email, password).await;
        assert_eq!(r.status, 201, "login failed: {}", r.text);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// Creates a user (as the admin) and logs them in: (user id, personal token).
    pub async fn user(&self, email: &str) -> (String, String) {
        let id = self.create_user(email).await;
        (id, self.login(email, PASSWORD).await)
    }

    /// Creates an org owned by the token's user, and an app in it.
    pub async fn org_with_app(&self, owner_token: &str, org: &str, app: &str) {
        let r = self
            .post("/v1/orgs", owner_token, json!({"slug": org}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = self
            .post(
                &format!("/v1/orgs/{org}/apps"),
                owner_token,
                json!({"slug": app}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    /// Adds `user_id` to `org` with `role`.
    pub async fn add_member(&self, owner_token: &str, org: &str, user_id: &str, role: &str) {
        let r = self
            .put(
                &format!("/v1/orgs/{org}/members/{user_id}"),
                owner_token,
                json!({"role": role}),
            )
            .await;
        assert!(r.status == 200 || r.status == 201, "{}", r.text);
    }

    /// Creates a deploy token for `app`: (token id, raw token).
    pub async fn deploy_token(&self, token: &str, app: &str, body: Value) -> (String, String) {
        let r = self
            .post(&format!("/v1/apps/{app}/tokens"), token, body)
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        (
            r.body["id"].as_str().unwrap().to_owned(),
            r.body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Pushes a deploy (multipart).
    pub async fn deploy(
        &self,
        token: &str,
        app: &str,
        bytes: Vec<u8>,
        label: Option<&str>,
        overwrite: bool,
    ) -> Resp {
        let mut form = reqwest::multipart::Form::new().part(
            "artifact",
            reqwest::multipart::Part::bytes(bytes).file_name("build.tar.gz"),
        );
        if let Some(l) = label {
            form = form.text("label", l.to_owned());
        }
        if overwrite {
            form = form.text("overwrite", "true");
        }
        let rb = self
            .http
            .post(format!("{}/v1/apps/{app}/deploys", self.base))
            .bearer_auth(token)
            .multipart(form);
        Self::finish(rb).await
    }

    /// Writes pending last-used records now (instead of waiting for the interval).
    pub async fn flush_usage(&self) {
        self.started.gantry.flush_all_usage().await.unwrap();
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }
}

pub const DAY: Duration = Duration::from_secs(86_400);
pub const HOUR: Duration = Duration::from_secs(3600);
pub const MINUTE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Shared fixtures and assertions of the API suite. Added below; nothing above was changed.

/// One day in milliseconds, for comparing RFC 3339 instants from answers.
pub const DAY_MS: i64 = 86_400_000;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// `shared/token-vectors.json` (DESIGN §2: tests should read it).
/// A rate limit of `max` per `secs` seconds (for the settings a test tightens or loosens).
pub fn limit(max: u32, secs: u64) -> gantry_core::ratelimit::Limit {
    gantry_core::ratelimit::Limit {
        max,
        window: Duration::from_secs(secs),
    }
}

pub fn token_vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/token-vectors.json");
    let text = std::fs::read_to_string(path).expect("docs/token-vectors.json");
    serde_json::from_str(&text).unwrap()
}

/// Milliseconds since the epoch of an RFC 3339 instant.
pub fn millis(s: &str) -> i64 {
    gantry_core::time::Timestamp::parse_rfc3339(s)
        .unwrap_or_else(|| panic!("not an RFC 3339 instant: {s:?}"))
        .0
}

/// Milliseconds since the epoch of a JSON string holding an RFC 3339 instant.
pub fn millis_of(v: &Value) -> i64 {
    millis(
        v.as_str()
            .unwrap_or_else(|| panic!("expected an RFC 3339 string, got {v}")),
    )
}

/// Asserts a 4xx answer carrying the error envelope `{"error":{"code","message"}}`.
pub fn assert_envelope(r: &Resp) {
    assert!(
        (400..500).contains(&r.status),
        "expected a 4xx answer, got {}: {}",
        r.status,
        r.text
    );
    let code = r.body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.code in a {} answer: {}", r.status, r.text));
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "error.code is not snake_case: {}",
        r.text
    );
    let message = r.body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.message in a {} answer: {}", r.status, r.text));
    assert!(
        !message.trim().is_empty(),
        "empty error.message: {}",
        r.text
    );
}

/// Asserts status, envelope and code.
pub fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(
        r.status, status,
        "expected {status} {code}, got: {}",
        r.text
    );
    assert_envelope(r);
    assert_eq!(r.code(), code, "unexpected error code: {}", r.text);
}

/// Asserts a 4xx error envelope that names `field`, in `error.field` or in the message.
pub fn assert_names_field(r: &Resp, field: &str) {
    assert_envelope(r);
    let named = r.body["error"]["field"].as_str() == Some(field)
        || r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(field));
    assert!(named, "the error does not name `{field}`: {}", r.text);
}

/// Asserts a 422 `invalid_field` error about `field`.
pub fn assert_invalid_field(r: &Resp, field: &str) {
    assert_error(r, 422, "invalid_field");
    assert_eq!(
        r.body["error"]["field"].as_str(),
        Some(field),
        "error.field should be `{field}`: {}",
        r.text
    );
}

/// Asserts that a raw token (or its secret part) appears nowhere in an answer.
pub fn assert_no_secret(r: &Resp, raw: &str) {
    assert!(
        !r.text.contains(raw),
        "a raw token appears in a {} answer: {}",
        r.status,
        r.text
    );
    if raw.len() > 12 {
        assert!(
            !r.text.contains(&raw[12..]),
            "the secret part of a token appears in a {} answer: {}",
            r.status,
            r.text
        );
    }
}

/// Asserts a 401 with the RFC 6750 challenge.
pub fn assert_unauthorized(r: &Resp, code: &str) {
    assert_error(r, 401, code);
    let challenge = r.header("www-authenticate");
    assert!(
        challenge.starts_with("Bearer"),
        "401 without a Bearer challenge: {challenge:?}"
    );
}

/// Asserts a 403 `forbidden` with `error="insufficient_scope"` in the challenge.
pub fn assert_forbidden(r: &Resp) {
    assert_error(r, 403, "forbidden");
    let challenge = r.header("www-authenticate");
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"insufficient_scope\""),
        "403 without an insufficient_scope challenge: {challenge:?}"
    );
}

/// The `items` of a list answer (asserting the status is 200).
/// A well-formed deploy token (right prefix, length and checksum) that no server issued.
pub fn unknown_token() -> String {
    gantry_core::token::PlainToken::generate(gantry_api::TokenKind::Deploy)
        .expose_secret()
        .to_owned()
}

pub fn items(r: &Resp) -> Vec<Value> {
    assert_eq!(r.status, 200, "list failed: {}", r.text);
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list answer: {}", r.text))
        .clone()
}

/// The `id`s of list items.
pub fn ids_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The item with this `id`, if listed.
pub fn find_id<'a>(items: &'a [Value], id: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["id"].as_str() == Some(id))
}

/// Which of `wanted` appear in `items`, in the order of `wanted` (lists may hold other tokens).
pub fn which_of(items: &[Value], wanted: &[&str]) -> Vec<String> {
    let listed = ids_of(items);
    wanted
        .iter()
        .filter(|w| listed.iter().any(|l| l.as_str() == **w))
        .map(|w| (*w).to_owned())
        .collect()
}

impl TestApp {
    /// A request without credentials.
    pub async fn anon(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.req(method, path, None, body).await
    }

    /// Creates a user (as the admin) without logging in: the user id.
    pub async fn create_user(&self, email: &str) -> String {
        let r = self
            .post(
                "/v1/users",
                &self.admin_token,
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates an org token with `role`: (token id, raw token).
    pub async fn org_token(&self, token: &str, org: &str, role: &str) -> (String, String) {
        self.org_token_with(
            token,
            org,
            json!({"name": format!("{role} token"), "role": role}),
        )
        .await
    }

    /// Creates an org token from a full body: (token id, raw token).
    pub async fn org_token_with(&self, token: &str, org: &str, body: Value) -> (String, String) {
        let r = self
            .post(&format!("/v1/orgs/{org}/tokens"), token, body)
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        (
            r.body["id"].as_str().unwrap().to_owned(),
            r.body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a personal token of the calling user: (token id, raw token).
    pub async fn personal_token(&self, token: &str, body: Value) -> (String, String) {
        let r = self.post("/v1/user/tokens", token, body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        (
            r.body["id"].as_str().unwrap().to_owned(),
            r.body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// A personal token of the caller that never expires (login tokens last 90 days; tests that
    /// move the clock further need a credential that outlives them). A token cannot make a
    /// longer-lived personal token, so this signs in again with the password.
    pub async fn forever(&self, session: &str) -> String {
        let me = self.get("/v1/user", session).await;
        let email = me.body["user"]["email"].as_str().unwrap().to_owned();
        let r = self
            .anon(
                Method::POST,
                "/v1/auth/login",
                Some(json!({"email": email, "password": PASSWORD, "never_expires": true})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// Pushes a deploy with any credential (or none) and any extra text fields.
    pub async fn deploy_form(
        &self,
        token: Option<&str>,
        app: &str,
        bytes: Vec<u8>,
        fields: &[(&str, &str)],
    ) -> Resp {
        let mut form = reqwest::multipart::Form::new().part(
            "artifact",
            reqwest::multipart::Part::bytes(bytes).file_name("build.tar.gz"),
        );
        for &(k, v) in fields {
            form = form.text(k.to_owned(), v.to_owned());
        }
        self.send_form(token, app, form).await
    }

    /// Posts a hand-built multipart form to `/v1/apps/{app}/deploys`.
    pub async fn send_form(
        &self,
        token: Option<&str>,
        app: &str,
        form: reqwest::multipart::Form,
    ) -> Resp {
        let mut rb = self
            .http
            .post(format!("{}/v1/apps/{app}/deploys", self.base))
            .multipart(form);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        Self::finish(rb).await
    }

    /// Sends a request with an arbitrary `Authorization` header value.
    pub async fn with_authorization(
        &self,
        method: Method,
        path: &str,
        authorization: &str,
    ) -> Resp {
        let rb = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("authorization", authorization);
        Self::finish(rb).await
    }

    /// Rotates a token: the answer (asserting 200).
    pub async fn rotate(&self, token: &str, id: &str, body: Value) -> Resp {
        let r = self
            .post(&format!("/v1/tokens/{id}/rotate"), token, body)
            .await;
        assert_eq!(r.status, 200, "rotate failed: {}", r.text);
        r
    }

    /// Revokes a token: the answer (asserting 200).
    pub async fn revoke(&self, token: &str, id: &str) -> Resp {
        let r = self.delete(&format!("/v1/tokens/{id}"), token).await;
        assert_eq!(r.status, 200, "revoke failed: {}", r.text);
        r
    }

    /// The audit events the instance administrator sees, with a query string (`""` or `?…`).
    pub async fn audit_items(&self, query: &str) -> (Resp, Vec<Value>) {
        let r = self
            .get(&format!("/v1/audit{query}"), &self.admin_token)
            .await;
        let list = items(&r);
        (r, list)
    }

    /// The server clock, in milliseconds since the epoch.
    pub fn now_millis(&self) -> i64 {
        gantry_core::time::Clock::now(&*self.clock).0
    }

    /// An RFC 3339 instant `d` after the server's now.
    pub fn instant_in(&self, d: Duration) -> String {
        gantry_core::time::Timestamp(self.now_millis())
            .plus(d)
            .to_rfc3339()
    }

    /// An RFC 3339 instant `d` before the server's now.
    pub fn instant_ago(&self, d: Duration) -> String {
        let ms = i64::try_from(d.as_millis()).unwrap();
        gantry_core::time::Timestamp(self.now_millis() - ms).to_rfc3339()
    }
}

pub fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fixture most tests start from, and what a deploy token may do.

/// The owner of [`Acme`].
pub const ACME_OWNER: &str = "owner@acme.test";

/// Org `acme` with app `web`, owned by [`ACME_OWNER`].
pub struct Acme {
    pub app: TestApp,
    pub owner_id: String,
    /// A never-expiring personal token of the owner.
    pub owner: String,
}

/// [`Acme`] on a server with the default settings.
pub async fn acme() -> Acme {
    acme_with(|_| {}).await
}

/// [`Acme`] on a server with `tweak`ed settings.
pub async fn acme_with(tweak: impl FnOnce(&mut ServerConfig)) -> Acme {
    let app = spawn_app_with(tweak).await;
    let (owner_id, session) = app.user(ACME_OWNER).await;
    let owner = app.forever(&session).await;
    app.org_with_app(&owner, "acme", "web").await;
    Acme {
        app,
        owner_id,
        owner,
    }
}

impl Acme {
    /// An alert rule of `acme` for `events`, to a public webhook that never answers (its
    /// deliveries are listed, whatever becomes of them); its id.
    pub async fn rule_for(&self, events: &[&str]) -> String {
        let r = self
            .app
            .post(
                "/v1/orgs/acme/alerts",
                &self.owner,
                json!({"name": events.join("-"), "events": events, "target": "https://hooks.example.com/x"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Adds app `slug` to `acme`.
    pub async fn and_app(self, slug: &str) -> Acme {
        let r = self
            .app
            .post("/v1/orgs/acme/apps", &self.owner, json!({"slug": slug}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        self
    }
}

/// A new user made a member of `acme` with `role` by `owner`: (user id, their session token).
pub async fn member(app: &TestApp, owner: &str, email: &str, role: &str) -> (String, String) {
    let (id, session) = app.user(email).await;
    app.add_member(owner, "acme", &id, role).await;
    (id, session)
}

/// Signs in with the password; `extra` adds login fields (`expires_in`, `never_expires`).
pub async fn login_with(app: &TestApp, email: &str, extra: Value) -> Resp {
    let mut body = json!({"email": email, "password": PASSWORD});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    app.anon(Method::POST, "/v1/auth/login", Some(body)).await
}

/// The raw token of a create or rotate answer.
pub fn raw_of(r: &Resp) -> String {
    r.body["token"].as_str().unwrap().to_owned()
}

/// The id in a create answer.
pub fn id_of(r: &Resp) -> String {
    r.body["id"].as_str().unwrap().to_owned()
}

/// What DESIGN §2 lets a deploy token of app `own` (in org `org`) do, through the API:
/// deploy, set env vars and config, and read its app; every app in `others` (a sibling in its
/// org or an app of another org) answers exactly as one that does not exist; and no route of
/// token management, membership, org or instance administration answers it with 2xx.
/// Writes a release, an env var `DEPLOY_SCOPE` and a config document to `own`.
pub async fn assert_deploy_scope(
    app: &TestApp,
    token: &str,
    org: &str,
    own: &str,
    others: &[&str],
) {
    // Deployment-level operations on its own app.
    let r = app.deploy(token, own, b"scope".to_vec(), None, false).await;
    assert_eq!(r.status, 201, "deploy to {own}: {}", r.text);
    let env = format!("/v1/apps/{own}/env/DEPLOY_SCOPE");
    let r = app.put(&env, token, json!({"value": "1"})).await;
    assert_eq!(r.status, 200, "env of {own}: {}", r.text);
    let r = app
        .put(
            &format!("/v1/apps/{own}/config"),
            token,
            json!({"scope": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "config of {own}: {}", r.text);
    for path in ["", "/deploys", "/env", "/config"] {
        let r = app.get(&format!("/v1/apps/{own}{path}"), token).await;
        assert_eq!(r.status, 200, "GET /v1/apps/{own}{path}: {}", r.text);
    }

    // Other apps look like apps that do not exist.
    let missing = app.get("/v1/apps/no-such-app", token).await;
    assert_error(&missing, 404, "not_found");
    for other in others {
        for path in ["", "/deploys", "/env", "/config"] {
            let r = app.get(&format!("/v1/apps/{other}{path}"), token).await;
            assert_error(&r, 404, "not_found");
        }
        let r = app
            .deploy(token, other, b"scope".to_vec(), None, false)
            .await;
        assert_error(&r, 404, "not_found");
        let env = format!("/v1/apps/{other}/env/DEPLOY_SCOPE");
        assert_error(
            &app.put(&env, token, json!({"value": "1"})).await,
            404,
            "not_found",
        );
        assert_error(&app.delete(&env, token).await, 404, "not_found");
        let r = app
            .put(&format!("/v1/apps/{other}/config"), token, json!({"a": 1}))
            .await;
        assert_error(&r, 404, "not_found");
    }

    // Nothing of token management, administration or other orgs.
    let refused = [
        app.post(
            &format!("/v1/apps/{own}/tokens"),
            token,
            json!({"name": "another"}),
        )
        .await,
        app.get(&format!("/v1/apps/{own}/tokens"), token).await,
        app.post(
            &format!("/v1/orgs/{org}/tokens"),
            token,
            json!({"name": "escalate", "role": "admin"}),
        )
        .await,
        app.get(&format!("/v1/orgs/{org}/tokens"), token).await,
        app.post("/v1/user/tokens", token, json!({"name": "me"}))
            .await,
        app.get("/v1/tokens", token).await,
        app.post(
            &format!("/v1/orgs/{org}/apps"),
            token,
            json!({"slug": "sneaky"}),
        )
        .await,
        app.delete(&format!("/v1/apps/{own}"), token).await,
        app.post("/v1/orgs", token, json!({"slug": "elsewhere"}))
            .await,
        app.post(
            &format!("/v1/orgs/{org}/alerts"),
            token,
            json!({"name": "n", "event": "deploy", "target": "https://hooks.example.com/x"}),
        )
        .await,
        app.put(
            &format!("/v1/orgs/{org}/members/usr_someone"),
            token,
            json!({"role": "viewer"}),
        )
        .await,
        app.get("/v1/audit", token).await,
        app.get("/v1/users", token).await,
    ];
    for r in &refused {
        assert_forbidden(r);
    }
    // Org-wide lists answer with what a deploy token can see: no one.
    let members = app.get(&format!("/v1/orgs/{org}/members"), token).await;
    assert_eq!(members.status, 200, "{}", members.text);
    assert_eq!(members.body["items"], json!([]));
}
