//! The records the domain works with and the store persists.

pub use crate::ids::{AlertId, AppId, OrgId, Slug, TokenId, TrustPolicyId, UserId};
use crate::time::Timestamp;
use crate::token::TokenHash;
use gantry_api::{Role, TokenKind, TokenStatus};
use std::time::Duration;

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorRef {
    /// A user (by session or personal token).
    User { id: String, name: String },
    /// An org or deploy token.
    Token { id: String, name: String },
    /// A trust policy, for the tokens token exchange issues under it (keyless CI).
    TrustPolicy { id: String, name: String },
    /// gantry itself (first-run admin, offline commands).
    System,
    /// Someone who did not authenticate (failed logins and token checks).
    Anonymous,
}

impl ActorRef {
    /// `user`, `token`, `system` or `anonymous`.
    pub fn kind(&self) -> &'static str {
        match self {
            ActorRef::User { .. } => "user",
            ActorRef::Token { .. } => "token",
            ActorRef::TrustPolicy { .. } => "trust_policy",
            ActorRef::System => "system",
            ActorRef::Anonymous => "anonymous",
        }
    }

    /// The id, for users and tokens.
    pub fn id(&self) -> Option<&str> {
        match self {
            ActorRef::User { id, .. }
            | ActorRef::Token { id, .. }
            | ActorRef::TrustPolicy { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The display name, for users and tokens.
    pub fn name(&self) -> Option<&str> {
        match self {
            ActorRef::User { name, .. }
            | ActorRef::Token { name, .. }
            | ActorRef::TrustPolicy { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Rebuilds from stored columns.
    pub fn from_parts(kind: &str, id: Option<String>, name: Option<String>) -> ActorRef {
        match (kind, id) {
            ("user", Some(id)) => ActorRef::User {
                id,
                name: name.unwrap_or_default(),
            },
            ("token", Some(id)) => ActorRef::Token {
                id,
                name: name.unwrap_or_default(),
            },
            ("trust_policy", Some(id)) => ActorRef::TrustPolicy {
                id,
                name: name.unwrap_or_default(),
            },
            ("system", _) => ActorRef::System,
            _ => ActorRef::Anonymous,
        }
    }
}

/// A person. `Debug` leaves out the password hash.
#[derive(Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("is_admin", &self.is_admin)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A tenant.
#[derive(Debug, Clone)]
pub struct OrgRecord {
    pub id: OrgId,
    pub slug: Slug,
    pub name: String,
    pub created_at: Timestamp,
    /// What the org adds to the instance's token policy.
    pub policy: OrgPolicy,
}

/// An org's token policy (DESIGN §10, `GET/PUT /v1/orgs/{org}/policy`): it only ever tightens
/// the instance's (`crate::expiry::TokenPolicy::for_org`). The default adds nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgPolicy {
    /// The longest lifetime an org or deploy token of the org may get (created or rotated).
    pub max_lifetime: Option<Duration>,
    /// Refuse tokens that never expire.
    pub require_expiry: bool,
    /// The networks the org's new tokens get by default and may not reach beyond.
    pub allowed_ips: Option<crate::policy::Networks>,
}

/// (org, user, role), with the user's email and name for listings.
#[derive(Debug, Clone)]
pub struct MemberRecord {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
}

/// A deployment target.
#[derive(Debug, Clone)]
pub struct AppRecord {
    pub id: AppId,
    pub org_id: OrgId,
    pub org_slug: Slug,
    pub slug: Slug,
    pub name: String,
    pub created_at: Timestamp,
}

/// One deploy of an app.
#[derive(Debug, Clone)]
pub struct ReleaseRecord {
    pub app_id: AppId,
    pub version: i64,
    pub label: Option<String>,
    pub message: Option<String>,
    pub artifact_sha256: String,
    pub artifact_size: i64,
    pub created_by: ActorRef,
    pub created_at: Timestamp,
}

/// An env var.
#[derive(Debug, Clone)]
pub struct EnvVarRecord {
    pub app_id: AppId,
    pub key: String,
    pub value: String,
    pub secret: bool,
    pub updated_at: Timestamp,
    pub updated_by: ActorRef,
}

/// One version of an app's config document.
#[derive(Debug, Clone)]
pub struct ConfigRecord {
    pub app_id: AppId,
    pub version: i64,
    /// The JSON text exactly as stored.
    pub document: String,
    pub updated_at: Timestamp,
    pub updated_by: ActorRef,
}

/// An org-level alert rule.
#[derive(Debug, Clone)]
pub struct AlertRecord {
    pub id: AlertId,
    pub org_id: OrgId,
    pub org_slug: Slug,
    pub name: String,
    /// The event name as first given (kept for clients of the one-event form).
    pub event: String,
    /// The event types it asks for, canonical (`crate::events::EVENT_TYPES`).
    pub events: Vec<String>,
    /// Only this app's events, when set.
    pub app_id: Option<AppId>,
    pub app_slug: Option<Slug>,
    /// A disabled rule gets no deliveries.
    pub enabled: bool,
    pub target: String,
    pub created_by: ActorRef,
    pub created_at: Timestamp,
}

/// What a token acts on. Each kind carries exactly the ids it needs, so no check can meet
/// an impossible token (an org token without a role, a deploy token without an app); the
/// slugs and the email are read with the token, for showing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenScope {
    /// A user's personal token: acts as its user, whose roles are looked up live.
    Personal { user_id: UserId, user_email: String },
    /// An org token: its org, with the role chosen at creation.
    Org {
        org_id: OrgId,
        org_slug: Slug,
        role: Role,
    },
    /// A deploy token: deployment-level operations on one app.
    Deploy {
        org_id: OrgId,
        org_slug: Slug,
        app_id: AppId,
        app_slug: Slug,
    },
}

impl TokenScope {
    /// A deploy token's scope: `app` and its org.
    pub fn deploy(app: &AppRecord) -> TokenScope {
        TokenScope::Deploy {
            org_id: app.org_id.clone(),
            org_slug: app.org_slug.clone(),
            app_id: app.id.clone(),
            app_slug: app.slug.clone(),
        }
    }

    /// An org token's scope: `org`, acting as `role`.
    pub fn org(org: &OrgRecord, role: Role) -> TokenScope {
        TokenScope::Org {
            org_id: org.id.clone(),
            org_slug: org.slug.clone(),
            role,
        }
    }

    /// A personal token's scope: `user`.
    pub fn personal(user: &UserRecord) -> TokenScope {
        TokenScope::Personal {
            user_id: user.id.clone(),
            user_email: user.email.clone(),
        }
    }

    /// Rebuilds from stored columns; None for a combination no kind has.
    #[allow(clippy::too_many_arguments)] // one argument per stored column
    pub fn from_columns(
        kind: TokenKind,
        user_id: Option<UserId>,
        user_email: Option<String>,
        org_id: Option<OrgId>,
        org_slug: Option<Slug>,
        app_id: Option<AppId>,
        app_slug: Option<Slug>,
        role: Option<Role>,
    ) -> Option<TokenScope> {
        Some(match kind {
            TokenKind::Personal => TokenScope::Personal {
                user_id: user_id?,
                user_email: user_email?,
            },
            TokenKind::Org => TokenScope::Org {
                org_id: org_id?,
                org_slug: org_slug?,
                role: role?,
            },
            TokenKind::Deploy => TokenScope::Deploy {
                org_id: org_id?,
                org_slug: org_slug?,
                app_id: app_id?,
                app_slug: app_slug?,
            },
        })
    }

    pub fn kind(&self) -> TokenKind {
        match self {
            TokenScope::Personal { .. } => TokenKind::Personal,
            TokenScope::Org { .. } => TokenKind::Org,
            TokenScope::Deploy { .. } => TokenKind::Deploy,
        }
    }

    /// Org and deploy tokens: their org.
    pub fn org_id(&self) -> Option<&OrgId> {
        match self {
            TokenScope::Org { org_id, .. } | TokenScope::Deploy { org_id, .. } => Some(org_id),
            TokenScope::Personal { .. } => None,
        }
    }

    pub fn org_slug(&self) -> Option<&Slug> {
        match self {
            TokenScope::Org { org_slug, .. } | TokenScope::Deploy { org_slug, .. } => {
                Some(org_slug)
            }
            TokenScope::Personal { .. } => None,
        }
    }

    /// Deploy tokens: their app.
    pub fn app_id(&self) -> Option<&AppId> {
        match self {
            TokenScope::Deploy { app_id, .. } => Some(app_id),
            _ => None,
        }
    }

    pub fn app_slug(&self) -> Option<&Slug> {
        match self {
            TokenScope::Deploy { app_slug, .. } => Some(app_slug),
            _ => None,
        }
    }

    /// Org tokens: the role they act with.
    pub fn role(&self) -> Option<Role> {
        match self {
            TokenScope::Org { role, .. } => Some(*role),
            _ => None,
        }
    }

    /// Personal tokens: the owner.
    pub fn user_id(&self) -> Option<&UserId> {
        match self {
            TokenScope::Personal { user_id, .. } => Some(user_id),
            _ => None,
        }
    }

    /// Personal tokens: the owner's email.
    pub fn user_email(&self) -> Option<&str> {
        match self {
            TokenScope::Personal { user_email, .. } => Some(user_email),
            _ => None,
        }
    }
}

/// A token as stored: its hash, never its value.
///
/// Laid out for verification, which reads a cached record per request (with 100,000 tokens
/// in use, each cache line of it touched is likely a CPU cache miss): the fields every check
/// reads come first, in declaration order (`repr(C)`), and the ids and slugs among them
/// (`crate::ids`) are `CompactString`s inside, held inline when short (every id gantry makes,
/// most slugs) instead of behind a pointer each.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct TokenRecord {
    pub hash: TokenHash,
    pub revoked_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    /// This node's last noted use of this (cached) record; not stored.
    pub noted: crate::usage::Noted,
    pub id: TokenId,
    /// Its kind and what it acts on.
    pub scope: TokenScope,
    /// What an org or deploy token may do on an app (all, unless narrowed at creation).
    pub capabilities: crate::policy::Capabilities,
    /// The networks it may be used from (None: any address).
    pub allowed_ips: Option<crate::policy::Networks>,
    /// The value before the last rotation, honoured until `prev_expires_at` (grace period).
    pub prev_hash: Option<TokenHash>,
    pub prev_expires_at: Option<Timestamp>,
    /// The previous value also ends at the new value's first use (`until_first_use`).
    pub prev_until_first_use: bool,
    pub name: String,
    pub description: Option<String>,
    pub prefix: String,
    pub created_by: ActorRef,
    pub created_at: Timestamp,
    /// The length a rotation renews the token by (None: never expires).
    pub lifetime: Option<Duration>,
    pub last_used_at: Option<Timestamp>,
    pub last_used_ip: Option<String>,
    pub rotated_at: Option<Timestamp>,
    /// Issued by token exchange: its trust policy and CI identity (deploy tokens only).
    pub federated: Option<Box<Federation>>,
    /// A deploy token that may rotate itself (`POST /v1/tokens/self/rotate`).
    pub rotate_self: bool,
    /// Why it was revoked (None: not revoked, or revoked before reasons were kept).
    pub revoked_reason: Option<RevokeReason>,
    /// It was reported leaked (DESIGN §9): when, how, where it was found.
    pub leak: Option<Box<LeakNote>>,
}

/// Why a token was revoked, as the token view and the dashboard say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// By someone who holds rights over it (`DELETE /v1/tokens/{id}`, the dashboard).
    Requested,
    /// RFC 7009 (`POST /v1/oauth/revoke`), by its holder.
    OAuthRevoke,
    /// Reported leaked (`POST /v1/credentials/revoke`, GitHub secret scanning).
    LeakReport,
    /// A value rotated away from it was presented again (`tokens.revoke_on_reuse`).
    Reused,
    /// Its app was deleted.
    AppDeleted,
    /// The trust policy that issued it was deleted.
    TrustPolicyDeleted,
}

impl RevokeReason {
    const ALL: [RevokeReason; 6] = [
        RevokeReason::Requested,
        RevokeReason::OAuthRevoke,
        RevokeReason::LeakReport,
        RevokeReason::Reused,
        RevokeReason::AppDeleted,
        RevokeReason::TrustPolicyDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Requested => "requested",
            RevokeReason::OAuthRevoke => "oauth_revoke",
            RevokeReason::LeakReport => "leak_report",
            RevokeReason::Reused => "reused",
            RevokeReason::AppDeleted => "app_deleted",
            RevokeReason::TrustPolicyDeleted => "trust_policy_deleted",
        }
    }

    /// The stored name; an unknown one (a newer version's) reads as none.
    pub fn parse(s: &str) -> Option<RevokeReason> {
        RevokeReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A leak report on a token: kept on it (and shown) whether or not it was revoked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakNote {
    /// When it was reported (the latest report).
    pub at: Timestamp,
    /// `credentials_revoke` or `github_secret_scanning`.
    pub via: String,
    /// Where it was found, when the reporter said (GitHub's report always does).
    pub url: Option<String>,
}

impl TokenRecord {
    /// A token as created: no description, never expiring, used, rotated or revoked (the
    /// caller sets what differs).
    pub fn new(
        id: TokenId,
        scope: TokenScope,
        name: String,
        plain: &crate::token::PlainToken,
        created_by: ActorRef,
        created_at: Timestamp,
    ) -> TokenRecord {
        TokenRecord {
            hash: plain.hash(),
            revoked_at: None,
            expires_at: None,
            noted: Default::default(),
            id,
            scope,
            capabilities: crate::policy::Capabilities::ALL,
            allowed_ips: None,
            prev_hash: None,
            prev_expires_at: None,
            prev_until_first_use: false,
            name,
            description: None,
            prefix: plain.display_prefix().to_owned(),
            created_by,
            created_at,
            lifetime: None,
            last_used_at: None,
            last_used_ip: None,
            rotated_at: None,
            federated: None,
            rotate_self: false,
            revoked_reason: None,
            leak: None,
        }
    }

    pub fn kind(&self) -> TokenKind {
        self.scope.kind()
    }

    /// Status at `now`: revoked wins over expired.
    pub fn status(&self, now: Timestamp) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }
}

/// A dashboard session: the SHA-256 of its cookie secret, never the secret.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub hash: crate::token::TokenHash,
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub ip: Option<String>,
}

