//! Org alert rules and their deliveries (DESIGN §7). A rule asks for event types (and may
//! narrow to one app); every matching event is queued as a delivery in the transaction of the
//! change that made it (`crate::events`).

use super::{AuditExt, Caller, Gantry};
use crate::error::{CoreError, CoreResult};
use crate::events::DeliveryRecord;
use crate::ids::*;
use crate::model::*;
use crate::policy::Capability;
use crate::validate;
use gantry_api::CreateAlertRequest;

/// Most deliveries one listing returns.
pub const MAX_DELIVERY_PAGE: i64 = 1000;

impl Gantry {
    /// `GET /v1/orgs/{org}/alerts`.
    pub async fn list_alerts(
        &self,
        caller: &Caller,
        org_slug: &str,
    ) -> CoreResult<Vec<AlertRecord>> {
        if let Some(empty) = self.deploy_token_sees_nothing(caller, org_slug).await? {
            return Ok(empty);
        }
        let (org, _) = self
            .org_for(caller, org_slug, Capability::ReadOrgDetails)
            .await?;
        self.store.list_alerts(&org.id).await
    }

    /// `POST /v1/orgs/{org}/alerts`.
    pub async fn create_alert(
        &self,
        caller: &Caller,
        org_slug: &str,
        req: &CreateAlertRequest,
    ) -> CoreResult<AlertRecord> {
        let (org, _) = self
            .org_for(caller, org_slug, Capability::WriteAlerts)
            .await?;
        let name = validate::name("name", &req.name)?;
        let (event, events) = validate::alert_events(req.event.as_deref(), req.events.as_deref())?;
        let target = validate::alert_target("target", &req.target)?;
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
        let audit = self
            .audit(caller, "alert.create")
            .target("alert", &alert.id)
            .org(&org.id, &org.slug)
            .detail("events", alert.events.clone());
        self.store.insert_alert(&alert, &audit).await?;
        Ok(alert)
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
}

fn not_found(id: &str) -> CoreError {
    CoreError::NotFound(format!("alert '{}'", super::printable(id)))
}
