//! Apps and what deploys touch: releases and their artifacts, env vars, config.

use crate::error::{ApiError, ApiResult};
use crate::extract::{require_json, AppJson, AppPath, AppQuery, Auth};
use crate::state::AppState;
use crate::views;
use axum::body::Body;
use axum::extract::multipart::Field;
use axum::extract::{FromRequest, Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::TryStreamExt;
use gantry_api::*;
use gantry_core::artifacts::{ArtifactStore, StoredArtifact};
use gantry_core::service::DeployMeta;
use gantry_core::CoreError;
use serde::Deserialize;
use tokio_util::io::{ReaderStream, StreamReader};
use utoipa::{IntoParams, ToSchema};

/// The apps of an org (a deploy token sees only its own).
#[utoipa::path(get, path = "/v1/orgs/{org}/apps", tag = "apps",
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 200, description = "Apps", body = ListResponse<AppView>)))]
pub async fn list_apps(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(org): AppPath<String>,
) -> ApiResult<Json<ListResponse<AppView>>> {
    let apps = state.gantry.list_apps(&caller, &org).await?;
    Ok(Json(ListResponse {
        items: apps.iter().map(views::app).collect(),
    }))
}

/// Create an app (operator and up). App slugs are unique across the instance, and a deleted
/// app's slug stays reserved to its org for `apps.slug_reservation` (30 days).
#[utoipa::path(post, path = "/v1/orgs/{org}/apps", tag = "apps", request_body = CreateAppRequest,
    params(("org" = String, Path, description = "Org slug")),
    responses((status = 201, description = "The new app", body = AppView),
              (status = 409, description = "Slug taken (`already_exists`), or reserved to another org after its app was deleted (`slug_reserved`)", body = ErrorBody)))]
pub async fn create_app(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(org): AppPath<String>,
    AppJson(req): AppJson<CreateAppRequest>,
) -> ApiResult<(StatusCode, Json<AppView>)> {
    let app = state.gantry.create_app(&caller, &org, &req).await?;
    Ok((StatusCode::CREATED, Json(views::app(&app))))
}

/// One app.
#[utoipa::path(get, path = "/v1/apps/{app}", tag = "apps",
    params(("app" = String, Path, description = "App slug")),
    responses((status = 200, description = "The app", body = AppView)))]
pub async fn get_app(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
) -> ApiResult<Json<AppView>> {
    let app = state.gantry.get_app(&caller, &slug).await?;
    Ok(Json(views::app(&app)))
}

/// Delete an app (admin and up). Its deploy tokens are revoked.
#[utoipa::path(delete, path = "/v1/apps/{app}", tag = "apps",
    params(("app" = String, Path, description = "App slug")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_app(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
) -> ApiResult<StatusCode> {
    state.gantry.delete_app(&caller, &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The multipart form of a deploy, for the OpenAPI description.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeployForm {
    /// The release artifact (any bytes; at most the instance's limit, 512 MiB by default).
    #[schema(value_type = String, format = Binary)]
    artifact: Vec<u8>,
    /// Optional label, e.g. a git sha; unique per app.
    label: Option<String>,
    /// Optional message.
    message: Option<String>,
    /// `true` to replace the release that already carries `label`.
    overwrite: Option<bool>,
}

/// Longest text field in a deploy form, in bytes.
const MAX_FORM_TEXT: usize = 16 * 1024;

async fn form_text(mut field: Field<'_>, name: &str) -> ApiResult<String> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        buf.extend_from_slice(&chunk);
        if buf.len() > MAX_FORM_TEXT {
            return Err(
                CoreError::invalid(name, format!("must be at most {MAX_FORM_TEXT} bytes")).into(),
            );
        }
    }
    String::from_utf8(buf).map_err(|_| CoreError::invalid(name, "must be UTF-8 text").into())
}

fn parse_bool(field: &str, s: &str) -> ApiResult<bool> {
    match s.trim() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(CoreError::invalid(field, "must be true or false").into()),
    }
}

/// Push a release: multipart with an `artifact` file and optional `label`, `message`,
/// `overwrite`. The artifact is streamed to storage while hashed, never held in memory.
/// A label already used is 409 unless `overwrite=true`, which replaces that release in place.
#[utoipa::path(post, path = "/v1/apps/{app}/deploys", tag = "deploys",
    params(("app" = String, Path, description = "App slug")),
    request_body(content = DeployForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "The new release", body = ReleaseView),
              (status = 200, description = "The release with this label, replaced (overwrite=true)", body = ReleaseView),
              (status = 409, description = "The label is taken and overwrite is not set", body = ErrorBody),
              (status = 413, description = "The artifact exceeds the size limit", body = ErrorBody),
              (status = 408, description = "The body sent nothing for `limits.upload_idle_timeout` (60 s), or took longer than `limits.upload_deadline` (15 min); nothing was recorded", body = ErrorBody),
              (status = 429, description = "This credential already has `limits.max_uploads_per_credential` (4) uploads in progress; retry after `Retry-After` seconds", body = ErrorBody,
               headers(("Retry-After" = u64, description = "Seconds to wait"))),
              (status = 503, description = "As many uploads as `limits.max_concurrent_uploads` allows are in progress on this node; retry after `Retry-After` seconds", body = ErrorBody,
               headers(("Retry-After" = u64, description = "Seconds to wait")))))]
