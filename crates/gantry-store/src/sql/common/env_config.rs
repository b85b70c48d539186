//! Apps' env vars (sealed when secret) and versioned config documents.

use super::*;

#[async_trait]
impl EnvConfigStore for SqlStore {
    async fn list_env(&self, app_id: &AppId) -> CoreResult<Vec<EnvVarRecord>> {
        self.all(
            sqlx::query("SELECT * FROM env_vars WHERE app_id = $1 ORDER BY key")
                .bind(app_id.as_str()),
            env_row,
        )
        .await
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
        .bind(v.app_id.as_str())
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
            .bind(v.app_id.as_str())
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
        self.all(
            sqlx::query("SELECT * FROM env_vars WHERE secret = $1 ORDER BY app_id, key").bind(true),
            env_row,
        )
        .await
    }

    async fn reseal_env(
        &self,
        app_id: &AppId,
        key: &str,
        old: &str,
        new: &str,
    ) -> CoreResult<bool> {
        self.write_if(
            sqlx::query(
                "UPDATE env_vars SET value = $1 WHERE app_id = $2 AND key = $3 AND value = $4 AND secret = $5",
            )
            .bind(new)
            .bind(app_id.as_str())
            .bind(key)
            .bind(old)
            .bind(true),
        )
        .await
    }

    async fn key_check(&self) -> CoreResult<Option<String>> {
        sqlx::query_scalar("SELECT sealed FROM key_check WHERE id = 1")
            .fetch_optional(self.pools.writer())
            .await
            .map_err(db)
    }

    async fn put_key_check(&self, old: Option<&str>, new: &str) -> CoreResult<bool> {
        self.write_if(match old {
            None => sqlx::query(
                "INSERT INTO key_check (id, sealed) VALUES (1, $1) ON CONFLICT DO NOTHING",
            )
            .bind(new),
            Some(old) => {
                sqlx::query("UPDATE key_check SET sealed = $1 WHERE id = 1 AND sealed = $2")
                    .bind(new)
                    .bind(old)
            }
        })
        .await
    }

    async fn delete_env(&self, app_id: &AppId, key: &str, audit: &AuditRecord) -> CoreResult<bool> {
        self.delete_audited(
            sqlx::query("DELETE FROM env_vars WHERE app_id = $1 AND key = $2")
                .bind(app_id.as_str())
                .bind(key),
            audit,
        )
        .await
    }

    async fn get_config(
        &self,
        app_id: &AppId,
        version: Option<i64>,
    ) -> CoreResult<Option<ConfigRecord>> {
        let row = match version {
            Some(v) => {
                sqlx::query("SELECT * FROM configs WHERE app_id = $1 AND version = $2")
                    .bind(app_id.as_str())
                    .bind(v)
                    .fetch_optional(self.pools.reader())
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM configs WHERE app_id = $1 ORDER BY version DESC LIMIT 1")
                    .bind(app_id.as_str())
                    .fetch_optional(self.pools.reader())
                    .await
            }
        }
        .map_err(db)?;
        row.as_ref().map(config_row).transpose()
    }

    async fn put_config(
        &self,
        app_id: &AppId,
        document: &str,
        by: &ActorRef,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<ConfigRecord> {
        let mut tx = self.pools.begin_write().await?;
        let max: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM configs WHERE app_id = $1")
                .bind(app_id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        let version = max.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO configs (app_id, version, document, updated_at, updated_by_type, updated_by_id, updated_by_name) \
             VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(app_id.as_str())
        .bind(version)
        .bind(document)
        .bind(at.0)
        .bind(by.kind())
        .bind(by.id())
        .bind(by.name())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let audit = with_version(audit, version);
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
}
