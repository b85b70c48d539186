//! Writes racing on one node: a store wrapper pauses a revocation (or an app's deletion) at the
//! moment it reaches the database, while another write commits and its result is used through
//! the cache; once the paused write finishes, nothing it revoked may still be accepted from
//! memory. Run on SQLite and on PostgreSQL.

use crate::cached::{CacheConfig, CachedStore};
use crate::coherence::Gate;
use async_trait::async_trait;
use gantry_api::{Role, TokenKind};
use gantry_core::metrics::Metrics;
use gantry_core::model::*;
use gantry_core::store::*;
use gantry_core::time::Timestamp;
use gantry_core::token::{PlainToken, TokenHash};
use gantry_core::CoreResult;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Delegates everything to `inner`; when armed, `revoke_token` and `delete_app` stop on entry
/// (after anything the caller read first, before their own transaction) until released.
struct Paused {
    inner: Arc<dyn Store>,
    armed: AtomicBool,
    entered: Notify,
    release: Notify,
}

impl Paused {
    fn new(inner: Arc<dyn Store>) -> Arc<Paused> {
        Arc::new(Paused {
            inner,
            armed: AtomicBool::new(false),
            entered: Notify::new(),
            release: Notify::new(),
        })
    }

    async fn pause_here(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
    }
}

#[async_trait]
impl Store for Paused {
    async fn ping(&self) -> CoreResult<()> {
        self.inner.ping().await
    }

    async fn close(&self) {
        self.inner.close().await
    }
}

#[async_trait]
impl UserStore for Paused {
    async fn count_users(&self) -> CoreResult<i64> {
        self.inner.count_users().await
    }

    async fn insert_user(&self, user: &UserRecord, audit: &AuditRecord) -> CoreResult<Written> {
        self.inner.insert_user(user, audit).await
    }

    async fn get_user(&self, id: &UserId) -> CoreResult<Option<UserRecord>> {
        self.inner.get_user(id).await
    }

    async fn get_user_by_email(&self, email: &str) -> CoreResult<Option<UserRecord>> {
        self.inner.get_user_by_email(email).await
    }

    async fn list_users(&self, limit: i64, offset: i64) -> CoreResult<Vec<UserRecord>> {
        self.inner.list_users(limit, offset).await
    }

    async fn update_user(
        &self,
        id: &UserId,
        patch: &UserPatch,
        audit: &AuditRecord,
    ) -> CoreResult<Written<UserRecord>> {
        self.inner.update_user(id, patch, audit).await
    }
}

#[async_trait]
impl OrgStore for Paused {
    async fn insert_org(
        &self,
        org: &OrgRecord,
        owner_id: &UserId,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        self.inner.insert_org(org, owner_id, audit).await
    }

    async fn get_org_by_slug(&self, slug: &Slug) -> CoreResult<Option<OrgRecord>> {
        self.inner.get_org_by_slug(slug).await
    }

    async fn get_org(&self, id: &OrgId) -> CoreResult<Option<OrgRecord>> {
        self.inner.get_org(id).await
    }

    async fn list_orgs(
        &self,
        user_id: Option<&UserId>,
    ) -> CoreResult<Vec<(OrgRecord, Option<Role>)>> {
        self.inner.list_orgs(user_id).await
    }

    async fn get_member_role(&self, org_id: &OrgId, user_id: &UserId) -> CoreResult<Option<Role>> {
        self.inner.get_member_role(org_id, user_id).await
    }

    async fn list_members(&self, org_id: &OrgId) -> CoreResult<Vec<MemberRecord>> {
        self.inner.list_members(org_id).await
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
        self.inner
            .put_member(org_id, user_id, role, ceiling, at, audit)
            .await
    }

    async fn delete_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        ceiling: Option<Role>,
        audit: &AuditRecord,
    ) -> CoreResult<Written<Option<Role>>> {
        self.inner
            .delete_member(org_id, user_id, ceiling, audit)
            .await
    }
}

#[async_trait]
impl AppStore for Paused {
    async fn insert_app(
        &self,
        app: &AppRecord,
        reservation: Duration,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        self.inner.insert_app(app, reservation, audit).await
    }

    async fn get_app_by_slug(&self, slug: &Slug) -> CoreResult<Option<Arc<AppRecord>>> {
        self.inner.get_app_by_slug(slug).await
    }

