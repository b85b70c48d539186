//! Orgs, members and alert rules.

use crate::error::ApiResult;
use crate::extract::{AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;
use crate::views;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gantry_api::*;
use serde::Deserialize;
use utoipa::IntoParams;

/// The orgs the caller belongs to (instance administrators: all; a token: its own org).
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs",
    responses((status = 200, description = "Orgs", body = ListResponse<OrgView>)))]
pub async fn list_orgs(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<ListResponse<OrgView>>> {
    let orgs = state.gantry.list_orgs(&caller).await?;
    Ok(Json(ListResponse {
        items: orgs.iter().map(|(o, r)| views::org(o, *r)).collect(),
    }))
}

/// Create an org; the calling user becomes its owner.
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", request_body = CreateOrgRequest,
    responses((status = 201, description = "The new org", body = OrgView),
              (status = 409, description = "Slug taken", body = ErrorBody)))]
pub async fn create_org(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppJson(req): AppJson<CreateOrgRequest>,
) -> ApiResult<(StatusCode, Json<OrgView>)> {
    let org = state.gantry.create_org(&caller, &req).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::org(&org, Some(Role::Owner))),
    ))
}

/// One org.
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 200, description = "The org", body = OrgView)))]
pub async fn get_org(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
) -> ApiResult<Json<OrgView>> {
    let (org, role) = state.gantry.get_org(&caller, &slug).await?;
    Ok(Json(views::org(&org, role)))
}

/// The org's token policy and what it makes of the instance's (viewer and up).
#[utoipa::path(get, path = "/v1/orgs/{org}/policy", tag = "orgs",
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 200, description = "The org's token policy", body = OrgPolicyView)))]
pub async fn get_org_policy(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
) -> ApiResult<Json<OrgPolicyView>> {
    let org = state.gantry.get_org_policy(&caller, &slug).await?;
    Ok(Json(views::org_policy(
        &org.policy,
        &state.gantry.settings().token_policy,
    )))
}

/// Replace the org's token policy (owners). It tightens the instance's policy for tokens
/// created or rotated in the org from now on — `max_lifetime` (also bounds a rotation's new
/// expiry), `require_expiry`, and `allowed_ips` (new tokens' default and ceiling) — and is
/// refused (422) where it would loosen it.
#[utoipa::path(put, path = "/v1/orgs/{org}/policy", tag = "orgs", request_body = PutOrgPolicyRequest,
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 200, description = "The org's token policy", body = OrgPolicyView),
              (status = 422, description = "A field that would loosen the instance policy, or is malformed", body = ErrorBody)))]
pub async fn put_org_policy(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
    AppJson(req): AppJson<PutOrgPolicyRequest>,
) -> ApiResult<Json<OrgPolicyView>> {
    let org = state.gantry.put_org_policy(&caller, &slug, &req).await?;
    Ok(Json(views::org_policy(
        &org.policy,
        &state.gantry.settings().token_policy,
    )))
}

/// The org's members (viewer and up).
#[utoipa::path(get, path = "/v1/orgs/{org}/members", tag = "orgs",
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 200, description = "Members", body = ListResponse<MemberView>)))]
pub async fn list_members(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
) -> ApiResult<Json<ListResponse<MemberView>>> {
    let members = state.gantry.list_members(&caller, &slug).await?;
    Ok(Json(ListResponse {
        items: members.iter().map(views::member).collect(),
    }))
}

/// Add a member or change their role (admins: up to admin; owners: any role). The change
/// applies to the member's personal tokens from their next request.
#[utoipa::path(put, path = "/v1/orgs/{org}/members/{user_id}", tag = "orgs", request_body = PutMemberRequest,
    params(("org" = String, Path, description = "Org slug"), ("user_id" = String, Path, description = "User id")),
    responses((status = 200, description = "The membership", body = MemberView),
              (status = 409, description = "Would leave the org without an owner", body = ErrorBody)))]
pub async fn put_member(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, user_id)): AppPath<(String, String)>,
    AppJson(req): AppJson<PutMemberRequest>,
) -> ApiResult<Json<MemberView>> {
    let m = state
        .gantry
        .put_member(&caller, &slug, &user_id, req.role)
        .await?;
    Ok(Json(views::member(&m)))
}

/// Remove a member (or leave the org yourself). Their personal tokens lose access at once.
#[utoipa::path(delete, path = "/v1/orgs/{org}/members/{user_id}", tag = "orgs",
    params(("org" = String, Path, description = "Org slug"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204, description = "Removed"),
              (status = 409, description = "Would leave the org without an owner", body = ErrorBody)))]
pub async fn delete_member(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, user_id)): AppPath<(String, String)>,
) -> ApiResult<StatusCode> {
    state.gantry.delete_member(&caller, &slug, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The org's alert rules. Every matching event is queued as a delivery with its change
/// (`…/alerts/{id}/deliveries`) and sent by the nodes' dispatchers. Viewers see each target
/// as scheme and host only.
#[utoipa::path(get, path = "/v1/orgs/{org}/alerts", tag = "alerts",
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 200, description = "Alert rules", body = ListResponse<AlertView>)))]
pub async fn list_alerts(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
) -> ApiResult<Json<ListResponse<AlertView>>> {
    let alerts = state.gantry.list_alerts(&caller, &slug).await?;
    Ok(Json(ListResponse {
        items: alerts.iter().map(views::alert).collect(),
    }))
}

