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
use gantry_api::{IntrospectionResponse, OAuthError, TokenExchangeResponse};
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
    /// Introspection (gantry extension): the address of the client that presented the token.
    /// A token with `allowed_ips` is active only when this lies inside them.
    pub client_ip: Option<String>,
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

/// The form's token (required) and `client_ip`.
fn form_token(
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<(String, Option<String>), Box<Response>> {
    match form {
        Ok(Form(TokenForm {
            token: Some(t),
            client_ip,
            ..
        })) if !t.is_empty() => Ok((t, client_ip)),
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
    let (raw, client_ip) = match form_token(form) {
        Ok(t) => t,
        Err(resp) => return Ok(*resp),
    };
    let client_ip = match client_ip.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(ip) => match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => Some(ip.to_string()),
            Err(_) => {
                return Ok(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "client_ip must be an IPv4 or IPv6 address",
                ))
            }
        },
    };
    let Some(found) = state
        .gantry
        .introspect(&caller, &raw, client_ip.as_deref())
        .await?
    else {
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
        capabilities: crate::views::capabilities(t),
        allowed_ips: t.allowed_ips.as_ref().map(|n| n.names()),
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
    let (raw, _) = match form_token(form) {
        Ok(t) => t,
        Err(resp) => return Ok(*resp),
    };
    state.gantry.revoke_presented(&raw, ip.as_deref()).await?;
    Ok(StatusCode::OK.into_response())
}

/// The form of an RFC 8693 token exchange.
#[derive(Deserialize, ToSchema)]
pub struct ExchangeForm {
    /// `urn:ietf:params:oauth:grant-type:token-exchange`.
    pub grant_type: Option<String>,
    /// The CI job's OIDC ID token (a JWT).
    pub subject_token: Option<String>,
    /// `urn:ietf:params:oauth:token-type:id_token` or `urn:ietf:params:oauth:token-type:jwt`.
    pub subject_token_type: Option<String>,
    /// The app (slug or id) the deploy token is for.
    pub resource: Option<String>,
    /// Ignored (RFC 8693 optional parameters).
    pub audience: Option<String>,
    pub scope: Option<String>,
    pub requested_token_type: Option<String>,
}

impl std::fmt::Debug for ExchangeForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeForm")
            .field("grant_type", &self.grant_type)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

/// RFC 8693 token exchange (keyless CI): a CI job's OIDC ID token for a short-lived deploy
/// token of the app named by `resource`, under one of its trust policies. Unauthenticated
/// (the ID token is the credential). Every refusal of the ID token is the same
/// `invalid_grant`; the audit log says which rule failed. Rate limited per client address.
#[utoipa::path(post, path = "/v1/oauth/token", tag = "oauth", security(()),
    request_body(content = ExchangeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "A deploy token, shown once", body = TokenExchangeResponse),
              (status = 400, description = "invalid_request, unsupported_grant_type or invalid_grant", body = OAuthError),
              (status = 429, description = "Too many exchanges from this address", body = OAuthError)))]
pub async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    form: Result<Form<ExchangeForm>, FormRejection>,
) -> ApiResult<Response> {
    use gantry_core::service::{ExchangeRefused, ExchangeRequest};
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("send application/x-www-form-urlencoded: {}", e.body_text()),
            ))
        }
    };
    let req = ExchangeRequest {
        grant_type: form.grant_type,
        subject_token: form.subject_token,
        subject_token_type: form.subject_token_type,
        resource: form.resource,
    };
    let outcome = state
        .gantry
        .exchange(&req, ip.as_deref(), state.issuer_keys.as_ref())
        .await?;
    let mut resp = match outcome {
        Ok(issued) => {
            let now = state.gantry.now();
            let expires_in = issued
                .token
                .expires_at
                .map(|e| (e.0 - now.0).div_euclid(1000))
                .unwrap_or_default();
            Json(TokenExchangeResponse {
                access_token: issued.plain.expose_secret().to_owned(),
                issued_token_type: "urn:ietf:params:oauth:token-type:access_token".into(),
                token_type: "Bearer".into(),
                expires_in,
            })
            .into_response()
        }
        Err(ExchangeRefused::InvalidRequest(why)) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &why)
        }
        Err(ExchangeRefused::UnsupportedGrantType) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only urn:ietf:params:oauth:grant-type:token-exchange is supported",
        ),
        Err(ExchangeRefused::InvalidGrant) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the subject token is not accepted for this resource",
        ),
        Err(ExchangeRefused::RateLimited(wait)) => {
            let mut r = oauth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                &format!(
                    "too many token exchanges from this address; try again in {} s",
                    wait.as_secs()
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().to_string()) {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            r
        }
    };
    // RFC 6749 §5.1: token answers are not cached.
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}
