//! The token lifecycle: create, list, show, update, rotate, revoke.

use super::{AuditExt, Caller, Gantry};
use crate::error::{CoreError, CoreResult};
use crate::expiry::{self, ExpiryRequest};
use crate::ids::*;
use crate::model::{AuditRecord, RevokeReason, TokenRecord, TokenScope};
use crate::policy::{self, Capability, Principal};
use crate::store::{Rotation, StatusFilter, TokenFilter};
use crate::token::PlainToken;
use crate::validate;
use gantry_api::{
    CreateTokenRequest, Role, RotateTokenRequest, TokenKind, TokenStatus, UpdateTokenRequest,
};

/// Most tokens one listing returns.
pub const MAX_TOKEN_PAGE: i64 = 1000;

/// List parameters shared by every token listing.
#[derive(Debug, Clone, Default)]
pub struct TokenQuery {
    /// `active`, `expired`, `revoked` or `all`; default: everything but revoked.
    pub status: Option<String>,
    /// A duration: only tokens expiring within it.
    pub expiring_within: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl TokenQuery {
    fn to_filter(&self, now: crate::time::Timestamp) -> CoreResult<TokenFilter> {
        let status = match self.status.as_deref() {
            None => None,
            Some("active") => Some(StatusFilter::One(TokenStatus::Active)),
            Some("expired") => Some(StatusFilter::One(TokenStatus::Expired)),
            Some("revoked") => Some(StatusFilter::One(TokenStatus::Revoked)),
            Some("all") => Some(StatusFilter::All),
            Some(_) => {
                return Err(CoreError::invalid(
                    "status",
                    "must be one of active, expired, revoked, all",
                ))
            }
        };
        let expiring_before = match &self.expiring_within {
            None => None,
            Some(s) => Some(now.plus(expiry::parse_duration(s).ok_or_else(|| {
                CoreError::invalid("expiring_within", "must be a duration such as 7d or 48h")
            })?)),
        };
        let limit = self.limit.unwrap_or(MAX_TOKEN_PAGE);
        if !(1..=MAX_TOKEN_PAGE).contains(&limit) {
            return Err(CoreError::invalid(
                "limit",
                format!("must be between 1 and {MAX_TOKEN_PAGE}"),
            ));
        }
        Ok(TokenFilter {
            status,
            expiring_before,
            limit,
            offset: self.offset.unwrap_or(0).max(0),
            ..Default::default()
        })
    }
}

pub(crate) use crate::policy::TokenIntent as Intent;

/// Refuses deploy tokens on every token route ([`policy::manages_tokens_at_all`]).
fn not_a_deploy_token(caller: &Caller) -> CoreResult<()> {
    policy::manages_tokens_at_all(&caller.principal).map_err(|m| CoreError::Forbidden(m.into()))
}

impl Gantry {
    /// The org's token policy (the default, adding nothing, for tokens of no org).
    pub(crate) async fn org_policy_of(
        &self,
        org_id: Option<&OrgId>,
    ) -> CoreResult<crate::model::OrgPolicy> {
        let Some(id) = org_id else {
            return Ok(Default::default());
        };
        Ok(self
            .store
            .get_org(id)
            .await?
            .map(|o| o.policy)
            .unwrap_or_default())
    }

