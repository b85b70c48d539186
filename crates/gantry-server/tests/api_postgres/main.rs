#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

//! The HTTP API suite of `tests/api`, the same modules, run against PostgreSQL: each test on
//! its own fresh database, dropped after (`gantry_store::testing`). Without a reachable
//! server it says so loudly and runs on SQLite, unless `GANTRY_REQUIRE_POSTGRES` is set.

#[path = "../api/helpers.rs"]
mod helpers;

/// The store every `spawn_app` of this binary uses.
pub const BACKEND: helpers::Backend = helpers::Backend::Postgres;

#[path = "../api/alerts.rs"]
mod alerts;
#[path = "../api/audit.rs"]
mod audit;
#[path = "../api/authority.rs"]
mod authority;
#[path = "../api/authz_table.rs"]
mod authz_table;
#[path = "../api/bad_input.rs"]
mod bad_input;
#[path = "../api/client_flow.rs"]
mod client_flow;
#[path = "../api/dashboard.rs"]
mod dashboard;
#[path = "../api/hardening.rs"]
mod hardening;
#[path = "../api/issuer.rs"]
mod issuer;
#[path = "../api/leaks.rs"]
mod leaks;
#[path = "../api/mail.rs"]
mod mail;
#[path = "../api/openapi.rs"]
mod openapi;
#[path = "../api/orgs.rs"]
mod orgs;
#[path = "../api/receiver.rs"]
mod receiver;
#[path = "../api/secret_scanning.rs"]
mod secret_scanning;
#[path = "../api/seed_astronomer.rs"]
mod seed_astronomer;
#[path = "../api/seed_fastapi.rs"]
mod seed_fastapi;
#[path = "../api/seed_fdeploy.rs"]
mod seed_fdeploy;
#[path = "../api/seed_flyio.rs"]
mod seed_flyio;
#[path = "../api/tokens/mod.rs"]
mod tokens;
#[path = "../api/trust.rs"]
mod trust;
#[path = "../api/webhooks.rs"]
mod webhooks;
