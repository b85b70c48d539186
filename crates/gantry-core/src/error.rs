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
    /// Used from outside the token's `allowed_ips`; carries the token's id.
    AddressNotAllowed { token_id: String },
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
    /// Every upload slot this credential (HTTP 429) or this node (HTTP 503) may hold is
    /// taken; retry once one is free.
    #[error("{message}")]
    UploadsFull {
        full: crate::uploads::Full,
        message: String,
    },
    /// The store or the disk failed. The detail is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(Internal),
}

/// What failed inside: a message for the log (what was being done, and the cause's own
/// text), and the cause itself, kept (not flattened to a string) for whoever needs to tell
/// failures apart — a pool timeout from a constraint, a full disk from a missing file.
/// The cause is not also [`std::error::Error::source`], so error reporters do not print its
/// text twice.
#[derive(Debug, Clone)]
pub struct Internal {
    message: String,
    cause: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl Internal {
    /// The error that caused this one, if one did.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }
}

impl std::fmt::Display for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        // The cause's own causes, which its text may not include.
        let mut next = self.cause().and_then(|c| c.source());
        while let Some(e) = next {
            write!(f, ": {e}")?;
            next = e.source();
        }
        Ok(())
    }
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

    /// An internal failure described by `e` alone (an impossible state, a message).
    pub fn internal(e: impl std::fmt::Display) -> CoreError {
        CoreError::Internal(Internal {
            message: e.to_string(),
            cause: None,
        })
    }

    /// An internal failure while doing `context`, caused by `e` (kept).
    pub fn caused(context: &str, e: impl std::error::Error + Send + Sync + 'static) -> CoreError {
        CoreError::Internal(Internal {
            message: format!("{context}: {e}"),
            cause: Some(std::sync::Arc::new(e)),
        })
    }

    /// A failed file operation (the cause kept).
    pub fn io(e: std::io::Error) -> CoreError {
        CoreError::caused("file system", e)
    }
}

/// Domain result.
pub type CoreResult<T> = Result<T, CoreError>;

#[cfg(test)]
mod internal_tests {
    use super::*;

    #[test]
    fn an_internal_error_keeps_its_cause_and_says_it_once() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let e = CoreError::caused("writing the artifact", io);
        assert_eq!(
            e.to_string(),
            "internal error: writing the artifact: disk full"
        );
        let CoreError::Internal(inner) = &e else {
            panic!("not internal: {e}")
        };
        let cause = inner.cause().unwrap();
        assert_eq!(
            cause.downcast_ref::<std::io::Error>().unwrap().kind(),
            std::io::ErrorKind::StorageFull
        );
        // Reporters that walk `source()` do not print the cause a second time.
        assert!(std::error::Error::source(&e).is_none());
    }
}
