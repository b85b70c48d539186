//! Dashboard sessions: signing in with email and password (under the same limits as
//! `gantry login`), the cookie secret, its CSRF token, and signing out. A session acts as its
//! user with every right the user has, like a personal token; it lives until it expires or
//! the user signs out, and stops at once when the user is disabled.

use super::{AuditExt, Caller, Gantry};
use crate::error::{AuthFailure, CoreError, CoreResult};
use crate::model::{ActorRef, AuditRecord, SessionRecord};
use crate::policy::Principal;
use crate::token::TokenHash;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The secret a session cookie carries: 32 random bytes, hex. `Debug` does not show it.
pub struct SessionSecret(String);

impl SessionSecret {
    fn generate() -> SessionSecret {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        SessionSecret(hex::encode(bytes))
    }

    /// The value to put in the cookie.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(…)")
    }
}

/// What is stored for a session secret.
pub fn session_hash(secret: &str) -> TokenHash {
    TokenHash(Sha256::digest(secret.as_bytes()).into())
}

/// The CSRF token of the session holding `secret`: a hash only that session can know, so a
/// form posted from anywhere else cannot carry it. It needs no state of its own.
pub fn csrf_token(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"gantry dashboard csrf\0");
    h.update(secret.as_bytes());
    hex::encode(&h.finalize()[..20])
}

/// Compares two strings in time that depends only on their lengths.
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

impl Gantry {
    /// Signs in with email and password: a new session for the user, audited.
    pub async fn start_session(
        &self,
        email: &str,
        password_attempt: &str,
        ip: Option<&str>,
    ) -> CoreResult<(SessionSecret, SessionRecord)> {
        let user = self.password_login(email, password_attempt, ip).await?;
        let secret = SessionSecret::generate();
        let now = self.now();
        let session = SessionRecord {
            hash: session_hash(secret.expose_secret()),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now.plus(self.settings.session_ttl),
            ip: ip.map(str::to_owned),
        };
        let audit = self.session_audit(&user, "session.create", ip);
        self.store.insert_session(&session, &audit).await?;
        Ok((secret, session))
    }

    /// The caller a session cookie stands for: 401 when the session is unknown, has expired,
    /// or its user is disabled.
    pub async fn session_caller(&self, secret: &str, ip: Option<&str>) -> CoreResult<Caller> {
        let hash = session_hash(secret);
        let Some(session) = self.store.get_session(&hash).await? else {
            return Err(CoreError::Unauthenticated(AuthFailure::Unknown));
        };
        if session.expires_at <= self.now() {
            return Err(CoreError::Unauthenticated(AuthFailure::Expired {
                at: session.expires_at.to_rfc3339(),
                token_id: String::new(),
            }));
        }
        let Some(user) = self.store.get_user(&session.user_id).await? else {
            return Err(CoreError::Unauthenticated(AuthFailure::Unknown));
        };
        if user.disabled {
            return Err(CoreError::Unauthenticated(AuthFailure::UserDisabled));
        }
        Ok(Caller {
            principal: Principal::User { user, token: None },
            ip: ip.map(Into::into),
        })
    }

    /// Signs out: the session stops working on every node. Harmless when it already ended.
    pub async fn end_session(&self, secret: &str, ip: Option<&str>) -> CoreResult<()> {
        let hash = session_hash(secret);
        let Some(session) = self.store.get_session(&hash).await? else {
            return Ok(());
        };
        let Some(user) = self.store.get_user(&session.user_id).await? else {
            return Ok(());
        };
        let audit = self.session_audit(&user, "session.delete", ip);
        self.store.delete_session(&hash, &audit).await?;
        Ok(())
    }

    fn session_audit(
        &self,
        user: &crate::model::UserRecord,
        action: &str,
        ip: Option<&str>,
    ) -> AuditRecord {
        let actor = ActorRef::User {
            id: user.id.to_string(),
            name: user.email.clone(),
        };
        AuditRecord {
            ip: ip.map(str::to_owned),
            ..AuditRecord::new(self.now(), actor, action)
        }
        .target("user", &user.id)
        .detail("via", "dashboard")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_token_differs_per_session_and_is_stable() {
        let a = SessionSecret::generate();
        let b = SessionSecret::generate();
        assert_eq!(csrf_token(a.expose_secret()), csrf_token(a.expose_secret()));
        assert_ne!(csrf_token(a.expose_secret()), csrf_token(b.expose_secret()));
        assert_ne!(csrf_token(a.expose_secret()), a.expose_secret());
    }

    #[test]
    fn same_secret_compares_whole_values() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert!(!same_secret("", "a"));
    }

    #[test]
    fn secret_debug_hides_value() {
        let s = SessionSecret::generate();
        assert!(!format!("{s:?}").contains(s.expose_secret()));
    }
}
