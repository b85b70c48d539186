//! Wire types of the gantry HTTP API: the request bodies, the views the server answers with,
//! and the error envelope. The server, the typed client, the CLI and the tests all share them,
//! so a field renamed here is renamed everywhere at once. No behaviour lives here.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A membership role, weakest first. Order matters: `Role::Operator < Role::Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
    Owner,
}

impl Role {
    /// The role's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }
}

// By hand rather than derived: serde_json reports a non-string where an enum is expected as a
// *syntax* error, which would turn `{"role": 3}` into "malformed JSON" instead of naming the field.
impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).ok_or_else(|| {
            serde::de::Error::unknown_variant(&s, &["viewer", "operator", "admin", "owner"])
        })
    }
}

/// The three kinds of token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Personal,
    Org,
    Deploy,
}

impl TokenKind {
    /// The kind's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Personal => "personal",
            TokenKind::Org => "org",
            TokenKind::Deploy => "deploy",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "personal" => Some(TokenKind::Personal),
            "org" => Some(TokenKind::Org),
            "deploy" => Some(TokenKind::Deploy),
            _ => None,
        }
    }
}

/// A token's status, computed when it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

/// The error envelope of every non-2xx answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and for people (`message`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `not_found`, `invalid_field`, `token_expired`.
    pub code: String,
    /// A sentence for humans. Never contains a secret.
    pub message: String,
    /// The offending request field, when the error is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Who did something: a user, a token, or the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ActorView {
    /// `user`, `token`, `trust_policy` (tokens issued by token exchange), `system` or
    /// `anonymous`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
    pub name: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Users and authentication

/// `POST /v1/auth/login`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Name of the personal token to create (default `gantry login`).
    #[serde(default)]
    pub token_name: Option<String>,
    /// The new token's lifetime, a duration such as `30d` (default: the instance default,
    /// 90 days). A password login is the credential that may give any lifetime the instance
    /// policy allows; a token can only make personal tokens that expire no later than itself.
    #[serde(default)]
    pub expires_in: Option<String>,
    /// `true` for a token that never expires (if the instance policy allows it).
    #[serde(default)]
    pub never_expires: Option<bool>,
}

/// A user as the API shows it. The password hash never leaves the server.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: String,
}

/// `POST /v1/users` (instance administrators).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub is_admin: Option<bool>,
}

/// `PATCH /v1/users/{id}` (instance administrators).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub is_admin: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `PUT /v1/user/password`: the caller changes their own password.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// `GET /v1/user`: who the caller is.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// `user` (session or personal token), `org` or `deploy`.
    pub kind: String,
    /// The user the request acts as, for sessions and personal tokens.
    pub user: Option<UserView>,
    /// The token that authenticated the request, if any.
    pub token: Option<TokenView>,
    /// The org an org or deploy token belongs to.
    pub org: Option<String>,
    /// The app a deploy token belongs to.
    pub app: Option<String>,
    /// The role an org token carries.
    pub role: Option<Role>,
}

// Secret-carrying types print their non-secret fields only: a stray `{:?}` in a log line must
// never leak a password, a secret env value or a raw token.
impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("token_name", &self.token_name)
            .field("expires_in", &self.expires_in)
            .field("never_expires", &self.never_expires)
            .finish()
    }
}

impl std::fmt::Debug for CreateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUserRequest")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .field("name", &self.name)
            .field("is_admin", &self.is_admin)
            .finish()
    }
}

impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePasswordRequest { <redacted> }")
    }
}

// ---------------------------------------------------------------------------------------------
// Orgs, members, apps

/// `POST /v1/orgs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    pub slug: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// An organization.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: String,
    /// The caller's role in this org, when the caller is a member or an org token.
    pub role: Option<Role>,
}

/// `PUT /v1/orgs/{org}/policy`: the org's token policy, replaced whole. It tightens the
/// instance's policy for the org's tokens (created or rotated), never loosens it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutOrgPolicyRequest {
    /// The longest lifetime of the org's tokens, a duration such as `30d` (at most the
    /// instance's).
    #[serde(default)]
    pub max_lifetime: Option<String>,
    /// Refuse tokens that never expire.
    #[serde(default)]
    pub require_expiry: Option<bool>,
    /// The networks new tokens of the org get by default and may not reach beyond.
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
}

