//! The audit log.

use super::*;

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, audit: &AuditRecord) -> CoreResult<()> {
        let mut conn = self.pools.writer().acquire().await.map_err(db)?;
        insert_audit(&mut conn, audit).await?;
        drop(conn);
        self.pools.durable().await
    }

    async fn list_audit(&self, f: &AuditFilter) -> CoreResult<Vec<AuditRecord>> {
        let mut q: QueryBuilder<Db> = QueryBuilder::new("SELECT * FROM audit_events WHERE 1=1");
        if let Some(o) = &f.org_id {
            q.push(" AND org_id = ").push_bind(o.to_string());
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
                    sep.push_bind(o.to_string());
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
