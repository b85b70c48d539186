//! What `GET /metrics` exposes, in one registry per process (prometheus-client; the text
//! encoding is the crate's, never ours). Hot-path counters are resolved once into handles, so
//! counting a verification is one atomic add.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Why a presented credential was accepted or refused.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    ok,
    /// No credential at all.
    missing,
    /// A non-Bearer scheme, or not a gantry token at all.
    malformed,
    unknown,
    expired,
    revoked,
    user_disabled,
    /// A valid token used from outside its `allowed_ips`.
    address_not_allowed,
    /// Authenticated, but the credential may not do what it asked (403).
    insufficient_scope,
}

impl Outcome {
    const ALL: [Outcome; 9] = [
        Outcome::ok,
        Outcome::missing,
        Outcome::malformed,
        Outcome::unknown,
        Outcome::expired,
        Outcome::revoked,
        Outcome::user_disabled,
        Outcome::address_not_allowed,
        Outcome::insufficient_scope,
    ];
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: Outcome,
}

/// One HTTP request, by route template (never the raw path: ids would explode the series).
/// Static strings, so counting a request allocates nothing.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: &'static str,
}

/// What a rate limit counts: failed authentications per client IP, per token prefix, and
/// failed logins.
pub const RATE_LIMIT_SCOPES: [&str; 3] = ["auth_ip", "auth_prefix", "login"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabel {
    scope: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    kind: &'static str,
    status: &'static str,
}

/// How a delivery's try ended.
pub const DELIVERY_OUTCOMES: [&str; 4] = ["delivered", "retried", "failed", "gone"];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 50 µs … ~3.3 s: verification-speed requests and slow uploads both land in a bucket.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_05, 2.0, 17,
    ))
}

/// Token counts as the store reports them (set just before each scrape).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// (kind, status, count) for every kind and status that has tokens.
    pub by_kind_status: Vec<(&'static str, &'static str, i64)>,
    /// Active tokens whose expiry falls within the next 7 days.
    pub expiring_within_7d: i64,
}

