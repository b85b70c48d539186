//! A webhook receiver for `bench/alerts.sh`, outside gantry: answers every POST with 204 and
//! counts those to `/hook`, and the distinct `webhook-id`s among them; `GET /count` says
//! `TOTAL DISTINCT` so far (`/floor` answers alike, uncounted, for wrk).
//!
//! Usage: `gantry-bench-receiver 127.0.0.1:PORT`

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Seen {
    total: u64,
    ids: HashSet<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: gantry-bench-receiver 127.0.0.1:PORT"))?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let read = seen.clone();
    let app = Router::new()
        .route(
            "/count",
            get(move || {
                let s = read
                    .lock()
                    .map(|s| (s.total, s.ids.len()))
                    .unwrap_or((0, 0));
                async move { format!("{} {}", s.0, s.1) }
            }),
        )
        // The same answer, uncounted: what wrk measures as the floor.
        .route(
            "/floor",
            post(|_body: axum::body::Bytes| async { StatusCode::NO_CONTENT }),
        )
        .route(
            "/hook",
            post(move |headers: HeaderMap, _body: axum::body::Bytes| {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if let Ok(mut s) = seen.lock() {
                    s.total += 1;
                    s.ids.insert(id);
                }
                async { StatusCode::NO_CONTENT }
            }),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
