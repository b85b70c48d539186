//! The domain services: every operation of the API and the dashboard, with its permission
//! check, its validation and its audit record. Handlers parse HTTP and call these; nothing
//! else decides anything.

mod alerts;
mod apps;
mod audit;
mod auth;
mod expiry_events;
mod leaks;
mod oauth;
mod orgs;
mod sessions;
mod tokens;
mod trust;
mod users;

pub use apps::DeployMeta;
pub use audit::AuditQuery;
pub use oauth::{check_capability, Introspection};
pub use sessions::{csrf_token, same_secret, SessionSecret};
pub use tokens::TokenQuery;
pub use trust::{
    ExchangeRefused, ExchangeRequest, Exchanged, IssuerKeys, SUBJECT_TOKEN_TYPES,
    TOKEN_EXCHANGE_GRANT,
};

use crate::error::{CoreError, CoreResult};
use crate::expiry::TokenPolicy;
use crate::metrics::{Metrics, Outcome};
use crate::model::{ActorRef, AppId, AppRecord, AuditRecord, OrgId, OrgRecord, Slug, TokenRecord};
use crate::policy::{self, Access, Capability, Principal, Target};
use crate::ratelimit::{FailureLimiter, Limit};
use crate::sealing::Sealer;
use crate::store::Store;
use crate::time::{Clock, Timestamp};
use crate::usage::UsageTracker;
use gantry_api::Role;
use std::sync::Arc;

/// Instance-wide settings the rules depend on.
#[derive(Debug, Clone)]
pub struct Settings {
    pub token_policy: TokenPolicy,
    /// Largest release artifact, in bytes.
    pub max_artifact_bytes: u64,
    /// Unknown or malformed bearer tokens allowed per client IP and per token prefix.
    pub failed_auth_limit: Limit,
    /// Failed logins allowed per client IP and per email.
    pub failed_login_limit: Limit,
    /// Seals env values marked secret (None: secrets cannot be set — offline tools).
    pub sealer: Option<Sealer>,
    /// How long a dashboard session lasts after signing in.
    pub session_ttl: std::time::Duration,
    /// How long a deleted app's slug stays reserved to its org.
    pub slug_reservation: std::time::Duration,
    /// Deploy uploads in progress at once on this node (`limits.max_concurrent_uploads`).
    pub max_concurrent_uploads: usize,
    /// ... and by one credential (`limits.max_uploads_per_credential`).
    pub max_uploads_per_credential: usize,
    /// Where webhooks may go (`alerts.allow_networks`).
    pub allow_networks: crate::outbound::AllowNetworks,
    /// When `token.expiring` fires before an expiry (`alerts.expiring_before`), longest first.
    pub expiring_before: Vec<std::time::Duration>,
    /// Mail owners at expiry thresholds (SMTP is set).
    pub notify_owners: bool,
    /// How long finished deliveries and their events are kept (`alerts.retention`).
    pub event_retention: std::time::Duration,
    /// The instance's URL (`public_url`): trust policies' default audience.
    pub public_url: String,
    /// Issuers trusted over plain http (`oidc.allow_insecure_issuers`; tests, labs).
    pub insecure_issuers: Vec<String>,
    /// Token exchanges allowed per client address (every attempt counts).
    pub exchange_limit: Limit,
    /// Leak reports (`POST /v1/credentials/revoke`) allowed per client address.
    pub leak_report_limit: Limit,
    /// Revoke a token when a value rotated away from it is presented after its grace period
    /// (`tokens.revoke_on_reuse`); it fires `token.reused` either way.
    pub revoke_on_reuse: bool,
    /// Revoke live tokens GitHub secret scanning reports (`leaks.auto_revoke`); `token.leaked`
    /// fires either way.
    pub auto_revoke_leaks: bool,
    /// Where GitHub's secret scanning signing keys are fetched (`leaks.github_keys_url`).
    pub github_keys_url: String,
}

