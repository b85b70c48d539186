//! The storage port. The domain speaks only [`Store`], made of one trait per domain
//! ([`UserStore`], [`OrgStore`], [`AppStore`], [`ReleaseStore`], [`EnvConfigStore`],
//! [`AlertStore`], [`TokenStore`], [`SessionStore`], [`AuditStore`]); `gantry-store` implements
//! it for SQLite and PostgreSQL (one SQL implementation, `gantry-store/src/sql/common/`, a file
//! per domain) and as the caching decorator. Every write that changes state takes the audit
//! record that describes it and commits both in one transaction, so there is never a change
//! without its audit entry or the other way round.

use crate::error::CoreResult;
use crate::model::*;
use crate::time::Timestamp;
use crate::token::TokenHash;
use async_trait::async_trait;
use gantry_api::{Role, TokenKind, TokenStatus};
use std::sync::Arc;

/// A cache entry a write makes stale: every `Store` write returns the keys it invalidated,
/// computed inside its own transaction. `CachedStore` drops exactly these on the writing node,
/// and the PostgreSQL store publishes them (as text, [`CacheKey::encode`]) for the other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKey {
    /// A token lookup by this hash (current or pre-rotation).
    Token(TokenHash),
    /// Every token lookup (a write that touched many tokens at once).
    AllTokens,
    User(UserId),
    /// (org id, user id).
    Member(OrgId, UserId),
    /// (app id, slug).
    App(AppId, Slug),
    /// (org id, slug).
    Org(OrgId, Slug),
}

impl CacheKey {
    /// One line of text (ids and slugs never contain spaces or newlines).
    pub fn encode(&self) -> String {
        match self {
            CacheKey::Token(h) => format!("t {}", hex::encode(h.0)),
            CacheKey::AllTokens => "T".to_owned(),
            CacheKey::User(id) => format!("u {id}"),
            CacheKey::Member(org, user) => format!("m {org} {user}"),
            CacheKey::App(id, slug) => format!("a {id} {slug}"),
            CacheKey::Org(id, slug) => format!("o {id} {slug}"),
        }
    }

    /// The keys of a published entry, or None when any line is unreadable (the caller then
    /// clears everything).
    pub fn decode_all(text: &str) -> Option<Vec<CacheKey>> {
        text.lines().map(CacheKey::decode).collect()
    }

    fn decode(line: &str) -> Option<CacheKey> {
        let mut parts = line.split(' ');
        let key = match (parts.next()?, parts.next(), parts.next()) {
            ("t", Some(h), None) => CacheKey::Token(TokenHash::from_slice(&hex::decode(h).ok()?)?),
            ("T", None, None) => CacheKey::AllTokens,
            ("u", Some(id), None) => CacheKey::User(id.into()),
            ("m", Some(org), Some(user)) => CacheKey::Member(org.into(), user.into()),
            ("a", Some(id), Some(slug)) => CacheKey::App(id.into(), Slug::stored(slug)),
            ("o", Some(id), Some(slug)) => CacheKey::Org(id.into(), Slug::stored(slug)),
            _ => return None,
        };
        parts.next().is_none().then_some(key)
    }
}

#[cfg(test)]
mod cache_key_tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text() {
        let keys = vec![
            CacheKey::Token(TokenHash([7; 32])),
            CacheKey::AllTokens,
            CacheKey::User("usr_1".into()),
            CacheKey::Member("org_1".into(), "usr_2".into()),
            CacheKey::App("app_1".into(), Slug::stored("web")),
            CacheKey::Org("org_1".into(), Slug::stored("acme")),
        ];
        let text: Vec<String> = keys.iter().map(CacheKey::encode).collect();
        assert_eq!(CacheKey::decode_all(&text.join("\n")), Some(keys));
    }

    #[test]
    fn unreadable_keys_are_refused_whole() {
        assert_eq!(CacheKey::decode_all("u a b"), None);
        assert_eq!(CacheKey::decode_all("t nothex"), None);
        assert_eq!(CacheKey::decode_all("x"), None);
    }
}

/// What a write returns: its result, and the cache keys it made stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written<T = ()> {
    pub value: T,
    /// Computed inside the write's own transaction, after its lock was taken, so a write that
    /// committed just before cannot be missed.
    pub changed: Vec<CacheKey>,
}

