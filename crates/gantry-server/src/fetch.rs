//! Outbound fetches of key documents — OIDC discovery and key sets (DESIGN §8), GitHub's
//! secret scanning keys (§9): a GET of a JSON document with a 10 s limit on the whole try, at
//! most a given size read, no redirects and no proxy, to addresses that pass the outbound
//! rules of §7. A host name is checked when it resolves ([`CheckedResolver`]), a literal
//! address before anything is sent; `https://` may go to any address the rules allow,
//! `http://` only to hosts inside `alerts.allow_networks`. A document the operator named as
//! their own (an issuer in `oidc.allow_insecure_issuers`) may be fetched from anywhere.

use crate::dispatch::CheckedResolver;
use gantry_core::outbound::{self, AllowNetworks};
use std::sync::Arc;
use std::time::Duration;

/// How long one fetch may take, all told.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Whose rules a fetch follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The outbound rules of DESIGN §7.
    Checked,
    /// Anywhere: a document the operator listed as their own.
    Open,
}

/// The HTTP clients key documents are fetched with.
pub struct KeyFetcher {
    https: reqwest::Client,
    http: reqwest::Client,
    open: reqwest::Client,
    allow: AllowNetworks,
}

impl KeyFetcher {
    pub fn new(allow: AllowNetworks, user_agent: &str) -> anyhow::Result<KeyFetcher> {
        let base = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(FETCH_TIMEOUT)
                .connect_timeout(FETCH_TIMEOUT)
                .user_agent(user_agent)
        };
        let checked = |plain_http: bool| {
            base().dns_resolver(Arc::new(CheckedResolver {
                allow: allow.clone(),
                plain_http,
            }))
        };
        Ok(KeyFetcher {
            https: checked(false).https_only(true).build()?,
            http: checked(true).build()?,
            open: base().build()?,
            allow,
        })
    }

    /// GETs `url` as JSON, reading at most `max_bytes`. The error says why, for the log and
    /// the operator (never sent to whoever caused the fetch).
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        max_bytes: usize,
        reach: Reach,
    ) -> Result<T, String> {
        let parsed = url::Url::parse(url).map_err(|_| format!("{url} is not a URL"))?;
        let client = match (reach, parsed.scheme()) {
            (Reach::Open, _) => &self.open,
            (Reach::Checked, scheme @ ("https" | "http")) => {
                let plain_http = scheme == "http";
                if let Some(ip) = outbound::literal_host(&parsed) {
                    if let Some(why) = outbound::refusal(ip, &self.allow, plain_http) {
                        return Err(format!("refused: {why}"));
                    }
                }
                if plain_http {
                    &self.http
                } else {
                    &self.https
                }
            }
            (Reach::Checked, _) => return Err(format!("{url} is not an https:// URL")),
        };
        let mut response = client
            .get(parsed)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(describe)?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(format!("larger than {} KiB", max_bytes / 1024));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| "not the JSON expected".to_owned())
    }
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", FETCH_TIMEOUT.as_secs());
    }
    let mut why = if e.is_body() || e.is_decode() {
        "the answer broke off".to_owned()
    } else {
        "could not connect".to_owned()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        why = format!("{why}: {cause}");
        source = cause.source();
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher(allow: &str) -> KeyFetcher {
        let nets = allow.split(',').filter(|n| !n.is_empty());
        let allow = AllowNetworks(nets.map(|n| n.parse().unwrap()).collect());
        KeyFetcher::new(allow, "gantry-test").unwrap()
    }

    #[tokio::test]
    async fn a_literal_internal_address_is_refused_before_any_connection() {
        // Nothing listens on these: a refusal that names the rule was never a connection.
        let f = fetcher("");
        for url in [
            "https://127.0.0.1:9/keys",
            "https://10.0.0.1:9/keys",
            "https://[::1]:9/keys",
            "https://[::ffff:169.254.169.254]:9/keys",
            "http://192.168.1.1:9/keys",
        ] {
            let e = f
                .get_json::<serde_json::Value>(url, 1024, Reach::Checked)
                .await
                .unwrap_err();
            assert!(e.starts_with("refused: "), "{url}: {e}");
        }
        let e = f
            .get_json::<serde_json::Value>("ftp://example.com/k", 1024, Reach::Checked)
            .await
            .unwrap_err();
        assert!(e.contains("not an https:// URL"), "{e}");
    }

    #[tokio::test]
    async fn plain_http_reaches_only_networks_the_operator_allowed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/keys",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = format!("http://{addr}/keys");
        let allowed = fetcher("127.0.0.0/8")
            .get_json::<serde_json::Value>(&url, 1024, Reach::Checked)
            .await
            .unwrap();
        assert_eq!(allowed["ok"], true);
        let e = fetcher("10.0.0.0/8")
            .get_json::<serde_json::Value>(&url, 1024, Reach::Checked)
            .await
            .unwrap_err();
        assert!(e.starts_with("refused: "), "{e}");
        // A name that resolves to loopback is refused by the resolver, as a webhook's is.
        let e = fetcher("")
            .get_json::<serde_json::Value>(
                &format!("https://localhost:{}/keys", addr.port()),
                1024,
                Reach::Checked,
            )
            .await
            .unwrap_err();
        assert!(e.contains("refused"), "{e}");
        let e = fetcher("127.0.0.0/8")
            .get_json::<serde_json::Value>(&url, 4, Reach::Checked)
            .await
            .unwrap_err();
        assert!(e.contains("larger than"), "{e}");
    }
}
