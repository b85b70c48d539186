//! The domain's one error type. The HTTP layer maps it to status codes in a single `match`.

use thiserror::Error;

/// Why authentication failed. The message may name the reason only because the caller showed
/// the real token (expired, revoked) — it never echoes the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential at all.
    Missing,
    /// An `Authorization` header that is not `Bearer <token>`.
    BadScheme,
    /// Not a gantry token (length, kind, alphabet or checksum).
    Malformed(String),
    /// Well-formed but not known.
    Unknown,
    /// Past its expiry; carries the instant and the token's id (the caller holds the token,
    /// so naming it tells them nothing new and lets them rotate it).
    Expired { at: String, token_id: String },
    /// Revoked; carries the token's id.
    Revoked { token_id: String },
    /// The personal token's user is disabled.
    UserDisabled,
}

/// Everything a domain operation can refuse or fail with.
#[derive(Debug, Error)]
pub enum CoreError {
    /// Bad input, naming the field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Authentication failed (HTTP 401).
    #[error("authentication failed")]
    Unauthenticated(AuthFailure),
    /// Authenticated, but this caller may not do this (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// Does not exist, or the caller may not know it exists (HTTP 404).
    #[error("{0} not found")]
    NotFound(String),
    /// Conflicts with existing state (HTTP 409).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Not parseable at all, e.g. JSON with a syntax error (HTTP 400).
    #[error("{0}")]
    Malformed(String),
    /// Payload too large (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    /// Too many failed attempts from this client (or at this token or email) (HTTP 429).
    #[error("too many failed attempts; try again in {} s", retry_after.as_secs())]
    RateLimited { retry_after: std::time::Duration },
    /// The store or the disk failed. The detail is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    /// Shorthand for [`CoreError::Invalid`].
    pub fn invalid(field: &str, message: impl Into<String>) -> CoreError {
        CoreError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// Shorthand for [`CoreError::Conflict`].
    pub fn conflict(code: &'static str, message: impl Into<String>) -> CoreError {
        CoreError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// Shorthand for [`CoreError::Internal`].
    pub fn internal(e: impl std::fmt::Display) -> CoreError {
        CoreError::Internal(e.to_string())
    }
}

/// Domain result.
pub type CoreResult<T> = Result<T, CoreError>;
