//! The store itself, written once and compiled once per backend: `sqlite.rs` and
//! `postgres.rs` each include this folder as their `common` module after defining `Db`,
//! `DbRow`, `Conn` and `Pools` (connections, write transactions, publishing cache
//! invalidations). All SQL here runs unchanged on both: `$N` placeholders (SQLite accepts them
//! too), booleans bound as `bool`, timestamps as i64 milliseconds, hashes as bytes.
//!
//! A file per domain, each implementing its part of the `Store` trait (`users`, `orgs`, `apps`,
//! `releases`, `env_config`, `alerts`, `tokens`, `sessions`, `audit`), the row mappers they share
//! (`rows`), and `transfer` (export and import). This file holds what every domain uses: the
//! commit paths that publish cache invalidations, and the audit insert.
//!
//! Concurrency: every write runs in a transaction from `Pools::begin_write`, which serialises
//! writers (SQLite: its single writer connection; PostgreSQL: a transaction-scoped advisory
//! lock), so the invariants checked inside a transaction hold across nodes too.

use super::{Conn, Db, DbRow, Pools, SKIP_LOCKED};
use crate::sql::{db, Key};
use async_trait::async_trait;
use compact_str::CompactString;
use gantry_api::{Role, TokenKind, TokenStatus};
use gantry_core::events::{DeliveryRecord, NewEvent};
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
    /// Where the race tests stop `revoke_token` and `delete_app` on entry.
    #[cfg(test)]
    pub(crate) pause: std::sync::Arc<crate::race_tests::PausePoint>,
}

/// A query of this backend, its arguments bound.
type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>;

impl SqlStore {
    /// The row `query` finds on a reader, if any, read by `map`.
    async fn one<T>(
        &self,
        query: Query<'_>,
        map: fn(&DbRow) -> CoreResult<T>,
    ) -> CoreResult<Option<T>> {
        let row = query
            .fetch_optional(self.pools.reader())
            .await
            .map_err(db)?;
        row.as_ref().map(map).transpose()
    }

    /// Every row `query` finds on a reader, read by `map`.
    async fn all<T>(
        &self,
        query: Query<'_>,
        map: fn(&DbRow) -> CoreResult<T>,
    ) -> CoreResult<Vec<T>> {
        let rows = query.fetch_all(self.pools.reader()).await.map_err(db)?;
        rows.iter().map(map).collect()
    }

    /// Runs `delete` in a write transaction and commits it with `audit` when it removed
    /// something; false (and nothing written) when there was nothing to remove.
    async fn delete_audited(&self, delete: Query<'_>, audit: &AuditRecord) -> CoreResult<bool> {
        let mut tx = self.pools.begin_write().await?;
        let n = delete.execute(&mut *tx).await.map_err(db)?.rows_affected();
        if n == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    /// Runs one conditional write (`… WHERE … = $old`) in its own transaction: whether it
    /// changed a row (false: a concurrent write got there first).
    async fn write_if(&self, write: Query<'_>) -> CoreResult<bool> {
        let mut tx = self.pools.begin_write().await?;
        let n = write.execute(&mut *tx).await.map_err(db)?.rows_affected();
        self.commit(tx).await?;
        Ok(n == 1)
    }
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

mod alerts;
mod apps;
mod audit;
mod env_config;
mod orgs;
mod releases;
mod rows;
mod sessions;
mod tokens;
mod transfer;
mod trust;
mod users;

use rows::*;
pub use transfer::Importer;

/// Appends the audit row and, when the write publishes one, its event: the event's id.
async fn insert_audit(conn: &mut Conn, a: &AuditRecord) -> CoreResult<Option<String>> {
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
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    match &a.event {
        Some(event) => Ok(Some(insert_event(conn, a, event).await?)),
        None => Ok(None),
    }
}

/// Writes the event a change publishes (in the change's transaction), and a pending delivery
/// for every enabled rule of the org that asks for its type and, when the rule names an app,
/// is about its app (or, for an event `only_to` one rule, for that rule alone). The event's id.
async fn insert_event(conn: &mut Conn, a: &AuditRecord, event: &NewEvent) -> CoreResult<String> {
    let id = gantry_core::ids::new_id("evt");
    let mut data = event.data.clone();
    if let serde_json::Value::Object(map) = &mut data {
        if let Some(org) = &a.org_slug {
            map.insert("org".into(), org.as_str().into());
        }
        if let Some(app) = &a.app_slug {
            map.insert("app".into(), app.as_str().into());
        }
    }
    sqlx::query(
        "INSERT INTO events (id, type, org_id, app_id, at, data) VALUES ($1,$2,$3,$4,$5,$6)",
    )
    .bind(&id)
    .bind(event.kind)
    .bind(&a.org_id)
    .bind(&a.app_id)
    .bind(a.at.0)
    .bind(data.to_string())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if !event.notify.is_empty() {
        sqlx::query(
            "INSERT INTO deliveries (id, event_id, recipients, state, attempts, next_attempt_at, created_at) \
             VALUES ($1,$2,$3,'pending',0,$4,$5)",
        )
        .bind(gantry_core::ids::new_id("dlv"))
        .bind(&id)
        .bind(event.notify.join(","))
        .bind(a.at.0)
        .bind(a.at.0)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    let Some(org_id) = &a.org_id else {
        return Ok(id);
    };
    let rules = sqlx::query(
        "SELECT id, event, events, app_id FROM alerts WHERE org_id = $1 AND (enabled = $2 OR id = $3)",
    )
    .bind(org_id)
    .bind(true)
    .bind(event.only_to.as_ref().map(|a| a.as_str()))
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for rule in &rules {
        let rule_id = s(rule, "id")?;
        let wanted = match &event.only_to {
            Some(only) => only.as_str() == rule_id,
            None => {
                let kinds = rule_events(&s(rule, "event")?, opt_s(rule, "events")?.as_deref());
                let app: Option<String> = opt_s(rule, "app_id")?;
                kinds.iter().any(|k| k == event.kind)
                    && app
                        .as_ref()
                        .is_none_or(|app| a.app_id.as_ref() == Some(app))
            }
        };
        if !wanted {
            continue;
        }
        sqlx::query(
            "INSERT INTO deliveries (id, event_id, alert_id, state, attempts, next_attempt_at, created_at) \
             VALUES ($1,$2,$3,'pending',0,$4,$5)",
        )
        .bind(gantry_core::ids::new_id("dlv"))
        .bind(&id)
        .bind(&rule_id)
        .bind(a.at.0)
        .bind(a.at.0)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(id)
}

/// A copy of `audit` with one more detail field (facts only known inside the transaction).
/// The audit record and event of a write that numbered what it wrote (a release, a config
/// version), with the number: `detail.version`, and `version` in the event's data (in its
/// `release` when it has one).
fn with_version(audit: &AuditRecord, version: i64) -> AuditRecord {
    let mut a = with_detail(audit, "version", version.into());
    if let Some(serde_json::Value::Object(data)) = a.event.as_mut().map(|e| &mut e.data) {
        match data.get_mut("release") {
            Some(serde_json::Value::Object(release)) => {
                release.insert("version".into(), version.into());
            }
            _ => {
                data.insert("version".into(), version.into());
            }
        }
    }
    a
}

fn with_detail(audit: &AuditRecord, key: &str, value: serde_json::Value) -> AuditRecord {
    let mut a = audit.clone();
    if let serde_json::Value::Object(m) = &mut a.detail {
        m.insert(key.to_owned(), value);
    }
    a
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
}
