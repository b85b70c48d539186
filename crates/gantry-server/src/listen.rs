//! The accept loop: hyper with the connection limits `axum::serve` does not set. A client has
//! `header_read_timeout` to start and to finish sending its request head (silent and slowloris
//! clients are cut off instead of holding a connection forever), heads are bounded in size, open connections are bounded in
//! number (past that, new ones are closed at once), and shutdown drains gracefully.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Longest a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_connections: 10_000,
        }
    }
}

/// Serves `router` on `listener` until `stop` changes, then stops accepting and waits for
/// the open connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) {
    // HTTP/1.1 only (TLS and HTTP/2 end at the reverse proxy): the auto builder's sniffing of
    // the protocol version would wait for a client's first bytes with no timeout, so a
    // connection that never speaks would keep its slot forever.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing a new connection");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let first_bytes = limits.header_read_timeout;
        tokio::spawn(async move {
            // hyper's header timeout starts at the first byte: a client that connects and never
            // speaks is dropped here instead of holding its slot.
            let mut probe = [0u8; 1];
            if !matches!(
                tokio::time::timeout(first_bytes, stream.peek(&mut probe)).await,
                Ok(Ok(n)) if n > 0
            ) {
                drop(slot);
                return;
            }
            let service =
                tower::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    router.clone().oneshot(req.map(axum::body::Body::new))
                });
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            let _ = watcher.watch(conn.into_owned()).await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
