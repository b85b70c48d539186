//! Extractors: JSON, query and path that answer with our error shape, and [`Auth`], the
//! bearer-token extractor every `/v1` route takes.

use crate::error::ApiError;
use crate::observe::{AccessNote, ClientAddr};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use gantry_core::{AuthFailure, Caller};
use std::net::SocketAddr;
use std::sync::Arc;

/// `Json<T>` whose rejections are [`ApiError`]s.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct AppJson<T>(pub T);

/// `Query<T>` whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

/// `Path<T>` whose rejections are [`ApiError`]s.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct AppPath<T>(pub T);

/// The client's IP: as `observe` worked it out (trusted proxies' `X-Forwarded-For`), else the
/// TCP peer.
pub fn client_ip(parts: &Parts) -> Option<Arc<str>> {
    match parts.extensions.get::<ClientAddr>() {
        Some(ClientAddr(text)) => Some(text.clone()),
        None => parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string().into()),
    }
}

/// The peer address, for handlers without [`Auth`].
pub struct ClientIp(pub Option<Arc<str>>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

/// The authenticated caller. Rejects with 401 and an RFC 6750 challenge.
pub struct Auth(pub Caller);

/// The bearer token of a request, or why there is none.
pub fn bearer(parts: &Parts) -> Result<&str, AuthFailure> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthFailure::Missing);
    };
    if values.next().is_some() {
        return Err(AuthFailure::BadScheme);
    }
    let value = value.to_str().map_err(|_| AuthFailure::BadScheme)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthFailure::BadScheme)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::BadScheme);
    }
    Ok(token.trim())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts);
        let principal = state
            .gantry
            .authenticate(bearer(parts), ip.as_deref())
            .await?;
        if let (Some(note), Some(t)) = (parts.extensions.get::<AccessNote>(), principal.token()) {
            note.token_id(&t.id);
        }
        Ok(Auth(Caller { principal, ip }))
    }
}

/// Refuses (415) a body not declared as JSON (`application/json` or `application/*+json`).
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ))
    }
}

/// Parses an optional JSON body: empty means `T::default()`; anything else must be sent as
/// JSON. Errors take our shape.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    require_json(headers)?;
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            )
        } else {
            let message = if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            };
            let mut err = ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                message,
            );
            err.field = crate::error::field_of(&err.message);
            err
        }
    })
}