/// An org's token policy, and the instance policy it tightens.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrgPolicyView {
    /// The org's own maximum lifetime (null: the instance's).
    pub max_lifetime: Option<String>,
    pub require_expiry: bool,
    /// Null: any address (unless a token names its own).
    pub allowed_ips: Option<Vec<String>>,
    /// What the org's tokens meet: the tighter of the org's and the instance's rules.
    pub effective: EffectiveTokenPolicy,
}

/// The token rules in force for an org: its policy over the instance's.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EffectiveTokenPolicy {
    /// Null: no maximum.
    pub max_lifetime: Option<String>,
    pub require_expiry: bool,
}

/// `PUT /v1/orgs/{org}/members/{user_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutMemberRequest {
    pub role: Role,
}

/// One membership of an org.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: String,
}

/// `POST /v1/orgs/{org}/apps`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppRequest {
    pub slug: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// An app: a deployment target inside one org.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AppView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub org: String,
    pub created_at: String,
}

// ---------------------------------------------------------------------------------------------
// Releases, env, config, alerts

/// One release (deploy) of an app.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseView {
    pub app: String,
    /// 1, 2, … per app.
    pub version: i64,
    pub label: Option<String>,
    pub message: Option<String>,
    /// Hex SHA-256 of the artifact bytes.
    pub artifact_sha256: String,
    pub artifact_size: i64,
    pub created_by: ActorView,
    pub created_at: String,
}

/// An environment variable. Secret values are write-only: `value` is null on read.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnvVarView {
    pub key: String,
    pub value: Option<String>,
    pub secret: bool,
    pub updated_at: String,
    pub updated_by: ActorView,
}

/// `PUT /v1/apps/{app}/env/{KEY}`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutEnvRequest {
    pub value: String,
    #[serde(default)]
    pub secret: Option<bool>,
}

impl std::fmt::Debug for PutEnvRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutEnvRequest")
            .field("value", &"<redacted>")
            .field("secret", &self.secret)
            .finish()
    }
}

/// `POST /v1/orgs/{org}/alerts`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAlertRequest {
    pub name: String,
    /// One event type (`token.created`, `token.rotated`, `token.revoked`, `token.expiring`,
    /// `token.expired`, `release.created`, `env.changed`, `config.changed`, `ping`) or one of
    /// the older names `deploy`, `env_change`, `config_change`, `token_expiring`,
    /// `token_revoked`. Give this or `events`.
    #[serde(default)]
    pub event: Option<String>,
    /// Several event types (at most 16), as for `event`.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Only this app's events (an app slug of the org).
    #[serde(default)]
    pub app: Option<String>,
    /// Where to deliver: an `https://` URL (a webhook, signed as Standard Webhooks v1;
    /// `http://` only for hosts inside `alerts.allow_networks`), or `mailto:` and 1–20
    /// comma-separated addresses (mail). No user name or password in the URL, and no literal
    /// loopback, private, link-local or other internal address unless the operator allows it.
    pub target: String,
}

/// `PATCH /v1/orgs/{org}/alerts/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAlertRequest {
    /// Turn the rule on or off (a `410 Gone` from its receiver turns it off).
    pub enabled: bool,
}

/// An org-level alert rule. Each matching event is recorded with its change and queued as a
/// delivery (`GET …/alerts/{id}/deliveries`), which every node's dispatcher sends: a signed
/// webhook, or a mail.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub id: String,
    pub org: String,
    pub name: String,
    /// The event name as first given.
    pub event: String,
    /// The event types the rule asks for, canonical.
    pub events: Vec<String>,
    /// The app it is narrowed to, if any.
    pub app: Option<String>,
    pub enabled: bool,
    /// The whole target for operators and up; scheme and host only for viewers.
    pub target: String,
    pub created_by: ActorView,
    pub created_at: String,
}

/// A webhook rule's signing secret, shown once: in the answer that creates the rule and in
/// the answer of `rotate-secret`, never again.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct AlertSecretView {
    #[serde(flatten)]
    pub alert: AlertView,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it (Standard Webhooks v1).
    /// Null for a mail rule.
    pub secret: Option<String>,
    /// After a rotation, until when the previous secret also signs (24 hours).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_valid_until: Option<String>,
}

impl std::fmt::Debug for AlertSecretView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSecretView")
            .field("alert", &self.alert)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One event on its way to one alert rule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    /// The event's id (`evt_…`), the `webhook-id` of every try.
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
}

