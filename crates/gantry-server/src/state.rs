//! What every handler can reach.

use crate::config::ServerConfig;
use gantry_core::artifacts::ArtifactStore;
use gantry_core::Gantry;
use std::sync::Arc;

/// Shared state of the router: one `Arc`, so the per-request clones (middleware, `State`
/// extractors) are one atomic increment each.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// Wraps the shared parts.
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler can reach.
pub struct Shared {
    pub gantry: Arc<Gantry>,
    pub artifacts: Arc<dyn ArtifactStore>,
    pub config: Arc<ServerConfig>,
    /// The OpenAPI document, rendered once.
    pub openapi: Arc<serde_json::Value>,
    /// OIDC issuers' keys, for token exchange and the trust-policy test.
    pub issuer_keys: Arc<crate::oidc_keys::IssuerKeyCache>,
    /// GitHub's secret scanning keys, for its leak reports.
    pub github_keys: Arc<crate::github_keys::GithubKeys>,
}
