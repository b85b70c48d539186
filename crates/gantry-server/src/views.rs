//! Domain records to wire views. The one place a record's shape becomes JSON.

use gantry_api::*;
use gantry_core::model::*;
use gantry_core::time::Timestamp;

fn t(ts: Timestamp) -> String {
    ts.to_rfc3339()
}

fn ot(ts: Option<Timestamp>) -> Option<String> {
    ts.map(Timestamp::to_rfc3339)
}

/// An actor as the API shows it.
pub fn actor(a: &ActorRef) -> ActorView {
    ActorView {
        kind: a.kind().to_owned(),
        id: a.id().map(str::to_owned),
        name: a.name().map(str::to_owned),
    }
}

pub fn user(u: &UserRecord) -> UserView {
    UserView {
        id: u.id.to_string(),
        email: u.email.clone(),
        name: u.name.clone(),
        is_admin: u.is_admin,
        disabled: u.disabled,
        created_at: t(u.created_at),
    }
}

pub fn org(o: &OrgRecord, role: Option<Role>) -> OrgView {
    OrgView {
        id: o.id.to_string(),
        slug: o.slug.to_string(),
        name: o.name.clone(),
        created_at: t(o.created_at),
        role,
    }
}

pub fn member(m: &MemberRecord) -> MemberView {
    MemberView {
        user_id: m.user_id.to_string(),
        email: m.email.clone(),
        name: m.name.clone(),
        role: m.role,
        created_at: t(m.created_at),
    }
}

pub fn app(a: &AppRecord) -> AppView {
    AppView {
        id: a.id.to_string(),
        slug: a.slug.to_string(),
        name: a.name.clone(),
        org: a.org_slug.to_string(),
        created_at: t(a.created_at),
    }
}

pub fn release(app_slug: &str, r: &ReleaseRecord) -> ReleaseView {
    ReleaseView {
        app: app_slug.to_owned(),
        version: r.version,
        label: r.label.clone(),
        message: r.message.clone(),
        artifact_sha256: r.artifact_sha256.clone(),
        artifact_size: r.artifact_size,
        created_by: actor(&r.created_by),
        created_at: t(r.created_at),
    }
}

/// Secret values never leave: `value` is null for them.
pub fn env_var(v: &EnvVarRecord) -> EnvVarView {
    EnvVarView {
        key: v.key.clone(),
        value: (!v.secret).then(|| v.value.clone()),
        secret: v.secret,
        updated_at: t(v.updated_at),
        updated_by: actor(&v.updated_by),
    }
}

pub fn alert(a: &AlertRecord) -> AlertView {
    AlertView {
        id: a.id.to_string(),
        org: a.org_slug.to_string(),
        name: a.name.clone(),
        event: a.event.clone(),
        events: a.events.clone(),
        app: a.app_slug.as_ref().map(ToString::to_string),
        enabled: a.enabled,
        target: a.target.clone(),
        created_by: actor(&a.created_by),
        created_at: t(a.created_at),
    }
}

/// A rule with its once-shown secret.
pub fn alert_secret(
    a: &AlertRecord,
    secret: Option<&gantry_core::webhooks::WebhookSecret>,
    previous_until: Option<gantry_core::time::Timestamp>,
) -> gantry_api::AlertSecretView {
    gantry_api::AlertSecretView {
        alert: alert(a),
        secret: secret.map(|s| s.expose().to_owned()),
        previous_secret_valid_until: ot(previous_until),
    }
}