// ---------------------------------------------------------------------------------------------
// Trust policies (keyless CI)

/// `POST /v1/apps/{app}/trust-policies`: which CI jobs may exchange their OIDC ID token for a
/// short-lived deploy token of the app.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTrustPolicyRequest {
    /// 1–100 characters.
    pub name: String,
    /// `github` or `gitlab`: selects the issuer and requires that CI system's immutable id
    /// claims as exact conditions.
    #[serde(default)]
    pub preset: Option<String>,
    /// The issuer URL (`iss`), exact. Required without a preset; with one it overrides the
    /// preset's (GitHub Enterprise Server, self-managed GitLab).
    #[serde(default)]
    pub issuer: Option<String>,
    /// The `aud` the ID token must carry. Default: the instance's `public_url`.
    #[serde(default)]
    pub audience: Option<String>,
    /// Claim → exact value, or a glob where `*` is any run of characters. At least one; at
    /// most 32. Not `iss`, `aud`, `exp`, `nbf`, `iat` or `jti`.
    #[serde(default)]
    pub conditions: std::collections::BTreeMap<String, String>,
    /// What issued tokens may do: `read`, `deploy`, `env`, `config`. Default: all four.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// How long an issued token lives: a duration, default `15m`, at most `1h`.
    #[serde(default)]
    pub token_lifetime: Option<String>,
    /// `false` waives the preset's immutable-id claims; then `reason` is required.
    #[serde(default)]
    pub require_immutable_ids: Option<bool>,
    #[serde(default)]
    pub reason: Option<String>,
    /// `github` preset: accept jobs run by `pull_request_target` (refused by default).
    #[serde(default)]
    pub allow_pull_request_target: Option<bool>,
}

/// A trust policy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustPolicyView {
    pub id: String,
    pub org: String,
    pub app: String,
    pub name: String,
    pub preset: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub conditions: std::collections::BTreeMap<String, String>,
    pub capabilities: Vec<String>,
    /// e.g. `15m`.
    pub token_lifetime: String,
    pub require_immutable_ids: bool,
    /// Why the immutable ids were waived.
    pub reason: Option<String>,
    pub allow_pull_request_target: bool,
    pub created_by: ActorView,
    pub created_at: String,
}

/// `POST /v1/apps/{app}/trust-policies/{id}/test`: a JWT to check against the policy.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustTestRequest {
    pub token: String,
}

impl std::fmt::Debug for TrustTestRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrustTestRequest { token: <redacted> }")
    }
}

/// One line of a policy's verdict on a JWT.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustCheckView {
    /// The claim (or `signature`, `header`).
    pub claim: String,
    /// What the policy asks.
    pub expected: String,
    /// What the token says (null: missing).
    pub actual: Option<String>,
    pub ok: bool,
}

/// Whether a JWT would be exchanged under the policy, and why, check by check. The signature
/// is checked when the issuer's keys can be fetched; `jti` reuse is not (testing spends no
/// token).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrustTestResult {
    pub matches: bool,
    pub checks: Vec<TrustCheckView>,
}

/// RFC 8693 answer of `POST /v1/oauth/token`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenExchangeResponse {
    /// A deploy token (`gtd_…`), shown once.
    pub access_token: String,
    /// `urn:ietf:params:oauth:token-type:access_token`.
    pub issued_token_type: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: i64,
}

impl std::fmt::Debug for TokenExchangeResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenExchangeResponse")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// Token creation, for all three kinds. At most one of `expires_in`, `expires_at` and
/// `never_expires` may be given; none means the default (90 days).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// Required, 1–100 characters.
    pub name: String,
    /// Optional, at most 1000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// A duration such as `90d`, `720h` or `175200h0m0s`.
    #[serde(default)]
    pub expires_in: Option<String>,
    /// An RFC 3339 instant in the future.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// `true` for a token that never expires (if the instance policy allows it).
    #[serde(default)]
    pub never_expires: Option<bool>,
    /// The role of an org token (required for org tokens, refused for the others).
    #[serde(default)]
    pub role: Option<Role>,
    /// Org and deploy tokens: what the token may do on an app, a subset of `read`, `deploy`,
    /// `env`, `config` (default: all that its creator may give).
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Deploy tokens: may rotate itself with `POST /v1/tokens/self/rotate` (so CI renews its
    /// own secret), and nothing else of token management.
    #[serde(default)]
    pub rotate_self: Option<bool>,
    /// Every kind: the networks (IPv4/IPv6 CIDRs, or single addresses) the token may be used
    /// from, at most 32; default: the org policy's, else the creating token's, else anywhere.
    #[serde(default)]
    pub allowed_ips: Option<Vec<String>>,
}

