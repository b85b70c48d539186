//! Org alert rules.

use super::*;

#[async_trait]
impl AlertStore for SqlStore {
    async fn insert_alert(&self, a: &AlertRecord, audit: &AuditRecord) -> CoreResult<()> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query(
            "INSERT INTO alerts (id, org_id, name, event, target, created_by_type, created_by_id, created_by_name, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
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
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await
    }

    async fn list_alerts(&self, org_id: &OrgId) -> CoreResult<Vec<AlertRecord>> {
        self.all(sqlx::query("SELECT al.*, o.slug AS org_slug FROM alerts al JOIN orgs o ON o.id = al.org_id WHERE al.org_id = $1 ORDER BY al.created_at, al.id")
            .bind(org_id.as_str()), alert_row).await
    }

    async fn delete_alert(
        &self,
        org_id: &OrgId,
        id: &AlertId,
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        self.delete_audited(
            sqlx::query("DELETE FROM alerts WHERE org_id = $1 AND id = $2")
                .bind(org_id.as_str())
                .bind(id.as_str()),
            audit,
        )
        .await
    }
}
