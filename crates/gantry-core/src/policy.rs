//! Who may do what: the one place permissions are decided (DESIGN §1's capability table).
//! Services call [`check`]; handlers and templates never re-derive a rule.

use crate::model::{AppId, OrgId, TokenRecord, TokenScope, UserRecord};
use gantry_api::{Role, TokenKind};
use std::sync::Arc;

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A user, through a session or a personal token (`token` is then Some). Roles are looked
    /// up live on every request, so a removed membership takes effect at once.
    User {
        user: UserRecord,
        token: Option<Arc<TokenRecord>>,
    },
    /// An org token: its org, with the role chosen at creation.
    Org {
        token: Arc<TokenRecord>,
        /// Ids are short enough to be held inline: building a principal allocates nothing.
        org_id: OrgId,
        role: Role,
    },
    /// A deploy token: deployment-level operations on one app.
    Deploy {
        token: Arc<TokenRecord>,
        org_id: OrgId,
        app_id: AppId,
    },
}

impl Principal {
    /// The token that authenticated the request, if one did.
    pub fn token(&self) -> Option<&TokenRecord> {
        match self {
            Principal::User { token, .. } => token.as_deref(),
            Principal::Org { token, .. } | Principal::Deploy { token, .. } => Some(token),
        }
    }

    /// The user the request acts as (sessions and personal tokens).
    pub fn user(&self) -> Option<&UserRecord> {
        match self {
            Principal::User { user, .. } => Some(user),
            _ => None,
        }
    }

    /// Whether this caller is an instance administrator.
    pub fn is_instance_admin(&self) -> bool {
        self.user().is_some_and(|u| u.is_admin)
    }
}

/// Something a caller may want to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Read the org itself.
    ReadOrg,
    /// Read org-wide lists: members, alert rules.
    ReadOrgDetails,
    /// Read an app, its releases, config and env (secrets masked).
    ReadApp,
    /// Push a release.
    Deploy,
    /// Set and remove env vars.
    WriteEnv,
    /// Write the config document.
    WriteConfig,
    /// Create apps.
    CreateApp,
    /// Write alert rules.
    WriteAlerts,
    /// See alert rules' whole targets (viewers see scheme and host: webhook URLs are often
    /// credentials).
    ReadAlertTargets,
    /// Delete apps.
    DeleteApp,
    /// Add, change and remove members who are not owners.
    ManageMembers,
    /// Create, list, update, rotate and revoke org and deploy tokens; read the org's audit log.
    ManageTokens,
    /// Grant or remove the owner role.
    ManageOwners,
    /// Replace the org's token policy (DESIGN §10).
    SetOrgPolicy,
}

impl Capability {
    /// The weakest org role that has this capability.
    pub fn min_role(self) -> Role {
        match self {
            Capability::ReadOrg | Capability::ReadOrgDetails | Capability::ReadApp => Role::Viewer,
            Capability::Deploy
            | Capability::WriteEnv
            | Capability::WriteConfig
            | Capability::CreateApp
            | Capability::WriteAlerts
            | Capability::ReadAlertTargets => Role::Operator,
            Capability::DeleteApp | Capability::ManageMembers | Capability::ManageTokens => {
                Role::Admin
            }
            Capability::ManageOwners | Capability::SetOrgPolicy => Role::Owner,
        }
    }

    /// What a deploy token may do on its own app (and nothing anywhere else).
    fn allowed_to_deploy_token(self) -> bool {
        matches!(
            self,
            Capability::ReadOrg
                | Capability::ReadApp
                | Capability::Deploy
                | Capability::WriteEnv
                | Capability::WriteConfig
        )
    }

    /// The token capability (DESIGN §10) this needs, for the app-level actions a token's
    /// `capabilities` can narrow; None for everything else (decided by kind and role).
    pub fn token_capability(self) -> Option<Capabilities> {
        match self {
            Capability::ReadApp => Some(Capabilities::READ),
            Capability::Deploy => Some(Capabilities::DEPLOY),
            Capability::WriteEnv => Some(Capabilities::ENV),
            Capability::WriteConfig => Some(Capabilities::CONFIG),
            _ => None,
        }
    }

