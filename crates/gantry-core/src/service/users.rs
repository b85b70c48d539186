//! Users: instance administration, first-run bootstrap, own password.

use super::{AuditExt, Caller, Gantry};
use crate::error::{CoreError, CoreResult};
use crate::ids::*;
use crate::model::{ActorRef, AuditRecord, UserRecord};
use crate::password;
use crate::policy::Principal;
use crate::store::UserPatch;
use crate::validate;
use gantry_api::{CreateUserRequest, UpdateUserRequest};

/// Most users one listing returns.
pub const MAX_USER_PAGE: i64 = 1000;

impl Gantry {
    fn require_instance_admin(&self, caller: &Caller) -> CoreResult<()> {
        if caller.principal.is_instance_admin() {
            Ok(())
        } else {
            Err(CoreError::Forbidden(
                "only instance administrators may manage users".into(),
            ))
        }
    }

    /// Creates a user without a caller (first run, `gantry admin create-user`).
    pub async fn create_user_as_system(
        &self,
        email: &str,
        password_plain: &str,
        name: Option<&str>,
        is_admin: bool,
    ) -> CoreResult<UserRecord> {
        let user = self.new_user(email, password_plain, name, is_admin).await?;
        let audit = AuditRecord::new(self.now(), ActorRef::System, "user.create")
            .detail("email", user.email.clone())
            .detail("is_admin", is_admin)
            .target("user", &user.id);
        self.store.insert_user(&user, &audit).await?;
        Ok(user)
    }

    async fn new_user(
        &self,
        email: &str,
        password_plain: &str,
        name: Option<&str>,
        is_admin: bool,
    ) -> CoreResult<UserRecord> {
        let email = validate::email("email", email)?;
        validate::password("password", password_plain)?;
        let name = match name {
            Some(n) => validate::name("name", n)?,
            None => email.split('@').next().unwrap_or_default().to_owned(),
        };
        let plain = password_plain.to_owned();
        let password_hash = tokio::task::spawn_blocking(move || password::hash_password(&plain))
            .await
            .map_err(CoreError::internal)??;
        Ok(UserRecord {
            id: UserId::generate(),
            email,
            name,
            password_hash,
            is_admin,
            disabled: false,
            created_at: self.now(),
        })
    }

    /// Whether the instance has no users yet (first run).
    pub async fn has_no_users(&self) -> CoreResult<bool> {
        Ok(self.store.count_users().await? == 0)
    }

    /// `POST /v1/users`.
    pub async fn create_user(
        &self,
        caller: &Caller,
        req: &CreateUserRequest,
    ) -> CoreResult<UserRecord> {
        self.require_instance_admin(caller)?;
        let is_admin = req.is_admin.unwrap_or(false);
        let user = self
            .new_user(&req.email, &req.password, req.name.as_deref(), is_admin)
            .await?;
        let audit = self
            .audit(caller, "user.create")
            .target("user", &user.id)
            .detail("email", user.email.clone())
            .detail("is_admin", is_admin);
        self.store.insert_user(&user, &audit).await?;
        Ok(user)
    }

    /// `GET /v1/users`.
    pub async fn list_users(
        &self,
        caller: &Caller,
        limit: i64,
        offset: i64,
    ) -> CoreResult<Vec<UserRecord>> {
        self.require_instance_admin(caller)?;
        self.store
            .list_users(limit.clamp(1, MAX_USER_PAGE), offset.max(0))
            .await
    }

    /// `PATCH /v1/users/{id}`: disable/enable, admin flag, name. Takes effect on the user's
    /// very next request, whatever credential it carries.
    pub async fn update_user(
        &self,
        caller: &Caller,
        id: &str,
        req: &UpdateUserRequest,
    ) -> CoreResult<UserRecord> {
        self.require_instance_admin(caller)?;
        let name = req
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        if self.store.get_user(&UserId::from(id)).await?.is_none() {
            return Err(CoreError::NotFound(format!(
                "user '{}'",
                super::printable(id)
            )));
        }
        let patch = UserPatch {
            disabled: req.disabled,
            is_admin: req.is_admin,
            name,
            password_hash: None,
        };
        let mut audit = self.audit(caller, "user.update").target("user", id);
        if let Some(d) = req.disabled {
            audit = audit.detail("disabled", d);
        }
        if let Some(a) = req.is_admin {
            audit = audit.detail("is_admin", a);
        }
        Ok(self
            .store
            .update_user(&UserId::from(id), &patch, &audit)
            .await?
            .value)
    }

    /// `PUT /v1/user/password`: the caller changes their own password.
    pub async fn change_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
    ) -> CoreResult<UserRecord> {
        let Principal::User { user, .. } = &caller.principal else {
            return Err(CoreError::Forbidden("only users have passwords".into()));
        };
        validate::password("new_password", new)?;
        // Under the login limits: a stolen token must not become a password oracle.
        let ip = caller.ip.as_deref();
        if self
            .limited_password_check(&user.email, current, ip)
            .await?
            .is_none()
        {
            let audit = AuditRecord {
                outcome: "failure".into(),
                ..self.audit(caller, "user.password").target("user", &user.id)
            }
            .detail("reason", "wrong_current_password");
            if let Err(e) = self.store.append_audit(&audit).await {
                tracing::warn!(error = %e, "could not audit a failed password change");
            }
            return Err(CoreError::invalid("current_password", "is not correct"));
        }
        let plain = new.to_owned();
        let hash = tokio::task::spawn_blocking(move || password::hash_password(&plain))
            .await
            .map_err(CoreError::internal)??;
        let patch = UserPatch {
            password_hash: Some(hash),
            ..Default::default()
        };
        let audit = self.audit(caller, "user.password").target("user", &user.id);
        Ok(self
            .store
            .update_user(&user.id, &patch, &audit)
            .await?
            .value)
    }
}
