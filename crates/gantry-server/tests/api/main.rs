#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

//! The HTTP API suite: one test binary (it links once instead of once per file).
//!
//! - `seed_*`: every behaviour of the public deploy-token pages in `shared/seeds/`, one module
//!   per page, one test per behaviour.
//! - `tokens/*`: the token lifecycle by feature (rotation, revocation, policy, org roles,
//!   authentication failures, escalation, ceilings); `orgs`: memberships, orgs, apps, users;
//!   `audit`: the audit log.
//! - `alerts`: alert rules and the events queued for them.
//! - `authz_table`: every route of DESIGN §3 against every kind of caller.
//! - `bad_input`: every write route against malformed, oversized and mistyped input.
//! - `client_flow`, `openapi`: the typed client end to end; the OpenAPI document.
//! - `dashboard`: the web dashboard over HTTP: sessions, CSRF, headers, once-shown values.
//! - `hardening`: brute force against tokens and passwords is rate limited.
//!
//! This binary runs the suite on SQLite; `tests/api_postgres` compiles the same modules and
//! runs them on PostgreSQL.

mod helpers;

/// The store every `spawn_app` of this binary uses.
pub const BACKEND: helpers::Backend = helpers::Backend::Sqlite;

mod alerts;
mod audit;
mod authority;
mod authz_table;
mod bad_input;
mod client_flow;
mod dashboard;
mod hardening;
mod issuer;
mod leaks;
mod mail;
mod openapi;
mod orgs;
mod receiver;
mod secret_scanning;
mod seed_astronomer;
mod seed_fastapi;
mod seed_fdeploy;
mod seed_flyio;
mod tokens;
mod trust;
mod webhooks;