impl<T> Written<T> {
    pub fn new(value: T, changed: Vec<CacheKey>) -> Written<T> {
        Written { value, changed }
    }
}

/// Which tokens a listing wants.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    /// Only these kinds (empty: all).
    pub kinds: Vec<TokenKind>,
    pub user_id: Option<UserId>,
    pub org_id: Option<OrgId>,
    pub app_id: Option<AppId>,
    /// Org and deploy tokens of any of these orgs, OR personal tokens of the user with this
    /// id (an org token's own id there matches no personal token).
    pub org_ids_or_user: Option<(Vec<OrgId>, String)>,
    /// None: every status but revoked.
    pub status: Option<StatusFilter>,
    /// Only tokens that expire between now and now + this.
    pub expiring_before: Option<Timestamp>,
    pub limit: i64,
    pub offset: i64,
}

/// A status filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    One(TokenStatus),
    All,
}

/// Which audit events a listing wants.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub org_id: Option<OrgId>,
    pub actor_id: Option<String>,
    pub action: Option<String>,
    pub since: Option<Timestamp>,
    /// Events before this id (paging backwards).
    pub before_id: Option<i64>,
    /// Restrict to events of these orgs OR by this actor (callers who are not instance admins).
    pub visible_to: Option<(Vec<OrgId>, String)>,
    pub limit: i64,
}

/// Changes to a user.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub disabled: Option<bool>,
    pub is_admin: Option<bool>,
    pub name: Option<String>,
    pub password_hash: Option<String>,
}

/// What a token lookup by hash found.
#[derive(Debug, Clone)]
pub struct TokenMatch {
    /// Shared: on a warm node this is the cached record itself, not a copy.
    pub token: std::sync::Arc<TokenRecord>,
    /// The personal token's user, loaded in the same query.
    pub user: Option<UserRecord>,
    /// True when the hash matched the pre-rotation value (grace period).
    pub via_previous: bool,
}

/// A value a rotation replaced (DESIGN §9 reuse detection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredValue {
    pub token_id: TokenId,
    pub rotated_at: Timestamp,
    /// Accepted until then (its grace period); a use after it is a reuse.
    pub usable_until: Timestamp,
}

/// A new release to record.
#[derive(Debug, Clone)]
pub struct NewRelease {
    pub app_id: AppId,
    pub label: Option<String>,
    pub message: Option<String>,
    pub artifact_sha256: String,
    pub artifact_size: i64,
    pub created_by: ActorRef,
    pub created_at: Timestamp,
    /// Replace the release that already carries `label` instead of refusing.
    pub overwrite: bool,
}

/// A rotation to apply.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The hash the caller saw: a concurrent rotation in between makes this one a Conflict,
    /// so two callers never both receive a value when only one can work.
    pub expected_hash: TokenHash,
    pub new_hash: TokenHash,
    pub new_prefix: String,
    /// Keep the old hash working until then (grace period), or drop it now.
    pub prev_expires_at: Option<Timestamp>,
    /// The old hash also stops at the new one's first use (`until_first_use`).
    pub prev_until_first_use: bool,
    pub expires_at: Option<Timestamp>,
    pub lifetime: Option<std::time::Duration>,
    pub rotated_at: Timestamp,
}

/// One accepted use of a token, to be coalesced into `last_used_*`.
#[derive(Debug, Clone)]
pub struct TokenUse {
    pub token_id: TokenId,
    pub at: Timestamp,
    pub ip: Option<String>,
}

/// Persistence for everything gantry keeps. Implementations map "no row" to `Ok(None)` /
/// `CoreError::NotFound` and unique violations to `CoreError::Conflict`, so the domain never
/// sees a database error type.
///
/// Every write that can change what a cache holds returns [`Written`]: its value and the
/// [`CacheKey`]s it made stale, computed inside its own transaction (a caching decorator drops
/// exactly those, and never reads before a write to learn what to forget).
///
/// Concurrency contract: every method that writes is atomic, and every invariant it documents
/// (next version numbers, the last owner, the last admin, the env var cap, a membership
/// ceiling, the expected hash of a rotation) is checked inside its own transaction — never by
/// a read the caller made earlier. SQLite gets this from its single writer; a backend with
/// concurrent writers must lock the rows involved (e.g. `SELECT … FOR UPDATE` on the org or
/// app) or use conditional statements.
#[async_trait]
pub trait Store:
    UserStore
    + OrgStore
    + AppStore
    + ReleaseStore
    + EnvConfigStore
    + AlertStore
    + TrustStore
    + TokenStore
    + SessionStore
    + AuditStore
    + Send
    + Sync
    + 'static
{
    /// Whether the database answers.
    async fn ping(&self) -> CoreResult<()>;
    /// Closes connections cleanly (checkpoints, pool shutdown). Called once at shutdown.
    async fn close(&self);
}

