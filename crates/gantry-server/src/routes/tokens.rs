//! Tokens: create (three kinds), list, show, update, rotate, revoke; and the audit log.

use crate::error::ApiResult;
use crate::extract::{optional_json, AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;
use crate::views;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gantry_api::*;
use gantry_core::model::TokenRecord;
use gantry_core::service::{AuditQuery, TokenQuery};
use gantry_core::token::PlainToken;
use serde::Deserialize;
use utoipa::IntoParams;

/// Token list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TokenListParams {
    /// `active`, `expired`, `revoked` or `all`. Default: all but revoked.
    pub status: Option<String>,
    /// Only tokens expiring within this duration, e.g. `7d`.
    pub expiring_within: Option<String>,
    /// At most this many (1–1000, default 1000).
    pub limit: Option<i64>,
    /// Skip this many.
    pub offset: Option<i64>,
    /// `GET /v1/tokens` only: every token of every user (instance administrators).
    pub all_users: Option<bool>,
}

impl TokenListParams {
    fn query(&self) -> TokenQuery {
        TokenQuery {
            status: self.status.clone(),
            expiring_within: self.expiring_within.clone(),
            limit: self.limit,
            offset: self.offset,
        }
    }
}

fn created(
    state: &AppState,
    record: &TokenRecord,
    plain: &PlainToken,
) -> (StatusCode, Json<TokenWithSecret>) {
    (
        StatusCode::CREATED,
        Json(TokenWithSecret {
            view: views::token(record, state.gantry.now()),
            token: plain.expose_secret().to_owned(),
        }),
    )
}

fn list(state: &AppState, tokens: Vec<TokenRecord>) -> Json<ListResponse<TokenView>> {
    let now = state.gantry.now();
    Json(ListResponse {
        items: tokens.into_iter().map(|t| views::token(&t, now)).collect(),
    })
}

/// Create a deploy token for the app (org admins and owners). Its value is in this response
/// only.
#[utoipa::path(post, path = "/v1/apps/{app}/tokens", tag = "tokens", request_body = CreateTokenRequest,
    params(("app" = String, Path, description = "App slug")),
    responses((status = 201, description = "The token and its value, shown once", body = TokenWithSecret)))]
pub async fn create_deploy_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(app): AppPath<String>,
    AppJson(req): AppJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<TokenWithSecret>)> {
    let (record, plain) = state
        .gantry
        .create_deploy_token(&caller, &app, &req)
        .await?;
    Ok(created(&state, &record, &plain))
}

/// The app's deploy tokens.
#[utoipa::path(get, path = "/v1/apps/{app}/tokens", tag = "tokens",
    params(("app" = String, Path, description = "App slug"), TokenListParams),
    responses((status = 200, description = "Tokens", body = ListResponse<TokenView>)))]
pub async fn list_app_tokens(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(app): AppPath<String>,
    AppQuery(p): AppQuery<TokenListParams>,
) -> ApiResult<Json<ListResponse<TokenView>>> {
    let tokens = state
        .gantry
        .list_app_tokens(&caller, &app, &p.query())
        .await?;
    Ok(list(&state, tokens))
}

/// Create an org token with a role no higher than the creator's (org admins and owners).
#[utoipa::path(post, path = "/v1/orgs/{org}/tokens", tag = "tokens", request_body = CreateTokenRequest,
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 201, description = "The token and its value, shown once", body = TokenWithSecret)))]
pub async fn create_org_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(org): AppPath<String>,
    AppJson(req): AppJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<TokenWithSecret>)> {
    let (record, plain) = state.gantry.create_org_token(&caller, &org, &req).await?;
    Ok(created(&state, &record, &plain))
}

/// Every org and deploy token of the org.
#[utoipa::path(get, path = "/v1/orgs/{org}/tokens", tag = "tokens",
    params(("org" = String, Path, description = "Org slug"), TokenListParams),
    responses((status = 200, description = "Tokens", body = ListResponse<TokenView>)))]
pub async fn list_org_tokens(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(org): AppPath<String>,
    AppQuery(p): AppQuery<TokenListParams>,
) -> ApiResult<Json<ListResponse<TokenView>>> {
    let tokens = state
        .gantry
        .list_org_tokens(&caller, &org, &p.query())
        .await?;
    Ok(list(&state, tokens))
}

/// Create a personal token for the calling user.
#[utoipa::path(post, path = "/v1/user/tokens", tag = "tokens", request_body = CreateTokenRequest,
    responses((status = 201, description = "The token and its value, shown once", body = TokenWithSecret)))]
pub async fn create_personal_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(req): AppJson<CreateTokenRequest>,
) -> ApiResult<(StatusCode, Json<TokenWithSecret>)> {
    let (record, plain) = state.gantry.create_personal_token(&caller, &req).await?;
    Ok(created(&state, &record, &plain))
}

/// The caller's personal tokens.
#[utoipa::path(get, path = "/v1/user/tokens", tag = "tokens", params(TokenListParams),
    responses((status = 200, description = "Tokens", body = ListResponse<TokenView>)))]
