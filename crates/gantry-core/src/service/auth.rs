//! Turning a presented credential into a [`Principal`].

use super::{AuditExt, Caller, Gantry};
use crate::error::{AuthFailure, CoreError, CoreResult};
use crate::failures::{FailureKey, Write};
use crate::metrics::Outcome;
use crate::model::{ActorRef, AuditRecord, TokenRecord, TokenScope};
use crate::password;
use crate::policy::Principal;
use crate::token::{PlainToken, PresentedToken};
use gantry_api::TokenStatus;

impl Gantry {
    /// Authenticates a request from what its `Authorization` header held: the bearer token, or
    /// why there was none usable. All accounting of the outcome (metrics, failure limits,
    /// audit) happens here; a missing credential is counted but is nobody's failure.
    pub async fn authenticate(
        &self,
        presented: Result<&str, AuthFailure>,
        ip: Option<&str>,
    ) -> CoreResult<Principal> {
        match presented {
            Ok(raw) => self.authenticate_bearer(raw, ip).await,
            Err(AuthFailure::Missing) => {
                self.metrics.verification(Outcome::missing);
                Err(CoreError::Unauthenticated(AuthFailure::Missing))
            }
            Err(failure) => Err(self.auth_failed(failure, None, None, ip).await),
        }
    }

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
            self.note_reuse(&hash, ip).await;
            let prefix = token.display_prefix().to_owned();
            return Err(self
                .auth_failed(AuthFailure::Unknown, Some(prefix), None, ip)
                .await);
        };
        let via_previous = found.via_previous;
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
        if !crate::policy::address_allowed(&record, ip) {
            return Err(self
                .auth_failed(
                    AuthFailure::AddressNotAllowed {
                        token_id: record.id.to_string(),
                    },
                    None,
                    Some(&record),
                    ip,
                )
                .await);
        }
        if record.prev_until_first_use && !via_previous && record.prev_hash.is_some() {
            self.end_grace_at_first_use(&record, ip).await;
        }
        let principal = match &record.scope {
            TokenScope::Personal { .. } => match found.user {
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
            TokenScope::Org { org_id, role, .. } => Principal::Org {
                org_id: org_id.clone(),
                role: *role,
                token: record,
            },
            TokenScope::Deploy { org_id, app_id, .. } => Principal::Deploy {
                org_id: org_id.clone(),
                app_id: app_id.clone(),
                token: record,
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
    pub(crate) async fn auth_failed(
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
            AuthFailure::AddressNotAllowed { .. } => {
                ("address_not_allowed", Outcome::address_not_allowed)
            }
        };
        self.metrics.verification(outcome);
        let prefix = prefix.or_else(|| token.map(|t| t.prefix.clone()));
        // Every failure counts against the client's address and the prefix tried: guesses
        // (unknown or malformed values, a value rotated away) and real values that no longer
        // work (revoked, expired, a disabled user's). A stolen revoked value is replayed as
        // persistently as a guess. A valid token is never counted, so it is never slowed;
        // missing credentials are not failures of anything.
        let now = self.now();
        let mut limited = None;
        if !matches!(failure, AuthFailure::Missing) {
            let by_ip = ip.and_then(|ip| {
                let key = crate::ratelimit::client_key(ip);
                self.limits.auth_ip.fail(&key, now).map(|l| (l, "auth_ip"))
            });
            // A client already limited by its address does not get to fill the prefix map too.
            limited = by_ip.or_else(|| {
                prefix.as_deref().and_then(|p| {
                    self.limits
                        .auth_prefix
                        .fail(p, now)
                        .map(|l| (l, "auth_prefix"))
                })
            });
        }
        let write = match limited {
            Some(((_, true), _)) => Write::Always,
            Some(((_, false), _)) => Write::Never,
            None => Write::IfFirst,
        };
        if let Some((_, scope)) = limited {
            self.metrics.rate_limited(scope);
        }
        // Aggregated: one row for the first failure of this prefix, reason and address in the
        // window (and one when a limit is crossed), one summary row with the count after it.
        let key = FailureKey {
            prefix: prefix.clone(),
            reason,
            ip: ip.map(str::to_owned),
        };
        let row = self.failures.note(key, now, write, || {
            let mut detail = serde_json::json!({ "reason": reason, "count": 1 });
            if let Some(((_, true), scope)) = limited {
                detail["rate_limited"] = scope.into();
            }
            if let Some(p) = &prefix {
                detail["prefix"] = p.clone().into();
            }
            let mut record = AuditRecord {
                ip: ip.map(str::to_owned),
                outcome: "failure".into(),
                detail,
                ..AuditRecord::new(now, ActorRef::Anonymous, "auth.failed")
            };
            if let Some(t) = token {
                record = record.target("token", &t.id).token_scope(t);
            }
            record
        });
        if let Some(record) = row {
            if let Err(e) = self.store.append_audit(&record).await {
                tracing::warn!(error = %e, "could not audit a failed authentication");
            }
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
        match self
            .limited_password_check(email, password_attempt, ip)
            .await?
        {
            Some(u) => Ok(u),
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

    /// Checks a password under the login limits (logins, the dashboard's sign-in and
    /// `PUT /v1/user/password`): the account when it matches and is enabled, None when not,
    /// 429 while blocked. Each attempt is counted *before* the check, so concurrent guesses
    /// cannot slip past, and given back when it succeeds.
    ///
    /// Two limits: per client address (IPv6 by /64) and per email. An email past its limit
    /// still lets an address with no recent failure try (its one attempt in the window):
    /// guessing one account from many addresses is slowed to one try per address per window,
    /// and its owner, signing in from where they always do, is not locked out by the attack.
    pub(crate) async fn limited_password_check(
        &self,
        email: &str,
        password_attempt: &str,
        ip: Option<&str>,
    ) -> CoreResult<Option<crate::model::UserRecord>> {
        let key = email.trim().to_lowercase();
        let ip_key = ip.map(crate::ratelimit::client_key);
        let now = self.now();
        let limited = |retry_after| {
            self.metrics.rate_limited("login");
            CoreError::RateLimited { retry_after }
        };
        let fresh_address = match &ip_key {
            Some(k) => self
                .limits
                .login_ip
                .first_attempt(k, now)
                .map_err(limited)?,
            None => false,
        };
        if let Some(retry_after) = self.limits.login_email.attempt(&key, now) {
            if !fresh_address {
                return Err(limited(retry_after));
            }
        }
        let user = self.verify_credentials(email, password_attempt).await?;
        if user.is_some() {
            if let Some(k) = &ip_key {
                self.limits.login_ip.forgive(k);
            }
            self.limits.login_email.forgive(&key);
        }
        Ok(user)
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