pub async fn push_deploy(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
    request: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<ReleaseView>)> {
    let (app, release, replaced) = state
        .gantry
        .deploy(&caller, &slug, |artifacts| {
            read_deploy_request(&state, request, artifacts)
        })
        .await?;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(views::release(&app.slug, &release))))
}

/// The transport's part of a deploy ([`gantry_core::Gantry::deploy`] does the rest): the
/// request body under the idle timeout and the deadline (between fields and inside any of
/// them, not only the artifact's bytes), refused early when its declared length is too large,
/// decoded as a multipart form with the artifact streamed into `artifacts`.
async fn read_deploy_request(
    state: &AppState,
    request: axum::extract::Request,
    artifacts: std::sync::Arc<dyn ArtifactStore>,
) -> ApiResult<(DeployMeta, Option<StoredArtifact>)> {
    let (parts, body) = request.into_parts();
    let headers = parts.headers.clone();
    let cut = crate::uploads::CutOff::default();
    let deadline = tokio::time::Instant::now() + state.config.upload_deadline;
    let body = crate::uploads::guard(
        body,
        state.config.upload_idle_timeout,
        deadline,
        cut.clone(),
    );
    let request = axum::extract::Request::from_parts(parts, body);
    let multipart = Multipart::from_request(request, state).await;
    let mut multipart = multipart.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send the deploy as multipart/form-data: {}", e.body_text()),
        )
    })?;
    let limit = state.gantry.settings().max_artifact_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(MAX_FORM_TEXT as u64 * 4)) {
        return Err(CoreError::TooLarge(format!("artifact: must be at most {limit} bytes")).into());
    }
    read_deploy_form(&mut multipart, artifacts.as_ref(), limit)
        .await
        .map_err(|e| match cut.get() {
            Some(crate::uploads::Cut::Idle) => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "upload_timeout",
                format!(
                    "the deploy's body sent nothing for {} s (limits.upload_idle_timeout); nothing was recorded",
                    state.config.upload_idle_timeout.as_secs()
                ),
            ),
            Some(crate::uploads::Cut::Deadline) => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "upload_timeout",
                format!(
                    "the deploy's body took longer than {} s to arrive (limits.upload_deadline); nothing was recorded",
                    state.config.upload_deadline.as_secs()
                ),
            ),
            None => e,
        })
}

/// Decodes a deploy's multipart form: the `artifact` file streamed into `artifacts` (at most
/// `limit` bytes), and `label`, `message` and `overwrite`, validated as they arrive. Unknown or
/// repeated fields are refused. Public for the `multipart` fuzz target.
pub async fn read_deploy_form(
    multipart: &mut Multipart,
    artifacts: &dyn ArtifactStore,
    limit: u64,
) -> ApiResult<(DeployMeta, Option<StoredArtifact>)> {
    let mut meta = DeployMeta::default();
    let mut stored = None;
    while let Some(field) = multipart.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "artifact" => {
                if stored.is_some() {
                    return Err(CoreError::invalid("artifact", "must be sent once").into());
                }
                let stream = field.map_err(std::io::Error::other);
                let mut reader = StreamReader::new(stream);
                stored = Some(artifacts.put(&mut reader, limit).await?);
            }
            "label" => {
                meta.label = Some(form_text(field, "label").await?);
                meta.checked()?;
            }
            "message" => {
                meta.message = Some(form_text(field, "message").await?);
                meta.checked()?;
            }
            "overwrite" => {
                meta.overwrite = parse_bool("overwrite", &form_text(field, "overwrite").await?)?
            }
            other => {
                let shown: String = other.chars().take(64).collect();
                return Err(CoreError::invalid(
                    &shown,
                    "unknown form field; expected artifact, label, message, overwrite",
                )
                .into());
            }
        }
    }
    Ok((meta, stored))
}

/// Release list parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReleaseQuery {
    /// At most this many, newest first (1–1000, default 100).
    pub limit: Option<i64>,
}

/// The app's releases, newest first.
#[utoipa::path(get, path = "/v1/apps/{app}/deploys", tag = "deploys",
    params(("app" = String, Path, description = "App slug"), ReleaseQuery),
    responses((status = 200, description = "Releases", body = ListResponse<ReleaseView>)))]
pub async fn list_releases(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
    AppQuery(q): AppQuery<ReleaseQuery>,
) -> ApiResult<Json<ListResponse<ReleaseView>>> {
    let releases = state
        .gantry
        .list_releases(&caller, &slug, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(ListResponse {
        items: releases.iter().map(|r| views::release(&slug, r)).collect(),
    }))
}

/// One release.
#[utoipa::path(get, path = "/v1/apps/{app}/deploys/{version}", tag = "deploys",
    params(("app" = String, Path, description = "App slug"), ("version" = i64, Path, description = "Release version")),
    responses((status = 200, description = "The release", body = ReleaseView)))]