    fn new_token(
        &self,
        caller: &Caller,
        scope: TokenScope,
        req: &CreateTokenRequest,
        org: &crate::model::OrgPolicy,
    ) -> CoreResult<(TokenRecord, PlainToken)> {
        let kind = scope.kind();
        let name = validate::name("name", &req.name)?;
        let description = validate::description("description", req.description.as_deref())?;
        let now = self.now();
        let asked = ExpiryRequest {
            expires_in: req.expires_in.as_deref(),
            expires_at: req.expires_at.as_deref(),
            never_expires: req.never_expires,
        };
        let explicit = if asked.expires_in.is_some() {
            Some("expires_in")
        } else if asked.expires_at.is_some() {
            Some("expires_at")
        } else if asked.never_expires == Some(true) {
            Some("never_expires")
        } else {
            None
        };
        let expiry = self
            .settings
            .token_policy
            .for_org(org)
            .resolve(&asked, now)?
            .within(
                policy::expiry_ceiling(&caller.principal, kind),
                explicit,
                now,
            )?;
        let ceiling = policy::capability_ceiling(&caller.principal);
        let capabilities =
            match (&req.capabilities, kind) {
                (Some(_), TokenKind::Personal) => return Err(CoreError::invalid(
                    "capabilities",
                    "personal tokens act as their user; capabilities narrow org and deploy tokens",
                )),
                (None, _) => ceiling,
                (Some(names), _) => {
                    let asked = validate::capabilities("capabilities", Some(names))?;
                    if !ceiling.contains(asked) {
                        return Err(CoreError::invalid(
                            "capabilities",
                            format!(
                                "a token cannot give more than it holds ({})",
                                ceiling.names().join(", ")
                            ),
                        ));
                    }
                    asked
                }
            };
        let rotate_self = match (req.rotate_self, kind) {
            (Some(true), TokenKind::Deploy) => true,
            (Some(true), _) => {
                return Err(CoreError::invalid(
                    "rotate_self",
                    "only deploy tokens rotate themselves this way",
                ))
            }
            _ => false,
        };
        let allowed_ips = policy::allowed_ips_for(
            validate::networks("allowed_ips", req.allowed_ips.as_deref())?,
            caller
                .principal
                .token()
                .and_then(|t| t.allowed_ips.as_ref()),
            org.allowed_ips.as_ref(),
        )
        .map_err(|why| CoreError::invalid("allowed_ips", why))?;
        let plain = PlainToken::generate(kind);
        let record = TokenRecord {
            description,
            capabilities,
            allowed_ips,
            rotate_self,
            expires_at: expiry.expires_at,
            lifetime: expiry.lifetime,
            ..TokenRecord::new(
                TokenId::generate(),
                scope,
                name,
                &plain,
                caller.actor(),
                now,
            )
        };
        Ok((record, plain))
    }

    fn token_audit(&self, caller: &Caller, action: &str, t: &TokenRecord) -> AuditRecord {
        let audit = self
            .audit(caller, action)
            .target("token", &t.id)
            .token_scope(t)
            .detail("kind", t.kind().as_str())
            .detail("prefix", t.prefix.clone());
        let audit = if t.kind() == TokenKind::Personal {
            audit
        } else {
            audit.detail("capabilities", t.capabilities.names())
        };
        match token_event(action) {
            Some(kind) => audit.event(kind, crate::events::token_data(t)),
            None => audit,
        }
    }

    async fn insert_new_token(
        &self,
        caller: &Caller,
        record: TokenRecord,
        plain: PlainToken,
    ) -> CoreResult<(TokenRecord, PlainToken)> {
        let mut audit = self.token_audit(caller, "token.create", &record);
        audit = audit.detail("expires_at", record.expires_at.map(|t| t.to_rfc3339()));
        self.store.insert_token(&record, &audit).await?;
        Ok((record, plain))
    }

    /// `POST /v1/apps/{app}/tokens`: a deploy token for one app.
    #[tracing::instrument(skip_all, fields(app = %app_slug))]
    pub async fn create_deploy_token(
        &self,
        caller: &Caller,
        app_slug: &str,
        req: &CreateTokenRequest,
    ) -> CoreResult<(TokenRecord, PlainToken)> {
        let app = self
            .app_for(caller, app_slug, Capability::ManageTokens)
            .await?;
        if req.role.is_some() {
            return Err(CoreError::invalid(
                "role",
                "only org tokens carry a role; deploy tokens act as operators on their app",
            ));
        }
        let org = self.org_policy_of(Some(&app.org_id)).await?;
        let (record, plain) = self.new_token(caller, TokenScope::deploy(&app), req, &org)?;
        self.insert_new_token(caller, record, plain).await
    }

    /// `POST /v1/orgs/{org}/tokens`: an org token with a role no higher than the creator's.
    #[tracing::instrument(skip_all, fields(org = %org_slug))]
    pub async fn create_org_token(
        &self,
        caller: &Caller,
        org_slug: &str,
        req: &CreateTokenRequest,
    ) -> CoreResult<(TokenRecord, PlainToken)> {
        let (org, my_role) = self
            .org_for(caller, org_slug, Capability::ManageTokens)
            .await?;
        let role = req.role.ok_or_else(|| {
            CoreError::invalid(
                "role",
                "is required for org tokens (viewer, operator, admin or owner)",
            )
        })?;
        let ceiling = if caller.principal.is_instance_admin() {
            Some(Role::Owner)
        } else {
            my_role
        };
        if ceiling.is_none_or(|c| role > c) {
            return Err(CoreError::Forbidden(format!(
                "a token cannot carry more than its creator's role ({})",
                ceiling.map(Role::as_str).unwrap_or("none")
            )));
        }
        let (record, plain) =
            self.new_token(caller, TokenScope::org(&org, role), req, &org.policy)?;
        self.insert_new_token(caller, record, plain).await
    }

