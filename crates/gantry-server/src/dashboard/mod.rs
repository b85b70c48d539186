//! The web dashboard: server-rendered pages over the same domain services as the API.
//!
//! - Sign-in with email and password makes a session (`Gantry::start_session`, rate limited
//!   like `gantry login`); its secret travels in an HttpOnly, SameSite=Lax cookie, Secure when
//!   a trusted proxy says the request came over HTTPS. Only its SHA-256 is stored.
//! - Every state-changing request is a form post checked by [`csrf_guard`] before any handler
//!   runs: the form's `_csrf` field must equal the session's CSRF token (or, for the sign-in
//!   form, the value of its own cookie).
//! - Every response carries a strict CSP (no inline script or style), frame-ancestors 'none',
//!   X-Frame-Options, Referrer-Policy and nosniff; pages are `no-store`.
//! - Handlers parse a form, call one `Gantry` method, render. The rules live in the domain.

mod assets;
mod layout;
mod pages;

use crate::extract::client_ip;
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use cookie::Cookie;
use gantry_core::service::{csrf_token, same_secret};
use gantry_core::{Caller, CoreError};
use std::net::SocketAddr;

/// The session cookie.
const SESSION_COOKIE: &str = "gantry_session";
/// The sign-in form's own CSRF cookie (there is no session yet to derive one from).
const LOGIN_COOKIE: &str = "gantry_login";
/// Largest form body the dashboard accepts.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes.
pub fn router(request_timeout: std::time::Duration) -> Router<AppState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/orgs", post(pages::create_org))
        .route("/orgs/{org}", get(pages::org_page))
        .route("/orgs/{org}/apps", post(pages::create_app))
        .route("/orgs/{org}/tokens", post(pages::create_org_token))
        .route("/orgs/{org}/policy", post(pages::set_org_policy))
        .route("/orgs/{org}/alerts", post(pages::create_alert))
        .route("/orgs/{org}/alerts/{id}", get(pages::alert_page))
        .route("/orgs/{org}/alerts/{id}/test", post(pages::test_alert))
        .route("/orgs/{org}/alerts/{id}/enable", post(pages::enable_alert))
        .route(
            "/orgs/{org}/alerts/{id}/disable",
            post(pages::disable_alert),
        )
        .route(
            "/orgs/{org}/alerts/{id}/rotate-secret",
            post(pages::rotate_alert_secret),
        )
        .route("/orgs/{org}/alerts/{id}/delete", post(pages::delete_alert))
        .route(
            "/orgs/{org}/alerts/{id}/deliveries/{delivery}/retry",
            post(pages::retry_delivery),
        )
        .route("/apps/{app}", get(pages::app_page))
        .route("/apps/{app}/tokens", post(pages::create_deploy_token))
        .route("/apps/{app}/trust", post(pages::create_trust_policy))
        .route(
            "/apps/{app}/trust/{id}/delete",
            post(pages::delete_trust_policy),
        )
        .route(
            "/apps/{app}/trust/{id}/test",
            post(pages::test_trust_policy),
        )
        .route(
            "/tokens",
            get(pages::personal_tokens).post(pages::create_personal_token),
        )
        .route(
            "/tokens/{id}/edit",
            get(pages::edit_form).post(pages::edit_token),
        )
        .route(
            "/tokens/{id}/regenerate",
            get(pages::regenerate_form).post(pages::regenerate_token),
        )
        .route(
            "/tokens/{id}/delete",
            get(pages::delete_form).post(pages::delete_token),
        )
        .route("/admin/tokens", get(pages::all_tokens))
        .route(
            "/admin/users",
            get(pages::users_page).post(pages::create_user),
        )
        .route("/admin/users/{id}", post(pages::update_user))
        .route("/audit", get(pages::audit_page))
        .route("/static/{file}", get(assets::serve))
        .layer(axum::middleware::from_fn(csrf_guard))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
}

