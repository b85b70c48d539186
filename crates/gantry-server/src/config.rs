//! What `gantry serve` needs to start, and where each setting comes from: one table
//! ([`SETTINGS`]) names every setting's TOML key, environment variable, flag, default and
//! accepted values. [`resolve`] layers them — flag over environment over file over default —
//! and parses each with an error that names the setting, where its value came from and what
//! is accepted. `gantry config example` and `gantry serve --print-config` are rendered from
//! the same table, so neither can drift from what the server reads.

use gantry_core::expiry::parse_duration;
use gantry_core::sealing::SecretKey;
use gantry_core::service::Settings;
use gantry_store::CacheConfig;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON lines otherwise.
    Auto,
    Text,
    Json,
}

/// Server settings, resolved from flags, environment, the config file and defaults. Its
/// `Debug` redacts the administrator password and the database URL's password.
#[derive(Clone)]
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
    /// A deploy whose body sends nothing for this long is cut off (408).
    pub upload_idle_timeout: Duration,
    /// Longest a deploy's body may take to arrive (408 after).
    pub upload_deadline: Duration,
    /// Largest JSON request body, in bytes.
    pub max_json_bytes: usize,
    /// Longest a request may take (uploads excepted: they are bounded by size instead).
    pub request_timeout: Duration,
    /// The in-memory index of tokens, users, memberships, apps and orgs.
    pub cache: CacheConfig,
    /// Slow clients, request heads, open connections.
    pub conn_limits: crate::listen::ConnLimits,
    /// Seals env values marked secret; None: `<data_dir>/secret.key` (created if missing).
    pub secret_key: Option<SecretKey>,
    /// Keys that only open (during a rotation).
    pub previous_secret_keys: Vec<SecretKey>,
    /// Where `GET /metrics` is served (a listener of its own); None: not at all.
    pub metrics_listen: Option<SocketAddr>,
    /// Peers whose `X-Forwarded-For` is believed (reverse proxies, load balancers).
    pub trusted_proxies: Vec<IpNet>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter (`tracing` directives).
    pub log_filter: String,
    /// Where people reach this server (links in mail); None: the listen address.
    pub public_url: Option<String>,
    /// Outgoing mail; no server: no mail.
    pub smtp: crate::mail::SmtpConfig,
    /// The event dispatcher's pace.
    pub dispatch: crate::dispatch::DispatchConfig,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url_password),
            )
            .field("settings", &self.settings)
            .field("admin_email", &self.admin_email)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field("usage_flush_interval", &self.usage_flush_interval)
            .field("upload_idle_timeout", &self.upload_idle_timeout)
            .field("upload_deadline", &self.upload_deadline)
            .field("max_json_bytes", &self.max_json_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("cache", &self.cache)
            .field("conn_limits", &self.conn_limits)
            .field("secret_key", &self.secret_key)
            .field("previous_secret_keys", &self.previous_secret_keys)
            .field("metrics_listen", &self.metrics_listen)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("public_url", &self.public_url)
            .field("smtp", &self.smtp)
            .field("dispatch", &self.dispatch)
            .field("log_format", &self.log_format)
            .field("log_filter", &self.log_filter)
            .finish()
    }
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
            upload_idle_timeout: Duration::from_secs(60),
            upload_deadline: Duration::from_secs(15 * 60),
            max_json_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            cache: CacheConfig::default(),
            conn_limits: crate::listen::ConnLimits::default(),
            secret_key: None,
            previous_secret_keys: Vec::new(),
            metrics_listen: None,
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Auto,
            log_filter: "info".to_owned(),
            public_url: None,
            smtp: crate::mail::SmtpConfig::default(),
            dispatch: crate::dispatch::DispatchConfig::default(),
        }
    }

    /// Where the secret-sealing key lives when `secret_key` is not given.
    pub fn secret_key_file(&self) -> PathBuf {
        self.data_dir.join("secret.key")
    }

    /// The file the generated first-run password is written to.
    pub fn initial_password_file(&self) -> PathBuf {
        self.data_dir.join("initial-admin-password")
    }

    /// Whether `peer` is a proxy whose `X-Forwarded-For` is believed.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
}

/// How a value is written in TOML (and so in `gantry config example`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Bool,
    /// Comma-separated in the environment and on the command line, an array in TOML.
    List,
}

/// Whether a setting's value may be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    Public,
    /// Never printed or logged.
    Secret,
    /// A URL whose password is never printed or logged.
    UrlPassword,
}

/// One setting of `gantry serve`.
#[derive(Debug)]
pub struct Setting {
    /// Dotted TOML key: `listen`, `tokens.max_lifetime`.
    pub key: &'static str,
    /// Environment variable.
    pub env: &'static str,
    /// Long flag, without the dashes.
    pub flag: &'static str,
    /// The default, as it would be written in the environment; None: unset.
    pub default: Option<&'static str>,
    pub kind: Kind,
    /// What is accepted, for error messages and the example file.
    pub accepts: &'static str,
    /// One line of help.
    pub help: &'static str,
    pub secrecy: Secrecy,
}

const fn setting(
    key: &'static str,
    env: &'static str,
    flag: &'static str,
    default: Option<&'static str>,
    kind: Kind,
    accepts: &'static str,
    help: &'static str,
) -> Setting {
    Setting {
        key,
        env,
        flag,
        default,
        kind,
        accepts,
        help,
        secrecy: Secrecy::Public,
    }
}

