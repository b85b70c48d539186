//! The SQL stores. One implementation (`common.rs`) compiled for two backends:
//!
//! - [`sqlite`]: the embedded default. One writer connection (SQLite allows one writer at a
//!   time; queuing in the pool beats `SQLITE_BUSY` retries) and read-only readers over WAL,
//!   with `synchronous=FULL` so a 2xx means the write survives power loss.
//! - [`postgres`]: several stateless nodes on one database. Writers serialise on a
//!   transaction-scoped advisory lock; writes that change what a node may have cached publish
//!   [`Key`]s into the `invalidations` log in the same transaction (see `crate::coherence`).
//!
//! Each backend keeps its own `migrations/<backend>/`, applied on open (PostgreSQL's under
//! sqlx's migration advisory lock, so nodes starting together do not race).

pub mod postgres;
pub mod sqlite;

use gantry_core::token::TokenHash;
use gantry_core::CoreError;

/// A database error the domain cannot act on: Internal (500), with the driver's message.
pub(crate) fn db(e: sqlx::Error) -> CoreError {
    CoreError::Internal(format!("database: {e}"))
}

/// A cache entry another node must drop after a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A token lookup by this hash (current or pre-rotation).
    Token(TokenHash),
    /// Every token lookup (a write that touched many tokens at once).
    AllTokens,
    User(String),
    /// (org id, user id).
    Member(String, String),
    /// (app id, slug).
    App(String, String),
    /// (org id, slug).
    Org(String, String),
}

impl Key {
    /// One line of text (ids and slugs never contain spaces or newlines).
    pub fn encode(&self) -> String {
        match self {
            Key::Token(h) => format!("t {}", hex::encode(h.0)),
            Key::AllTokens => "T".to_owned(),
            Key::User(id) => format!("u {id}"),
            Key::Member(org, user) => format!("m {org} {user}"),
            Key::App(id, slug) => format!("a {id} {slug}"),
            Key::Org(id, slug) => format!("o {id} {slug}"),
        }
    }

    /// The keys of a published entry, or None when any line is unreadable (the caller then
    /// clears everything).
    pub fn decode_all(text: &str) -> Option<Vec<Key>> {
        text.lines().map(Key::decode).collect()
    }

    fn decode(line: &str) -> Option<Key> {
        let mut parts = line.split(' ');
        let key = match (parts.next()?, parts.next(), parts.next()) {
            ("t", Some(h), None) => Key::Token(TokenHash::from_slice(&hex::decode(h).ok()?)?),
            ("T", None, None) => Key::AllTokens,
            ("u", Some(id), None) => Key::User(id.to_owned()),
            ("m", Some(org), Some(user)) => Key::Member(org.to_owned(), user.to_owned()),
            ("a", Some(id), Some(slug)) => Key::App(id.to_owned(), slug.to_owned()),
            ("o", Some(id), Some(slug)) => Key::Org(id.to_owned(), slug.to_owned()),
            _ => return None,
        };
        parts.next().is_none().then_some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_text() {
        let keys = vec![
            Key::Token(TokenHash([7; 32])),
            Key::AllTokens,
            Key::User("usr_1".into()),
            Key::Member("org_1".into(), "usr_2".into()),
            Key::App("app_1".into(), "web".into()),
            Key::Org("org_1".into(), "acme".into()),
        ];
        let text: Vec<String> = keys.iter().map(Key::encode).collect();
        assert_eq!(Key::decode_all(&text.join("\n")), Some(keys));
    }

    #[test]
    fn unreadable_keys_are_refused_whole() {
        assert_eq!(Key::decode_all("u a b"), None);
        assert_eq!(Key::decode_all("t nothex"), None);
        assert_eq!(Key::decode_all("x"), None);
    }
}

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
/// everyone in again.
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
];

/// The columns of `table`, if it is one an export carries.
pub(crate) fn columns(table: &str) -> Option<&'static [(&'static str, Col)]> {
    TABLES.iter().find(|(t, _)| *t == table).map(|(_, c)| *c)
}