    /// Words for a 403 message.
    pub fn describe(self) -> &'static str {
        match self {
            Capability::ReadOrg | Capability::ReadOrgDetails | Capability::ReadApp => "read this",
            Capability::Deploy => "push releases",
            Capability::WriteEnv => "change env vars",
            Capability::WriteConfig => "change config",
            Capability::CreateApp => "create apps",
            Capability::WriteAlerts => "change alert rules",
            Capability::ReadAlertTargets => "see alert targets",
            Capability::DeleteApp => "delete apps",
            Capability::ManageMembers => "manage members",
            Capability::ManageTokens => "manage tokens",
            Capability::ManageOwners => "manage owners",
            Capability::SetOrgPolicy => "change the org's token policy",
        }
    }
}

/// The outcome of a permission check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Go ahead.
    Allow,
    /// The caller can see the target but may not do this: 403.
    Forbidden,
    /// The caller may not know the target exists: 404.
    Hidden,
}

/// What the check is about: an org, or one app of an org.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub org_id: &'a OrgId,
    pub app_id: Option<&'a AppId>,
}

/// Decides whether `principal`, holding `member_role` in the target's org (looked up live by
/// the caller of this function for users; ignored for tokens), may use `cap` on `target`.
pub fn check(
    principal: &Principal,
    member_role: Option<Role>,
    target: Target<'_>,
    cap: Capability,
) -> Access {
    match principal {
        Principal::User { user, .. } => {
            if user.is_admin {
                return Access::Allow;
            }
            by_role(member_role, cap)
        }
        Principal::Org {
            org_id,
            role,
            token,
            ..
        } => {
            if org_id != target.org_id {
                return Access::Hidden;
            }
            narrowed(token, cap, by_role(Some(*role), cap))
        }
        Principal::Deploy {
            org_id,
            app_id,
            token,
        } => {
            if org_id != target.org_id {
                return Access::Hidden;
            }
            let access = match target.app_id {
                Some(a) if app_id != a => Access::Hidden,
                // Reading the org its app lives in is fine; org-wide actions are not.
                None if cap == Capability::ReadOrg => Access::Allow,
                None => Access::Forbidden,
                Some(_) if cap.allowed_to_deploy_token() => Access::Allow,
                Some(_) => Access::Forbidden,
            };
            narrowed(token, cap, access)
        }
    }
}

/// What a token's `capabilities` leave of `access`: an app-level action the token was not
/// given is refused (403: the token sees the app, it may only not do this).
fn narrowed(token: &TokenRecord, cap: Capability, access: Access) -> Access {
    match (access, cap.token_capability()) {
        (Access::Allow, Some(needed)) if !token.capabilities.contains(needed) => Access::Forbidden,
        _ => access,
    }
}

/// What an org or deploy token may do on an app (DESIGN §10): a subset of `read`, `deploy`,
/// `env` and `config`; [`Capabilities::ALL`] (every token made before they existed, and any
/// made without naming some) narrows nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities(u8);

impl Capabilities {
    pub const READ: Capabilities = Capabilities(1);
    pub const DEPLOY: Capabilities = Capabilities(2);
    pub const ENV: Capabilities = Capabilities(4);
    pub const CONFIG: Capabilities = Capabilities(8);
    pub const ALL: Capabilities = Capabilities(15);
    const NAMES: [(&'static str, Capabilities); 4] = [
        ("read", Capabilities::READ),
        ("deploy", Capabilities::DEPLOY),
        ("env", Capabilities::ENV),
        ("config", Capabilities::CONFIG),
    ];

    /// Whether every capability of `other` is in `self`.
    pub fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    /// Names in the order read, deploy, env, config.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(_, c)| self.contains(*c))
            .map(|(n, _)| *n)
            .collect()
    }

