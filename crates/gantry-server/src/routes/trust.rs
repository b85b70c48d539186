//! Trust policies (keyless CI, DESIGN §8): which CI jobs may exchange their OIDC ID token for
//! a short-lived deploy token of an app.

use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, Auth};
use crate::state::AppState;
use crate::views;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gantry_api::*;

/// Create a trust policy (whoever may manage the app's deploy tokens). Needs at least one
/// condition; the `github` and `gitlab` presets also need the CI system's immutable ids.
#[utoipa::path(post, path = "/v1/apps/{app}/trust-policies", tag = "trust",
    request_body = CreateTrustPolicyRequest,
    params(("app" = String, Path, description = "App slug or id")),
    responses((status = 201, description = "The new policy", body = TrustPolicyView),
              (status = 409, description = "The app has a policy of that name", body = ErrorBody),
              (status = 422, description = "A field is not acceptable", body = ErrorBody)))]
pub async fn create_trust_policy(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(app): AppPath<String>,
    AppJson(req): AppJson<CreateTrustPolicyRequest>,
) -> ApiResult<(StatusCode, Json<TrustPolicyView>)> {
    let policy = state
        .gantry
        .create_trust_policy(&caller, &app, &req)
        .await?;
    Ok((StatusCode::CREATED, Json(views::trust_policy(&policy))))
}

/// The app's trust policies.
#[utoipa::path(get, path = "/v1/apps/{app}/trust-policies", tag = "trust",
    params(("app" = String, Path, description = "App slug or id")),
    responses((status = 200, description = "Policies", body = ListResponse<TrustPolicyView>)))]
pub async fn list_trust_policies(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(app): AppPath<String>,
) -> ApiResult<Json<ListResponse<TrustPolicyView>>> {
    let policies = state.gantry.list_trust_policies(&caller, &app).await?;
    Ok(Json(ListResponse {
        items: policies.iter().map(views::trust_policy).collect(),
    }))
}

/// One trust policy.
#[utoipa::path(get, path = "/v1/apps/{app}/trust-policies/{id}", tag = "trust",
    params(("app" = String, Path, description = "App slug or id"), ("id" = String, Path, description = "Policy id")),
    responses((status = 200, description = "The policy", body = TrustPolicyView)))]
pub async fn get_trust_policy(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((app, id)): AppPath<(String, String)>,
) -> ApiResult<Json<TrustPolicyView>> {
    let policy = state.gantry.get_trust_policy(&caller, &app, &id).await?;
    Ok(Json(views::trust_policy(&policy)))
}

/// Delete a trust policy; the live tokens it issued are revoked with it.
#[utoipa::path(delete, path = "/v1/apps/{app}/trust-policies/{id}", tag = "trust",
    params(("app" = String, Path, description = "App slug or id"), ("id" = String, Path, description = "Policy id")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_trust_policy(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((app, id)): AppPath<(String, String)>,
) -> ApiResult<StatusCode> {
    state.gantry.delete_trust_policy(&caller, &app, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Check a JWT against the policy, claim by claim, without exchanging it (its `jti` is not
/// spent). The signature is checked with the issuer's keys.
#[utoipa::path(post, path = "/v1/apps/{app}/trust-policies/{id}/test", tag = "trust",
    request_body = TrustTestRequest,
    params(("app" = String, Path, description = "App slug or id"), ("id" = String, Path, description = "Policy id")),
    responses((status = 200, description = "The verdict", body = TrustTestResult)))]
pub async fn test_trust_policy(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((app, id)): AppPath<(String, String)>,
    AppJson(req): AppJson<TrustTestRequest>,
) -> ApiResult<Json<TrustTestResult>> {
    let checks = state
        .gantry
        .test_trust_policy(&caller, &app, &id, &req.token, state.issuer_keys.as_ref())
        .await?;
    Ok(Json(views::trust_test(&checks)))
}