    async fn get_app(&self, id: &AppId) -> CoreResult<Option<Arc<AppRecord>>> {
        self.inner.get_app(id).await
    }

    async fn list_apps(&self, org_id: &OrgId) -> CoreResult<Vec<AppRecord>> {
        self.inner.list_apps(org_id).await
    }

    async fn delete_app(
        &self,
        app_id: &AppId,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        self.pause_here().await;
        self.inner.delete_app(app_id, at, audit).await
    }

    fn peek_app_by_slug(&self, slug: &Slug) -> Option<Option<Arc<AppRecord>>> {
        self.inner.peek_app_by_slug(slug)
    }
}

#[async_trait]
impl ReleaseStore for Paused {
    async fn insert_release(
        &self,
        release: &NewRelease,
        audit: &AuditRecord,
    ) -> CoreResult<(ReleaseRecord, bool)> {
        self.inner.insert_release(release, audit).await
    }

    async fn list_releases(&self, app_id: &AppId, limit: i64) -> CoreResult<Vec<ReleaseRecord>> {
        self.inner.list_releases(app_id, limit).await
    }

    async fn get_release(&self, app_id: &AppId, version: i64) -> CoreResult<Option<ReleaseRecord>> {
        self.inner.get_release(app_id, version).await
    }

    async fn artifact_in_use(&self, sha256: &str) -> CoreResult<bool> {
        self.inner.artifact_in_use(sha256).await
    }
}

#[async_trait]
impl EnvConfigStore for Paused {
    async fn list_env(&self, app_id: &AppId) -> CoreResult<Vec<EnvVarRecord>> {
        self.inner.list_env(app_id).await
    }

    async fn put_env(
        &self,
        var: &EnvVarRecord,
        max_vars: i64,
        audit: &AuditRecord,
    ) -> CoreResult<()> {
        self.inner.put_env(var, max_vars, audit).await
    }

    async fn delete_env(&self, app_id: &AppId, key: &str, audit: &AuditRecord) -> CoreResult<bool> {
        self.inner.delete_env(app_id, key, audit).await
    }

    async fn secret_env_vars(&self) -> CoreResult<Vec<EnvVarRecord>> {
        self.inner.secret_env_vars().await
    }

    async fn reseal_env(
        &self,
        app_id: &AppId,
        key: &str,
        old: &str,
        new: &str,
    ) -> CoreResult<bool> {
        self.inner.reseal_env(app_id, key, old, new).await
    }

    async fn get_config(
        &self,
        app_id: &AppId,
        version: Option<i64>,
    ) -> CoreResult<Option<ConfigRecord>> {
        self.inner.get_config(app_id, version).await
    }

    async fn put_config(
        &self,
        app_id: &AppId,
        document: &str,
        by: &ActorRef,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<ConfigRecord> {
        self.inner.put_config(app_id, document, by, at, audit).await
    }
}

#[async_trait]
impl AlertStore for Paused {
    async fn insert_alert(&self, alert: &AlertRecord, audit: &AuditRecord) -> CoreResult<()> {
        self.inner.insert_alert(alert, audit).await
    }

    async fn list_alerts(&self, org_id: &OrgId) -> CoreResult<Vec<AlertRecord>> {
        self.inner.list_alerts(org_id).await
    }

    async fn delete_alert(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        self.inner.delete_alert(org_id, id, audit).await
    }
}

#[async_trait]
impl TokenStore for Paused {
    async fn insert_token(&self, token: &TokenRecord, audit: &AuditRecord) -> CoreResult<Written> {
        self.inner.insert_token(token, audit).await
    }

    async fn get_token(&self, id: &TokenId) -> CoreResult<Option<TokenRecord>> {
        self.inner.get_token(id).await
    }

