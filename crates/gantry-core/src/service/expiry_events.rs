//! Expiry warnings (DESIGN §7): `token.expiring` when a live token comes within one of
//! `alerts.expiring_before` of its expiry, and `token.expired` when it passes it. Every node
//! looks (the dispatcher calls [`Gantry::fire_expiry_events`] at least every 30 s); a
//! threshold fires once per token and expiry because the notice row that records it is the
//! write that publishes the event (`expiry_notices`' key: token, expiry, threshold). A rotation
//! to a new expiry arms every threshold again. A token created inside a threshold does not
//! fire for it. Thresholds crossed while gantry was down fire on start, the nearest only.
//!
//! With SMTP set, the owners are told too: a personal token's user; an org or deploy token's
//! creator (while still a member of its org) and the org's admins and owners.

use super::{AuditExt, Gantry};
use crate::error::CoreResult;
use crate::events::token_data;
use crate::expiry::format_duration;
use crate::model::*;
use crate::time::Timestamp;
use gantry_api::Role;
use std::time::Duration;

/// How long after its expiry a token is still told about (`token.expired`): a node that was
/// down for less than this still fires it; older expiries (and tokens from before events)
/// stay quiet.
pub const EXPIRED_LOOKBACK: Duration = Duration::from_secs(7 * 86_400);

/// What fires for a token now: the threshold (seconds, 0: expired) and the larger crossed ones
/// it covers, or None.
fn due(
    created_at: Timestamp,
    expires_at: Timestamp,
    now: Timestamp,
    thresholds: &[Duration],
    fired: Option<i64>,
) -> Option<Vec<i64>> {
    let secs = |d: &Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let mut crossed: Vec<i64> = if now >= expires_at {
        let mut all: Vec<i64> = thresholds.iter().map(secs).collect();
        all.push(0);
        all
    } else {
        thresholds
            .iter()
            .filter(|d| {
                let at = Timestamp(expires_at.0.saturating_sub(secs(d).saturating_mul(1000)));
                now >= at && created_at < at
            })
            .map(secs)
            .collect()
    };
    // The nearest first; it alone fires.
    crossed.sort_unstable();
    let nearest = *crossed.first()?;
    if fired.is_some_and(|f| f <= nearest) {
        return None;
    }
    Some(crossed)
}

impl Gantry {
    /// Fires every expiry threshold that is due, once across all nodes: how many fired.
    pub async fn fire_expiry_events(&self) -> CoreResult<usize> {
        let now = self.now();
        let Some(longest) = self.settings.expiring_before.iter().max() else {
            return Ok(0);
        };
        let candidates = self
            .store
            .expiry_candidates(now.minus(EXPIRED_LOOKBACK), now.plus(*longest))
            .await?;
        let mut fired = 0;
        for (token, noticed) in candidates {
            let Some(expires_at) = token.expires_at else {
                continue;
            };
            let Some(thresholds) = due(
                token.created_at,
                expires_at,
                now,
                &self.settings.expiring_before,
                noticed,
            ) else {
                continue;
            };
            let nearest = thresholds[0];
            let mut data = token_data(&token);
            let kind = if nearest == 0 {
                "token.expired"
            } else {
                let left = u64::try_from(nearest).unwrap_or(0);
                data["expires_in"] = format_duration(Duration::from_secs(left)).into();
                "token.expiring"
            };
            let mut audit = AuditRecord::new(now, ActorRef::System, kind)
                .target("token", &token.id)
                .token_scope(&token)
                .detail("expires_at", expires_at.to_rfc3339())
                .event(kind, data);
            if self.settings.notify_owners {
                let owners = self.owners_of(&token).await?;
                if let Some(event) = audit.event.as_mut() {
                    event.notify = owners;
                }
            }
            if self
                .store
                .record_expiry_notice(&token.id, expires_at, &thresholds, &audit)
                .await?
            {
                fired += 1;
            }
        }
        Ok(fired)
    }

    /// Who is told about a token without any rule: its user, or its creator (while still a
    /// member of its org) and the org's admins and owners.
    pub(crate) async fn owners_of(&self, token: &TokenRecord) -> CoreResult<Vec<String>> {
        if let Some(email) = token.scope.user_email() {
            return Ok(vec![email.to_owned()]);
        }
        let Some(org_id) = token.scope.org_id() else {
            return Ok(Vec::new());
        };
        let members = self.store.list_members(org_id).await?;
        let creator = match &token.created_by {
            ActorRef::User { id, .. } => Some(id.as_str()),
            _ => None,
        };
        let mut owners: Vec<String> = members
            .iter()
            .filter(|m| m.role >= Role::Admin || creator.is_some_and(|c| c == m.user_id.as_str()))
            .map(|m| m.email.clone())
            .collect();
        owners.sort();
        owners.dedup();
        Ok(owners)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn at(days: i64) -> Timestamp {
        Timestamp(days * DAY)
    }

    fn thresholds() -> Vec<Duration> {
        [30, 7, 1].map(|d| Duration::from_secs(d * 86_400)).to_vec()
    }

    #[test]
    fn each_threshold_fires_once_when_crossed_after_creation() {
        let t = thresholds();
        // Created at day 0, expires at day 90.
        assert_eq!(due(at(0), at(90), at(59), &t, None), None);
        assert_eq!(due(at(0), at(90), at(60), &t, None), Some(vec![2_592_000]));
        assert_eq!(due(at(0), at(90), at(61), &t, Some(2_592_000)), None);
        assert_eq!(
            due(at(0), at(90), at(83), &t, Some(2_592_000)),
            Some(vec![604_800, 2_592_000])
        );
        assert_eq!(
            due(at(0), at(90), at(89), &t, Some(604_800)).unwrap()[0],
            86_400
        );
        assert_eq!(due(at(0), at(90), at(90), &t, Some(86_400)).unwrap()[0], 0);
        assert_eq!(due(at(0), at(90), at(95), &t, Some(0)), None);
    }

    #[test]
    fn a_token_created_inside_a_threshold_does_not_fire_for_it() {
        let t = thresholds();
        // Created 10 days before its expiry: 30d never fires, 7d does.
        assert_eq!(due(at(80), at(90), at(80), &t, None), None);
        assert_eq!(due(at(80), at(90), at(83), &t, None), Some(vec![604_800]));
    }

    #[test]
    fn thresholds_crossed_while_down_fire_the_nearest_only() {
        let t = thresholds();
        // Down from day 50 to day 89.5: 30d, 7d and 1d were all crossed; 1d fires, covering the others.
        let crossed = due(at(0), at(90), Timestamp(89 * DAY + DAY / 2), &t, None).unwrap();
        assert_eq!(crossed, vec![86_400, 604_800, 2_592_000]);
        // Down past the expiry: only `expired`.
        assert_eq!(due(at(0), at(90), at(92), &t, None).unwrap()[0], 0);
    }
}
