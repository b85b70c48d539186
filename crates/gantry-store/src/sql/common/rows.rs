//! Row mapping: each table's columns into its record, and the SELECTs that join what a record shows (slugs, emails).

use super::*;

pub(super) fn ts(row: &DbRow, col: &str) -> CoreResult<Timestamp> {
    Ok(Timestamp(row.try_get::<i64, _>(col).map_err(db)?))
}

pub(super) fn opt_ts(row: &DbRow, col: &str) -> CoreResult<Option<Timestamp>> {
    Ok(row
        .try_get::<Option<i64>, _>(col)
        .map_err(db)?
        .map(Timestamp))
}

pub(super) fn s(row: &DbRow, col: &str) -> CoreResult<String> {
    row.try_get::<String, _>(col).map_err(db)
}

pub(super) fn opt_s(row: &DbRow, col: &str) -> CoreResult<Option<String>> {
    row.try_get::<Option<String>, _>(col).map_err(db)
}

/// An id or slug, inline when short (see `TokenRecord`).
pub(super) fn cs(row: &DbRow, col: &str) -> CoreResult<CompactString> {
    row.try_get::<&str, _>(col)
        .map(CompactString::from)
        .map_err(db)
}

pub(super) fn opt_cs(row: &DbRow, col: &str) -> CoreResult<Option<CompactString>> {
    Ok(row
        .try_get::<Option<&str>, _>(col)
        .map_err(db)?
        .map(CompactString::from))
}

/// A slug as stored (it was valid when written).
pub(super) fn slug(row: &DbRow, col: &str) -> CoreResult<Slug> {
    cs(row, col).map(Slug::stored)
}

pub(super) fn b(row: &DbRow, col: &str) -> CoreResult<bool> {
    row.try_get::<bool, _>(col).map_err(db)
}

pub(super) fn actor(row: &DbRow, prefix: &str) -> CoreResult<ActorRef> {
    Ok(ActorRef::from_parts(
        &s(row, &format!("{prefix}_type"))?,
        opt_s(row, &format!("{prefix}_id"))?,
        opt_s(row, &format!("{prefix}_name"))?,
    ))
}

pub(super) fn role(row: &DbRow, col: &str) -> CoreResult<Option<Role>> {
    Ok(opt_s(row, col)?.as_deref().and_then(Role::parse))
}

pub(super) fn user_row(row: &DbRow) -> CoreResult<UserRecord> {
    Ok(UserRecord {
        id: cs(row, "id")?.into(),
        email: s(row, "email")?,
        name: s(row, "name")?,
        password_hash: s(row, "password_hash")?,
        is_admin: b(row, "is_admin")?,
        disabled: b(row, "disabled")?,
        created_at: ts(row, "created_at")?,
    })
}

pub(super) fn org_row(row: &DbRow) -> CoreResult<OrgRecord> {
    Ok(OrgRecord {
        id: cs(row, "id")?.into(),
        slug: slug(row, "slug")?,
        name: s(row, "name")?,
        created_at: ts(row, "created_at")?,
        policy: OrgPolicy {
            max_lifetime: secs(row, "policy_max_lifetime_secs")?,
            require_expiry: b(row, "policy_require_expiry")?,
            allowed_ips: gantry_core::policy::Networks::from_column(
                opt_s(row, "policy_allowed_ips")?.as_deref(),
            ),
        },
    })
}

/// A column of whole seconds as a duration (NULL: none).
fn secs(row: &DbRow, col: &str) -> CoreResult<Option<Duration>> {
    let v: Option<i64> = row.try_get(col).map_err(db)?;
    Ok(v.map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0))))
}

pub(super) fn app_row(row: &DbRow) -> CoreResult<AppRecord> {
    Ok(AppRecord {
        id: cs(row, "id")?.into(),
        org_id: cs(row, "org_id")?.into(),
        org_slug: slug(row, "org_slug")?,
        slug: slug(row, "slug")?,
        name: s(row, "name")?,
        created_at: ts(row, "created_at")?,
    })
}

pub(super) fn release_row(row: &DbRow) -> CoreResult<ReleaseRecord> {
    Ok(ReleaseRecord {
        app_id: cs(row, "app_id")?.into(),
        version: row.try_get("version").map_err(db)?,
        label: opt_s(row, "label")?,
        message: opt_s(row, "message")?,
        artifact_sha256: s(row, "artifact_sha256")?,
        artifact_size: row.try_get("artifact_size").map_err(db)?,
        created_by: actor(row, "created_by")?,
        created_at: ts(row, "created_at")?,
    })
}