/// GitHub's list of the keys that sign secret scanning reports.
pub const GITHUB_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token_policy: TokenPolicy::default(),
            max_artifact_bytes: 512 * 1024 * 1024,
            failed_auth_limit: Limit {
                max: 30,
                window: std::time::Duration::from_secs(60),
            },
            failed_login_limit: Limit {
                max: 10,
                window: std::time::Duration::from_secs(300),
            },
            sealer: None,
            session_ttl: std::time::Duration::from_secs(12 * 3600),
            slug_reservation: std::time::Duration::from_secs(30 * 86_400),
            max_concurrent_uploads: 16,
            max_uploads_per_credential: 4,
            allow_networks: crate::outbound::AllowNetworks::default(),
            expiring_before: [30, 7, 1]
                .map(|d| std::time::Duration::from_secs(d * 86_400))
                .to_vec(),
            notify_owners: false,
            event_retention: std::time::Duration::from_secs(30 * 86_400),
            public_url: "http://127.0.0.1:8080".to_owned(),
            insecure_issuers: Vec::new(),
            exchange_limit: Limit {
                max: 60,
                window: std::time::Duration::from_secs(60),
            },
            leak_report_limit: Limit {
                max: 30,
                window: std::time::Duration::from_secs(60),
            },
            revoke_on_reuse: false,
            auto_revoke_leaks: true,
            github_keys_url: GITHUB_KEYS_URL.to_owned(),
        }
    }
}

/// The failure limiters of one process.
#[derive(Debug)]
pub(crate) struct Limiters {
    pub(crate) auth_ip: FailureLimiter,
    pub(crate) auth_prefix: FailureLimiter,
    pub(crate) login_ip: FailureLimiter,
    pub(crate) login_email: FailureLimiter,
    /// Token exchanges per client address.
    pub(crate) exchange_ip: FailureLimiter,
    /// Leak reports per client address.
    pub(crate) leak_report_ip: FailureLimiter,
}

/// The authenticated caller of one request and where it came from.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// Shared with the request's other readers of the address (the access log, last use).
    pub ip: Option<std::sync::Arc<str>>,
}

impl Caller {
    /// The audit actor for this caller.
    pub fn actor(&self) -> ActorRef {
        match &self.principal {
            Principal::User { user, .. } => ActorRef::User {
                id: user.id.to_string(),
                name: user.email.clone(),
            },
            Principal::Org { token, .. } | Principal::Deploy { token, .. } => ActorRef::Token {
                id: token.id.to_string(),
                name: token.name.clone(),
            },
        }
    }
}

/// The domain service: one per process, shared by every request.
pub struct Gantry {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Settings,
    pub(crate) usage: Arc<UsageTracker>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limits: Limiters,
    /// Failed authentications, aggregated before they reach the audit log.
    pub(crate) failures: crate::failures::FailureLog,
    /// Where releases' bytes go (None: offline tools, which take no deploys).
    pub(crate) artifacts: Option<Arc<dyn crate::artifacts::ArtifactStore>>,
    /// Deploy uploads in progress, per node and per credential.
    pub(crate) uploads: crate::uploads::UploadSlots,
    /// Rotated-away values this node reported reused, and when (at most one report an hour).
    pub(crate) reuse_seen:
        std::sync::Mutex<std::collections::HashMap<crate::token::TokenHash, Timestamp>>,
}