/// A delivery of an event to a rule.
pub fn delivery(d: &gantry_core::events::DeliveryRecord) -> DeliveryView {
    DeliveryView {
        id: d.id.clone(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        state: d.state.as_str().to_owned(),
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        next_attempt_at: ot(d.next_attempt_at),
        created_at: t(d.created_at),
    }
}

/// A token with its status computed at `now`.
pub fn token(tok: &TokenRecord, now: Timestamp) -> TokenView {
    TokenView {
        id: tok.id.to_string(),
        kind: tok.kind(),
        name: tok.name.clone(),
        description: tok.description.clone(),
        prefix: tok.prefix.clone(),
        status: tok.status(now),
        org: tok.scope.org_slug().map(ToString::to_string),
        app: tok.scope.app_slug().map(ToString::to_string),
        role: tok.scope.role(),
        user: tok.scope.user_email().map(str::to_owned),
        created_by: actor(&tok.created_by),
        created_at: t(tok.created_at),
        expires_at: ot(tok.expires_at),
        last_used_at: ot(tok.last_used_at),
        last_used_ip: tok.last_used_ip.clone(),
        rotated_at: ot(tok.rotated_at),
        revoked_at: ot(tok.revoked_at),
        revoked_reason: tok
            .revoked_at
            .and(tok.revoked_reason)
            .map(|r| r.as_str().to_owned()),
        leak: tok.leak.as_deref().map(|l| LeakView {
            reported_at: t(l.at),
            via: l.via.clone(),
            url: l.url.clone(),
        }),
        capabilities: capabilities(tok),
        rotate_self: tok.rotate_self,
        allowed_ips: tok.allowed_ips.as_ref().map(|n| n.names()),
        grace_until: grace_until(tok, now).map(t),
        grace_until_first_use: grace_until(tok, now).is_some() && tok.prev_until_first_use,
        federated: tok.federated.as_deref().map(|f| FederatedView {
            policy: f.policy_id.to_string(),
            issuer: f.issuer.clone(),
            subject: f.subject.clone(),
            claims: f.claims.clone(),
        }),
    }
}

/// Until when the value before the last rotation still works, if it still does.
fn grace_until(tok: &TokenRecord, now: Timestamp) -> Option<Timestamp> {
    tok.prev_hash
        .as_ref()
        .and(tok.prev_expires_at)
        .filter(|end| *end > now)
}

/// An org's token policy and what it makes of the instance's.
pub fn org_policy(
    org: &gantry_core::model::OrgPolicy,
    instance: &gantry_core::expiry::TokenPolicy,
) -> gantry_api::OrgPolicyView {
    use gantry_core::expiry::format_duration;
    let effective = instance.for_org(org);
    gantry_api::OrgPolicyView {
        max_lifetime: org.max_lifetime.map(format_duration),
        require_expiry: org.require_expiry,
        allowed_ips: org.allowed_ips.as_ref().map(|n| n.names()),
        effective: gantry_api::EffectiveTokenPolicy {
            max_lifetime: effective.max_lifetime.map(format_duration),
            require_expiry: !effective.allows_never(),
        },
    }
}

/// An org or deploy token's capabilities (personal tokens act as their user: none shown).
pub fn capabilities(tok: &TokenRecord) -> Option<Vec<String>> {
    (tok.kind() != TokenKind::Personal).then(|| {
        tok.capabilities
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect()
    })
}

/// A trust policy.
pub fn trust_policy(p: &TrustPolicyRecord) -> TrustPolicyView {
    TrustPolicyView {
        id: p.id.to_string(),
        org: p.org_slug.to_string(),
        app: p.app_slug.to_string(),
        name: p.name.clone(),
        preset: p.rules.preset.map(|x| x.as_str().to_owned()),
        issuer: p.rules.issuer.clone(),
        audience: p.rules.audience.clone(),
        conditions: p.rules.conditions.clone(),
        capabilities: p
            .capabilities
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        token_lifetime: gantry_core::expiry::format_duration(p.token_lifetime),
        require_immutable_ids: p.waived_immutable_ids.is_none(),
        reason: p.waived_immutable_ids.clone(),
        allow_pull_request_target: p.rules.allow_pull_request_target,
        created_by: actor(&p.created_by),
        created_at: t(p.created_at),
    }
}

/// A policy's verdict on a JWT, check by check.
pub fn trust_test(checks: &[gantry_core::oidc::ConditionCheck]) -> TrustTestResult {
    TrustTestResult {
        matches: !checks.is_empty() && checks.iter().all(|c| c.ok),
        checks: checks
            .iter()
            .map(|c| TrustCheckView {
                claim: c.claim.clone(),
                expected: c.expected.clone(),
                actual: c.actual.clone(),
                ok: c.ok,
            })
            .collect(),
    }
}

pub fn audit(a: &AuditRecord) -> AuditEventView {
    AuditEventView {
        id: a.id,
        at: t(a.at),
        actor: actor(&a.actor),
        action: a.action.clone(),
        target_type: a.target_type.clone(),
        target_id: a.target_id.clone(),
        org: a.org_slug.clone(),
        app: a.app_slug.clone(),
        ip: a.ip.clone(),
        outcome: a.outcome.clone(),
        detail: a.detail.clone(),
    }
}
