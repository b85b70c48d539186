//! Dashboard sessions.

use super::*;

#[async_trait]
impl SessionStore for SqlStore {
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
        .bind(session.user_id.as_str())
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
            user_id: cs(&row, "user_id")?.into(),
            created_at: ts(&row, "created_at")?,
            expires_at: ts(&row, "expires_at")?,
            ip: opt_s(&row, "ip")?,
        }))
    }

    async fn delete_session(&self, hash: &TokenHash, audit: &AuditRecord) -> CoreResult<bool> {
        self.delete_audited(
            sqlx::query("DELETE FROM sessions WHERE hash = $1").bind(&hash.0[..]),
            audit,
        )
        .await
    }
}