    /// `POST /v1/user/tokens` (and login): a personal token of the calling user.
    #[tracing::instrument(skip_all)]
    pub async fn create_personal_token(
        &self,
        caller: &Caller,
        req: &CreateTokenRequest,
    ) -> CoreResult<(TokenRecord, PlainToken)> {
        let Principal::User { user, .. } = &caller.principal else {
            return Err(CoreError::Forbidden(
                "only users have personal tokens".into(),
            ));
        };
        if req.role.is_some() {
            return Err(CoreError::invalid(
                "role",
                "personal tokens act with their user's roles; only org tokens carry a role",
            ));
        }
        let (record, plain) =
            self.new_token(caller, TokenScope::personal(user), req, &Default::default())?;
        self.insert_new_token(caller, record, plain).await
    }

    /// `GET /v1/apps/{app}/tokens`: the app's deploy tokens.
    pub async fn list_app_tokens(
        &self,
        caller: &Caller,
        app_slug: &str,
        q: &TokenQuery,
    ) -> CoreResult<Vec<TokenRecord>> {
        let app = self
            .app_for(caller, app_slug, Capability::ManageTokens)
            .await?;
        let now = self.now();
        let mut f = q.to_filter(now)?;
        f.app_id = Some(app.id.clone());
        f.kinds = vec![TokenKind::Deploy];
        Ok(self.with_pending_usages(self.store.list_tokens(&f, now).await?))
    }

    /// `GET /v1/orgs/{org}/tokens`: every org and deploy token of the org.
    pub async fn list_org_tokens(
        &self,
        caller: &Caller,
        org_slug: &str,
        q: &TokenQuery,
    ) -> CoreResult<Vec<TokenRecord>> {
        let (org, _) = self
            .org_for(caller, org_slug, Capability::ManageTokens)
            .await?;
        let now = self.now();
        let mut f = q.to_filter(now)?;
        f.org_id = Some(org.id);
        f.kinds = vec![TokenKind::Org, TokenKind::Deploy];
        Ok(self.with_pending_usages(self.store.list_tokens(&f, now).await?))
    }

    /// `GET /v1/user/tokens`: the caller's personal tokens.
    pub async fn list_my_tokens(
        &self,
        caller: &Caller,
        q: &TokenQuery,
    ) -> CoreResult<Vec<TokenRecord>> {
        let Principal::User { user, .. } = &caller.principal else {
            return Err(CoreError::Forbidden(
                "only users have personal tokens".into(),
            ));
        };
        let now = self.now();
        let mut f = q.to_filter(now)?;
        f.user_id = Some(user.id.clone());
        f.kinds = vec![TokenKind::Personal];
        Ok(self.with_pending_usages(self.store.list_tokens(&f, now).await?))
    }

    /// `GET /v1/tokens`: every token the caller may manage — their personal tokens and the
    /// tokens of orgs where they are admin or owner; with `all_users` (instance
    /// administrators only) every token of every user.
    pub async fn list_all_tokens(
        &self,
        caller: &Caller,
        all_users: bool,
        q: &TokenQuery,
    ) -> CoreResult<Vec<TokenRecord>> {
        let now = self.now();
        let mut f = q.to_filter(now)?;
        let listing = policy::Listing::Tokens { all_users };
        let memberships = self.memberships_for_scope(caller, listing).await?;
        match policy::scope(&caller.principal, listing, &memberships)
            .map_err(|m| CoreError::Forbidden(m.into()))?
        {
            policy::Scope::All => {}
            policy::Scope::Visible { orgs, own } => f.org_ids_or_user = Some((orgs, own)),
        }
        Ok(self.with_pending_usages(self.store.list_tokens(&f, now).await?))
    }

    /// Loads a token the caller may act on. Deploy tokens get 403; tokens the caller may not
    /// know about are 404. Seeing a token needs the token-management capability; changing it
    /// also needs its role within the caller's grant ceiling (an admin cannot rotate an owner
    /// token into their own hands); rotating a personal token is for its user alone (an
    /// administrator would otherwise obtain a credential that acts as someone else).
    async fn manageable_token(
        &self,
        caller: &Caller,
        id: &str,
        intent: Intent,
    ) -> CoreResult<TokenRecord> {
        not_a_deploy_token(caller)?;
        let not_found = || CoreError::NotFound(format!("token '{}'", super::printable(id)));
        let token = self
            .store
            .get_token(&TokenId::from(id))
            .await?
            .ok_or_else(not_found)?;
        self.may_act_on_token(caller, token, intent).await
    }

