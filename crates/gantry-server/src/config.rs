//! What `gantry serve` needs to start.

use gantry_core::service::Settings;
use gantry_store::CacheConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Server settings, filled from flags and environment by the binary.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// State directory: the SQLite database and release artifacts.
    pub data_dir: PathBuf,
    /// A database URL; None means the embedded SQLite file under `data_dir`.
    pub database_url: Option<String>,
    /// Rules: token policy, artifact size limit.
    pub settings: Settings,
    /// First-run administrator (DESIGN §5); a random password is generated when unset.
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    /// How often coalesced last-used records are written.
    pub usage_flush_interval: Duration,
    /// Largest JSON request body, in bytes.
    pub max_json_bytes: usize,
    /// Longest a request may take (uploads excepted: they are bounded by size instead).
    pub request_timeout: Duration,
    /// The in-memory index of tokens, users, memberships, apps and orgs.
    pub cache: CacheConfig,
}

impl ServerConfig {
    /// Defaults with state under `data_dir`.
    pub fn for_data_dir(data_dir: &Path) -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.to_owned(),
            database_url: None,
            settings: Settings::default(),
            admin_email: None,
            admin_password: None,
            usage_flush_interval: Duration::from_secs(1),
            max_json_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            cache: CacheConfig::default(),
        }
    }

    /// The file the generated first-run password is written to.
    pub fn initial_password_file(&self) -> PathBuf {
        self.data_dir.join("initial-admin-password")
    }
}