/// An append-only audit record.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// Assigned by the store.
    pub id: i64,
    pub at: Timestamp,
    pub actor: ActorRef,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub org_id: Option<String>,
    pub org_slug: Option<String>,
    pub app_id: Option<String>,
    pub app_slug: Option<String>,
    pub ip: Option<String>,
    pub outcome: String,
    pub detail: serde_json::Value,
    /// The event this change publishes, written with it (never stored in the audit log).
    pub event: Option<crate::events::NewEvent>,
}

impl AuditRecord {
    /// A successful `action` by `actor` at `at`, with no target, scope or address yet and an
    /// empty detail object (the services' builder, `AuditExt`, fills them in).
    pub fn new(at: Timestamp, actor: ActorRef, action: &str) -> AuditRecord {
        AuditRecord {
            id: 0,
            at,
            actor,
            action: action.to_owned(),
            target_type: None,
            target_id: None,
            org_id: None,
            org_slug: None,
            app_id: None,
            app_slug: None,
            ip: None,
            outcome: "success".to_owned(),
            detail: serde_json::Value::Object(serde_json::Map::new()),
            event: None,
        }
    }
}

/// Where a federated deploy token came from: the trust policy, and the CI identity that
/// exchanged its ID token for it (DESIGN §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Federation {
    pub policy_id: TrustPolicyId,
    pub issuer: String,
    pub subject: String,
    /// The run's claims (`repository`, `ref`, `run_id`…), as text.
    pub claims: std::collections::BTreeMap<String, String>,
}

/// An app's trust in a CI identity: which ID tokens may be exchanged for a deploy token of it.
#[derive(Debug, Clone)]
pub struct TrustPolicyRecord {
    pub id: TrustPolicyId,
    pub org_id: OrgId,
    pub org_slug: Slug,
    pub app_id: AppId,
    pub app_slug: Slug,
    pub name: String,
    pub rules: crate::oidc::Rules,
    /// Set when the policy waived the preset's immutable ids, with the reason given.
    pub waived_immutable_ids: Option<String>,
    /// What the tokens it issues may do on the app.
    pub capabilities: crate::policy::Capabilities,
    /// How long an issued token lives.
    pub token_lifetime: Duration,
    pub created_by: ActorRef,
    pub created_at: Timestamp,
}
