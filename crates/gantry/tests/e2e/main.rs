#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

//! End-to-end tests of the one `gantry` binary: one test binary (it links once).
//!
//! - `alerts`: webhook deliveries across a SIGKILL and across three PostgreSQL nodes.
//! - `serve`: `gantry serve` itself — bootstrap, offline admin, shutdown, no leaked secrets.
//! - `dashboard`: the web dashboard in a real headless Chromium; writes docs/screenshots.
//! - `fuzz`: a bounded libFuzzer run of every `cargo fuzz` target.
//! - `crash`: SIGKILL under a mixed write load loses no acknowledged write.
//! - `cli`: the client commands against a real server, as a person or a CI job runs them.
//! - `multinode`: three nodes on one PostgreSQL database behind nginx.
//! - `schemathesis`: generated requests from the OpenAPI description: no 5xx, documented answers.
//! - `transfer`: `gantry export` from SQLite, `gantry import` into PostgreSQL.
//! - `trust`: keyless CI on two PostgreSQL nodes: an ID token is exchanged once.
//! - `ops`: layered configuration, `/metrics`, request logs, backup and restore.

mod alerts;
mod cli;
mod crash;
mod dashboard;
mod fuzz;
mod harness;
#[path = "../../../gantry-server/tests/api/issuer.rs"]
mod issuer;
mod multinode;
mod ops;
mod schemathesis;
mod serve;
mod transfer;
mod trust;