    /// Parses names; None for an unknown one. An empty list is no capability at all.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Option<Capabilities> {
        names.iter().try_fold(Capabilities(0), |acc, n| {
            Self::NAMES
                .iter()
                .find(|(name, _)| *name == n.as_ref().trim())
                .map(|(_, c)| Capabilities(acc.0 | c.0))
        })
    }

    /// As stored: NULL for all, else the comma-separated names.
    pub fn to_column(self) -> Option<String> {
        (self != Capabilities::ALL).then(|| self.names().join(","))
    }

    /// From the stored column (NULL: all; an unknown name: none of it).
    pub fn from_column(column: Option<&str>) -> Capabilities {
        match column {
            None => Capabilities::ALL,
            Some(s) => {
                let names: Vec<&str> = s.split(',').filter(|n| !n.is_empty()).collect();
                Capabilities::parse(&names).unwrap_or(Capabilities(0))
            }
        }
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::ALL
    }
}

/// The networks a token may be used from (DESIGN §10 `allowed_ips`): IPv4 and IPv6 CIDRs, kept
/// canonical (host bits cleared) and shared, so a cached token clones them for free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Networks(std::sync::Arc<[ipnet::IpNet]>);

impl Networks {
    /// From checked networks (`crate::validate::networks`).
    pub fn new(nets: Vec<ipnet::IpNet>) -> Networks {
        Networks(nets.into_iter().map(|n| n.trunc()).collect())
    }

    /// Whether `ip` is inside one of them. An IPv4 address in IPv6 form (`::ffff:a.b.c.d`, as
    /// a dual-stack listener reports it) counts as the IPv4 address.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether every network of `other` lies inside one of these.
    pub fn covers(&self, other: &Networks) -> bool {
        other.0.iter().all(|o| self.0.iter().any(|n| n.contains(o)))
    }

    /// The networks as written back (`10.0.0.0/8`, `2001:db8::/32`).
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// As stored: comma-separated.
    pub fn to_column(networks: Option<&Networks>) -> Option<String> {
        networks.map(|n| n.names().join(","))
    }

    /// From the stored column (NULL: no restriction). An entry that no longer parses is
    /// dropped; a column left with none restricts to nothing, so it fails closed.
    pub fn from_column(column: Option<&str>) -> Option<Networks> {
        let column = column?;
        Some(Networks::new(
            column
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect(),
        ))
    }
}

/// Whether `token` may be used by a client at `ip` (as the trusted proxies report it): always
/// when it names no networks; otherwise only from inside them, and never from an unknown
/// address.
pub fn address_allowed(token: &TokenRecord, ip: Option<&str>) -> bool {
    match &token.allowed_ips {
        None => true,
        Some(nets) => ip
            .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| nets.contains(ip)),
    }
}

/// The networks a new token gets and may ask for (DESIGN §10): within the creating token's own
/// (a token never makes one usable from more places than itself) and within the org policy's
/// (its ceiling). Without `asked`, the org's networks are the default, else the creator's.
/// `Err` names the bound that was exceeded.
pub fn allowed_ips_for(
    asked: Option<Networks>,
    creator: Option<&Networks>,
    org: Option<&Networks>,
) -> Result<Option<Networks>, String> {
    let bounds = [
        (creator, "the token making this request"),
        (org, "the org policy"),
    ];
    let exceeded = |nets: &Networks| {
        bounds.iter().find_map(|(bound, what)| {
            bound.filter(|b| !b.covers(nets)).map(|b| {
                format!(
                    "must lie within the networks of {what} ({})",
                    b.names().join(", ")
                )
            })
        })
    };
    let chosen = match asked {
        Some(asked) => asked,
        None => {
            let defaults = [org, creator];
            let Some(first) = defaults.iter().flatten().next() else {
                return Ok(None);
            };
            // The org's default, or the creator's when the org's reaches beyond it.
            match defaults.iter().flatten().find(|d| exceeded(d).is_none()) {
                Some(d) => (*d).clone(),
                None => (*first).clone(),
            }
        }
    };
    match exceeded(&chosen) {
        Some(why) => Err(why),
        None => Ok(Some(chosen)),
    }
}