impl Gantry {
    /// Builds the service over a store and a clock.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: Settings) -> Gantry {
        Self::with_metrics(store, clock, settings, Arc::new(Metrics::new()))
    }

    /// Builds the service, counting into `metrics` (shared with the store and the server).
    pub fn with_metrics(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Gantry {
        let failures = crate::failures::FailureLog::new(settings.failed_auth_limit.window);
        let limits = Limiters {
            auth_ip: FailureLimiter::new(settings.failed_auth_limit),
            auth_prefix: FailureLimiter::new(settings.failed_auth_limit),
            login_ip: FailureLimiter::new(settings.failed_login_limit),
            login_email: FailureLimiter::new(settings.failed_login_limit),
            exchange_ip: FailureLimiter::new(settings.exchange_limit),
            leak_report_ip: FailureLimiter::new(settings.leak_report_limit),
        };
        let uploads = crate::uploads::UploadSlots::new(
            settings.max_concurrent_uploads,
            settings.max_uploads_per_credential,
        );
        Gantry {
            store,
            clock,
            settings,
            usage: Arc::new(UsageTracker::default()),
            metrics,
            failures,
            limits,
            artifacts: None,
            uploads,
            reuse_seen: Default::default(),
        }
    }

    /// The service that takes deploys, storing their bytes in `artifacts`.
    pub fn with_artifacts(mut self, artifacts: Arc<dyn crate::artifacts::ArtifactStore>) -> Gantry {
        self.artifacts = Some(artifacts);
        self
    }

    /// The process's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// `GET /metrics`: the registry with the token gauges read from the store now.
    pub async fn render_metrics(&self) -> CoreResult<String> {
        let counts = self.store.token_counts(self.now()).await?;
        let queue = self.store.delivery_queue().await?;
        Ok(self
            .metrics
            .render(&counts, self.usage.len(), &queue, self.now()))
    }

    /// The store (for readiness checks and background flushing).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock itself.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The instance settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Pending last-used writes.
    pub fn usage(&self) -> &Arc<UsageTracker> {
        &self.usage
    }

    /// Writes the oldest last-used records that are due, at most [`crate::usage::MAX_BATCH`]
    /// (called on the flush interval).
    pub async fn flush_usage(&self) -> CoreResult<usize> {
        self.write_usage(false).await
    }

    /// Writes every last-used record not yet written (graceful shutdown, tests).
    pub async fn flush_all_usage(&self) -> CoreResult<usize> {
        self.write_usage(true).await
    }

    /// One batch of at most [`crate::usage::MAX_BATCH`] uses; with `everything`, batches until
    /// none is left.
    async fn write_usage(&self, everything: bool) -> CoreResult<usize> {
        let mut written = 0;
        while let Some(batch) = self.usage.begin_flush(everything, crate::usage::MAX_BATCH) {
            let result = self.store.record_token_uses(&batch.uses).await;
            // On failure the uses are due again and the next flush retries them.
            self.usage.end_flush(&batch, result.is_ok());
            result?;
            written += batch.uses.len();
            if !everything {
                break;
            }
        }
        self.usage.prune_due(self.now());
        self.write_failure_summaries(everything).await;
        Ok(written)
    }

    /// Appends the summary rows of failed authentications whose window has ended (all of them
    /// with `everything`). A row that cannot be written is logged and dropped.
    async fn write_failure_summaries(&self, everything: bool) {
        for row in self.failures.due(self.now(), everything) {
            if let Err(e) = self.store.append_audit(&row).await {
                tracing::warn!(error = %e, "could not audit repeated failed authentications");
            }
        }
    }

    /// The caller's role in an org: live membership for users, the token's role for org tokens.
    pub(crate) async fn role_in(
        &self,
        caller: &Caller,
        org_id: &OrgId,
    ) -> CoreResult<Option<Role>> {
        match &caller.principal {
            Principal::User { user, .. } => self.store.get_member_role(org_id, &user.id).await,
            Principal::Org {
                org_id: o, role, ..
            } if o == org_id => Ok(Some(*role)),
            _ => Ok(None),
        }
    }

    /// The caller's memberships (org id, role), when [`policy::scope`] needs them.
    pub(crate) async fn memberships_for_scope(
        &self,
        caller: &Caller,
        listing: policy::Listing,
    ) -> CoreResult<Vec<(OrgId, Option<Role>)>> {
        let Some(user) = caller.principal.user() else {
            return Ok(Vec::new());
        };
        if !policy::scope_needs_memberships(&caller.principal, listing) {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .list_orgs(Some(&user.id))
            .await?
            .into_iter()
            .map(|(o, r)| (o.id, r))
            .collect())
    }

    /// Runs the policy check and turns its answer into an error.
    pub(crate) async fn require(
        &self,
        caller: &Caller,
        target: Target<'_>,
        cap: Capability,
        what: impl FnOnce() -> String,
    ) -> CoreResult<Option<Role>> {
        let role = self.role_in(caller, target.org_id).await?;
        match policy::check(&caller.principal, role, target, cap) {
            Access::Allow => Ok(role),
            Access::Forbidden => {
                if caller.principal.token().is_some() {
                    self.metrics.verification(Outcome::insufficient_scope);
                }
                Err(CoreError::Forbidden(format!(
                    "this credential may not {}",
                    cap.describe()
                )))
            }
            Access::Hidden => Err(CoreError::NotFound(what())),
        }
    }

    /// Loads an org by slug and checks `cap` on it; unknown and invisible orgs are both 404.
    pub(crate) async fn org_for(
        &self,
        caller: &Caller,
        slug: &str,
        cap: Capability,
    ) -> CoreResult<(OrgRecord, Option<Role>)> {
        let what = || format!("org '{}'", printable(slug));
        let org = self
            .store
            .get_org_by_slug(&Slug::named(slug))
            .await?
            .ok_or_else(|| CoreError::NotFound(what()))?;
        let target = Target {
            org_id: &org.id,
            app_id: None,
        };
        let role = self.require(caller, target, cap, what).await?;
        Ok((org, role))
    }

    /// [`Gantry::app_for`], the app named by its immutable id (`app_…`) or by its slug (slugs
    /// cannot contain `_`, so the two never collide).
    pub(crate) async fn app_ref_for(
        &self,
        caller: &Caller,
        reference: &str,
        cap: Capability,
    ) -> CoreResult<Arc<AppRecord>> {
        if !reference.starts_with("app_") {
            return self.app_for(caller, reference, cap).await;
        }
        let found = self.store.get_app(&AppId::from(reference)).await?;
        self.checked_app(caller, found, reference, cap).await
    }

    /// Loads an app by slug and checks `cap` on it; unknown and invisible apps are both 404.
    pub async fn app_for(
        &self,
        caller: &Caller,
        slug: &str,
        cap: Capability,
    ) -> CoreResult<Arc<AppRecord>> {
        let named = Slug::named(slug);
        let found = match self.store.peek_app_by_slug(&named) {
            Some(app) => app,
            None => self.store.get_app_by_slug(&named).await?,
        };
        self.checked_app(caller, found, slug, cap).await
    }

    /// The app found under `name`, if `caller` may use `cap` on it (404 when there is none).
    async fn checked_app(
        &self,
        caller: &Caller,
        found: Option<Arc<AppRecord>>,
        name: &str,
        cap: Capability,
    ) -> CoreResult<Arc<AppRecord>> {
        let what = || format!("app '{}'", printable(name));
        let app = found.ok_or_else(|| CoreError::NotFound(what()))?;
        let target = Target {
            org_id: &app.org_id,
            app_id: Some(&app.id),
        };
        self.require(caller, target, cap, what).await?;
        Ok(app)
    }

    /// An audit record by this caller, ready for the target fields to be filled in.
    pub(crate) fn audit(&self, caller: &Caller, action: &str) -> AuditRecord {
        let mut audit = AuditRecord {
            ip: caller.ip.as_deref().map(str::to_owned),
            ..AuditRecord::new(self.now(), caller.actor(), action)
        };
        if let Principal::User { token: Some(t), .. } = &caller.principal {
            audit = audit.detail("via_token", t.id.as_str());
        }
        audit
    }
}

