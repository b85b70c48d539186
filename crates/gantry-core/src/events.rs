//! Events (DESIGN §7). Every lifecycle change becomes one, written in the same transaction as
//! the change: the write's audit record carries it ([`crate::model::AuditRecord::event`]), and
//! the store inserts it with one delivery per enabled alert rule of the org that asks for its
//! type (and for its app, when the rule names one). A change that is refused or rolled back
//! leaves no event; an event never exists without its change.

use crate::model::TokenRecord;
use crate::time::Timestamp;

/// Every event type, as Standard Webhooks names them.
pub const EVENT_TYPES: &[&str] = &[
    "token.created",
    "token.rotated",
    "token.revoked",
    "token.expiring",
    "token.expired",
    "token.leaked",
    "token.reused",
    "release.created",
    "env.changed",
    "config.changed",
    "ping",
];

/// The rule event names from before events existed, kept as aliases of the new ones.
pub const ALIASES: &[(&str, &str)] = &[
    ("deploy", "release.created"),
    ("env_change", "env.changed"),
    ("config_change", "config.changed"),
    ("token_expiring", "token.expiring"),
    ("token_revoked", "token.revoked"),
];

/// The canonical name of an event type or alias.
pub fn canonical(name: &str) -> Option<&'static str> {
    EVENT_TYPES
        .iter()
        .find(|t| **t == name)
        .copied()
        .or_else(|| ALIASES.iter().find(|(a, _)| *a == name).map(|(_, t)| *t))
}

/// An event a write publishes: its type and data (views, never a token value or a secret).
/// The store gives it its id (`evt_…`) and takes the org, app and time from the audit record
/// it travels with, and adds `org` and `app` (slugs) to the data.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: &'static str,
    pub data: serde_json::Value,
    /// Delivered to this rule only, whatever it asks for (`ping`, from `…/alerts/{id}/test`).
    pub only_to: Option<crate::ids::AlertId>,
    /// Also mailed to these owners, without any rule (expiry notices, when SMTP is set).
    pub notify: Vec<String>,
}

/// A token as its events show it: what identifies it and where it acts, never its value.
pub fn token_data(t: &TokenRecord) -> serde_json::Value {
    serde_json::json!({
        "token": {
            "id": t.id.as_str(),
            "name": t.name,
            "kind": t.kind().as_str(),
            "prefix": t.prefix,
            "role": t.scope.role().map(|r| r.as_str()),
            "user": t.scope.user_email(),
            "expires_at": t.expires_at.map(|e| e.to_rfc3339()),
            "created_at": t.created_at.to_rfc3339(),
            "federated": t.federated.as_ref().map(|f| serde_json::json!({
                "policy": f.policy_id.as_str(),
                "issuer": f.issuer,
                "subject": f.subject,
            })),
        }
    })
}

/// `token.revoked` for a token revoked with its app (`DELETE /v1/apps/{app}`): the same event
/// as a revoke of the token itself, with the reason.
pub fn revoked_with_app(t: &TokenRecord) -> NewEvent {
    revoked_because(t, "app_deleted")
}

/// `token.revoked` for a token revoked by a change to something else (its app deleted:
/// `app_deleted`; the trust policy that issued it deleted: `trust_policy_deleted`).
pub fn revoked_because(t: &TokenRecord, reason: &'static str) -> NewEvent {
    let mut data = token_data(t);
    data["reason"] = reason.into();
    NewEvent {
        kind: "token.revoked",
        data,
        only_to: None,
        notify: Vec::new(),
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One event on its way to one alert rule.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

/// A webhook rule's signing secret as stored (sealed), for re-sealing with a new key.
#[derive(Debug, Clone)]
pub struct SealedAlertSecret {
    pub alert_id: crate::ids::AlertId,
    /// The previous secret (still signing beside the current one), rather than the current.
    pub previous: bool,
    pub value: String,
}

/// A delivery one node has claimed, with what it takes to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    /// The claim: the finishing write must carry it (a claim whose lease ran out and was
    /// taken by another node cannot be finished by this one).
    pub claim: String,
    pub event_id: String,
    pub event_type: String,
    pub event_at: Timestamp,
    pub data: serde_json::Value,
    /// The rule it goes to; None for an owner notification (mail without a rule).
    pub alert_id: Option<crate::ids::AlertId>,
    /// The rule's target, or `mailto:` and an owner notification's recipients.
    pub target: String,
    /// The rule's secrets, sealed: the current one, and the previous one until it stops signing.
    pub secret: Option<String>,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<Timestamp>,
    /// Tries before this one.
    pub attempts: i64,
}

/// What one try of a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryResult {
    /// A 2xx answer.
    Delivered { status: u16 },
    /// `410 Gone`: the receiver asks never to be sent to again; the rule is disabled.
    Gone,
    /// Anything else: another status, a timeout, a refused or forbidden connection.
    Failed { status: Option<u16>, error: String },
}

/// The write that ends a try.
#[derive(Debug, Clone)]
pub struct FinishedTry {
    pub id: String,
    pub claim: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    /// Disable the rule (a `410`).
    pub disable_alert: Option<crate::ids::AlertId>,
}

/// Pending deliveries, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub pending: i64,
    /// When the oldest pending delivery was queued.
    pub oldest: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_rule_event_names_are_aliases_of_event_types() {
        for (alias, kind) in ALIASES {
            assert_eq!(canonical(alias), Some(*kind));
            assert!(EVENT_TYPES.contains(kind));
        }
        for kind in EVENT_TYPES {
            assert_eq!(canonical(kind), Some(*kind));
        }
        assert_eq!(canonical("token.eaten"), None);
        assert_eq!(canonical(""), None);
    }
}
