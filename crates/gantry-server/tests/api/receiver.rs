//! A webhook receiver for the tests: a real HTTP server on 127.0.0.1 that checks every
//! delivery's Standard Webhooks signature itself (its own HMAC, not gantry's code) against the
//! secrets the test tells it, checks the timestamp is fresh by the test's clock, records what
//! arrived, and answers as the test scripts it (a status, or hanging past gantry's timeout).

#![allow(dead_code)]

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gantry_core::time::{Clock, ManualClock};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the receiver answers one delivery.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Never answers (gantry's 10 s limit ends the try).
    Hang,
}

/// One delivery as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: i64,
    /// The signatures of the `webhook-signature` header, each `v1,…`.
    pub signatures: Vec<String>,
    /// For each signature, the index of the trusted secret it verifies with, if any.
    pub verified_by: Vec<Option<usize>>,
    /// Within 5 minutes of the test clock (what Standard Webhooks receivers accept).
    pub fresh: bool,
    pub content_type: String,
    pub raw: String,
    pub body: Value,
}

impl Received {
    /// Every signature verifies with a trusted secret, and the timestamp is fresh.
    pub fn authentic(&self) -> bool {
        self.fresh && !self.verified_by.is_empty() && self.verified_by.iter().all(Option::is_some)
    }

    pub fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap_or("")
    }
}

#[derive(Default)]
struct State {
    secrets: Vec<String>,
    script: std::collections::HashMap<String, VecDeque<Reply>>,
    received: Vec<Received>,
}

/// A running receiver.
#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub async fn start(clock: Arc<ManualClock>) -> Receiver {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handler_state = state.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let state = handler_state.clone();
                let clock = clock.clone();
                async move { receive(state, clock, uri.path().to_owned(), headers, body).await }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { base, state }
    }

    /// The URL of one of its paths.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Accepts signatures by this secret (`whsec_…`) from now on.
    pub fn trust(&self, secret: &str) {
        self.state.lock().unwrap().secrets.push(secret.to_owned());
    }

    /// The next deliveries to `path` get these answers, in order; after them, 204.
    pub fn script(&self, path: &str, replies: &[Reply]) {
        self.state
            .lock()
            .unwrap()
            .script
            .entry(path.to_owned())
            .or_default()
            .extend(replies.iter().copied());
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits (up to 20 s) until `n` deliveries have arrived at `path`: those at `path`.
    pub async fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            let got: Vec<Received> = self
                .received()
                .into_iter()
                .filter(|r| r.path == path)
                .collect();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{n} deliveries to {path} did not arrive; got {:?}",
            self.received()
                .iter()
                .map(|r| (&r.path, r.kind().to_owned()))
                .collect::<Vec<_>>()
        );
    }
}

async fn receive(
    state: Arc<Mutex<State>>,
    clock: Arc<ManualClock>,
    path: String,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let id = header("webhook-id");
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap_or(0);
    let signatures: Vec<String> = header("webhook-signature")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let reply = {
        let mut st = state.lock().unwrap();
        let signed = format!("{id}.{timestamp}.");
        let verified_by = signatures
            .iter()
            .map(|sig| {
                let given = STANDARD.decode(sig.strip_prefix("v1,")?).ok()?;
                st.secrets.iter().position(|secret| {
                    let key = STANDARD
                        .decode(secret.strip_prefix("whsec_").unwrap_or(""))
                        .unwrap_or_default();
                    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
                    mac.update(signed.as_bytes());
                    mac.update(&body);
                    mac.verify_slice(&given).is_ok()
                })
            })
            .collect();
        let now = clock.now().0 / 1000;
        let raw = String::from_utf8_lossy(&body).into_owned();
        let reply = st
            .script
            .get_mut(&path)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Reply::Status(204));
        st.received.push(Received {
            path,
            id,
            timestamp,
            signatures,
            verified_by,
            fresh: (now - timestamp).abs() <= 300,
            content_type: header("content-type"),
            body: serde_json::from_str(&raw).unwrap_or(Value::Null),
            raw,
        });
        reply
    };
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK
        }
    }
}