pub async fn list_my_tokens(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(p): AppQuery<TokenListParams>,
) -> ApiResult<Json<ListResponse<TokenView>>> {
    let tokens = state.gantry.list_my_tokens(&caller, &p.query()).await?;
    Ok(list(&state, tokens))
}

/// Every token the caller manages: their personal tokens and the tokens of orgs where they
/// are admin or owner. `all_users=true` (instance administrators): every token of every user.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", params(TokenListParams),
    responses((status = 200, description = "Tokens", body = ListResponse<TokenView>)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(p): AppQuery<TokenListParams>,
) -> ApiResult<Json<ListResponse<TokenView>>> {
    let tokens = state
        .gantry
        .list_all_tokens(&caller, p.all_users.unwrap_or(false), &p.query())
        .await?;
    Ok(list(&state, tokens))
}

/// One token.
#[utoipa::path(get, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, description = "The token", body = TokenView)))]
pub async fn get_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<TokenView>> {
    let t = state.gantry.get_token(&caller, &id).await?;
    Ok(Json(views::token(&t, state.gantry.now())))
}

/// Rename or re-describe a token (nothing else about a token can change).
#[utoipa::path(patch, path = "/v1/tokens/{id}", tag = "tokens", request_body = UpdateTokenRequest,
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, description = "The token", body = TokenView)))]
pub async fn update_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(req): AppJson<UpdateTokenRequest>,
) -> ApiResult<Json<TokenView>> {
    let t = state.gantry.update_token(&caller, &id, &req).await?;
    Ok(Json(views::token(&t, state.gantry.now())))
}

/// Rotate (regenerate): same id, name, description and scope; a new value; a fresh expiry of
/// the original length (or `expires_in`). The old value stops working at once, or when
/// `grace_period` (at most 7d) ends. Expired tokens can be rotated; revoked ones cannot (409).
#[utoipa::path(post, path = "/v1/tokens/{id}/rotate", tag = "tokens", request_body = RotateTokenRequest,
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, description = "The token and its new value, shown once", body = TokenWithSecret),
              (status = 409, description = "The token is revoked", body = ErrorBody)))]
pub async fn rotate_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<TokenWithSecret>> {
    let req: RotateTokenRequest = optional_json(&headers, &body)?;
    let (record, plain) = state.gantry.rotate_token(&caller, &id, &req).await?;
    Ok(Json(TokenWithSecret {
        view: views::token(&record, state.gantry.now()),
        token: plain.expose_secret().to_owned(),
    }))
}

/// A deploy token created with `rotate_self` rotates itself (so CI can renew its own secret):
/// a new value, and a fresh expiry of its length (or `expires_in`) bounded by the instance
/// policy, with an optional `grace_period` for the old value. Nothing else of token
/// management is open to it; every other token is refused (403).
#[utoipa::path(post, path = "/v1/tokens/self/rotate", tag = "tokens", request_body = RotateTokenRequest,
    responses((status = 200, description = "The token and its new value, shown once", body = TokenWithSecret),
              (status = 409, description = "The token is revoked", body = ErrorBody)))]
pub async fn rotate_self(
    State(state): State<AppState>,
    Auth(caller): Auth,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<TokenWithSecret>> {
    let req: RotateTokenRequest = optional_json(&headers, &body)?;
    let (record, plain) = state.gantry.rotate_self(&caller, &req).await?;
    Ok(Json(TokenWithSecret {
        view: views::token(&record, state.gantry.now()),
        token: plain.expose_secret().to_owned(),
    }))
}

/// Revoke (delete) a token: permanent, effective at once. It stays visible with
/// `status=revoked` for the audit trail. Revoking again is harmless and says so.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, description = "Revoked", body = RevokeResponse)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
) -> ApiResult<Json<RevokeResponse>> {
    let (t, already_revoked) = state.gantry.revoke_token(&caller, &id).await?;
    Ok(Json(RevokeResponse {
        already_revoked,
        token: views::token(&t, state.gantry.now()),
    }))
}

/// Audit log filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Org slug (admins and owners of it).
    pub org: Option<String>,
    /// Actor id (user or token id).
    pub actor: Option<String>,
    /// Action, e.g. `token.revoke`.
    pub action: Option<String>,
    /// RFC 3339 instant: events at or after it.
    pub since: Option<String>,
    /// Event id: events before it (paging backwards).
    pub before: Option<i64>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<i64>,
}

/// Audit events the caller may see, newest first: instance administrators everything; others
/// the events of orgs they administer and their own actions.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, description = "Events", body = ListResponse<AuditEventView>)))]
pub async fn list_audit(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(p): AppQuery<AuditParams>,
) -> ApiResult<Json<ListResponse<AuditEventView>>> {
    let q = AuditQuery {
        org: p.org,
        actor: p.actor,
        action: p.action,
        since: p.since,
        before: p.before,
        limit: p.limit,
    };
    let events = state.gantry.list_audit(&caller, &q).await?;
    Ok(Json(ListResponse {
        items: events.iter().map(views::audit).collect(),
    }))
}
