//! `CachedStore`: the hot in-memory index in front of any `Store`.
//!
//! Verifying a request needs the token (by SHA-256), for personal tokens the user, the caller's
//! membership role, and the app or org the route names. On a warm node all of these come from
//! bounded in-memory caches (quick_cache), so a verified request does no database read and no write
//! (last use is coalesced in memory by `UsageTracker`). Unknown tokens and slugs are cached too
//! (as `None`), so a flood of well-formed unknown tokens does not reach the database either.
//!
//! Coherence on this node: every write that can change what a cached entry says goes through
//! this decorator, and the inner store returns the keys it made stale ([`Written`]), computed
//! inside the write's own transaction; the decorator drops exactly those, through the same
//! [`CachedStore::apply`] that applies other nodes' writes. It never reads before a write to
//! learn what to forget (a write committing in between would be missed). A write whose outcome
//! is unknown (an internal error: the commit may have happened) clears everything. Token status
//! (expired, grace period over) is computed at read time from the cached record, so time
//! needs no invalidation. A read that raced a write is not allowed to re-insert what it read:
//! a generation counter, bumped by every invalidation, is checked before and after the insert.
//! Coherence across nodes (PostgreSQL): other nodes' writes arrive through [`CachedStore::apply`]
//! from `crate::coherence`, and a [`Gate`] says whether the caches may be used at all; while it
//! is closed every read goes to the database and nothing is cached. A time-to-live (off by
//! default) additionally bounds the age of any entry.

use crate::coherence::Gate;
use crate::sql::Key;
use async_trait::async_trait;
use gantry_api::Role;
use gantry_core::events::DeliveryRecord;
use gantry_core::metrics::Metrics;
use gantry_core::model::*;
use gantry_core::store::*;
use gantry_core::time::Timestamp;
use gantry_core::token::TokenHash;
use gantry_core::{CoreError, CoreResult};
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Cache sizes and staleness bound.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most token lookups (known and unknown hashes) kept in memory.
    pub tokens: u64,
    /// Most users, memberships, apps and orgs kept, each.
    pub directory: u64,
    /// Entries older than this are re-read (None: only invalidation expires them).
    pub ttl: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            tokens: 250_000,
            directory: 100_000,
            ttl: None,
        }
    }
}

/// A `Store` with the hot reads cached.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    /// Where the time spent in `inner` (the database) is recorded.
    metrics: Arc<Metrics>,
    /// None: a single node, always coherent.
    gate: Option<Arc<Gate>>,
    generation: AtomicU64,
    tokens: Cache<TokenHash, Option<Arc<TokenRecord>>>,
    /// Rotated-away values by hash (reuse detection reads it on the unknown-token path only).
    retired: Cache<TokenHash, Option<Arc<RetiredValue>>>,
    users: Cache<UserId, Option<Arc<UserRecord>>>,
    members: Cache<(OrgId, UserId), Option<Role>>,
    apps_by_slug: Cache<Slug, Option<Arc<AppRecord>>>,
    apps_by_id: Cache<AppId, Option<Arc<AppRecord>>>,
    orgs_by_slug: Cache<Slug, Option<Arc<OrgRecord>>>,
    orgs_by_id: Cache<OrgId, Option<Arc<OrgRecord>>>,
}

/// A bounded concurrent map (quick_cache: S3-FIFO eviction, lock-striped), with an optional
/// time-to-live checked on read.
struct Cache<K, V> {
    map: quick_cache::sync::Cache<K, Stamped<V>>,
    ttl: Option<Duration>,
}

