//! The dashboard's pages and form handlers, a file per area as `routes/` is split: `session`
//! (sign in and out), `orgs` (the overview, orgs and apps), `alerts`
//! (the org's alert rules and their deliveries), `tokens` (creating, listing and
//! changing tokens), `trust` (an app's trust policies for keyless CI), `admin` (every token, users) and `audit`. Each handler parses its form,
//! calls one domain method with the session's caller, and renders or redirects; permissions,
//! validation and audit are the domain's. This file holds what they share.

mod admin;
mod alerts;
mod audit;
mod orgs;
mod session;
mod tokens;
mod trust;

pub use admin::*;
pub use alerts::*;
pub use audit::*;
pub use orgs::*;
pub use session::*;
pub use tokens::*;
pub use trust::*;

use super::layout::{self, csrf, page, time, token_table, when, ExpiryChoices, Nav};
use super::{
    clear_cookie, cookie_value, local_path, public_base, secure_request, set_cookie, DashError,
    Signed, LOGIN_COOKIE, SESSION_COOKIE,
};
use crate::extract::ClientIp;
use crate::state::AppState;
use axum::extract::{Form, Path, Query, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gantry_api::{
    CreateAppRequest, CreateOrgRequest, CreateTokenRequest, CreateUserRequest, Role,
    RotateTokenRequest, TokenKind, UpdateTokenRequest, UpdateUserRequest,
};
use gantry_core::model::{TokenRecord, TokenScope};
use gantry_core::service::{AuditQuery, TokenQuery};
use gantry_core::{validate, CoreError};
use maud::{html, Markup};
use serde::Deserialize;

type Page = Result<Response, DashError>;

/// A domain error as a page whose way back is `back`.
pub(super) fn failed(e: CoreError, back: &str) -> Response {
    if let CoreError::Unauthenticated(_) = e {
        return Redirect::to("/login").into_response();
    }
    let api = crate::error::ApiError::from(e);
    layout::error_page(api.status, &api.message, back)
}

/// A form field as the domain wants it: trimmed, CRLF as LF, empty as none.
fn text(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(|v| v.replace("\r\n", "\n"))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn choices(state: &AppState) -> ExpiryChoices {
    let policy = &state.gantry.settings().token_policy;
    let now = state.gantry.now();
    ExpiryChoices {
        allow_never: policy.allows_never(),
        default_days: policy.default_lifetime().as_secs() / 86_400,
        max_days: policy.max_lifetime.map(|d| d.as_secs() / 86_400),
        // The last day whose end (23:59:59 UTC) is still within the cap.
        last_date: policy.max_lifetime.and_then(|d| {
            chrono::DateTime::from_timestamp_millis(now.plus(d).0).map(|t| {
                (t - chrono::Duration::days(1))
                    .format("%Y-%m-%d")
                    .to_string()
            })
        }),
    }
}

#[derive(Deserialize, Default)]
pub struct StatusQuery {
    status: Option<String>,
}

impl StatusQuery {
    fn showing_revoked(&self) -> bool {
        self.status.as_deref() == Some("all")
    }
    fn token_query(&self) -> TokenQuery {
        TokenQuery {
            status: self.status.clone().filter(|s| !s.is_empty()),
            ..Default::default()
        }
    }
}
