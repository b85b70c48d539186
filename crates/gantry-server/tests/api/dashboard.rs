//! The dashboard over plain HTTP, as a browser would send it (forms, cookies, no redirects
//! followed): sessions, CSRF, sign-in limits, security headers, once-shown values and the
//! domain's permissions. The browser flow itself is in the e2e suite (real Chromium).

use crate::helpers::*;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;
use std::time::Duration;

/// A cookie-holding client that does not follow redirects.
struct Browser {
    http: reqwest::Client,
    base: String,
    session: Option<String>,
    csrf: Option<String>,
}

struct Page {
    status: u16,
    location: String,
    headers: reqwest::header::HeaderMap,
    html: String,
}

fn cookie_from(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

/// The value of the first hidden `_csrf` field of a page.
fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_owned())
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            session: None,
            csrf: None,
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Page {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let html = r.text().await.unwrap();
        assert!(status < 500, "server error {status}: {html}");
        Page {
            status,
            location,
            headers,
            html,
        }
    }

    async fn get(&self, path: &str) -> Page {
        let mut rb = self.http.get(format!("{}{path}", self.base));
        if let Some(s) = &self.session {
            rb = rb.header(COOKIE, format!("gantry_session={s}"));
        }
        self.send(rb).await
    }

    /// Posts a form with the session's CSRF token added.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if let Some(c) = &self.csrf {
            all.push(("_csrf", c));
        }
        self.post_raw(path, &all).await
    }

    /// Posts exactly these fields.
    async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut rb = self.http.post(format!("{}{path}", self.base)).form(fields);
        if let Some(s) = &self.session {
            rb = rb.header(COOKIE, format!("gantry_session={s}"));
        }
        self.send(rb).await
    }

    /// The sign-in form, then the post, as a browser does: (the answer to the post).
    async fn try_sign_in(&self, email: &str, password: &str, extra: &[(&str, &str)]) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, 200);
        let cookie = cookie_value(&cookie_from(&form.headers, "gantry_login").unwrap());
        let csrf = csrf_in(&form.html).unwrap();
        assert_eq!(cookie, csrf, "the sign-in form is a double-submit pair");
        let mut rb = self
            .http
            .post(format!("{}/login", self.base))
            .header(COOKIE, format!("gantry_login={cookie}"))
            .form(&[("email", email), ("password", password), ("_csrf", &csrf)]);
        for (k, v) in extra {
            rb = rb.header(*k, *v);
        }
        self.send(rb).await
    }

    async fn sign_in(app: &TestApp, email: &str) -> Browser {
        let mut b = Browser::new(app);
        let r = b.try_sign_in(email, PASSWORD, &[]).await;
        assert_eq!(r.status, 303, "{}", r.html);
        assert_eq!(r.location, "/");
        b.session = Some(cookie_value(
            &cookie_from(&r.headers, "gantry_session").unwrap(),
        ));
        let home = b.get("/").await;
        assert_eq!(home.status, 200, "{}", home.html);
        b.csrf = csrf_in(&home.html);
        assert!(b.csrf.is_some());
        b
    }
}