/// Users and their accounts. Part of [`Store`].
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn count_users(&self) -> CoreResult<i64>;
    async fn insert_user(&self, user: &UserRecord, audit: &AuditRecord) -> CoreResult<Written>;
    async fn get_user(&self, id: &UserId) -> CoreResult<Option<UserRecord>>;
    async fn get_user_by_email(&self, email: &str) -> CoreResult<Option<UserRecord>>;
    async fn list_users(&self, limit: i64, offset: i64) -> CoreResult<Vec<UserRecord>>;
    /// Applies `patch`; refuses (Conflict) to leave the instance without an enabled admin.
    /// Disabling the user or setting a password also ends their dashboard sessions, in the
    /// same transaction.
    async fn update_user(
        &self,
        id: &UserId,
        patch: &UserPatch,
        audit: &AuditRecord,
    ) -> CoreResult<Written<UserRecord>>;
}

/// Orgs and their memberships. Part of [`Store`].
#[async_trait]
pub trait OrgStore: Send + Sync {
    async fn insert_org(
        &self,
        org: &OrgRecord,
        owner_id: &UserId,
        audit: &AuditRecord,
    ) -> CoreResult<Written>;
    async fn get_org_by_slug(&self, slug: &Slug) -> CoreResult<Option<OrgRecord>>;
    async fn get_org(&self, id: &OrgId) -> CoreResult<Option<OrgRecord>>;
    /// Replaces the org's token policy; false when there is no such org.
    async fn set_org_policy(
        &self,
        org: &OrgRecord,
        policy: &OrgPolicy,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>>;
    /// Orgs where `user_id` is a member, with the role; all orgs (role None) when `user_id` is None.
    async fn list_orgs(
        &self,
        user_id: Option<&UserId>,
    ) -> CoreResult<Vec<(OrgRecord, Option<Role>)>>;
    async fn get_member_role(&self, org_id: &OrgId, user_id: &UserId) -> CoreResult<Option<Role>>;
    async fn list_members(&self, org_id: &OrgId) -> CoreResult<Vec<MemberRecord>>;
    /// Adds or changes a membership. Refuses (Forbidden) when the new or the current role is
    /// above `ceiling`, and (Conflict) to leave the org without an owner. Returns the previous role.
    async fn put_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: Role,
        ceiling: Role,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written<Option<Role>>>;
    /// Removes a membership (None if there was none), returning the removed role. Refuses
    /// (Forbidden) when the current role is above `ceiling` (None: no ceiling, a user leaving)
    /// and (Conflict) to remove the last owner.
    async fn delete_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        ceiling: Option<Role>,
        audit: &AuditRecord,
    ) -> CoreResult<Written<Option<Role>>>;
}

