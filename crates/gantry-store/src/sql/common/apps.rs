//! Apps; a deleted app's slug stays reserved to its org.

use super::*;

#[async_trait]
impl AppStore for SqlStore {
    async fn insert_app(
        &self,
        app: &AppRecord,
        reservation: Duration,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        // Checked under the write lock: a deletion or creation in between cannot slip past.
        let since = app
            .created_at
            .0
            .saturating_sub(i64::try_from(reservation.as_millis()).unwrap_or(i64::MAX));
        let reserved: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(deleted_at) FROM apps WHERE slug = $1 AND org_id <> $2 \
             AND deleted_at IS NOT NULL AND deleted_at > $3",
        )
        .bind(app.slug.as_str())
        .bind(app.org_id.as_str())
        .bind(since)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(deleted_at) = reserved {
            let until = Timestamp(deleted_at).plus(reservation);
            return Err(CoreError::conflict(
                "slug_reserved",
                format!(
                    "the slug '{}' belonged to another org's app, deleted at {}; it stays reserved \
                     to that org until {}",
                    app.slug,
                    Timestamp(deleted_at).to_rfc3339(),
                    until.to_rfc3339()
                ),
            ));
        }
        sqlx::query(
            "INSERT INTO apps (id, org_id, slug, name, created_at) VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(app.id.as_str())
        .bind(app.org_id.as_str())
        .bind(app.slug.as_str())
        .bind(&app.name)
        .bind(app.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            unique(
                e,
                "already_exists",
                "an app with this slug already exists (app slugs are unique across the instance)",
            )
        })?;
        insert_audit(&mut tx, audit).await?;
        // Other nodes may have cached "no such app" for this slug.
        let keys = vec![Key::App(app.id.clone(), app.slug.clone())];
        self.commit_invalidating(tx, (), keys).await
    }

    async fn get_app_by_slug(&self, slug: &Slug) -> CoreResult<Option<std::sync::Arc<AppRecord>>> {
        Ok(self
            .one(
                sqlx::query(&format!(
                    "{APP_SELECT} WHERE a.slug = $1 AND a.deleted_at IS NULL"
                ))
                .bind(slug.as_str()),
                app_row,
            )
            .await?
            .map(std::sync::Arc::new))
    }

    async fn get_app(&self, id: &AppId) -> CoreResult<Option<std::sync::Arc<AppRecord>>> {
        Ok(self
            .one(
                sqlx::query(&format!(
                    "{APP_SELECT} WHERE a.id = $1 AND a.deleted_at IS NULL"
                ))
                .bind(id.as_str()),
                app_row,
            )
            .await?
            .map(std::sync::Arc::new))
    }

    async fn list_apps(&self, org_id: &OrgId) -> CoreResult<Vec<AppRecord>> {
        self.all(
            sqlx::query(&format!(
                "{APP_SELECT} WHERE a.org_id = $1 AND a.deleted_at IS NULL ORDER BY a.slug"
            ))
            .bind(org_id.as_str()),
            app_row,
        )
        .await
    }

    async fn delete_app(
        &self,
        app_id: &AppId,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        #[cfg(test)]
        self.pause.here().await;
        let mut tx = self.pools.begin_write().await?;
        sqlx::query("UPDATE apps SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(at.0)
            .bind(app_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Many token rows at once: queue with last-used flushes instead of interleaving row
        // locks with one (which could deadlock).
        self.pools.exclude_usage_flush(&mut tx).await?;
        let revoked: Vec<String> = sqlx::query_scalar(
            "UPDATE tokens SET revoked_at = $1, revoked_reason = 'app_deleted' WHERE app_id = $2 AND revoked_at IS NULL RETURNING id",
        )
        .bind(at.0)
        .bind(app_id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        // Each token that died with the app says so, as its own revoke would.
        for id in &revoked {
            let row = sqlx::query(&format!("{TOKEN_SELECT} WHERE t.id = $1"))
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            let token = token_row(&row)?;
            insert_event(
                &mut tx,
                audit,
                &gantry_core::events::revoked_with_app(&token),
            )
            .await?;
        }
        // Its deploy tokens were revoked with it, including one created a moment ago: every
        // cache drops every token lookup.
        let slug: Option<String> = sqlx::query_scalar("SELECT slug FROM apps WHERE id = $1")
            .bind(app_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let keys = vec![
            Key::App(
                app_id.to_owned(),
                slug.map(Slug::stored).unwrap_or_default(),
            ),
            Key::AllTokens,
        ];
        self.commit_invalidating(tx, (), keys).await
    }
}