/// `PATCH /v1/tokens/{id}`: name and description only.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTokenRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// `POST /v1/tokens/{id}/rotate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateTokenRequest {
    /// A new lifetime; default: the same length as the original.
    #[serde(default)]
    pub expires_in: Option<String>,
    /// How long the old value keeps working (at most `7d`); default: it stops at once.
    #[serde(default)]
    pub grace_period: Option<String>,
    /// With a grace period: the old value also stops at the new value's first use, on any
    /// node, whichever comes first.
    #[serde(default)]
    pub until_first_use: Option<bool>,
}

/// A token as every response shows it. The raw value is never part of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub kind: TokenKind,
    pub name: String,
    pub description: Option<String>,
    /// The first 12 characters of the token, safe to show.
    pub prefix: String,
    pub status: TokenStatus,
    pub org: Option<String>,
    pub app: Option<String>,
    pub role: Option<Role>,
    /// The user a personal token belongs to.
    pub user: Option<String>,
    pub created_by: ActorView,
    pub created_at: String,
    /// Null: never expires.
    pub expires_at: Option<String>,
    /// The newest accepted use: exact to 10 s on the node that saw it, within about a minute
    /// on other nodes. Null: never used.
    pub last_used_at: Option<String>,
    /// The client address of that use.
    pub last_used_ip: Option<String>,
    pub rotated_at: Option<String>,
    pub revoked_at: Option<String>,
    /// Why it was revoked: `requested`, `oauth_revoke`, `leak_report`, `reused`,
    /// `app_deleted` or `trust_policy_deleted` (absent: not revoked, or revoked before gantry
    /// kept reasons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
    /// It was reported leaked (the latest report), whether or not that revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leak: Option<LeakView>,
    /// Org and deploy tokens: what the token may do on an app (`read`, `deploy`, `env`,
    /// `config`; all four unless narrowed). Absent for personal tokens (they act as their user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// A deploy token that may rotate itself (`POST /v1/tokens/self/rotate`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rotate_self: bool,
    /// The networks the token may be used from; absent: any address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<String>>,
    /// After a rotation with a grace period: until when the previous value still works
    /// (absent: it does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_until: Option<String>,
    /// With `grace_until`: the previous value also stops at the new value's first use.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grace_until_first_use: bool,
    /// Set on a deploy token issued by token exchange (keyless CI): where it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated: Option<FederatedView>,
}

/// A leak report on a token (DESIGN §9).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeakView {
    /// When it was reported.
    pub reported_at: String,
    /// How: `credentials_revoke` (the public endpoint, `gantry scan --revoke`) or
    /// `github_secret_scanning`.
    pub via: String,
    /// Where it was found, when the report said (GitHub's always does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The origin of a federated deploy token: the trust policy that accepted a CI job's ID
/// token, and who that job was.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FederatedView {
    /// The trust policy's id (`trp_…`).
    pub policy: String,
    pub issuer: String,
    pub subject: String,
    /// The run's claims (`repository`, `ref`, `run_id`…).
    pub claims: std::collections::BTreeMap<String, String>,
}

/// The answer to create and rotate: the only place the raw token ever appears.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenWithSecret {
    #[serde(flatten)]
    pub view: TokenView,
    /// The raw token. Shown once; store it now.
    pub token: String,
}

impl std::fmt::Debug for TokenWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenWithSecret")
            .field("view", &self.view)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The answer to revoke.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevokeResponse {
    /// True when the token had already been revoked before this call.
    pub already_revoked: bool,
    pub token: TokenView,
}

/// A page of items.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
}

// ---------------------------------------------------------------------------------------------
// Audit

/// One audit event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    pub at: String,
    pub actor: ActorView,
    /// e.g. `token.create`, `token.revoke`, `deploy.create`, `env.set`, `auth.failed`.
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub org: Option<String>,
    pub app: Option<String>,
    pub ip: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// `POST /v1/credentials/revoke`: values found somewhere they should not be (public; no
