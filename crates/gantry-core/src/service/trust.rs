//! Keyless CI (DESIGN §8): apps' trust policies, and the RFC 8693 exchange of a CI job's OIDC
//! ID token for a short-lived deploy token. The JWT rules live in [`crate::oidc`], the limits
//! of a policy in [`crate::validate::trust_policy`]; the issuer's keys come from the
//! [`IssuerKeys`] the server plugs in.

use super::{AuditExt, Caller, Gantry};
use crate::error::{CoreError, CoreResult};
use crate::ids::*;
use crate::model::{
    ActorRef, AppRecord, AuditRecord, Federation, TokenRecord, TokenScope, TrustPolicyRecord,
};
use crate::oidc::{self, printable, Refusal};
use crate::policy::Capability;
use crate::token::PlainToken;
use crate::validate;
use gantry_api::{CreateTrustPolicyRequest, TokenKind};
use jsonwebtoken::jwk::JwkSet;
use std::sync::Arc;

/// The RFC 8693 grant type.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Subject token types accepted: an OIDC ID token, or any JWT.
pub const SUBJECT_TOKEN_TYPES: &[&str] = &[
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:jwt",
];

/// Where an issuer's signing keys come from (the server: discovery, then `jwks_uri`, over
/// HTTPS with a timeout and a size cap, cached).
#[async_trait::async_trait]
pub trait IssuerKeys: Send + Sync {
    /// The issuer's key set. `refresh`: a token named a key the cached set lacks; refetch,
    /// unless it was fetched less than a minute ago.
    async fn keys(&self, issuer: &str, refresh: bool) -> Result<Arc<JwkSet>, String>;
}

/// A token-exchange request (`POST /v1/oauth/token`), as the form gave it.
#[derive(Clone, Default)]
pub struct ExchangeRequest {
    pub grant_type: Option<String>,
    pub subject_token: Option<String>,
    pub subject_token_type: Option<String>,
    /// The app, by slug or id.
    pub resource: Option<String>,
}

impl std::fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("grant_type", &self.grant_type)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

