//! Login and logout, orgs, apps, members, users, the audit log.

use super::{app_of, org_of, read_stdin_line};
use crate::safe::terminal_safe;
use crate::settings::Source;
use crate::{output, CliError, Ctx};
use clap::{Args, Subcommand};
use gantry_api::{CreateUserRequest, LoginRequest, Role, UpdateUserRequest};
use std::io::IsTerminal;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Email [default: asked for]
    #[arg(long)]
    email: Option<String>,
    /// Read the password from standard input instead of a prompt.
    #[arg(long)]
    password_stdin: bool,
    /// Name of the personal token this login creates.
    #[arg(long, default_value = "gantry login")]
    token_name: String,
    /// Lifetime of the token this login creates (e.g. 30d), or `never` [default: 90d]. A
    /// password login is what may give a personal token a longer life: a token can only make
    /// personal tokens that expire no later than itself.
    #[arg(short = 'x', long = "expiry", value_name = "DURATION")]
    expiry: Option<String>,
}

pub async fn login(ctx: &Ctx, a: LoginArgs) -> Result<u8, CliError> {
    let interactive = std::io::stdin().is_terminal();
    let email = match a.email {
        Some(e) => e,
        None if interactive && !a.password_stdin => {
            eprint!("Email: ");
            read_stdin_line()?
        }
        None => {
            return Err(CliError::usage(
                "pass --email when standard input is not a terminal",
            ))
        }
    };
    let password = if a.password_stdin || !interactive {
        read_stdin_line()?
    } else {
        rpassword::prompt_password("Password: ")
            .map_err(|e| CliError::failure(format!("cannot read the password: {e}")))?
    };
    let t = ctx
        .anonymous()
        .login_with(&LoginRequest {
            email: email.clone(),
            password,
            token_name: Some(a.token_name.clone()),
            never_expires: a
                .expiry
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case("never"))
                .then_some(true),
            expires_in: a.expiry.filter(|x| !x.eq_ignore_ascii_case("never")),
        })
        .await
        .map_err(|e| ctx.error(e))?;
    let mut file = ctx.file.clone();
    file.token = Some(t.token.clone());
    file.url = Some(ctx.base().to_owned());
    file.email = Some(email.trim().to_lowercase());
    let path = file.save()?;
    if ctx.json {
        output::json(&serde_json::json!({"logged_in": true, "token": t.view, "config": path}));
    } else {
        eprintln!(
            "Logged in to {} as {} (token {}, expires {}). Saved to {}.",
            terminal_safe(ctx.base()),
            terminal_safe(&file.email.unwrap_or_default()),
            terminal_safe(&t.view.prefix),
            output::when(t.view.expires_at.as_deref(), "never"),
            path.display()
        );
        if std::env::var_os("GANTRY_TOKEN").is_some() {
            eprintln!(
                "Note: GANTRY_TOKEN is set and wins over the saved login until you unset it."
            );
        }
    }
    Ok(0)
}

pub async fn logout(ctx: &Ctx) -> Result<u8, CliError> {
    let saved = ctx
        .file
        .token
        .clone()
        .ok_or_else(|| CliError::failure("not logged in: nothing to log out of"))?;
    let client = gantry_client::Client::new(ctx.base()).with_token(&saved);
    let revoked = match client.whoami().await {
        Ok(me) => match me.token {
            Some(t) => client.revoke_token(&t.id).await.is_ok(),
            None => false,
        },
        // Already expired or revoked: forgetting it is all that is left to do.
        Err(_) => false,
    };
    let mut file = ctx.file.clone();
    file.token = None;
    file.save()?;
    if ctx.json {
        output::json(&serde_json::json!({"logged_out": true, "revoked": revoked}));
    } else if revoked {
        eprintln!("Logged out: the saved token is revoked and forgotten.");
    } else {
        eprintln!("Logged out: the saved token was no longer valid; it is forgotten.");
    }
    if ctx.token.source == Source::Env {
        eprintln!("Note: GANTRY_TOKEN is still set in this environment.");
    }
    Ok(0)
}

