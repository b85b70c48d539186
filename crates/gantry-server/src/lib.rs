//! The gantry HTTP server: the axum router with its OpenAPI description, the bearer-token
//! extractor, thin handlers (parse → domain service → view), first-run bootstrap, the
//! background flush of coalesced last-used records, and graceful shutdown.

pub mod config;
pub mod dashboard;
pub mod dispatch;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod github_keys;
pub mod listen;
pub mod mail;
pub mod observe;
pub mod oidc_keys;
pub mod panics;
pub mod routes;
pub mod state;
pub mod uploads;
pub mod views;

pub use config::ServerConfig;
pub use routes::openapi;

use anyhow::Context;
use gantry_core::time::Clock;
use gantry_core::Gantry;
use state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running server.
pub struct Started {
    /// The address actually bound (useful with port 0).
    pub local_addr: SocketAddr,
    /// Where `/metrics` is served, if it is.
    pub metrics_addr: Option<SocketAddr>,
    /// The domain service, shared with the handlers.
    pub gantry: Arc<Gantry>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Started {
    /// Stops accepting, drains in-flight requests, flushes pending writes.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        shutdown_signal().await;
        tracing::info!("shutting down: draining requests and flushing pending writes");
        self.shutdown().await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Opens the store, bootstraps the first administrator, binds and starts serving.
pub async fn start(config: ServerConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Started> {
    prepare_data_dir(&config.data_dir)?;
    let database = gantry_store::Database::open(config.database_url.as_deref(), &config.data_dir)
        .await
        .context("opening the database")?;
    let artifacts = database
        .artifacts(&config.data_dir)
        .await
        .context("opening the artifact store")?;
    let (stop, stopped) = watch::channel(false);
    // Other nodes' writes must keep reaching the caches until the last request has drained.
    let (coherence_stop, coherence_stopped) = watch::channel(false);
    let mut config = config;
    let key = match &config.secret_key {
        Some(k) => k.clone(),
        None => load_or_create_key(&config.secret_key_file()).await?,
    };
    config.settings.sealer = Some(gantry_core::sealing::Sealer::new(
        key,
        config.previous_secret_keys.clone(),
    ));
    let mailer = mail::Mailer::new(&config.smtp)?;
    config.settings.notify_owners = mailer.is_some();
    // The port is taken now (its address is the default public URL, which the service needs),
    // but connections are accepted only once migrations and first-run bootstrap are done.
    let socket = if config.listen.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .with_context(|| format!("listening on {}", config.listen))?;
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket
        .bind(config.listen)
        .with_context(|| format!("listening on {}", config.listen))?;
    let local_addr = socket.local_addr()?;
    // Trust policies' default audience is the public URL (or the address listened on).
    config.settings.public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local_addr}"));
    let metrics = Arc::new(gantry_core::metrics::Metrics::new());
    let (store, coherence) = database.serve(&config.cache, metrics.clone(), coherence_stopped);
    let gantry = Arc::new(
        Gantry::with_metrics(store, clock, config.settings.clone(), metrics)
            .with_artifacts(artifacts.clone()),
    );
    gantry
        .check_secret_key()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    bootstrap_admin(&gantry, &config).await?;
    match gantry.reseal_secrets().await {
        Ok((0, _, 0)) => {}
        Ok((sealed, _, 0)) => tracing::info!(sealed, "sealed secrets with the current key"),
        Ok((sealed, _, unknown)) => tracing::warn!(
            sealed,
            unknown,
            "some secrets are sealed with a key this node does not have (set secrets.previous_keys)"
        ),
        Err(e) => tracing::warn!(error = %e, "could not re-seal secrets"),
    }

    let listener = socket
        .listen(1024)
        .with_context(|| format!("listening on {}", config.listen))?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening for metrics on {addr}"))?,
        ),
        None => None,
    };
    let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
    let flush_every = config.usage_flush_interval;
    let config_public_url = config.settings.public_url.clone();
    let allow_networks = config.settings.allow_networks.clone();
    let dispatch_config = config.dispatch.clone();
    let issuer_keys = Arc::new(
        oidc_keys::IssuerKeyCache::new(
            allow_networks.clone(),
            config.settings.insecure_issuers.clone(),
            gantry.clock(),
        )
        .context("building the OIDC key client")?,
    );
    let github_keys = Arc::new(
        github_keys::GithubKeys::new(
            config.settings.github_keys_url.clone(),
            allow_networks.clone(),
            gantry.clock(),
        )
        .context("building the GitHub key client")?,
    );
    let conn_limits = config.conn_limits;
    let state = AppState::new(state::Shared {
        gantry: gantry.clone(),
        artifacts: artifacts.clone(),
        config: Arc::new(config),
        openapi: Arc::new(serde_json::to_value(routes::openapi()).unwrap_or_default()),
        issuer_keys,
        github_keys,
    });
    let app = routes::router(state.clone());
    let metrics_server = metrics_listener.map(|listener| {
        let mut stopped = stop.subscribe();
        let app = routes::metrics_router(state);
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.changed().await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "metrics server error");
            }
        })
    });

    let flusher = {
        let gantry = gantry.clone();
        let mut stopped = stop.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(flush_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = gantry.flush_usage().await {
                            tracing::warn!(error = %e, "could not write last-used records; will retry");
                        }
                    }
                    _ = stopped.changed() => break,
                }
            }
        })
    };
    // Blobs no release points at (refused deploys, overwritten releases) go after an hour.
    let sweeper = {
        let gantry = gantry.clone();
        let mut stopped = stop.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        match artifacts.sweep(gantry.store().as_ref(), std::time::Duration::from_secs(3600)).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(removed = n, "removed unreferenced artifacts"),
                            Err(e) => tracing::warn!(error = %e, "artifact sweep failed"),
                        }
                    }
                    _ = stopped.changed() => break,
                }
            }
        })
    };
    let dispatcher = {
        let public_url = config_public_url.clone();
        let channels = dispatch::Channels::new(allow_networks, mailer, public_url)
            .context("building the webhook client")?;
        dispatch::spawn(
            gantry.clone(),
            Arc::new(channels),
            dispatch_config,
            stop.subscribe(),
        )
    };
    let server = {
        let gantry = gantry.clone();
        tokio::spawn(async move {
            listen::serve(listener, app, conn_limits, stopped).await;
            let _ = dispatcher.await;
            let _ = flusher.await;
            let _ = sweeper.await;
            if let Some(m) = metrics_server {
                let _ = m.await;
            }
            let _ = coherence_stop.send(true);
            if let Some(coherence) = coherence {
                let _ = coherence.await;
            }
            match gantry.flush_all_usage().await {
                Ok(n) => tracing::info!(tokens = n, "flushed last-used records"),
                Err(e) => {
                    tracing::error!(error = %e, "could not flush last-used records at shutdown")
                }
            }
            gantry.store().close().await;
        })
    };
    tracing::info!(addr = %local_addr, "gantry listening");
    if let Some(addr) = metrics_addr {
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
    }
    Ok(Started {
        local_addr,
        metrics_addr,
        gantry,
        stop,
        server,
    })
}

