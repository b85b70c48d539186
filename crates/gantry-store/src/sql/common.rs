//! The store itself, written once and compiled once per backend: `sqlite.rs` and
//! `postgres.rs` each include this file as their `common` module after defining `Db`, `DbRow`,
//! `Conn` and `Pools` (connections, write transactions, publishing cache invalidations). All
//! SQL here runs unchanged on both: `$N` placeholders (SQLite accepts them too), booleans
//! bound as `bool`, timestamps as i64 milliseconds, hashes as bytes.
//!
//! Concurrency: every write runs in a transaction from `Pools::begin_write`, which serialises
//! writers (SQLite: its single writer connection; PostgreSQL: a transaction-scoped advisory
//! lock), so the invariants checked inside a transaction hold across nodes too.

use super::{Conn, Db, DbRow, Pools};
use crate::sql::{db, Key};
use async_trait::async_trait;
use compact_str::CompactString;
use gantry_api::{Role, TokenKind, TokenStatus};
use gantry_core::model::*;
use gantry_core::store::*;
use gantry_core::time::Timestamp;
use gantry_core::token::TokenHash;
use gantry_core::{CoreError, CoreResult};
use sqlx::{QueryBuilder, Row, Transaction};
use std::time::Duration;

/// The store over one backend's pools.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(super) pools: Pools,
}

/// Maps a unique violation to a Conflict with `code`/`message`, anything else to Internal.
fn unique(e: sqlx::Error, code: &'static str, message: &str) -> CoreError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return CoreError::conflict(code, message);
        }
    }
    db(e)
}

impl SqlStore {
    /// Commits a write and returns once it is durable (SQLite: a WAL fsync shared with every
    /// write that committed meanwhile — group commit; PostgreSQL: its own commit).
    async fn commit(&self, tx: Transaction<'static, Db>) -> CoreResult<()> {
        tx.commit().await.map_err(db)?;
        self.pools.durable().await
    }

    /// Commits a write that changed what caches may hold: `keys` are published in the same
    /// transaction (PostgreSQL), and the call returns once every live node has dropped them,
    /// with the keys, for this node's cache to drop ([`Written`]).
    async fn commit_invalidating<T>(
        &self,
        mut tx: Transaction<'static, Db>,
        value: T,
        keys: Vec<Key>,
    ) -> CoreResult<Written<T>> {
        let seq = self.pools.publish(&mut tx, &keys).await?;
        self.commit(tx).await?;
        self.pools.await_acks(seq).await;
        Ok(Written::new(value, keys))
    }

    /// The cache keys of a token as stored now, read inside the write's transaction (after its
    /// lock): its current and previous hash.
    async fn token_keys(&self, conn: &mut Conn, id: &str) -> CoreResult<Vec<Key>> {
        let row = sqlx::query("SELECT hash, prev_hash FROM tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Ok(Vec::new());
        };
        Ok([hash_col(&row, "hash")?, hash_col(&row, "prev_hash")?]
            .into_iter()
            .flatten()
            .map(Key::Token)
            .collect())
    }
}

// ------------------------------------------------------------------------------------------
// Row mapping

fn ts(row: &DbRow, col: &str) -> CoreResult<Timestamp> {
    Ok(Timestamp(row.try_get::<i64, _>(col).map_err(db)?))
}

fn opt_ts(row: &DbRow, col: &str) -> CoreResult<Option<Timestamp>> {
    Ok(row
        .try_get::<Option<i64>, _>(col)
        .map_err(db)?
        .map(Timestamp))
}

fn s(row: &DbRow, col: &str) -> CoreResult<String> {
    row.try_get::<String, _>(col).map_err(db)
}

fn opt_s(row: &DbRow, col: &str) -> CoreResult<Option<String>> {
    row.try_get::<Option<String>, _>(col).map_err(db)
}

/// An id or slug, inline when short (see `TokenRecord`).
fn cs(row: &DbRow, col: &str) -> CoreResult<CompactString> {
    row.try_get::<&str, _>(col)
        .map(CompactString::from)
        .map_err(db)
}

fn opt_cs(row: &DbRow, col: &str) -> CoreResult<Option<CompactString>> {
    Ok(row
        .try_get::<Option<&str>, _>(col)
        .map_err(db)?
        .map(CompactString::from))
}

fn b(row: &DbRow, col: &str) -> CoreResult<bool> {
    row.try_get::<bool, _>(col).map_err(db)
}

fn actor(row: &DbRow, prefix: &str) -> CoreResult<ActorRef> {
    Ok(ActorRef::from_parts(
        &s(row, &format!("{prefix}_type"))?,
        opt_s(row, &format!("{prefix}_id"))?,
        opt_s(row, &format!("{prefix}_name"))?,
    ))
}

fn role(row: &DbRow, col: &str) -> CoreResult<Option<Role>> {
    Ok(opt_s(row, col)?.as_deref().and_then(Role::parse))
}

fn user_row(row: &DbRow) -> CoreResult<UserRecord> {
    Ok(UserRecord {
        id: s(row, "id")?,
        email: s(row, "email")?,
        name: s(row, "name")?,
        password_hash: s(row, "password_hash")?,
        is_admin: b(row, "is_admin")?,
        disabled: b(row, "disabled")?,
        created_at: ts(row, "created_at")?,
    })
}

fn org_row(row: &DbRow) -> CoreResult<OrgRecord> {
    Ok(OrgRecord {
        id: s(row, "id")?,
        slug: s(row, "slug")?,
        name: s(row, "name")?,
        created_at: ts(row, "created_at")?,
    })
}

fn app_row(row: &DbRow) -> CoreResult<AppRecord> {
    Ok(AppRecord {
        id: s(row, "id")?,
        org_id: s(row, "org_id")?,
        org_slug: s(row, "org_slug")?,
        slug: s(row, "slug")?,
        name: s(row, "name")?,
        created_at: ts(row, "created_at")?,
    })
}

fn release_row(row: &DbRow) -> CoreResult<ReleaseRecord> {
    Ok(ReleaseRecord {
        app_id: s(row, "app_id")?,
        version: row.try_get("version").map_err(db)?,
        label: opt_s(row, "label")?,
        message: opt_s(row, "message")?,
        artifact_sha256: s(row, "artifact_sha256")?,
        artifact_size: row.try_get("artifact_size").map_err(db)?,
        created_by: actor(row, "created_by")?,
        created_at: ts(row, "created_at")?,
    })
}

