//! Per-request observation: the client's address (believing `X-Forwarded-For` only from
//! trusted proxies), a request id (taken from a proxy's `X-Request-Id` or made here, and
//! answered in `X-Request-Id`), one access-log line and the request metrics.

use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

/// The header a request id travels in, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// The client's address as this request's handlers should see it, as text (what the audit
/// log and last-used records keep).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub Arc<str>);

/// `ip` as text. Formatting an address costs more than the rest of a cached token lookup, and
/// consecutive requests on a worker thread mostly come from the same address (a keep-alive
/// connection's requests), so the last one is kept per thread.
fn ip_text(ip: IpAddr) -> Arc<str> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(IpAddr, Arc<str>)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((seen, text)) if *seen == ip => text.clone(),
            _ => {
                let text: Arc<str> = Arc::from(ip.to_string());
                *last = Some((ip, text.clone()));
                text
            }
        }
    })
}

/// Filled in by the `Auth` extractor so the access log can name the token (never its value).
/// Token ids are short enough to be kept inline: noting one allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct AccessNote(Arc<OnceLock<compact_str::CompactString>>);

impl AccessNote {
    /// Records the id of the token that authenticated the request.
    pub fn token_id(&self, id: &str) {
        let _ = self.0.set(id.into());
    }
}

/// The client address: the TCP peer, or — when the peer is a trusted proxy — the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_addr(peer: Option<IpAddr>, headers: &HeaderMap, state: &AppState) -> Option<IpAddr> {
    let peer = peer?;
    if !state.config.is_trusted_proxy(peer) {
        return Some(peer);
    }
    let mut client = peer;
    // Later proxies append, so walk from the right and stop at the first untrusted hop.
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !state.config.is_trusted_proxy(ip) {
                    break;
                }
            }
            // Garbage in the chain: trust nothing further left of it.
            Err(_) => break,
        }
    }
    Some(client)
}

/// The route template as a `&'static str` for metric labels: templates are the router's
/// finite set, so each is leaked once and a request allocates nothing for it.
fn route_label(path: Option<&MatchedPath>) -> &'static str {
    static ROUTES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let Some(path) = path.map(MatchedPath::as_str) else {
        return "(unmatched)";
    };
    let routes = ROUTES.get_or_init(Default::default);
    if let Some(r) = routes.read().ok().and_then(|set| set.get(path).copied()) {
        return r;
    }
    let Ok(mut set) = routes.write() else {
        return "(unknown)";
    };
    match set.get(path) {
        Some(r) => r,
        None => {
            let r: &'static str = Box::leak(path.to_owned().into_boxed_str());
            set.insert(r);
            r
        }
    }
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// A proxy's request id is kept if it is short and plain; otherwise one is made.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let given = headers.get(REQUEST_ID).filter(|v| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= 128
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:/+=".contains(c))
    });
    match given {
        Some(v) => v.clone(),
        None => {
            // 32 hex digits from the CSPRNG; always a valid header value.
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let n: u128 = rand::random();
            let mut buf = [0u8; 32];
            for (i, b) in buf.iter_mut().enumerate() {
                *b = HEX[((n >> (4 * i)) & 0xf) as usize];
            }
            HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
        }
    }
}

/// The middleware around every route.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    let client = client_addr(peer, req.headers(), &state).map(|ip| ClientAddr(ip_text(ip)));
    if let Some(c) = &client {
        req.extensions_mut().insert(c.clone());
    }
    let id = request_id(req.headers());
    let note = AccessNote::default();
    req.extensions_mut().insert(note.clone());
    let method = method_label(req.method());
    let route = route_label(req.extensions().get::<MatchedPath>());

    let mut resp = next.run(req).await;

    let took = start.elapsed();
    let status = resp.status().as_u16();
    state.gantry.metrics().request(method, route, status, took);
    let token_id = note.0.get().map_or("", |id| id.as_str());
    let request_id = id.to_str().unwrap_or("");
    let latency_ms = took.as_secs_f64() * 1000.0;
    let ip = || client.as_ref().map_or("", |c| &*c.0);
    if route == "/healthz" || route == "/readyz" {
        // Probes hit these every few seconds; they would drown the log at info.
        tracing::debug!(target: "gantry::access", request_id, method, route, status, latency_ms, client_ip = ip(), "request");
    } else {
        tracing::info!(target: "gantry::access", request_id, method, route, status, latency_ms, token_id, client_ip = ip(), "request");
    }
    resp.headers_mut().insert(REQUEST_ID, id);
    resp
}