    /// The access rule of [`Gantry::manageable_token`] for a token already loaded.
    pub(crate) async fn may_act_on_token(
        &self,
        caller: &Caller,
        token: TokenRecord,
        intent: Intent,
    ) -> CoreResult<TokenRecord> {
        let role = match token.scope.org_id() {
            Some(org_id) => self.role_in(caller, org_id).await?,
            None => None,
        };
        match policy::token_access(&caller.principal, role, &token, intent) {
            Ok(()) => Ok(token),
            Err(policy::TokenRefusal::Forbidden(m)) => Err(CoreError::Forbidden(m)),
            Err(policy::TokenRefusal::Hidden) => Err(CoreError::NotFound(format!(
                "token '{}'",
                super::printable(&token.id)
            ))),
        }
    }

    /// `GET /v1/tokens/{id}`.
    pub async fn get_token(&self, caller: &Caller, id: &str) -> CoreResult<TokenRecord> {
        let token = self.manageable_token(caller, id, Intent::View).await?;
        Ok(self.with_pending_usage(token))
    }

    /// `PATCH /v1/tokens/{id}`: name and description only.
    pub async fn update_token(
        &self,
        caller: &Caller,
        id: &str,
        req: &UpdateTokenRequest,
    ) -> CoreResult<TokenRecord> {
        let mut token = self.manageable_token(caller, id, Intent::Modify).await?;
        if let Some(n) = &req.name {
            token.name = validate::name("name", n)?;
        }
        if req.description.is_some() {
            token.description = validate::description("description", req.description.as_deref())?;
        }
        let audit = self.token_audit(caller, "token.update", &token);
        self.store
            .update_token(&token.id, &token.name, token.description.as_deref(), &audit)
            .await?;
        Ok(self.with_pending_usage(token))
    }

    /// `POST /v1/tokens/{id}/rotate`: same token, new secret, fresh expiry. Expired tokens can
    /// be rotated; revoked ones cannot. With a grace period the old value keeps working until
    /// it ends (never past the old expiry); otherwise it stops at once.
    #[tracing::instrument(skip_all, fields(token_id = %id))]
    pub async fn rotate_token(
        &self,
        caller: &Caller,
        id: &str,
        req: &RotateTokenRequest,
    ) -> CoreResult<(TokenRecord, PlainToken)> {
        let token = self.manageable_token(caller, id, Intent::Rotate).await?;
        // Never later than the credential's own expiry: a token rotating itself keeps its
        // expiry; a longer life needs a password login or a longer-lived token.
        let ceiling = crate::policy::expiry_ceiling(&caller.principal, token.kind());
        self.rotated(caller, token, req, ceiling).await
    }

    /// `POST /v1/tokens/self/rotate`: a deploy token created with `rotate_self` rotates
    /// itself, its new expiry bounded by the instance policy (not by its old one: renewing
    /// its own life is the point), and does nothing else of token management.
    pub async fn rotate_self(
        &self,
        caller: &Caller,
        req: &RotateTokenRequest,
    ) -> CoreResult<(TokenRecord, PlainToken)> {
        let token = crate::policy::self_rotation(&caller.principal)
            .map_err(|m| CoreError::Forbidden(m.into()))?;
        // Read afresh: the cached record may trail a rotation a moment ago on another node.
        let token = self
            .store
            .get_token(&token.id)
            .await?
            .ok_or_else(|| CoreError::NotFound("token".into()))?;
        self.rotated(caller, token, req, None).await
    }

