//! Turning a presented credential into a [`Principal`].

use super::{AuditExt, Caller, Gantry};
use crate::error::{AuthFailure, CoreError, CoreResult};
use crate::metrics::Outcome;
use crate::model::{ActorRef, AuditRecord, TokenRecord};
use crate::password;
use crate::policy::Principal;
use crate::token::{PlainToken, PresentedToken};
use gantry_api::{TokenKind, TokenStatus};

impl Gantry {
    /// Verifies a bearer token and returns who it acts as. Every refusal is audited with the
    /// reason and, for well-formed tokens, the public prefix — never the presented value.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate_bearer(&self, raw: &str, ip: Option<&str>) -> CoreResult<Principal> {
        let token = match PresentedToken::parse(raw) {
            Ok(t) => t,
            Err(e) => {
                return Err(self
                    .auth_failed(AuthFailure::Malformed(e.to_string()), None, None, ip)
                    .await)
            }
        };
        let now = self.now();
        let hash = token.hash();
        let found = match self.store.peek_token_by_hash(&hash, now) {
            Some(found) => found,
            None => self.store.find_token_by_hash(&hash, now).await?,
        };
        let Some(found) = found else {
            let prefix = token.display_prefix().to_owned();
            return Err(self
                .auth_failed(AuthFailure::Unknown, Some(prefix), None, ip)
                .await);
        };
        let record = found.token;
        match record.status(now) {
            TokenStatus::Active => {}
            TokenStatus::Revoked => {
                return Err(self
                    .auth_failed(
                        AuthFailure::Revoked {
                            token_id: record.id.to_string(),
                        },
                        None,
                        Some(&record),
                        ip,
                    )
                    .await)
            }
            TokenStatus::Expired => {
                let at = record
                    .expires_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default();
                return Err(self
                    .auth_failed(
                        AuthFailure::Expired {
                            at,
                            token_id: record.id.to_string(),
                        },
                        None,
                        Some(&record),
                        ip,
                    )
                    .await);
            }
        }
        let principal = match record.kind {
            TokenKind::Personal => match found.user {
                Some(user) if !user.disabled => Principal::User {
                    user,
                    token: Some(record),
                },
                _ => {
                    return Err(self
                        .auth_failed(AuthFailure::UserDisabled, None, Some(&record), ip)
                        .await)
                }
            },
            TokenKind::Org => match (record.org_id.as_deref(), record.role) {
                (Some(org_id), Some(role)) => Principal::Org {
                    org_id: org_id.into(),
                    token: record,
                    role,
                },
                _ => return Err(CoreError::internal("org token without org or role")),
            },
            TokenKind::Deploy => match (record.org_id.as_deref(), record.app_id.as_deref()) {
                (Some(org_id), Some(app_id)) => Principal::Deploy {
                    org_id: org_id.into(),
                    app_id: app_id.into(),
                    token: record,
                },
                _ => return Err(CoreError::internal("deploy token without app")),
            },
        };
        if let Some(t) = principal.token() {
            if t.noted.news(now, ip) {
                self.usage.record(&t.id, now, ip);
            }
        }
        self.metrics.verification(Outcome::ok);
        Ok(principal)
    }

    /// Re-reads the caller's token (if any): still neither revoked nor expired, its user
    /// still enabled. For operations that run long after authentication (uploads).
    pub async fn still_valid(&self, caller: &Caller) -> CoreResult<()> {
        let Some(t) = caller.principal.token() else {
            return Ok(());
        };
        let now = self.now();
        let current = self.store.get_token(&t.id).await?;
        match current.as_ref().map(|c| c.status(now)) {
            Some(TokenStatus::Active) => {}
            Some(TokenStatus::Expired) => {
                let at = current
                    .and_then(|c| c.expires_at)
                    .map(|e| e.to_rfc3339())
                    .unwrap_or_default();
                return Err(CoreError::Unauthenticated(AuthFailure::Expired {
                    at,
                    token_id: t.id.to_string(),
                }));
            }
            _ => {
                return Err(CoreError::Unauthenticated(AuthFailure::Revoked {
                    token_id: t.id.to_string(),
                }))
            }
        }
        if let Some(u) = caller.principal.user() {
            if self.store.get_user(&u.id).await?.is_none_or(|u| u.disabled) {
                return Err(CoreError::Unauthenticated(AuthFailure::UserDisabled));
            }
        }
        Ok(())
    }

    /// Records a failed authentication and returns the error to answer with.
    pub async fn auth_failed(
        &self,
        failure: AuthFailure,
        prefix: Option<String>,
        token: Option<&TokenRecord>,
        ip: Option<&str>,
    ) -> CoreError {
        let (reason, outcome) = match &failure {
            AuthFailure::Missing => ("missing", Outcome::missing),
            AuthFailure::BadScheme => ("bad_scheme", Outcome::malformed),
            AuthFailure::Malformed(_) => ("malformed", Outcome::malformed),
            AuthFailure::Unknown => ("unknown", Outcome::unknown),
            AuthFailure::Expired { .. } => ("expired", Outcome::expired),
            AuthFailure::Revoked { .. } => ("revoked", Outcome::revoked),
            AuthFailure::UserDisabled => ("user_disabled", Outcome::user_disabled),
        };
        self.metrics.verification(outcome);
        let mut detail = serde_json::json!({ "reason": reason });
        let prefix = prefix.or_else(|| token.map(|t| t.prefix.clone()));
        // Guesses — unknown or malformed tokens — count against the client's IP and the
        // prefix tried. Expired and revoked tokens are real ones whose holder needs to rotate,
        // not guesses, and a valid token is never counted, so it is never slowed.
        let mut limited = None;
        if matches!(
            failure,
            AuthFailure::Unknown | AuthFailure::Malformed(_) | AuthFailure::BadScheme
        ) {
            let now = self.now();
            let by_ip = ip.and_then(|ip| self.limits.auth_ip.fail(ip, now).map(|l| (l, "auth_ip")));
            // A client already limited by its IP does not get to fill the prefix map too.
            limited = by_ip.or_else(|| {
                prefix.as_deref().and_then(|p| {
                    self.limits
                        .auth_prefix
                        .fail(p, now)
                        .map(|l| (l, "auth_prefix"))
                })
            });
        }
        if let Some(((retry_after, crossed), scope)) = limited {
            self.metrics.rate_limited(scope);
            // One audit record when the limit is crossed, not one per refused attempt: a flood
            // of guesses must not become a flood of writes.
            if !crossed {
                return CoreError::RateLimited { retry_after };
            }
            detail["rate_limited"] = scope.into();
        }
        if let Some(p) = prefix {
            detail["prefix"] = p.into();
        }
        let mut record = AuditRecord {
            ip: ip.map(str::to_owned),
            outcome: "failure".into(),
            detail,
            ..AuditRecord::new(self.now(), ActorRef::Anonymous, "auth.failed")
        };
        if let Some(t) = token {
            record = record.target("token", &t.id).token_scope(t);
        }
        if let Err(e) = self.store.append_audit(&record).await {
            tracing::warn!(error = %e, "could not audit a failed authentication");
        }
        match limited {
            Some(((retry_after, _), _)) => CoreError::RateLimited { retry_after },
            None => CoreError::Unauthenticated(failure),
        }
    }

    /// `gantry login`: checks email and password and issues a personal token.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        login: &gantry_api::LoginRequest,
        ip: Option<&str>,
    ) -> CoreResult<(TokenRecord, PlainToken)> {
        let token_name = login
            .token_name
            .as_deref()
            .map(|n| crate::validate::name("token_name", n))
            .transpose()?;
        let user = self
            .password_login(&login.email, &login.password, ip)
            .await?;
        let caller = Caller {
            principal: Principal::User { user, token: None },
            ip: ip.map(Into::into),
        };
        let req = gantry_api::CreateTokenRequest {
            name: token_name.unwrap_or_else(|| "gantry login".to_owned()),
            expires_in: login.expires_in.clone(),
            never_expires: login.never_expires,
            ..Default::default()
        };
        self.create_personal_token(&caller, &req).await
    }

    /// Checks an email and password under the login limits: the account when both match and
    /// it is enabled, 429 while the client or the email is blocked, 401 otherwise (audited).
    /// `gantry login` and the dashboard's sign-in both come through here.
    pub(crate) async fn password_login(
        &self,
        email: &str,
        password_attempt: &str,
        ip: Option<&str>,
    ) -> CoreResult<crate::model::UserRecord> {
        let key = email.trim().to_lowercase();
        let now = self.now();
        let blocked = ip
            .and_then(|ip| self.limits.login_ip.attempt(ip, now))
            .or_else(|| self.limits.login_email.attempt(&key, now));
        if let Some(retry_after) = blocked {
            self.metrics.rate_limited("login");
            return Err(CoreError::RateLimited { retry_after });
        }
        match self.verify_credentials(email, password_attempt).await? {
            Some(u) => {
                if let Some(ip) = ip {
                    self.limits.login_ip.forgive(ip);
                }
                self.limits.login_email.forgive(&key);
                Ok(u)
            }
            None => {
                let record = AuditRecord {
                    ip: ip.map(str::to_owned),
                    outcome: "failure".into(),
                    ..AuditRecord::new(self.now(), ActorRef::Anonymous, "auth.login_failed")
                }
                .detail("email", email.chars().take(254).collect::<String>());
                if let Err(e) = self.store.append_audit(&record).await {
                    tracing::warn!(error = %e, "could not audit a failed login");
                }
                Err(CoreError::Unauthenticated(AuthFailure::Unknown))
            }
        }
    }

    /// The user with this email and password, if both match and the user is enabled. Spends
    /// the same time whether or not the email exists.
    pub async fn verify_credentials(
        &self,
        email: &str,
        password_attempt: &str,
    ) -> CoreResult<Option<crate::model::UserRecord>> {
        let email = email.trim().to_lowercase();
        let Some(user) = self.store.get_user_by_email(&email).await? else {
            let attempt = password_attempt.to_owned();
            let _ =
                tokio::task::spawn_blocking(move || password::burn_verification(&attempt)).await;
            return Ok(None);
        };
        let attempt = password_attempt.to_owned();
        let phc = user.password_hash.clone();
        let ok = tokio::task::spawn_blocking(move || password::verify_password(&attempt, &phc))
            .await
            .unwrap_or(false);
        Ok((ok && !user.disabled).then_some(user))
    }
}