#[derive(Debug, Subcommand)]
pub enum OrgsCmd {
    /// The orgs you belong to.
    List,
    /// Create an org; you become its owner.
    Create {
        /// Slug: 2-40 of a-z, 0-9 and '-'.
        slug: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// One org.
    Show {
        /// Org slug.
        org: String,
    },
    /// The org's token policy: what it adds to the instance's rules.
    Policy {
        /// Org slug.
        org: String,
    },
    /// Replace the org's token policy (owners). It only tightens the instance's; what is
    /// not given is cleared.
    #[command(
        after_help = "Examples:\n  gantry orgs set-policy acme --max-lifetime 30d --require-expiry\n  gantry orgs set-policy acme --allowed-ips 203.0.113.0/24,2001:db8::/32\n  gantry orgs set-policy acme   # clear: the instance's rules alone"
    )]
    SetPolicy {
        /// Org slug.
        org: String,
        /// The longest lifetime of the org's tokens, created or rotated (e.g. 30d).
        #[arg(long, value_name = "DURATION")]
        max_lifetime: Option<String>,
        /// Refuse tokens that never expire.
        #[arg(long)]
        require_expiry: bool,
        /// Networks new tokens get by default and may not reach beyond (comma-separated CIDRs).
        #[arg(long, value_delimiter = ',', value_name = "CIDRS")]
        allowed_ips: Option<Vec<String>>,
    },
}

fn print_policy(ctx: &Ctx, p: &gantry_api::OrgPolicyView) {
    if ctx.json {
        output::json(p);
        return;
    }
    let or = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.to_owned());
    let lines = [
        ("max lifetime", or(&p.max_lifetime, "the instance's")),
        (
            "expiry",
            if p.require_expiry {
                "required"
            } else {
                "as the instance says"
            }
            .to_owned(),
        ),
        (
            "networks",
            p.allowed_ips
                .as_ref()
                .map(|n| n.join(", "))
                .unwrap_or_else(|| "any".into()),
        ),
        (
            "in force",
            format!(
                "max lifetime {}, expiry {}",
                or(&p.effective.max_lifetime, "none"),
                if p.effective.require_expiry {
                    "required"
                } else {
                    "optional"
                }
            ),
        ),
    ];
    for (k, v) in lines {
        println!("{:<13} {}", format!("{k}:"), terminal_safe(&v));
    }
}

pub async fn orgs(ctx: &Ctx, cmd: OrgsCmd) -> Result<u8, CliError> {
    let client = ctx.client()?;
    let orgs = match cmd {
        OrgsCmd::Policy { org } => {
            let p = client
                .get_org_policy(&org)
                .await
                .map_err(|e| ctx.error(e))?;
            print_policy(ctx, &p);
            return Ok(0);
        }
        OrgsCmd::SetPolicy {
            org,
            max_lifetime,
            require_expiry,
            allowed_ips,
        } => {
            let req = gantry_api::PutOrgPolicyRequest {
                max_lifetime,
                require_expiry: require_expiry.then_some(true),
                allowed_ips,
            };
            let p = client
                .put_org_policy(&org, &req)
                .await
                .map_err(|e| ctx.error(e))?;
            print_policy(ctx, &p);
            return Ok(0);
        }
        OrgsCmd::List => client.list_orgs().await,
        OrgsCmd::Create { slug, name } => client
            .create_org(&slug, name.as_deref())
            .await
            .map(|o| vec![o]),
        OrgsCmd::Show { org } => client.get_org(&org).await.map(|o| vec![o]),
    }
    .map_err(|e| ctx.error(e))?;
    if ctx.json {
        if orgs.len() == 1 {
            output::json(&orgs[0]);
        } else {
            output::json(&orgs);
        }
    } else {
        let rows = orgs
            .iter()
            .map(|o| {
                vec![
                    o.slug.clone(),
                    o.name.clone(),
                    o.role.map(Role::as_str).unwrap_or("-").to_owned(),
                    output::when(Some(&o.created_at), "-"),
                ]
            })
            .collect::<Vec<_>>();
        output::table(&["SLUG", "NAME", "ROLE", "CREATED"], &rows);
    }
    Ok(0)
}