fn once_shown_value(html: &str) -> String {
    let at = html.find("id=\"token-value\"").expect("a once-shown value");
    let rest = &html[at..];
    let v = rest.find("value=\"").unwrap() + 7;
    rest[v..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn dashboard_form_without_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let fields = [("name", "ci"), ("expiration", "30d")];
    let missing = b.post_raw("/apps/web/tokens", &fields).await;
    assert_eq!(missing.status, 403, "{}", missing.html);
    assert!(missing.html.contains("CSRF"));
    let mut wrong = fields.to_vec();
    wrong.push(("_csrf", "0000000000000000000000000000000000000000"));
    let forged = b.post_raw("/apps/web/tokens", &wrong).await;
    assert_eq!(forged.status, 403);
    // Another session's token does not pass either.
    let other = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let mut theirs = fields.to_vec();
    let other_csrf = other.csrf.clone().unwrap();
    theirs.push(("_csrf", &other_csrf));
    assert_eq!(b.post_raw("/apps/web/tokens", &theirs).await.status, 403);
    let listed = app.get("/v1/apps/web/tokens", &app.admin_token).await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        0,
        "{}",
        listed.text
    );
    // Every kind of form goes through the same check.
    for path in ["/orgs", "/logout", "/tokens", "/admin/users"] {
        assert_eq!(
            b.post_raw(path, &[("slug", "x")]).await.status,
            403,
            "{path}"
        );
    }
    // With the token, the same form works.
    let made = b.post("/apps/web/tokens", &fields).await;
    assert_eq!(made.status, 200, "{}", made.html);
    let listed = app.get("/v1/apps/web/tokens", &app.admin_token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn sign_in_form_without_its_cookie_is_refused() {
    let app = spawn_app().await;
    let b = Browser::new(&app);
    let r = b
        .post_raw(
            "/login",
            &[
                ("email", ADMIN_EMAIL),
                ("password", PASSWORD),
                ("_csrf", "abc"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(cookie_from(&r.headers, "gantry_session").is_none());
}

#[tokio::test]
async fn dashboard_sign_in_is_rate_limited_like_the_api() {
    let app = spawn_app().await;
    let b = Browser::new(&app);
    for _ in 0..10 {
        let r = b.try_sign_in(ADMIN_EMAIL, "wrong password!", &[]).await;
        assert_eq!(r.status, 422, "{}", r.html);
        assert!(r.html.contains("Wrong email or password"));
    }
    let r = b.try_sign_in(ADMIN_EMAIL, PASSWORD, &[]).await;
    assert_eq!(r.status, 429, "{}", r.html);
    assert!(r.headers.get("retry-after").is_some());
    assert!(cookie_from(&r.headers, "gantry_session").is_none());
    // The limit is shared with `gantry login`: one account, one budget.
    assert_eq!(app.try_login(ADMIN_EMAIL, PASSWORD).await.status, 429);
}

#[tokio::test]
async fn session_cookie_is_httponly_lax_and_secure_behind_an_https_proxy() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let b = Browser::new(&app);
    let plain = b.try_sign_in(ADMIN_EMAIL, PASSWORD, &[]).await;
    let cookie = cookie_from(&plain.headers, "gantry_session").unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    let proxied = b
        .try_sign_in(ADMIN_EMAIL, PASSWORD, &[("x-forwarded-proto", "https")])
        .await;
    let cookie = cookie_from(&proxied.headers, "gantry_session").unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    // Behind the proxy, the once-shown page's CI example names the public address.
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let mut b = Browser::new(&app);
    b.session = Some(cookie_value(&cookie));
    b.csrf = csrf_in(&b.get("/").await.html);
    let made = b
        .send(
            b.http
                .post(format!("{}/apps/web/tokens", app.base))
                .header(
                    COOKIE,
                    format!("gantry_session={}", b.session.as_ref().unwrap()),
                )
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-host", "gantry.example.com")
                .form(&[("name", "ci"), ("_csrf", b.csrf.as_ref().unwrap())]),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.html);
    assert!(
        made.html
            .contains("https://gantry.example.com/v1/apps/web/deploys"),
        "{}",
        made.html
    );
    // An untrusted peer cannot ask for it... and cannot drop it either: only the proxy's word
    // counts, so a spawn without trusted proxies ignores the header.
    let direct = spawn_app().await;
    let b = Browser::new(&direct);
    let r = b
        .try_sign_in(ADMIN_EMAIL, PASSWORD, &[("x-forwarded-proto", "https")])
        .await;
    assert!(!cookie_from(&r.headers, "gantry_session")
        .unwrap()
        .contains("Secure"));
}

#[tokio::test]
async fn session_expires_and_signing_out_ends_it() {
    let app = spawn_app().await;
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    assert_eq!(b.get("/tokens").await.status, 200);
    app.advance(Duration::from_secs(12 * 3600 + 1));
    let r = b.get("/tokens").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location, "/login?next=%2Ftokens");
    // A fresh session, then sign out: the old cookie no longer works.
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let out = b.post("/logout", &[]).await;
    assert_eq!(out.status, 303);
    assert!(cookie_from(&out.headers, "gantry_session")
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(b.get("/").await.status, 303);
    let audit = app
        .get("/v1/audit?action=session.delete", &app.admin_token)
        .await;
    assert_eq!(
        audit.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        audit.text
    );
}

#[tokio::test]
async fn disabled_user_is_signed_out_at_once() {
    let app = spawn_app().await;
    let (id, _) = app.user("dev@example.com").await;
    let b = Browser::sign_in(&app, "dev@example.com").await;
    let r = app
        .patch(
            &format!("/v1/users/{id}"),
            &app.admin_token,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(b.get("/").await.status, 303);
    // Enabling the user again does not bring the old session back.
    let r = app
        .patch(
            &format!("/v1/users/{id}"),
            &app.admin_token,
            json!({"disabled": false}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(b.get("/").await.status, 303);
}

#[tokio::test]
async fn changing_the_password_ends_every_session() {
    let app = spawn_app().await;
    let (_, token) = app.user("dev@example.com").await;
    let b = Browser::sign_in(&app, "dev@example.com").await;
    let r = app
        .put(
            "/v1/user/password",
            &token,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(b.get("/").await.status, 303);
}

#[tokio::test]
async fn session_cookie_does_not_authenticate_the_json_api() {
    let app = spawn_app().await;
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let r = b.get("/v1/user").await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn dashboard_pages_send_browser_security_headers() {
    let app = spawn_app().await;
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let anonymous = Browser::new(&app);
    for page in [
        b.get("/").await,
        b.get("/tokens").await,
        anonymous.get("/login").await,
    ] {
        let h = |n: &str| {
            page.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let csp = h("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{csp}");
        }
        assert_eq!(h("x-frame-options"), "DENY");
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("referrer-policy"), "no-referrer");
        assert_eq!(h("cache-control"), "no-store");
        // No inline script or style for the CSP to have to allow.
        assert!(!page.html.contains("<script>"), "{}", page.html);
        assert!(!page.html.contains("style="), "{}", page.html);
    }
    let js = anonymous.get("/static/dashboard.js").await;
    assert_eq!(js.status, 200);
    assert!(js.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
}

#[tokio::test]
async fn raw_token_appears_only_on_the_once_shown_page() {
    let app = spawn_app().await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let made = b
        .post(
            "/apps/web/tokens",
            &[("name", "GitHub Actions"), ("expiration", "30d")],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.html);
    assert!(made.html.contains("won't be able to see it again"));
    assert_eq!(
        made.headers["cache-control"], "no-store",
        "the browser keeps no copy"
    );
    let raw = once_shown_value(&made.html);
    assert!(raw.starts_with("gtd_"), "{raw}");
    let id = app.get("/v1/apps/web/tokens", &app.admin_token).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200);
    let session = b.session.clone().unwrap();
    for path in [
        "/".to_owned(),
        "/apps/web".to_owned(),
        "/apps/web?status=all".to_owned(),
        "/orgs/acme".to_owned(),
        "/tokens".to_owned(),
        "/admin/tokens?all_users=1".to_owned(),
        "/audit".to_owned(),
        format!("/tokens/{id}/edit"),
        format!("/tokens/{id}/regenerate"),
        format!("/tokens/{id}/delete"),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.html);
        assert!(!page.html.contains(&raw), "{path} shows the raw token");
        assert!(
            !page.html.contains(&session),
            "{path} shows the session secret"
        );
    }
    // Regenerating shows the new value once, and only then.
    let again = b.post(&format!("/tokens/{id}/regenerate"), &[]).await;
    assert_eq!(again.status, 200, "{}", again.html);
    let fresh = once_shown_value(&again.html);
    assert_ne!(fresh, raw);
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 401);
    assert_eq!(app.get("/v1/apps/web", &fresh).await.status, 200);
    assert!(!b.get("/apps/web").await.html.contains(&fresh));
    // Nothing the server keeps holds either value or the session secret.
    for (place, bytes) in app.stored().await {
        let text = String::from_utf8_lossy(&bytes);
        for secret in [&raw, &fresh, &session] {
            assert!(!text.contains(secret.as_str()), "{place} holds a secret");
        }
    }
}

#[tokio::test]
async fn delete_needs_the_word_delete_typed() {
    let app = spawn_app().await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let (id, raw) = app
        .deploy_token(&app.admin_token, "web", json!({"name": "ci"}))
        .await;
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    for typed in ["", "delete", "DELETE", "Delete "] {
        let r = b
            .post(&format!("/tokens/{id}/delete"), &[("confirm", typed)])
            .await;
        assert_eq!(r.status, 422, "{typed:?}");
        assert_eq!(app.get("/v1/apps/web", &raw).await.status, 200);
    }
    let r = b
        .post(
            &format!("/tokens/{id}/delete"),
            &[("confirm", "Delete"), ("back", "/apps/web")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location, "/apps/web");
    assert_eq!(app.get("/v1/apps/web", &raw).await.status, 401);
    // A way back that leaves the site is not followed.
    let (id2, _) = app
        .deploy_token(&app.admin_token, "web", json!({"name": "ci2"}))
        .await;
    let r = b
        .post(
            &format!("/tokens/{id2}/delete"),
            &[("confirm", "Delete"), ("back", "//evil.example/")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location, "/");
}

#[tokio::test]
async fn dashboard_applies_the_domain_permissions() {
    let app = spawn_app().await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let (viewer_id, _) = app.user("viewer@example.com").await;
    app.add_member(&app.admin_token, "acme", &viewer_id, "viewer")
        .await;
    app.user("stranger@example.com").await;
    let viewer = Browser::sign_in(&app, "viewer@example.com").await;
    let page = viewer.get("/apps/web").await;
    assert_eq!(page.status, 200);
    assert!(
        !page.html.contains("create-token"),
        "no create form for a viewer"
    );
    let r = viewer
        .post(
            "/apps/web/tokens",
            &[("name", "sneaky"), ("expiration", "7d")],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.html);
    // Someone outside the org cannot learn it exists.
    let stranger = Browser::sign_in(&app, "stranger@example.com").await;
    assert_eq!(stranger.get("/apps/web").await.status, 404);
    assert_eq!(stranger.get("/orgs/acme").await.status, 404);
    // "Show all users" is for instance administrators only.
    assert_eq!(stranger.get("/admin/tokens?all_users=1").await.status, 403);
    assert_eq!(stranger.get("/admin/users").await.status, 403);
    let admin = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let all = admin.get("/admin/tokens?all_users=1").await;
    assert_eq!(all.status, 200);
    assert!(
        all.html.contains("stranger@example.com"),
        "their login token is listed"
    );
    let mine = admin.get("/admin/tokens").await;
    assert!(!mine.html.contains("stranger@example.com"));
}

#[tokio::test]
async fn token_form_offers_what_the_policy_allows_and_the_domain_decides() {
    let app = spawn_app_with(|c| {
        c.settings.token_policy.forbid_non_expiring = true;
        c.settings.token_policy.max_lifetime = Some(Duration::from_secs(60 * 86_400));
    })
    .await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let page = b.get("/apps/web").await;
    assert!(!page.html.contains("value=\"never\""));
    assert!(!page.html.contains("value=\"90d\""));
    assert!(page.html.contains("value=\"60d\""));
    // The default is the cap (the domain's default lifetime under it).
    assert!(
        page.html.contains("<option value=\"60d\" selected>"),
        "{}",
        page.html
    );
    // Forged choices are refused by the domain with the field named.
    let r = b
        .post(
            "/apps/web/tokens",
            &[("name", "x"), ("expiration", "never")],
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.html);
    let r = b
        .post("/apps/web/tokens", &[("name", "x"), ("expiration", "365d")])
        .await;
    assert_eq!(r.status, 422, "{}", r.html);
    assert!(r.html.contains("expires_in"), "{}", r.html);
    let r = b
        .post(
            "/apps/web/tokens",
            &[
                ("name", "x"),
                ("expiration", "date"),
                ("expires_on", "soon"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.html.contains("expires_on"));
    // A date: the token expires at the end of that day (UTC).
    let day = chrono::DateTime::from_timestamp_millis(app.started.gantry.now().0 + 10 * DAY_MS)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let r = b
        .post(
            "/apps/web/tokens",
            &[
                ("name", "dated"),
                ("description", "line one\r\nline two"),
                ("expiration", "date"),
                ("expires_on", &day),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.html);
    let listed = app.get("/v1/apps/web/tokens", &app.admin_token).await;
    let t = &listed.body["items"][0];
    assert_eq!(t["expires_at"], format!("{day}T23:59:59.000Z"));
    assert_eq!(t["description"], "line one\nline two");
}

/// Every dashboard route against every kind of user: the dashboard's answers follow the
/// domain's (404 for what the user may not know exists, 403 for what they may see but not do).
#[tokio::test]
async fn every_dashboard_route_answers_each_kind_of_user() {
    let app = spawn_app().await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let (tok, _) = app
        .deploy_token(&app.admin_token, "web", json!({"name": "ci"}))
        .await;
    let (viewer_id, _) = app.user("viewer@example.com").await;
    app.add_member(&app.admin_token, "acme", &viewer_id, "viewer")
        .await;
    let (_, stranger_token) = app.user("stranger@example.com").await;
    let personal = app.get("/v1/user/tokens", &stranger_token).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let anonymous = Browser::new(&app);
    let admin = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let viewer = Browser::sign_in(&app, "viewer@example.com").await;
    let stranger = Browser::sign_in(&app, "stranger@example.com").await;

    // (path, admin, viewer, stranger); anonymous is always sent to sign in.
    let pages: Vec<(String, u16, u16, u16)> = vec![
        ("/".into(), 200, 200, 200),
        ("/orgs/acme".into(), 200, 200, 404),
        ("/apps/web".into(), 200, 200, 404),
        ("/tokens".into(), 200, 200, 200),
        (format!("/tokens/{tok}/edit"), 200, 403, 404),
        (format!("/tokens/{tok}/regenerate"), 200, 403, 404),
        (format!("/tokens/{tok}/delete"), 200, 403, 404),
        (format!("/tokens/{personal}/edit"), 200, 404, 200),
        ("/admin/tokens".into(), 200, 200, 200),
        ("/admin/tokens?all_users=1".into(), 200, 403, 403),
        ("/admin/users".into(), 200, 403, 403),
        ("/audit".into(), 200, 200, 200),
        ("/orgs/nope".into(), 404, 404, 404),
        ("/apps/nope".into(), 404, 404, 404),
        ("/tokens/tok_nope/edit".into(), 404, 404, 404),
    ];
    for (path, a, v, s) in &pages {
        let r = anonymous.get(path).await;
        assert_eq!(r.status, 303, "anonymous GET {path}");
        assert!(r.location.starts_with("/login"), "{path}: {}", r.location);
        for (who, b, want) in [
            ("admin", &admin, a),
            ("viewer", &viewer, v),
            ("stranger", &stranger, s),
        ] {
            let r = b.get(path).await;
            assert_eq!(r.status, *want, "{who} GET {path}: {}", r.html);
        }
    }
    // Forms: (path, fields, viewer, stranger). Each would change something if allowed; the
    // admin's answers are covered by the other tests.
    type FormCase<'a> = (String, Vec<(&'a str, &'a str)>, u16, u16);
    let forms: Vec<FormCase> = vec![
        ("/orgs/acme/apps".into(), vec![("slug", "api")], 403, 404),
        (
            "/orgs/acme/tokens".into(),
            vec![("name", "x"), ("role", "viewer")],
            403,
            404,
        ),
        ("/apps/web/tokens".into(), vec![("name", "x")], 403, 404),
        (format!("/tokens/{tok}/edit"), vec![("name", "x")], 403, 404),
        (format!("/tokens/{tok}/regenerate"), vec![], 403, 404),
        (
            format!("/tokens/{tok}/delete"),
            vec![("confirm", "Delete")],
            403,
            404,
        ),
        (
            "/admin/users".into(),
            vec![
                ("email", "x@example.com"),
                ("password", "long enough password"),
            ],
            403,
            403,
        ),
        (
            format!("/admin/users/{viewer_id}"),
            vec![("change", "make_admin")],
            403,
            403,
        ),
    ];
    for (path, fields, v, s) in &forms {
        let r = anonymous.post(path, fields).await;
        assert_eq!(
            (r.status, r.location.as_str()),
            (303, "/login"),
            "anonymous POST {path} (no session, no CSRF token)"
        );
        for (who, b, want) in [("viewer", &viewer, v), ("stranger", &stranger, s)] {
            let r = b.post(path, fields).await;
            assert_eq!(r.status, *want, "{who} POST {path}: {}", r.html);
        }
    }
    // Nothing changed: the deploy token is the one there was, unrenamed; no app, no user.
    let listed = app.get("/v1/apps/web/tokens", &app.admin_token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["name"], "ci");
    assert_eq!(app.get("/v1/apps/api", &app.admin_token).await.status, 404);
    let users = app.get("/v1/users", &app.admin_token).await;
    assert_eq!(users.body["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_lifetime_cap_alone_rules_out_never_expiring_tokens_in_the_form() {
    let app = spawn_app_with(|c| {
        c.settings.token_policy.max_lifetime = Some(Duration::from_secs(14 * 86_400));
    })
    .await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let page = b.get("/apps/web").await;
    assert!(!page.html.contains("value=\"never\""), "{}", page.html);
    assert!(
        page.html.contains("<option value=\"14d\" selected>"),
        "{}",
        page.html
    );
    assert!(page.html.contains("value=\"7d\""));
    assert!(!page.html.contains("value=\"30d\""));
    // The date picker stops at the last day whose end is within the cap.
    let last = chrono::DateTime::from_timestamp_millis(app.started.gantry.now().0 + 13 * DAY_MS)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        page.html.contains(&format!("max=\"{last}\"")),
        "{}",
        page.html
    );
    let r = b
        .post(
            "/apps/web/tokens",
            &[("name", "x"), ("expiration", "date"), ("expires_on", &last)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.html);
}

#[tokio::test]
async fn the_app_page_lists_trust_policies_creates_one_from_a_preset_and_tests_a_jwt() {
    use gantry_core::time::Clock;
    let issuer = crate::issuer::Issuer::start().await;
    let url = issuer.url.clone();
    let app = spawn_app_with(move |c| c.settings.insecure_issuers = vec![url]).await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let page = b.get("/apps/web").await;
    assert!(page.html.contains("Keyless CI"), "{}", page.html);
    assert!(page.html.contains("No trust policies."));
    // The preset's rules are the domain's: without the ids it is refused, with them made.
    let refused = b
        .post(
            "/apps/web/trust",
            &[
                ("name", "main"),
                ("preset", "github"),
                ("issuer", &issuer.url),
                ("conditions", "repository=octo/web\nref=refs/heads/main"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(refused.html.contains("repository_id"), "{}", refused.html);
    let made = b
        .post(
            "/apps/web/trust",
            &[
                ("name", "main"),
                ("preset", "github"),
                ("issuer", &issuer.url),
                (
                    "conditions",
                    "repository_id=1001\r\nrepository_owner_id=2002\r\nref=refs/heads/main",
                ),
                ("token_lifetime", "10m"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.html);
    let page = b.get("/apps/web").await;
    assert!(page.html.contains("repository_id=1001"), "{}", page.html);
    let id = app
        .get("/v1/apps/web/trust-policies", &app.admin_token)
        .await
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Test a JWT: claim by claim.
    let now = app.clock.now().0 / 1000;
    let mut claims = issuer.github_claims(now, &app.base);
    claims["repository_id"] = serde_json::json!("666");
    let jwt = issuer.sign("rsa-1", &claims);
    let verdict = b
        .post(&format!("/apps/web/trust/{id}/test"), &[("token", &jwt)])
        .await;
    assert_eq!(verdict.status, 200, "{}", verdict.html);
    assert!(
        verdict.html.contains("This token would be refused"),
        "{}",
        verdict.html
    );
    assert!(verdict.html.contains("666"));
    // An exchanged token shows where it came from.
    let good = issuer.sign("rsa-1", &issuer.github_claims(now, &app.base));
    let r = app
        .http
        .post(format!("{}/v1/oauth/token", app.base))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", good.as_str()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
            ("resource", "web"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = b.get("/apps/web").await;
    assert!(page.html.contains("keyless CI"), "{}", page.html);
    assert!(page.html.contains("repo:octo/web:ref:refs/heads/main"));
    // Deleting it revokes what it issued.
    let gone = b.post(&format!("/apps/web/trust/{id}/delete"), &[]).await;
    assert_eq!(gone.status, 303, "{}", gone.html);
    let page = b.get("/apps/web").await;
    assert!(page.html.contains("No trust policies."));
}

#[tokio::test]
async fn the_token_form_narrows_capabilities_with_its_checkboxes() {
    let app = spawn_app().await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let page = b.get("/apps/web").await;
    assert!(page.html.contains("name=\"cap_deploy\""), "{}", page.html);
    let made = b
        .post(
            "/apps/web/tokens",
            &[
                ("name", "releases only"),
                ("expiration", "30d"),
                ("caps_shown", "1"),
                ("cap_deploy", "on"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.html);
    let raw = once_shown_value(&made.html);
    assert_eq!(
        app.put(
            "/v1/apps/web/env/A",
            &raw,
            serde_json::json!({"value": "1"})
        )
        .await
        .status,
        403
    );
    let listed = app.get("/v1/apps/web/tokens", &app.admin_token).await;
    assert_eq!(
        listed.body["items"][0]["capabilities"],
        serde_json::json!(["deploy"])
    );
    // Every box ticked (the default) is every capability; none ticked is refused.
    let all = b
        .post(
            "/apps/web/tokens",
            &[
                ("name", "all"),
                ("expiration", "30d"),
                ("caps_shown", "1"),
                ("cap_read", "on"),
                ("cap_deploy", "on"),
                ("cap_env", "on"),
                ("cap_config", "on"),
            ],
        )
        .await;
    assert_eq!(all.status, 200, "{}", all.html);
    let none = b
        .post(
            "/apps/web/tokens",
            &[("name", "none"), ("expiration", "30d"), ("caps_shown", "1")],
        )
        .await;
    assert_eq!(none.status, 422, "{}", none.html);
}

#[tokio::test]
async fn the_org_page_shows_the_token_policy_and_owners_change_it_there() {
    let app = spawn_app().await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let (viewer_id, _) = app.user("viewer@acme.test").await;
    app.add_member(&app.admin_token, "acme", &viewer_id, "viewer")
        .await;
    let b = Browser::sign_in(&app, ADMIN_EMAIL).await;
    let page = b.get("/orgs/acme").await;
    assert!(page.html.contains("Token policy"), "{}", page.html);
    assert!(page.html.contains("any address"), "{}", page.html);
    let r = b
        .post(
            "/orgs/acme/policy",
            &[
                ("max_lifetime", "30d"),
                ("require_expiry", "on"),
                ("allowed_ips", "203.0.113.0/24, 2001:db8::/32"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.html);
    assert_eq!(r.location, "/orgs/acme#org-policy");
    let api = app.get("/v1/orgs/acme/policy", &app.admin_token).await;
    assert_eq!(api.body["max_lifetime"], "30d");
    assert_eq!(
        api.body["allowed_ips"],
        serde_json::json!(["203.0.113.0/24", "2001:db8::/32"])
    );
    let page = b.get("/orgs/acme").await;
    assert!(
        page.html.contains("203.0.113.0/24, 2001:db8::/32"),
        "{}",
        page.html
    );
    // A wider lifetime than the instance's cannot be set here either; a bad network is 422.
    let bad = b
        .post("/orgs/acme/policy", &[("allowed_ips", "10.0.0.1/8")])
        .await;
    assert_eq!(bad.status, 422, "{}", bad.html);
    // A viewer sees the policy, not the form.
    let v = Browser::sign_in(&app, "viewer@acme.test").await;
    let page = v.get("/orgs/acme").await;
    assert!(page.html.contains("Token policy") && !page.html.contains("Save policy"));
    // The token form takes networks.
    let made = b
        .post(
            "/apps/web/tokens",
            &[
                ("name", "office"),
                ("expiration", "30d"),
                ("allowed_ips", "203.0.113.5"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.html);
    let listed = app.get("/v1/apps/web/tokens", &app.admin_token).await;
    assert_eq!(
        listed.body["items"][0]["allowed_ips"],
        serde_json::json!(["203.0.113.5/32"])
    );
}

#[tokio::test]
async fn a_token_reported_leaked_shows_a_badge_and_where_it_was_found() {
    use crate::secret_scanning::{acme_reporting_to, matches, report_signed, KeyServer};
    let keys = KeyServer::start().await;
    let Acme { app, owner, .. } = acme_reporting_to(&keys, |_| {}).await;
    let (id, leaked) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let (quiet_id, _) = app
        .deploy_token(&owner, "web", json!({"name": "quiet"}))
        .await;
    let url = "https://github.com/octo/site/blob/3f1c2a/deploy/.env?plain=1&x=\"y\"";
    let r = report_signed(&app, &keys, "k1", "k1", &matches(&[(&leaked, url)])).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let b = Browser::sign_in(&app, ACME_OWNER).await;
    let page = b.get("/apps/web?status=all").await;
    assert_eq!(page.status, 200, "{}", page.html);
    let row = |token_id: &str| {
        let at = page
            .html
            .find(&format!("data-token-id=\"{token_id}\""))
            .unwrap_or_else(|| panic!("{token_id} listed: {}", page.html));
        let rest = &page.html[at..];
        rest[..rest.find("</tr>").unwrap()].to_owned()
    };
    let mine = row(&id);
    assert!(mine.contains("badge leaked"), "{mine}");
    assert!(mine.contains("by GitHub secret scanning"), "{mine}");
    assert!(
        mine.contains("reported leaked"),
        "the revoked note says why: {mine}"
    );
    // The URL as a link, escaped, opened without a referrer.
    assert!(
        mine.contains("href=\"https://github.com/octo/site/blob/3f1c2a/deploy/.env?plain=1&amp;x=&quot;y&quot;\""),
        "{mine}"
    );
    assert!(
        mine.contains("rel=\"noopener noreferrer nofollow\""),
        "{mine}"
    );
    assert!(!row(&quiet_id).contains("leaked"));
    assert!(!page.html.contains(&leaked));
}
