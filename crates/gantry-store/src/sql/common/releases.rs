//! Releases, numbered inside their transaction.

use super::*;

#[async_trait]
impl ReleaseStore for SqlStore {
    async fn insert_release(
        &self,
        r: &NewRelease,
        audit: &AuditRecord,
    ) -> CoreResult<(ReleaseRecord, bool)> {
        let mut tx = self.pools.begin_write().await?;
        let existing: Option<i64> = match &r.label {
            Some(label) => {
                sqlx::query_scalar("SELECT version FROM releases WHERE app_id = $1 AND label = $2")
                    .bind(r.app_id.as_str())
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
                    .bind(r.app_id.as_str())
                    .bind(v)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                (v, true)
            }
            None => {
                let max: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM releases WHERE app_id = $1")
                        .bind(r.app_id.as_str())
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
        .bind(r.app_id.as_str())
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
        let audit = with_version(audit, version);
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

    async fn list_releases(&self, app_id: &AppId, limit: i64) -> CoreResult<Vec<ReleaseRecord>> {
        let rows =
            sqlx::query("SELECT * FROM releases WHERE app_id = $1 ORDER BY version DESC LIMIT $2")
                .bind(app_id.as_str())
                .bind(limit)
                .fetch_all(self.pools.reader())
                .await
                .map_err(db)?;
        rows.iter().map(release_row).collect()
    }

    async fn get_release(&self, app_id: &AppId, version: i64) -> CoreResult<Option<ReleaseRecord>> {
        self.one(
            sqlx::query("SELECT * FROM releases WHERE app_id = $1 AND version = $2")
                .bind(app_id.as_str())
                .bind(version),
            release_row,
        )
        .await
    }

    async fn artifact_in_use(&self, sha256: &str) -> CoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM releases WHERE artifact_sha256 = $1")
            .bind(sha256)
            .fetch_one(self.pools.writer())
            .await
            .map_err(db)?;
        Ok(n > 0)
    }
}
