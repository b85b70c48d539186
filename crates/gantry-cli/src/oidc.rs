//! The CI job's OIDC ID token, for token exchange (DESIGN §8): `GANTRY_ID_TOKEN` (GitLab's
//! `id_tokens:`, or any CI that can put one in the environment), else GitHub Actions' token
//! service (`ACTIONS_ID_TOKEN_REQUEST_URL` and `_TOKEN`, which a job with
//! `permissions: id-token: write` has), asked for the audience `GANTRY_OIDC_AUDIENCE` or, by
//! default, the gantry URL in use (the server's `public_url` when that is the URL used).

use crate::CliError;
use std::time::Duration;

/// How long GitHub's token service may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The job's ID token, or None outside such a job.
pub async fn ci_id_token(base: &str) -> Result<Option<String>, CliError> {
    if let Some(t) = env("GANTRY_ID_TOKEN") {
        return Ok(Some(t.trim().to_owned()));
    }
    let (Some(url), Some(bearer)) = (
        env("ACTIONS_ID_TOKEN_REQUEST_URL"),
        env("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) else {
        return Ok(None);
    };
    let audience =
        env("GANTRY_OIDC_AUDIENCE").unwrap_or_else(|| base.trim_end_matches('/').to_owned());
    let failed = |why: String| {
        CliError::auth(format!(
            "cannot get the job's ID token from GitHub Actions ({why}); does the job have `permissions: id-token: write`?"
        ))
    };
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let resp = client
        .get(&url)
        .query(&[("audience", audience.as_str())])
        .bearer_auth(bearer.trim())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?;
    if !resp.status().is_success() {
        return Err(failed(format!("HTTP {}", resp.status().as_u16())));
    }
    let body: serde_json::Value = resp
        .json()
        .await
        .map_err(|_| failed("the answer is not JSON".into()))?;
    body.get("value")
        .and_then(|v| v.as_str())
        .map(|v| Some(v.to_owned()))
        .ok_or_else(|| failed("the answer has no value".into()))
}

/// The claims of a JWT, unverified (to read a sample token's ids for `gantry trust create`).
pub fn sample_claims(jwt: &str) -> Result<serde_json::Map<String, serde_json::Value>, CliError> {
    use base64::Engine;
    let bad =
        || CliError::usage("the sample is not a JWT (three base64url parts separated by dots)");
    let payload = jwt.trim().split('.').nth(1).ok_or_else(bad)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| bad())?;
    match serde_json::from_slice(&bytes).map_err(|_| bad())? {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(bad()),
    }
}
