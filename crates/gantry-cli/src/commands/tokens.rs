//! `gantry tokens …`.

use super::{app_of, org_of};
use crate::safe::terminal_safe;
use crate::{output, source_name, CliError, Ctx};
use clap::{Args, Subcommand, ValueEnum};
use gantry_api::{
    CreateTokenRequest, Role, RotateTokenRequest, TokenView, TokenWithSecret, UpdateTokenRequest,
};
use gantry_client::{TokenFilters, TokenScope};
use serde_json::json;

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create a token; its value is printed once, alone on stdout.
    #[command(subcommand)]
    Create(CreateCmd),
    /// List tokens: an app's deploy tokens, an org's tokens, or all you manage.
    #[command(
        after_help = "Columns: ID NAME PREFIX STATUS CREATED BY EXPIRES AT LAST USED\n\nExamples:\n  gantry tokens list -a web              # the app's deploy tokens\n  gantry tokens list -s org -a web       # every org and deploy token of web's org\n  gantry tokens list --all-users         # instance administrators: every token\n  gantry tokens list --status expired --json"
    )]
    List(ListArgs),
    /// Show one token.
    Show {
        /// Token id (tok_…).
        id: String,
    },
    /// Rename a token or change its description.
    Update {
        /// Token id (tok_…).
        id: String,
        /// New name.
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Rotate (regenerate) a token: same id, name and scope, a new value, a fresh expiry.
    #[command(
        after_help = "Examples:\n  gantry tokens rotate tok_123\n  gantry tokens rotate tok_123 --grace 1h -x 30d   # old value keeps working for an hour\n  gantry tokens rotate tok_123 --grace 1d --until-first-use   # …or until the new one is first used\n  GANTRY_TOKEN=gtd_… gantry tokens rotate self -x 30d -q   # a deploy token made with --rotate-self renews itself"
    )]
    Rotate {
        /// Token id (tok_…), or `self`: the deploy token in use rotates itself (it must have
        /// been created with --rotate-self).
        id: String,
        /// New lifetime (default: the same length as before).
        #[arg(short = 'x', long = "expiry", value_name = "DURATION")]
        expiry: Option<String>,
        /// Keep the old value working this long (at most 7d).
        #[arg(long = "grace", value_name = "DURATION")]
        grace: Option<String>,
        /// With --grace: the old value also stops at the new value's first use (on any node),
        /// whichever comes first.
        #[arg(long, requires = "grace")]
        until_first_use: bool,
        /// Print only the new token.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Revoke tokens, permanently. Reports each ID; exits 1 if any failed.
    #[command(after_help = "Example:\n  gantry tokens revoke tok_123 tok_456")]
    Revoke {
        /// Token ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Who the current credential is, and where it came from.
    Whoami,
}

#[derive(Debug, Subcommand)]
pub enum CreateCmd {
    /// A deploy token: deployment-level operations on one app only.
    #[command(
        after_help = "Examples:\n  gantry tokens create deploy -a web -n \"github actions\" -x 720h\n  gantry tokens create deploy -a web -n releases --capabilities deploy,read\n  export GANTRY_TOKEN=$(gantry tokens create deploy -a web -q)"
    )]
    Deploy {
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
        /// Only these of read, deploy, env, config, comma-separated [default: all you may give]
        #[arg(long, value_delimiter = ',', value_name = "CAPS")]
        capabilities: Option<Vec<String>>,
        /// Let the token rotate itself (`gantry tokens rotate self`), so CI can renew it.
        #[arg(long)]
        rotate_self: bool,
        #[command(flatten)]
        common: CreateArgs,
    },
    /// An org token with a fixed role (never above yours).
    #[command(
        after_help = "Example:\n  gantry tokens create org -o acme --role operator -n \"release bot\" -x 90d"
    )]
    Org {
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
        /// Only these of read, deploy, env, config on the org's apps, comma-separated
        /// [default: all you may give]
        #[arg(long, value_delimiter = ',', value_name = "CAPS")]
        capabilities: Option<Vec<String>>,
        /// The token's role.
        #[arg(long, value_enum)]
        role: RoleArg,
        #[command(flatten)]
        common: CreateArgs,
    },
    /// A personal token that acts with your roles.
    #[command(after_help = "Example:\n  gantry tokens create personal -n laptop -x 30d")]
    Personal {
        #[command(flatten)]
        common: CreateArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Viewer,
    Operator,
    Admin,
    Owner,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Operator => Role::Operator,
            RoleArg::Admin => Role::Admin,
            RoleArg::Owner => Role::Owner,
        }
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Token name.
    #[arg(short = 'n', long)]
    name: Option<String>,
    /// How long it is valid: a duration (90d, 720h, 175200h0m0s), an RFC 3339 instant, or
    /// `never` [default: 90d]
    #[arg(short = 'x', long = "expiry", value_name = "EXPIRY")]
    expiry: Option<String>,
    /// Description.
    #[arg(long)]
    description: Option<String>,
    /// Networks the token may be used from, comma-separated CIDRs or addresses (IPv4, IPv6)
    /// [default: the org policy's, else anywhere]
    #[arg(long, value_delimiter = ',', value_name = "CIDRS")]
    allowed_ips: Option<Vec<String>>,
    /// Print only the token (no notice on stderr).
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ScopeArg {
    App,
    Org,
    Personal,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// App whose deploy tokens to list [default: $GANTRY_APP]
    #[arg(short, long, conflicts_with = "org")]
    app: Option<String>,
    /// Org whose org and deploy tokens to list [default: $GANTRY_ORG]
    #[arg(short, long)]
    org: Option<String>,
    /// `app` (the app's deploy tokens), `org` (every token of the app's or given org), or
    /// `personal` (your personal tokens).
    #[arg(short, long, value_enum)]
    scope: Option<ScopeArg>,
    /// Every token of every user (instance administrators).
    #[arg(long)]
    all_users: bool,
    /// active, expired, revoked or all [default: all but revoked]
    #[arg(long)]
    status: Option<String>,
    /// Only tokens expiring within this duration (e.g. 7d).
    #[arg(long, value_name = "DURATION")]
    expiring_within: Option<String>,
}