pub(super) fn env_row(row: &DbRow) -> CoreResult<EnvVarRecord> {
    Ok(EnvVarRecord {
        app_id: cs(row, "app_id")?.into(),
        key: s(row, "key")?,
        value: s(row, "value")?,
        secret: b(row, "secret")?,
        updated_at: ts(row, "updated_at")?,
        updated_by: actor(row, "updated_by")?,
    })
}

pub(super) fn config_row(row: &DbRow) -> CoreResult<ConfigRecord> {
    Ok(ConfigRecord {
        app_id: cs(row, "app_id")?.into(),
        version: row.try_get("version").map_err(db)?,
        document: s(row, "document")?,
        updated_at: ts(row, "updated_at")?,
        updated_by: actor(row, "updated_by")?,
    })
}

pub(super) fn alert_row(row: &DbRow) -> CoreResult<AlertRecord> {
    let event = s(row, "event")?;
    Ok(AlertRecord {
        id: cs(row, "id")?.into(),
        org_id: cs(row, "org_id")?.into(),
        org_slug: slug(row, "org_slug")?,
        name: s(row, "name")?,
        events: rule_events(&event, opt_s(row, "events")?.as_deref()),
        event,
        app_id: opt_cs(row, "app_id")?.map(AppId::from),
        app_slug: opt_cs(row, "app_slug")?.map(Slug::stored),
        enabled: b(row, "enabled")?,
        target: s(row, "target")?,
        created_by: actor(row, "created_by")?,
        created_at: ts(row, "created_at")?,
    })
}

/// A rule's canonical event types: its `events` list, or (rules made before it) its one
/// `event`, an old alias.
pub(super) fn rule_events(event: &str, events: Option<&str>) -> Vec<String> {
    match events.and_then(|e| serde_json::from_str::<Vec<String>>(e).ok()) {
        Some(list) => list,
        None => gantry_core::events::canonical(event)
            .map(|k| vec![k.to_owned()])
            .unwrap_or_default(),
    }
}

pub(super) fn delivery_row(row: &DbRow) -> CoreResult<gantry_core::events::DeliveryRecord> {
    use gantry_core::events::{DeliveryRecord, DeliveryState};
    Ok(DeliveryRecord {
        id: s(row, "id")?,
        event_id: s(row, "event_id")?,
        event_type: s(row, "type")?,
        state: DeliveryState::parse(&s(row, "state")?)
            .ok_or_else(|| CoreError::internal("bad delivery state"))?,
        attempts: row.try_get("attempts").map_err(db)?,
        next_attempt_at: opt_ts(row, "next_attempt_at")?,
        last_status: row.try_get("last_status").map_err(db)?,
        last_error: opt_s(row, "last_error")?,
        created_at: ts(row, "created_at")?,
    })
}

pub(super) fn hash_col(row: &DbRow, col: &str) -> CoreResult<Option<TokenHash>> {
    let bytes: Option<Vec<u8>> = row.try_get(col).map_err(db)?;
    Ok(bytes.as_deref().and_then(TokenHash::from_slice))
}

pub(super) fn token_row(row: &DbRow) -> CoreResult<TokenRecord> {
    let kind =
        TokenKind::parse(&s(row, "kind")?).ok_or_else(|| CoreError::internal("bad token kind"))?;
    let scope = TokenScope::from_columns(
        kind,
        opt_cs(row, "user_id")?.map(UserId::from),
        opt_s(row, "user_email")?,
        opt_cs(row, "org_id")?.map(OrgId::from),
        opt_cs(row, "org_slug")?.map(Slug::stored),
        opt_cs(row, "app_id")?.map(AppId::from),
        opt_cs(row, "app_slug")?.map(Slug::stored),
        role(row, "role")?,
    )
    .ok_or_else(|| CoreError::internal(format!("a {} token without its scope", kind.as_str())))?;
    let lifetime: Option<i64> = row.try_get("lifetime_secs").map_err(db)?;
    Ok(TokenRecord {
        id: cs(row, "id")?.into(),
        scope,
        capabilities: gantry_core::policy::Capabilities::from_column(
            opt_s(row, "capabilities")?.as_deref(),
        ),
        name: s(row, "name")?,
        description: opt_s(row, "description")?,
        prefix: s(row, "prefix")?,
        hash: hash_col(row, "hash")?.ok_or_else(|| CoreError::internal("bad token hash"))?,
        prev_hash: hash_col(row, "prev_hash")?,
        prev_expires_at: opt_ts(row, "prev_expires_at")?,
        prev_until_first_use: b(row, "prev_until_first_use")?,
        allowed_ips: gantry_core::policy::Networks::from_column(
            opt_s(row, "allowed_ips")?.as_deref(),
        ),
        created_by: actor(row, "created_by")?,
        created_at: ts(row, "created_at")?,
        expires_at: opt_ts(row, "expires_at")?,
        lifetime: lifetime.map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0))),
        last_used_at: opt_ts(row, "last_used_at")?,
        last_used_ip: opt_s(row, "last_used_ip")?,
        rotated_at: opt_ts(row, "rotated_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
        noted: Default::default(),
        federated: federation(row)?,
        rotate_self: row.try_get("rotate_self").map_err(db)?,
        revoked_reason: opt_s(row, "revoked_reason")?
            .as_deref()
            .and_then(RevokeReason::parse),
        leak: match opt_ts(row, "leaked_at")? {
            None => None,
            Some(at) => Some(Box::new(LeakNote {
                at,
                via: opt_s(row, "leak_via")?.unwrap_or_default(),
                url: opt_s(row, "leak_url")?,
            })),
        },
    })
}