const fn secret(mut s: Setting, secrecy: Secrecy) -> Setting {
    s.secrecy = secrecy;
    s
}

/// Every setting of `gantry serve`, in the order the example file lists them.
pub static SETTINGS: &[Setting] = &[
    setting(
        "listen",
        "GANTRY_LISTEN",
        "listen",
        Some("127.0.0.1:8080"),
        Kind::Text,
        "an address and port such as 127.0.0.1:8080 or [::]:8080",
        "Address the API listens on.",
    ),
    setting(
        "data_dir",
        "GANTRY_DATA_DIR",
        "data-dir",
        Some("./gantry-data"),
        Kind::Text,
        "a directory path",
        "State directory: the SQLite database and release artifacts.",
    ),
    secret(
        setting(
            "database_url",
            "GANTRY_DATABASE_URL",
            "database-url",
            None,
            Kind::Text,
            "postgres://USER:PASSWORD@HOST/DB (several nodes) or sqlite://PATH",
            "Database URL; unset: the embedded SQLite file in the data directory.",
        ),
        Secrecy::UrlPassword,
    ),
    setting(
        "public_url",
        "GANTRY_PUBLIC_URL",
        "public-url",
        None,
        Kind::Text,
        "an http(s) URL such as https://gantry.example.com",
        "Where people and CI reach this server; mails link to its dashboard. Unset: the listen address.",
    ),
    setting(
        "admin.email",
        "GANTRY_ADMIN_EMAIL",
        "admin-email",
        Some("admin@localhost"),
        Kind::Text,
        "an email address",
        "Email of the first instance administrator (empty database only).",
    ),
    secret(
        setting(
            "admin.password",
            "GANTRY_ADMIN_PASSWORD",
            "admin-password",
            None,
            Kind::Text,
            "a password of 12 to 1024 characters",
            "Password of the first administrator (empty database only); unset: generated into <data_dir>/initial-admin-password. Prefer the environment to the flag, which `ps` shows.",
        ),
        Secrecy::Secret,
    ),
    secret(
        setting(
            "secrets.key",
            "GANTRY_SECRET_KEY",
            "secret-key",
            None,
            Kind::Text,
            "64 hex digits (openssl rand -hex 32)",
            "Key that seals env values marked secret at rest. Unset: <data_dir>/secret.key, created on first start. Set the same key on every node of a PostgreSQL deployment.",
        ),
        Secrecy::Secret,
    ),
    secret(
        setting(
            "secrets.previous_keys",
            "GANTRY_SECRET_KEY_PREVIOUS",
            "secret-key-previous",
            Some(""),
            Kind::List,
            "keys of 64 hex digits",
            "Former keys during a rotation: they only open; at start every secret is re-sealed with the current key, after which they can go.",
        ),
        Secrecy::Secret,
    ),
    setting(
        "tokens.max_lifetime",
        "GANTRY_MAX_TOKEN_LIFETIME",
        "max-token-lifetime",
        None,
        Kind::Text,
        "a duration such as 365d, 720h or 1d12h (units w d h m s)",
        "Longest lifetime any token may have; also forbids tokens that never expire. Unset: no cap.",
    ),
    setting(
        "tokens.revoke_on_reuse",
        "GANTRY_TOKENS_REVOKE_ON_REUSE",
        "tokens-revoke-on-reuse",
        Some("false"),
        Kind::Bool,
        "true or false",
        "Revoke a token when a value rotated away from it is presented after its grace period (someone holds an old copy); token.reused fires either way.",
    ),
    setting(
        "tokens.forbid_non_expiring",
        "GANTRY_FORBID_NON_EXPIRING_TOKENS",
        "forbid-non-expiring-tokens",
        Some("false"),
        Kind::Bool,
        "true or false",
        "Refuse tokens that never expire.",
    ),
    setting(
        "limits.max_artifact_size",
        "GANTRY_MAX_ARTIFACT_BYTES",
        "max-artifact-bytes",
        Some("512MiB"),
        Kind::Text,
        "a size in bytes, or with a unit such as 512MiB or 2GiB",
        "Largest release artifact.",
    ),
    setting(
        "limits.max_json_body",
        "GANTRY_MAX_JSON_BYTES",
        "max-json-bytes",
        Some("2MiB"),
        Kind::Text,
        "a size between 4KiB and 64MiB, such as 2MiB",
        "Largest JSON request body.",
    ),
    setting(
        "limits.request_timeout",
        "GANTRY_REQUEST_TIMEOUT",
        "request-timeout",
        Some("60s"),
        Kind::Text,
        "a duration between 1s and 1h, such as 60s or 5m",
        "Longest a request may take (deploy uploads are bounded by size, limits.upload_idle_timeout and limits.upload_deadline instead).",
    ),
    setting(
        "limits.header_read_timeout",
        "GANTRY_HEADER_READ_TIMEOUT",
        "header-read-timeout",
        Some("10s"),
        Kind::Text,
        "a duration between 1s and 5m",
        "Longest a client may take to send a request's head; slower clients (slowloris) are disconnected.",
    ),
    setting(
        "limits.max_header_size",
        "GANTRY_MAX_HEADER_BYTES",
        "max-header-bytes",
        Some("64KiB"),
        Kind::Text,
        "a size between 8KiB and 1MiB",
        "Largest request head (request line and headers).",
    ),
    setting(
        "limits.max_uploads_per_credential",
        "GANTRY_MAX_UPLOADS_PER_CREDENTIAL",
        "max-uploads-per-credential",
        Some("4"),
        Kind::Integer,
        "a whole number from 1 to 10000",
        "Deploy uploads one credential (token or dashboard session) may have in progress at once; further ones get 429 with Retry-After, so one tenant cannot take all of a node's upload slots.",
    ),
    setting(
        "limits.upload_idle_timeout",
        "GANTRY_UPLOAD_IDLE_TIMEOUT",
        "upload-idle-timeout",
        Some("60s"),
        Kind::Text,
        "a duration between 1s and 1h",
        "A deploy whose request body sends nothing for this long, anywhere in the form, is cut off with 408.",
    ),
    setting(
        "limits.upload_deadline",
        "GANTRY_UPLOAD_DEADLINE",
        "upload-deadline",
        Some("15m"),
        Kind::Text,
        "a duration between 10s and 24h",
        "Longest a deploy's request body may take to arrive, however steadily it trickles; cut off with 408 after.",
    ),
    setting(
        "limits.max_concurrent_uploads",
        "GANTRY_MAX_CONCURRENT_UPLOADS",
        "max-concurrent-uploads",
        Some("16"),
        Kind::Integer,
        "a whole number from 1 to 10000",
        "Deploy uploads in progress at once on this node; further ones are refused with 503 and Retry-After.",
    ),
    setting(
        "limits.keep_alive_timeout",
        "GANTRY_KEEP_ALIVE_TIMEOUT",
        "keep-alive-timeout",
        Some("60s"),
        Kind::Text,
        "a duration between 1s and 1h",
        "Close a kept-alive client connection after this long without a request.",
    ),
    setting(
        "limits.max_connections",
        "GANTRY_MAX_CONNECTIONS",
        "max-connections",
        Some("10000"),
        Kind::Integer,
        "a whole number from 16 to 1000000",
        "Most client connections open at once; further ones are closed as they arrive.",
    ),
    setting(
        "rate_limits.failed_auth",
        "GANTRY_RATE_LIMIT_FAILED_AUTH",
        "rate-limit-failed-auth",
        Some("30/1m"),
        Kind::Text,
        "N/DURATION, such as 30/1m (N from 1, a window up to 1d)",
        "Unknown or malformed bearer tokens allowed per client IP and per token prefix; past that, 429 with Retry-After until the window ends. Valid tokens are never counted or slowed.",
    ),
    setting(
        "rate_limits.failed_login",
        "GANTRY_RATE_LIMIT_FAILED_LOGIN",
        "rate-limit-failed-login",
        Some("10/5m"),
        Kind::Text,
        "N/DURATION, such as 10/5m (N from 1, a window up to 1d)",
        "Failed logins allowed per client IP and per email; past that, logins from that IP or for that email are refused with 429 until the window ends.",
    ),
    setting(
        "rate_limits.credential_revoke",
        "GANTRY_RATE_LIMIT_CREDENTIAL_REVOKE",
        "rate-limit-credential-revoke",
        Some("30/1m"),
        Kind::Text,
        "N/DURATION, such as 30/1m (N from 1, a window up to 1d)",
        "Leak reports (POST /v1/credentials/revoke, each up to 1000 values) allowed per client IP, every report counted; past that, 429 with Retry-After until the window ends.",
    ),
    setting(
        "rate_limits.token_exchange",
        "GANTRY_RATE_LIMIT_TOKEN_EXCHANGE",
        "rate-limit-token-exchange",
        Some("60/1m"),
        Kind::Text,
        "N/DURATION, such as 60/1m (N from 1, a window up to 1d)",
        "Token exchanges (keyless CI, POST /v1/oauth/token) allowed per client IP, every attempt counted; past that, 429 slow_down with Retry-After until the window ends.",
    ),
    setting(
        "dashboard.session_ttl",
        "GANTRY_DASHBOARD_SESSION_TTL",
        "dashboard-session-ttl",
        Some("12h"),
        Kind::Text,
        "a duration between 5m and 30d",
        "How long a dashboard sign-in lasts; the user signs in again after that (signing out ends it at once).",
    ),
    setting(
        "apps.slug_reservation",
        "GANTRY_APPS_SLUG_RESERVATION",
        "apps-slug-reservation",
        Some("30d"),
        Kind::Text,
        "a duration up to 3650d (0s: no reservation)",
        "How long a deleted app's slug stays reserved to its org: another org cannot create an app with it until then.",
    ),
    setting(
        "alerts.allow_networks",
        "GANTRY_ALERTS_ALLOW_NETWORKS",
        "alerts-allow-networks",
        Some(""),
        Kind::List,
        "IP addresses or CIDR ranges, such as 10.1.0.0/16",
        "Webhook receivers gantry may reach although they are internal (loopback, private, link-local, CGNAT, unique-local…); http:// targets only inside these. Empty: public addresses over https only.",
    ),
    setting(
        "alerts.expiring_before",
        "GANTRY_ALERTS_EXPIRING_BEFORE",
        "alerts-expiring-before",
        Some("30d,7d,1d"),
        Kind::List,
        "1 to 10 durations between 1m and 365d, such as 30d,7d,1d",
        "token.expiring fires (and owners are mailed) when a token comes this close to its expiry; each once per token and expiry.",
    ),
    setting(
        "alerts.retention",
        "GANTRY_ALERTS_RETENTION",
        "alerts-retention",
        Some("30d"),
        Kind::Text,
        "a duration between 1d and 3650d",
        "How long delivered and failed deliveries (and their events) are kept for the delivery log; pending ones are kept until they finish.",
    ),
    setting(
        "oidc.allow_insecure_issuers",
        "GANTRY_OIDC_ALLOW_INSECURE_ISSUERS",
        "oidc-allow-insecure-issuers",
        Some(""),
        Kind::List,
        "issuer URLs, exactly as their tokens' iss says",
        "OIDC issuers that trust policies may name over plain http://, and whose discovery and keys gantry fetches from any address (a lab or test issuer on loopback). Empty: https:// issuers on public addresses only.",
    ),
    setting(
        "leaks.auto_revoke",
        "GANTRY_LEAKS_AUTO_REVOKE",
        "leaks-auto-revoke",
        Some("true"),
        Kind::Bool,
        "true or false",
        "Revoke the live tokens GitHub secret scanning reports found in public (POST /v1/secret-scanning/github); token.leaked fires and owners are told either way.",
    ),
    setting(
        "leaks.github_keys_url",
        "GANTRY_LEAKS_GITHUB_KEYS_URL",
        "leaks-github-keys-url",
        Some(gantry_core::service::GITHUB_KEYS_URL),
        Kind::Text,
        "an https:// URL (http:// only to hosts inside alerts.allow_networks)",
        "Where the keys that sign GitHub secret scanning reports are fetched (GitHub Enterprise Server: its own /api/v3/meta/public_keys/secret_scanning). Fetched on the first report, cached for an hour, refetched at most once a minute when a report names an unknown key.",
    ),
    secret(
        setting(
            "smtp.url",
            "GANTRY_SMTP_URL",
            "smtp-url",
            None,
            Kind::Text,
            "smtp://HOST[:PORT] (plain), smtp://USER:PASSWORD@HOST:587?tls=required (STARTTLS), smtps://USER:PASSWORD@HOST[:465] (TLS)",
            "Mail server for mailto: alert rules and owner notifications (expiring and expired tokens). Unset: no mail.",
        ),
        Secrecy::UrlPassword,
    ),
    setting(
        "smtp.ca_file",
        "GANTRY_SMTP_CA_FILE",
        "smtp-ca-file",
        None,
        Kind::Text,
        "a PEM file of one or more certificates",
        "Certificates to trust for the mail server's TLS, besides the public web roots: a company CA, or the server's own self-signed certificate.",
    ),
    setting(
        "smtp.from",
        "GANTRY_SMTP_FROM",
        "smtp-from",
        Some("gantry@localhost"),
        Kind::Text,
        "an email address, optionally with a name: Gantry <gantry@example.com>",
        "Sender of gantry's mail.",
    ),
    setting(
        "cache.tokens",
        "GANTRY_CACHE_TOKENS",
        "cache-tokens",
        Some("250000"),
        Kind::Integer,
        "a whole number from 1000 to 100000000",
        "Most token lookups (known and unknown hashes) the in-memory index keeps.",
    ),
    setting(
        "cache.entries",
        "GANTRY_CACHE_ENTRIES",
        "cache-entries",
        Some("100000"),
        Kind::Integer,
        "a whole number from 100 to 100000000",
        "Most users, memberships, apps and orgs the in-memory index keeps, each.",
    ),
    setting(
        "cache.ttl",
        "GANTRY_CACHE_TTL",
        "cache-ttl",
        None,
        Kind::Text,
        "a duration such as 10m",
        "Re-read cached entries older than this. Unset: only writes expire them (they always do).",
    ),
    setting(
        "last_used.flush_interval",
        "GANTRY_LAST_USED_FLUSH_INTERVAL",
        "last-used-flush-interval",
        Some("1s"),
        Kind::Text,
        "a duration between 1s and 10s",
        "How often accepted uses (last used time and IP) are written, in one transaction.",
    ),
    setting(
        "http.trusted_proxies",
        "GANTRY_TRUSTED_PROXIES",
        "trusted-proxies",
        Some(""),
        Kind::List,
        "IP addresses or CIDR ranges, such as 127.0.0.1 or 10.0.0.0/8",
        "Peers whose X-Forwarded-For is believed for the client IP (last used IP, audit, logs). Empty: the TCP peer is the client.",
    ),
    setting(
        "metrics.listen",
        "GANTRY_METRICS_LISTEN",
        "metrics-listen",
        None,
        Kind::Text,
        "an address and port such as 127.0.0.1:9100",
        "Serve GET /metrics (Prometheus) on this address, apart from the API. Unset: no metrics endpoint.",
    ),
    setting(
        "log.format",
        "GANTRY_LOG_FORMAT",
        "log-format",
        Some("auto"),
        Kind::Text,
        "auto, text or json",
        "Log format; auto: human-readable on a terminal, JSON lines otherwise.",
    ),
    setting(
        "log.filter",
        "GANTRY_LOG",
        "log",
        Some("info"),
        Kind::Text,
        "a tracing filter such as info, warn or info,gantry::access=off",
        "What to log; one line per request at info (target gantry::access).",
    ),
];

