//! Org alert rules and their deliveries (DESIGN §7). A rule asks for event types (and may
//! narrow to one app); every matching event is queued as a delivery in the transaction of the
//! change that made it (`crate::events`), and each node's dispatcher claims due deliveries,
//! tries them ([`Gantry::claim_deliveries`], [`Gantry::finish_try`]) and retries them on the
//! schedule of [`crate::webhooks::retry_after`].

use super::expiry_events::EXPIRED_LOOKBACK;
use super::{AuditExt, Caller, Gantry};
use crate::error::{CoreError, CoreResult};
use crate::events::{ClaimedDelivery, DeliveryRecord, DeliveryState, FinishedTry, TryResult};
use crate::ids::*;
use crate::model::*;
use crate::policy::{self, Access, Capability, Target};
use crate::validate;
use crate::webhooks::{WebhookSecret, PREVIOUS_SECRET_OVERLAP};
use gantry_api::CreateAlertRequest;

/// Most deliveries one listing returns.
pub const MAX_DELIVERY_PAGE: i64 = 1000;

/// What the sealed secret's associated data names (with the rule's id).
pub(crate) const SECRET_NAME: &str = "webhook-secret";

impl Gantry {
    /// `GET /v1/orgs/{org}/alerts`. Callers who may not change rules see each target as
    /// scheme and host only.
    pub async fn list_alerts(
        &self,
        caller: &Caller,
        org_slug: &str,
    ) -> CoreResult<Vec<AlertRecord>> {
        if let Some(empty) = self.deploy_token_sees_nothing(caller, org_slug).await? {
            return Ok(empty);
        }
        let (org, role) = self
            .org_for(caller, org_slug, Capability::ReadOrgDetails)
            .await?;
        let mut alerts = self.store.list_alerts(&org.id).await?;
        let target = Target {
            org_id: &org.id,
            app_id: None,
        };
        if policy::check(
            &caller.principal,
            role,
            target,
            Capability::ReadAlertTargets,
        ) != Access::Allow
        {
            for a in &mut alerts {
                a.target = crate::outbound::masked_target(&a.target);
            }
        }
        Ok(alerts)
    }

    /// `POST /v1/orgs/{org}/alerts`: the rule, and for a webhook rule its signing secret
    /// (shown once, in this answer; stored sealed).
    pub async fn create_alert(
        &self,
        caller: &Caller,
        org_slug: &str,
        req: &CreateAlertRequest,
    ) -> CoreResult<(AlertRecord, Option<WebhookSecret>)> {
        let (org, _) = self
            .org_for(caller, org_slug, Capability::WriteAlerts)
            .await?;
        let name = validate::name("name", &req.name)?;
        let (event, events) = validate::alert_events(req.event.as_deref(), req.events.as_deref())?;
        let target = validate::alert_target("target", &req.target, &self.settings.allow_networks)?;
        let app = match &req.app {
            None => None,
            Some(slug) => {
                let app = self
                    .store
                    .get_app_by_slug(&Slug::named(slug))
                    .await?
                    .filter(|a| a.org_id == org.id)
                    .ok_or_else(|| {
                        CoreError::invalid("app", "must be the slug of an app of this org")
                    })?;
                Some(app)
            }
        };
        let alert = AlertRecord {
            id: AlertId::generate(),
            org_id: org.id.clone(),
            org_slug: org.slug.clone(),
            name,
            event,
            events,
            app_id: app.as_ref().map(|a| a.id.clone()),
            app_slug: app.as_ref().map(|a| a.slug.clone()),
            enabled: true,
            target,
            created_by: caller.actor(),
            created_at: self.now(),
        };
        let secret = (!alert.is_mail()).then(WebhookSecret::generate);
        let sealed = match &secret {
            Some(s) => Some(self.seal_secret(&alert.id, s)?),
            None => None,
        };
        let audit = self
            .audit(caller, "alert.create")
            .target("alert", &alert.id)
            .org(&org.id, &org.slug)
            .detail("events", alert.events.clone());
        self.store
            .insert_alert(&alert, sealed.as_deref(), &audit)
            .await?;
        Ok((alert, secret))
    }