/// credential needed).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeCredentialsRequest {
    /// Raw values, at most 1000. Anything that is not a live gantry token is ignored.
    pub credentials: Vec<String>,
}

/// The answer to a leak report: the same whatever the values were.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevokeCredentialsResponse {
    /// How many values the report carried (not how many were tokens).
    pub received: usize,
}

/// One match in a GitHub secret scanning report (`POST /v1/secret-scanning/github`, a JSON
/// array of these, at most 1000): a value that looks like a gantry token, found in public.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct SecretScanningMatch {
    /// The raw value found.
    pub token: String,
    /// The secret type GitHub matched it as (the partner's pattern name).
    #[serde(default, rename = "type")]
    pub token_type: String,
    /// Where it was found (a commit's file, an issue, a gist…).
    #[serde(default)]
    pub url: Option<String>,
    /// What kind of place that is (`content`, `commit`, `issue_description`, `npm`…).
    #[serde(default)]
    pub source: Option<String>,
}

/// GitHub's feedback format, one per match, in the report's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretScanningLabel {
    /// The value, as reported.
    pub token_raw: String,
    /// The type, as reported.
    pub token_type: String,
    /// `true_positive`: a value gantry issued (live, expired, revoked or rotated away);
    /// `false_positive`: anything else.
    pub label: String,
}

// ---------------------------------------------------------------------------------------------
// OAuth: RFC 7662 introspection, RFC 7009 revocation

/// RFC 7662 §2.2 introspection answer. Inactive tokens are exactly `{"active": false}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct IntrospectionResponse {
    pub active: bool,
    /// Space-separated: `app:<slug>:deploy`, `org:<slug>:<role>`, or `user` (personal tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The token id (there are no OAuth clients; each token is its own client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user's email, for personal tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Always `bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry, seconds since the epoch (absent: never expires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Creation, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The user id (personal tokens) or the token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Always `gantry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// gantry extension: `personal`, `org` or `deploy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TokenKind>,
    /// gantry extension: the org slug (org and deploy tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// gantry extension: the app slug (deploy tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// gantry extension: the role (org tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// gantry extension: what an org or deploy token may do on an app (`read`, `deploy`,
    /// `env`, `config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// gantry extension: the networks the token may be used from. Such a token is active
    /// only when the request's `client_ip` is inside them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<String>>,
}

/// RFC 6749 §5.2 error, used by the OAuth endpoints.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `unsupported_token_type`, …
    pub error: String,
    pub error_description: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_secret_carrying_types_hides_the_secret() {
        let secret = "gtd_SUPERSECRETvalue0000000000000000000";
        let shown = [
            format!(
                "{:?}",
                LoginRequest {
                    email: "a@b.c".into(),
                    password: secret.into(),
                    token_name: None,
                    expires_in: None,
                    never_expires: None,
                }
            ),
            format!(
                "{:?}",
                CreateUserRequest {
                    email: "a@b.c".into(),
                    password: secret.into(),
                    name: None,
                    is_admin: None
                }
            ),
            format!(
                "{:?}",
                ChangePasswordRequest {
                    current_password: secret.into(),
                    new_password: secret.into()
                }
            ),
            format!(
                "{:?}",
                PutEnvRequest {
                    value: secret.into(),
                    secret: Some(true)
                }
            ),
        ];
        for s in &shown {
            assert!(!s.contains("SUPERSECRET"), "{s}");
        }
        let view = TokenView {
            id: "tok_1".into(),
            kind: TokenKind::Deploy,
            name: "n".into(),
            description: None,
            prefix: "gtd_SUPERSEC".into(),
            status: TokenStatus::Active,
            org: None,
            app: None,
            role: None,
            user: None,
            created_by: ActorView {
                kind: "user".into(),
                id: None,
                name: None,
            },
            created_at: String::new(),
            expires_at: None,
            last_used_at: None,
            last_used_ip: None,
            rotated_at: None,
            revoked_at: None,
            revoked_reason: None,
            leak: None,
            capabilities: None,
            rotate_self: false,
            allowed_ips: None,
            grace_until: None,
            grace_until_first_use: false,
            federated: None,
        };
        let with = TokenWithSecret {
            view,
            token: secret.into(),
        };
        assert!(!format!("{with:?}").contains("RETvalue"));
    }
}