fn federation(row: &DbRow) -> CoreResult<Option<Box<Federation>>> {
    let Some(policy) = opt_cs(row, "federated_policy_id")? else {
        return Ok(None);
    };
    let claims = opt_s(row, "federated_claims")?.unwrap_or_default();
    Ok(Some(Box::new(Federation {
        policy_id: TrustPolicyId::from(policy),
        issuer: opt_s(row, "federated_issuer")?.unwrap_or_default(),
        subject: opt_s(row, "federated_subject")?.unwrap_or_default(),
        claims: serde_json::from_str(&claims).unwrap_or_default(),
    })))
}

pub(super) fn trust_policy_row(row: &DbRow) -> CoreResult<TrustPolicyRecord> {
    let conditions: String = s(row, "conditions")?;
    let lifetime: i64 = row.try_get("token_lifetime_secs").map_err(db)?;
    let preset = opt_s(row, "preset")?;
    Ok(TrustPolicyRecord {
        id: cs(row, "id")?.into(),
        org_id: cs(row, "org_id")?.into(),
        org_slug: slug(row, "org_slug")?,
        app_id: cs(row, "app_id")?.into(),
        app_slug: slug(row, "app_slug")?,
        name: s(row, "name")?,
        rules: gantry_core::oidc::Rules {
            issuer: s(row, "issuer")?,
            audience: s(row, "audience")?,
            conditions: serde_json::from_str(&conditions)
                .map_err(|_| CoreError::internal("a trust policy's conditions do not parse"))?,
            preset: preset.as_deref().and_then(gantry_core::oidc::Preset::parse),
            allow_pull_request_target: row.try_get("allow_pull_request_target").map_err(db)?,
        },
        waived_immutable_ids: opt_s(row, "waived_reason")?,
        capabilities: gantry_core::policy::Capabilities::from_column(
            opt_s(row, "capabilities")?.as_deref(),
        ),
        token_lifetime: Duration::from_secs(u64::try_from(lifetime).unwrap_or(0)),
        created_by: actor(row, "created_by")?,
        created_at: ts(row, "created_at")?,
    })
}

pub(super) fn audit_row(row: &DbRow) -> CoreResult<AuditRecord> {
    let detail: String = s(row, "detail")?;
    Ok(AuditRecord {
        id: row.try_get("id").map_err(db)?,
        at: ts(row, "at")?,
        actor: actor(row, "actor")?,
        action: s(row, "action")?,
        target_type: opt_s(row, "target_type")?,
        target_id: opt_s(row, "target_id")?,
        org_id: opt_s(row, "org_id")?,
        org_slug: opt_s(row, "org_slug")?,
        app_id: opt_s(row, "app_id")?,
        app_slug: opt_s(row, "app_slug")?,
        ip: opt_s(row, "ip")?,
        outcome: s(row, "outcome")?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        event: None,
    })
}

pub(super) const TOKEN_SELECT: &str =
    "SELECT t.*, o.slug AS org_slug, a.slug AS app_slug, u.email AS user_email \
     FROM tokens t LEFT JOIN orgs o ON o.id = t.org_id LEFT JOIN apps a ON a.id = t.app_id \
     LEFT JOIN users u ON u.id = t.user_id";

pub(super) const TRUST_SELECT: &str =
    "SELECT p.*, o.slug AS org_slug, a.slug AS app_slug FROM trust_policies p \
     JOIN orgs o ON o.id = p.org_id JOIN apps a ON a.id = p.app_id";

pub(super) const ALERT_SELECT: &str =
    "SELECT al.*, o.slug AS org_slug, ap.slug AS app_slug FROM alerts al \
     JOIN orgs o ON o.id = al.org_id LEFT JOIN apps ap ON ap.id = al.app_id";

pub(super) const APP_SELECT: &str =
    "SELECT a.*, o.slug AS org_slug FROM apps a JOIN orgs o ON o.id = a.org_id";