fn expiry_fields(x: Option<String>, req: &mut CreateTokenRequest) {
    match x {
        None => {}
        Some(v) if v.eq_ignore_ascii_case("never") => req.never_expires = Some(true),
        Some(v) if v.contains('T') && v.contains('-') => req.expires_at = Some(v),
        Some(v) => req.expires_in = Some(v),
    }
}

fn request(
    common: CreateArgs,
    default_name: &str,
    role: Option<Role>,
    capabilities: Option<Vec<String>>,
) -> (CreateTokenRequest, bool) {
    let mut req = CreateTokenRequest {
        name: common.name.unwrap_or_else(|| default_name.to_owned()),
        description: common.description,
        role,
        capabilities,
        allowed_ips: common.allowed_ips,
        ..Default::default()
    };
    expiry_fields(common.expiry, &mut req);
    (req, common.quiet)
}

/// The raw value alone on stdout; the notice on stderr (so `$(… -q)` and `$(…)` both work).
fn print_secret(ctx: &Ctx, t: &TokenWithSecret, quiet: bool, what: &str) {
    if ctx.json {
        output::json(t);
        return;
    }
    // A real token is plain ASCII, so this is the exact value (for `$(…)`).
    say!("{}", terminal_safe(&t.token));
    if !quiet {
        let expiry = match &t.view.expires_at {
            Some(e) => format!("expires {}", output::when(Some(e), "never")),
            None => "never expires".to_owned(),
        };
        eprintln!(
            "{what} {} \"{}\" ({expiry}).\nThis is the only time the token is shown: copy it now and store it as a secret.",
            terminal_safe(&t.view.id),
            terminal_safe(&t.view.name)
        );
    }
}