    /// `PATCH /v1/orgs/{org}/alerts/{id}` `{enabled}`: turns a rule (back) on or off.
    pub async fn set_alert_enabled(
        &self,
        caller: &Caller,
        org_slug: &str,
        id: &str,
        enabled: bool,
    ) -> CoreResult<AlertRecord> {
        let (org, _) = self
            .org_for(caller, org_slug, Capability::WriteAlerts)
            .await?;
        let audit = self
            .audit(
                caller,
                if enabled {
                    "alert.enable"
                } else {
                    "alert.disable"
                },
            )
            .target("alert", id)
            .org(&org.id, &org.slug);
        self.store
            .set_alert_enabled(&org.id, &AlertId::from(id), enabled, &audit)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// `POST /v1/orgs/{org}/alerts/{id}/rotate-secret`: a new secret, shown once; the old one
    /// keeps signing beside it for 24 hours, so receivers can switch without losing a delivery.
    pub async fn rotate_alert_secret(
        &self,
        caller: &Caller,
        org_slug: &str,
        id: &str,
    ) -> CoreResult<(AlertRecord, WebhookSecret, crate::time::Timestamp)> {
        let (org, _) = self
            .org_for(caller, org_slug, Capability::WriteAlerts)
            .await?;
        let alert_id = AlertId::from(id);
        let alert = self
            .store
            .get_alert(&org.id, &alert_id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if alert.is_mail() {
            return Err(CoreError::invalid(
                "target",
                "an email rule has no signing secret; only webhook rules do",
            ));
        }
        let secret = WebhookSecret::generate();
        let sealed = self.seal_secret(&alert.id, &secret)?;
        let until = self.now().plus(PREVIOUS_SECRET_OVERLAP);
        let audit = self
            .audit(caller, "alert.rotate_secret")
            .target("alert", id)
            .org(&org.id, &org.slug);
        if !self
            .store
            .rotate_alert_secret(&org.id, &alert_id, &sealed, until, &audit)
            .await?
        {
            return Err(not_found(id));
        }
        Ok((alert, secret, until))
    }

    /// `POST /v1/orgs/{org}/alerts/{id}/test`: a `ping` event, queued for this rule only.
    pub async fn test_alert(
        &self,
        caller: &Caller,
        org_slug: &str,
        id: &str,
    ) -> CoreResult<DeliveryRecord> {
        let (org, _) = self
            .org_for(caller, org_slug, Capability::WriteAlerts)
            .await?;
        let alert_id = AlertId::from(id);
        let mut audit = self
            .audit(caller, "alert.test")
            .target("alert", id)
            .org(&org.id, &org.slug)
            .event(
                "ping",
                serde_json::json!({"alert": id, "requested_by": caller.actor().name()}),
            );
        if let Some(event) = audit.event.as_mut() {
            event.only_to = Some(alert_id.clone());
        }
        self.store
            .queue_test_event(&org.id, &alert_id, &audit)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// `POST /v1/orgs/{org}/alerts/{id}/deliveries/{delivery}/retry`: one more try, now.
    pub async fn retry_delivery(
        &self,
        caller: &Caller,
        org_slug: &str,
        id: &str,
        delivery_id: &str,
    ) -> CoreResult<DeliveryRecord> {
        let (org, _) = self
            .org_for(caller, org_slug, Capability::WriteAlerts)
            .await?;
        let audit = self
            .audit(caller, "alert.retry")
            .target("delivery", delivery_id)
            .org(&org.id, &org.slug)
            .detail("alert", id);
        self.store
            .retry_delivery(&org.id, &AlertId::from(id), delivery_id, self.now(), &audit)
            .await?
            .ok_or_else(|| {
                CoreError::NotFound(format!("delivery '{}'", super::printable(delivery_id)))
            })
    }

    /// `DELETE /v1/orgs/{org}/alerts/{id}`: the rule and its deliveries.
    pub async fn delete_alert(&self, caller: &Caller, org_slug: &str, id: &str) -> CoreResult<()> {
        let (org, _) = self
            .org_for(caller, org_slug, Capability::WriteAlerts)
            .await?;
        let audit = self
            .audit(caller, "alert.delete")
            .target("alert", id)
            .org(&org.id, &org.slug);
        if self
            .store
            .delete_alert(&org.id, &AlertId::from(id), &audit)
            .await?
        {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

    /// `GET /v1/orgs/{org}/alerts/{id}/deliveries`: newest first, at most `limit`.
    pub async fn list_deliveries(
        &self,
        caller: &Caller,
        org_slug: &str,
        id: &str,
        limit: Option<i64>,
    ) -> CoreResult<Vec<DeliveryRecord>> {
        let limit = limit.unwrap_or(100);
        if !(1..=MAX_DELIVERY_PAGE).contains(&limit) {
            return Err(CoreError::invalid(
                "limit",
                format!("must be between 1 and {MAX_DELIVERY_PAGE}"),
            ));
        }
        let (org, _) = self
            .org_for(caller, org_slug, Capability::ReadOrgDetails)
            .await?;
        self.store
            .list_deliveries(&org.id, &AlertId::from(id), limit)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// The dispatcher's claim: up to `limit` due deliveries for this node, leased for `lease`.
    pub async fn claim_deliveries(
        &self,
        per_rule: i64,
        limit: i64,
        lease: std::time::Duration,
    ) -> CoreResult<Vec<ClaimedDelivery>> {
        let now = self.now();
        self.store
            .claim_deliveries(now, now.plus(lease), per_rule, limit)
            .await
    }

    /// The secrets a try of `d` is signed with: the current one, and the previous one while
    /// it still signs. An error when the rule has none (made before secrets existed: rotating
    /// gives it one) or it does not open with this node's keys.
    pub fn signing_secrets(&self, d: &ClaimedDelivery) -> CoreResult<Vec<WebhookSecret>> {
        let open = |sealed: &str| -> CoreResult<WebhookSecret> {
            let sealer = self.settings.sealer.as_ref().ok_or_else(no_sealer)?;
            let alert = d
                .alert_id
                .as_ref()
                .ok_or_else(|| CoreError::internal("only rules' webhooks are signed"))?;
            let plain = sealer.open(alert.as_str(), SECRET_NAME, sealed)?;
            WebhookSecret::parse(&plain)
                .ok_or_else(|| CoreError::internal("a stored webhook secret is malformed"))
        };
        let current = d.secret.as_deref().ok_or_else(|| {
            CoreError::internal("the rule has no signing secret (rotate-secret gives it one)")
        })?;
        let mut secrets = vec![open(current)?];
        if let (Some(previous), Some(until)) = (&d.previous_secret, d.previous_secret_until) {
            if self.now() < until {
                secrets.push(open(previous)?);
            }
        }
        Ok(secrets)
    }

    /// Records how a try of `d` ended: delivered, disabled (`410`), retried on the schedule,
    /// or failed for good. False when this node's claim was lost meanwhile.
    pub async fn finish_try(&self, d: &ClaimedDelivery, result: &TryResult) -> CoreResult<bool> {
        let attempts = d.attempts + 1;
        let now = self.now();
        let mut finished = FinishedTry {
            id: d.id.clone(),
            claim: d.claim.clone(),
            state: DeliveryState::Delivered,
            attempts,
            next_attempt_at: None,
            last_status: None,
            last_error: None,
            disable_alert: None,
        };
        match result {
            TryResult::Delivered { status } => {
                finished.last_status = Some(i64::from(*status));
            }
            TryResult::Gone => {
                finished.state = DeliveryState::Failed;
                finished.last_status = Some(410);
                finished.last_error = Some("410 Gone: the rule is disabled".into());
                finished.disable_alert = d.alert_id.clone();
            }
            TryResult::Failed { status, error } => {
                finished.last_status = status.map(i64::from);
                finished.last_error = Some(error.clone());
                match crate::webhooks::retry_after(attempts) {
                    Some(wait) => {
                        finished.state = DeliveryState::Pending;
                        finished.next_attempt_at = Some(now.plus(wait));
                    }
                    None => finished.state = DeliveryState::Failed,
                }
            }
        }
        self.metrics.delivery(match (result, finished.state) {
            (TryResult::Delivered { .. }, _) => "delivered",
            (TryResult::Gone, _) => "gone",
            (_, DeliveryState::Pending) => "retried",
            _ => "failed",
        });
        self.store.finish_delivery(&finished).await
    }

    fn seal_secret(&self, id: &AlertId, secret: &WebhookSecret) -> CoreResult<String> {
        self.settings.sealer.as_ref().ok_or_else(no_sealer)?.seal(
            id.as_str(),
            SECRET_NAME,
            secret.expose(),
        )
    }
}

impl AlertRecord {
    /// Whether the rule's target is email rather than a webhook.
    pub fn is_mail(&self) -> bool {
        self.target.starts_with("mailto:")
    }
}

fn no_sealer() -> CoreError {
    CoreError::internal("no secret key is configured to seal webhook secrets")
}

fn not_found(id: &str) -> CoreError {
    CoreError::NotFound(format!("alert '{}'", super::printable(id)))
}

/// Rows of each kind one pruning transaction deletes at most: the writer is held briefly.
const PRUNE_BATCH: i64 = 1_000;

impl Gantry {
    /// Forgets deliveries finished (delivered or failed) longer than `alerts.retention` ago, the
    /// events left without deliveries, and the expiry notices of expiries the scheduler no
    /// longer looks at; in batches, until nothing is left to go. How many rows went.
    pub async fn prune_events(&self) -> CoreResult<u64> {
        let now = self.now();
        let before = now.minus(self.settings.event_retention);
        // The scheduler reads notices only of expiries since `now - EXPIRED_LOOKBACK`; a day
        // more leaves room for a scan under way.
        let notices_before = now.minus(EXPIRED_LOOKBACK + std::time::Duration::from_secs(86_400));
        // Spent ID-token ids that could no longer be presented anyway (keyless CI).
        let mut gone = self.store.prune_jtis(now).await?;
        loop {
            let n = self
                .store
                .prune_events(before, notices_before, PRUNE_BATCH)
                .await?;
            gone += n;
            if n < PRUNE_BATCH as u64 {
                return Ok(gone);
            }
            tokio::task::yield_now().await;
        }
    }
}
