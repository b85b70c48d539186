//! Writes racing on one node: the SQL store's pause point (test builds only) stops a revocation
//! (or an app's deletion) at the moment it reaches the database, while another write commits and its result is used through
//! the cache; once the paused write finishes, nothing it revoked may still be accepted from
//! memory. Run on SQLite and on PostgreSQL.

use crate::cached::{CacheConfig, CachedStore};
use crate::coherence::Gate;
use gantry_api::TokenKind;
use gantry_core::metrics::Metrics;
use gantry_core::model::*;
use gantry_core::store::*;
use gantry_core::time::Timestamp;
use gantry_core::token::{PlainToken, TokenHash};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A point where `revoke_token` and `delete_app` of the SQL store stop on entry, when armed
/// (after anything the caller read first, before their own transaction), until released.
#[derive(Debug, Default)]
pub(crate) struct PausePoint {
    armed: AtomicBool,
    entered: Notify,
    release: Notify,
}

impl PausePoint {
    pub(crate) async fn here(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
    }
}

fn audit(action: &str) -> AuditRecord {
    AuditRecord::new(Timestamp(0), ActorRef::System, action)
}

/// A deploy token record of app `app_1` (org `org_1`) for `plain`.
pub(crate) fn deploy_token(id: &str, plain: &PlainToken) -> TokenRecord {
    let scope = TokenScope::Deploy {
        org_id: "org_1".into(),
        org_slug: Slug::stored("acme"),
        app_id: "app_1".into(),
        app_slug: Slug::stored("web"),
    };
    TokenRecord::new(
        id.into(),
        scope,
        "ci".into(),
        plain,
        ActorRef::System,
        Timestamp(0),
    )
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
        policy: Default::default(),
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

async fn revoke_racing_rotation((inner, paused): Paused) {
    let (token, plain) = seed(&inner).await;
    let now = Timestamp(1_000);
    let store = cached(inner);
    assert!(accepted(&store, &plain.hash(), now).await);

    paused.armed.store(true, Ordering::SeqCst);
    let revoking = tokio::spawn({
        let store = store.clone();
        let id = token.id.clone();
        async move {
            store
                .revoke_token(&id, now, RevokeReason::Requested, &audit("token.revoke"))
                .await
        }
    });
    paused.entered.notified().await;

    // While the revocation waits, the token is rotated and its new value used (and cached).
    let new = PlainToken::generate(TokenKind::Deploy);
    let rotation = Rotation {
        expected_hash: plain.hash(),
        new_hash: new.hash(),
        new_prefix: new.display_prefix().to_owned(),
        prev_expires_at: None,
        prev_until_first_use: false,
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

async fn delete_app_racing_token_creation((inner, paused): Paused) {
    let (_, plain) = seed(&inner).await;
    let now = Timestamp(1_000);
    let store = cached(inner);
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

/// A SQLite store, and its pause point.
type Paused = (Arc<dyn Store>, Arc<PausePoint>);

async fn sqlite() -> (tempfile::TempDir, Paused) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::sql::sqlite::SqliteStore::open(&dir.path().join("t.db"))
        .await
        .unwrap();
    let pause = store.pause.clone();
    (dir, (Arc::new(store), pause))
}

/// A fresh PostgreSQL database, or None when there is no server (see `crate::testing`).
async fn postgres() -> Option<(crate::testing::TestDatabase, Paused)> {
    let db = crate::testing::TestDatabase::create().await.unwrap()?;
    let store = crate::sql::postgres::PgStore::open(&db.url).await.unwrap();
    let pause = store.pause.clone();
    Some((db, (Arc::new(store), pause)))
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
