//! Leaked tokens (DESIGN §9): whoever finds a gantry token may have it killed, without any
//! credential of their own, and its owners are told.

use super::{AuditExt, Gantry};
use crate::error::{CoreError, CoreResult};
use crate::model::{ActorRef, AuditRecord, LeakNote, RevokeReason, TokenRecord};
use crate::token::PlainToken;
use crate::validate;
use gantry_api::{SecretScanningLabel, SecretScanningMatch, TokenStatus};
use std::collections::HashSet;

/// One `token.reused` per rotated-away value an hour, across nodes.
const REUSE_QUIET_MS: i64 = 3_600_000;

/// Where a leak report came from, as the audit log and the `token.leaked` event say.
#[derive(Debug, Clone, Copy)]
pub struct LeakSource<'a> {
    /// `credentials_revoke` (the public endpoint, `gantry scan --revoke`).
    pub via: &'static str,
    /// Where the token was found, when the reporter says (a URL).
    pub url: Option<&'a str>,
}

impl Gantry {
    /// `POST /v1/credentials/revoke`: revokes every live gantry token among `credentials`
    /// (reason `leak_report`), each committed on every node before this returns. Says nothing
    /// of which existed: the caller answers the same whatever the values were. Limited per
    /// client address (every report counts) and to [`validate::MAX_REPORTED_CREDENTIALS`]
    /// values. Returns how many it revoked, for the log only.
    pub async fn report_leaked(
        &self,
        credentials: &[String],
        ip: Option<&str>,
    ) -> CoreResult<usize> {
        let now = self.now();
        if let Some(ip) = ip {
            let key = crate::ratelimit::client_key(ip);
            if let Some((retry_after, _)) = self.limits.leak_report_ip.fail(&key, now) {
                self.metrics.rate_limited("leak_report");
                return Err(CoreError::RateLimited { retry_after });
            }
        }
        if credentials.len() > validate::MAX_REPORTED_CREDENTIALS {
            return Err(CoreError::invalid(
                "credentials",
                format!(
                    "carries at most {} values per request",
                    validate::MAX_REPORTED_CREDENTIALS
                ),
            ));
        }
        let source = LeakSource {
            via: "credentials_revoke",
            url: None,
        };
        let mut seen = HashSet::new();
        let mut revoked = 0;
        for raw in credentials {
            // Anything that is not a well-formed gantry token is nobody's: skipped unlooked-up.
            let Ok(plain) = PlainToken::parse(raw.trim()) else {
                continue;
            };
            let hash = plain.hash();
            if !seen.insert(hash) {
                continue;
            }
            let Some(found) = self.store.find_token_by_hash(&hash, now).await? else {
                continue;
            };
            if found.token.revoked_at.is_some() {
                continue;
            }
            if self
                .handle_leak(&found.token, found.via_previous, ip, source, true)
                .await?
            {
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// GitHub secret scanning (`POST /v1/secret-scanning/github`, the caller has checked
    /// GitHub's signature): labels each match, in order — `true_positive` for a value gantry
    /// issued (live, expired, revoked, or rotated away), `false_positive` for anything else.
    /// A live token among them is revoked (reason `leak_report`) unless
    /// `leaks.auto_revoke=false`, and `token.leaked` fires with the URL it was found at either
    /// way. A value reported twice is handled once.
    pub async fn report_github(
        &self,
        matches: &[SecretScanningMatch],
        ip: Option<&str>,
    ) -> CoreResult<Vec<SecretScanningLabel>> {
        if matches.len() > validate::MAX_REPORTED_CREDENTIALS {
            return Err(CoreError::invalid(
                "body",
                format!(
                    "carries at most {} matches per request",
                    validate::MAX_REPORTED_CREDENTIALS
                ),
            ));
        }
        let now = self.now();
        let mut seen = HashSet::new();
        let mut labels = Vec::with_capacity(matches.len());
        for m in matches {
            let ours = match PlainToken::parse(m.token.trim()) {
                Err(_) => false,
                Ok(plain) => {
                    let hash = plain.hash();
                    match self.store.find_token_by_hash(&hash, now).await? {
                        Some(found) => {
                            let live = found.token.status(now) == TokenStatus::Active;
                            if live && seen.insert(hash) {
                                let source = LeakSource {
                                    via: "github_secret_scanning",
                                    url: validate::leak_url(m.url.as_deref()),
                                };
                                self.handle_leak(
                                    &found.token,
                                    found.via_previous,
                                    ip,
                                    source,
                                    self.settings.auto_revoke_leaks,
                                )
                                .await?;
                            }
                            true
                        }
                        None => self.store.find_retired(&hash).await?.is_some(),
                    }
                }
            };
            labels.push(SecretScanningLabel {
                token_raw: m.token.clone(),
                token_type: m.token_type.clone(),
                label: if ours {
                    "true_positive"
                } else {
                    "false_positive"
                }
                .to_owned(),
            });
        }
        Ok(labels)
    }

    /// A token reported leaked: revoked (when `revoke`, reason `leak_report`, `token.revoked`
    /// firing), the report kept on the token, and `token.leaked` told to whoever listens —
    /// alert rules and, with SMTP set, by mail to the token's user or creator and the org's
    /// admins and owners. False when it was to be revoked and was already (by a racing
    /// report, say): nothing more is said.
    pub(crate) async fn handle_leak(
        &self,
        t: &TokenRecord,
        via_previous: bool,
        ip: Option<&str>,
        source: LeakSource<'_>,
        revoke: bool,
    ) -> CoreResult<bool> {
        let now = self.now();
        if revoke {
            let mut audit = AuditRecord {
                ip: ip.map(str::to_owned),
                ..AuditRecord::new(now, ActorRef::Anonymous, "token.revoke")
            }
            .token_scope(t)
            .target("token", &t.id)
            .detail("reason", "leak_report")
            .detail("via", source.via)
            .detail("kind", t.kind().as_str())
            .detail("prefix", t.prefix.clone());
            if let Some(url) = source.url {
                audit = audit.detail("url", url);
            }
            if via_previous {
                audit = audit.detail("presented", "previous_value");
            }
            audit.event = Some(crate::events::revoked_because(t, "leak_report"));
            if !self
                .store
                .revoke_token(&t.id, now, RevokeReason::LeakReport, &audit)
                .await?
                .value
            {
                return Ok(false);
            }
        }
        let mut data = crate::events::token_data(t);
        data["via"] = source.via.into();
        data["url"] = source.url.into();
        data["reported_from"] = ip.into();
        data["revoked"] = revoke.into();
        let mut leaked = AuditRecord {
            ip: ip.map(str::to_owned),
            ..AuditRecord::new(now, ActorRef::Anonymous, "token.leaked")
        }
        .token_scope(t)
        .target("token", &t.id)
        .detail("via", source.via)
        .detail("prefix", t.prefix.clone())
        .detail("revoked", revoke)
        .event("token.leaked", data);
        if let Some(url) = source.url {
            leaked = leaked.detail("url", url);
        }
        if self.settings.notify_owners {
            let owners = self.owners_of(t).await?;
            if let Some(event) = leaked.event.as_mut() {
                event.notify = owners;
            }
        }
        let note = LeakNote {
            at: now,
            via: source.via.to_owned(),
            url: source.url.map(str::to_owned),
        };
        // A revocation is committed already; a lost notice must not undo it or fail the
        // report (its audit row names the leak).
        if let Err(e) = self.store.note_leak(&t.id, &note, &leaked).await {
            if !revoke {
                return Err(e);
            }
            tracing::warn!(error = %e, token_id = %t.id, "could not record a leak notice");
        }
        Ok(true)
    }

    /// A value unknown as a current one: if a rotation replaced it and its grace period is
    /// over, someone holds an old copy (DESIGN §9). Fires `token.reused` (audited with the
    /// address and the time since the rotation; owners mailed when SMTP is set) at most once
    /// an hour per value across nodes, and with `tokens.revoke_on_reuse` revokes the token. The
    /// presentation itself is refused as unknown, as always. Never fails the request.
    pub(crate) async fn note_reuse(&self, hash: &crate::token::TokenHash, ip: Option<&str>) {
        let now = self.now();
        let Ok(Some(retired)) = self.store.find_retired(hash).await else {
            return;
        };
        if retired.usable_until > now {
            return;
        }
        let quiet_since = crate::time::Timestamp(now.0 - REUSE_QUIET_MS);
        {
            let Ok(mut seen) = self.reuse_seen.lock() else {
                return;
            };
            if seen.get(hash).is_some_and(|at| *at > quiet_since) {
                return;
            }
            if seen.len() >= 10_000 {
                seen.clear();
            }
            seen.insert(*hash, now);
        }
        let Ok(Some(token)) = self.store.get_token(&retired.token_id).await else {
            return;
        };
        let since = std::time::Duration::from_millis(
            u64::try_from(now.0 - retired.rotated_at.0).unwrap_or(0),
        );
        let mut data = crate::events::token_data(&token);
        data["address"] = ip.into();
        data["rotated_at"] = retired.rotated_at.to_rfc3339().into();
        data["since_rotation"] = crate::expiry::format_duration(since).into();
        let mut audit = AuditRecord {
            ip: ip.map(str::to_owned),
            outcome: "failure".into(),
            ..AuditRecord::new(now, ActorRef::Anonymous, "token.reused")
        }
        .token_scope(&token)
        .target("token", &token.id)
        .detail("prefix", token.prefix.clone())
        .detail("rotated_at", retired.rotated_at.to_rfc3339())
        .detail("since_rotation_secs", since.as_secs())
        .event("token.reused", data);
        if self.settings.notify_owners {
            if let Ok(owners) = self.owners_of(&token).await {
                if let Some(event) = audit.event.as_mut() {
                    event.notify = owners;
                }
            }
        }
        match self.store.record_reuse(hash, quiet_since, &audit).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, token_id = %token.id, "could not record a reused token value");
                return;
            }
        }
        if !self.settings.revoke_on_reuse || token.revoked_at.is_some() {
            return;
        }
        let mut revoke = AuditRecord {
            ip: ip.map(str::to_owned),
            ..AuditRecord::new(now, ActorRef::System, "token.revoke")
        }
        .token_scope(&token)
        .target("token", &token.id)
        .detail("reason", "reused")
        .detail("kind", token.kind().as_str())
        .detail("prefix", token.prefix.clone());
        revoke.event = Some(crate::events::revoked_because(&token, "reused"));
        if let Err(e) = self
            .store
            .revoke_token(&token.id, now, RevokeReason::Reused, &revoke)
            .await
        {
            tracing::warn!(error = %e, token_id = %token.id, "could not revoke a token whose old value was reused");
        }
    }
}
