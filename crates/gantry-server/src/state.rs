//! What every handler can reach.

use crate::config::ServerConfig;
use gantry_core::artifacts::ArtifactStore;
use gantry_core::Gantry;
use std::sync::Arc;

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    pub gantry: Arc<Gantry>,
    pub artifacts: Arc<dyn ArtifactStore>,
    pub config: Arc<ServerConfig>,
    /// The OpenAPI document, rendered once.
    pub openapi: Arc<serde_json::Value>,
}