fn env_row(row: &DbRow) -> CoreResult<EnvVarRecord> {
    Ok(EnvVarRecord {
        app_id: s(row, "app_id")?,
        key: s(row, "key")?,
        value: s(row, "value")?,
        secret: b(row, "secret")?,
        updated_at: ts(row, "updated_at")?,
        updated_by: actor(row, "updated_by")?,
    })
}

fn config_row(row: &DbRow) -> CoreResult<ConfigRecord> {
    Ok(ConfigRecord {
        app_id: s(row, "app_id")?,
        version: row.try_get("version").map_err(db)?,
        document: s(row, "document")?,
        updated_at: ts(row, "updated_at")?,
        updated_by: actor(row, "updated_by")?,
    })
}

fn alert_row(row: &DbRow) -> CoreResult<AlertRecord> {
    Ok(AlertRecord {
        id: s(row, "id")?,
        org_id: s(row, "org_id")?,
        org_slug: s(row, "org_slug")?,
        name: s(row, "name")?,
        event: s(row, "event")?,
        target: s(row, "target")?,
        created_by: actor(row, "created_by")?,
        created_at: ts(row, "created_at")?,
    })
}

fn hash_col(row: &DbRow, col: &str) -> CoreResult<Option<TokenHash>> {
    let bytes: Option<Vec<u8>> = row.try_get(col).map_err(db)?;
    Ok(bytes.as_deref().and_then(TokenHash::from_slice))
}

fn token_row(row: &DbRow) -> CoreResult<TokenRecord> {
    let kind =
        TokenKind::parse(&s(row, "kind")?).ok_or_else(|| CoreError::internal("bad token kind"))?;
    let scope = TokenScope::from_columns(
        kind,
        opt_cs(row, "user_id")?,
        opt_s(row, "user_email")?,
        opt_cs(row, "org_id")?,
        opt_cs(row, "org_slug")?,
        opt_cs(row, "app_id")?,
        opt_cs(row, "app_slug")?,
        role(row, "role")?,
    )
    .ok_or_else(|| CoreError::internal(format!("a {} token without its scope", kind.as_str())))?;
    let lifetime: Option<i64> = row.try_get("lifetime_secs").map_err(db)?;
    Ok(TokenRecord {
        id: cs(row, "id")?,
        scope,
        name: s(row, "name")?,
        description: opt_s(row, "description")?,
        prefix: s(row, "prefix")?,
        hash: hash_col(row, "hash")?.ok_or_else(|| CoreError::internal("bad token hash"))?,
        prev_hash: hash_col(row, "prev_hash")?,
        prev_expires_at: opt_ts(row, "prev_expires_at")?,
        created_by: actor(row, "created_by")?,
        created_at: ts(row, "created_at")?,
        expires_at: opt_ts(row, "expires_at")?,
        lifetime: lifetime.map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0))),
        last_used_at: opt_ts(row, "last_used_at")?,
        last_used_ip: opt_s(row, "last_used_ip")?,
        rotated_at: opt_ts(row, "rotated_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
        noted: Default::default(),
    })
}

fn audit_row(row: &DbRow) -> CoreResult<AuditRecord> {
    let detail: String = s(row, "detail")?;
    Ok(AuditRecord {
        id: row.try_get("id").map_err(db)?,
        at: ts(row, "at")?,
        actor: actor(row, "actor")?,
        action: s(row, "action")?,
        target_type: opt_s(row, "target_type")?,
        target_id: opt_s(row, "target_id")?,
        org_id: opt_s(row, "org_id")?,
        org_slug: opt_s(row, "org_slug")?,
        app_id: opt_s(row, "app_id")?,
        app_slug: opt_s(row, "app_slug")?,
        ip: opt_s(row, "ip")?,
        outcome: s(row, "outcome")?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
    })
}

const TOKEN_SELECT: &str =
    "SELECT t.*, o.slug AS org_slug, a.slug AS app_slug, u.email AS user_email \
     FROM tokens t LEFT JOIN orgs o ON o.id = t.org_id LEFT JOIN apps a ON a.id = t.app_id \
     LEFT JOIN users u ON u.id = t.user_id";

const APP_SELECT: &str =
    "SELECT a.*, o.slug AS org_slug FROM apps a JOIN orgs o ON o.id = a.org_id";

async fn insert_audit(conn: &mut Conn, a: &AuditRecord) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor_type, actor_id, actor_name, action, target_type, target_id, \
         org_id, org_slug, app_id, app_slug, ip, outcome, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
    )
    .bind(a.at.0)
    .bind(a.actor.kind())
    .bind(a.actor.id())
    .bind(a.actor.name())
    .bind(&a.action)
    .bind(&a.target_type)
    .bind(&a.target_id)
    .bind(&a.org_id)
    .bind(&a.org_slug)
    .bind(&a.app_id)
    .bind(&a.app_slug)
    .bind(&a.ip)
    .bind(&a.outcome)
    .bind(a.detail.to_string())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

async fn owner_count(conn: &mut Conn, org_id: &str) -> CoreResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
        .bind(org_id)
        .fetch_one(conn)
        .await
        .map_err(db)
}

async fn member_role(conn: &mut Conn, org_id: &str, user_id: &str) -> CoreResult<Option<Role>> {
    let r: Option<String> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await
            .map_err(db)?;
    Ok(r.as_deref().and_then(Role::parse))
}

fn beyond_ceiling() -> CoreError {
    CoreError::Forbidden("only owners can grant, change or remove the owner role".into())
}

/// A copy of `audit` with one more detail field (facts only known inside the transaction).
fn with_detail(audit: &AuditRecord, key: &str, value: serde_json::Value) -> AuditRecord {
    let mut a = audit.clone();
    if let serde_json::Value::Object(m) = &mut a.detail {
        m.insert(key.to_owned(), value);
    }
    a
}

fn last_owner() -> CoreError {
    CoreError::conflict(
        "last_owner",
        "an org must keep at least one owner; make someone else owner first",
    )
}

#[async_trait]
impl Store for SqlStore {
    async fn close(&self) {
        self.pools.close().await;
    }

