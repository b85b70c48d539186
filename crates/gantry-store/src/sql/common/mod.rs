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
mod users;

use rows::*;
pub use transfer::Importer;

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

/// A copy of `audit` with one more detail field (facts only known inside the transaction).
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
