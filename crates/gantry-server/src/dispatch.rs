//! Each node's event dispatcher (DESIGN §7): it claims due deliveries from the outbox (on
//! PostgreSQL, rows another node is claiming are skipped, so each delivery is tried by one node
//! at a time), tries each in a task of its own — a signed webhook or a mail — and records how
//! it ended; the service decides what comes next (delivered, tried again later, failed, the
//! rule disabled). A node that dies mid-try leaves a claim that runs out; the delivery is then
//! claimed again, so a crash delays a delivery and never loses it.
//!
//! Outbound safety: a webhook's host is resolved at delivery time by [`CheckedResolver`],
//! every address is checked ([`gantry_core::outbound`]) and the connection goes to the checked
//! addresses; literal addresses are checked before the request. No proxy, no redirects, a
//! 10 s limit on the whole try, at most 64 KiB of the answer read.

use crate::mail::Mailer;
use gantry_core::events::{ClaimedDelivery, TryResult};
use gantry_core::outbound::{self, AllowNetworks};
use gantry_core::webhooks;
use gantry_core::Gantry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// How long one webhook try may take, all told.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a receiver's answer is read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The dispatcher's pace and bounds.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// How often the outbox is looked at.
    pub poll: Duration,
    /// How often tokens are looked at for expiry thresholds.
    pub expiry_scan: Duration,
    /// How often what `alerts.retention` no longer keeps is deleted.
    pub prune: Duration,
    /// Tries in flight on this node.
    pub max_in_flight: usize,
    /// Tries in flight for one rule, across every node: a slow receiver holds at most these.
    pub per_rule: i64,
    /// How long a claim holds before another node may take the delivery: three times the
    /// longest a try may take (webhook and mail alike are cut off at 10 s), so a live node's
    /// claim never runs out under it, and a dead node's delivery waits at most this long.
    pub lease: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            poll: Duration::from_secs(1),
            expiry_scan: Duration::from_secs(30),
            prune: Duration::from_secs(3600),
            max_in_flight: 64,
            per_rule: 4,
            lease: 3 * WEBHOOK_TIMEOUT,
        }
    }
}

/// What a try needs beyond the service.
pub struct Channels {
    https: reqwest::Client,
    http: reqwest::Client,
    allow: AllowNetworks,
    mailer: Option<Mailer>,
    public_url: String,
}

impl Channels {
    pub fn new(
        allow: AllowNetworks,
        mailer: Option<Mailer>,
        public_url: String,
    ) -> anyhow::Result<Channels> {
        let client = |plain_http: bool| {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(CheckedResolver {
                    allow: allow.clone(),
                    plain_http,
                }))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(WEBHOOK_TIMEOUT)
                .connect_timeout(WEBHOOK_TIMEOUT)
                .pool_max_idle_per_host(4)
                .user_agent(concat!("gantry-webhooks/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Ok(Channels {
            https: client(false)?,
            http: client(true)?,
            allow,
            mailer,
            public_url,
        })
    }

    /// One try of one delivery.
    pub async fn try_delivery(&self, gantry: &Gantry, d: &ClaimedDelivery) -> TryResult {
        if let Some(list) = d.target.strip_prefix("mailto:") {
            return self.try_mail(d, list).await;
        }
        let secrets = match gantry.signing_secrets(d) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(delivery = %d.id, error = %e, "cannot sign a webhook");
                return failed(None, "cannot sign: the rule's secret is missing or does not open with this node's secrets.key (every node needs the same key; rotate-secret gives a new secret)");
            }
        };
        let url = match url::Url::parse(&d.target) {
            Ok(u) => u,
            Err(_) => return failed(None, "the target is not a URL"),
        };
        let plain_http = url.scheme() == "http";
        if let Some(ip) = outbound::literal_host(&url) {
            if let Some(why) = outbound::refusal(ip, &self.allow, plain_http) {
                return failed(None, &format!("refused: {why}"));
            }
        }
        let timestamp = gantry.now().0.div_euclid(1000);
        let body = webhooks::body(&d.event_type, d.event_at, &d.data);
        let signing: Vec<&webhooks::WebhookSecret> = secrets.iter().collect();
        let signature = webhooks::signature_header(&signing, &d.event_id, timestamp, &body);
        let client = if plain_http { &self.http } else { &self.https };
        let sent = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &d.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => return failed(None, &describe(e)),
        };
        let status = response.status();
        // Read a bounded part of the answer, for the log; the rest is never read.
        let mut snippet = Vec::new();
        let mut read = 0usize;
        while read < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    let room = 200usize.saturating_sub(snippet.len());
                    snippet.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        if status.is_success() {
            TryResult::Delivered {
                status: status.as_u16(),
            }
        } else if status == reqwest::StatusCode::GONE {
            TryResult::Gone
        } else {
            let text: String = String::from_utf8_lossy(&snippet)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let why = if status.is_redirection() {
                format!("HTTP {} (redirects are not followed)", status.as_u16())
            } else if text.trim().is_empty() {
                format!("HTTP {}", status.as_u16())
            } else {
                format!("HTTP {}: {}", status.as_u16(), text.trim())
            };
            failed(Some(status.as_u16()), &why)
        }
    }

    async fn try_mail(&self, d: &ClaimedDelivery, list: &str) -> TryResult {
        let Some(mailer) = &self.mailer else {
            return failed(None, "no mail server is configured (smtp.url)");
        };
        let to: Vec<String> = list.split(',').map(str::to_owned).collect();
        let (subject, body) = crate::mail::compose(&d.event_type, &d.data, &self.public_url);
        match mailer.send(&to, &subject, body).await {
            Ok(()) => TryResult::Delivered { status: 250 },
            Err(e) => failed(None, &e),
        }
    }
}