#[derive(Clone)]
struct Stamped<V> {
    value: V,
    /// Set only when a time-to-live is configured (no clock read otherwise).
    at: Option<Instant>,
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone,
    V: Clone,
{
    fn new(capacity: u64, ttl: Option<Duration>) -> Cache<K, V> {
        Cache {
            map: quick_cache::sync::Cache::new(usize::try_from(capacity).unwrap_or(usize::MAX)),
            ttl,
        }
    }

    fn get<Q: Hash + quick_cache::Equivalent<K> + ?Sized>(&self, key: &Q) -> Option<V> {
        let hit = self.map.get(key)?;
        match (self.ttl, hit.at) {
            (Some(ttl), Some(at)) if at.elapsed() > ttl => None,
            _ => Some(hit.value),
        }
    }

    fn insert(&self, key: K, value: V) {
        let at = self.ttl.map(|_| Instant::now());
        self.map.insert(key, Stamped { value, at });
    }

    fn invalidate<Q: Hash + quick_cache::Equivalent<K> + ?Sized>(&self, key: &Q) {
        self.map.remove(key);
    }

    fn invalidate_all(&self) {
        self.map.clear();
    }
}

impl CachedStore {
    /// Wraps `inner`, the only writer to its database.
    pub fn new(inner: Arc<dyn Store>, config: &CacheConfig, metrics: Arc<Metrics>) -> CachedStore {
        Self::gated(inner, config, metrics, None)
    }

    /// Wraps `inner`, one of several nodes on its database: the caches are used only while
    /// `gate` is open.
    pub fn gated(
        inner: Arc<dyn Store>,
        config: &CacheConfig,
        metrics: Arc<Metrics>,
        gate: Option<Arc<Gate>>,
    ) -> CachedStore {
        let d = config.directory;
        CachedStore {
            inner,
            metrics,
            gate,
            generation: AtomicU64::new(0),
            tokens: Cache::new(config.tokens, config.ttl),
            // Read only for values unknown as current ones: a tenth of the token index.
            retired: Cache::new((config.tokens / 10).max(1_000), config.ttl),
            users: Cache::new(d, config.ttl),
            members: Cache::new(d, config.ttl),
            apps_by_slug: Cache::new(d, config.ttl),
            apps_by_id: Cache::new(d, config.ttl),
            orgs_by_slug: Cache::new(d, config.ttl),
            orgs_by_id: Cache::new(d, config.ttl),
        }
    }

    /// Reads through `cache`: a hit is returned; a miss is fetched and inserted unless an
    /// invalidation happened meanwhile.
    async fn through<K, Q, V, F>(
        &self,
        cache: &Cache<K, V>,
        key: &Q,
        owned: impl FnOnce() -> K,
        fetch: F,
    ) -> CoreResult<V>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
        V: Clone + Send + Sync + 'static,
        F: Future<Output = CoreResult<V>>,
    {
        if !self.trusted() {
            return fetch.await;
        }
        // The lookup borrows the key: a hit allocates nothing.
        if let Some(v) = cache.get(key) {
            return Ok(v);
        }
        let before = self.generation.load(Ordering::SeqCst);
        let value = fetch.await?;
        if self.generation.load(Ordering::SeqCst) == before {
            let key = owned();
            cache.insert(key.clone(), value.clone());
            // An invalidation between the check and the insert would be lost: undo.
            if self.generation.load(Ordering::SeqCst) != before {
                cache.invalidate(&key);
            }
        }
        Ok(value)
    }

    /// [`CachedStore::through`] for a record `fetch` (the inner store's `operation`) answers
    /// owned: cached behind an `Arc`, answered as a copy.
    async fn record_through<K, R>(
        &self,
        cache: &Cache<K, Option<Arc<R>>>,
        key: &K,
        operation: &'static str,
        fetch: impl Future<Output = CoreResult<Option<R>>>,
    ) -> CoreResult<Option<R>>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        R: Clone + Send + Sync + 'static,
    {
        let found = self
            .through(cache, key, || key.clone(), async {
                Ok(self.timed(operation, fetch).await?.map(Arc::new))
            })
            .await?;
        Ok(found.map(|r| (*r).clone()))
    }

    /// Whether the caches may answer: always on the only node, while the gate is open on one
    /// of several.
    fn trusted(&self) -> bool {
        self.gate.as_ref().is_none_or(|g| g.trusted())
    }

    /// A hit in `cache`, while the caches may be trusted (the `peek_*` reads).
    fn peek<K, Q, V>(&self, cache: &Cache<K, V>, key: &Q) -> Option<V>
    where
        K: Hash + Eq + Clone,
        Q: Hash + quick_cache::Equivalent<K> + ?Sized,
        V: Clone,
    {
        if !self.trusted() {
            return None;
        }
        cache.get(key)
    }

