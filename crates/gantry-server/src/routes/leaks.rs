//! Leaked tokens (DESIGN §9): the public endpoint a finder reports them to.

use crate::error::ApiResult;
use crate::extract::{AppJson, ClientIp};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use gantry_api::{ErrorBody, RevokeCredentialsRequest, RevokeCredentialsResponse};

/// Report leaked tokens: every live gantry token among `credentials` (at most 1000) is revoked
/// — on every node — before the answer, with reason `leak_report`, audited with the
/// reporter's address, and `token.leaked` fires. No credential needed. The answer is the same
/// `202` whatever the values were (it never says which existed). Limited per client address
/// (`rate_limits.credential_revoke`).
#[utoipa::path(post, path = "/v1/credentials/revoke", tag = "tokens", security(()),
    request_body = RevokeCredentialsRequest,
    responses((status = 202, description = "Received; every live token in it is revoked", body = RevokeCredentialsResponse),
              (status = 422, description = "More than 1000 values, or not `{credentials: [...]}`", body = ErrorBody),
              (status = 429, description = "Too many reports from this address", body = ErrorBody)))]
pub async fn revoke_credentials(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<RevokeCredentialsRequest>,
) -> ApiResult<(StatusCode, Json<RevokeCredentialsResponse>)> {
    let revoked = state
        .gantry
        .report_leaked(&req.credentials, ip.as_deref())
        .await?;
    tracing::info!(revoked, received = req.credentials.len(), "leak report");
    Ok((
        StatusCode::ACCEPTED,
        Json(RevokeCredentialsResponse {
            received: req.credentials.len(),
        }),
    ))
}