fn by_role(role: Option<Role>, cap: Capability) -> Access {
    match role {
        None => Access::Hidden,
        Some(r) if r >= cap.min_role() => Access::Allow,
        Some(_) => Access::Forbidden,
    }
}

/// The highest role a caller may hand out (to a member or an org token) in an org where it
/// holds `role`: owners anything, admins up to admin, nobody else anything.
pub fn grantable(principal: &Principal, role: Option<Role>) -> Option<Role> {
    if principal.is_instance_admin() {
        return Some(Role::Owner);
    }
    match role {
        Some(Role::Owner) => Some(Role::Owner),
        Some(Role::Admin) => Some(Role::Admin),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens and the audit log: who sees which, who may do what with one

/// Deploy tokens create, see and manage no tokens, read no audit log and introspect nothing:
/// the refusal every token-management and audit route starts with.
pub fn manages_tokens_at_all(principal: &Principal) -> Result<(), &'static str> {
    match principal {
        Principal::Deploy { .. } => Err("deploy tokens cannot create, see or manage tokens"),
        _ => Ok(()),
    }
}

/// DESIGN §2: read-only org-wide lists (members, alert rules) answer a deploy token of the
/// org with nothing instead of refusing; everyone else is checked as usual.
pub fn sees_nothing_of_org_lists(principal: &Principal) -> bool {
    matches!(principal, Principal::Deploy { .. })
}

/// A listing across orgs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// `GET /v1/tokens` (`all_users`: every token of every user).
    Tokens { all_users: bool },
    /// `GET /v1/audit` without an org.
    Audit,
}

/// Which tokens or audit events a listing shows a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything (instance administrators).
    All,
    /// The tokens or events of these orgs, plus the caller's own: personal tokens of, or
    /// events by, `own` (a user id, or the org token's id).
    Visible { orgs: Vec<OrgId>, own: String },
}

/// Whether [`scope`] needs the caller's memberships: for users, unless an instance
/// administrator asks for everything.
pub fn scope_needs_memberships(principal: &Principal, listing: Listing) -> bool {
    match principal {
        Principal::User { user, .. } => {
            !(user.is_admin
                && matches!(
                    listing,
                    Listing::Audit | Listing::Tokens { all_users: true }
                ))
        }
        _ => false,
    }
}

/// The one answer to "who sees which tokens and audit events": instance administrators see
/// all (tokens: when they ask for all users; otherwise what they manage, as anyone); users the
/// orgs where they may manage tokens (admin or owner) and their own; an org
/// token with that role its org (and its own events), one without only its own events (and no
/// token listing); deploy tokens nothing. `memberships` are the user's (org id, role), read
/// when [`scope_needs_memberships`] says so.
pub fn scope(
    principal: &Principal,
    listing: Listing,
    memberships: &[(OrgId, Option<Role>)],
) -> Result<Scope, &'static str> {
    let manages = |r: Role| r >= Capability::ManageTokens.min_role();
    match (principal, listing) {
        (Principal::User { user, .. }, Listing::Audit | Listing::Tokens { all_users: true })
            if user.is_admin =>
        {
            Ok(Scope::All)
        }
        (Principal::User { .. }, Listing::Tokens { all_users: true }) => {
            Err("only instance administrators can list the tokens of all users")
        }
        (Principal::User { user, .. }, _) => Ok(Scope::Visible {
            orgs: memberships
                .iter()
                .filter(|(_, r)| r.is_some_and(manages))
                .map(|(o, _)| o.clone())
                .collect(),
            own: user.id.to_string(),
        }),
        (
            Principal::Org {
                org_id,
                role,
                token,
            },
            Listing::Tokens { all_users },
        ) => {
            if all_users || !manages(*role) {
                return Err("this credential may not list these tokens");
            }
            Ok(Scope::Visible {
                orgs: vec![org_id.clone()],
                own: token.id.to_string(),
            })
        }
        (
            Principal::Org {
                org_id,
                role,
                token,
            },
            Listing::Audit,
        ) => Ok(Scope::Visible {
            orgs: if manages(*role) {
                vec![org_id.clone()]
            } else {
                Vec::new()
            },
            own: token.id.to_string(),
        }),
        (Principal::Deploy { .. }, Listing::Tokens { .. }) => {
            Err("deploy tokens cannot create, see or manage tokens")
        }
        (Principal::Deploy { .. }, Listing::Audit) => {
            Err("deploy tokens cannot read the audit log")
        }
    }
}