/// A comma-separated list of CIDR ranges or single addresses.
fn networks(v: &str) -> Option<Vec<IpNet>> {
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                .ok()
        })
        .collect()
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    File(PathBuf),
    Default,
}

impl Source {
    fn describe(&self, s: &Setting) -> String {
        match self {
            Source::Flag => format!("--{}", s.flag),
            Source::Env => s.env.to_owned(),
            Source::File(p) => format!("{} in {}", s.key, p.display()),
            Source::Default => "the default".to_owned(),
        }
    }
}

/// A setting that could not be used, or a config file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The configuration in force and where each value came from.
#[derive(Debug, Clone)]
pub struct Effective {
    pub config: ServerConfig,
    /// Each setting's raw value (None: unset) and its source, in table order.
    pub values: Vec<(&'static Setting, Option<String>, Source)>,
}

/// Layers flags (by setting key), the environment and the config file over the defaults and
/// parses every setting.
pub fn resolve(
    flags: &BTreeMap<&'static str, String>,
    env: impl Fn(&str) -> Option<String>,
    file: Option<&Path>,
) -> Result<Effective, ConfigError> {
    let from_file = match file {
        Some(path) => read_file(path)?,
        None => BTreeMap::new(),
    };
    let mut values = Vec::with_capacity(SETTINGS.len());
    for s in SETTINGS {
        let env_value = env(s.env).filter(|v| !v.is_empty());
        let (value, source) = if let Some(v) = flags.get(s.key) {
            (Some(v.clone()), Source::Flag)
        } else if let Some(v) = env_value {
            (Some(v), Source::Env)
        } else if let (Some(v), Some(path)) = (from_file.get(s.key), file) {
            (Some(v.clone()), Source::File(path.to_owned()))
        } else {
            (s.default.map(str::to_owned), Source::Default)
        };
        values.push((s, value, source));
    }
    let mut config = ServerConfig::for_data_dir(Path::new("./gantry-data"));
    for (s, value, source) in &values {
        apply(&mut config, s.key, value.as_deref()).map_err(|accepts| {
            let shown = match s.secrecy {
                Secrecy::Public => format!("{:?}", value.as_deref().unwrap_or_default()),
                _ => "the value given".to_owned(),
            };
            ConfigError(format!(
                "invalid setting `{}` (from {}): {shown} is not accepted; expected {accepts}",
                s.key,
                source.describe(s)
            ))
        })?;
    }
    Ok(Effective { config, values })
}

/// Reads a TOML file into `dotted.key → value as the environment would spell it`.
fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| ConfigError(format!("{} is not valid TOML: {e}", path.display())))?;
    let mut out = BTreeMap::new();
    flatten(path, "", &table, &mut out)?;
    Ok(out)
}