    async fn find_token_by_hash(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> CoreResult<Option<TokenMatch>> {
        self.inner.find_token_by_hash(hash, now).await
    }

    async fn list_tokens(
        &self,
        filter: &TokenFilter,
        now: Timestamp,
    ) -> CoreResult<Vec<TokenRecord>> {
        self.inner.list_tokens(filter, now).await
    }

    async fn update_token(
        &self,
        id: &TokenId,
        name: &str,
        description: Option<&str>,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        self.inner.update_token(id, name, description, audit).await
    }

    async fn rotate_token(
        &self,
        id: &TokenId,
        rotation: &Rotation,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        self.inner.rotate_token(id, rotation, audit).await
    }

    async fn revoke_token(
        &self,
        id: &TokenId,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>> {
        self.pause_here().await;
        self.inner.revoke_token(id, at, audit).await
    }

    async fn record_token_uses(&self, uses: &[TokenUse]) -> CoreResult<()> {
        self.inner.record_token_uses(uses).await
    }

    async fn token_counts(&self, now: Timestamp) -> CoreResult<gantry_core::metrics::TokenCounts> {
        self.inner.token_counts(now).await
    }

    fn peek_token_by_hash(&self, hash: &TokenHash, now: Timestamp) -> Option<Option<TokenMatch>> {
        self.inner.peek_token_by_hash(hash, now)
    }
}

#[async_trait]
impl SessionStore for Paused {
    async fn insert_session(&self, session: &SessionRecord, audit: &AuditRecord) -> CoreResult<()> {
        self.inner.insert_session(session, audit).await
    }

    async fn get_session(&self, hash: &TokenHash) -> CoreResult<Option<SessionRecord>> {
        self.inner.get_session(hash).await
    }

    async fn delete_session(&self, hash: &TokenHash, audit: &AuditRecord) -> CoreResult<bool> {
        self.inner.delete_session(hash, audit).await
    }
}

#[async_trait]
impl AuditStore for Paused {
    async fn append_audit(&self, audit: &AuditRecord) -> CoreResult<()> {
        self.inner.append_audit(audit).await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> CoreResult<Vec<AuditRecord>> {
        self.inner.list_audit(filter).await
    }
}

fn audit(action: &str) -> AuditRecord {
    AuditRecord::new(Timestamp(0), ActorRef::System, action)
}

/// A deploy token record of app `app_1` (org `org_1`) for `plain`.
pub(crate) fn deploy_token(id: &str, plain: &PlainToken) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        scope: TokenScope::Deploy {
            org_id: "org_1".into(),
            org_slug: Slug::stored("acme"),
            app_id: "app_1".into(),
            app_slug: Slug::stored("web"),
        },
        name: "ci".into(),
        description: None,
        prefix: plain.display_prefix().to_owned(),
        hash: plain.hash(),
        prev_hash: None,
        prev_expires_at: None,
        created_by: ActorRef::System,
        created_at: Timestamp(0),
        expires_at: None,
        lifetime: None,
        last_used_at: None,
        last_used_ip: None,
        rotated_at: None,
        revoked_at: None,
        noted: Default::default(),
    }
}

/// Stores one user, org (`acme`) and app (`web`), and a deploy token `tok_1` of that app.
pub(crate) async fn seed(inner: &Arc<dyn Store>) -> (TokenRecord, PlainToken) {
    let user = UserRecord {
        id: "usr_1".into(),
        email: "a@example.com".into(),
        name: "A".into(),
        password_hash: String::new(),
        is_admin: true,
        disabled: false,
        created_at: Timestamp(0),
    };
    inner
        .insert_user(&user, &audit("user.create"))
        .await
        .unwrap();
    let org = OrgRecord {
        id: "org_1".into(),
        slug: Slug::stored("acme"),
        name: "Acme".into(),
        created_at: Timestamp(0),
    };
    inner
        .insert_org(&org, &user.id, &audit("org.create"))
        .await
        .unwrap();
    let app = AppRecord {
        id: "app_1".into(),
        org_id: org.id.clone(),
        org_slug: org.slug.clone(),
        slug: Slug::stored("web"),
        name: "Web".into(),
        created_at: Timestamp(0),
    };
    inner
        .insert_app(&app, Duration::ZERO, &audit("app.create"))
        .await
        .unwrap();
    let plain = PlainToken::generate(TokenKind::Deploy);
    let token = deploy_token("tok_1", &plain);
    inner
        .insert_token(&token, &audit("token.create"))
        .await
        .unwrap();
    (token, plain)
}

/// A cache over `inner` that trusts itself (as a node whose coherence loop is checked in).
fn cached(inner: Arc<dyn Store>) -> Arc<CachedStore> {
    let gate = Arc::new(Gate::closed());
    gate.trust_until(Instant::now() + Duration::from_secs(3600));
    Arc::new(CachedStore::gated(
        inner,
        &CacheConfig::default(),
        Arc::new(Metrics::new()),
        Some(gate),
    ))
}

/// Whether `hash` is accepted as an active token, from memory or the database.
async fn accepted(store: &CachedStore, hash: &TokenHash, now: Timestamp) -> bool {
    let active = |m: &Option<TokenMatch>| m.as_ref().is_some_and(|m| m.token.revoked_at.is_none());
    let from_memory = store.peek_token_by_hash(hash, now);
    if from_memory.as_ref().is_some_and(active) {
        return true;
    }
    active(&store.find_token_by_hash(hash, now).await.unwrap())
}

async fn revoke_racing_rotation(inner: Arc<dyn Store>) {
    let (token, plain) = seed(&inner).await;
    let now = Timestamp(1_000);
    let paused = Paused::new(inner);
    let store = cached(paused.clone());
    assert!(accepted(&store, &plain.hash(), now).await);

    paused.armed.store(true, Ordering::SeqCst);
    let revoking = tokio::spawn({
        let store = store.clone();
        let id = token.id.clone();
        async move { store.revoke_token(&id, now, &audit("token.revoke")).await }
    });
    paused.entered.notified().await;

    // While the revocation waits, the token is rotated and its new value used (and cached).
    let new = PlainToken::generate(TokenKind::Deploy);
    let rotation = Rotation {
        expected_hash: plain.hash(),
        new_hash: new.hash(),
        new_prefix: new.display_prefix().to_owned(),
        prev_expires_at: None,
        expires_at: None,
        lifetime: None,
        rotated_at: now,
    };
    store
        .rotate_token(&token.id, &rotation, &audit("token.rotate"))
        .await
        .unwrap();
    assert!(accepted(&store, &new.hash(), now).await);

    paused.release.notify_one();
    assert!(revoking.await.unwrap().unwrap().value);
    assert!(
        !accepted(&store, &new.hash(), now).await,
        "the value rotated in while the revocation ran is still accepted"
    );
    assert!(!accepted(&store, &plain.hash(), now).await);
}

async fn delete_app_racing_token_creation(inner: Arc<dyn Store>) {
    let (_, plain) = seed(&inner).await;
    let now = Timestamp(1_000);
    let paused = Paused::new(inner);
    let store = cached(paused.clone());
    assert!(accepted(&store, &plain.hash(), now).await);

    paused.armed.store(true, Ordering::SeqCst);
    let deleting = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .delete_app(&AppId::from("app_1"), now, &audit("app.delete"))
                .await
        }
    });
    paused.entered.notified().await;

    // While the deletion waits, a deploy token of the app is created and used (and cached).
    let late = PlainToken::generate(TokenKind::Deploy);
    store
        .insert_token(&deploy_token("tok_2", &late), &audit("token.create"))
        .await
        .unwrap();
    assert!(accepted(&store, &late.hash(), now).await);

    paused.release.notify_one();
    deleting.await.unwrap().unwrap();
    assert!(
        !accepted(&store, &late.hash(), now).await,
        "a deploy token created while its app was being deleted is still accepted"
    );
    assert!(!accepted(&store, &plain.hash(), now).await);
    assert!(store
        .get_app_by_slug(&Slug::named("web"))
        .await
        .unwrap()
        .is_none());
}

async fn sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::sql::sqlite::SqliteStore::open(&dir.path().join("t.db"))
        .await
        .unwrap();
    (dir, Arc::new(store))
}

/// A fresh PostgreSQL database, or None when there is no server (see `crate::testing`).
async fn postgres() -> Option<(crate::testing::TestDatabase, Arc<dyn Store>)> {
    let db = crate::testing::TestDatabase::create().await.unwrap()?;
    let store = crate::sql::postgres::PgStore::open(&db.url).await.unwrap();
    Some((db, Arc::new(store)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_racing_rotation_leaves_no_value_accepted_on_sqlite() {
    let (_dir, inner) = sqlite().await;
    revoke_racing_rotation(inner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_racing_rotation_leaves_no_value_accepted_on_postgres() {
    let Some((_db, inner)) = postgres().await else {
        return;
    };
    revoke_racing_rotation(inner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_app_racing_token_creation_leaves_no_token_accepted_on_sqlite() {
    let (_dir, inner) = sqlite().await;
    delete_app_racing_token_creation(inner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_app_racing_token_creation_leaves_no_token_accepted_on_postgres() {
    let Some((_db, inner)) = postgres().await else {
        return;
    };
    delete_app_racing_token_creation(inner).await;
}