#[derive(Debug, Subcommand)]
pub enum AppsCmd {
    /// The apps of an org.
    List {
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
    },
    /// Create an app in an org.
    Create {
        /// Slug, unique across the instance.
        slug: String,
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// One app.
    Show {
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
    },
    /// Delete an app; its deploy tokens are revoked.
    Delete {
        /// App slug.
        app: String,
        /// Confirm.
        #[arg(long)]
        yes: bool,
    },
}

pub async fn apps(ctx: &Ctx, cmd: AppsCmd) -> Result<u8, CliError> {
    let client = ctx.client()?;
    let apps = match cmd {
        AppsCmd::List { org } => client.list_apps(&org_of(org)?).await,
        AppsCmd::Create { slug, org, name } => {
            let org = org_of(org)?;
            client
                .create_app(&org, &slug, name.as_deref())
                .await
                .map(|a| vec![a])
        }
        AppsCmd::Show { app } => client.get_app(&app_of(app)?).await.map(|a| vec![a]),
        AppsCmd::Delete { app, yes } => {
            if !yes {
                return Err(CliError::usage(format!(
                    "deleting {app} revokes its deploy tokens; pass --yes to confirm"
                )));
            }
            client.delete_app(&app).await.map_err(|e| ctx.error(e))?;
            if ctx.json {
                output::json(&serde_json::json!({"deleted": app}));
            } else {
                eprintln!("Deleted app {app}; its deploy tokens are revoked.");
            }
            return Ok(0);
        }
    }
    .map_err(|e| ctx.error(e))?;
    if ctx.json {
        if apps.len() == 1 {
            output::json(&apps[0]);
        } else {
            output::json(&apps);
        }
    } else {
        let rows = apps
            .iter()
            .map(|a| {
                vec![
                    a.slug.clone(),
                    a.name.clone(),
                    a.org.clone(),
                    output::when(Some(&a.created_at), "-"),
                ]
            })
            .collect::<Vec<_>>();
        output::table(&["SLUG", "NAME", "ORG", "CREATED"], &rows);
    }
    Ok(0)
}

#[derive(Debug, Subcommand)]
pub enum MembersCmd {
    /// The members of an org.
    List {
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
    },
    /// Add a member or change their role.
    Set {
        /// User id (usr_…).
        user_id: String,
        /// viewer, operator, admin or owner.
        role: String,
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
    },
    /// Remove a member.
    Remove {
        /// User id (usr_…).
        user_id: String,
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
    },
}

pub async fn members(ctx: &Ctx, cmd: MembersCmd) -> Result<u8, CliError> {
    let client = ctx.client()?;
    let members = match cmd {
        MembersCmd::List { org } => client.list_members(&org_of(org)?).await,
        MembersCmd::Set { user_id, role, org } => {
            let role = Role::parse(&role)
                .ok_or_else(|| CliError::usage("role must be viewer, operator, admin or owner"))?;
            client
                .put_member(&org_of(org)?, &user_id, role)
                .await
                .map(|m| vec![m])
        }
        MembersCmd::Remove { user_id, org } => {
            client
                .remove_member(&org_of(org)?, &user_id)
                .await
                .map_err(|e| ctx.error(e))?;
            if !ctx.json {
                eprintln!("Removed {user_id}.");
            } else {
                output::json(&serde_json::json!({"removed": user_id}));
            }
            return Ok(0);
        }
    }
    .map_err(|e| ctx.error(e))?;
    if ctx.json {
        output::json(&members);
    } else {
        let rows = members
            .iter()
            .map(|m| {
                vec![
                    m.user_id.clone(),
                    m.email.clone(),
                    m.name.clone(),
                    m.role.as_str().to_owned(),
                ]
            })
            .collect::<Vec<_>>();
        output::table(&["USER ID", "EMAIL", "NAME", "ROLE"], &rows);
    }
    Ok(0)
}

#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// Every user.
    List,
    /// Create a user (the password is read from standard input).
    Create {
        /// Email (their login).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Make them an instance administrator.
        #[arg(long)]
        admin: bool,
    },
    /// Disable a user: their tokens stop working on the next request.
    Disable {
        /// User id (usr_…).
        id: String,
    },
    /// Enable a disabled user.
    Enable {
        /// User id (usr_…).
        id: String,
    },
}