/// Raw cells: [`output::table`] escapes them and colours the STATUS column.
fn rows(tokens: &[TokenView]) -> Vec<Vec<String>> {
    tokens
        .iter()
        .map(|t| {
            let status = serde_json::to_value(t.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let last_used = match (&t.last_used_at, &t.last_used_ip) {
                (Some(at), Some(ip)) => format!("{} from {ip}", output::when(Some(at), "-")),
                (Some(at), None) => output::when(Some(at), "-"),
                _ => "never".to_owned(),
            };
            vec![
                t.id.clone(),
                t.name.clone(),
                t.prefix.clone(),
                status,
                t.created_by
                    .name
                    .clone()
                    .unwrap_or_else(|| t.created_by.kind.clone()),
                output::when(t.expires_at.as_deref(), "never"),
                last_used,
            ]
        })
        .collect()
}

fn print_list(ctx: &Ctx, tokens: &[TokenView]) {
    if ctx.json {
        output::json(&tokens);
    } else {
        output::table(
            &[
                "ID",
                "NAME",
                "PREFIX",
                "STATUS",
                "CREATED BY",
                "EXPIRES AT",
                "LAST USED",
            ],
            &rows(tokens),
        );
    }
}

fn print_one(ctx: &Ctx, t: &TokenView) {
    if ctx.json {
        output::json(t);
        return;
    }
    let status = serde_json::to_value(t.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let scope = match (t.kind, &t.org, &t.app) {
        (gantry_api::TokenKind::Deploy, Some(o), Some(a)) => {
            format!("deploy token for app {a} (org {o})")
        }
        (gantry_api::TokenKind::Org, Some(o), _) => format!(
            "org token for {o} with role {}",
            t.role.map(Role::as_str).unwrap_or("?")
        ),
        _ => format!("personal token of {}", t.user.clone().unwrap_or_default()),
    };
    let lines = [
        ("id", t.id.clone()),
        ("name", t.name.clone()),
        (
            "description",
            t.description.clone().unwrap_or_else(|| "-".into()),
        ),
        ("scope", scope),
        (
            "may",
            t.capabilities
                .as_ref()
                .map(|c| c.join(", "))
                .unwrap_or_else(|| "whatever its user may".into()),
        ),
        (
            "from",
            t.allowed_ips
                .as_ref()
                .map(|n| n.join(", "))
                .unwrap_or_else(|| "any address".into()),
        ),
        ("prefix", t.prefix.clone()),
        ("status", status),
        (
            "created",
            format!(
                "{} by {}",
                output::when(Some(&t.created_at), "-"),
                t.created_by.name.clone().unwrap_or_default()
            ),
        ),
        (
            "expires",
            t.expires_at
                .as_deref()
                .map(|e| format!("{} ({e})", output::when(Some(e), "never")))
                .unwrap_or_else(|| "never".into()),
        ),
        (
            "last used",
            match (&t.last_used_at, &t.last_used_ip) {
                (Some(at), ip) => format!(
                    "{} from {}",
                    output::when(Some(at), "-"),
                    ip.clone().unwrap_or_else(|| "?".into())
                ),
                _ => "never".into(),
            },
        ),
        ("rotated", output::when(t.rotated_at.as_deref(), "never")),
        (
            "old value",
            match (&t.grace_until, t.grace_until_first_use) {
                (Some(until), true) => format!(
                    "works until {} or the new value's first use",
                    output::when(Some(until), "-")
                ),
                (Some(until), false) => {
                    format!("works until {}", output::when(Some(until), "-"))
                }
                (None, _) => "-".into(),
            },
        ),
        (
            "revoked",
            match (&t.revoked_at, &t.revoked_reason) {
                (Some(at), Some(why)) => format!("{} ({why})", output::when(Some(at), "-")),
                (Some(at), None) => output::when(Some(at), "-"),
                (None, _) => "no".into(),
            },
        ),
        (
            "leaked",
            match &t.leak {
                Some(l) => format!(
                    "reported {} via {}{}",
                    output::when(Some(&l.reported_at), "-"),
                    l.via,
                    l.url
                        .as_deref()
                        .map(|u| format!(", found at {u}"))
                        .unwrap_or_default()
                ),
                None => "no".into(),
            },
        ),
    ];
    for (k, v) in lines {
        // One line per field: newlines in a description are escaped too.
        let v = terminal_safe(&v);
        let v = if k == "status" {
            output::status(&v)
        } else {
            v.into_owned()
        };
        say!("{:<12} {v}", format!("{k}:"));
    }
}

pub async fn run(ctx: &Ctx, cmd: TokensCmd) -> Result<u8, CliError> {
    match cmd {
        TokensCmd::Create(c) => {
            let client = ctx.client()?;
            let (t, quiet) = match c {
                CreateCmd::Deploy {
                    app,
                    capabilities,
                    rotate_self,
                    common,
                } => {
                    let app = app_of(app)?;
                    let (mut req, quiet) = request(common, "deploy token", None, capabilities);
                    req.rotate_self = rotate_self.then_some(true);
                    (
                        client.create_token(TokenScope::App(&app), &req).await,
                        quiet,
                    )
                }
                CreateCmd::Org {
                    org,
                    role,
                    capabilities,
                    common,
                } => {
                    let org = org_of(org)?;
                    let (req, quiet) =
                        request(common, "org token", Some(role.into()), capabilities);
                    (
                        client.create_token(TokenScope::Org(&org), &req).await,
                        quiet,
                    )
                }
                CreateCmd::Personal { common } => {
                    let (req, quiet) = request(common, "personal token", None, None);
                    (client.create_token(TokenScope::User, &req).await, quiet)
                }
            };
            let t = t.map_err(|e| ctx.error(e))?;
            print_secret(ctx, &t, quiet, "Created");
            Ok(0)
        }
        TokensCmd::List(a) => list(ctx, a).await,
        TokensCmd::Show { id } => {
            let t = ctx
                .client()?
                .get_token(&id)
                .await
                .map_err(|e| ctx.error(e))?;
            print_one(ctx, &t);
            Ok(0)
        }
        TokensCmd::Update {
            id,
            name,
            description,
        } => {
            if name.is_none() && description.is_none() {
                return Err(CliError::usage(
                    "nothing to update: pass -n NAME and/or --description TEXT",
                ));
            }
            let req = UpdateTokenRequest { name, description };
            let t = ctx
                .client()?
                .update_token(&id, &req)
                .await
                .map_err(|e| ctx.error(e))?;
            print_one(ctx, &t);
            Ok(0)
        }
        TokensCmd::Rotate {
            id,
            expiry,
            grace,
            until_first_use,
            quiet,
        } => {
            let req = RotateTokenRequest {
                expires_in: expiry,
                grace_period: grace,
                until_first_use: until_first_use.then_some(true),
            };
            let client = ctx.client()?;
            let t = if id == "self" {
                client.rotate_self(&req).await
            } else {
                client.rotate_token(&id, &req).await
            }
            .map_err(|e| ctx.error(e))?;
            print_secret(ctx, &t, quiet, "Rotated");
            if !quiet && !ctx.json {
                eprintln!("Update every CI secret that held the old value.");
            }
            Ok(0)
        }
        TokensCmd::Revoke { ids } => revoke(ctx, ids).await,
        TokensCmd::Whoami => whoami(ctx).await,
    }
}

async fn list(ctx: &Ctx, a: ListArgs) -> Result<u8, CliError> {
    let client = ctx.client()?;
    let filters = TokenFilters {
        status: a.status,
        expiring_within: a.expiring_within,
    };
    let app = a
        .app
        .or_else(|| std::env::var("GANTRY_APP").ok().filter(|s| !s.is_empty()));
    let org_env = || std::env::var("GANTRY_ORG").ok().filter(|s| !s.is_empty());
    let tokens = if a.all_users {
        client
            .list_tokens(TokenScope::All { all_users: true }, &filters)
            .await
    } else {
        match (a.scope, a.org) {
            (Some(ScopeArg::Personal), _) => client.list_tokens(TokenScope::User, &filters).await,
            (Some(ScopeArg::Org), org) => {
                let org = match org.or_else(org_env) {
                    Some(o) => o,
                    None => {
                        let app = app.ok_or_else(|| {
                            CliError::usage(
                                "-s org needs an org: pass -o ORG, or -a APP to use the app's org",
                            )
                        })?;
                        client.get_app(&app).await.map_err(|e| ctx.error(e))?.org
                    }
                };
                client.list_tokens(TokenScope::Org(&org), &filters).await
            }
            (Some(ScopeArg::App), _) => {
                let app = app.ok_or_else(|| {
                    CliError::usage("-s app needs an app: pass -a APP or set GANTRY_APP")
                })?;
                client.list_tokens(TokenScope::App(&app), &filters).await
            }
            (None, Some(org)) => client.list_tokens(TokenScope::Org(&org), &filters).await,
            (None, None) => match app {
                Some(app) => client.list_tokens(TokenScope::App(&app), &filters).await,
                None => {
                    client
                        .list_tokens(TokenScope::All { all_users: false }, &filters)
                        .await
                }
            },
        }
    }
    .map_err(|e| ctx.error(e))?;
    print_list(ctx, &tokens);
    Ok(0)
}

async fn revoke(ctx: &Ctx, ids: Vec<String>) -> Result<u8, CliError> {
    let client = ctx.client()?;
    let mut results = Vec::new();
    let mut failed = 0;
    for id in ids {
        match client.revoke_token(&id).await {
            Ok(r) => {
                if !ctx.json {
                    let id = terminal_safe(&id);
                    if r.already_revoked {
                        say!("{id}: already revoked");
                    } else {
                        say!("{id}: revoked");
                    }
                }
                results.push(json!({"id": id, "ok": true, "already_revoked": r.already_revoked}));
            }
            Err(e) => {
                failed += 1;
                let err = ctx.error(e);
                if !ctx.json {
                    eprintln!(
                        "{}: error: {}",
                        terminal_safe(&id),
                        terminal_safe(&err.message)
                    );
                }
                results.push(json!({"id": id, "ok": false, "error": err.message}));
            }
        }
    }
    if ctx.json {
        output::json(&results);
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

async fn whoami(ctx: &Ctx) -> Result<u8, CliError> {
    let me = ctx
        .client_for(None)
        .await?
        .whoami()
        .await
        .map_err(|e| ctx.error(e))?;
    let source = if ctx.token.value.is_none() {
        "OIDC token exchange"
    } else {
        source_name(ctx.token.source)
    };
    let url_source = ctx.url.source.describe("GANTRY_URL");
    if ctx.json {
        output::json(&json!({
            "token_source": source,
            "url": ctx.base(),
            "url_source": url_source,
            "whoami": me,
        }));
        return Ok(0);
    }
    let who = match (me.kind.as_str(), &me.user, &me.token) {
        ("user", Some(u), _) => format!(
            "{} ({}){}",
            u.email,
            u.id,
            if u.is_admin {
                ", instance administrator"
            } else {
                ""
            }
        ),
        ("org", _, Some(t)) => format!(
            "org token \"{}\" ({}) for org {} with role {}",
            t.name,
            t.id,
            me.org.clone().unwrap_or_default(),
            me.role.map(Role::as_str).unwrap_or("?")
        ),
        ("deploy", _, Some(t)) => format!(
            "deploy token \"{}\" ({}) for app {} in org {}",
            t.name,
            t.id,
            me.app.clone().unwrap_or_default(),
            me.org.clone().unwrap_or_default()
        ),
        _ => me.kind.clone(),
    };
    say!("{:<9} {}", "you:", terminal_safe(&who));
    if let Some(t) = &me.token {
        say!(
            "{:<9} {}… ({} token) from {source}",
            "token:",
            terminal_safe(&t.prefix),
            t.kind.as_str()
        );
        say!(
            "{:<9} {}",
            "expires:",
            output::when(t.expires_at.as_deref(), "never")
        );
        if let Some(caps) = &t.capabilities {
            say!("{:<9} {}", "may:", terminal_safe(&caps.join(", ")));
        }
        if let Some(nets) = &t.allowed_ips {
            say!("{:<9} {}", "from:", terminal_safe(&nets.join(", ")));
        }
    }
    say!(
        "{:<9} {} (from {url_source})",
        "server:",
        terminal_safe(ctx.base())
    );
    Ok(0)
}
