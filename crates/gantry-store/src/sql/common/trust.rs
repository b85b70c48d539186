//! Trust policies (keyless CI) and the `jti`s spent by token exchange.

use super::*;

#[async_trait]
impl TrustStore for SqlStore {
    async fn insert_trust_policy(
        &self,
        p: &TrustPolicyRecord,
        audit: &AuditRecord,
    ) -> CoreResult<()> {
        let mut tx = self.pools.begin_write().await?;
        let conditions = serde_json::to_string(&p.rules.conditions)
            .map_err(|e| CoreError::caused("encoding conditions", e))?;
        sqlx::query(
            "INSERT INTO trust_policies (id, org_id, app_id, name, preset, issuer, audience, conditions, \
             token_lifetime_secs, waived_reason, allow_pull_request_target, created_by_type, created_by_id, \
             created_by_name, created_at, capabilities) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
        )
        .bind(p.id.as_str())
        .bind(p.org_id.as_str())
        .bind(p.app_id.as_str())
        .bind(&p.name)
        .bind(p.rules.preset.map(|x| x.as_str()))
        .bind(&p.rules.issuer)
        .bind(&p.rules.audience)
        .bind(conditions)
        .bind(i64::try_from(p.token_lifetime.as_secs()).unwrap_or(i64::MAX))
        .bind(&p.waived_immutable_ids)
        .bind(p.rules.allow_pull_request_target)
        .bind(p.created_by.kind())
        .bind(p.created_by.id())
        .bind(p.created_by.name())
        .bind(p.created_at.0)
        .bind(p.capabilities.to_column())
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            unique(
                e,
                "name_taken",
                &format!("the app already has a trust policy named '{}'", p.name),
            )
        })?;
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await
    }

    async fn list_trust_policies(&self, app_id: &AppId) -> CoreResult<Vec<TrustPolicyRecord>> {
        self.all(
            sqlx::query(&format!(
                "{TRUST_SELECT} WHERE p.app_id = $1 ORDER BY p.created_at, p.id"
            ))
            .bind(app_id.as_str()),
            trust_policy_row,
        )
        .await
    }

    async fn get_trust_policy(
        &self,
        app_id: &AppId,
        id: &TrustPolicyId,
    ) -> CoreResult<Option<TrustPolicyRecord>> {
        self.one(
            sqlx::query(&format!("{TRUST_SELECT} WHERE p.app_id = $1 AND p.id = $2"))
                .bind(app_id.as_str())
                .bind(id.as_str()),
            trust_policy_row,
        )
        .await
    }

    async fn delete_trust_policy(
        &self,
        app_id: &AppId,
        id: &TrustPolicyId,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>> {
        let mut tx = self.pools.begin_write().await?;
        let n = sqlx::query("DELETE FROM trust_policies WHERE app_id = $1 AND id = $2")
            .bind(app_id.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Ok(Written::new(false, Vec::new()));
        }
        // Many token rows at once: queue with last-used flushes (as deleting an app does).
        self.pools.exclude_usage_flush(&mut tx).await?;
        let revoked: Vec<String> = sqlx::query_scalar(
            "UPDATE tokens SET revoked_at = $1, revoked_reason = 'trust_policy_deleted', prev_hash = NULL, prev_expires_at = NULL \
             WHERE federated_policy_id = $2 AND revoked_at IS NULL RETURNING id",
        )
        .bind(at.0)
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        let mut keys = Vec::new();
        for token in &revoked {
            keys.extend(self.token_keys(&mut tx, token).await?);
            let row = sqlx::query(&format!("{TOKEN_SELECT} WHERE t.id = $1"))
                .bind(token)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            let record = token_row(&row)?;
            insert_event(
                &mut tx,
                audit,
                &gantry_core::events::revoked_because(&record, "trust_policy_deleted"),
            )
            .await?;
        }
        self.commit_invalidating(tx, true, keys).await
    }

    async fn insert_exchanged_token(
        &self,
        t: &TokenRecord,
        jti: &str,
        jti_expires: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        let mut tx = self.pools.begin_write().await?;
        let issuer = t
            .federated
            .as_ref()
            .map(|f| f.issuer.as_str())
            .unwrap_or("");
        // The primary key decides, on every node at once: a second insert of the same jti
        // conflicts (PostgreSQL: waits for the first transaction, then does nothing).
        let spent = sqlx::query(
            "INSERT INTO used_jtis (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(issuer)
        .bind(jti)
        .bind(jti_expires.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if spent == 0 {
            return Ok(false);
        }
        self.insert_token_in(&mut tx, t).await?;
        insert_audit(&mut tx, audit).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    async fn prune_jtis(&self, now: Timestamp) -> CoreResult<u64> {
        let mut tx = self.pools.begin_write().await?;
        let n = sqlx::query("DELETE FROM used_jtis WHERE expires_at < $1")
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        self.commit(tx).await?;
        Ok(n)
    }
}
