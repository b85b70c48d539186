//! Org alert rules, and the deliveries of their events: queued with each change (`insert_event`
//! in `mod.rs`), claimed by the nodes' dispatchers, finished after each try.

use super::*;
use gantry_core::events::{ClaimedDelivery, FinishedTry, QueueStats, SealedAlertSecret};

/// Deliveries with their event's type, as listed.
const DELIVERY_SELECT: &str =
    "SELECT d.*, e.type FROM deliveries d JOIN events e ON e.id = d.event_id";

/// A delivery is due when it is pending, its time has come and no live claim holds it.
const DUE: &str = "d.state = 'pending' AND d.next_attempt_at <= $1 \
                   AND (d.claimed_until IS NULL OR d.claimed_until < $1)";

#[async_trait]
impl AlertStore for SqlStore {
    async fn insert_alert(
        &self,
        a: &AlertRecord,
        sealed_secret: Option<&str>,
        audit: &AuditRecord,
    ) -> CoreResult<()> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query(
            "INSERT INTO alerts (id, org_id, name, event, target, created_by_type, created_by_id, created_by_name, created_at, \
             events, app_id, enabled, secret) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
        )
        .bind(a.id.as_str())
        .bind(a.org_id.as_str())
        .bind(&a.name)
        .bind(&a.event)
        .bind(&a.target)
        .bind(a.created_by.kind())
        .bind(a.created_by.id())
        .bind(a.created_by.name())
        .bind(a.created_at.0)
        .bind(serde_json::Value::from(a.events.clone()).to_string())
        .bind(a.app_id.as_ref().map(|id| id.as_str()))
        .bind(a.enabled)
        .bind(sealed_secret)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await
    }

    async fn list_alerts(&self, org_id: &OrgId) -> CoreResult<Vec<AlertRecord>> {
        self.all(
            sqlx::query(&format!(
                "{ALERT_SELECT} WHERE al.org_id = $1 ORDER BY al.created_at, al.id"
            ))
            .bind(org_id.as_str()),
            alert_row,
        )
        .await
    }

    async fn get_alert(&self, org_id: &OrgId, id: &AlertId) -> CoreResult<Option<AlertRecord>> {
        self.one(
            sqlx::query(&format!(
                "{ALERT_SELECT} WHERE al.org_id = $1 AND al.id = $2"
            ))
            .bind(org_id.as_str())
            .bind(id.as_str()),
            alert_row,
        )
        .await
    }

    async fn set_alert_enabled(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        enabled: bool,
        audit: &AuditRecord,
    ) -> CoreResult<Option<AlertRecord>> {
        let mut tx = self.pools.begin_write().await?;
        let n = sqlx::query("UPDATE alerts SET enabled = $3 WHERE org_id = $1 AND id = $2")
            .bind(org_id.as_str())
            .bind(id.as_str())
            .bind(enabled)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await?;
        self.get_alert(org_id, id).await
    }

    async fn rotate_alert_secret(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        sealed_secret: &str,
        previous_until: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        let mut tx = self.pools.begin_write().await?;
        let n = sqlx::query(
            "UPDATE alerts SET previous_secret = secret, previous_secret_until = $3, secret = $4 \
             WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id.as_str())
        .bind(id.as_str())
        .bind(previous_until.0)
        .bind(sealed_secret)
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

    async fn queue_test_event(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        audit: &AuditRecord,
    ) -> CoreResult<Option<DeliveryRecord>> {
        let mut tx = self.pools.begin_write().await?;
        if !org_has_alert(&mut tx, org_id, id).await? {
            return Ok(None);
        }
        let Some(event_id) = insert_audit(&mut tx, audit).await? else {
            return Err(CoreError::internal("a test without its event"));
        };
        let row = sqlx::query(&format!(
            "{DELIVERY_SELECT} WHERE d.alert_id = $1 AND d.event_id = $2"
        ))
        .bind(id.as_str())
        .bind(&event_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let delivery = delivery_row(&row)?;
        self.commit(tx).await?;
        Ok(Some(delivery))
    }

    async fn retry_delivery(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        delivery_id: &str,
        now: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Option<DeliveryRecord>> {
        let mut tx = self.pools.begin_dispatch().await?;
        if !org_has_alert(&mut tx, org_id, id).await? {
            return Ok(None);
        }
        // A delivery being tried right now is left to its try (retrying it would send twice).
        let n = sqlx::query(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $1 \
             WHERE alert_id = $2 AND id = $3 AND (claimed_until IS NULL OR claimed_until < $1)",
        )
        .bind(now.0)
        .bind(id.as_str())
        .bind(delivery_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        let row = sqlx::query(&format!(
            "{DELIVERY_SELECT} WHERE d.alert_id = $1 AND d.id = $2"
        ))
        .bind(id.as_str())
        .bind(delivery_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let delivery = delivery_row(&row)?;
        if n > 0 {
            insert_audit(&mut tx, audit).await?;
        }
        self.commit(tx).await?;
        Ok(Some(delivery))
    }

    async fn delete_alert(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query(
            "DELETE FROM deliveries WHERE alert_id IN (SELECT id FROM alerts WHERE org_id = $1 AND id = $2)",
        )
        .bind(org_id.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let n = sqlx::query("DELETE FROM alerts WHERE org_id = $1 AND id = $2")
            .bind(org_id.as_str())
            .bind(id.as_str())
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

    async fn list_deliveries(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        limit: i64,
    ) -> CoreResult<Option<Vec<DeliveryRecord>>> {
        let rule: Option<String> =
            sqlx::query_scalar("SELECT id FROM alerts WHERE org_id = $1 AND id = $2")
                .bind(org_id.as_str())
                .bind(id.as_str())
                .fetch_optional(self.pools.reader())
                .await
                .map_err(db)?;
        if rule.is_none() {
            return Ok(None);
        }
        let deliveries = self
            .all(
                sqlx::query(&format!(
                    "{DELIVERY_SELECT} WHERE d.alert_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2"
                ))
                .bind(id.as_str())
                .bind(limit),
                delivery_row,
            )
            .await?;
        Ok(Some(deliveries))
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        per_rule: i64,
        limit: i64,
    ) -> CoreResult<Vec<ClaimedDelivery>> {
        // Most polls find nothing due: a read, without taking the writer.
        let any: Option<String> = sqlx::query_scalar(&format!(
            "SELECT d.id FROM deliveries d WHERE {DUE} LIMIT 1"
        ))
        .bind(now.0)
        .fetch_optional(self.pools.reader())
        .await
        .map_err(db)?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.pools.begin_dispatch().await?;
        // A rule never has more than `per_rule` tries in flight, on all nodes together: what it
        // has in flight now (few rows, by index) is taken from its share.
        let busy: Vec<(String, i64)> = sqlx::query_as(
            "SELECT alert_id, COUNT(*) FROM deliveries \
             WHERE state = 'pending' AND claimed_until >= $1 AND alert_id IS NOT NULL GROUP BY alert_id",
        )
        .bind(now.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut room: std::collections::HashMap<String, i64> = busy
            .into_iter()
            .map(|(rule, n)| (rule, per_rule - n))
            .collect();
        // Each rule's earliest due deliveries (at most `per_rule`, through the index, however
        // long its backlog), and the earliest owner notices (each its own group): the claim
        // costs the same with ten or ten thousand deliveries waiting.
        let candidates: Vec<(String, Option<String>, i64)> = sqlx::query_as(
            "SELECT d.id, d.alert_id, d.next_attempt_at FROM alerts al JOIN deliveries d ON d.id IN ( \
               SELECT y.id FROM deliveries y WHERE y.alert_id = al.id AND y.state = 'pending' \
                 AND y.next_attempt_at <= $1 AND (y.claimed_until IS NULL OR y.claimed_until < $1) \
                 AND (al.enabled = $2 OR EXISTS (SELECT 1 FROM events e WHERE e.id = y.event_id AND e.type = 'ping')) \
               ORDER BY y.next_attempt_at, y.id LIMIT $3) \
             UNION ALL \
             SELECT id, alert_id, next_attempt_at FROM ( \
               SELECT d.id, d.alert_id, d.next_attempt_at FROM deliveries d \
               WHERE d.alert_id IS NULL AND d.state = 'pending' AND d.next_attempt_at <= $1 \
                 AND (d.claimed_until IS NULL OR d.claimed_until < $1) \
               ORDER BY d.next_attempt_at, d.id LIMIT $4) notices",
        )
        .bind(now.0)
        .bind(true)
        .bind(per_rule)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut candidates = candidates;
        candidates.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
        let mut chosen = Vec::new();
        for (id, rule, _) in candidates {
            if i64::try_from(chosen.len()).unwrap_or(i64::MAX) >= limit {
                break;
            }
            if let Some(rule) = rule {
                let left = room.entry(rule).or_insert(per_rule);
                if *left <= 0 {
                    continue;
                }
                *left -= 1;
            }
            chosen.push(id);
        }
        if chosen.is_empty() {
            return Ok(Vec::new());
        }
        // Still due, and (PostgreSQL) not being claimed by another node this instant.
        let mut lock = QueryBuilder::<Db>::new("SELECT d.id FROM deliveries d WHERE d.state = 'pending' AND (d.claimed_until IS NULL OR d.claimed_until < ");
        lock.push_bind(now.0).push(") AND d.id IN (");
        let mut list = lock.separated(", ");
        for id in &chosen {
            list.push_bind(id);
        }
        lock.push(format!(") {SKIP_LOCKED}"));
        let ids: Vec<String> = lock
            .build_query_scalar()
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let claim = gantry_core::ids::new_id("clm");
        let mut update = QueryBuilder::<Db>::new("UPDATE deliveries SET claim = ");
        update
            .push_bind(&claim)
            .push(", claimed_until = ")
            .push_bind(lease_until.0)
            .push(" WHERE id IN (");
        let mut list = update.separated(", ");
        for id in &ids {
            list.push_bind(id);
        }
        update.push(")");
        update.build().execute(&mut *tx).await.map_err(db)?;
        let rows = sqlx::query(
            "SELECT d.id, d.claim, d.event_id, d.alert_id, d.recipients, d.attempts, \
             e.type, e.at, e.data, al.target, al.secret, al.previous_secret, al.previous_secret_until \
             FROM deliveries d JOIN events e ON e.id = d.event_id LEFT JOIN alerts al ON al.id = d.alert_id \
             WHERE d.claim = $1 ORDER BY d.next_attempt_at, d.id",
        )
        .bind(&claim)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let claimed = rows
            .iter()
            .map(claimed_row)
            .collect::<CoreResult<Vec<_>>>()?;
        self.commit(tx).await?;
        Ok(claimed)
    }

    async fn finish_delivery(&self, f: &FinishedTry) -> CoreResult<bool> {
        let mut tx = self.pools.begin_dispatch().await?;
        let n = sqlx::query(
            "UPDATE deliveries SET state = $1, attempts = $2, next_attempt_at = $3, last_status = $4, \
             last_error = $5, claim = NULL, claimed_until = NULL WHERE id = $6 AND claim = $7",
        )
        .bind(f.state.as_str())
        .bind(f.attempts)
        .bind(f.next_attempt_at.map(|t| t.0))
        .bind(f.last_status)
        .bind(&f.last_error)
        .bind(&f.id)
        .bind(&f.claim)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        if let Some(alert) = &f.disable_alert {
            sqlx::query("UPDATE alerts SET enabled = $1 WHERE id = $2")
                .bind(false)
                .bind(alert.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        self.commit(tx).await?;
        Ok(true)
    }

    async fn expiry_candidates(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> CoreResult<Vec<(TokenRecord, Option<i64>)>> {
        // The token columns, and the nearest threshold already fired for its current expiry.
        let select = TOKEN_SELECT.replacen(
            "SELECT t.*,",
            "SELECT t.*, (SELECT MIN(n.threshold) FROM expiry_notices n \
             WHERE n.token_id = t.id AND n.expires_at = t.expires_at) AS noticed,",
            1,
        );
        let rows = sqlx::query(&format!(
            "{select} WHERE t.revoked_at IS NULL AND t.expires_at IS NOT NULL \
             AND t.expires_at > $1 AND t.expires_at <= $2 ORDER BY t.expires_at, t.id"
        ))
        .bind(since.0)
        .bind(until.0)
        .fetch_all(self.pools.reader())
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    token_row(r)?,
                    r.try_get::<Option<i64>, _>("noticed").map_err(db)?,
                ))
            })
            .collect()
    }

    async fn record_expiry_notice(
        &self,
        token_id: &TokenId,
        expires_at: Timestamp,
        thresholds: &[i64],
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        let mut tx = self.pools.begin_write().await?;
        for (i, threshold) in thresholds.iter().enumerate() {
            let n = sqlx::query(
                "INSERT INTO expiry_notices (token_id, expires_at, threshold, at) VALUES ($1,$2,$3,$4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(token_id.as_str())
            .bind(expires_at.0)
            .bind(threshold)
            .bind(audit.at.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
            if i == 0 && n == 0 {
                // Fired already, here or on another node.
                return Ok(false);
            }
        }
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn delivery_queue(&self) -> CoreResult<QueueStats> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM deliveries WHERE state = 'pending'",
        )
        .fetch_one(self.pools.reader())
        .await
        .map_err(db)?;
        Ok(QueueStats {
            pending: row.try_get("n").map_err(db)?,
            oldest: opt_ts(&row, "oldest")?,
        })
    }

    async fn prune_events(
        &self,
        before: Timestamp,
        notices_before: Timestamp,
        batch: i64,
    ) -> CoreResult<u64> {
        let mut tx = self.pools.begin_write().await?;
        let mut gone = 0;
        for (sql, at) in [
            (
                "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries \
                 WHERE state <> 'pending' AND created_at < $1 LIMIT $2)",
                before,
            ),
            (
                "DELETE FROM events WHERE id IN (SELECT e.id FROM events e WHERE e.at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) LIMIT $2)",
                before,
            ),
            (
                "DELETE FROM expiry_notices WHERE (token_id, expires_at, threshold) IN ( \
                 SELECT token_id, expires_at, threshold FROM expiry_notices WHERE expires_at < $1 LIMIT $2)",
                notices_before,
            ),
        ] {
            gone += sqlx::query(sql)
                .bind(at.0)
                .bind(batch)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
        }
        self.commit(tx).await?;
        Ok(gone)
    }

    async fn sealed_alert_secrets(&self) -> CoreResult<Vec<SealedAlertSecret>> {
        let rows = sqlx::query(
            "SELECT id, secret, previous_secret FROM alerts \
             WHERE secret IS NOT NULL OR previous_secret IS NOT NULL ORDER BY id",
        )
        .fetch_all(self.pools.reader())
        .await
        .map_err(db)?;
        let mut out = Vec::new();
        for row in &rows {
            let alert_id = AlertId::from(s(row, "id")?);
            for (column, previous) in [("secret", false), ("previous_secret", true)] {
                if let Some(value) = opt_s(row, column)? {
                    out.push(SealedAlertSecret {
                        alert_id: alert_id.clone(),
                        previous,
                        value,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn reseal_alert_secret(&self, old: &SealedAlertSecret, new: &str) -> CoreResult<bool> {
        let column = if old.previous {
            "previous_secret"
        } else {
            "secret"
        };
        self.write_if(
            sqlx::query(&format!(
                "UPDATE alerts SET {column} = $1 WHERE id = $2 AND {column} = $3"
            ))
            .bind(new)
            .bind(old.alert_id.as_str())
            .bind(&old.value),
        )
        .await
    }
}

async fn org_has_alert(conn: &mut Conn, org_id: &OrgId, id: &AlertId) -> CoreResult<bool> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM alerts WHERE org_id = $1 AND id = $2")
            .bind(org_id.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
    Ok(found.is_some())
}

fn claimed_row(row: &DbRow) -> CoreResult<ClaimedDelivery> {
    let data = s(row, "data")?;
    let alert_id = opt_cs(row, "alert_id")?.map(AlertId::from);
    let target = match (&alert_id, opt_s(row, "recipients")?) {
        (None, Some(recipients)) => format!("mailto:{recipients}"),
        _ => opt_s(row, "target")?.unwrap_or_default(),
    };
    Ok(ClaimedDelivery {
        id: s(row, "id")?,
        claim: s(row, "claim")?,
        event_id: s(row, "event_id")?,
        event_type: s(row, "type")?,
        event_at: ts(row, "at")?,
        data: serde_json::from_str(&data)
            .map_err(|e| CoreError::caused("an event's stored data", e))?,
        alert_id,
        target,
        secret: opt_s(row, "secret")?,
        previous_secret: opt_s(row, "previous_secret")?,
        previous_secret_until: opt_ts(row, "previous_secret_until")?,
        attempts: row.try_get("attempts").map_err(db)?,
    })
}
