//! A webhook receiver for `bench/alerts.sh`, outside gantry: answers every POST with 204 and
//! counts those to `/hook`; `GET /count` says how many so far (`/floor` answers alike,
//! uncounted, for wrk). It checks nothing, so what it can take is
//! the floor the dispatcher's rate is measured against.
//!
//! Usage: `gantry-bench-receiver 127.0.0.1:PORT`

use axum::routing::{get, post};
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: gantry-bench-receiver 127.0.0.1:PORT"))?;
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    let app = Router::new()
        .route(
            "/count",
            get(move || {
                let n = seen.load(Ordering::Relaxed);
                async move { n.to_string() }
            }),
        )
        // The same answer, uncounted: what wrk measures as the floor.
        .route(
            "/floor",
            post(|_body: axum::body::Bytes| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route(
            "/hook",
            post(move |_body: axum::body::Bytes| {
                count.fetch_add(1, Ordering::Relaxed);
                async { axum::http::StatusCode::NO_CONTENT }
            }),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
