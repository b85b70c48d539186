//! Orgs and memberships.

use super::{AuditExt, Caller, Gantry};
use crate::error::{CoreError, CoreResult};
use crate::ids::*;
use crate::model::{MemberRecord, OrgRecord};
use crate::policy::{self, Capability, Principal};
use crate::validate;
use gantry_api::{CreateOrgRequest, Role};

impl Gantry {
    /// `GET /v1/orgs`: the orgs the caller belongs to (an org or deploy token: its own org).
    pub async fn list_orgs(&self, caller: &Caller) -> CoreResult<Vec<(OrgRecord, Option<Role>)>> {
        match &caller.principal {
            Principal::User { user, .. } => {
                if user.is_admin {
                    // Administrators see every org, with their own role where they have one.
                    let mine = self.store.list_orgs(Some(&user.id)).await?;
                    let all = self.store.list_orgs(None).await?;
                    Ok(all
                        .into_iter()
                        .map(|(o, _)| {
                            let role = mine
                                .iter()
                                .find(|(m, _)| m.id == o.id)
                                .and_then(|(_, r)| *r);
                            (o, role)
                        })
                        .collect())
                } else {
                    self.store.list_orgs(Some(&user.id)).await
                }
            }
            Principal::Org { org_id, role, .. } => Ok(self
                .store
                .get_org(org_id)
                .await?
                .map(|o| vec![(o, Some(*role))])
                .unwrap_or_default()),
            Principal::Deploy { org_id, .. } => Ok(self
                .store
                .get_org(org_id)
                .await?
                .map(|o| vec![(o, None)])
                .unwrap_or_default()),
        }
    }

    /// `POST /v1/orgs`: the calling user becomes its owner.
    pub async fn create_org(
        &self,
        caller: &Caller,
        req: &CreateOrgRequest,
    ) -> CoreResult<OrgRecord> {
        let Principal::User { user, .. } = &caller.principal else {
            return Err(CoreError::Forbidden("only users can create orgs".into()));
        };
        let slug = validate::slug("slug", &req.slug)?;
        let name = match &req.name {
            Some(n) => validate::name("name", n)?,
            None => slug.to_string(),
        };
        let org = OrgRecord {
            id: OrgId::generate(),
            slug,
            name,
            created_at: self.now(),
            policy: Default::default(),
        };
        let audit = self
            .audit(caller, "org.create")
            .target("org", &org.id)
            .org(&org.id, &org.slug);
        self.store.insert_org(&org, &user.id, &audit).await?;
        Ok(org)
    }

    /// `GET /v1/orgs/{org}`.
    pub async fn get_org(
        &self,
        caller: &Caller,
        slug: &str,
    ) -> CoreResult<(OrgRecord, Option<Role>)> {
        self.org_for(caller, slug, Capability::ReadOrg).await
    }

    /// `GET /v1/orgs/{org}/members`.
    pub async fn list_members(&self, caller: &Caller, slug: &str) -> CoreResult<Vec<MemberRecord>> {
        if let Some(empty) = self.deploy_token_sees_nothing(caller, slug).await? {
            return Ok(empty);
        }
        let (org, _) = self
            .org_for(caller, slug, Capability::ReadOrgDetails)
            .await?;
        self.store.list_members(&org.id).await
    }

