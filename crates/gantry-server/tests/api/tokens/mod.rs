//! Tokens by feature: each file one part of their lifecycle (DESIGN §2).

mod authentication;
mod capabilities;
mod ceilings;
mod escalation;
mod org_roles;
mod policy;
mod restrictions;
mod revocation;
mod rotation;
