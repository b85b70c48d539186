//! Login, the caller, users, own password.

use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, AppPath, AppQuery, Auth, ClientIp};
use crate::state::AppState;
use crate::views;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gantry_api::*;
use gantry_core::{CoreError, Principal};
use serde::Deserialize;
use utoipa::IntoParams;

/// Log in with email and password; answers a new personal token (shown once).
#[utoipa::path(post, path = "/v1/auth/login", tag = "users", security(()), request_body = LoginRequest,
    responses((status = 201, description = "A new personal token", body = TokenWithSecret),
              (status = 401, description = "Wrong email or password, or the user is disabled", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<LoginRequest>,
) -> ApiResult<(StatusCode, Json<TokenWithSecret>)> {
    match state.gantry.login(&req, ip.as_deref()).await {
        Ok((record, plain)) => Ok((
            StatusCode::CREATED,
            Json(TokenWithSecret {
                view: views::token(&record, state.gantry.now()),
                token: plain.expose_secret().to_owned(),
            }),
        )),
        Err(CoreError::Unauthenticated(_)) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong email or password",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Who the caller is: the user, or for org and deploy tokens their kind and scope.
#[utoipa::path(get, path = "/v1/user", tag = "users",
    responses((status = 200, description = "The caller", body = WhoAmI)))]
pub async fn whoami(State(state): State<AppState>, Auth(caller): Auth) -> Json<WhoAmI> {
    let now = state.gantry.now();
    let token = caller
        .principal
        .token()
        .map(|t| views::token(&state.gantry.with_pending_usage(t.clone()), now));
    let me = match &caller.principal {
        Principal::User { user, .. } => WhoAmI {
            kind: "user".into(),
            user: Some(views::user(user)),
            token,
            org: None,
            app: None,
            role: None,
        },
        Principal::Org { token: t, role, .. } => WhoAmI {
            kind: "org".into(),
            user: None,
            org: t.scope.org_slug().map(ToString::to_string),
            token,
            app: None,
            role: Some(*role),
        },
        Principal::Deploy { token: t, .. } => WhoAmI {
            kind: "deploy".into(),
            user: None,
            org: t.scope.org_slug().map(ToString::to_string),
            app: t.scope.app_slug().map(ToString::to_string),
            token,
            role: None,
        },
    };
    Json(me)
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// At most this many (1–1000, default 1000).
    pub limit: Option<i64>,
    /// Skip this many.
    pub offset: Option<i64>,
}

/// Every user (instance administrators).
#[utoipa::path(get, path = "/v1/users", tag = "users", params(Page),
    responses((status = 200, description = "Users", body = ListResponse<UserView>)))]
pub async fn list_users(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppQuery(page): AppQuery<Page>,
) -> ApiResult<Json<ListResponse<UserView>>> {
    let users = state
        .gantry
        .list_users(
            &caller,
            page.limit.unwrap_or(1000),
            page.offset.unwrap_or(0),
        )
        .await?;
    Ok(Json(ListResponse {
        items: users.iter().map(views::user).collect(),
    }))
}

/// Create a user (instance administrators).
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, description = "The new user", body = UserView),
              (status = 409, description = "Email taken", body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(req): AppJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let user = state.gantry.create_user(&caller, &req).await?;
    Ok((StatusCode::CREATED, Json(views::user(&user))))
}

/// Disable or enable a user, change the admin flag or name (instance administrators). A
/// disabled user's tokens are refused from the next request on.
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", request_body = UpdateUserRequest,
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user", body = UserView),
              (status = 409, description = "Would leave no enabled administrator", body = ErrorBody)))]
pub async fn update_user(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(id): AppPath<String>,
    AppJson(req): AppJson<UpdateUserRequest>,
) -> ApiResult<Json<UserView>> {
    let user = state.gantry.update_user(&caller, &id, &req).await?;
    Ok(Json(views::user(&user)))
}

/// Change the caller's own password. Changing the first-run administrator's generated
/// password removes `<data-dir>/initial-admin-password`.
#[utoipa::path(put, path = "/v1/user/password", tag = "users", request_body = ChangePasswordRequest,
    responses((status = 200, description = "Changed", body = UserView)))]
pub async fn change_password(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(req): AppJson<ChangePasswordRequest>,
) -> ApiResult<Json<UserView>> {
    let user = state
        .gantry
        .change_password(&caller, &req.current_password, &req.new_password)
        .await?;
    let file = state.config.initial_password_file();
    if let Ok(generated) = tokio::fs::read_to_string(&file).await {
        if generated.trim() == req.current_password {
            if let Err(e) = tokio::fs::remove_file(&file).await {
                tracing::warn!(error = %e, path = %file.display(), "could not remove the initial password file");
            }
        }
    }
    Ok(Json(views::user(&user)))
}