fn failed(status: Option<u16>, error: &str) -> TryResult {
    TryResult::Failed {
        status,
        error: error.to_owned(),
    }
}

/// A transport error in words, without the URL (it may carry credentials in its query, and
/// viewers read the deliveries log), with its causes (the resolver's refusal among them).
fn describe(e: reqwest::Error) -> String {
    let head = if e.is_timeout() {
        format!("no answer within {} s", WEBHOOK_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let e = e.without_url();
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = cause.source();
    }
    if causes.is_empty() {
        head
    } else {
        format!("{head}: {}", causes.join(": "))
    }
}

/// Resolves a webhook's host and lets the connection go only to addresses that pass
/// [`outbound::refusal`], every one of them (a name with one internal address among public
/// ones is refused whole: which one a connection would use is not ours to guess).
pub(crate) struct CheckedResolver {
    pub(crate) allow: AllowNetworks,
    pub(crate) plain_http: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let plain_http = self.plain_http;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no address").into());
            }
            for a in &addrs {
                if let Some(why) = outbound::refusal(a.ip(), &allow, plain_http) {
                    return Err(format!("refused: {host} resolves to {why}").into());
                }
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Runs the dispatcher until `stopped`: polls the outbox, looks for expiry thresholds, and
/// forgets what `alerts.retention` no longer keeps.
pub fn spawn(
    gantry: Arc<Gantry>,
    channels: Arc<Channels>,
    config: DispatchConfig,
    mut stopped: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
        // A finished try makes room (in this node and in its rule's share): look again at once
        // rather than at the next tick, so a rule's queue drains at the receiver's pace.
        let finished = Arc::new(tokio::sync::Notify::new());
        let mut poll = tokio::time::interval(config.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut scan = tokio::time::interval(config.expiry_scan);
        scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(config.prune);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = poll.tick() => {}
                _ = finished.notified() => {}
                _ = scan.tick() => {
                    if let Err(e) = gantry.fire_expiry_events().await {
                        tracing::warn!(error = %e, "could not look for expiring tokens; will retry");
                    }
                    continue;
                }
                _ = prune.tick() => {
                    match gantry.prune_events().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(rows = n, "forgot deliveries and events past alerts.retention"),
                        Err(e) => tracing::warn!(error = %e, "could not prune old deliveries; will retry"),
                    }
                    continue;
                }
                _ = stopped.changed() => break,
            }
            let free = in_flight.available_permits();
            if free == 0 {
                continue;
            }
            let limit = i64::try_from(free).unwrap_or(i64::MAX);
            let claimed = match gantry
                .claim_deliveries(config.per_rule, limit, config.lease)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim deliveries; will retry");
                    continue;
                }
            };
            for d in claimed {
                let Ok(permit) = in_flight.clone().acquire_owned().await else {
                    break;
                };
                let gantry = gantry.clone();
                let channels = channels.clone();
                let finished = finished.clone();
                tokio::spawn(async move {
                    let result = channels.try_delivery(&gantry, &d).await;
                    match gantry.finish_try(&d, &result).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(delivery = %d.id, "a delivery's claim ran out before its try ended; it will be tried again")
                        }
                        Err(e) => {
                            tracing::warn!(delivery = %d.id, error = %e, "could not record a delivery's try; it will be tried again")
                        }
                    }
                    drop(permit);
                    finished.notify_one();
                });
            }
        }
    })
}
