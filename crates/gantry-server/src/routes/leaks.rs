//! Leaked tokens (DESIGN §9): the public endpoint a finder reports them to.

use crate::error::{ApiError, ApiResult};
use crate::extract::{AppJson, ClientIp};
use crate::github_keys::Refusal;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use gantry_api::{
    ErrorBody, RevokeCredentialsRequest, RevokeCredentialsResponse, SecretScanningLabel,
    SecretScanningMatch,
};
use gantry_core::validate::MAX_SCANNING_REPORT_BYTES;

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

/// GitHub secret scanning's partner endpoint: GitHub found values that look like gantry
/// tokens in public and reports them here, signed (ECDSA P-256/SHA-256 of the raw body, by
/// the key `Github-Public-Key-Identifier` names, from `leaks.github_keys_url`). Each match is
/// labelled `true_positive` (a value gantry issued) or `false_positive`; a live token among
/// them is revoked unless `leaks.auto_revoke=false`, and `token.leaked` fires with the URL it
/// was found at. A report that is not signed by a key GitHub lists, or is larger than 1 MiB,
/// is refused and changes nothing.
#[utoipa::path(post, path = "/v1/secret-scanning/github", tag = "tokens", security(()),
    request_body = Vec<SecretScanningMatch>,
    params(("Github-Public-Key-Identifier" = String, Header, description = "The key that signed the body"),
           ("Github-Public-Key-Signature" = String, Header, description = "Base64 of the DER ECDSA P-256/SHA-256 signature of the raw body")),
    responses((status = 200, description = "One label per match, in order", body = Vec<SecretScanningLabel>),
              (status = 401, description = "No signature, an unknown key, or a wrong signature", body = ErrorBody),
              (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
              (status = 422, description = "Signed, but not a JSON array of matches (or more than 1000)", body = ErrorBody),
              (status = 503, description = "GitHub's keys could not be fetched; try again later", body = ErrorBody)))]
pub async fn github_secret_scanning(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Vec<SecretScanningLabel>>> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "a report is at most {} KiB",
                MAX_SCANNING_REPORT_BYTES / 1024
            ),
        )
    };
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        status => ApiError::new(status, "invalid_body", "the body could not be read"),
    })?;
    if body.len() > MAX_SCANNING_REPORT_BYTES {
        return Err(too_large());
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .trim()
    };
    let key_id = header("github-public-key-identifier");
    let signature = header("github-public-key-signature");
    if let Err(refusal) = state.github_keys.verify(key_id, signature, &body).await {
        let unauthorized = |code: &str, message: &str| {
            tracing::warn!(ip = ip.as_deref(), code, "refused a secret scanning report");
            ApiError::new(StatusCode::UNAUTHORIZED, code, message)
        };
        return Err(match refusal {
            Refusal::MissingHeaders => unauthorized(
                "signature_required",
                "Github-Public-Key-Identifier and Github-Public-Key-Signature are required",
            ),
            Refusal::UnknownKey => {
                unauthorized("unknown_key", "no key GitHub publishes has that identifier")
            }
            Refusal::BadSignature => unauthorized(
                "invalid_signature",
                "the signature does not verify with that key",
            ),
            Refusal::KeysUnavailable(why) => {
                tracing::warn!(error = %why, "a secret scanning report waits for GitHub's keys");
                ApiError::busy(
                    "keys_unavailable",
                    "GitHub's signing keys could not be fetched; try again later",
                    60,
                )
            }
        });
    }
    let matches: Vec<SecretScanningMatch> = serde_json::from_slice(&body).map_err(|_| {
        ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "body",
            "must be a JSON array of {token, type, url, source}",
        )
    })?;
    let labels = state.gantry.report_github(&matches, ip.as_deref()).await?;
    let found = labels.iter().filter(|l| l.label == "true_positive").count();
    tracing::info!(
        matches = matches.len(),
        true_positives = found,
        "GitHub secret scanning report"
    );
    Ok(Json(labels))
}