/// Why an exchange was refused, as the caller learns it (RFC 6749 §5.2): which rule failed
/// is in the audit log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeRefused {
    /// `invalid_request`: a required parameter is missing or malformed.
    InvalidRequest(String),
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_grant`: the ID token is not accepted — for any reason at all.
    InvalidGrant,
    /// Too many exchanges from this address.
    RateLimited(std::time::Duration),
}

/// An issued token: its record and its value (shown once).
pub struct Exchanged {
    pub token: TokenRecord,
    pub plain: PlainToken,
}

impl Gantry {
    fn default_audience(&self) -> &str {
        &self.settings.public_url
    }

    /// `POST /v1/apps/{app}/trust-policies`: by whoever may manage the app's deploy tokens.
    pub async fn create_trust_policy(
        &self,
        caller: &Caller,
        app_slug: &str,
        req: &CreateTrustPolicyRequest,
    ) -> CoreResult<TrustPolicyRecord> {
        let app = self
            .app_ref_for(caller, app_slug, Capability::ManageTokens)
            .await?;
        let input = validate::trust_policy(
            req,
            self.default_audience(),
            &self.settings.insecure_issuers,
            &self.settings.allow_networks,
        )?;
        let record = TrustPolicyRecord {
            id: TrustPolicyId::generate(),
            org_id: app.org_id.clone(),
            org_slug: app.org_slug.clone(),
            app_id: app.id.clone(),
            app_slug: app.slug.clone(),
            name: input.name,
            rules: input.rules,
            waived_immutable_ids: input.waived_immutable_ids,
            capabilities: input.capabilities,
            token_lifetime: input.token_lifetime,
            created_by: caller.actor(),
            created_at: self.now(),
        };
        let audit = self
            .audit(caller, "trust_policy.create")
            .app(&app)
            .target("trust_policy", &record.id)
            .detail("name", record.name.clone())
            .detail("issuer", record.rules.issuer.clone())
            .detail("preset", record.rules.preset.map(|p| p.as_str()))
            .detail(
                "conditions",
                serde_json::to_value(&record.rules.conditions).unwrap_or_default(),
            )
            .detail("waived_immutable_ids", record.waived_immutable_ids.clone())
            .detail("capabilities", record.capabilities.names());
        self.store.insert_trust_policy(&record, &audit).await?;
        Ok(record)
    }

    /// `GET /v1/apps/{app}/trust-policies`.
    pub async fn list_trust_policies(
        &self,
        caller: &Caller,
        app_slug: &str,
    ) -> CoreResult<Vec<TrustPolicyRecord>> {
        let app = self
            .app_ref_for(caller, app_slug, Capability::ManageTokens)
            .await?;
        self.store.list_trust_policies(&app.id).await
    }

    /// `GET /v1/apps/{app}/trust-policies/{id}`.
    pub async fn get_trust_policy(
        &self,
        caller: &Caller,
        app_slug: &str,
        id: &str,
    ) -> CoreResult<TrustPolicyRecord> {
        let app = self
            .app_ref_for(caller, app_slug, Capability::ManageTokens)
            .await?;
        self.store
            .get_trust_policy(&app.id, &TrustPolicyId::from(id))
            .await?
            .ok_or_else(|| policy_not_found(id))
    }

    /// `DELETE /v1/apps/{app}/trust-policies/{id}`: the policy, and every live token it issued.
    pub async fn delete_trust_policy(
        &self,
        caller: &Caller,
        app_slug: &str,
        id: &str,
    ) -> CoreResult<()> {
        let app = self
            .app_ref_for(caller, app_slug, Capability::ManageTokens)
            .await?;
        let audit = self
            .audit(caller, "trust_policy.delete")
            .app(&app)
            .target("trust_policy", id);
        let written = self
            .store
            .delete_trust_policy(&app.id, &TrustPolicyId::from(id), self.now(), &audit)
            .await?;
        if !written.value {
            return Err(policy_not_found(id));
        }
        Ok(())
    }

    /// `POST /v1/apps/{app}/trust-policies/{id}/test`: claim by claim, whether `jwt` would be
    /// exchanged under the policy (its signature too, when the issuer's keys can be had; its
    /// `jti` is not spent).
    pub async fn test_trust_policy(
        &self,
        caller: &Caller,
        app_slug: &str,
        id: &str,
        jwt: &str,
        keys: &dyn IssuerKeys,
    ) -> CoreResult<Vec<oidc::ConditionCheck>> {
        let policy = self.get_trust_policy(caller, app_slug, id).await?;
        let line =
            |claim: &str, expected: &str, actual: Option<String>, ok: bool| oidc::ConditionCheck {
                claim: claim.to_owned(),
                expected: expected.to_owned(),
                actual,
                ok,
            };
        let mut checks = Vec::new();
        let peeked = match oidc::peek(jwt.trim()) {
            Ok(p) => p,
            Err(r) => {
                checks.push(line(
                    "header",
                    "a JWT signed RS256 or ES256",
                    Some(r.to_string()),
                    false,
                ));
                return Ok(checks);
            }
        };
        let claims = match self.signed_claims(jwt.trim(), &peeked, keys).await {
            Ok(c) => {
                checks.push(line(
                    "signature",
                    "by a key of the issuer",
                    Some("verified".into()),
                    true,
                ));
                c
            }
            Err(r) => {
                checks.push(line(
                    "signature",
                    "by a key of the issuer",
                    Some(r.to_string()),
                    false,
                ));
                // The claims, unverified, so the rest of the policy can still be tried.
                oidc::unverified_claims(jwt.trim()).unwrap_or_default()
            }
        };
        match oidc::check_claims(&claims, &policy.rules, self.now()) {
            Ok(_) => checks.push(line(
                "iss, aud, exp, nbf, iat, jti",
                "as the exchange requires",
                Some("ok".into()),
                true,
            )),
            Err(r) => checks.push(line(
                "iss, aud, exp, nbf, iat, jti",
                "as the exchange requires",
                Some(r.to_string()),
                false,
            )),
        }
        checks.extend(oidc::check_conditions(&claims, &policy.rules));
        Ok(checks)
    }

    async fn signed_claims(
        &self,
        jwt: &str,
        peeked: &oidc::Unverified,
        keys: &dyn IssuerKeys,
    ) -> Result<serde_json::Map<String, serde_json::Value>, Refusal> {
        let fetch_failed = Refusal::IssuerKeys;
        let set = keys
            .keys(&peeked.issuer, false)
            .await
            .map_err(fetch_failed)?;
        let key = match oidc::find_key(&set, peeked) {
            Some(k) => k.clone(),
            None => {
                // Perhaps the issuer rotated its keys: look again (at most once a minute).
                let set = keys
                    .keys(&peeked.issuer, true)
                    .await
                    .map_err(fetch_failed)?;
                oidc::find_key(&set, peeked)
                    .cloned()
                    .ok_or_else(|| Refusal::UnknownKey(peeked.kid.clone()))?
            }
        };
        oidc::verify_signature(jwt, peeked, &key)
    }

    /// `POST /v1/oauth/token`: exchanges a CI job's ID token for a deploy token of the app
    /// named by `resource`, under the first of its trust policies that accepts the token.
    /// Every refusal of the token itself is [`ExchangeRefused::InvalidGrant`] to the caller
    /// and audited with its reason.
    pub async fn exchange(
        &self,
        req: &ExchangeRequest,
        ip: Option<&str>,
        keys: &dyn IssuerKeys,
    ) -> CoreResult<Result<Exchanged, ExchangeRefused>> {
        let now = self.now();
        if let Some(ip) = ip {
            let key = crate::ratelimit::client_key(ip);
            if let Some((wait, _)) = self.limits.exchange_ip.fail(&key, now) {
                return Ok(Err(ExchangeRefused::RateLimited(wait)));
            }
        }
        match req.grant_type.as_deref() {
            Some(TOKEN_EXCHANGE_GRANT) => {}
            Some(_) => return Ok(Err(ExchangeRefused::UnsupportedGrantType)),
            None => return Ok(Err(invalid_request("grant_type is required"))),
        }
        let Some(jwt) = req
            .subject_token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Ok(Err(invalid_request("subject_token is required")));
        };
        match req.subject_token_type.as_deref() {
            Some(t) if SUBJECT_TOKEN_TYPES.contains(&t) => {}
            _ => {
                return Ok(Err(invalid_request(
                    "subject_token_type must be urn:ietf:params:oauth:token-type:id_token or …:jwt",
                )))
            }
        }
        let Some(resource) = req
            .resource
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        else {
            return Ok(Err(invalid_request("resource (the app) is required")));
        };
        let refuse = |reason: &str, detail: String, app: Option<&AppRecord>| {
            let mut audit = AuditRecord {
                ip: ip.map(str::to_owned),
                outcome: "failure".into(),
                ..AuditRecord::new(now, ActorRef::Anonymous, "token.exchange")
            }
            .detail("reason", reason.to_owned())
            .detail("why", detail)
            .detail("resource", super::printable(resource));
            if let Some(app) = app {
                audit = audit.app(app);
            }
            audit
        };
        let app = if resource.starts_with("app_") {
            self.store.get_app(&AppId::from(resource)).await?
        } else {
            self.store.get_app_by_slug(&Slug::named(resource)).await?
        };
        let Some(app) = app else {
            self.append(refuse("no_app", "no such app".into(), None))
                .await;
            return Ok(Err(ExchangeRefused::InvalidGrant));
        };
        let peeked = match oidc::peek(jwt) {
            Ok(p) => p,
            Err(r) => {
                self.append(refuse(r.reason(), r.to_string(), Some(&app)))
                    .await;
                return Ok(Err(ExchangeRefused::InvalidGrant));
            }
        };
        let policies: Vec<TrustPolicyRecord> = self
            .store
            .list_trust_policies(&app.id)
            .await?
            .into_iter()
            .filter(|p| p.rules.issuer == peeked.issuer)
            .collect();
        if policies.is_empty() {
            // No key is fetched for an issuer no policy of this app trusts.
            let why = format!(
                "no trust policy of the app trusts the issuer '{}'",
                printable(&peeked.issuer)
            );
            self.append(refuse("no_policy", why, Some(&app))).await;
            return Ok(Err(ExchangeRefused::InvalidGrant));
        }
        let claims = match self.signed_claims(jwt, &peeked, keys).await {
            Ok(c) => c,
            Err(r) => {
                self.append(refuse(r.reason(), r.to_string(), Some(&app)))
                    .await;
                return Ok(Err(ExchangeRefused::InvalidGrant));
            }
        };
        // The first policy that accepts the token issues it; the refusal of the last one tried
        // is what the audit log says otherwise.
        let mut last = Refusal::Condition {
            claim: "-".into(),
            why: "no policy matched".into(),
        };
        let mut chosen = None;
        for policy in &policies {
            let accepted = match oidc::check_claims(&claims, &policy.rules, now) {
                Ok(a) => a,
                Err(r) => {
                    last = r;
                    continue;
                }
            };
            match oidc::first_failure(&oidc::check_conditions(&claims, &policy.rules)) {
                None => {
                    chosen = Some((policy, accepted));
                    break;
                }
                Some(r) => last = r,
            }
        }
        let Some((policy, accepted)) = chosen else {
            let mut audit = refuse(last.reason(), last.to_string(), Some(&app));
            audit = audit.detail(
                "sub",
                claims.get("sub").and_then(|s| s.as_str()).map(printable),
            );
            self.append(audit).await;
            return Ok(Err(ExchangeRefused::InvalidGrant));
        };
        let plain = PlainToken::generate(TokenKind::Deploy);
        let name = format!(
            "{} ({})",
            policy.name,
            accepted
                .run
                .get("run_id")
                .or_else(|| accepted.run.get("job_id"))
                .or_else(|| accepted.run.get("pipeline_id"))
                .cloned()
                .unwrap_or_else(|| printable(&accepted.subject))
        );
        let name: String = name.chars().take(validate::MAX_NAME).collect();
        let actor = ActorRef::TrustPolicy {
            id: policy.id.to_string(),
            name: policy.name.clone(),
        };
        // The org policy bounds these tokens too: its shorter maximum lifetime, and its
        // networks as theirs.
        let org = self.org_policy_of(Some(&app.org_id)).await?;
        let lifetime = match org.max_lifetime {
            Some(max) if max < policy.token_lifetime => max,
            _ => policy.token_lifetime,
        };
        let record = TokenRecord {
            expires_at: Some(now.plus(lifetime)),
            capabilities: policy.capabilities,
            allowed_ips: org.allowed_ips.clone(),
            federated: Some(Box::new(Federation {
                policy_id: policy.id.clone(),
                issuer: accepted.issuer.clone(),
                subject: accepted.subject.clone(),
                claims: accepted.run.clone(),
            })),
            ..TokenRecord::new(
                TokenId::generate(),
                TokenScope::deploy(&app),
                name,
                &plain,
                actor.clone(),
                now,
            )
        };
        let audit = AuditRecord {
            ip: ip.map(str::to_owned),
            ..AuditRecord::new(now, actor, "token.exchange")
        }
        .token_scope(&record)
        .target("token", &record.id)
        .detail("kind", "deploy")
        .detail("prefix", record.prefix.clone())
        .detail("policy", policy.id.as_str())
        .detail("iss", accepted.issuer.clone())
        .detail("sub", accepted.subject.clone())
        .detail("jti", printable(&accepted.jti))
        .detail(
            "claims",
            serde_json::to_value(&accepted.run).unwrap_or_default(),
        )
        .detail("expires_at", record.expires_at.map(|t| t.to_rfc3339()))
        .event("token.created", crate::events::token_data(&record));
        let jti_until = accepted.expires_at;
        if !self
            .store
            .insert_exchanged_token(&record, &accepted.jti, jti_until, &audit)
            .await?
        {
            let why = format!(
                "the ID token's jti '{}' was exchanged before",
                printable(&accepted.jti)
            );
            self.append(refuse("replay", why, Some(&app))).await;
            return Ok(Err(ExchangeRefused::InvalidGrant));
        }
        Ok(Ok(Exchanged {
            token: record,
            plain,
        }))
    }

    /// Appends a refusal to the audit log; one that cannot be written is logged.
    async fn append(&self, audit: AuditRecord) {
        if let Err(e) = self.store.append_audit(&audit).await {
            tracing::warn!(error = %e, "could not audit a refused token exchange");
        }
    }
}

fn invalid_request(why: &str) -> ExchangeRefused {
    ExchangeRefused::InvalidRequest(why.to_owned())
}

fn policy_not_found(id: &str) -> CoreError {
    CoreError::NotFound(format!("trust policy '{}'", super::printable(id)))
}
