//! Orgs and memberships, with the membership invariants (the last owner, the role ceiling) checked inside each write's transaction.

use super::*;

async fn owner_count(conn: &mut Conn, org_id: &str) -> CoreResult<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
        .bind(org_id)
        .fetch_one(conn)
        .await
        .map_err(db)
}

async fn member_role(conn: &mut Conn, org_id: &str, user_id: &str) -> CoreResult<Option<Role>> {
    let r: Option<String> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await
            .map_err(db)?;
    Ok(r.as_deref().and_then(Role::parse))
}

fn beyond_ceiling() -> CoreError {
    CoreError::Forbidden("only owners can grant, change or remove the owner role".into())
}

fn last_owner() -> CoreError {
    CoreError::conflict(
        "last_owner",
        "an org must keep at least one owner; make someone else owner first",
    )
}

#[async_trait]
impl OrgStore for SqlStore {
    async fn insert_org(
        &self,
        org: &OrgRecord,
        owner_id: &UserId,
        audit: &AuditRecord,
    ) -> CoreResult<Written> {
        let mut tx = self.pools.begin_write().await?;
        sqlx::query("INSERT INTO orgs (id, slug, name, created_at) VALUES ($1,$2,$3,$4)")
            .bind(org.id.as_str())
            .bind(org.slug.as_str())
            .bind(&org.name)
            .bind(org.created_at.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| unique(e, "already_exists", "an org with this slug already exists"))?;
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1,$2,'owner',$3)",
        )
        .bind(org.id.as_str())
        .bind(owner_id.as_str())
        .bind(org.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        insert_audit(&mut tx, audit).await?;
        // Other nodes may have cached "no such org" for this slug.
        let keys = vec![
            Key::Org(org.id.clone(), org.slug.clone()),
            Key::Member(org.id.clone(), owner_id.to_owned()),
        ];
        self.commit_invalidating(tx, (), keys).await
    }

    async fn set_org_policy(
        &self,
        org: &OrgRecord,
        policy: &OrgPolicy,
        audit: &AuditRecord,
    ) -> CoreResult<Written<bool>> {
        let mut tx = self.pools.begin_write().await?;
        let n = sqlx::query(
            "UPDATE orgs SET policy_max_lifetime_secs = $1, policy_require_expiry = $2, \
             policy_allowed_ips = $3 WHERE id = $4",
        )
        .bind(
            policy
                .max_lifetime
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        )
        .bind(policy.require_expiry)
        .bind(gantry_core::policy::Networks::to_column(
            policy.allowed_ips.as_ref(),
        ))
        .bind(org.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Ok(Written::new(false, Vec::new()));
        }
        insert_audit(&mut tx, audit).await?;
        let keys = vec![Key::Org(org.id.clone(), org.slug.clone())];
        self.commit_invalidating(tx, true, keys).await
    }

    async fn get_org_by_slug(&self, slug: &Slug) -> CoreResult<Option<OrgRecord>> {
        self.one(
            sqlx::query("SELECT * FROM orgs WHERE slug = $1").bind(slug.as_str()),
            org_row,
        )
        .await
    }

    async fn get_org(&self, id: &OrgId) -> CoreResult<Option<OrgRecord>> {
        self.one(
            sqlx::query("SELECT * FROM orgs WHERE id = $1").bind(id.as_str()),
            org_row,
        )
        .await
    }

    async fn list_orgs(
        &self,
        user_id: Option<&UserId>,
    ) -> CoreResult<Vec<(OrgRecord, Option<Role>)>> {
        let rows = match user_id {
            Some(u) => sqlx::query("SELECT o.*, m.role AS role FROM orgs o JOIN memberships m ON m.org_id = o.id WHERE m.user_id = $1 ORDER BY o.slug")
                .bind(u.as_str())
                .fetch_all(self.pools.reader())
                .await,
            None => sqlx::query("SELECT o.*, NULL AS role FROM orgs o ORDER BY o.slug")
                .fetch_all(self.pools.reader())
                .await,
        }
        .map_err(db)?;
        rows.iter()
            .map(|r| Ok((org_row(r)?, role(r, "role")?)))
            .collect()
    }

    async fn get_member_role(&self, org_id: &OrgId, user_id: &UserId) -> CoreResult<Option<Role>> {
        let r: Option<String> =
            sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
                .bind(org_id.as_str())
                .bind(user_id.as_str())
                .fetch_optional(self.pools.reader())
                .await
                .map_err(db)?;
        Ok(r.as_deref().and_then(Role::parse))
    }

    async fn list_members(&self, org_id: &OrgId) -> CoreResult<Vec<MemberRecord>> {
        let rows = sqlx::query("SELECT m.*, u.email, u.name FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email")
            .bind(org_id.as_str())
            .fetch_all(self.pools.reader())
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(MemberRecord {
                    org_id: cs(r, "org_id")?.into(),
                    user_id: cs(r, "user_id")?.into(),
                    email: s(r, "email")?,
                    name: s(r, "name")?,
                    role: role(r, "role")?.ok_or_else(|| CoreError::internal("bad role"))?,
                    created_at: ts(r, "created_at")?,
                })
            })
            .collect()
    }

    async fn put_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        role: Role,
        ceiling: Role,
        at: Timestamp,
        audit: &AuditRecord,
    ) -> CoreResult<Written<Option<Role>>> {
        let mut tx = self.pools.begin_write().await?;
        let current = member_role(&mut tx, org_id, user_id).await?;
        if role.max(current.unwrap_or(Role::Viewer)) > ceiling {
            return Err(beyond_ceiling());
        }
        sqlx::query("INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1,$2,$3,$4) ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role")
            .bind(org_id.as_str())
            .bind(user_id.as_str())
            .bind(role.as_str())
            .bind(at.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if owner_count(&mut tx, org_id).await? == 0 {
            return Err(last_owner());
        }
        let audit = with_detail(audit, "previous_role", current.map(Role::as_str).into());
        insert_audit(&mut tx, &audit).await?;
        let keys = vec![Key::Member(org_id.to_owned(), user_id.to_owned())];
        self.commit_invalidating(tx, current, keys).await
    }

    async fn delete_member(
        &self,
        org_id: &OrgId,
        user_id: &UserId,
        ceiling: Option<Role>,
        audit: &AuditRecord,
    ) -> CoreResult<Written<Option<Role>>> {
        let mut tx = self.pools.begin_write().await?;
        let Some(current) = member_role(&mut tx, org_id, user_id).await? else {
            return Ok(Written::new(None, Vec::new()));
        };
        if ceiling.is_some_and(|c| current > c) {
            return Err(beyond_ceiling());
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id.as_str())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if owner_count(&mut tx, org_id).await? == 0 {
            return Err(last_owner());
        }
        let audit = with_detail(audit, "previous_role", current.as_str().into());
        insert_audit(&mut tx, &audit).await?;
        let keys = vec![Key::Member(org_id.to_owned(), user_id.to_owned())];
        self.commit_invalidating(tx, Some(current), keys).await
    }
}