/// A slug or id as it may appear in a message: bounded and printable.
pub(crate) fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Builder-style setters for audit records.
pub(crate) trait AuditExt {
    fn target(self, kind: &str, id: &str) -> Self;
    fn org(self, org_id: &str, org_slug: &str) -> Self;
    fn app(self, app: &AppRecord) -> Self;
    /// The org and app an org or deploy token belongs to.
    fn token_scope(self, token: &TokenRecord) -> Self;
    fn detail(self, key: &str, value: impl Into<serde_json::Value>) -> Self;
    /// The event this change publishes (`crate::events`), written in its transaction.
    fn event(self, kind: &'static str, data: serde_json::Value) -> Self;
}

impl AuditExt for AuditRecord {
    fn event(mut self, kind: &'static str, data: serde_json::Value) -> Self {
        self.event = Some(crate::events::NewEvent {
            kind,
            data,
            only_to: None,
            notify: Vec::new(),
        });
        self
    }

    fn target(mut self, kind: &str, id: &str) -> Self {
        self.target_type = Some(kind.to_owned());
        self.target_id = Some(id.to_owned());
        self
    }

    fn org(mut self, org_id: &str, org_slug: &str) -> Self {
        self.org_id = Some(org_id.to_owned());
        self.org_slug = Some(org_slug.to_owned());
        self
    }

    fn app(mut self, app: &AppRecord) -> Self {
        self.org_id = Some(app.org_id.to_string());
        self.org_slug = Some(app.org_slug.to_string());
        self.app_id = Some(app.id.to_string());
        self.app_slug = Some(app.slug.to_string());
        self
    }

    fn token_scope(mut self, t: &TokenRecord) -> Self {
        self.org_id = t.scope.org_id().map(ToString::to_string);
        self.org_slug = t.scope.org_slug().map(ToString::to_string);
        self.app_id = t.scope.app_id().map(ToString::to_string);
        self.app_slug = t.scope.app_slug().map(ToString::to_string);
        self
    }

    fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(map) = &mut self.detail {
            map.insert(key.to_owned(), value.into());
        }
        self
    }
}