fn flatten(
    path: &Path,
    prefix: &str,
    table: &toml::Table,
    out: &mut BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (k, v) in table {
        let key = format!("{prefix}{k}");
        if let toml::Value::Table(inner) = v {
            if SETTINGS
                .iter()
                .any(|s| s.key.starts_with(&format!("{key}.")))
            {
                flatten(path, &format!("{key}."), inner, out)?;
                continue;
            }
        }
        let Some(s) = SETTINGS.iter().find(|s| s.key == key) else {
            return Err(ConfigError(format!(
                "unknown setting `{key}` in {}; `gantry config example` lists every setting",
                path.display()
            )));
        };
        let text = match (v, s.kind) {
            (toml::Value::String(x), _) => x.clone(),
            (toml::Value::Integer(i), Kind::Integer | Kind::Text) => i.to_string(),
            (toml::Value::Boolean(b), Kind::Bool) => b.to_string(),
            (toml::Value::Array(items), Kind::List) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        toml::Value::String(x) => parts.push(x.clone()),
                        _ => {
                            return Err(ConfigError(format!(
                                "invalid setting `{key}` in {}: expected an array of strings: {}",
                                path.display(),
                                s.accepts
                            )))
                        }
                    }
                }
                parts.join(",")
            }
            _ => {
                return Err(ConfigError(format!(
                    "invalid setting `{key}` in {}: expected {}",
                    path.display(),
                    s.accepts
                )))
            }
        };
        out.insert(key, text);
    }
    Ok(())
}