    async fn ping(&self) -> CoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(self.pools.reader())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn count_users(&self) -> CoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pools.writer())
            .await
            .map_err(db)
    }

    async fn insert_user(&self, u: &UserRecord, audit: &AuditRecord) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query("INSERT INTO users (id, email, name, password_hash, is_admin, disabled, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(&u.id)
            .bind(&u.email)
            .bind(&u.name)
            .bind(&u.password_hash)
            .bind(u.is_admin)
            .bind(u.disabled)
            .bind(u.created_at.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique(e, "already_exists", "a user with this email already exists"))?;
        insert_audit(&mut tx, audit).await?;
        // A new random id: nothing can have cached it.
        self.commit(tx).await?;
        Ok(Written::new((), Vec::new()))
    }

    async fn get_user(&self, id: &str) -> CoreResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pools.reader())
            .await
            .map_err(db)?;
        row.as_ref().map(user_row).transpose()
    }

    async fn get_user_by_email(&self, email: &str) -> CoreResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(self.pools.reader())
            .await
            .map_err(db)?;
        row.as_ref().map(user_row).transpose()
    }

    async fn list_users(&self, limit: i64, offset: i64) -> CoreResult<Vec<UserRecord>> {
        let rows = sqlx::query("SELECT * FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2")
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pools.reader())
            .await
            .map_err(db)?;
        rows.iter().map(user_row).collect()
    }

    async fn update_user(
        &self,
        id: &str,
        p: &UserPatch,
        audit: &AuditRecord,
    ) -> CoreResult<Written<UserRecord>> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query(
            "UPDATE users SET disabled = COALESCE($1, disabled), is_admin = COALESCE($2, is_admin), \
             name = COALESCE($3, name), password_hash = COALESCE($4, password_hash) WHERE id = $5",
        )
        .bind(p.disabled)
        .bind(p.is_admin)
        .bind(&p.name)
        .bind(&p.password_hash)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // Only a change that takes admin rights away can leave the instance without an admin.
        let demotes = p.disabled == Some(true) || p.is_admin == Some(false);
        let admins: i64 = if demotes {
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_admin AND NOT disabled")
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?
        } else {
            1
        };
        if admins == 0 {
            return Err(CoreError::conflict(
                "last_admin",
                "the instance must keep at least one enabled administrator",
            ));
        }
        // Disabling a user or setting a password ends their dashboard sessions: enabling the
        // user again, or the old password, must not bring them back.
        if p.disabled == Some(true) || p.password_hash.is_some() {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        insert_audit(&mut tx, audit).await?;
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or_else(|| CoreError::NotFound("user".into()))?;
        let user = user_row(&row)?;
        self.commit_invalidating(tx, user, vec![Key::User(id.to_owned())])
            .await
    }

    async fn insert_org(
        &self,
        org: &OrgRecord,
        owner_id: &str,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query("INSERT INTO orgs (id, slug, name, created_at) VALUES ($1,$2,$3,$4)")
            .bind(&org.id)
            .bind(&org.slug)
            .bind(&org.name)
            .bind(org.created_at.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique(e, "already_exists", "an org with this slug already exists"))?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1,$2,'owner',$3)",
        )
        .bind(&org.id)
        .bind(owner_id)
        .bind(org.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        // Other nodes may have cached "no such org" for this slug.
        let keys = vec![
            Key::Org(org.id.clone(), org.slug.clone()),
            Key::Member(org.id.clone(), owner_id.to_owned()),
        ];
        self.commit_invalidating(tx, (), keys).await
    }

    async fn get_org_by_slug(&self, slug: &str) -> CoreResult<Option<OrgRecord>> {
        let row = sqlx::query("SELECT * FROM orgs WHERE slug = $1")
            .bind(slug)
            .fetch_optional(self.pools.reader())
            .await
            .map_err(db)?;
        row.as_ref().map(org_row).transpose()
    }

    async fn get_org(&self, id: &str) -> CoreResult<Option<OrgRecord>> {
        let row = sqlx::query("SELECT * FROM orgs WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pools.reader())
            .await
            .map_err(db)?;
        row.as_ref().map(org_row).transpose()
    }

    async fn list_orgs(&self, user_id: Option<&str>) -> CoreResult<Vec<(OrgRecord, Option<Role>)>> {
        let rows = match user_id {
            Some(u) => sqlx::query("SELECT o.*, m.role AS role FROM orgs o JOIN memberships m ON m.org_id = o.id WHERE m.user_id = $1 ORDER BY o.slug")
                .bind(u)
                .fetch_all(self.pools.reader())
                .await,
            None => sqlx::query("SELECT o.*, NULL AS role FROM orgs o ORDER BY o.slug")
                .fetch_all(self.pools.reader())
                .await,
        }
        .map_err(db)?;
        rows.iter()
            .map(|r| Ok((org_row(r)?, role(r, "role")?)))
            .collect()
    }

    async fn get_member_role(&self, org_id: &str, user_id: &str) -> CoreResult<Option<Role>> {
        let r: Option<String> =
            sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org_id)
                .bind(user_id)
                .fetch_optional(self.pools.reader())
                .await
                .map_err(db)?;
        Ok(r.as_deref().and_then(Role::parse))
    }

    async fn list_members(&self, org_id: &str) -> CoreResult<Vec<MemberRecord>> {
        let rows = sqlx::query("SELECT m.*, u.email, u.name FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email")
            .bind(org_id)
            .fetch_all(self.pools.reader())
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(MemberRecord {
                    org_id: s(r, "org_id")?,
                    user_id: s(r, "user_id")?,
                    email: s(r, "email")?,
                    name: s(r, "name")?,
                    role: role(r, "role")?.ok_or_else(|| CoreError::internal("bad role"))?,
                    created_at: ts(r, "created_at")?,
                })
            })
            .collect()
    }

    async fn put_member(
        &self,
        org_id: &str,
        user_id: &str,
        role: Role,
        ceiling: Role,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written<Option<Role>>> {
        let mut tx = self.pools.begin_write().await?;
        let current = member_role(&mut tx, org_id, user_id).await?;
        if role.max(current.unwrap_or(Role::Viewer)) > ceiling {
            return Err(beyond_ceiling());
        }
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1,$2,$3,$4) ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role")
            .bind(org_id)
            .bind(user_id)
            .bind(role.as_str())
            .bind(at.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if owner_count(&mut tx, org_id).await? == 0 {
            return Err(last_owner());
        }
        let audit = with_detail(audit, "previous_role", current.map(Role::as_str).into());
        insert_audit(&mut tx, &audit).await?;
        let keys = vec![Key::Member(org_id.to_owned(), user_id.to_owned())];
        self.commit_invalidating(tx, current, keys).await
    }

    async fn delete_member(
        &self,
        org_id: &str,
        user_id: &str,
        ceiling: Option<Role>,
        audit: &AuditRecord,
    ) -> CoreResult<Written<Option<Role>>> {
        let mut tx = self.pools.begin_write().await?;
        let Some(current) = member_role(&mut tx, org_id, user_id).await? else {
            return Ok(Written::new(None, Vec::new()));
        };
        if ceiling.is_some_and(|c| current > c) {
            return Err(beyond_ceiling());
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if owner_count(&mut tx, org_id).await? == 0 {
            return Err(last_owner());
        }
        let audit = with_detail(audit, "previous_role", current.as_str().into());
        insert_audit(&mut tx, &audit).await?;
        let keys = vec![Key::Member(org_id.to_owned(), user_id.to_owned())];
        self.commit_invalidating(tx, Some(current), keys).await
    }

    async fn insert_app(
        &self,
        app: &AppRecord,
        reservation: Duration,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        // Checked under the write lock: a deletion or creation in between cannot slip past.
        let since = app
            .created_at
            .0
            .saturating_sub(i64::try_from(reservation.as_millis()).unwrap_or(i64::MAX));
        let reserved: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(deleted_at) FROM apps WHERE slug = $1 AND org_id <> $2 \
             AND deleted_at IS NOT NULL AND deleted_at > $3",
        )
        .bind(&app.slug)
        .bind(&app.org_id)
        .bind(since)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(deleted_at) = reserved {
            let until = Timestamp(deleted_at).plus(reservation);
            return Err(CoreError::conflict(
                "slug_reserved",
                format!(
                    "the slug '{}' belonged to another org's app, deleted at {}; it stays reserved \
                     to that org until {}",
                    app.slug,
                    Timestamp(deleted_at).to_rfc3339(),
                    until.to_rfc3339()
                ),
            ));
        }
        sqlx::query(
            "INSERT INTO apps (id, org_id, slug, name, created_at) VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(&app.id)
        .bind(&app.org_id)
        .bind(&app.slug)
        .bind(&app.name)
        .bind(app.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            unique(
                e,
                "already_exists",
                "an app with this slug already exists (app slugs are unique across the instance)",
            )
        })?;
        insert_audit(&mut tx, audit).await?;
        // Other nodes may have cached "no such app" for this slug.
        let keys = vec![Key::App(app.id.clone(), app.slug.clone())];
        self.commit_invalidating(tx, (), keys).await
    }

    async fn get_app_by_slug(&self, slug: &str) -> CoreResult<Option<std::sync::Arc<AppRecord>>> {
        let row = sqlx::query(&format!(
            "{APP_SELECT} WHERE a.slug = $1 AND a.deleted_at IS NULL"
        ))
        .bind(slug)
        .fetch_optional(self.pools.reader())
        .await
        .map_err(db)?;
        Ok(row
            .as_ref()
            .map(app_row)
            .transpose()?
            .map(std::sync::Arc::new))
    }

    async fn get_app(&self, id: &str) -> CoreResult<Option<std::sync::Arc<AppRecord>>> {
        let row = sqlx::query(&format!(
            "{APP_SELECT} WHERE a.id = $1 AND a.deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(self.pools.reader())
        .await
        .map_err(db)?;
        Ok(row
            .as_ref()
            .map(app_row)
            .transpose()?
            .map(std::sync::Arc::new))
    }

    async fn list_apps(&self, org_id: &str) -> CoreResult<Vec<AppRecord>> {
        let rows = sqlx::query(&format!(
            "{APP_SELECT} WHERE a.org_id = $1 AND a.deleted_at IS NULL ORDER BY a.slug"
        ))
        .bind(org_id)
        .fetch_all(self.pools.reader())
        .await
        .map_err(db)?;
        rows.iter().map(app_row).collect()
    }

    async fn delete_app(
        &self,
        app_id: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query("UPDATE apps SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(at.0)
            .bind(app_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Many token rows at once: queue with last-used flushes instead of interleaving row
        // locks with one (which could deadlock).
        self.pools.exclude_usage_flush(&mut tx).await?;
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE app_id = $2 AND revoked_at IS NULL")
            .bind(at.0)
            .bind(app_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        // Its deploy tokens were revoked with it, including one created a moment ago: every
        // cache drops every token lookup.
        let slug: Option<String> = sqlx::query_scalar("SELECT slug FROM apps WHERE id = $1")
            .bind(app_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let keys = vec![
            Key::App(app_id.to_owned(), slug.unwrap_or_default()),
            Key::AllTokens,
        ];
        self.commit_invalidating(tx, (), keys).await
    }

    async fn insert_release(
        &self,
        r: &NewRelease,
        audit: &AuditRecord,
    ) -> CoreResult<(ReleaseRecord, bool)> {
        let mut tx = self.pools.begin_write().await?;
        let existing: Option<i64> = match &r.label {
            Some(label) => {
                sqlx::query_scalar("SELECT version FROM releases WHERE app_id = $1 AND label = $2")
                    .bind(&r.app_id)
                    .bind(label)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?
            }
            None => None,
        };
        let (version, replaced) = match existing {
            Some(_) if !r.overwrite => {
                return Err(CoreError::conflict(
                    "duplicate_label",
                    "a release with this label exists; push with overwrite=true to replace it",
                ))
            }
            Some(v) => {
                sqlx::query("DELETE FROM releases WHERE app_id = $1 AND version = $2")
                    .bind(&r.app_id)
                    .bind(v)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                (v, true)
            }
            None => {
                let max: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM releases WHERE app_id = $1")
                        .bind(&r.app_id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db)?;
                (max.unwrap_or(0) + 1, false)
            }
        };
        sqlx::query(
            "INSERT INTO releases (app_id, version, label, message, artifact_sha256, artifact_size, \
             created_by_type, created_by_id, created_by_name, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        )
        .bind(&r.app_id)
        .bind(version)
        .bind(&r.label)
        .bind(&r.message)
        .bind(&r.artifact_sha256)
        .bind(r.artifact_size)
        .bind(r.created_by.kind())
        .bind(r.created_by.id())
        .bind(r.created_by.name())
        .bind(r.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| unique(e, "duplicate_label", "a release with this label exists"))?;
        let audit = with_detail(audit, "version", version.into());
        insert_audit(&mut tx, &audit).await?;
        self.commit(tx).await?;
        Ok((
            ReleaseRecord {
                app_id: r.app_id.clone(),
                version,
                label: r.label.clone(),
                message: r.message.clone(),
                artifact_sha256: r.artifact_sha256.clone(),
                artifact_size: r.artifact_size,
                created_by: r.created_by.clone(),
                created_at: r.created_at,
            },
            replaced,
        ))
    }

    async fn list_releases(&self, app_id: &str, limit: i64) -> CoreResult<Vec<ReleaseRecord>> {
        let rows =
            sqlx::query("SELECT * FROM releases WHERE app_id = $1 ORDER BY version DESC LIMIT $2")
                .bind(app_id)
                .bind(limit)
                .fetch_all(self.pools.reader())
                .await
                .map_err(db)?;
        rows.iter().map(release_row).collect()
    }

    async fn get_release(&self, app_id: &str, version: i64) -> CoreResult<Option<ReleaseRecord>> {
        let row = sqlx::query("SELECT * FROM releases WHERE app_id = $1 AND version = $2")
            .bind(app_id)
            .bind(version)
            .fetch_optional(self.pools.reader())
            .await
            .map_err(db)?;
        row.as_ref().map(release_row).transpose()
    }

    async fn artifact_in_use(&self, sha256: &str) -> CoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM releases WHERE artifact_sha256 = $1")
            .bind(sha256)
            .fetch_one(self.pools.writer())
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    async fn list_env(&self, app_id: &str) -> CoreResult<Vec<EnvVarRecord>> {
        let rows = sqlx::query("SELECT * FROM env_vars WHERE app_id = $1 ORDER BY key")
            .bind(app_id)
            .fetch_all(self.pools.reader())
            .await
            .map_err(db)?;
        rows.iter().map(env_row).collect()
    }

    async fn put_env(
        &self,
        v: &EnvVarRecord,
        max_vars: i64,
        audit: &AuditRecord,
    ) -> CoreResult<()> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query(
            "INSERT INTO env_vars (app_id, key, value, secret, updated_at, updated_by_type, updated_by_id, updated_by_name) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (app_id, key) DO UPDATE SET value = excluded.value, \
             secret = excluded.secret, updated_at = excluded.updated_at, updated_by_type = excluded.updated_by_type, \
             updated_by_id = excluded.updated_by_id, updated_by_name = excluded.updated_by_name",
        )
        .bind(&v.app_id)
        .bind(&v.key)
        .bind(&v.value)
        .bind(v.secret)
        .bind(v.updated_at.0)
        .bind(v.updated_by.kind())
        .bind(v.updated_by.id())
        .bind(v.updated_by.name())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM env_vars WHERE app_id = $1")
            .bind(&v.app_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if n > max_vars {
            return Err(CoreError::conflict(
                "too_many",
                format!("an app holds at most {max_vars} env vars"),
            ));
        }
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await
    }

    async fn secret_env_vars(&self) -> CoreResult<Vec<EnvVarRecord>> {
        let rows = sqlx::query("SELECT * FROM env_vars WHERE secret = $1 ORDER BY app_id, key")
            .bind(true)
            .fetch_all(self.pools.reader())
            .await
            .map_err(db)?;
        rows.iter().map(env_row).collect()
    }

    async fn reseal_env(&self, app_id: &str, key: &str, old: &str, new: &str) -> CoreResult<bool> {
        let mut tx = self.pools.begin_write().await?;
        let n = sqlx::query(
            "UPDATE env_vars SET value = $1 WHERE app_id = $2 AND key = $3 AND value = $4 AND secret = $5",
        )
        .bind(new)
        .bind(app_id)
        .bind(key)
        .bind(old)
        .bind(true)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        self.commit(tx).await?;
        Ok(n == 1)
    }

    async fn delete_env(&self, app_id: &str, key: &str, audit: &AuditRecord) -> CoreResult<bool> {
        let mut tx = self.pools.begin_write().await?;
        let n = sqlx::query("DELETE FROM env_vars WHERE app_id = $1 AND key = $2")
            .bind(app_id)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn get_config(
        &self,
        app_id: &str,
        version: Option<i64>,
    ) -> CoreResult<Option<ConfigRecord>> {
        let row = match version {
            Some(v) => {
                sqlx::query("SELECT * FROM configs WHERE app_id = $1 AND version = $2")
                    .bind(app_id)
                    .bind(v)
                    .fetch_optional(self.pools.reader())
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM configs WHERE app_id = $1 ORDER BY version DESC LIMIT 1")
                    .bind(app_id)
                    .fetch_optional(self.pools.reader())
                    .await
            }
        }
        .map_err(db)?;
        row.as_ref().map(config_row).transpose()
    }

    async fn put_config(
        &self,
        app_id: &str,
        document: &str,
        by: &ActorRef,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<ConfigRecord> {
        let mut tx = self.pools.begin_write().await?;
        let max: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM configs WHERE app_id = $1")
                .bind(app_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        let version = max.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO configs (app_id, version, document, updated_at, updated_by_type, updated_by_id, updated_by_name) \
             VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(app_id)
        .bind(version)
        .bind(document)
        .bind(at.0)
        .bind(by.kind())
        .bind(by.id())
        .bind(by.name())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let audit = with_detail(audit, "version", version.into());
        insert_audit(&mut tx, &audit).await?;
        self.commit(tx).await?;
        Ok(ConfigRecord {
            app_id: app_id.to_owned(),
            version,
            document: document.to_owned(),
            updated_at: at,
            updated_by: by.clone(),
        })
    }

    async fn insert_alert(&self, a: &AlertRecord, audit: &AuditRecord) -> CoreResult<()> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query(
            "INSERT INTO alerts (id, org_id, name, event, target, created_by_type, created_by_id, created_by_name, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
        )
        .bind(&a.id)
        .bind(&a.org_id)
        .bind(&a.name)
        .bind(&a.event)
        .bind(&a.target)
        .bind(a.created_by.kind())
        .bind(a.created_by.id())
        .bind(a.created_by.name())
        .bind(a.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await
    }

    async fn list_alerts(&self, org_id: &str) -> CoreResult<Vec<AlertRecord>> {
        let rows = sqlx::query("SELECT al.*, o.slug AS org_slug FROM alerts al JOIN orgs o ON o.id = al.org_id WHERE al.org_id = $1 ORDER BY al.created_at, al.id")
            .bind(org_id)
            .fetch_all(self.pools.reader())
            .await
            .map_err(db)?;
        rows.iter().map(alert_row).collect()
    }

    async fn delete_alert(&self, org_id: &str, id: &str, audit: &AuditRecord) -> CoreResult<bool> {
        let mut tx = self.pools.begin_write().await?;
        let n = sqlx::query("DELETE FROM alerts WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn insert_token(&self, t: &TokenRecord, audit: &AuditRecord) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query(
            "INSERT INTO tokens (id, kind, name, description, prefix, hash, user_id, org_id, app_id, role, \
             created_by_type, created_by_id, created_by_name, created_at, expires_at, lifetime_secs) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
        )
        .bind(t.id.as_str())
        .bind(t.kind().as_str())
        .bind(&t.name)
        .bind(&t.description)
        .bind(&t.prefix)
        .bind(&t.hash.0[..])
        .bind(t.scope.user_id())
        .bind(t.scope.org_id())
        .bind(t.scope.app_id())
        .bind(t.scope.role().map(Role::as_str))
        .bind(t.created_by.kind())
        .bind(t.created_by.id())
        .bind(t.created_by.name())
        .bind(t.created_at.0)
        .bind(t.expires_at.map(|e| e.0))
        .bind(t.lifetime.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        // A fresh random hash (178 bits): no node can have looked it up before, so nothing
        // to invalidate, and no log entry to wait for.
        self.commit(tx).await?;
        Ok(Written::new((), Vec::new()))
    }

    async fn get_token(&self, id: &str) -> CoreResult<Option<TokenRecord>> {
        let row = sqlx::query(&format!("{TOKEN_SELECT} WHERE t.id = $1"))
            .bind(id)
            .fetch_optional(self.pools.reader())
            .await
            .map_err(db)?;
        row.as_ref().map(token_row).transpose()
    }

    async fn find_token_by_hash(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> CoreResult<Option<TokenMatch>> {
        let row = sqlx::query(&format!(
            "{TOKEN_SELECT} WHERE t.hash = $1 UNION ALL {TOKEN_SELECT} WHERE t.prev_hash = $1 AND t.prev_expires_at > $2 LIMIT 1"
        ))
        .bind(&hash.0[..])
        .bind(now.0)
        .fetch_optional(self.pools.reader())
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let token = token_row(&row)?;
        let via_previous = token.hash != *hash;
        let user = match token.scope.user_id() {
            Some(uid) => self.get_user(uid).await?,
            None => None,
        };
        Ok(Some(TokenMatch {
            token: std::sync::Arc::new(token),
            user,
            via_previous,
        }))
    }

    async fn list_tokens(&self, f: &TokenFilter, now: Timestamp) -> CoreResult<Vec<TokenRecord>> {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(TOKEN_SELECT);
        q.push(" WHERE 1=1");
        if !f.kinds.is_empty() {
            q.push(" AND t.kind IN (");
            let mut sep = q.separated(", ");
            for k in &f.kinds {
                sep.push_bind(k.as_str());
            }
            q.push(")");
        }
        if let Some(u) = &f.user_id {
            q.push(" AND t.user_id = ").push_bind(u.clone());
        }
        if let Some(o) = &f.org_id {
            q.push(" AND t.org_id = ").push_bind(o.clone());
        }
        if let Some(a) = &f.app_id {
            q.push(" AND t.app_id = ").push_bind(a.clone());
        }
        if let Some((orgs, user)) = &f.org_ids_or_user {
            q.push(" AND (t.user_id = ").push_bind(user.clone());
            if !orgs.is_empty() {
                q.push(" OR (t.kind != 'personal' AND t.org_id IN (");
                let mut sep = q.separated(", ");
                for o in orgs {
                    sep.push_bind(o.clone());
                }
                q.push("))");
            }
            q.push(")");
        }
        match f.status {
            None => {
                q.push(" AND t.revoked_at IS NULL");
            }
            Some(StatusFilter::All) => {}
            Some(StatusFilter::One(TokenStatus::Revoked)) => {
                q.push(" AND t.revoked_at IS NOT NULL");
            }
            Some(StatusFilter::One(TokenStatus::Active)) => {
                q.push(" AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ")
                    .push_bind(now.0)
                    .push(")");
            }
            Some(StatusFilter::One(TokenStatus::Expired)) => {
                q.push(" AND t.revoked_at IS NULL AND t.expires_at <= ")
                    .push_bind(now.0);
            }
        }
        if let Some(before) = f.expiring_before {
            q.push(" AND t.expires_at > ")
                .push_bind(now.0)
                .push(" AND t.expires_at <= ")
                .push_bind(before.0);
        }
        q.push(" ORDER BY t.created_at DESC, t.id LIMIT ")
            .push_bind(f.limit)
            .push(" OFFSET ")
            .push_bind(f.offset);
        let rows = q.build().fetch_all(self.pools.reader()).await.map_err(db)?;
        rows.iter().map(token_row).collect()
    }

    async fn update_token(
        &self,
        id: &str,
        name: &str,
        description: Option<&str>,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        let keys = self.token_keys(&mut tx, id).await?;
        sqlx::query("UPDATE tokens SET name = $1, description = $2 WHERE id = $3")
            .bind(name)
            .bind(description)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        self.commit_invalidating(tx, (), keys).await
    }

    async fn rotate_token(
        &self,
        id: &str,
        r: &Rotation,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        let mut keys = self.token_keys(&mut tx, id).await?;
        // The new value may have been looked up (and cached as unknown) before it existed.
        keys.push(Key::Token(r.new_hash));
        // With a grace period the current hash becomes the previous one; without, it is dropped.
        let n = sqlx::query(
            "UPDATE tokens SET prev_hash = CASE WHEN $1 IS NULL THEN NULL ELSE hash END, prev_expires_at = $1, \
             hash = $2, prefix = $3, expires_at = $4, lifetime_secs = $5, rotated_at = $6 \
             WHERE id = $7 AND revoked_at IS NULL AND hash = $8",
        )
        .bind(r.prev_expires_at.map(|t| t.0))
        .bind(&r.new_hash.0[..])
        .bind(&r.new_prefix)
        .bind(r.expires_at.map(|t| t.0))
        .bind(r.lifetime.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
        .bind(r.rotated_at.0)
        .bind(id)
        .bind(&r.expected_hash.0[..])
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            let revoked: Option<Option<i64>> =
                sqlx::query_scalar("SELECT revoked_at FROM tokens WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            return Err(match revoked {
                Some(Some(_)) => {
                    CoreError::conflict("token_revoked", "a revoked token cannot be rotated")
                }
                _ => CoreError::conflict(
                    "rotated_concurrently",
                    "the token was rotated by another request at the same time; nothing changed",
                ),
            });
        }
        insert_audit(&mut tx, audit).await?;
        self.commit_invalidating(tx, (), keys).await
    }

    async fn revoke_token(
        &self,
        id: &str,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>> {
        let mut tx = self.pools.begin_write().await?;
        let keys = self.token_keys(&mut tx, id).await?;
        let n = sqlx::query("UPDATE tokens SET revoked_at = $1, prev_hash = NULL, prev_expires_at = NULL WHERE id = $2 AND revoked_at IS NULL")
            .bind(at.0)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            // Already revoked: nothing changed, but a cache still holding it active is wrong.
            return Ok(Written::new(false, keys));
        }
        insert_audit(&mut tx, audit).await?;
        self.commit_invalidating(tx, true, keys).await
    }

    async fn record_token_uses(&self, uses: &[TokenUse]) -> CoreResult<()> {
        // One statement per chunk, not one per token: each sqlx-sqlite statement is a round
        // trip to the connection's worker thread, and a flush can carry 100,000 tokens.
        // 3 parameters a row; SQLite allows 32766 per statement, PostgreSQL 65535.
        let mut tx = self.pools.begin_usage().await?;
        for chunk in uses.chunks(8_000) {
            let mut q: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE tokens SET last_used_at = v.at, last_used_ip = v.ip FROM \
                 (SELECT column1 AS id, column2 AS at, column3 AS ip FROM (",
            );
            q.push_values(chunk, |mut b, u| {
                b.push_bind(&u.token_id).push_bind(u.at.0).push_bind(&u.ip);
            });
            q.push(
                ") AS vals) AS v WHERE tokens.id = v.id \
                 AND (tokens.last_used_at IS NULL OR tokens.last_used_at < v.at)",
            );
            q.build().execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn token_counts(&self, now: Timestamp) -> CoreResult<gantry_core::metrics::TokenCounts> {
        let week = now.0.saturating_add(7 * 24 * 3600 * 1000);
        let rows = sqlx::query(
            "SELECT kind, \
               SUM(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END) AS revoked, \
               SUM(CASE WHEN revoked_at IS NULL AND expires_at <= $1 THEN 1 ELSE 0 END) AS expired, \
               SUM(CASE WHEN revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1) THEN 1 ELSE 0 END) AS active, \
               SUM(CASE WHEN revoked_at IS NULL AND expires_at > $1 AND expires_at <= $2 THEN 1 ELSE 0 END) AS expiring \
             FROM tokens GROUP BY kind",
        )
        .bind(now.0)
        .bind(week)
        .fetch_all(self.pools.reader())
        .await
        .map_err(db)?;
        let mut counts = gantry_core::metrics::TokenCounts::default();
        for row in rows {
            let Some(kind) = TokenKind::parse(&s(&row, "kind")?) else {
                continue;
            };
            for status in [
                TokenStatus::Active,
                TokenStatus::Expired,
                TokenStatus::Revoked,
            ] {
                let n: i64 = row.try_get(status.as_str()).map_err(db)?;
                counts
                    .by_kind_status
                    .push((kind.as_str(), status.as_str(), n));
            }
            counts.expiring_within_7d += row.try_get::<i64, _>("expiring").map_err(db)?;
        }
        Ok(counts)
    }

    async fn insert_session(&self, session: &SessionRecord, audit: &AuditRecord) -> CoreResult<()> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(session.created_at.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO sessions (hash, user_id, created_at, expires_at, ip) VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(&session.hash.0[..])
        .bind(&session.user_id)
        .bind(session.created_at.0)
        .bind(session.expires_at.0)
        .bind(&session.ip)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await
    }

    async fn get_session(&self, hash: &TokenHash) -> CoreResult<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE hash = $1")
            .bind(&hash.0[..])
            .fetch_optional(self.pools.reader())
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(SessionRecord {
            hash: hash_col(&row, "hash")?.ok_or_else(|| CoreError::internal("bad session hash"))?,
            user_id: s(&row, "user_id")?,
            created_at: ts(&row, "created_at")?,
            expires_at: ts(&row, "expires_at")?,
            ip: opt_s(&row, "ip")?,
        }))
    }

    async fn delete_session(&self, hash: &TokenHash, audit: &AuditRecord) -> CoreResult<bool> {
        let mut tx = self.pools.begin_write().await?;
        let n = sqlx::query("DELETE FROM sessions WHERE hash = $1")
            .bind(&hash.0[..])
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn append_audit(&self, audit: &AuditRecord) -> CoreResult<()> {
        let mut conn = self.pools.writer().acquire().await.map_err(db)?;
        insert_audit(&mut conn, audit).await?;
        drop(conn);
        self.pools.durable().await
    }

    async fn list_audit(&self, f: &AuditFilter) -> CoreResult<Vec<AuditRecord>> {
        let mut q: QueryBuilder<Db> = QueryBuilder::new("SELECT * FROM audit_events WHERE 1=1");
        if let Some(o) = &f.org_id {
            q.push(" AND org_id = ").push_bind(o.clone());
        }
        if let Some(a) = &f.actor_id {
            q.push(" AND actor_id = ").push_bind(a.clone());
        }
        if let Some(a) = &f.action {
            q.push(" AND action = ").push_bind(a.clone());
        }
        if let Some(since) = f.since {
            q.push(" AND at >= ").push_bind(since.0);
        }
        if let Some(before) = f.before_id {
            q.push(" AND id < ").push_bind(before);
        }
        if let Some((orgs, actor)) = &f.visible_to {
            q.push(" AND (actor_id = ").push_bind(actor.clone());
            if !orgs.is_empty() {
                q.push(" OR org_id IN (");
                let mut sep = q.separated(", ");
                for o in orgs {
                    sep.push_bind(o.clone());
                }
                q.push(")");
            }
            q.push(")");
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit);
        let rows = q.build().fetch_all(self.pools.reader()).await.map_err(db)?;
        rows.iter().map(audit_row).collect()
    }
}

// ------------------------------------------------------------------------------------------
// Export and import (`crate::transfer`): rows as JSON values, typed by `sql::TABLES`.

use crate::sql::{columns, Col, TABLES};
use futures_util::TryStreamExt;
use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};

fn export_value(row: &DbRow, i: usize, col: Col) -> CoreResult<Value> {
    Ok(match col {
        Col::Text => row
            .try_get::<Option<String>, _>(i)
            .map_err(db)?
            .map_or(Value::Null, Value::String),
        Col::Int => row
            .try_get::<Option<i64>, _>(i)
            .map_err(db)?
            .map_or(Value::Null, Value::from),
        Col::Bool => row
            .try_get::<Option<bool>, _>(i)
            .map_err(db)?
            .map_or(Value::Null, Value::Bool),
        Col::Bytes => row
            .try_get::<Option<Vec<u8>>, _>(i)
            .map_err(db)?
            .map_or(Value::Null, |b| Value::String(hex::encode(b))),
    })
}

/// One value ready to bind.
enum Bound {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

fn import_value(table: &str, name: &str, col: Col, v: &Value) -> CoreResult<Bound> {
    let bad = || CoreError::invalid("import", format!("{table}.{name}: unexpected value {v}"));
    if v.is_null() {
        return Ok(match col {
            Col::Text => Bound::Text(None),
            Col::Int => Bound::Int(None),
            Col::Bool => Bound::Bool(None),
            Col::Bytes => Bound::Bytes(None),
        });
    }
    Ok(match col {
        Col::Text => Bound::Text(Some(v.as_str().ok_or_else(bad)?.to_owned())),
        Col::Int => Bound::Int(Some(v.as_i64().ok_or_else(bad)?)),
        Col::Bool => Bound::Bool(Some(v.as_bool().ok_or_else(bad)?)),
        Col::Bytes => Bound::Bytes(Some(
            hex::decode(v.as_str().ok_or_else(bad)?).map_err(|_| bad())?,
        )),
    })
}

impl SqlStore {
    /// Writes every row of every exported table as a JSON line `{"table": T, "row": [...]}`,
    /// all from one consistent snapshot. Returns how many rows, and the artifacts that
    /// releases point at.
    pub async fn export_rows(
        &self,
        out: &mut (dyn AsyncWrite + Send + Unpin),
    ) -> CoreResult<(u64, Vec<String>)> {
        let mut tx = self.pools.begin_snapshot().await?;
        let mut written = 0;
        for (table, cols) in TABLES {
            let names: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
            let sql = format!("SELECT {} FROM {table} ORDER BY 1", names.join(", "));
            let mut rows = sqlx::query(&sql).fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(db)? {
                let values = cols
                    .iter()
                    .enumerate()
                    .map(|(i, (_, col))| export_value(&row, i, *col))
                    .collect::<CoreResult<Vec<Value>>>()?;
                let mut line =
                    serde_json::to_vec(&serde_json::json!({"table": table, "row": values}))
                        .map_err(|e| CoreError::caused("encoding an export line", e))?;
                line.push(b'\n');
                out.write_all(&line).await.map_err(CoreError::io)?;
                written += 1;
            }
        }
        let artifacts: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT artifact_sha256 FROM releases ORDER BY 1")
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        tx.rollback().await.map_err(db)?;
        Ok((written, artifacts))
    }

    /// Starts an import: refuses a database that already holds users, orgs or tokens, and
    /// writes everything in one transaction that [`Importer::finish`] commits.
    pub async fn begin_import(&self) -> CoreResult<Importer> {
        let mut tx = self.pools.begin_write().await?;
        let existing: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM orgs) + (SELECT COUNT(*) FROM tokens)",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if existing > 0 {
            return Err(CoreError::conflict(
                "not_empty",
                "the target database already holds data; import into a new, empty one",
            ));
        }
        Ok(Importer {
            tx,
            pools: self.pools.clone(),
        })
    }
}

/// An import in progress (one transaction).
pub struct Importer {
    tx: Transaction<'static, Db>,
    pools: Pools,
}

impl Importer {
    /// Inserts rows of `table`, each with the columns `sql::TABLES` lists, in order.
    pub async fn insert(&mut self, table: &str, rows: &[Vec<Value>]) -> CoreResult<()> {
        let cols = columns(table)
            .ok_or_else(|| CoreError::invalid("import", format!("unknown table {table}")))?;
        let mut bound = Vec::with_capacity(rows.len());
        for row in rows {
            if row.len() != cols.len() {
                return Err(CoreError::invalid(
                    "import",
                    format!(
                        "{table}: a row has {} values, expected {}",
                        row.len(),
                        cols.len()
                    ),
                ));
            }
            bound.push(
                cols.iter()
                    .zip(row)
                    .map(|((name, col), v)| import_value(table, name, *col, v))
                    .collect::<CoreResult<Vec<Bound>>>()?,
            );
        }
        let names: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
        // SQLite allows 32766 parameters per statement, PostgreSQL 65535.
        for chunk in bound.chunks(30_000 / cols.len()) {
            let mut q: QueryBuilder<Db> =
                QueryBuilder::new(format!("INSERT INTO {table} ({}) ", names.join(", ")));
            q.push_values(chunk, |mut b, row| {
                for v in row {
                    match v {
                        Bound::Text(v) => b.push_bind(v.clone()),
                        Bound::Int(v) => b.push_bind(*v),
                        Bound::Bool(v) => b.push_bind(*v),
                        Bound::Bytes(v) => b.push_bind(v.clone()),
                    };
                }
            });
            q.build().execute(&mut *self.tx).await.map_err(db)?;
        }
        Ok(())
    }

    /// Commits everything inserted.
    pub async fn finish(mut self) -> CoreResult<()> {
        self.pools.after_import(&mut self.tx).await?;
        self.tx.commit().await.map_err(db)?;
        self.pools.durable().await
    }
}
