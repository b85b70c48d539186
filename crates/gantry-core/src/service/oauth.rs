//! gantry as a token authority for other services: forward-auth checks (nginx
//! `auth_request`, Traefik ForwardAuth, Envoy ext_authz), RFC 7662 introspection and
//! RFC 7009 revocation.

use super::tokens::Intent;
use super::{AuditExt, Caller, Gantry};
use crate::error::{CoreError, CoreResult};
use crate::model::{ActorRef, AppRecord, AuditRecord, RevokeReason, TokenRecord, UserRecord};
use crate::policy::Capability;
use crate::token::PlainToken;
use gantry_api::{TokenKind, TokenStatus};

/// What a forward-auth check asks for on an app.
pub fn check_capability(s: &str) -> CoreResult<Capability> {
    match s {
        "read" => Ok(Capability::ReadApp),
        "deploy" => Ok(Capability::Deploy),
        "env" => Ok(Capability::WriteEnv),
        "config" => Ok(Capability::WriteConfig),
        _ => Err(CoreError::invalid(
            "capability",
            "must be one of read, deploy, env, config",
        )),
    }
}

/// An active token, as introspection describes it.
#[derive(Debug, Clone)]
pub struct Introspection {
    pub token: TokenRecord,
    pub user: Option<UserRecord>,
}

impl Gantry {
    /// `GET /v1/auth/check`: the caller is authenticated already; with an app, it must also
    /// hold `capability` (default `read`) on it. Unknown or invisible apps are refused like
    /// missing rights (a proxy can only pass 2xx, 401 and 403 on).
    pub async fn forward_check(
        &self,
        caller: &Caller,
        app: Option<&str>,
        capability: Option<&str>,
    ) -> CoreResult<Option<std::sync::Arc<AppRecord>>> {
        let cap = capability.map(check_capability).transpose()?;
        let Some(slug) = app else {
            if cap.is_some() {
                return Err(CoreError::invalid(
                    "app",
                    "is required when capability is given",
                ));
            }
            return Ok(None);
        };
        match self
            .app_ref_for(caller, slug, cap.unwrap_or(Capability::ReadApp))
            .await
        {
            Ok(a) => Ok(Some(a)),
            Err(CoreError::NotFound(_)) => Err(CoreError::Forbidden(format!(
                "this credential may not use app '{}'",
                super::printable(slug)
            ))),
            Err(e) => Err(e),
        }
    }

    /// RFC 7662: describes `raw` if it is active and the caller may see it; `None` means the
    /// answer is exactly `{"active": false}` (unknown, malformed, expired, revoked, a disabled
    /// user's, or simply not the caller's business). Deploy tokens may not introspect.
    ///
    /// Introspection cannot see the client that presented `raw`: a token with `allowed_ips` is
    /// active only when the resource server names that client's address (`client_ip`, a gantry
    /// extension) and it lies inside them (DESIGN §10).
    pub async fn introspect(
        &self,
        caller: &Caller,
        raw: &str,
        client_ip: Option<&str>,
    ) -> CoreResult<Option<Introspection>> {
        crate::policy::manages_tokens_at_all(&caller.principal)
            .map_err(|_| CoreError::Forbidden("deploy tokens cannot introspect tokens".into()))?;
        let Ok(plain) = PlainToken::parse(raw.trim()) else {
            return Ok(None);
        };
        let now = self.now();
        let Some(found) = self.store.find_token_by_hash(&plain.hash(), now).await? else {
            return Ok(None);
        };
        if found.token.status(now) != TokenStatus::Active {
            return Ok(None);
        }
        if !crate::policy::address_allowed(&found.token, client_ip) {
            self.metrics
                .verification(crate::metrics::Outcome::address_not_allowed);
            return Ok(None);
        }
        if found.token.kind() == TokenKind::Personal
            && found.user.as_ref().is_none_or(|u| u.disabled)
        {
            return Ok(None);
        }
        match self
            .may_act_on_token(caller, (*found.token).clone(), Intent::View)
            .await
        {
            Ok(token) => Ok(Some(Introspection {
                token,
                user: found.user,
            })),
            Err(CoreError::NotFound(_) | CoreError::Forbidden(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// RFC 7009: whoever presents a live token may revoke it — also how a leaked token is
    /// reported. Unknown, malformed and already revoked tokens are a success with nothing to
    /// do. Presenting a previous value still in its rotation grace period revokes the token.
    pub async fn revoke_presented(&self, raw: &str, ip: Option<&str>) -> CoreResult<()> {
        let Ok(plain) = PlainToken::parse(raw.trim()) else {
            return Ok(());
        };
        let now = self.now();
        let Some(found) = self.store.find_token_by_hash(&plain.hash(), now).await? else {
            return Ok(());
        };
        let t = &found.token;
        if t.revoked_at.is_some() {
            return Ok(());
        }
        let actor = ActorRef::Token {
            id: t.id.to_string(),
            name: t.name.clone(),
        };
        let mut audit = AuditRecord {
            ip: ip.map(str::to_owned),
            ..AuditRecord::new(now, actor, "token.revoke")
        }
        .token_scope(t)
        .target("token", &t.id)
        .detail("via", "oauth_revoke")
        .detail("kind", t.kind().as_str())
        .detail("prefix", t.prefix.clone())
        .event("token.revoked", crate::events::token_data(t));
        if found.via_previous {
            audit = audit.detail("presented", "previous_value");
        }
        self.store
            .revoke_token(&t.id, now, RevokeReason::OAuthRevoke, &audit)
            .await?;
        Ok(())
    }
}