/// What a caller wants to do with an existing token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenIntent {
    View,
    Modify,
    Rotate,
}

/// Why [`token_access`] refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    /// The caller may not know the token exists: 404.
    Hidden,
    /// It may see it but not do this: 403 with this message.
    Forbidden(String),
}

/// Whether `principal` may `intent` the token `token`, holding `role` in the token's org
/// (looked up live for users; None for personal tokens). Seeing a token needs the
/// token-management capability; changing it also needs its role within the caller's grant
/// ceiling (an admin cannot rotate an owner token into their own hands); rotating a personal
/// token is for its user alone (an administrator would otherwise obtain a credential that acts
/// as someone else). Deploy tokens are refused by [`manages_tokens_at_all`] first.
pub fn token_access(
    principal: &Principal,
    role: Option<Role>,
    token: &TokenRecord,
    intent: TokenIntent,
) -> Result<(), TokenRefusal> {
    if let Err(m) = manages_tokens_at_all(principal) {
        return Err(TokenRefusal::Forbidden(m.into()));
    }
    if intent == TokenIntent::Rotate {
        if let Some(why) = rotation_widens(principal, token) {
            return Err(TokenRefusal::Forbidden(why.into()));
        }
    }
    match &token.scope {
        TokenScope::Personal { user_id, .. } => {
            let own = principal.user().is_some_and(|u| u.id == user_id.as_str());
            if own {
                return Ok(());
            }
            if !principal.is_instance_admin() {
                return Err(TokenRefusal::Hidden);
            }
            if intent == TokenIntent::Rotate {
                return Err(TokenRefusal::Forbidden(
                    "only its user can rotate a personal token; administrators can revoke it"
                        .into(),
                ));
            }
            Ok(())
        }
        TokenScope::Org { org_id, .. } | TokenScope::Deploy { org_id, .. } => {
            let target = Target {
                org_id,
                app_id: token.scope.app_id(),
            };
            match check(principal, role, target, Capability::ManageTokens) {
                Access::Allow => {}
                Access::Forbidden => {
                    return Err(TokenRefusal::Forbidden(
                        "only org admins and owners manage this org's tokens".into(),
                    ))
                }
                Access::Hidden => return Err(TokenRefusal::Hidden),
            }
            let ceiling = grantable(principal, role);
            let carried = token.scope.role();
            if intent != TokenIntent::View && carried.is_some_and(|r| ceiling.is_none_or(|c| r > c))
            {
                return Err(TokenRefusal::Forbidden(format!(
                    "this token carries the {} role, above what this credential may grant",
                    carried.map(Role::as_str).unwrap_or("?")
                )));
            }
            Ok(())
        }
    }
}

