//! Reading the audit log.

use super::{Caller, Gantry};
use crate::error::{CoreError, CoreResult};
use crate::model::AuditRecord;
use crate::policy::{self, Capability};
use crate::store::AuditFilter;
use crate::time::Timestamp;

/// Most events one listing returns.
pub const MAX_AUDIT_PAGE: i64 = 1000;

/// `GET /v1/audit` parameters.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub org: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    /// RFC 3339 instant.
    pub since: Option<String>,
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

impl Gantry {
    /// Audit events the caller may see, newest first: instance administrators see all; others
    /// see the events of orgs where they are admin or owner, and their own actions.
    pub async fn list_audit(
        &self,
        caller: &Caller,
        q: &AuditQuery,
    ) -> CoreResult<Vec<AuditRecord>> {
        let limit = q.limit.unwrap_or(100);
        if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
            return Err(CoreError::invalid(
                "limit",
                format!("must be between 1 and {MAX_AUDIT_PAGE}"),
            ));
        }
        let since = match &q.since {
            Some(s) => Some(Timestamp::parse_rfc3339(s).ok_or_else(|| {
                CoreError::invalid(
                    "since",
                    "must be an RFC 3339 instant, e.g. 2026-01-31T00:00:00Z",
                )
            })?),
            None => None,
        };
        let mut filter = AuditFilter {
            actor_id: q.actor.clone(),
            action: q.action.clone(),
            since,
            before_id: q.before,
            limit,
            ..Default::default()
        };
        if let Some(slug) = &q.org {
            let (org, _) = self.org_for(caller, slug, Capability::ManageTokens).await?;
            filter.org_id = Some(org.id);
            return self.store.list_audit(&filter).await;
        }
        let memberships = self
            .memberships_for_scope(caller, policy::Listing::Audit)
            .await?;
        match policy::scope(&caller.principal, policy::Listing::Audit, &memberships)
            .map_err(|m| CoreError::Forbidden(m.into()))?
        {
            policy::Scope::All => {}
            policy::Scope::Visible { orgs, own } => filter.visible_to = Some((orgs, own)),
        }
        self.store.list_audit(&filter).await
    }
}
