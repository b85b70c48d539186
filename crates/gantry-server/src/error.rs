//! The HTTP face of errors: one `ApiError`, one `match` from the domain error to a status,
//! a code and a message. Database and disk details are logged, never sent.

use axum::extract::multipart::MultipartError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gantry_api::{ErrorBody, ErrorDetail};
use gantry_core::{AuthFailure, CoreError};

/// An error answer: status, code, message and optionally the field at fault.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// The RFC 6750 `error` attribute for 401/403.
    bearer_error: Option<&'static str>,
    /// Seconds for `Retry-After` (429).
    retry_after: Option<u64>,
}

impl ApiError {
    /// 429 with `Retry-After`.
    fn rate_limited(retry_after: std::time::Duration) -> ApiError {
        ApiError {
            retry_after: Some(retry_after.as_secs().max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many failed attempts; try again in {} s",
                    retry_after.as_secs().max(1)
                ),
            )
        }
    }

    /// An error with no field.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        let bearer_error = match status {
            StatusCode::FORBIDDEN => Some("insufficient_scope"),
            _ => None,
        };
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            field: None,
            bearer_error,
            retry_after: None,
        }
    }

    fn unauthorized(
        code: &str,
        message: impl Into<String>,
        bearer_error: Option<&'static str>,
    ) -> ApiError {
        ApiError {
            bearer_error,
            ..ApiError::new(StatusCode::UNAUTHORIZED, code, message)
        }
    }

    /// 503 with `Retry-After`: this node is at a capacity limit; try again shortly.
    pub fn busy(code: &str, message: impl Into<String>, retry_after_secs: u64) -> ApiError {
        ApiError::retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            message,
            retry_after_secs,
        )
    }

    /// An error with `Retry-After` (a per-client limit: 429).
    pub fn retry_later(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> ApiError {
        ApiError {
            retry_after: Some(retry_after_secs.max(1)),
            ..ApiError::new(status, code, message)
        }
    }

    /// A bad-input error naming the field.
    pub fn field(
        status: StatusCode,
        code: &str,
        field: &str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(status, code, message)
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        match e {
            CoreError::Invalid { field, message } => ApiError::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                &field,
                format!("{field}: {message}"),
            ),
            CoreError::Unauthenticated(f) => match f {
                AuthFailure::Missing => ApiError::unauthorized(
                    "unauthenticated",
                    "authentication required: send Authorization: Bearer <token>",
                    None,
                ),
                AuthFailure::BadScheme => ApiError::unauthorized(
                    "invalid_request",
                    "the Authorization header must be 'Bearer <token>'",
                    Some("invalid_request"),
                ),
                AuthFailure::Malformed(why) => ApiError::unauthorized(
                    "invalid_token",
                    format!("not a valid gantry token: {why}"),
                    Some("invalid_token"),
                ),
                AuthFailure::Unknown => {
                    ApiError::unauthorized("invalid_token", "unknown token", Some("invalid_token"))
                }
                AuthFailure::Expired { at, token_id } => ApiError::unauthorized(
                    "token_expired",
                    format!("token {token_id} expired at {at}: rotate it with `gantry tokens rotate {token_id}`"),
                    Some("invalid_token"),
                ),
                AuthFailure::Revoked { token_id } => ApiError::unauthorized(
                    "token_revoked",
                    format!("token {token_id} has been revoked"),
                    Some("invalid_token"),
                ),
                AuthFailure::UserDisabled => ApiError::unauthorized(
                    "user_disabled",
                    "the token's user is disabled",
                    Some("invalid_token"),
                ),
                AuthFailure::AddressNotAllowed { token_id } => ApiError::unauthorized(
                    "address_not_allowed",
                    format!("token {token_id} is not allowed from this address (its allowed_ips)"),
                    Some("invalid_token"),
                ),
            },
            CoreError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            CoreError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            CoreError::Conflict { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            CoreError::TooLarge(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", m),
            CoreError::Malformed(m) => ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", m),
            CoreError::RateLimited { retry_after } => ApiError::rate_limited(retry_after),
            CoreError::UploadsFull { full, message } => match full {
                gantry_core::uploads::Full::Credential => ApiError::retry_later(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_uploads",
                    message,
                    5,
                ),
                gantry_core::uploads::Full::Node => ApiError::busy("too_many_uploads", message, 5),
            },
            CoreError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

/// The field name inside a serde message (`missing field `name``, `name: invalid type…`).
pub(crate) fn field_of(message: &str) -> Option<String> {
    let after = |marker: &str| {
        message.find(marker).and_then(|i| {
            let rest = &message[i + marker.len()..];
            rest.find('`').map(|j| rest[..j].to_owned())
        })
    };
    if let Some(f) = after("missing field `").or_else(|| after("unknown field `")) {
        return Some(f);
    }
    // serde_path_to_error prefixes the path: "name: invalid type: ..."
    let body = message.split("target type: ").nth(1).unwrap_or(message);
    let (path, _) = body.split_once(": ")?;
    let clean = !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    clean.then(|| path.to_owned())
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r {
            JsonRejection::JsonDataError(e) => {
                let text = e.body_text();
                let message = text
                    .split("target type: ")
                    .nth(1)
                    .unwrap_or(&text)
                    .to_owned();
                let mut err =
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message);
                err.field = field_of(&text);
                err
            }
            JsonRejection::JsonSyntaxError(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!(
                    "the body is not valid JSON: {}",
                    e.body_text().rsplit(": ").next().unwrap_or("")
                ),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large",
            ),
            other => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", other.body_text()),
        }
    }
}

impl ApiError {
    /// 422 `invalid_query`, naming the parameter when serde's message does.
    pub(crate) fn invalid_query(message: &str) -> ApiError {
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
            message.to_owned(),
        );
        err.field = field_of(message);
        err
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> ApiError {
        let text = r.body_text();
        let message = text
            .split("Failed to deserialize query string: ")
            .nth(1)
            .unwrap_or(&text);
        ApiError::invalid_query(message)
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such resource: {}", r.body_text()),
        )
    }
}

impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> ApiError {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(status, "too_large", "the upload is too large");
        }
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_multipart",
            format!("malformed multipart body: {}", e.body_text()),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            let value = match self.bearer_error {
                Some(e) => format!("Bearer realm=\"gantry\", error=\"{e}\""),
                None => "Bearer realm=\"gantry\"".to_owned(),
            };
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn field_names_are_found_in_serde_messages() {
        assert_eq!(
            field_of("missing field `name` at line 1 column 2").as_deref(),
            Some("name")
        );
        assert_eq!(
            field_of("unknown field `nme`, expected one of `name`").as_deref(),
            Some("nme")
        );
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: name: invalid type: integer `5`, expected a string").as_deref(),
            Some("name")
        );
    }
}