/// The signed-in user of a dashboard request. Without a live session, GET requests are sent
/// to the sign-in page (coming back afterwards) and anything else is refused.
pub struct Signed {
    pub caller: Caller,
    pub user: gantry_core::model::UserRecord,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let target = if parts.method == Method::GET && next != "/" {
                format!(
                    "/login?next={}",
                    serde_urlencoded::to_string([("", next)])
                        .unwrap_or_default()
                        .trim_start_matches('=')
                )
            } else {
                "/login".to_owned()
            };
            Redirect::to(&target).into_response()
        };
        let Some(secret) = cookie_value(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let ip = client_ip(parts);
        match state.gantry.session_caller(&secret, ip.as_deref()).await {
            Ok(caller) => match &caller.principal {
                gantry_core::Principal::User { user, .. } => Ok(Signed {
                    user: user.clone(),
                    csrf: csrf_token(&secret),
                    caller,
                }),
                _ => {
                    Err(DashError(CoreError::internal("a session without a user")).into_response())
                }
            },
            Err(CoreError::Unauthenticated(_)) => {
                let mut resp = to_login();
                resp.headers_mut().append(
                    header::SET_COOKIE,
                    clear_cookie(SESSION_COOKIE, "/", secure_request(parts, state)),
                );
                Err(resp)
            }
            Err(e) => Err(DashError(e).into_response()),
        }
    }
}

/// A domain error, rendered as a page with the status the API would answer.
pub struct DashError(pub CoreError);

impl From<CoreError> for DashError {
    fn from(e: CoreError) -> Self {
        DashError(e)
    }
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        pages::failed(self.0, "/")
    }
}

/// The value of cookie `name`, if the request carries exactly one.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for c in Cookie::split_parse(value).flatten() {
            if c.name() == name {
                if found.is_some() {
                    return None;
                }
                found = Some(c.value().to_owned());
            }
        }
    }
    found.filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Whether the browser reached us over HTTPS: a trusted proxy said so in
/// `X-Forwarded-Proto`. (gantry itself serves plain HTTP behind such a proxy.)
fn secure_request(parts: &Parts, state: &AppState) -> bool {
    from_trusted_proxy(parts, state)
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Whether the TCP peer is one of `http.trusted_proxies` (whose `X-Forwarded-*` we believe).
fn from_trusted_proxy(parts: &Parts, state: &AppState) -> bool {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(a)| state.config.is_trusted_proxy(a.ip()))
}

/// The address browsers and CI reach this server at, for the examples the pages show: the
/// trusted proxy's `X-Forwarded-Proto`/`X-Forwarded-Host`, else this request's `Host`.
fn public_base(parts: &Parts, state: &AppState) -> String {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let forwarded = if from_trusted_proxy(parts, state) {
        header("x-forwarded-host")
    } else {
        None
    };
    let host = forwarded
        .or_else(|| header(header::HOST.as_str()))
        .unwrap_or("localhost");
    let scheme = if secure_request(parts, state) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

fn set_cookie(name: &str, value: &str, path: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let c = Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&c.to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("gantry_invalid=1"))
}

fn clear_cookie(name: &str, path: &str, secure: bool) -> HeaderValue {
    set_cookie(name, "", path, 0, secure)
}

/// A path to go back to after a form: local paths only (no `//host`, no scheme).
fn local_path(p: Option<&str>) -> Option<String> {
    let p = p?;
    let ok = p.starts_with('/')
        && !p.starts_with("//")
        && !p.starts_with("/\\")
        && p.len() <= 512
        && !p.chars().any(|c| c.is_control());
    ok.then(|| p.to_owned())
}

/// Refuses every non-GET request whose form does not carry the right `_csrf` value: the
/// session's CSRF token, or for the sign-in form the value of the sign-in cookie. Runs before
/// any handler, so no form can forget it.
async fn csrf_guard(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // No session at all (never signed in, or the browser dropped the expired cookie): there is
    // nothing to protect, and the way on is to sign in.
    if parts.uri.path() != "/login" && cookie_value(&parts.headers, SESSION_COOKIE).is_none() {
        return Redirect::to("/login").into_response();
    }
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return layout::error_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "dashboard forms are sent as application/x-www-form-urlencoded",
            "/",
        )
        .into_response();
    }
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return layout::error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the form is larger than 64 KiB",
                "/",
            )
            .into_response()
        }
    };
    let sent: Option<String> = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(k, _)| k == "_csrf")
                .map(|(_, v)| v)
        });
    let expected = if parts.uri.path() == "/login" {
        cookie_value(&parts.headers, LOGIN_COOKIE)
    } else {
        cookie_value(&parts.headers, SESSION_COOKIE).map(|s| csrf_token(&s))
    };
    let ok = matches!((&sent, &expected), (Some(s), Some(e)) if same_secret(s, e));
    if !ok {
        let ip = client_ip(&parts);
        tracing::warn!(path = %parts.uri.path(), ip = ip.as_deref().unwrap_or("-"), "dashboard form refused: CSRF check failed");
        return layout::error_page(StatusCode::FORBIDDEN, "This form was not sent by this dashboard page (CSRF check failed). Reload the page and try again.", "/")
        .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The browser-facing security headers of every dashboard response.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/static/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
