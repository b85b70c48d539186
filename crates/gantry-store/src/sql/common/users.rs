//! Users.

use super::*;

#[async_trait]
impl UserStore for SqlStore {
    async fn count_users(&self) -> CoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pools.writer())
            .await
            .map_err(db)
    }

    async fn insert_user(&self, u: &UserRecord, audit: &AuditRecord) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query("INSERT INTO users (id, email, name, password_hash, is_admin, disabled, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(u.id.as_str())
            .bind(&u.email)
            .bind(&u.name)
            .bind(&u.password_hash)
            .bind(u.is_admin)
            .bind(u.disabled)
            .bind(u.created_at.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique(e, "already_exists", "a user with this email already exists"))?;
        insert_audit(&mut tx, audit).await?;
        // A new random id: nothing can have cached it.
        self.commit(tx).await?;
        Ok(Written::new((), Vec::new()))
    }

    async fn get_user(&self, id: &UserId) -> CoreResult<Option<UserRecord>> {
        self.one(
            sqlx::query("SELECT * FROM users WHERE id = $1").bind(id.as_str()),
            user_row,
        )
        .await
    }

    async fn get_user_by_email(&self, email: &str) -> CoreResult<Option<UserRecord>> {
        self.one(
            sqlx::query("SELECT * FROM users WHERE email = $1").bind(email),
            user_row,
        )
        .await
    }

    async fn list_users(&self, limit: i64, offset: i64) -> CoreResult<Vec<UserRecord>> {
        self.all(
            sqlx::query("SELECT * FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2")
                .bind(limit)
                .bind(offset),
            user_row,
        )
        .await
    }

    async fn update_user(
        &self,
        id: &UserId,
        p: &UserPatch,
        audit: &AuditRecord,
    ) -> CoreResult<Written<UserRecord>> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query(
            "UPDATE users SET disabled = COALESCE($1, disabled), is_admin = COALESCE($2, is_admin), \
             name = COALESCE($3, name), password_hash = COALESCE($4, password_hash) WHERE id = $5",
        )
        .bind(p.disabled)
        .bind(p.is_admin)
        .bind(&p.name)
        .bind(&p.password_hash)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // Only a change that takes admin rights away can leave the instance without an admin.
        let demotes = p.disabled == Some(true) || p.is_admin == Some(false);
        let admins: i64 = if demotes {
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE is_admin AND NOT disabled")
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?
        } else {
            1
        };
        if admins == 0 {
            return Err(CoreError::conflict(
                "last_admin",
                "the instance must keep at least one enabled administrator",
            ));
        }
        // Disabling a user or setting a password ends their dashboard sessions: enabling the
        // user again, or the old password, must not bring them back.
        if p.disabled == Some(true) || p.password_hash.is_some() {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        insert_audit(&mut tx, audit).await?;
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or_else(|| CoreError::NotFound("user".into()))?;
        let user = user_row(&row)?;
        self.commit_invalidating(tx, user, vec![Key::User(id.to_owned())])
            .await
    }
}