    /// Whether `token`, found under `hash`, answers for it at `now`: under its current hash
    /// always; under its pre-rotation hash only within the grace period. Returns whether it
    /// matched the previous hash.
    fn matches(token: &TokenRecord, hash: &TokenHash, now: Timestamp) -> Option<bool> {
        if token.hash == *hash {
            return Some(false);
        }
        let in_grace = token.prev_hash.as_ref() == Some(hash)
            && token.prev_expires_at.is_some_and(|end| end > now);
        in_grace.then_some(true)
    }

    /// Runs one call to the database, recording how long it took.
    async fn timed<T>(&self, operation: &'static str, call: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let r = call.await;
        self.metrics.store_operation(operation, start.elapsed());
        r
    }

    /// Marks that something changed; call after the write committed, then invalidate keys.
    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Runs one write and drops what it changed: exactly the keys it returned when it
    /// succeeded; everything when its outcome is unknown; nothing when it was refused.
    async fn write<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = CoreResult<Written<T>>>,
    ) -> CoreResult<Written<T>> {
        let r = self.timed(operation, call).await;
        match &r {
            Ok(w) => self.apply(&w.changed),
            Err(CoreError::Internal(_)) => self.clear(),
            Err(_) => {}
        }
        r
    }

    /// Drops what a write changed (this node's, or another node's from the coherence log).
    pub(crate) fn apply(&self, keys: &[Key]) {
        self.bump();
        for key in keys {
            match key {
                Key::Token(hash) => {
                    self.tokens.invalidate(hash);
                    self.retired.invalidate(hash);
                }
                Key::AllTokens => {
                    self.tokens.invalidate_all();
                    self.retired.invalidate_all();
                }
                Key::User(id) => self.users.invalidate(id),
                Key::Member(org, user) => self.members.invalidate(&(org.clone(), user.clone())),
                Key::App(id, slug) => {
                    self.apps_by_id.invalidate(id);
                    self.apps_by_slug.invalidate(slug);
                }
                Key::Org(id, slug) => {
                    self.orgs_by_id.invalidate(id);
                    self.orgs_by_slug.invalidate(slug);
                }
            }
        }
    }

