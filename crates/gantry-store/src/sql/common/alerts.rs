//! Org alert rules.

use super::*;

#[async_trait]
impl AlertStore for SqlStore {
    async fn insert_alert(&self, a: &AlertRecord, audit: &AuditRecord) -> CoreResult<()> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query(
            "INSERT INTO alerts (id, org_id, name, event, target, created_by_type, created_by_id, created_by_name, created_at, \
             events, app_id, enabled) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
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
                sqlx::query(
                    "SELECT d.*, e.type FROM deliveries d JOIN events e ON e.id = d.event_id \
                     WHERE d.alert_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2",
                )
                .bind(id.as_str())
                .bind(limit),
                delivery_row,
            )
            .await?;
        Ok(Some(deliveries))
    }
}
