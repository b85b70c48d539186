//! OIDC issuers' signing keys for token exchange (DESIGN §8): discovery
//! (`{issuer}/.well-known/openid-configuration`), then its `jwks_uri`, each over HTTPS with a
//! 10 s limit, at most 256 KiB read, no redirects and no proxy, to addresses that pass the
//! outbound rules of §7 (an issuer listed in `oidc.allow_insecure_issuers` is the operator's
//! own and may be plain http on any address). Key sets are cached for an hour; a token naming
//! an unknown key refetches at most once a minute per issuer, whatever it names, so a flood of
//! made-up key ids costs one fetch a minute.
//!
//! Only issuers that some trust policy names are ever fetched: the exchange looks for a
//! policy first.

use crate::fetch::{KeyFetcher, Reach};
use gantry_core::outbound::AllowNetworks;
use gantry_core::service::IssuerKeys;
use gantry_core::time::{Clock, Timestamp};
use jsonwebtoken::jwk::JwkSet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::fetch::FETCH_TIMEOUT;
/// The most of a discovery document or key set read.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// How long a fetched key set is used without asking again.
pub const KEYS_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches of one issuer's keys.
pub const REFETCH_EVERY: Duration = Duration::from_secs(60);
/// Most issuers cached at once (each one a trust policy names).
const MAX_ISSUERS: usize = 1_000;

struct Entry {
    keys: Option<Arc<JwkSet>>,
    fetched: Timestamp,
}

/// The keys of the issuers trust policies name, fetched on demand and cached.
pub struct IssuerKeyCache {
    fetcher: KeyFetcher,
    insecure: Vec<String>,
    cache: Mutex<HashMap<String, Entry>>,
    /// Serialises fetches, so concurrent exchanges wait for one fetch instead of each making
    /// their own.
    fetching: tokio::sync::Mutex<()>,
    /// gantry's clock (tests move it past the refetch interval).
    clock: Arc<dyn Clock>,
}

impl IssuerKeyCache {
    pub fn new(
        allow: AllowNetworks,
        insecure: Vec<String>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<IssuerKeyCache> {
        Ok(IssuerKeyCache {
            fetcher: KeyFetcher::new(allow, concat!("gantry-oidc/", env!("CARGO_PKG_VERSION")))?,
            insecure,
            cache: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
            clock,
        })
    }

    fn cached(&self, issuer: &str, refresh: bool) -> Result<Option<Arc<JwkSet>>, String> {
        let cache = self
            .cache
            .lock()
            .map_err(|_| "key cache poisoned".to_owned())?;
        let Some(e) = cache.get(issuer) else {
            return Ok(None);
        };
        let age = self.age(e.fetched);
        match &e.keys {
            // Fresh enough, and either no refresh is asked for or one happened a moment ago.
            Some(k) if age < KEYS_TTL && (!refresh || age < REFETCH_EVERY) => Ok(Some(k.clone())),
            // A failed fetch is not retried within the minute.
            None if age < REFETCH_EVERY => Err("the issuer's keys could not be fetched".into()),
            _ => Ok(None),
        }
    }

    fn age(&self, since: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.clock.now().0 - since.0).unwrap_or(0))
    }

    async fn fetch(&self, issuer: &str) -> Result<JwkSet, String> {
        let insecure = self.insecure.iter().any(|i| i == issuer);
        let reach = if insecure {
            Reach::Open
        } else {
            Reach::Checked
        };
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let discovery: serde_json::Value = self
            .fetcher
            .get_json(&discovery_url, MAX_DOCUMENT_BYTES, reach)
            .await?;
        if discovery.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
            return Err("the discovery document names another issuer".into());
        }
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or("the discovery document has no jwks_uri")?;
        let parsed = url::Url::parse(jwks_uri).map_err(|_| "jwks_uri is not a URL")?;
        if parsed.scheme() != "https" && !insecure {
            return Err("jwks_uri is not https".into());
        }
        let set: JwkSet = self
            .fetcher
            .get_json(jwks_uri, MAX_DOCUMENT_BYTES, reach)
            .await?;
        Ok(set)
    }
}

#[async_trait::async_trait]
impl IssuerKeys for IssuerKeyCache {
    async fn keys(&self, issuer: &str, refresh: bool) -> Result<Arc<JwkSet>, String> {
        if let Some(k) = self.cached(issuer, refresh)? {
            return Ok(k);
        }
        let _one = self.fetching.lock().await;
        // Another exchange may have fetched while this one waited.
        if let Some(k) = self.cached(issuer, refresh)? {
            return Ok(k);
        }
        let fetched = self.fetch(issuer).await;
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| "key cache poisoned".to_owned())?;
        if cache.len() >= MAX_ISSUERS && !cache.contains_key(issuer) {
            let now = self.clock.now();
            cache.retain(|_, e| now.0 - e.fetched.0 < KEYS_TTL.as_millis() as i64);
        }
        let keys = fetched.as_ref().ok().map(|s| Arc::new(s.clone()));
        cache.insert(
            issuer.to_owned(),
            Entry {
                keys: keys.clone(),
                fetched: self.clock.now(),
            },
        );
        match (keys, fetched) {
            (Some(k), _) => Ok(k),
            (None, Err(e)) => {
                tracing::warn!(issuer, error = %e, "could not fetch an OIDC issuer's keys");
                Err(e)
            }
            (None, Ok(_)) => Err("no keys".into()),
        }
    }
}
