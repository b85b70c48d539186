//! gantry's rules, free of HTTP and SQL: the token format and its secret types, expiry and
//! instance policy, roles and the one permission check, the [`store::Store`] and
//! [`artifacts::ArtifactStore`] ports, and the domain services ([`service::Gantry`]) that the
//! HTTP API and the dashboard both call.

pub mod artifacts;
pub mod error;
pub mod events;
pub mod expiry;
pub mod failures;
pub mod ids;
pub mod metrics;
pub mod model;
pub mod oidc;
pub mod outbound;
pub mod password;
pub mod policy;
pub mod ratelimit;
pub mod sealing;
pub mod service;
pub mod store;
pub mod time;
pub mod token;
pub mod uploads;
pub mod usage;
pub mod validate;
pub mod webhooks;

pub use error::{AuthFailure, CoreError, CoreResult};
pub use policy::Principal;
pub use service::{Caller, Gantry};
