//! The records the domain works with and the store persists.

use crate::time::Timestamp;
use crate::token::TokenHash;
use compact_str::CompactString;
use gantry_api::{Role, TokenKind, TokenStatus};
use std::time::Duration;

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorRef {
    /// A user (by session or personal token).
    User { id: String, name: String },
    /// An org or deploy token.
    Token { id: String, name: String },
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
            ActorRef::System => "system",
            ActorRef::Anonymous => "anonymous",
        }
    }

    /// The id, for users and tokens.
    pub fn id(&self) -> Option<&str> {
        match self {
            ActorRef::User { id, .. } | ActorRef::Token { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The display name, for users and tokens.
    pub fn name(&self) -> Option<&str> {
        match self {
            ActorRef::User { name, .. } | ActorRef::Token { name, .. } => Some(name),
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
            ("system", _) => ActorRef::System,
            _ => ActorRef::Anonymous,
        }
    }
}

/// A person. `Debug` leaves out the password hash.
#[derive(Clone)]
pub struct UserRecord {
    pub id: String,
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
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: Timestamp,
}

/// (org, user, role), with the user's email and name for listings.
#[derive(Debug, Clone)]
pub struct MemberRecord {
    pub org_id: String,
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
}

/// A deployment target.
#[derive(Debug, Clone)]
pub struct AppRecord {
    pub id: String,
    pub org_id: String,
    pub org_slug: String,
    pub slug: String,
    pub name: String,
    pub created_at: Timestamp,
}

/// One deploy of an app.
#[derive(Debug, Clone)]
pub struct ReleaseRecord {
    pub app_id: String,
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
    pub app_id: String,
    pub key: String,
    pub value: String,
    pub secret: bool,
    pub updated_at: Timestamp,
    pub updated_by: ActorRef,
}

/// One version of an app's config document.
#[derive(Debug, Clone)]
pub struct ConfigRecord {
    pub app_id: String,
    pub version: i64,
    /// The JSON text exactly as stored.
    pub document: String,
    pub updated_at: Timestamp,
    pub updated_by: ActorRef,
}

/// An org-level alert rule.
#[derive(Debug, Clone)]
pub struct AlertRecord {
    pub id: String,
    pub org_id: String,
    pub org_slug: String,
    pub name: String,
    pub event: String,
    pub target: String,
    pub created_by: ActorRef,
    pub created_at: Timestamp,
}

/// A token as stored: its hash, never its value.
///
/// Laid out for verification, which reads a cached record per request (with 100,000 tokens
/// in use, each cache line of it touched is likely a CPU cache miss): the fields every check
/// reads come first, in declaration order (`repr(C)`), and the ids and slugs among them are
/// [`CompactString`]s, held inline when short (every id gantry makes, most slugs) instead of
/// behind a pointer each.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct TokenRecord {
    pub hash: TokenHash,
    pub revoked_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    /// This node's last noted use of this (cached) record; not stored.
    pub noted: crate::usage::Noted,
    pub kind: TokenKind,
    /// Org tokens: the role they act with.
    pub role: Option<Role>,
    pub id: CompactString,
    /// Org and deploy tokens: their org.
    pub org_id: Option<CompactString>,
    /// Deploy tokens: their app.
    pub app_id: Option<CompactString>,
    /// Personal tokens: the owner.
    pub user_id: Option<CompactString>,
    pub org_slug: Option<CompactString>,
    pub app_slug: Option<CompactString>,
    /// The value before the last rotation, honoured until `prev_expires_at` (grace period).
    pub prev_hash: Option<TokenHash>,
    pub prev_expires_at: Option<Timestamp>,
    pub name: String,
    pub description: Option<String>,
    pub prefix: String,
    pub user_email: Option<String>,
    pub created_by: ActorRef,
    pub created_at: Timestamp,
    /// The length a rotation renews the token by (None: never expires).
    pub lifetime: Option<Duration>,
    pub last_used_at: Option<Timestamp>,
    pub last_used_ip: Option<String>,
    pub rotated_at: Option<Timestamp>,
}

impl TokenRecord {
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
    pub user_id: String,
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
        }
    }
}