    /// Drops everything.
    pub(crate) fn clear(&self) {
        self.bump();
        self.tokens.invalidate_all();
        self.retired.invalidate_all();
        self.users.invalidate_all();
        self.members.invalidate_all();
        self.apps_by_slug.invalidate_all();
        self.apps_by_id.invalidate_all();
        self.orgs_by_slug.invalidate_all();
        self.orgs_by_id.invalidate_all();
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn ping(&self) -> CoreResult<()> {
        self.inner.ping().await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}

#[async_trait]
impl UserStore for CachedStore {
    async fn count_users(&self) -> CoreResult<i64> {
        self.timed("count_users", self.inner.count_users()).await
    }

    async fn insert_user(&self, user: &UserRecord, audit: &AuditRecord) -> CoreResult<Written> {
        self.write("insert_user", self.inner.insert_user(user, audit))
            .await
    }

    async fn get_user(&self, id: &UserId) -> CoreResult<Option<UserRecord>> {
        self.record_through(&self.users, id, "get_user", self.inner.get_user(id))
            .await
    }

    async fn get_user_by_email(&self, email: &str) -> CoreResult<Option<UserRecord>> {
        self.timed("get_user_by_email", self.inner.get_user_by_email(email))
            .await
    }

    async fn list_users(&self, limit: i64, offset: i64) -> CoreResult<Vec<UserRecord>> {
        self.timed("list_users", self.inner.list_users(limit, offset))
            .await
    }

    async fn update_user(
        &self,
        id: &UserId,
        patch: &UserPatch,
        audit: &AuditRecord,
    ) -> CoreResult<Written<UserRecord>> {
        self.write("update_user", self.inner.update_user(id, patch, audit))
            .await
    }
}

#[async_trait]
impl OrgStore for CachedStore {
    async fn insert_org(
        &self,
        org: &OrgRecord,
        owner_id: &UserId,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        self.write("insert_org", self.inner.insert_org(org, owner_id, audit))
            .await
    }

    async fn get_org_by_slug(&self, slug: &Slug) -> CoreResult<Option<OrgRecord>> {
        self.record_through(
            &self.orgs_by_slug,
            slug,
            "get_org_by_slug",
            self.inner.get_org_by_slug(slug),
        )
        .await
    }

    async fn set_org_policy(
        &self,
        org: &OrgRecord,
        policy: &OrgPolicy,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>> {
        self.write(
            "set_org_policy",
            self.inner.set_org_policy(org, policy, audit),
        )
        .await
    }

    async fn get_org(&self, id: &OrgId) -> CoreResult<Option<OrgRecord>> {
        self.record_through(&self.orgs_by_id, id, "get_org", self.inner.get_org(id))
            .await
    }

    async fn list_orgs(
        &self,
        user_id: Option<&UserId>,
    ) -> CoreResult<Vec<(OrgRecord, Option<Role>)>> {
        self.timed("list_orgs", self.inner.list_orgs(user_id)).await
    }

    async fn get_member_role(&self, org_id: &OrgId, user_id: &UserId) -> CoreResult<Option<Role>> {
        self.through(
            &self.members,
            &(org_id.to_owned(), user_id.to_owned()),
            || (org_id.to_owned(), user_id.to_owned()),
            async {
                self.timed(
                    "get_member_role",
                    self.inner.get_member_role(org_id, user_id),
                )
                .await
            },
        )
        .await
    }

    async fn list_members(&self, org_id: &OrgId) -> CoreResult<Vec<MemberRecord>> {
        self.timed("list_members", self.inner.list_members(org_id))
            .await
    }

    async fn put_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: Role,
        ceiling: Role,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written<Option<Role>>> {
        self.write(
            "put_member",
            self.inner
                .put_member(org_id, user_id, role, ceiling, at, audit),
        )
        .await
    }

    async fn delete_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        ceiling: Option<Role>,
        audit: &AuditRecord,
    ) -> CoreResult<Written<Option<Role>>> {
        self.write(
            "delete_member",
            self.inner.delete_member(org_id, user_id, ceiling, audit),
        )
        .await
    }
}

#[async_trait]
impl AppStore for CachedStore {
    async fn insert_app(
        &self,
        app: &AppRecord,
        reservation: Duration,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        self.write("insert_app", self.inner.insert_app(app, reservation, audit))
            .await
    }

    async fn get_app_by_slug(&self, slug: &Slug) -> CoreResult<Option<Arc<AppRecord>>> {
        self.through(&self.apps_by_slug, slug, || slug.to_owned(), async {
            self.timed("get_app_by_slug", self.inner.get_app_by_slug(slug))
                .await
        })
        .await
    }

    fn peek_app_by_slug(&self, slug: &Slug) -> Option<Option<Arc<AppRecord>>> {
        self.peek(&self.apps_by_slug, slug)
    }

    async fn get_app(&self, id: &AppId) -> CoreResult<Option<Arc<AppRecord>>> {
        self.through(&self.apps_by_id, id, || id.to_owned(), async {
            self.timed("get_app", self.inner.get_app(id)).await
        })
        .await
    }

    async fn list_apps(&self, org_id: &OrgId) -> CoreResult<Vec<AppRecord>> {
        self.timed("list_apps", self.inner.list_apps(org_id)).await
    }

    async fn delete_app(
        &self,
        app_id: &AppId,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        self.write("delete_app", self.inner.delete_app(app_id, at, audit))
            .await
    }
}

#[async_trait]
impl ReleaseStore for CachedStore {
    async fn insert_release(
        &self,
        release: &NewRelease,
        audit: &AuditRecord,
    ) -> CoreResult<(ReleaseRecord, bool)> {
        self.timed("insert_release", self.inner.insert_release(release, audit))
            .await
    }

    async fn list_releases(&self, app_id: &AppId, limit: i64) -> CoreResult<Vec<ReleaseRecord>> {
        self.timed("list_releases", self.inner.list_releases(app_id, limit))
            .await
    }

    async fn get_release(&self, app_id: &AppId, version: i64) -> CoreResult<Option<ReleaseRecord>> {
        self.timed("get_release", self.inner.get_release(app_id, version))
            .await
    }

    async fn artifact_in_use(&self, sha256: &str) -> CoreResult<bool> {
        self.timed("artifact_in_use", self.inner.artifact_in_use(sha256))
            .await
    }
}

#[async_trait]
impl EnvConfigStore for CachedStore {
    async fn list_env(&self, app_id: &AppId) -> CoreResult<Vec<EnvVarRecord>> {
        self.timed("list_env", self.inner.list_env(app_id)).await
    }

    async fn put_env(
        &self,
        var: &EnvVarRecord,
        max_vars: i64,
        audit: &AuditRecord,
    ) -> CoreResult<()> {
        self.timed("put_env", self.inner.put_env(var, max_vars, audit))
            .await
    }

    async fn secret_env_vars(&self) -> CoreResult<Vec<EnvVarRecord>> {
        self.timed("secret_env_vars", self.inner.secret_env_vars())
            .await
    }

    async fn reseal_env(
        &self,
        app_id: &AppId,
        key: &str,
        old: &str,
        new: &str,
    ) -> CoreResult<bool> {
        self.timed("reseal_env", self.inner.reseal_env(app_id, key, old, new))
            .await
    }

    async fn delete_env(&self, app_id: &AppId, key: &str, audit: &AuditRecord) -> CoreResult<bool> {
        self.timed("delete_env", self.inner.delete_env(app_id, key, audit))
            .await
    }

    async fn key_check(&self) -> CoreResult<Option<String>> {
        self.timed("key_check", self.inner.key_check()).await
    }

    async fn put_key_check(&self, old: Option<&str>, new: &str) -> CoreResult<bool> {
        self.timed("put_key_check", self.inner.put_key_check(old, new))
            .await
    }

    async fn get_config(
        &self,
        app_id: &AppId,
        version: Option<i64>,
    ) -> CoreResult<Option<ConfigRecord>> {
        self.timed("get_config", self.inner.get_config(app_id, version))
            .await
    }

    async fn put_config(
        &self,
        app_id: &AppId,
        document: &str,
        by: &ActorRef,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<ConfigRecord> {
        self.timed(
            "put_config",
            self.inner.put_config(app_id, document, by, at, audit),
        )
        .await
    }
}

#[async_trait]
impl AlertStore for CachedStore {
    async fn insert_alert(
        &self,
        alert: &AlertRecord,
        sealed_secret: Option<&str>,
        audit: &AuditRecord,
    ) -> CoreResult<()> {
        self.timed(
            "insert_alert",
            self.inner.insert_alert(alert, sealed_secret, audit),
        )
        .await
    }

    async fn list_alerts(&self, org_id: &OrgId) -> CoreResult<Vec<AlertRecord>> {
        self.timed("list_alerts", self.inner.list_alerts(org_id))
            .await
    }

    async fn delete_alert(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        self.timed("delete_alert", self.inner.delete_alert(org_id, id, audit))
            .await
    }

    async fn list_deliveries(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        limit: i64,
    ) -> CoreResult<Option<Vec<DeliveryRecord>>> {
        self.timed(
            "list_deliveries",
            self.inner.list_deliveries(org_id, id, limit),
        )
        .await
    }

    async fn get_alert(&self, org_id: &OrgId, id: &AlertId) -> CoreResult<Option<AlertRecord>> {
        self.timed("get_alert", self.inner.get_alert(org_id, id))
            .await
    }

    async fn set_alert_enabled(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        enabled: bool,
        audit: &AuditRecord,
    ) -> CoreResult<Option<AlertRecord>> {
        self.timed(
            "set_alert_enabled",
            self.inner.set_alert_enabled(org_id, id, enabled, audit),
        )
        .await
    }

    async fn rotate_alert_secret(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        sealed_secret: &str,
        previous_until: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        self.timed(
            "rotate_alert_secret",
            self.inner
                .rotate_alert_secret(org_id, id, sealed_secret, previous_until, audit),
        )
        .await
    }

    async fn queue_test_event(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        audit: &AuditRecord,
    ) -> CoreResult<Option<DeliveryRecord>> {
        self.timed(
            "queue_test_event",
            self.inner.queue_test_event(org_id, id, audit),
        )
        .await
    }

    async fn retry_delivery(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        delivery_id: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Option<DeliveryRecord>> {
        self.timed(
            "retry_delivery",
            self.inner
                .retry_delivery(org_id, id, delivery_id, now, audit),
        )
        .await
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        per_rule: i64,
        limit: i64,
    ) -> CoreResult<Vec<gantry_core::events::ClaimedDelivery>> {
        self.timed(
            "claim_deliveries",
            self.inner
                .claim_deliveries(now, lease_until, per_rule, limit),
        )
        .await
    }

    async fn finish_delivery(
        &self,
        finished: &gantry_core::events::FinishedTry,
    ) -> CoreResult<bool> {
        self.timed("finish_delivery", self.inner.finish_delivery(finished))
            .await
    }

    async fn expiry_candidates(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> CoreResult<Vec<(TokenRecord, Option<i64>)>> {
        self.timed(
            "expiry_candidates",
            self.inner.expiry_candidates(since, until),
        )
        .await
    }

    async fn record_expiry_notice(
        &self,
        token_id: &TokenId,
        expires_at: Timestamp,
        thresholds: &[i64],
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        self.timed(
            "record_expiry_notice",
            self.inner
                .record_expiry_notice(token_id, expires_at, thresholds, audit),
        )
        .await
    }

    async fn delivery_queue(&self) -> CoreResult<gantry_core::events::QueueStats> {
        self.timed("delivery_queue", self.inner.delivery_queue())
            .await
    }

    async fn prune_events(
        &self,
        before: Timestamp,
        notices_before: Timestamp,
        batch: i64,
    ) -> CoreResult<u64> {
        self.timed(
            "prune_events",
            self.inner.prune_events(before, notices_before, batch),
        )
        .await
    }

    async fn sealed_alert_secrets(
        &self,
    ) -> CoreResult<Vec<gantry_core::events::SealedAlertSecret>> {
        self.timed("sealed_alert_secrets", self.inner.sealed_alert_secrets())
            .await
    }

    async fn reseal_alert_secret(
        &self,
        old: &gantry_core::events::SealedAlertSecret,
        new: &str,
    ) -> CoreResult<bool> {
        self.timed(
            "reseal_alert_secret",
            self.inner.reseal_alert_secret(old, new),
        )
        .await
    }
}

#[async_trait]
impl TokenStore for CachedStore {
    async fn insert_token(&self, token: &TokenRecord, audit: &AuditRecord) -> CoreResult<Written> {
        self.write("insert_token", self.inner.insert_token(token, audit))
            .await
    }

    async fn get_token(&self, id: &TokenId) -> CoreResult<Option<TokenRecord>> {
        self.timed("get_token", self.inner.get_token(id)).await
    }

    async fn find_token_by_hash(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> CoreResult<Option<TokenMatch>> {
        let cached = self
            .through(&self.tokens, hash, || *hash, async {
                Ok(self
                    .timed(
                        "find_token_by_hash",
                        self.inner.find_token_by_hash(hash, now),
                    )
                    .await?
                    .map(|m| m.token))
            })
            .await?;
        let Some(token) = cached else {
            return Ok(None);
        };
        let Some(via_previous) = Self::matches(&token, hash, now) else {
            return Ok(None);
        };
        let user = match token.scope.user_id() {
            Some(uid) => self.get_user(uid).await?,
            None => None,
        };
        Ok(Some(TokenMatch {
            token,
            user,
            via_previous,
        }))
    }

    fn peek_token_by_hash(&self, hash: &TokenHash, now: Timestamp) -> Option<Option<TokenMatch>> {
        let Some(token) = self.peek(&self.tokens, hash)? else {
            return Some(None);
        };
        let Some(via_previous) = Self::matches(&token, hash, now) else {
            return Some(None);
        };
        let user = match token.scope.user_id() {
            Some(uid) => self.peek(&self.users, uid)?.map(|u| (*u).clone()),
            None => None,
        };
        Some(Some(TokenMatch {
            token,
            user,
            via_previous,
        }))
    }

    async fn list_tokens(
        &self,
        filter: &TokenFilter,
        now: Timestamp,
    ) -> CoreResult<Vec<TokenRecord>> {
        self.timed("list_tokens", self.inner.list_tokens(filter, now))
            .await
    }

    async fn update_token(
        &self,
        id: &TokenId,
        name: &str,
        description: Option<&str>,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        self.write(
            "update_token",
            self.inner.update_token(id, name, description, audit),
        )
        .await
    }

    async fn rotate_token(
        &self,
        id: &TokenId,
        rotation: &Rotation,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        self.write("rotate_token", self.inner.rotate_token(id, rotation, audit))
            .await
    }

    async fn find_retired(&self, hash: &TokenHash) -> CoreResult<Option<RetiredValue>> {
        self.record_through(
            &self.retired,
            hash,
            "find_retired",
            self.inner.find_retired(hash),
        )
        .await
    }

    async fn record_reuse(
        &self,
        hash: &TokenHash,
        quiet_since: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        self.timed(
            "record_reuse",
            self.inner.record_reuse(hash, quiet_since, audit),
        )
        .await
    }

    async fn end_grace(
        &self,
        id: &TokenId,
        current: &TokenHash,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>> {
        self.write("end_grace", self.inner.end_grace(id, current, audit))
            .await
    }

    async fn revoke_token(
        &self,
        id: &TokenId,
        at: Timestamp,
        reason: RevokeReason,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>> {
        self.write(
            "revoke_token",
            self.inner.revoke_token(id, at, reason, audit),
        )
        .await
    }

    async fn note_leak(
        &self,
        id: &TokenId,
        note: &LeakNote,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        self.write("note_leak", self.inner.note_leak(id, note, audit))
            .await
    }

    async fn record_token_uses(&self, uses: &[TokenUse]) -> CoreResult<()> {
        self.timed("record_token_uses", self.inner.record_token_uses(uses))
            .await
    }

    async fn token_counts(&self, now: Timestamp) -> CoreResult<gantry_core::metrics::TokenCounts> {
        self.timed("token_counts", self.inner.token_counts(now))
            .await
    }
}

#[async_trait]
impl TrustStore for CachedStore {
    async fn insert_trust_policy(
        &self,
        policy: &TrustPolicyRecord,
        audit: &AuditRecord,
    ) -> CoreResult<()> {
        self.timed(
            "insert_trust_policy",
            self.inner.insert_trust_policy(policy, audit),
        )
        .await
    }

    async fn list_trust_policies(&self, app_id: &AppId) -> CoreResult<Vec<TrustPolicyRecord>> {
        self.timed(
            "list_trust_policies",
            self.inner.list_trust_policies(app_id),
        )
        .await
    }

    async fn get_trust_policy(
        &self,
        app_id: &AppId,
        id: &TrustPolicyId,
    ) -> CoreResult<Option<TrustPolicyRecord>> {
        self.timed("get_trust_policy", self.inner.get_trust_policy(app_id, id))
            .await
    }

    async fn delete_trust_policy(
        &self,
        app_id: &AppId,
        id: &TrustPolicyId,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>> {
        // The tokens it issued are revoked with it: the write's keys drop them here too.
        self.write(
            "delete_trust_policy",
            self.inner.delete_trust_policy(app_id, id, at, audit),
        )
        .await
    }

    async fn insert_exchanged_token(
        &self,
        token: &TokenRecord,
        jti: &str,
        jti_expires: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        // A fresh random hash: nothing cached can name it.
        self.timed(
            "insert_exchanged_token",
            self.inner
                .insert_exchanged_token(token, jti, jti_expires, audit),
        )
        .await
    }

    async fn prune_jtis(&self, now: Timestamp) -> CoreResult<u64> {
        self.timed("prune_jtis", self.inner.prune_jtis(now)).await
    }
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn insert_session(&self, session: &SessionRecord, audit: &AuditRecord) -> CoreResult<()> {
        self.timed("insert_session", self.inner.insert_session(session, audit))
            .await
    }

    async fn get_session(&self, hash: &TokenHash) -> CoreResult<Option<SessionRecord>> {
        self.timed("get_session", self.inner.get_session(hash))
            .await
    }

    async fn delete_session(&self, hash: &TokenHash, audit: &AuditRecord) -> CoreResult<bool> {
        self.timed("delete_session", self.inner.delete_session(hash, audit))
            .await
    }
}

#[async_trait]
impl AuditStore for CachedStore {
    async fn append_audit(&self, audit: &AuditRecord) -> CoreResult<()> {
        self.timed("append_audit", self.inner.append_audit(audit))
            .await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> CoreResult<Vec<AuditRecord>> {
        self.timed("list_audit", self.inner.list_audit(filter))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::sqlite::SqliteStore;
    use gantry_api::TokenKind;
    use gantry_core::token::PlainToken;

    fn audit(action: &str) -> AuditRecord {
        AuditRecord::new(Timestamp(0), ActorRef::System, action)
    }

    /// A SQLite store holding one user, org and app, and a deploy token of that app.
    async fn seeded(dir: &std::path::Path) -> (Arc<dyn Store>, TokenRecord, PlainToken) {
        let inner: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("t.db")).await.unwrap());
        let (token, plain) = crate::race_tests::seed(&inner).await;
        (inner, token, plain)
    }

    #[tokio::test]
    async fn peeks_answer_from_memory_only_what_a_read_put_there_and_no_write_took_away() {
        let dir = tempfile::tempdir().unwrap();
        let (inner, token, plain) = seeded(dir.path()).await;
        let store = CachedStore::new(inner, &CacheConfig::default(), Arc::new(Metrics::new()));
        let now = Timestamp(1);
        let hash = plain.hash();

        // Cold: nothing to answer from memory, so the caller must ask the database.
        assert!(store.peek_token_by_hash(&hash, now).is_none());
        assert!(store.peek_app_by_slug(&Slug::named("web")).is_none());

        // Warm: the same answers as the async reads, without awaiting.
        store.find_token_by_hash(&hash, now).await.unwrap().unwrap();
        store
            .get_app_by_slug(&Slug::named("web"))
            .await
            .unwrap()
            .unwrap();
        let found = store.peek_token_by_hash(&hash, now).unwrap().unwrap();
        assert_eq!(found.token.id, token.id);
        assert!(!found.via_previous);
        assert_eq!(
            store
                .peek_app_by_slug(&Slug::named("web"))
                .unwrap()
                .unwrap()
                .id,
            "app_1"
        );
        // An unknown hash is not a known answer either way until the database said so.
        let other = PlainToken::generate(TokenKind::Deploy).hash();
        assert!(store.peek_token_by_hash(&other, now).is_none());

        // A revocation on this node empties the index at once: the next verification reads
        // the revoked record from the database, never a stale active one from memory.
        store
            .revoke_token(
                &token.id,
                now,
                RevokeReason::Requested,
                &audit("token.revoke"),
            )
            .await
            .unwrap();
        assert!(store.peek_token_by_hash(&hash, now).is_none());
        let again = store.find_token_by_hash(&hash, now).await.unwrap().unwrap();
        assert!(again.token.revoked_at.is_some());
        let peeked = store.peek_token_by_hash(&hash, now).unwrap().unwrap();
        assert!(peeked.token.revoked_at.is_some());
    }

    #[tokio::test]
    async fn peeks_answer_nothing_while_the_caches_may_not_be_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let (inner, _, plain) = seeded(dir.path()).await;
        let gate = Arc::new(Gate::closed());
        let store = CachedStore::gated(
            inner,
            &CacheConfig::default(),
            Arc::new(Metrics::new()),
            Some(gate.clone()),
        );
        let now = Timestamp(1);
        let hash = plain.hash();
        gate.trust_until(Instant::now() + Duration::from_secs(60));
        store.find_token_by_hash(&hash, now).await.unwrap().unwrap();
        store
            .get_app_by_slug(&Slug::named("web"))
            .await
            .unwrap()
            .unwrap();
        assert!(store.peek_token_by_hash(&hash, now).is_some());
        assert!(store.peek_app_by_slug(&Slug::named("web")).is_some());

        // No check-in with the database within the bound: another node's revocation may not
        // have reached this one, so the entries still held must not answer.
        gate.trust_until(Instant::now());
        assert!(store.peek_token_by_hash(&hash, now).is_none());
        assert!(store.peek_app_by_slug(&Slug::named("web")).is_none());
    }
}