/// Why rotating `token` would hand `principal` more than it holds, if it would: the new value
/// of a token with capabilities the presenting token lacks, or usable from networks beyond the
/// presenting token's `allowed_ips` (sessions and password logins hold every capability and
/// any address).
fn rotation_widens(principal: &Principal, token: &TokenRecord) -> Option<&'static str> {
    let own = principal.token()?;
    if own.kind() != TokenKind::Personal && !own.capabilities.contains(token.capabilities) {
        return Some("this token holds capabilities the credential rotating it lacks");
    }
    let widens = own.allowed_ips.as_ref().is_some_and(|mine| {
        token
            .allowed_ips
            .as_ref()
            .is_none_or(|theirs| !mine.covers(theirs))
    });
    widens.then_some(
        "this token may be used from networks beyond the rotating credential's allowed_ips",
    )
}

/// The latest expiry a credential may give a token of `kind` it creates or rotates. A token
/// never makes a token of its own standing that outlives it, itself included (a token rotating
/// itself keeps its expiry): personal tokens bound personal tokens, org tokens bound org and
/// deploy tokens (deploy tokens make none). A personal token making an org's tokens acts for
/// its user, whose org role (not the token) is what those tokens derive from: no bound, as for
/// a password login or a dashboard session. None: no bound (also for a token that never
/// expires).
pub fn expiry_ceiling(principal: &Principal, kind: TokenKind) -> Option<crate::time::Timestamp> {
    match principal {
        Principal::User { token: Some(t), .. } if kind == TokenKind::Personal => t.expires_at,
        Principal::User { .. } => None,
        Principal::Org { token, .. } | Principal::Deploy { token, .. } => token.expires_at,
    }
}

/// `POST /v1/tokens/self/rotate`: the presenting token, if it is a deploy token created with
/// `rotate_self`; the refusal otherwise.
pub fn self_rotation(principal: &Principal) -> Result<&TokenRecord, &'static str> {
    match principal {
        Principal::Deploy { token, .. } if token.rotate_self => Ok(token),
        Principal::Deploy { .. } => {
            Err("this deploy token was not created with rotate_self; an org admin can rotate it")
        }
        _ => Err("only deploy tokens created with rotate_self rotate themselves here; use POST /v1/tokens/{id}/rotate"),
    }
}

