//! Tokens: lookups by hash (and by the pre-rotation hash inside its grace period), listings, rotation and revocation with the cache keys each makes stale.

use super::*;

#[async_trait]
impl TokenStore for SqlStore {
    async fn insert_token(&self, t: &TokenRecord, audit: &AuditRecord) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        self.insert_token_in(&mut tx, t).await?;
        insert_audit(&mut tx, audit).await?;
        // A fresh random hash (178 bits): no node can have looked it up before, so nothing
        // to invalidate, and no log entry to wait for.
        self.commit(tx).await?;
        Ok(Written::new((), Vec::new()))
    }

    async fn get_token(&self, id: &TokenId) -> CoreResult<Option<TokenRecord>> {
        self.one(
            sqlx::query(&format!("{TOKEN_SELECT} WHERE t.id = $1")).bind(id.as_str()),
            token_row,
        )
        .await
    }

    async fn find_token_by_hash(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> CoreResult<Option<TokenMatch>> {
        let row = sqlx::query(&format!(
            "{TOKEN_SELECT} WHERE t.hash = $1 UNION ALL {TOKEN_SELECT} WHERE t.prev_hash = $1 AND t.prev_expires_at > $2 LIMIT 1"
        ))
        .bind(&hash.0[..])
        .bind(now.0)
        .fetch_optional(self.pools.reader())
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let token = token_row(&row)?;
        let via_previous = token.hash != *hash;
        let user = match token.scope.user_id() {
            Some(uid) => self.get_user(uid).await?,
            None => None,
        };
        Ok(Some(TokenMatch {
            token: std::sync::Arc::new(token),
            user,
            via_previous,
        }))
    }

    async fn list_tokens(&self, f: &TokenFilter, now: Timestamp) -> CoreResult<Vec<TokenRecord>> {
        let mut q: QueryBuilder<Db> = QueryBuilder::new(TOKEN_SELECT);
        q.push(" WHERE 1=1");
        if !f.kinds.is_empty() {
            q.push(" AND t.kind IN (");
            let mut sep = q.separated(", ");
            for k in &f.kinds {
                sep.push_bind(k.as_str());
            }
            q.push(")");
        }
        if let Some(u) = &f.user_id {
            q.push(" AND t.user_id = ").push_bind(u.to_string());
        }
        if let Some(o) = &f.org_id {
            q.push(" AND t.org_id = ").push_bind(o.to_string());
        }
        if let Some(a) = &f.app_id {
            q.push(" AND t.app_id = ").push_bind(a.to_string());
        }
        if let Some((orgs, user)) = &f.org_ids_or_user {
            q.push(" AND (t.user_id = ").push_bind(user.clone());
            if !orgs.is_empty() {
                q.push(" OR (t.kind != 'personal' AND t.org_id IN (");
                let mut sep = q.separated(", ");
                for o in orgs {
                    sep.push_bind(o.to_string());
                }
                q.push("))");
            }
            q.push(")");
        }
        match f.status {
            None => {
                q.push(" AND t.revoked_at IS NULL");
            }
            Some(StatusFilter::All) => {}
            Some(StatusFilter::One(TokenStatus::Revoked)) => {
                q.push(" AND t.revoked_at IS NOT NULL");
            }
            Some(StatusFilter::One(TokenStatus::Active)) => {
                q.push(" AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ")
                    .push_bind(now.0)
                    .push(")");
            }
            Some(StatusFilter::One(TokenStatus::Expired)) => {
                q.push(" AND t.revoked_at IS NULL AND t.expires_at <= ")
                    .push_bind(now.0);
            }
        }
        if let Some(before) = f.expiring_before {
            q.push(" AND t.expires_at > ")
                .push_bind(now.0)
                .push(" AND t.expires_at <= ")
                .push_bind(before.0);
        }
        q.push(" ORDER BY t.created_at DESC, t.id LIMIT ")
            .push_bind(f.limit)
            .push(" OFFSET ")
            .push_bind(f.offset);
        let rows = q.build().fetch_all(self.pools.reader()).await.map_err(db)?;
        rows.iter().map(token_row).collect()
    }

    async fn update_token(
        &self,
        id: &TokenId,
        name: &str,
        description: Option<&str>,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        let keys = self.token_keys(&mut tx, id).await?;
        sqlx::query("UPDATE tokens SET name = $1, description = $2 WHERE id = $3")
            .bind(name)
            .bind(description)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        self.commit_invalidating(tx, (), keys).await
    }

    async fn rotate_token(
        &self,
        id: &TokenId,
        r: &Rotation,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        let mut keys = self.token_keys(&mut tx, id).await?;
        // The new value may have been looked up (and cached as unknown) before it existed.
        keys.push(Key::Token(r.new_hash));
        // With a grace period the current hash becomes the previous one; without, it is dropped.
        let n = sqlx::query(
            "UPDATE tokens SET prev_hash = CASE WHEN $1 IS NULL THEN NULL ELSE hash END, prev_expires_at = $1, \
             hash = $2, prefix = $3, expires_at = $4, lifetime_secs = $5, rotated_at = $6, \
             prev_until_first_use = $9 \
             WHERE id = $7 AND revoked_at IS NULL AND hash = $8",
        )
        .bind(r.prev_expires_at.map(|t| t.0))
        .bind(&r.new_hash.0[..])
        .bind(&r.new_prefix)
        .bind(r.expires_at.map(|t| t.0))
        .bind(r.lifetime.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
        .bind(r.rotated_at.0)
        .bind(id.as_str())
        .bind(&r.expected_hash.0[..])
        .bind(r.prev_until_first_use && r.prev_expires_at.is_some())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            let revoked: Option<Option<i64>> =
                sqlx::query_scalar("SELECT revoked_at FROM tokens WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            return Err(match revoked {
                Some(Some(_)) => {
                    CoreError::conflict("token_revoked", "a revoked token cannot be rotated")
                }
                _ => CoreError::conflict(
                    "rotated_concurrently",
                    "the token was rotated by another request at the same time; nothing changed",
                ),
            });
        }
        // The value replaced is remembered, so a copy presented after its grace is known.
        sqlx::query(
            "INSERT INTO retired_values (hash, token_id, rotated_at, usable_until) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(&r.expected_hash.0[..])
        .bind(id.as_str())
        .bind(r.rotated_at.0)
        .bind(r.prev_expires_at.unwrap_or(r.rotated_at).0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        self.commit_invalidating(tx, (), keys).await
    }

    async fn find_retired(&self, hash: &TokenHash) -> CoreResult<Option<RetiredValue>> {
        let row = sqlx::query(
            "SELECT token_id, rotated_at, usable_until FROM retired_values WHERE hash = $1",
        )
        .bind(&hash.0[..])
        .fetch_optional(self.pools.reader())
        .await
        .map_err(db)?;
        row.map(|r| {
            Ok(RetiredValue {
                token_id: TokenId::from(r.try_get::<String, _>("token_id").map_err(db)?),
                rotated_at: Timestamp(r.try_get("rotated_at").map_err(db)?),
                usable_until: Timestamp(r.try_get("usable_until").map_err(db)?),
            })
        })
        .transpose()
    }

    async fn record_reuse(
        &self,
        hash: &TokenHash,
        quiet_since: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<bool> {
        let mut tx = self.pools.begin_write().await?;
        let n = sqlx::query(
            "UPDATE retired_values SET reported_at = $1 WHERE hash = $2 \
             AND (reported_at IS NULL OR reported_at < $3)",
        )
        .bind(audit.at.0)
        .bind(&hash.0[..])
        .bind(quiet_since.0)
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

    async fn revoke_token(
        &self,
        id: &TokenId,
        at: Timestamp,
        reason: RevokeReason,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>> {
        #[cfg(test)]
        self.pause.here().await;
        let mut tx = self.pools.begin_write().await?;
        let keys = self.token_keys(&mut tx, id).await?;
        let n = sqlx::query("UPDATE tokens SET revoked_at = $1, revoked_reason = $2, prev_hash = NULL, prev_expires_at = NULL WHERE id = $3 AND revoked_at IS NULL")
            .bind(at.0)
            .bind(reason.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            // Already revoked: nothing changed, but a cache still holding it active is wrong.
            return Ok(Written::new(false, keys));
        }
        insert_audit(&mut tx, audit).await?;
        self.commit_invalidating(tx, true, keys).await
    }

    async fn note_leak(
        &self,
        id: &TokenId,
        note: &LeakNote,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        let keys = self.token_keys(&mut tx, id).await?;
        sqlx::query("UPDATE tokens SET leaked_at = $1, leak_via = $2, leak_url = $3 WHERE id = $4")
            .bind(note.at.0)
            .bind(&note.via)
            .bind(note.url.as_deref())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        // Shown, not checked: no node needs to drop its copy before the answer.
        self.commit_invalidating(tx, (), keys).await
    }

    async fn end_grace(
        &self,
        id: &TokenId,
        current: &TokenHash,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>> {
        let mut tx = self.pools.begin_write().await?;
        let keys = self.token_keys(&mut tx, id).await?;
        let n = sqlx::query(
            "UPDATE tokens SET prev_hash = NULL, prev_expires_at = NULL, prev_until_first_use = FALSE \
             WHERE id = $1 AND hash = $2 AND prev_hash IS NOT NULL AND prev_until_first_use",
        )
        .bind(id.as_str())
        .bind(&current.0[..])
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            // Ended already: a cache still offering the old value is stale all the same.
            return Ok(Written::new(false, keys));
        }
        // From now on the old value is a reuse.
        sqlx::query(
            "UPDATE retired_values SET usable_until = $1 WHERE token_id = $2 AND usable_until > $1",
        )
        .bind(audit.at.0)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        self.commit_invalidating(tx, true, keys).await
    }

    async fn record_token_uses(&self, uses: &[TokenUse]) -> CoreResult<()> {
        // One statement per chunk, not one per token: each sqlx-sqlite statement is a round
        // trip to the connection's worker thread, and a flush can carry 100,000 tokens.
        // 3 parameters a row; SQLite allows 32766 per statement, PostgreSQL 65535.
        let mut tx = self.pools.begin_usage().await?;
        for chunk in uses.chunks(8_000) {
            let mut q: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE tokens SET last_used_at = v.at, last_used_ip = v.ip FROM \
                 (SELECT column1 AS id, column2 AS at, column3 AS ip FROM (",
            );
            q.push_values(chunk, |mut b, u| {
                b.push_bind(u.token_id.as_str())
                    .push_bind(u.at.0)
                    .push_bind(&u.ip);
            });
            q.push(
                ") AS vals) AS v WHERE tokens.id = v.id \
                 AND (tokens.last_used_at IS NULL OR tokens.last_used_at < v.at)",
            );
            q.build().execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn token_counts(&self, now: Timestamp) -> CoreResult<gantry_core::metrics::TokenCounts> {
        let week = now.0.saturating_add(7 * 24 * 3600 * 1000);
        let rows = sqlx::query(
            "SELECT kind, \
               SUM(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END) AS revoked, \
               SUM(CASE WHEN revoked_at IS NULL AND expires_at <= $1 THEN 1 ELSE 0 END) AS expired, \
               SUM(CASE WHEN revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1) THEN 1 ELSE 0 END) AS active, \
               SUM(CASE WHEN revoked_at IS NULL AND expires_at > $1 AND expires_at <= $2 THEN 1 ELSE 0 END) AS expiring \
             FROM tokens GROUP BY kind",
        )
        .bind(now.0)
        .bind(week)
        .fetch_all(self.pools.reader())
        .await
        .map_err(db)?;
        let mut counts = gantry_core::metrics::TokenCounts::default();
        for row in rows {
            let Some(kind) = TokenKind::parse(&s(&row, "kind")?) else {
                continue;
            };
            for status in [
                TokenStatus::Active,
                TokenStatus::Expired,
                TokenStatus::Revoked,
            ] {
                let n: i64 = row.try_get(status.as_str()).map_err(db)?;
                counts
                    .by_kind_status
                    .push((kind.as_str(), status.as_str(), n));
            }
            counts.expiring_within_7d += row.try_get::<i64, _>("expiring").map_err(db)?;
        }
        Ok(counts)
    }
}

impl SqlStore {
    /// Inserts a token row inside `conn`'s transaction (creation and exchange).
    pub(super) async fn insert_token_in(&self, conn: &mut Conn, t: &TokenRecord) -> CoreResult<()> {
        sqlx::query(
            "INSERT INTO tokens (id, kind, name, description, prefix, hash, user_id, org_id, app_id, role, \
             created_by_type, created_by_id, created_by_name, created_at, expires_at, lifetime_secs, \
             federated_policy_id, federated_issuer, federated_subject, federated_claims, capabilities, \
             rotate_self, allowed_ips) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23)",
        )
        .bind(t.id.as_str())
        .bind(t.kind().as_str())
        .bind(&t.name)
        .bind(&t.description)
        .bind(&t.prefix)
        .bind(&t.hash.0[..])
        .bind(t.scope.user_id().map(|v| v.as_str()))
        .bind(t.scope.org_id().map(|v| v.as_str()))
        .bind(t.scope.app_id().map(|v| v.as_str()))
        .bind(t.scope.role().map(Role::as_str))
        .bind(t.created_by.kind())
        .bind(t.created_by.id())
        .bind(t.created_by.name())
        .bind(t.created_at.0)
        .bind(t.expires_at.map(|e| e.0))
        .bind(t.lifetime.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
        .bind(t.federated.as_ref().map(|f| f.policy_id.as_str()))
        .bind(t.federated.as_ref().map(|f| f.issuer.as_str()))
        .bind(t.federated.as_ref().map(|f| f.subject.as_str()))
        .bind(
            t.federated
                .as_ref()
                .map(|f| serde_json::to_string(&f.claims).unwrap_or_default()),
        )
        .bind(t.capabilities.to_column())
        .bind(t.rotate_self)
        .bind(gantry_core::policy::Networks::to_column(t.allowed_ips.as_ref()))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        Ok(())
    }
}