/// Parses one setting into `config`; the error is what would have been accepted.
fn apply(config: &mut ServerConfig, key: &str, value: Option<&str>) -> Result<(), &'static str> {
    let accepts = SETTINGS
        .iter()
        .find(|s| s.key == key)
        .map_or("a valid value", |s| s.accepts);
    let Some(v) = value.map(str::trim) else {
        return Ok(()); // unset: the field keeps its "off" value
    };
    match key {
        "listen" => config.listen = v.parse().map_err(|_| accepts)?,
        "data_dir" if !v.is_empty() => config.data_dir = PathBuf::from(v),
        "database_url" => {
            let ok = ["postgres://", "postgresql://", "sqlite:"]
                .iter()
                .any(|p| v.starts_with(p));
            if !ok {
                return Err(accepts);
            }
            config.database_url = Some(v.to_owned());
        }
        "admin.email" if v.contains('@') => config.admin_email = Some(v.to_owned()),
        "admin.password" if (12..=1024).contains(&v.chars().count()) => {
            config.admin_password = Some(v.to_owned())
        }
        "secrets.key" => config.secret_key = Some(SecretKey::parse(v).ok_or(accepts)?),
        "secrets.previous_keys" => {
            config.previous_secret_keys = v
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(SecretKey::parse)
                .collect::<Option<_>>()
                .ok_or(accepts)?
        }
        "tokens.max_lifetime" => {
            let d = parse_duration(v).filter(|d| !d.is_zero()).ok_or(accepts)?;
            config.settings.token_policy.max_lifetime = Some(d);
        }
        "tokens.revoke_on_reuse" => {
            config.settings.revoke_on_reuse = parse_bool(v).ok_or(accepts)?
        }
        "leaks.auto_revoke" => config.settings.auto_revoke_leaks = parse_bool(v).ok_or(accepts)?,
        "leaks.github_keys_url" => {
            let url = url::Url::parse(v).map_err(|_| accepts)?;
            if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
                return Err(accepts);
            }
            config.settings.github_keys_url = v.to_owned();
        }
        "tokens.forbid_non_expiring" => {
            config.settings.token_policy.forbid_non_expiring = parse_bool(v).ok_or(accepts)?
        }
        "limits.max_artifact_size" => {
            config.settings.max_artifact_bytes = parse_size(v).filter(|n| *n > 0).ok_or(accepts)?
        }
        "limits.max_json_body" => {
            let n = parse_size(v)
                .filter(|n| (4 * 1024..=64 * 1024 * 1024).contains(n))
                .ok_or(accepts)?;
            config.max_json_bytes = usize::try_from(n).map_err(|_| accepts)?;
        }
        "limits.request_timeout" => {
            config.request_timeout = duration_within(v, 1, 3600).ok_or(accepts)?
        }
        "limits.header_read_timeout" => {
            config.conn_limits.header_read_timeout = duration_within(v, 1, 300).ok_or(accepts)?
        }
        "limits.max_header_size" => {
            let n = parse_size(v)
                .filter(|n| (8 * 1024..=1024 * 1024).contains(n))
                .ok_or(accepts)?;
            config.conn_limits.max_header_bytes = usize::try_from(n).map_err(|_| accepts)?;
        }
        "limits.max_concurrent_uploads" => {
            let n = integer_within(v, 1, 10_000).ok_or(accepts)?;
            config.settings.max_concurrent_uploads = usize::try_from(n).map_err(|_| accepts)?;
        }
        "limits.max_uploads_per_credential" => {
            let n = integer_within(v, 1, 10_000).ok_or(accepts)?;
            config.settings.max_uploads_per_credential = usize::try_from(n).map_err(|_| accepts)?;
        }
        "limits.upload_idle_timeout" => {
            config.upload_idle_timeout = duration_within(v, 1, 3600).ok_or(accepts)?
        }
        "limits.upload_deadline" => {
            config.upload_deadline = duration_within(v, 10, 86_400).ok_or(accepts)?
        }
        "limits.keep_alive_timeout" => {
            config.conn_limits.keep_alive_timeout = duration_within(v, 1, 3600).ok_or(accepts)?
        }
        "limits.max_connections" => {
            let n = integer_within(v, 16, 1_000_000).ok_or(accepts)?;
            config.conn_limits.max_connections = usize::try_from(n).map_err(|_| accepts)?;
        }
        "rate_limits.failed_auth" => {
            config.settings.failed_auth_limit =
                gantry_core::ratelimit::Limit::parse(v).ok_or(accepts)?
        }
        "rate_limits.credential_revoke" => {
            config.settings.leak_report_limit =
                gantry_core::ratelimit::Limit::parse(v).ok_or(accepts)?
        }
        "rate_limits.token_exchange" => {
            config.settings.exchange_limit =
                gantry_core::ratelimit::Limit::parse(v).ok_or(accepts)?
        }
        "rate_limits.failed_login" => {
            config.settings.failed_login_limit =
                gantry_core::ratelimit::Limit::parse(v).ok_or(accepts)?
        }
        "dashboard.session_ttl" => {
            config.settings.session_ttl = duration_within(v, 300, 30 * 86_400).ok_or(accepts)?
        }
        "apps.slug_reservation" => {
            let d = parse_duration(v)
                .or_else(|| (v == "0").then_some(std::time::Duration::ZERO))
                .filter(|d| d.as_secs() <= 3650 * 86_400)
                .ok_or(accepts)?;
            config.settings.slug_reservation = d;
        }
        "cache.tokens" => {
            config.cache.tokens = integer_within(v, 1_000, 100_000_000).ok_or(accepts)?
        }
        "cache.entries" => {
            config.cache.directory = integer_within(v, 100, 100_000_000).ok_or(accepts)?
        }
        "cache.ttl" => {
            config.cache.ttl = Some(parse_duration(v).filter(|d| !d.is_zero()).ok_or(accepts)?)
        }
        "last_used.flush_interval" => {
            config.usage_flush_interval = duration_within(v, 1, 10).ok_or(accepts)?
        }
        "http.trusted_proxies" => config.trusted_proxies = networks(v).ok_or(accepts)?,
        "public_url" => {
            let url = url::Url::parse(v)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or(accepts)?;
            config.public_url = Some(url.as_str().trim_end_matches('/').to_owned());
        }
        "alerts.allow_networks" => {
            config.settings.allow_networks =
                gantry_core::outbound::AllowNetworks(networks(v).ok_or(accepts)?)
        }
        "oidc.allow_insecure_issuers" => {
            config.settings.insecure_issuers = v
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(|i| {
                    url::Url::parse(i)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                        .map(|_| i.to_owned())
                })
                .collect::<Option<Vec<_>>>()
                .ok_or(accepts)?
        }
        "alerts.expiring_before" => {
            let mut list = v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| duration_within(p, 60, 365 * 86_400))
                .collect::<Option<Vec<_>>>()
                .filter(|l| (1..=10).contains(&l.len()))
                .ok_or(accepts)?;
            list.sort_unstable_by(|a, b| b.cmp(a));
            list.dedup();
            config.settings.expiring_before = list;
        }
        "alerts.retention" => {
            config.settings.event_retention =
                duration_within(v, 86_400, 3650 * 86_400).ok_or(accepts)?
        }
        "smtp.url" => config.smtp.url = Some(crate::mail::SmtpUrl::parse(v).map_err(|_| accepts)?),
        "smtp.ca_file" => {
            config.smtp.ca_file = (!v.is_empty()).then(|| std::path::PathBuf::from(v))
        }
        "smtp.from" => {
            if !crate::mail::valid_from(v) {
                return Err(accepts);
            }
            config.smtp.from = v.to_owned();
        }
        "metrics.listen" => config.metrics_listen = Some(v.parse().map_err(|_| accepts)?),
        "log.format" => {
            config.log_format = match v {
                "auto" => LogFormat::Auto,
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(accepts),
            }
        }
        "log.filter" => {
            tracing_subscriber::EnvFilter::builder()
                .parse(v)
                .map_err(|_| accepts)?;
            config.log_filter = v.to_owned();
        }
        _ => return Err(accepts),
    }
    Ok(())
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Bytes: a plain number, or with a unit (`512MiB`, `2 GiB`, `64KB`).
fn parse_size(v: &str) -> Option<u64> {
    v.parse::<u64>()
        .ok()
        .or_else(|| v.parse::<bytesize::ByteSize>().ok().map(|b| b.as_u64()))
}