/// The most capabilities a token `principal` makes may hold: an org or deploy token gives at
/// most its own; users (sessions, personal tokens) any.
pub fn capability_ceiling(principal: &Principal) -> Capabilities {
    match principal {
        Principal::User { .. } => Capabilities::ALL,
        Principal::Org { token, .. } | Principal::Deploy { token, .. } => token.capabilities,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActorRef, Slug};
    use crate::time::Timestamp;
    use gantry_api::TokenKind;

    fn user(admin: bool) -> Principal {
        Principal::User {
            user: UserRecord {
                id: "usr_1".into(),
                email: "a@b.c".into(),
                name: "a".into(),
                password_hash: String::new(),
                is_admin: admin,
                disabled: false,
                created_at: Timestamp(0),
            },
            token: None,
        }
    }

    fn token(kind: TokenKind) -> TokenRecord {
        let scope = match kind {
            TokenKind::Personal => TokenScope::Personal {
                user_id: "usr_1".into(),
                user_email: "u@example.com".into(),
            },
            TokenKind::Org => TokenScope::Org {
                org_id: "org_1".into(),
                org_slug: Slug::stored("acme"),
                role: Role::Viewer,
            },
            TokenKind::Deploy => TokenScope::Deploy {
                org_id: "org_1".into(),
                org_slug: Slug::stored("acme"),
                app_id: "app_1".into(),
                app_slug: Slug::stored("web"),
            },
        };
        let plain = crate::token::PlainToken::generate(kind);
        TokenRecord::new(
            "tok_1".into(),
            scope,
            "t".into(),
            &plain,
            ActorRef::System,
            Timestamp(0),
        )
    }

    static ORG_1: OrgId = OrgId::from_static("org_1");
    static ORG_2: OrgId = OrgId::from_static("org_2");
    static APP_1: AppId = AppId::from_static("app_1");
    static APP_2: AppId = AppId::from_static("app_2");
    const APP1: Target<'static> = Target {
        org_id: &ORG_1,
        app_id: Some(&APP_1),
    };
    const APP2: Target<'static> = Target {
        org_id: &ORG_1,
        app_id: Some(&APP_2),
    };
    const ORG1: Target<'static> = Target {
        org_id: &ORG_1,
        app_id: None,
    };
    const ORG2: Target<'static> = Target {
        org_id: &ORG_2,
        app_id: None,
    };

    fn org_token(role: Role) -> Principal {
        Principal::Org {
            token: Arc::new(token(TokenKind::Org)),
            org_id: "org_1".into(),
            role,
        }
    }

    #[test]
    fn who_sees_which_tokens_and_audit_events() {
        let deploy = Principal::Deploy {
            token: Arc::new(token(TokenKind::Deploy)),
            org_id: "org_1".into(),
            app_id: "app_1".into(),
        };
        let memberships = [
            (OrgId::from("org_1"), Some(Role::Owner)),
            (OrgId::from("org_2"), Some(Role::Operator)),
        ];
        let mine = Scope::Visible {
            orgs: vec!["org_1".into()],
            own: "usr_1".into(),
        };
        let tokens = Listing::Tokens { all_users: false };
        let all_users = Listing::Tokens { all_users: true };
        // Instance administrators: everything when they ask for it; what they manage otherwise.
        assert_eq!(scope(&user(true), Listing::Audit, &[]), Ok(Scope::All));
        assert_eq!(scope(&user(true), all_users, &[]), Ok(Scope::All));
        assert!(scope_needs_memberships(&user(true), tokens));
        assert_eq!(scope(&user(true), tokens, &memberships), Ok(mine.clone()));
        // Users: orgs where they manage tokens, and their own.
        assert_eq!(scope(&user(false), tokens, &memberships), Ok(mine.clone()));
        assert_eq!(scope(&user(false), Listing::Audit, &memberships), Ok(mine));
        assert!(scope(&user(false), all_users, &memberships).is_err());
        // Org tokens: their org with the role for it; below it only their own events.
        let org_only = Scope::Visible {
            orgs: vec!["org_1".into()],
            own: "tok_1".into(),
        };
        assert_eq!(
            scope(&org_token(Role::Admin), tokens, &[]),
            Ok(org_only.clone())
        );
        assert_eq!(
            scope(&org_token(Role::Admin), Listing::Audit, &[]),
            Ok(org_only)
        );
        assert!(scope(&org_token(Role::Operator), tokens, &[]).is_err());
        assert_eq!(
            scope(&org_token(Role::Operator), Listing::Audit, &[]),
            Ok(Scope::Visible {
                orgs: vec![],
                own: "tok_1".into()
            })
        );
        // Deploy tokens: nothing.
        assert!(scope(&deploy, tokens, &[]).is_err());
        assert!(scope(&deploy, Listing::Audit, &[]).is_err());
        assert!(manages_tokens_at_all(&deploy).is_err());
    }

    #[test]
    fn token_access_needs_the_role_and_the_grant_ceiling() {
        let mut owner_token = token(TokenKind::Org);
        if let TokenScope::Org { role, .. } = &mut owner_token.scope {
            *role = Role::Owner;
        }
        let admin = user(false);
        assert_eq!(
            token_access(&admin, Some(Role::Admin), &owner_token, TokenIntent::View),
            Ok(())
        );
        assert!(matches!(
            token_access(&admin, Some(Role::Admin), &owner_token, TokenIntent::Rotate),
            Err(TokenRefusal::Forbidden(_))
        ));
        assert_eq!(
            token_access(&admin, None, &owner_token, TokenIntent::View),
            Err(TokenRefusal::Hidden)
        );
        let mut personal = token(TokenKind::Personal);
        if let TokenScope::Personal { user_id, .. } = &mut personal.scope {
            *user_id = "usr_2".into();
        }
        assert_eq!(
            token_access(&user(false), None, &personal, TokenIntent::View),
            Err(TokenRefusal::Hidden)
        );
        assert_eq!(
            token_access(&user(true), None, &personal, TokenIntent::Modify),
            Ok(())
        );
        assert!(matches!(
            token_access(&user(true), None, &personal, TokenIntent::Rotate),
            Err(TokenRefusal::Forbidden(_))
        ));
    }

    #[test]
    fn roles_follow_the_capability_table() {
        let u = user(false);
        assert_eq!(
            check(&u, Some(Role::Viewer), APP1, Capability::ReadApp),
            Access::Allow
        );
        assert_eq!(
            check(&u, Some(Role::Viewer), APP1, Capability::Deploy),
            Access::Forbidden
        );
        assert_eq!(
            check(&u, Some(Role::Operator), APP1, Capability::Deploy),
            Access::Allow
        );
        assert_eq!(
            check(&u, Some(Role::Operator), ORG1, Capability::WriteAlerts),
            Access::Allow
        );
        assert_eq!(
            check(&u, Some(Role::Operator), ORG1, Capability::ManageTokens),
            Access::Forbidden
        );
        assert_eq!(
            check(&u, Some(Role::Admin), ORG1, Capability::ManageTokens),
            Access::Allow
        );
        assert_eq!(
            check(&u, Some(Role::Admin), ORG1, Capability::ManageOwners),
            Access::Forbidden
        );
        assert_eq!(
            check(&u, Some(Role::Owner), ORG1, Capability::ManageOwners),
            Access::Allow
        );
        assert_eq!(check(&u, None, ORG1, Capability::ReadOrg), Access::Hidden);
        assert_eq!(
            check(&user(true), None, ORG1, Capability::ManageOwners),
            Access::Allow
        );
    }

    #[test]
    fn deploy_token_is_limited_to_deployment_operations_on_its_app() {
        let d = Principal::Deploy {
            token: Arc::new(token(TokenKind::Deploy)),
            org_id: "org_1".into(),
            app_id: "app_1".into(),
        };
        assert_eq!(check(&d, None, APP1, Capability::Deploy), Access::Allow);
        assert_eq!(check(&d, None, APP1, Capability::ReadApp), Access::Allow);
        assert_eq!(
            check(&d, None, APP1, Capability::DeleteApp),
            Access::Forbidden
        );
        assert_eq!(
            check(&d, None, APP1, Capability::ManageTokens),
            Access::Forbidden
        );
        assert_eq!(
            check(&d, None, ORG1, Capability::WriteAlerts),
            Access::Forbidden
        );
        assert_eq!(check(&d, None, ORG1, Capability::ReadOrg), Access::Allow);
        assert_eq!(check(&d, None, APP2, Capability::ReadApp), Access::Hidden);
        assert_eq!(check(&d, None, ORG2, Capability::ReadOrg), Access::Hidden);
    }

    #[test]
    fn org_token_acts_with_its_role_in_its_org_only() {
        let o = Principal::Org {
            token: Arc::new(token(TokenKind::Org)),
            org_id: "org_1".into(),
            role: Role::Operator,
        };
        assert_eq!(check(&o, None, APP2, Capability::Deploy), Access::Allow);
        assert_eq!(
            check(&o, None, ORG1, Capability::ManageTokens),
            Access::Forbidden
        );
        assert_eq!(check(&o, None, ORG2, Capability::ReadOrg), Access::Hidden);
    }

    #[test]
    fn only_admins_and_owners_can_grant_roles() {
        let u = user(false);
        assert_eq!(grantable(&u, Some(Role::Operator)), None);
        assert_eq!(grantable(&u, Some(Role::Admin)), Some(Role::Admin));
        assert_eq!(grantable(&u, Some(Role::Owner)), Some(Role::Owner));
        assert_eq!(grantable(&user(true), None), Some(Role::Owner));
    }
}
