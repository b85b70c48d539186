//! Opaque, prefixed identifiers (`usr_…`, `org_…`, `app_…`, `tok_…`, `alr_…`), and the id and
//! slug types the records and the `Store` signatures use, so that one kind of id cannot be
//! passed where another is wanted:
//!
//! ```compile_fail
//! use gantry_core::ids::{OrgId, UserId};
//! fn get_member_role(org: &OrgId, user: &UserId) {}
//! let (org, user) = (OrgId::generate(), UserId::generate());
//! get_member_role(&user, &org); // swapped: refused by the compiler
//! ```
//!
//! ```
//! use gantry_core::ids::{OrgId, UserId};
//! fn get_member_role(org: &OrgId, user: &UserId) {}
//! let (org, user) = (OrgId::generate(), UserId::generate());
//! get_member_role(&org, &user);
//! ```

use rand::rngs::OsRng;
use rand::Rng;

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A new random id with `prefix` (e.g. `"tok"`): 16 base36 characters, ~82 bits.
pub fn new_id(prefix: &str) -> String {
    let mut rng = OsRng;
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    id.push('_');
    for _ in 0..16 {
        id.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
    }
    id
}

/// Defines an id (or slug) newtype over an inline string: distinct types, so a user id cannot
/// be passed where an org id is wanted, with everything read-only a `&str` offers.
macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(compact_str::CompactString);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self.0.as_str(), f)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0.into()
            }
        }
    };
}

/// Defines an id newtype: made fresh by `generate`, or taken as text (stored, or sent by a
/// client: it may then name nothing).
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        text_newtype!($(#[$doc])* $name);

        impl $name {
            /// A new random id (`
            #[doc = $prefix]
            /// _…`).
            pub fn generate() -> $name {
                $name(new_id($prefix).into())
            }

            /// A fixed id (tests, fixtures).
            pub const fn from_static(s: &'static str) -> $name {
                $name(compact_str::CompactString::const_new(s))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name(s.into())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> $name {
                $name(s.into())
            }
        }

        impl From<compact_str::CompactString> for $name {
            fn from(s: compact_str::CompactString) -> $name {
                $name(s)
            }
        }
    };
}

id_type!(
    /// A user's id (`usr_…`).
    UserId,
    "usr"
);
id_type!(
    /// An org's id (`org_…`).
    OrgId,
    "org"
);
id_type!(
    /// An app's id (`app_…`).
    AppId,
    "app"
);
id_type!(
    /// A token's id (`tok_…`).
    TokenId,
    "tok"
);
id_type!(
    /// An alert rule's id (`alr_…`).
    AlertId,
    "alr"
);

text_newtype!(
    /// An org or app slug. A valid one comes from [`crate::validate::slug`] (creation); one
    /// read back from the store is one that was; one a client names in a path is only looked
    /// up ([`Slug::named`]): it may name nothing.
    Slug
);

impl Slug {
    /// A slug as stored: it was valid when it was written.
    pub fn stored(s: impl Into<compact_str::CompactString>) -> Slug {
        Slug(s.into())
    }

    /// A slug a client names, to look up (not to create with): it may name nothing.
    pub fn named(s: &str) -> Slug {
        Slug(s.into())
    }

    /// Checked by `validate::slug` only.
    pub(crate) fn checked(s: &str) -> Slug {
        Slug(s.into())
    }
}

id_type!(
    /// A trust policy's id (`trp_…`).
    TrustPolicyId,
    "trp"
);