/// DESIGN §5: on an empty database, create the first instance administrator from
/// `GANTRY_ADMIN_EMAIL`/`GANTRY_ADMIN_PASSWORD`, or with a generated password written to
/// `<data-dir>/initial-admin-password` (mode 0600).
async fn bootstrap_admin(gantry: &Gantry, config: &ServerConfig) -> anyhow::Result<()> {
    if !gantry.has_no_users().await? {
        return Ok(());
    }
    let email = config
        .admin_email
        .clone()
        .unwrap_or_else(|| "admin@localhost".to_owned());
    let generated = config.admin_password.is_none();
    let password = match &config.admin_password {
        Some(password) => password.clone(),
        None => {
            let password = gantry_core::ids::new_id("pw").replace("pw_", "")
                + &gantry_core::ids::new_id("x")[2..];
            write_private(&config.initial_password_file(), &password).await?;
            password
        }
    };
    match gantry
        .create_user_as_system(&email, &password, Some("Administrator"), true)
        .await
    {
        Ok(_) if generated => tracing::warn!(
            %email,
            path = %config.initial_password_file().display(),
            "created the first instance administrator with a generated password; read it from this file and change it (the file is removed once you do)"
        ),
        Ok(_) => tracing::info!(%email, "created the first instance administrator"),
        // Several nodes started on one empty database: another one created it first.
        Err(gantry_core::CoreError::Conflict { .. }) => {
            if generated {
                let _ = tokio::fs::remove_file(config.initial_password_file()).await;
            }
            tracing::info!(%email, "the first instance administrator was created by another node");
        }
        Err(e) => anyhow::bail!("creating the first administrator: {e}"),
    }
    Ok(())
}

/// Creates the data directory 0700 when it is missing. One that exists is left as it is, but
/// a warning says so when group or others can reach it.
fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = meta.permissions().mode() & 0o7777;
                if mode & 0o077 != 0 {
                    let shown = format!("{mode:04o}");
                    tracing::warn!(
                        path = %dir.display(),
                        mode = %shown,
                        "the data directory {} has mode {shown}: group or others can reach the database and keys in it; chmod 700 {}",
                        dir.display(),
                        dir.display()
                    );
                }
            }
            #[cfg(not(unix))]
            let _ = meta;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            gantry_store::private_fs::create_private_dir(dir)
                .with_context(|| format!("creating data directory {}", dir.display()))
        }
        Err(e) => Err(e).with_context(|| format!("reading data directory {}", dir.display())),
    }
}

/// The sealing key in `path` (64 hex digits), created (mode 0600) when missing; one that
/// exists is made 0600 too.
async fn load_or_create_key(
    path: &std::path::Path,
) -> anyhow::Result<gantry_core::sealing::SecretKey> {
    use gantry_core::sealing::SecretKey;
    match tokio::fs::read_to_string(path).await {
        Ok(text) => {
            if let Err(e) = gantry_store::private_fs::set_private(path) {
                tracing::warn!(path = %path.display(), error = %e, "could not make the key file private (chmod 600 it)");
            }
            SecretKey::parse(&text)
                .with_context(|| format!("{} does not hold a key of 64 hex digits", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate();
            write_private(path, &key.to_hex()).await?;
            tracing::info!(path = %path.display(), "created the key that seals secrets at rest; back it up with the data");
            Ok(key)
        }
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
}

async fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let f = gantry_store::private_fs::create_private_file(path)
        .with_context(|| format!("writing {}", path.display()))?;
    let mut f = tokio::fs::File::from_std(f);
    f.write_all(format!("{contents}\n").as_bytes()).await?;
    f.sync_all().await?;
    Ok(())
}