    async fn rotated(
        &self,
        caller: &Caller,
        mut token: TokenRecord,
        req: &RotateTokenRequest,
        ceiling: Option<crate::time::Timestamp>,
    ) -> CoreResult<(TokenRecord, PlainToken)> {
        if token.revoked_at.is_some() {
            return Err(CoreError::conflict(
                "token_revoked",
                "a revoked token cannot be rotated; create a new one",
            ));
        }
        let now = self.now();
        let org = self.org_policy_of(token.scope.org_id()).await?;
        let policy = &self.settings.token_policy.for_org(&org);
        let expiry = match &req.expires_in {
            Some(s) => policy.lifetime("expires_in", s, now)?,
            None => policy.renew(token.lifetime, now)?,
        };
        let explicit = req.expires_in.as_ref().map(|_| "expires_in");
        let expiry = expiry.within(ceiling, explicit, now)?;
        let grace = req
            .grace_period
            .as_deref()
            .map(expiry::parse_grace)
            .transpose()?;
        let until_first_use = req.until_first_use == Some(true);
        if until_first_use && grace.is_none_or(|g| g.is_zero()) {
            return Err(CoreError::invalid(
                "until_first_use",
                "needs a grace_period: it ends the old value early, at the new one's first use",
            ));
        }
        let prev_expires_at = grace.filter(|g| !g.is_zero()).map(|g| {
            let end = now.plus(g);
            match token.expires_at {
                Some(old) if old < end => old,
                _ => end,
            }
        });
        let plain = PlainToken::generate(token.kind());
        let rotation = Rotation {
            expected_hash: token.hash,
            new_hash: plain.hash(),
            new_prefix: plain.display_prefix().to_owned(),
            prev_expires_at,
            prev_until_first_use: until_first_use,
            expires_at: expiry.expires_at,
            lifetime: expiry.lifetime,
            rotated_at: now,
        };
        let mut audit = self
            .token_audit(caller, "token.rotate", &token)
            .detail("new_prefix", rotation.new_prefix.clone())
            .detail("grace_until", prev_expires_at.map(|t| t.to_rfc3339()));
        if until_first_use {
            audit = audit.detail("until_first_use", true);
        }
        self.store
            .rotate_token(&token.id, &rotation, &audit)
            .await?;
        token.prev_hash = prev_expires_at.map(|_| token.hash);
        token.prev_expires_at = prev_expires_at;
        token.prev_until_first_use = until_first_use;
        token.hash = rotation.new_hash;
        token.prefix = rotation.new_prefix;
        token.expires_at = rotation.expires_at;
        token.lifetime = rotation.lifetime;
        token.rotated_at = Some(now);
        Ok((token, plain))
    }

    /// The first use of a value rotated in with `until_first_use`: the previous value stops
    /// now, on every node (the write returns once they all dropped it), instead of at the end
    /// of the grace period. Runs inside the authentication of that use; if it cannot be
    /// written, the request still goes on and the grace period bounds the old value as before.
    pub(crate) async fn end_grace_at_first_use(&self, token: &TokenRecord, ip: Option<&str>) {
        if token.prev_expires_at.is_none_or(|end| end <= self.now()) {
            return;
        }
        let actor = crate::model::ActorRef::Token {
            id: token.id.to_string(),
            name: token.name.clone(),
        };
        let audit = AuditRecord {
            ip: ip.map(str::to_owned),
            ..AuditRecord::new(self.now(), actor, "token.grace_ended")
        }
        .token_scope(token)
        .target("token", &token.id)
        .detail("reason", "first_use_of_new_value")
        .detail("prefix", token.prefix.clone());
        if let Err(e) = self.store.end_grace(&token.id, &token.hash, &audit).await {
            tracing::warn!(error = %e, token_id = %token.id, "could not end a rotation's grace period at first use");
        }
    }

    /// `DELETE /v1/tokens/{id}`: permanent. Returns the token and whether it already was.
    #[tracing::instrument(skip_all, fields(token_id = %id))]
    pub async fn revoke_token(&self, caller: &Caller, id: &str) -> CoreResult<(TokenRecord, bool)> {
        let mut token = self.manageable_token(caller, id, Intent::Modify).await?;
        if token.revoked_at.is_some() {
            return Ok((token, true));
        }
        let now = self.now();
        let audit = self.token_audit(caller, "token.revoke", &token);
        let newly = self
            .store
            .revoke_token(&token.id, now, RevokeReason::Requested, &audit)
            .await?
            .value;
        if newly {
            token.revoked_at = Some(now);
            Ok((token, false))
        } else {
            let fresh = self.store.get_token(&token.id).await?.unwrap_or(token);
            Ok((fresh, true))
        }
    }

    /// [`Gantry::with_pending_usage`] over a listing.
    fn with_pending_usages(&self, tokens: Vec<TokenRecord>) -> Vec<TokenRecord> {
        tokens
            .into_iter()
            .map(|t| self.with_pending_usage(t))
            .collect()
    }

    /// Overlays this node's not-yet-flushed last use, so a read right after a use shows it.
    /// Every token read of the services (lists, show, update) applies it; callers showing a
    /// token they hold already (the caller's own, `GET /v1/user`) apply it themselves.
    pub fn with_pending_usage(&self, mut token: TokenRecord) -> TokenRecord {
        if let Some(u) = self.usage.pending(&token.id) {
            if token.last_used_at.is_none_or(|t| t < u.at) {
                token.last_used_at = Some(u.at);
                token.last_used_ip = u.ip;
            }
        }
        token
    }
}

/// The event a token write publishes, if any.
fn token_event(action: &str) -> Option<&'static str> {
    match action {
        "token.create" => Some("token.created"),
        "token.rotate" => Some("token.rotated"),
        "token.revoke" => Some("token.revoked"),
        _ => None,
    }
}