/// Create an alert rule (operator and up; never a deploy token): `event` or `events`, and
/// optionally `app` to narrow it to one app of the org. A webhook rule's answer carries its
/// signing secret (`whsec_…`), shown this once.
#[utoipa::path(post, path = "/v1/orgs/{org}/alerts", tag = "alerts", request_body = CreateAlertRequest,
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 201, description = "The rule, with its secret", body = AlertSecretView),
        (status = 422, description = "A bad field: an unknown event, a target with user-info or a refused literal address")))]
pub async fn create_alert(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
    AppJson(req): AppJson<CreateAlertRequest>,
) -> ApiResult<(StatusCode, Json<AlertSecretView>)> {
    let (a, secret) = state.gantry.create_alert(&caller, &slug, &req).await?;
    Ok((
        StatusCode::CREATED,
        Json(views::alert_secret(&a, secret.as_ref(), None)),
    ))
}

/// Turn a rule on or off (`{"enabled": true}` after a `410 Gone` disabled it).
#[utoipa::path(patch, path = "/v1/orgs/{org}/alerts/{id}", tag = "alerts", request_body = UpdateAlertRequest,
    params(("org" = String, Path, description = "Org slug"), ("id" = String, Path, description = "Alert rule id")),
    responses((status = 200, description = "The rule", body = AlertView)))]
pub async fn update_alert(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, id)): AppPath<(String, String)>,
    AppJson(req): AppJson<UpdateAlertRequest>,
) -> ApiResult<Json<AlertView>> {
    let a = state
        .gantry
        .set_alert_enabled(&caller, &slug, &id, req.enabled)
        .await?;
    Ok(Json(views::alert(&a)))
}

/// A new signing secret for a webhook rule, shown this once; for 24 hours every delivery
/// carries signatures by both the new and the previous secret.
#[utoipa::path(post, path = "/v1/orgs/{org}/alerts/{id}/rotate-secret", tag = "alerts",
    params(("org" = String, Path, description = "Org slug"), ("id" = String, Path, description = "Alert rule id")),
    responses((status = 200, description = "The rule, with its new secret", body = AlertSecretView)))]
pub async fn rotate_alert_secret(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, id)): AppPath<(String, String)>,
) -> ApiResult<Json<AlertSecretView>> {
    let (a, secret, until) = state
        .gantry
        .rotate_alert_secret(&caller, &slug, &id)
        .await?;
    Ok(Json(views::alert_secret(&a, Some(&secret), Some(until))))
}

/// Send the rule a `ping` event now (even while it is disabled): its delivery.
#[utoipa::path(post, path = "/v1/orgs/{org}/alerts/{id}/test", tag = "alerts",
    params(("org" = String, Path, description = "Org slug"), ("id" = String, Path, description = "Alert rule id")),
    responses((status = 202, description = "The queued delivery", body = DeliveryView)))]
pub async fn test_alert(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, id)): AppPath<(String, String)>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    let d = state.gantry.test_alert(&caller, &slug, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(views::delivery(&d))))
}

/// Try a delivery again now (a failed one gets one more try; one being tried is left alone).
#[utoipa::path(post, path = "/v1/orgs/{org}/alerts/{id}/deliveries/{delivery_id}/retry", tag = "alerts",
    params(("org" = String, Path, description = "Org slug"), ("id" = String, Path, description = "Alert rule id"),
        ("delivery_id" = String, Path, description = "Delivery id")),
    responses((status = 202, description = "The delivery", body = DeliveryView)))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, id, delivery_id)): AppPath<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    let d = state
        .gantry
        .retry_delivery(&caller, &slug, &id, &delivery_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(views::delivery(&d))))
}

/// Delete an alert rule and its deliveries.
#[utoipa::path(delete, path = "/v1/orgs/{org}/alerts/{id}", tag = "alerts",
    params(("org" = String, Path, description = "Org slug"), ("id" = String, Path, description = "Alert rule id")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_alert(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, id)): AppPath<(String, String)>,
) -> ApiResult<StatusCode> {
    state.gantry.delete_alert(&caller, &slug, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delivery list parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// At most this many, newest first (1–1000, default 100).
    pub limit: Option<i64>,
}

/// The rule's deliveries, newest first: one per event it matched, queued in the event's
/// transaction.
#[utoipa::path(get, path = "/v1/orgs/{org}/alerts/{id}/deliveries", tag = "alerts",
    params(("org" = String, Path, description = "Org slug"), ("id" = String, Path, description = "Alert rule id"), DeliveryQuery),
    responses((status = 200, description = "Deliveries", body = ListResponse<DeliveryView>)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, id)): AppPath<(String, String)>,
    AppQuery(q): AppQuery<DeliveryQuery>,
) -> ApiResult<Json<ListResponse<DeliveryView>>> {
    let deliveries = state
        .gantry
        .list_deliveries(&caller, &slug, &id, q.limit)
        .await?;
    Ok(Json(ListResponse {
        items: deliveries.iter().map(views::delivery).collect(),
    }))
}