/// Apps (a deleted app's slug stays reserved to its org). Part of [`Store`].
#[async_trait]
pub trait AppStore: Send + Sync {
    /// Creates an app. Refuses (Conflict `slug_reserved`) a slug that another org's app held
    /// until it was deleted less than `reservation` before `app.created_at`: a deleted app's
    /// slug stays its org's for that long, so nobody else can squat a name that proxies,
    /// scripts and CI still point at.
    async fn insert_app(
        &self,
        app: &AppRecord,
        reservation: std::time::Duration,
        audit: &AuditRecord,
    ) -> CoreResult<Written>;
    /// Shared (`Arc`): the in-memory index hands out its copy without cloning the record.
    async fn get_app_by_slug(&self, slug: &Slug) -> CoreResult<Option<Arc<AppRecord>>>;
    /// [`Store::get_app_by_slug`] from an in-memory index, without awaiting; `None` means
    /// "ask the async method" (as [`Store::peek_token_by_hash`]).
    fn peek_app_by_slug(&self, _slug: &Slug) -> Option<Option<Arc<AppRecord>>> {
        None
    }
    async fn get_app(&self, id: &AppId) -> CoreResult<Option<Arc<AppRecord>>>;
    async fn list_apps(&self, org_id: &OrgId) -> CoreResult<Vec<AppRecord>>;
    /// Deletes the app and revokes its deploy tokens (kept for the audit trail).
    async fn delete_app(
        &self,
        app_id: &AppId,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written>;
}

/// Releases and the artifacts they point at. Part of [`Store`].
#[async_trait]
pub trait ReleaseStore: Send + Sync {
    /// Records a release with the next version number, or replaces the one carrying its label
    /// when `overwrite`. Returns the release and whether it replaced one.
    async fn insert_release(
        &self,
        release: &NewRelease,
        audit: &AuditRecord,
    ) -> CoreResult<(ReleaseRecord, bool)>;
    async fn list_releases(&self, app_id: &AppId, limit: i64) -> CoreResult<Vec<ReleaseRecord>>;
    async fn get_release(&self, app_id: &AppId, version: i64) -> CoreResult<Option<ReleaseRecord>>;
    /// Whether any release still points at this artifact.
    async fn artifact_in_use(&self, sha256: &str) -> CoreResult<bool>;
}

/// Apps' env vars and config documents. Part of [`Store`].
#[async_trait]
pub trait EnvConfigStore: Send + Sync {
    async fn list_env(&self, app_id: &AppId) -> CoreResult<Vec<EnvVarRecord>>;
    /// Sets a variable; refuses (Conflict) a new key beyond `max_vars`.
    async fn put_env(
        &self,
        var: &EnvVarRecord,
        max_vars: i64,
        audit: &AuditRecord,
    ) -> CoreResult<()>;
    async fn delete_env(&self, app_id: &AppId, key: &str, audit: &AuditRecord) -> CoreResult<bool>;
    /// Every env var marked secret, of every app (re-sealing after a key rotation).
    async fn secret_env_vars(&self) -> CoreResult<Vec<EnvVarRecord>>;
    /// Replaces a secret's stored value if it is still `old` (a concurrent write wins).
    async fn reseal_env(&self, app_id: &AppId, key: &str, old: &str, new: &str)
        -> CoreResult<bool>;
    /// The key check: a known text sealed with the instance key (`None` before any node wrote it).
    async fn key_check(&self) -> CoreResult<Option<String>>;
    /// Writes the key check if it still is `old` (`None`: not written yet); false when another
    /// node wrote it first.
    async fn put_key_check(&self, old: Option<&str>, new: &str) -> CoreResult<bool>;
    /// The latest config, or the given version.
    async fn get_config(
        &self,
        app_id: &AppId,
        version: Option<i64>,
    ) -> CoreResult<Option<ConfigRecord>>;
    /// Stores a new version; returns it.
    async fn put_config(
        &self,
        app_id: &AppId,
        document: &str,
        by: &ActorRef,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<ConfigRecord>;
}

/// Org alert rules. Part of [`Store`].
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// A new rule, with its signing secret sealed (webhook rules).
    async fn insert_alert(
        &self,
        alert: &AlertRecord,
        sealed_secret: Option<&str>,
        audit: &AuditRecord,
    ) -> CoreResult<()>;
    async fn list_alerts(&self, org_id: &OrgId) -> CoreResult<Vec<AlertRecord>>;
    async fn get_alert(&self, org_id: &OrgId, id: &AlertId) -> CoreResult<Option<AlertRecord>>;
    /// Turns the rule on or off; None when the org has no such rule.
    async fn set_alert_enabled(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        enabled: bool,
        audit: &AuditRecord,
    ) -> CoreResult<Option<AlertRecord>>;
    /// Replaces the rule's secret; the current one becomes the previous one, signing until
    /// `previous_until`. False when the org has no such rule.
    async fn rotate_alert_secret(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        sealed_secret: &str,
        previous_until: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<bool>;
    /// Queues a pending delivery of `audit`'s event to the rule (its `only_to`), in the
    /// transaction of its audit row: the delivery's id, or None when the org has no such rule.
    async fn queue_test_event(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        audit: &AuditRecord,
    ) -> CoreResult<Option<crate::events::DeliveryRecord>>;
    /// Makes the delivery pending again, due at `now` (one more try); None when the org's rule
    /// has no such delivery.
    async fn retry_delivery(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        delivery_id: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Option<crate::events::DeliveryRecord>>;
    /// Claims up to `limit` due deliveries of enabled rules (a rule's `ping`s even when
    /// disabled) for this node until `lease_until`, at most `per_rule` in flight per rule
    /// across all nodes. A delivery is claimed by one node at a time; an unfinished claim is
    /// taken again after its lease.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        per_rule: i64,
        limit: i64,
    ) -> CoreResult<Vec<crate::events::ClaimedDelivery>>;
    /// Records a try's end (and disables the rule on a `410`); false when the claim was lost.
    async fn finish_delivery(&self, finished: &crate::events::FinishedTry) -> CoreResult<bool>;
    /// How many deliveries are pending, and since when.
    async fn delivery_queue(&self) -> CoreResult<crate::events::QueueStats>;
    /// Forgets what is done with, at most `batch` rows of each kind: deliveries delivered or
    /// failed before `before`, events from before it with no delivery left, and expiry notices
    /// for expiries before `notices_before` (no longer looked at). How many rows went.
    async fn prune_events(
        &self,
        before: Timestamp,
        notices_before: Timestamp,
        batch: i64,
    ) -> CoreResult<u64>;
    /// Every sealed webhook signing secret (current and previous), for re-sealing.
    async fn sealed_alert_secrets(&self) -> CoreResult<Vec<crate::events::SealedAlertSecret>>;
    /// Replaces one sealed secret if it still holds `old.value`; false when it changed since.
    async fn reseal_alert_secret(
        &self,
        old: &crate::events::SealedAlertSecret,
        new: &str,
    ) -> CoreResult<bool>;
    /// Live tokens expiring in `(since, until]`, each with the smallest expiry threshold (in
    /// seconds; 0: expired) already fired for its current expiry, if any.
    async fn expiry_candidates(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> CoreResult<Vec<(TokenRecord, Option<i64>)>>;
    /// Fires an expiry threshold once: records `thresholds[0]` (and marks the others, larger
    /// ones crossed with it, as done) for the token's `expires_at`, with `audit` and its event,
    /// in one transaction. False, changing nothing, when `thresholds[0]` already fired (on any
    /// node).
    async fn record_expiry_notice(
        &self,
        token_id: &TokenId,
        expires_at: Timestamp,
        thresholds: &[i64],
        audit: &AuditRecord,
    ) -> CoreResult<bool>;
    /// Deletes the rule and its deliveries; false when the org has no such rule.
    async fn delete_alert(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        audit: &AuditRecord,
    ) -> CoreResult<bool>;
    /// The rule's deliveries, newest first; None when the org has no such rule.
    async fn list_deliveries(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        limit: i64,
    ) -> CoreResult<Option<Vec<crate::events::DeliveryRecord>>>;
}

/// Tokens: hashes, never values. Part of [`Store`].
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_token(&self, token: &TokenRecord, audit: &AuditRecord) -> CoreResult<Written>;
    async fn get_token(&self, id: &TokenId) -> CoreResult<Option<TokenRecord>>;
    /// The token whose current hash — or previous hash, still in its grace period at `now` — is `hash`.
    async fn find_token_by_hash(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> CoreResult<Option<TokenMatch>>;
    /// What [`Store::find_token_by_hash`] would answer, if an in-memory index holds the answer
    /// now; `None` means "ask the async method". A verified request on a warm node then costs
    /// no `await` and no boxed future. Stores without an index keep the default.
    fn peek_token_by_hash(&self, _hash: &TokenHash, _now: Timestamp) -> Option<Option<TokenMatch>> {
        None
    }
    async fn list_tokens(
        &self,
        filter: &TokenFilter,
        now: Timestamp,
    ) -> CoreResult<Vec<TokenRecord>>;
    async fn update_token(
        &self,
        id: &TokenId,
        name: &str,
        description: Option<&str>,
        audit: &AuditRecord,
    ) -> CoreResult<Written>;
    async fn rotate_token(
        &self,
        id: &TokenId,
        rotation: &Rotation,
        audit: &AuditRecord,
    ) -> CoreResult<Written>;
    /// Revokes, keeping `reason`; returns false when it already was.
    async fn revoke_token(
        &self,
        id: &TokenId,
        at: Timestamp,
        reason: RevokeReason,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>>;
    /// Keeps a leak report on the token (the latest replaces an earlier one), with `audit`
    /// (and its `token.leaked` event) in the same write.
    async fn note_leak(
        &self,
        id: &TokenId,
        note: &LeakNote,
        audit: &AuditRecord,
    ) -> CoreResult<Written>;
    /// Ends the pre-rotation value of a token rotated with `until_first_use`, now that its
    /// current value (`current`) was used; false when it had ended already (another request
    /// or node was first) or the token was rotated again meanwhile. Audited only when it ends.
    async fn end_grace(
        &self,
        id: &TokenId,
        current: &TokenHash,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>>;
    /// The token whose replaced value `hash` is (rotated away), if any.
    async fn find_retired(&self, hash: &TokenHash) -> CoreResult<Option<RetiredValue>>;
    /// Records that the retired value `hash` was presented at `audit.at`, with `audit` (and its
    /// `token.reused` event), unless it was reported since `quiet_since` (by any node): false
    /// then, and nothing is written.
    async fn record_reuse(
        &self,
        hash: &TokenHash,
        quiet_since: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<bool>;
    /// Writes a batch of uses (latest per token wins) in one transaction.
    async fn record_token_uses(&self, uses: &[TokenUse]) -> CoreResult<()>;
    /// Tokens by kind and status at `now`, and the active ones expiring within 7 days.
    async fn token_counts(&self, now: Timestamp) -> CoreResult<crate::metrics::TokenCounts>;
}

/// Apps' trust policies and the ID tokens exchanged under them (DESIGN §8). Part of [`Store`].
#[async_trait]
pub trait TrustStore: Send + Sync {
    /// A new policy; Conflict when the app has one of that name.
    async fn insert_trust_policy(
        &self,
        policy: &TrustPolicyRecord,
        audit: &AuditRecord,
    ) -> CoreResult<()>;
    /// The app's policies, oldest first.
    async fn list_trust_policies(&self, app_id: &AppId) -> CoreResult<Vec<TrustPolicyRecord>>;
    async fn get_trust_policy(
        &self,
        app_id: &AppId,
        id: &TrustPolicyId,
    ) -> CoreResult<Option<TrustPolicyRecord>>;
    /// Deletes a policy and revokes the live tokens it issued (each firing `token.revoked`),
    /// in one transaction; false when there was no such policy.
    async fn delete_trust_policy(
        &self,
        app_id: &AppId,
        id: &TrustPolicyId,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>>;
    /// Stores a token issued by exchange, spending the ID token's `jti` (remembered until
    /// `jti_expires`) in the same transaction: false, and nothing written, when that `jti` of
    /// that issuer was spent already (on any node).
    async fn insert_exchanged_token(
        &self,
        token: &TokenRecord,
        jti: &str,
        jti_expires: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<bool>;
    /// Forgets spent `jti`s that can no longer be presented; how many went.
    async fn prune_jtis(&self, now: Timestamp) -> CoreResult<u64>;
}

/// Dashboard sessions (never cached: a logout holds on every node at once). Part of [`Store`].
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session and drops every expired one.
    async fn insert_session(&self, session: &SessionRecord, audit: &AuditRecord) -> CoreResult<()>;
    /// The session with this hash, expired or not.
    async fn get_session(&self, hash: &TokenHash) -> CoreResult<Option<SessionRecord>>;
    /// Ends a session; false when there was none.
    async fn delete_session(&self, hash: &TokenHash, audit: &AuditRecord) -> CoreResult<bool>;
}

/// The append-only audit log. Part of [`Store`].
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event that has no state change of its own (failed authentication).
    async fn append_audit(&self, audit: &AuditRecord) -> CoreResult<()>;
    async fn list_audit(&self, filter: &AuditFilter) -> CoreResult<Vec<AuditRecord>>;
}
