//! The schema refuses a token row that holds what another kind needs (`0003_token_scope`):
//! `TokenScope` makes such a record impossible to write through the store, and the database
//! keeps an import or a hand edit from making one no code could read.

use crate::race_tests::seed;
use gantry_core::store::Store;
use std::sync::Arc;

/// Each turns the seeded deploy token `tok_1` into one no kind has.
const MISSCOPED_UPDATES: &[&str] = &[
    "UPDATE tokens SET user_id = 'usr_1' WHERE id = 'tok_1'",
    "UPDATE tokens SET role = 'owner' WHERE id = 'tok_1'",
    "UPDATE tokens SET app_id = NULL WHERE id = 'tok_1'",
    "UPDATE tokens SET kind = 'org' WHERE id = 'tok_1'",
    "UPDATE tokens SET kind = 'personal' WHERE id = 'tok_1'",
];

/// A new row's (kind, user_id, org_id, app_id, role).
type Columns = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

/// None of them is a whole scope.
const MISSCOPED_INSERTS: &[Columns] = &[
    ("personal", None, None, None, None),
    ("personal", Some("usr_1"), Some("org_1"), None, None),
    ("org", None, Some("org_1"), None, None),
    ("org", Some("usr_1"), Some("org_1"), None, Some("viewer")),
    ("deploy", None, Some("org_1"), None, None),
    ("deploy", None, Some("org_1"), Some("app_1"), Some("admin")),
];

const INSERT: &str =
    "INSERT INTO tokens (id, kind, name, prefix, hash, user_id, org_id, app_id, role, \
     created_by_type, created_at) VALUES ($1, $2, 'x', 'p', $3, $4, $5, $6, $7, 'system', 0)";

macro_rules! refuses_misscoped_rows {
    ($pool:expr) => {{
        let pool = $pool;
        for sql in MISSCOPED_UPDATES {
            assert!(
                sqlx::query(sql).execute(pool).await.is_err(),
                "accepted: {sql}"
            );
        }
        for (i, (kind, user, org, app, role)) in MISSCOPED_INSERTS.iter().enumerate() {
            let r = sqlx::query(INSERT)
                .bind(format!("tok_bad{i}"))
                .bind(kind)
                .bind(vec![i as u8; 32])
                .bind(user)
                .bind(org)
                .bind(app)
                .bind(role)
                .execute(pool)
                .await;
            assert!(
                r.is_err(),
                "accepted: {kind} {user:?} {org:?} {app:?} {role:?}"
            );
        }
        // A whole scope of each kind is still accepted.
        for (i, (kind, user, org, app, role)) in [
            ("personal", Some("usr_1"), None, None, None),
            ("org", None, Some("org_1"), None, Some("viewer")),
            ("deploy", None, Some("org_1"), Some("app_1"), None),
        ]
        .into_iter()
        .enumerate()
        {
            sqlx::query(INSERT)
                .bind(format!("tok_good{i}"))
                .bind(kind)
                .bind(vec![100 + i as u8; 32])
                .bind(user)
                .bind(org)
                .bind(app)
                .bind(role)
                .execute(pool)
                .await
                .unwrap();
        }
    }};
}

#[tokio::test]
async fn a_token_row_without_its_kinds_scope_is_refused_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = super::sqlite::SqliteStore::open(&dir.path().join("t.db"))
        .await
        .unwrap();
    let pool = store.writer_pool().clone();
    seed(&(Arc::new(store) as Arc<dyn Store>)).await;
    refuses_misscoped_rows!(&pool);
}

#[tokio::test]
async fn a_token_row_without_its_kinds_scope_is_refused_on_postgres() {
    let Some(db) = crate::testing::TestDatabase::create().await.unwrap() else {
        return;
    };
    let store = super::postgres::PgStore::open(&db.url).await.unwrap();
    let pool = store.pool().clone();
    seed(&(Arc::new(store) as Arc<dyn Store>)).await;
    refuses_misscoped_rows!(&pool);
}