fn duration_within(v: &str, min_secs: u64, max_secs: u64) -> Option<Duration> {
    parse_duration(v).filter(|d| (min_secs..=max_secs).contains(&d.as_secs()))
}

fn integer_within(v: &str, min: u64, max: u64) -> Option<u64> {
    v.parse::<u64>().ok().filter(|n| (min..=max).contains(n))
}

/// A value as it may be shown: secrets replaced, a URL's password masked.
pub fn shown(s: &Setting, value: &str) -> String {
    match s.secrecy {
        Secrecy::Public => value.to_owned(),
        Secrecy::Secret => "<redacted>".to_owned(),
        Secrecy::UrlPassword => redact_url_password(value),
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:<redacted>@host/db`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut out = format!("{scheme}://");
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            if userinfo.contains(':') {
                out.push_str(&format!("{user}:<redacted>@{host}"));
            } else {
                out.push_str(&format!("{user}@{host}"));
            }
        }
        None => out.push_str(authority),
    }
    // A password can also ride in the query string (`?password=`).
    match tail.split_once('?') {
        Some((path, query)) if query.to_ascii_lowercase().contains("password") => {
            out.push_str(path);
            out.push_str("?<redacted>");
        }
        _ => out.push_str(tail),
    }
    out
}

fn toml_value(s: &Setting, value: &str) -> String {
    let quote = |v: &str| toml::Value::String(v.to_owned()).to_string();
    match s.kind {
        Kind::Integer if value.parse::<i64>().is_ok() => value.to_owned(),
        Kind::Bool if parse_bool(value).is_some() => value.to_owned(),
        Kind::List => {
            let items: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(quote)
                .collect();
            format!("[{}]", items.join(", "))
        }
        _ => quote(value),
    }
}

/// The effective configuration as TOML, each line saying where its value came from, secrets
/// redacted (`gantry serve --print-config`, and the start-up log).
pub fn render_effective(e: &Effective) -> String {
    let mut out = String::new();
    for (s, value, source) in &e.values {
        let from = source.describe(s);
        match value {
            Some(v) => out.push_str(&format!(
                "{} = {}  # from {from}\n",
                s.key,
                toml_value(s, &shown(s, v))
            )),
            None => out.push_str(&format!("# {} is unset  # {from}\n", s.key)),
        }
    }
    out
}

/// A commented configuration file with every setting at its default (`gantry config example`).
pub fn example() -> String {
    let mut out = String::from(
        "# gantry server configuration: gantry serve --config gantry.toml\n\
         #\n\
         # Every setting is also an environment variable and a flag of `gantry serve`. A flag\n\
         # beats the environment, which beats this file, which beats the default. Uncomment a\n\
         # line to change it; `gantry serve --print-config` shows what is in force and why.\n",
    );
    let mut section = "";
    for s in SETTINGS {
        let (sect, name) = s.key.rsplit_once('.').unwrap_or(("", s.key));
        if sect != section {
            out.push_str(&format!("\n[{sect}]\n"));
            section = sect;
        } else {
            out.push('\n');
        }
        for line in wrap(s.help, 88) {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str(&format!(
            "# Accepts {}. Environment: {}. Flag: --{}.\n",
            s.accepts, s.env, s.flag
        ));
        match s.default {
            Some(d) => out.push_str(&format!("#{name} = {}\n", toml_value(s, d))),
            None => out.push_str(&format!("#{name} = (unset)\n")),
        }
    }
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().map(|l| l.len()).unwrap_or(0);
        if last > 0 && last + 1 + word.len() > width {
            lines.push(String::new());
        }
        if let Some(l) = lines.last_mut() {
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(word);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let f = file("listen = \"127.0.0.1:1111\"\n[limits]\nrequest_timeout = \"30s\"\nmax_json_body = \"1MiB\"\n[cache]\ntokens = 5000\n");
        let mut flags = BTreeMap::new();
        flags.insert("listen", "127.0.0.1:3333".to_owned());
        let env = env_of(&[
            ("GANTRY_LISTEN", "127.0.0.1:2222"),
            ("GANTRY_REQUEST_TIMEOUT", "45s"),
        ]);
        let e = resolve(&flags, env, Some(f.path())).unwrap();
        assert_eq!(e.config.listen.port(), 3333, "flag over env and file");
        assert_eq!(
            e.config.request_timeout,
            Duration::from_secs(45),
            "env over file"
        );
        assert_eq!(e.config.max_json_bytes, 1024 * 1024, "file over default");
        assert_eq!(e.config.cache.tokens, 5000);
        assert_eq!(
            e.config.usage_flush_interval,
            Duration::from_secs(1),
            "default"
        );
    }

    #[test]
    fn a_bad_setting_names_itself_its_source_and_what_is_accepted() {
        let env = env_of(&[("GANTRY_LOG_FORMAT", "yaml")]);
        let err = resolve(&BTreeMap::new(), env, None).unwrap_err().0;
        assert_eq!(
            err,
            "invalid setting `log.format` (from GANTRY_LOG_FORMAT): \"yaml\" is not accepted; expected auto, text or json"
        );
        let f = file("[tokens]\nmax_lifetime = \"forever\"\n");
        let err = resolve(&BTreeMap::new(), env_of(&[]), Some(f.path()))
            .unwrap_err()
            .0;
        assert!(
            err.starts_with("invalid setting `tokens.max_lifetime` (from tokens.max_lifetime in "),
            "{err}"
        );
        assert!(
            err.ends_with("expected a duration such as 365d, 720h or 1d12h (units w d h m s)"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_in_the_file_are_refused() {
        let f = file("[tokens]\nmax_lifetme = \"30d\"\n");
        let err = resolve(&BTreeMap::new(), env_of(&[]), Some(f.path()))
            .unwrap_err()
            .0;
        assert!(
            err.contains("unknown setting `tokens.max_lifetme`"),
            "{err}"
        );
        let f = file("[cache]\ntokens = \"many\"\n");
        let err = resolve(&BTreeMap::new(), env_of(&[]), Some(f.path()))
            .unwrap_err()
            .0;
        assert!(err.contains("`cache.tokens`"), "{err}");
        let f = file("listen = [1, 2]\n");
        let err = resolve(&BTreeMap::new(), env_of(&[]), Some(f.path()))
            .unwrap_err()
            .0;
        assert!(err.contains("`listen`"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_errors_or_rendered_configs() {
        let env = env_of(&[("GANTRY_ADMIN_PASSWORD", "short")]);
        let err = resolve(&BTreeMap::new(), env, None).unwrap_err().0;
        assert!(!err.contains("short"), "{err}");
        let env = env_of(&[
            ("GANTRY_ADMIN_PASSWORD", "a very secret passphrase"),
            (
                "GANTRY_DATABASE_URL",
                "postgres://gantry:hunter2hunter2@db:5432/gantry?sslmode=require",
            ),
        ]);
        let e = resolve(&BTreeMap::new(), env, None).unwrap();
        let text = render_effective(&e);
        assert!(!text.contains("a very secret passphrase"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("postgres://gantry:<redacted>@db:5432/gantry?sslmode=require"),
            "{text}"
        );
        let debug = format!("{:?}", e.config);
        assert!(
            !debug.contains("hunter2") && !debug.contains("a very secret"),
            "{debug}"
        );
    }

    #[test]
    fn the_example_file_is_valid_toml_and_its_defaults_are_accepted() {
        let text = example();
        let uncommented: String = text
            .lines()
            .map(|l| {
                let is_setting = l.starts_with('#')
                    && !l.starts_with("# ")
                    && l.len() > 1
                    && !l.contains("(unset)");
                if is_setting {
                    format!("{}\n", &l[1..])
                } else if l.starts_with('#') {
                    "\n".to_owned()
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        let f = file(&uncommented);
        let e = resolve(&BTreeMap::new(), env_of(&[]), Some(f.path())).unwrap();
        for s in SETTINGS {
            assert!(
                text.contains(&format!("Environment: {}.", s.env)),
                "{}",
                s.key
            );
        }
        let from_file = e
            .values
            .iter()
            .filter(|(_, _, src)| matches!(src, Source::File(_)))
            .count();
        let with_default = SETTINGS.iter().filter(|s| s.default.is_some()).count();
        assert_eq!(from_file, with_default, "{uncommented}");
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            redact_url_password("postgres://u:p@h/db"),
            "postgres://u:<redacted>@h/db"
        );
        assert_eq!(
            redact_url_password("postgres://u@h/db"),
            "postgres://u@h/db"
        );
        assert_eq!(
            redact_url_password("postgres://h/db?password=x"),
            "postgres://h/db?<redacted>"
        );
        assert_eq!(
            redact_url_password("sqlite:///var/lib/g.db"),
            "sqlite:///var/lib/g.db"
        );
    }
}