pub async fn get_release(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, version)): AppPath<(String, i64)>,
) -> ApiResult<Json<ReleaseView>> {
    let (app, release) = state.gantry.get_release(&caller, &slug, version).await?;
    Ok(Json(views::release(&app.slug, &release)))
}

/// The release's artifact bytes.
#[utoipa::path(get, path = "/v1/apps/{app}/deploys/{version}/artifact", tag = "deploys",
    params(("app" = String, Path, description = "App slug"), ("version" = i64, Path, description = "Release version")),
    responses((status = 200, description = "The artifact", content_type = "application/octet-stream", body = Vec<u8>)))]
pub async fn get_artifact(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, version)): AppPath<(String, i64)>,
) -> ApiResult<Response> {
    let (app, release) = state.gantry.get_release(&caller, &slug, version).await?;
    let (reader, len) = state
        .artifacts
        .open(&release.artifact_sha256)
        .await?
        .ok_or_else(|| {
            CoreError::internal(format!(
                "artifact {} missing from storage",
                release.artifact_sha256
            ))
        })?;
    let mut resp = Body::from_stream(ReaderStream::new(reader)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}-v{}.bin\"",
        app.slug, release.version
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", release.artifact_sha256)) {
        h.insert(header::ETAG, v);
    }
    Ok(resp)
}

/// The app's env vars; secret values are null.
#[utoipa::path(get, path = "/v1/apps/{app}/env", tag = "env",
    params(("app" = String, Path, description = "App slug")),
    responses((status = 200, description = "Env vars", body = ListResponse<EnvVarView>)))]
pub async fn list_env(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
) -> ApiResult<Json<ListResponse<EnvVarView>>> {
    let vars = state.gantry.list_env(&caller, &slug).await?;
    Ok(Json(ListResponse {
        items: vars.iter().map(views::env_var).collect(),
    }))
}

/// Set an env var (operator, or a deploy token of the app). `secret: true` makes the value
/// write-only.
#[utoipa::path(put, path = "/v1/apps/{app}/env/{key}", tag = "env", request_body = PutEnvRequest,
    params(("app" = String, Path, description = "App slug"), ("key" = String, Path, description = "Variable name, [A-Za-z_][A-Za-z0-9_]*")),
    responses((status = 200, description = "The variable", body = EnvVarView),
              (status = 409, description = "The app already holds the maximum number of variables", body = ErrorBody)))]
pub async fn put_env(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, key)): AppPath<(String, String)>,
    AppJson(req): AppJson<PutEnvRequest>,
) -> ApiResult<Json<EnvVarView>> {
    let var = state
        .gantry
        .put_env(
            &caller,
            &slug,
            &key,
            &req.value,
            req.secret.unwrap_or(false),
        )
        .await?;
    Ok(Json(views::env_var(&var)))
}

/// Remove an env var.
#[utoipa::path(delete, path = "/v1/apps/{app}/env/{key}", tag = "env",
    params(("app" = String, Path, description = "App slug"), ("key" = String, Path, description = "Variable name")),
    responses((status = 204, description = "Removed")))]
pub async fn delete_env(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath((slug, key)): AppPath<(String, String)>,
) -> ApiResult<StatusCode> {
    state.gantry.delete_env(&caller, &slug, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Config parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConfigQuery {
    /// An earlier version (default: the latest).
    pub version: Option<i64>,
}

fn config_response(c: &gantry_core::model::ConfigRecord) -> Response {
    let mut resp = Response::new(Body::from(c.document.clone()));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert("x-gantry-config-version", HeaderValue::from(c.version));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", c.version)) {
        h.insert(header::ETAG, v);
    }
    resp
}

/// The app's config document, exactly as last written (`{}`, version 0, if never set). The
/// version is in the `X-Gantry-Config-Version` header and the ETag.
#[utoipa::path(get, path = "/v1/apps/{app}/config", tag = "config",
    params(("app" = String, Path, description = "App slug"), ConfigQuery),
    responses((status = 200, description = "The document", body = Object,
        headers(("x-gantry-config-version" = i64, description = "Version of this document")))))]
pub async fn get_config(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
    AppQuery(q): AppQuery<ConfigQuery>,
) -> ApiResult<Response> {
    let c = state.gantry.get_config(&caller, &slug, q.version).await?;
    Ok(config_response(&c))
}

/// Replace the app's config document (a JSON object, at most 1 MiB); every write is a new
/// version.
#[utoipa::path(put, path = "/v1/apps/{app}/config", tag = "config", request_body = Object,
    params(("app" = String, Path, description = "App slug")),
    responses((status = 200, description = "The stored document", body = Object,
        headers(("x-gantry-config-version" = i64, description = "The new version")))))]
pub async fn put_config(
    State(state): State<AppState>,
    Auth(caller): Auth,
    AppPath(slug): AppPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    // Taken as text, not parsed into a value: the document is stored byte for byte (key
    // order, number precision), after the domain has checked its shape.
    require_json(&headers)?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the body is not UTF-8",
        )
    })?;
    let c = state.gantry.put_config(&caller, &slug, text).await?;
    Ok(config_response(&c))
}