/// Every metric gantry exposes.
pub struct Metrics {
    registry: Registry,
    outcomes: [Counter; Outcome::ALL.len()],
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    rate_limited: Family<ScopeLabel, Counter>,
    tokens: Family<TokenLabels, Gauge>,
    expiring: Gauge,
    store_latency: HistogramFamily<OperationLabel>,
    pending_last_used: Gauge,
    deliveries: Family<DeliveryLabel, Counter>,
    queue_depth: Gauge,
    queue_oldest: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered (and every verification outcome at 0,
    /// so rates work from the first scrape).
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("gantry");
        let verifications = Family::<OutcomeLabel, Counter>::default();
        let outcomes = Outcome::ALL.map(|outcome| {
            verifications
                .get_or_create(&OutcomeLabel { outcome })
                .clone()
        });
        registry.register(
            "token_verifications",
            "Presented credentials by outcome",
            verifications,
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let latency: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        // The unit rides in the name; a `# UNIT` line trips some parsers for histograms.
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response headers, by method and route",
            latency.clone(),
        );
        let rate_limited = Family::<ScopeLabel, Counter>::default();
        for scope in RATE_LIMIT_SCOPES {
            let _ = rate_limited.get_or_create(&ScopeLabel { scope });
        }
        registry.register(
            "rate_limited_requests",
            "Requests refused with 429, by what was limited",
            rate_limited.clone(),
        );
        let tokens = Family::<TokenLabels, Gauge>::default();
        registry.register("tokens", "Tokens by kind and status", tokens.clone());
        let expiring = Gauge::default();
        registry.register(
            "tokens_expiring_within_7d",
            "Active tokens that expire within the next 7 days",
            expiring.clone(),
        );
        let store_latency: HistogramFamily<OperationLabel> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "store_operation_duration_seconds",
            "Time spent in the database, by store operation (cache hits excluded)",
            store_latency.clone(),
        );
        let pending_last_used = Gauge::default();
        registry.register(
            "pending_last_used_writes",
            "Tokens whose last use is recorded in memory and not yet written",
            pending_last_used.clone(),
        );
        let deliveries = Family::<DeliveryLabel, Counter>::default();
        for outcome in DELIVERY_OUTCOMES {
            let _ = deliveries.get_or_create(&DeliveryLabel { outcome });
        }
        registry.register(
            "event_delivery_tries",
            "Tries of event deliveries (webhooks, mail) by outcome: delivered, retried (failed, tried again later), failed (no more tries), gone (410, rule disabled)",
            deliveries.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "event_deliveries_pending",
            "Deliveries waiting to be sent or tried again",
            queue_depth.clone(),
        );
        let queue_oldest = Gauge::default();
        registry.register(
            "event_delivery_oldest_pending_seconds",
            "Age of the oldest pending delivery (0 when none is pending)",
            queue_oldest.clone(),
        );
        Metrics {
            registry,
            outcomes,
            requests,
            latency,
            rate_limited,
            tokens,
            expiring,
            store_latency,
            pending_last_used,
            deliveries,
            queue_depth,
            queue_oldest,
        }
    }

    /// Counts one try of a delivery (`outcome`: one of [`DELIVERY_OUTCOMES`]).
    pub fn delivery(&self, outcome: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabel { outcome })
            .inc();
    }

    /// Counts one verification.
    pub fn verification(&self, outcome: Outcome) {
        // `ALL` lists the variants in declaration order, so the discriminant is the index.
        if let Some(c) = self.outcomes.get(outcome as usize) {
            c.inc();
        }
    }

    /// Counts one answered request and its latency (`route`: the route template).
    pub fn request(&self, method: &'static str, route: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { method, route })
            .observe(took.as_secs_f64());
    }

    /// Counts one request refused by a rate limit (`scope`: what was limited).
    pub fn rate_limited(&self, scope: &'static str) {
        self.rate_limited.get_or_create(&ScopeLabel { scope }).inc();
    }

    /// Records how long a store operation that reached the database took.
    pub fn store_operation(&self, operation: &'static str, took: Duration) {
        self.store_latency
            .get_or_create(&OperationLabel { operation })
            .observe(took.as_secs_f64());
    }

    /// Renders the registry in the text exposition format, after setting the gauges that are
    /// read at scrape time.
    pub fn render(
        &self,
        tokens: &TokenCounts,
        pending_last_used: usize,
        queue: &crate::events::QueueStats,
        now: crate::time::Timestamp,
    ) -> String {
        self.queue_depth.set(queue.pending);
        self.queue_oldest
            .set(queue.oldest.map_or(0, |t| (now.0 - t.0).max(0) / 1000));
        self.tokens.clear();
        for (kind, status, n) in &tokens.by_kind_status {
            self.tokens
                .get_or_create(&TokenLabels { kind, status })
                .set(*n);
        }
        self.expiring.set(tokens.expiring_within_7d);
        self.pending_last_used
            .set(i64::try_from(pending_last_used).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_names_every_family_and_counts_what_happened() {
        let m = Metrics::new();
        m.verification(Outcome::ok);
        m.verification(Outcome::ok);
        m.verification(Outcome::revoked);
        m.request("GET", "/v1/apps/{app}", 200, Duration::from_micros(300));
        m.rate_limited("auth_ip");
        m.delivery("retried");
        let now = crate::time::Timestamp(1_000_000);
        let text = m.render(
            &TokenCounts {
                by_kind_status: vec![("deploy", "active", 3)],
                expiring_within_7d: 1,
            },
            5,
            &crate::events::QueueStats {
                pending: 2,
                oldest: Some(crate::time::Timestamp(1_000_000 - 90_000)),
            },
            now,
        );
        assert!(text.contains(r#"gantry_event_delivery_tries_total{outcome="retried"} 1"#));
        assert!(text.contains(r#"gantry_event_delivery_tries_total{outcome="delivered"} 0"#));
        assert!(text.contains("gantry_event_deliveries_pending 2"));
        assert!(text.contains("gantry_event_delivery_oldest_pending_seconds 90"));
        assert!(text.contains(r#"gantry_token_verifications_total{outcome="ok"} 2"#));
        assert!(text.contains(r#"gantry_token_verifications_total{outcome="unknown"} 0"#));
        assert!(text.contains(r#"gantry_token_verifications_total{outcome="revoked"} 1"#));
        assert!(text.contains(
            r#"gantry_http_requests_total{method="GET",route="/v1/apps/{app}",status="200"} 1"#
        ));
        assert!(text.contains(r#"gantry_tokens{kind="deploy",status="active"} 3"#));
        assert!(text.contains("gantry_tokens_expiring_within_7d 1"));
        assert!(text.contains("gantry_pending_last_used_writes 5"));
        assert!(text.contains(r#"gantry_rate_limited_requests_total{scope="auth_ip"} 1"#));
    }
}
