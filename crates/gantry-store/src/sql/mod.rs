//! The SQL stores. One implementation (`common/`, a file per domain) compiled for
//! two backends:
//!
//! - [`sqlite`]: the embedded default. One writer connection (SQLite allows one writer at a
//!   time; queuing in the pool beats `SQLITE_BUSY` retries) and read-only readers over WAL,
//!   with `synchronous=NORMAL` plus a group-commit WAL fsync before any write answers
//!   (`sqlite.rs`), so a 2xx means the write survives power loss.
//! - [`postgres`]: several stateless nodes on one database. Writers serialise on a
//!   transaction-scoped advisory lock; writes that change what a node may have cached publish
//!   [`Key`]s into the `invalidations` log in the same transaction (see `crate::coherence`).
//!
//! Each backend keeps its own `migrations/<backend>/`, applied on open (PostgreSQL's under
//! sqlx's migration advisory lock, so nodes starting together do not race).

pub mod postgres;
#[cfg(test)]
mod scope_tests;
pub mod sqlite;

use gantry_core::CoreError;

/// A database error the domain cannot act on: Internal (500), with the driver's message.
pub(crate) fn db(e: sqlx::Error) -> CoreError {
    CoreError::caused("database", e)
}

/// The cache keys a write invalidates (defined in the core: every `Store` write returns them).
pub use gantry_core::store::CacheKey as Key;

/// How a column is carried in an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    Text,
    Int,
    Bool,
    /// Hex in the export.
    Bytes,
}

use Col::{Bool, Bytes, Int, Text};

/// Every table `gantry export` carries, in an order that satisfies foreign keys, with its
/// columns. The coherence and artifact tables are not data: they are rebuilt by the target.
/// Dashboard sessions are left out too: they are short-lived, and a moved instance signs
/// everyone in again; so is the key check: the first node on the target writes its own.
pub(crate) const TABLES: &[(&str, &[(&str, Col)])] = &[
    (
        "users",
        &[
            ("id", Text),
            ("email", Text),
            ("name", Text),
            ("password_hash", Text),
            ("is_admin", Bool),
            ("disabled", Bool),
            ("created_at", Int),
        ],
    ),
    (
        "orgs",
        &[
            ("id", Text),
            ("slug", Text),
            ("name", Text),
            ("created_at", Int),
            ("policy_max_lifetime_secs", Int),
            ("policy_require_expiry", Bool),
            ("policy_allowed_ips", Text),
        ],
    ),
    (
        "memberships",
        &[
            ("org_id", Text),
            ("user_id", Text),
            ("role", Text),
            ("created_at", Int),
        ],
    ),
    (
        "apps",
        &[
            ("id", Text),
            ("org_id", Text),
            ("slug", Text),
            ("name", Text),
            ("created_at", Int),
            ("deleted_at", Int),
        ],
    ),
    (
        "releases",
        &[
            ("app_id", Text),
            ("version", Int),
            ("label", Text),
            ("message", Text),
            ("artifact_sha256", Text),
            ("artifact_size", Int),
            ("created_by_type", Text),
            ("created_by_id", Text),
            ("created_by_name", Text),
            ("created_at", Int),
        ],
    ),
    (
        "env_vars",
        &[
            ("app_id", Text),
            ("key", Text),
            ("value", Text),
            ("secret", Bool),
            ("updated_at", Int),
            ("updated_by_type", Text),
            ("updated_by_id", Text),
            ("updated_by_name", Text),
        ],
    ),
    (
        "configs",
        &[
            ("app_id", Text),
            ("version", Int),
            ("document", Text),
            ("updated_at", Int),
            ("updated_by_type", Text),
            ("updated_by_id", Text),
            ("updated_by_name", Text),
        ],
    ),
    (
        "alerts",
        &[
            ("id", Text),
            ("org_id", Text),
            ("name", Text),
            ("event", Text),
            ("target", Text),
            ("created_by_type", Text),
            ("created_by_id", Text),
            ("created_by_name", Text),
            ("created_at", Int),
            ("events", Text),
            ("app_id", Text),
            ("enabled", Bool),
            ("secret", Text),
            ("previous_secret", Text),
            ("previous_secret_until", Int),
        ],
    ),
    (
        "tokens",
        &[
            ("id", Text),
            ("kind", Text),
            ("name", Text),
            ("description", Text),
            ("prefix", Text),
            ("hash", Bytes),
            ("prev_hash", Bytes),
            ("prev_expires_at", Int),
            ("user_id", Text),
            ("org_id", Text),
            ("app_id", Text),
            ("role", Text),
            ("created_by_type", Text),
            ("created_by_id", Text),
            ("created_by_name", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("lifetime_secs", Int),
            ("last_used_at", Int),
            ("last_used_ip", Text),
            ("rotated_at", Int),
            ("revoked_at", Int),
            ("federated_policy_id", Text),
            ("federated_issuer", Text),
            ("federated_subject", Text),
            ("federated_claims", Text),
            ("capabilities", Text),
            ("rotate_self", Bool),
            ("allowed_ips", Text),
            ("prev_until_first_use", Bool),
            ("revoked_reason", Text),
            ("leaked_at", Int),
            ("leak_via", Text),
            ("leak_url", Text),
        ],
    ),
    (
        "trust_policies",
        &[
            ("id", Text),
            ("org_id", Text),
            ("app_id", Text),
            ("name", Text),
            ("preset", Text),
            ("issuer", Text),
            ("audience", Text),
            ("conditions", Text),
            ("token_lifetime_secs", Int),
            ("waived_reason", Text),
            ("allow_pull_request_target", Bool),
            ("created_by_type", Text),
            ("created_by_id", Text),
            ("created_by_name", Text),
            ("created_at", Int),
            ("capabilities", Text),
        ],
    ),
    (
        "used_jtis",
        &[("issuer", Text), ("jti", Text), ("expires_at", Int)],
    ),
    (
        "retired_values",
        &[
            ("hash", Bytes),
            ("token_id", Text),
            ("rotated_at", Int),
            ("usable_until", Int),
            ("reported_at", Int),
        ],
    ),
    (
        "audit_events",
        &[
            ("id", Int),
            ("at", Int),
            ("actor_type", Text),
            ("actor_id", Text),
            ("actor_name", Text),
            ("action", Text),
            ("target_type", Text),
            ("target_id", Text),
            ("org_id", Text),
            ("org_slug", Text),
            ("app_id", Text),
            ("app_slug", Text),
            ("ip", Text),
            ("outcome", Text),
            ("detail", Text),
        ],
    ),
    (
        "events",
        &[
            ("id", Text),
            ("type", Text),
            ("org_id", Text),
            ("app_id", Text),
            ("at", Int),
            ("data", Text),
        ],
    ),
    (
        "deliveries",
        &[
            ("id", Text),
            ("event_id", Text),
            ("alert_id", Text),
            ("state", Text),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("last_status", Int),
            ("last_error", Text),
            ("created_at", Int),
            ("recipients", Text),
            ("claim", Text),
            ("claimed_until", Int),
        ],
    ),
    (
        "expiry_notices",
        &[
            ("token_id", Text),
            ("expires_at", Int),
            ("threshold", Int),
            ("at", Int),
        ],
    ),
];

/// The columns of `table`, if it is one an export carries.
pub(crate) fn columns(table: &str) -> Option<&'static [(&'static str, Col)]> {
    TABLES.iter().find(|(t, _)| *t == table).map(|(_, c)| *c)
}
