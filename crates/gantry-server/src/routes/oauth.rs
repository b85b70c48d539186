//! gantry as a token authority: forward auth for reverse proxies, RFC 7662 introspection,
//! RFC 7009 revocation.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, ClientIp};
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use gantry_api::{IntrospectionResponse, OAuthError};
use gantry_core::model::TokenScope;
use serde::Deserialize;
use std::borrow::Cow;
use utoipa::{IntoParams, ToSchema};

/// Forward-auth parameters, borrowed from the query string: this route runs in front of every
/// request a reverse proxy passes on, so it copies nothing it does not have to.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CheckParams<'a> {
    /// App the request is for, by slug or by immutable id (`app_…`, which pins the app even if
    /// its slug is later reused); without it only the token is checked.
    #[serde(borrow)]
    #[param(value_type = Option<String>)]
    pub app: Option<Cow<'a, str>>,
    /// `read` (default), `deploy`, `env` or `config`.
    #[serde(borrow)]
    #[param(value_type = Option<String>)]
    pub capability: Option<Cow<'a, str>>,
}

impl<'a> CheckParams<'a> {
    fn parse(uri: &'a Uri) -> Result<CheckParams<'a>, ApiError> {
        serde_urlencoded::from_str(uri.query().unwrap_or_default())
            .map_err(|e| ApiError::invalid_query(&e.to_string()))
    }
}

const TOKEN_ID: HeaderName = HeaderName::from_static("x-gantry-token-id");
const KIND: HeaderName = HeaderName::from_static("x-gantry-kind");
const ORG: HeaderName = HeaderName::from_static("x-gantry-org");
const APP: HeaderName = HeaderName::from_static("x-gantry-app");
const USER: HeaderName = HeaderName::from_static("x-gantry-user");

fn header(map: &mut HeaderMap, name: HeaderName, value: Option<&str>) {
    if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
        map.insert(name, v);
    }
}

/// Forward auth for nginx `auth_request`, Traefik ForwardAuth and Envoy ext_authz: 200 with
/// `X-Gantry-*` headers when the bearer token is valid (and holds `capability` on `app`),
/// else 401 or 403 with `WWW-Authenticate`. Each accepted check counts as a use of the token.
#[utoipa::path(get, path = "/v1/auth/check", tag = "oauth", params(CheckParams),
    responses((status = 200, description = "Allowed",
        headers(("X-Gantry-Token-Id" = String, description = "Token id"),
                ("X-Gantry-Kind" = String, description = "personal, org or deploy"),
                ("X-Gantry-Org" = String, description = "Org slug (org and deploy tokens, or the app's org)"),
                ("X-Gantry-App" = String, description = "App slug (deploy tokens, or the app asked for)"),
                ("X-Gantry-User" = String, description = "The user's email (personal tokens)")))))]
pub async fn check(
    State(state): State<AppState>,
    Auth(caller): Auth,
    uri: Uri,
) -> ApiResult<Response> {
    let p = CheckParams::parse(&uri)?;
    let app = state
        .gantry
        .forward_check(&caller, p.app.as_deref(), p.capability.as_deref())
        .await?;
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    let token = caller.principal.token();
    header(h, TOKEN_ID, token.map(|t| t.id.as_str()));
    let kind = token.map(|t| t.kind().as_str()).unwrap_or("session");
    h.insert(KIND, HeaderValue::from_static(kind));
    let org = app
        .as_ref()
        .map(|a| a.org_slug.as_str())
        .or_else(|| token.and_then(|t| t.scope.org_slug().map(|s| s.as_str())));
    header(h, ORG, org);
    let app_slug = app
        .as_ref()
        .map(|a| a.slug.as_str())
        .or_else(|| token.and_then(|t| t.scope.app_slug().map(|s| s.as_str())));
    header(h, APP, app_slug);
    header(h, USER, caller.principal.user().map(|u| u.email.as_str()));
    Ok(resp)
}

/// The form of introspection and revocation requests.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenForm {
    /// The token to introspect or revoke.
    pub token: Option<String>,
    /// Ignored: gantry tells token kinds apart by their prefix.
    pub token_type_hint: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(OAuthError {
            error: error.to_owned(),
            error_description: description.to_owned(),
        }),
    )
        .into_response()
}

fn form_token(form: Result<Form<TokenForm>, FormRejection>) -> Result<String, Box<Response>> {
    match form {
        Ok(Form(TokenForm { token: Some(t), .. })) if !t.is_empty() => Ok(t),
        Ok(_) => Err(Box::new(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the `token` parameter is required",
        ))),
        Err(e) => Err(Box::new(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!(
                "send application/x-www-form-urlencoded with a `token` parameter: {}",
                e.body_text()
            ),
        ))),
    }
}

fn seconds(t: gantry_core::time::Timestamp) -> i64 {
    t.0.div_euclid(1000)
}

/// RFC 7662 token introspection. The caller authenticates with its own bearer token (an
/// instance administrator, an org admin or owner, an admin-role org token, or a user for
/// their own personal tokens). A token that is not active — or that the caller may not see —
/// is exactly `{"active": false}`.
#[utoipa::path(post, path = "/v1/oauth/introspect", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "RFC 7662 §2.2 answer", body = IntrospectionResponse),
              (status = 400, description = "No `token` parameter", body = OAuthError)))]
pub async fn introspect(
    State(state): State<AppState>,
    Auth(caller): Auth,
    form: Result<Form<TokenForm>, FormRejection>,
) -> ApiResult<Response> {
    let raw = match form_token(form) {
        Ok(t) => t,
        Err(resp) => return Ok(*resp),
    };
    let Some(found) = state.gantry.introspect(&caller, &raw).await? else {
        return Ok(Json(IntrospectionResponse::default()).into_response());
    };
    let t = &found.token;
    let scope = match &t.scope {
        TokenScope::Deploy { app_slug, .. } => format!("app:{app_slug}:deploy"),
        TokenScope::Org { org_slug, role, .. } => format!("org:{org_slug}:{}", role.as_str()),
        TokenScope::Personal { .. } => "user".to_owned(),
    };
    let answer = IntrospectionResponse {
        active: true,
        scope: Some(scope),
        client_id: Some(t.id.to_string()),
        username: found.user.as_ref().map(|u| u.email.clone()),
        token_type: Some("bearer".into()),
        exp: t.expires_at.map(seconds),
        iat: Some(seconds(t.created_at)),
        sub: Some(
            found
                .user
                .as_ref()
                .map(|u| u.id.to_string())
                .unwrap_or_else(|| t.id.to_string()),
        ),
        iss: Some("gantry".into()),
        jti: Some(t.id.to_string()),
        kind: Some(t.kind()),
        org: t.scope.org_slug().map(ToString::to_string),
        app: t.scope.app_slug().map(ToString::to_string),
        role: t.scope.role(),
    };
    // RFC 7662 §4: answers must not be cached by intermediaries.
    let mut resp = Json(answer).into_response();
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

/// RFC 7009 token revocation: whoever presents a token may revoke it — this is also how a
/// leaked token is reported. Answers 200 whether or not the token existed (§2.2). Audited.
#[utoipa::path(post, path = "/v1/oauth/revoke", tag = "oauth", security(()),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked, or nothing to revoke"),
              (status = 400, description = "No `token` parameter", body = OAuthError)))]
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    form: Result<Form<TokenForm>, FormRejection>,
) -> ApiResult<Response> {
    let raw = match form_token(form) {
        Ok(t) => t,
        Err(resp) => return Ok(*resp),
    };
    state.gantry.revoke_presented(&raw, ip.as_deref()).await?;
    Ok(StatusCode::OK.into_response())
}
