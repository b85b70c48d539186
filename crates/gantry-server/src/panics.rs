//! Panics: none is expected (unwrap, expect and panic! are denied outside tests), but if one
//! happens it must neither leak a token nor take more than its own request down.
//!
//! - [`install_hook`] (called by `gantry serve`) replaces the default panic printer with one
//!   log line whose message has every token-shaped string cut to its public prefix.
//! - [`caught`] turns a handler's panic into our 500 error body, without the panic's message
//!   (the line above is where the details go), and the connection lives on.

use crate::error::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::any::Any;

/// Characters of a token shown in lists: the kind prefix and the first random ones.
const SHOWN: usize = 12;

/// `text` with every token-shaped run (`gtp_`, `gto_` or `gtd_` and what follows in the token
/// alphabet) cut to its first 12 characters. Shapes count, not checksums: a truncated or
/// mistyped token is cut too.
pub fn redact_tokens(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i + 4 <= bytes.len() {
        let is_prefix = bytes[i] == b'g'
            && bytes[i + 1] == b't'
            && matches!(bytes[i + 2], b'p' | b'o' | b'd')
            && bytes[i + 3] == b'_';
        if !is_prefix {
            i += 1;
            continue;
        }
        let mut end = i + 4;
        while end < bytes.len() && bytes[end].is_ascii_alphanumeric() {
            end += 1;
        }
        if end - i > SHOWN {
            out.push_str(&text[copied..i + SHOWN]);
            out.push_str("…[redacted]");
            copied = end;
        }
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// The message a panic carried, if it is text.
fn payload_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(not text)"
    }
}

/// Logs every panic as one `gantry::panic` error line, tokens redacted, instead of the
/// default printer's raw message on stderr.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = redact_tokens(payload_text(info.payload()));
        tracing::error!(target: "gantry::panic", %location, %message, "panic");
    }));
}

/// The answer to a request whose handler panicked: a plain 500, nothing of the panic in it.
pub fn caught(_payload: Box<dyn Any + Send + 'static>) -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; the server log has the details",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_api::TokenKind;
    use gantry_core::token::PlainToken;

    #[test]
    fn valid_truncated_and_mistyped_tokens_are_cut_to_their_prefix() {
        let t = PlainToken::generate(TokenKind::Deploy);
        let raw = t.expose_secret();
        let mistyped = format!("{}X", &raw[..raw.len() - 1]);
        let text = format!(
            "called `Result::unwrap()` on {raw}, then {} and {mistyped}! gtq_notatoken gtp_short",
            &raw[..20],
        );
        let out = redact_tokens(&text);
        assert!(!out.contains(raw), "{out}");
        assert!(!out.contains(&raw[..20]), "{out}");
        assert!(!out.contains(&mistyped[..20]), "{out}");
        assert!(out.contains(&format!("{}…[redacted]", &raw[..12])), "{out}");
        // What is not token-shaped, or no longer than a list's prefix, is left alone.
        assert!(out.contains("gtq_notatoken"), "{out}");
        assert!(out.contains("gtp_short"), "{out}");
        assert_eq!(redact_tokens("no tokens here"), "no tokens here");
        assert_eq!(redact_tokens("gt"), "gt");
        assert_eq!(redact_tokens("ünïcode gtd_"), "ünïcode gtd_");
    }

    #[tokio::test]
    async fn a_caught_panic_answers_500_without_its_message() {
        let token = PlainToken::generate(TokenKind::Personal);
        let resp = caught(Box::new(format!("boom {}", token.expose_secret())));
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 4096)
            .await
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("\"internal\""), "{body}");
        assert!(
            !body.contains("boom") && !body.contains(&token.display_prefix()[4..]),
            "{body}"
        );
    }

    #[test]
    fn payload_text_reads_both_string_kinds() {
        assert_eq!(payload_text(&"static"), "static");
        assert_eq!(payload_text(&String::from("owned")), "owned");
        assert_eq!(payload_text(&42u8), "(not text)");
    }
}