    /// `PUT /v1/orgs/{org}/members/{user_id}`: add a member or change a role. Admins manage
    /// members up to admin; only owners touch the owner role; the last owner stays. The
    /// ceiling is checked against the member's current role inside the store's transaction.
    pub async fn put_member(
        &self,
        caller: &Caller,
        slug: &str,
        user_id: &str,
        role: Role,
    ) -> CoreResult<MemberRecord> {
        let (org, my_role) = self
            .org_for(caller, slug, Capability::ManageMembers)
            .await?;
        let user = self
            .store
            .get_user(&UserId::from(user_id))
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("user '{}'", super::printable(user_id))))?;
        let ceiling = grant_ceiling(caller, my_role)?;
        let audit = self
            .audit(caller, "member.put")
            .target("user", user_id)
            .org(&org.id, &org.slug)
            .detail("role", role.as_str());
        let now = self.now();
        self.store
            .put_member(&org.id, &UserId::from(user_id), role, ceiling, now, &audit)
            .await?;
        Ok(MemberRecord {
            org_id: org.id,
            user_id: user.id,
            email: user.email,
            name: user.name,
            role,
            created_at: now,
        })
    }

    /// `DELETE /v1/orgs/{org}/members/{user_id}`. A user may also leave on their own.
    pub async fn delete_member(
        &self,
        caller: &Caller,
        slug: &str,
        user_id: &str,
    ) -> CoreResult<()> {
        let leaving_self = caller.principal.user().is_some_and(|u| u.id == user_id);
        let (org, ceiling) = if leaving_self {
            (
                self.org_for(caller, slug, Capability::ReadOrg).await?.0,
                None,
            )
        } else {
            let (org, my_role) = self
                .org_for(caller, slug, Capability::ManageMembers)
                .await?;
            (org, Some(grant_ceiling(caller, my_role)?))
        };
        let audit = self
            .audit(caller, "member.delete")
            .target("user", user_id)
            .org(&org.id, &org.slug);
        match self
            .store
            .delete_member(&org.id, &UserId::from(user_id), ceiling, &audit)
            .await?
            .value
        {
            Some(_) => Ok(()),
            None => Err(CoreError::NotFound(format!(
                "member '{}'",
                super::printable(user_id)
            ))),
        }
    }

    /// `GET /v1/orgs/{org}/policy`: the org (with its token policy), for anyone who may read
    /// org-wide details (members see the rules their tokens meet; deploy tokens nothing).
    pub async fn get_org_policy(&self, caller: &Caller, slug: &str) -> CoreResult<OrgRecord> {
        Ok(self
            .org_for(caller, slug, Capability::ReadOrgDetails)
            .await?
            .0)
    }

    /// `PUT /v1/orgs/{org}/policy` (owners): replaces the org's token policy. It applies to
    /// tokens created or rotated from now on; tokens that exist keep their expiry and networks.
    pub async fn put_org_policy(
        &self,
        caller: &Caller,
        slug: &str,
        req: &gantry_api::PutOrgPolicyRequest,
    ) -> CoreResult<OrgRecord> {
        let (mut org, _) = self.org_for(caller, slug, Capability::SetOrgPolicy).await?;
        let policy = validate::org_policy(&self.settings.token_policy, req)?;
        let audit = self
            .audit(caller, "org.policy_update")
            .target("org", &org.id)
            .org(&org.id, &org.slug)
            .detail(
                "max_lifetime",
                policy.max_lifetime.map(crate::expiry::format_duration),
            )
            .detail("require_expiry", policy.require_expiry)
            .detail(
                "allowed_ips",
                policy.allowed_ips.as_ref().map(|n| n.names()),
            );
        if !self
            .store
            .set_org_policy(&org, &policy, &audit)
            .await?
            .value
        {
            return Err(CoreError::NotFound(format!(
                "org '{}'",
                super::printable(slug)
            )));
        }
        org.policy = policy;
        Ok(org)
    }

    /// DESIGN §2: read-only listing routes answer a deploy token with what it can see instead
    /// of refusing. For org-wide lists (members, alert rules) of its own org that is nothing.
    pub(crate) async fn deploy_token_sees_nothing<T>(
        &self,
        caller: &Caller,
        slug: &str,
    ) -> CoreResult<Option<Vec<T>>> {
        if policy::sees_nothing_of_org_lists(&caller.principal) {
            self.org_for(caller, slug, Capability::ReadOrg).await?;
            return Ok(Some(Vec::new()));
        }
        Ok(None)
    }
}

/// The highest role `caller` may hand out or take away in an org where it holds `my_role`.
fn grant_ceiling(caller: &Caller, my_role: Option<Role>) -> CoreResult<Role> {
    policy::grantable(&caller.principal, my_role)
        .ok_or_else(|| CoreError::Forbidden("only org admins and owners manage members".into()))
}