pub async fn users(ctx: &Ctx, cmd: UsersCmd) -> Result<u8, CliError> {
    let client = ctx.client()?;
    let users = match cmd {
        UsersCmd::List => client.list_users().await,
        UsersCmd::Create { email, name, admin } => {
            let password = if std::io::stdin().is_terminal() {
                rpassword::prompt_password("Password for the new user: ")
                    .map_err(|e| CliError::failure(format!("cannot read the password: {e}")))?
            } else {
                read_stdin_line()?
            };
            let req = CreateUserRequest {
                email,
                password,
                name,
                is_admin: Some(admin),
            };
            client.create_user(&req).await.map(|u| vec![u])
        }
        UsersCmd::Disable { id } => client
            .update_user(
                &id,
                &UpdateUserRequest {
                    disabled: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map(|u| vec![u]),
        UsersCmd::Enable { id } => client
            .update_user(
                &id,
                &UpdateUserRequest {
                    disabled: Some(false),
                    ..Default::default()
                },
            )
            .await
            .map(|u| vec![u]),
    }
    .map_err(|e| ctx.error(e))?;
    if ctx.json {
        output::json(&users);
    } else {
        let rows = users
            .iter()
            .map(|u| {
                vec![
                    u.id.clone(),
                    u.email.clone(),
                    u.name.clone(),
                    if u.is_admin { "yes" } else { "no" }.to_owned(),
                    if u.disabled { "disabled" } else { "enabled" }.to_owned(),
                ]
            })
            .collect::<Vec<_>>();
        output::table(&["ID", "EMAIL", "NAME", "ADMIN", "STATE"], &rows);
    }
    Ok(0)
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Audit events you may see, newest first.
    #[command(
        after_help = "Example:\n  gantry audit list --org acme --action token.revoke --since 2026-01-01T00:00:00Z"
    )]
    List {
        /// Only this org's events.
        #[arg(long)]
        org: Option<String>,
        /// Only this actor (user or token id).
        #[arg(long)]
        actor: Option<String>,
        /// Only this action (e.g. token.create, deploy.create, auth.failed).
        #[arg(long)]
        action: Option<String>,
        /// Only events at or after this RFC 3339 instant.
        #[arg(long)]
        since: Option<String>,
        /// At most this many (1-1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

pub async fn audit(ctx: &Ctx, cmd: AuditCmd) -> Result<u8, CliError> {
    let AuditCmd::List {
        org,
        actor,
        action,
        since,
        limit,
    } = cmd;
    let limit = limit.to_string();
    let mut q: Vec<(&str, &str)> = vec![("limit", &limit)];
    for (k, v) in [
        ("org", &org),
        ("actor", &actor),
        ("action", &action),
        ("since", &since),
    ] {
        if let Some(v) = v {
            q.push((k, v));
        }
    }
    let events = ctx
        .client()?
        .list_audit(&q)
        .await
        .map_err(|e| ctx.error(e))?;
    if ctx.json {
        output::json(&events);
    } else {
        let rows = events
            .iter()
            .map(|e| {
                vec![
                    e.at.clone(),
                    e.actor
                        .name
                        .clone()
                        .or_else(|| e.actor.id.clone())
                        .unwrap_or_else(|| e.actor.kind.clone()),
                    e.action.clone(),
                    match (&e.target_type, &e.target_id) {
                        (Some(t), Some(i)) => format!("{t} {i}"),
                        _ => "-".into(),
                    },
                    e.app
                        .clone()
                        .or_else(|| e.org.clone())
                        .unwrap_or_else(|| "-".into()),
                    e.outcome.clone(),
                    e.ip.clone().unwrap_or_else(|| "-".into()),
                ]
            })
            .collect::<Vec<_>>();
        output::table(
            &["AT", "ACTOR", "ACTION", "TARGET", "WHERE", "OUTCOME", "IP"],
            &rows,
        );
    }
    Ok(0)
}
