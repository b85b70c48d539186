//! `gantry alerts …`: an org's alert rules and their deliveries (DESIGN §7).

use super::org_of;
use crate::safe::terminal_safe;
use crate::{output, CliError, Ctx};
use clap::Subcommand;
use gantry_api::{AlertSecretView, AlertView, CreateAlertRequest, DeliveryView};

#[derive(Debug, Subcommand)]
pub enum AlertsCmd {
    /// The org's alert rules (viewers see targets as scheme and host only).
    List {
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
    },
    /// Create a rule. A webhook rule's signing secret (whsec_…) is printed once, alone on
    /// stdout; verify each delivery's webhook-signature with it (Standard Webhooks v1).
    #[command(
        after_help = "Event types: token.created token.rotated token.revoked token.expiring token.expired\n             release.created env.changed config.changed ping\n\nExamples:\n  gantry alerts create -o acme --name deploys --events release.created --app web \\\n      --target https://hooks.example.com/gantry > whsec.txt\n  gantry alerts create -o acme --name expiry --events token.expiring,token.expired \\\n      --target mailto:ops@example.com,oncall@example.com"
    )]
    Create {
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
        /// A name for the rule.
        #[arg(long)]
        name: String,
        /// Event types, comma-separated (older names such as deploy also work).
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        /// Only this app's events.
        #[arg(short, long)]
        app: Option<String>,
        /// https:// URL (a webhook) or mailto:ADDRESS[,ADDRESS…] (mail).
        #[arg(long)]
        target: String,
        /// Print only the secret (no notice on stderr).
        #[arg(short, long)]
        quiet: bool,
    },
    /// Delete a rule and its deliveries.
    Delete {
        /// Rule id (alr_…).
        id: String,
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
    },
    /// Turn a rule on (after a receiver's 410 Gone turned it off).
    Enable {
        /// Rule id (alr_…).
        id: String,
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
    },
    /// Turn a rule off.
    Disable {
        /// Rule id (alr_…).
        id: String,
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
    },
    /// Send the rule a ping event now.
    Test {
        /// Rule id (alr_…).
        id: String,
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
    },
    /// The rule's deliveries, newest first.
    Deliveries {
        /// Rule id (alr_…).
        id: String,
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
        /// At most this many (1–1000).
        #[arg(long)]
        limit: Option<i64>,
    },
    /// Try a delivery again now.
    Retry {
        /// Rule id (alr_…).
        id: String,
        /// Delivery id (dlv_…).
        delivery: String,
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
    },
    /// A new signing secret, printed once, alone on stdout; the old one keeps signing beside
    /// it for 24 hours.
    RotateSecret {
        /// Rule id (alr_…).
        id: String,
        /// Org [default: $GANTRY_ORG]
        #[arg(short, long)]
        org: Option<String>,
        /// Print only the secret (no notice on stderr).
        #[arg(short, long)]
        quiet: bool,
    },
}

pub async fn run(ctx: &Ctx, cmd: AlertsCmd) -> Result<u8, CliError> {
    let client = ctx.client()?;
    match cmd {
        AlertsCmd::List { org } => {
            let rules = client
                .list_alerts(&org_of(org)?)
                .await
                .map_err(|e| ctx.error(e))?;
            print_rules(ctx, &rules);
        }
        AlertsCmd::Create {
            org,
            name,
            events,
            app,
            target,
            quiet,
        } => {
            let req = CreateAlertRequest {
                name,
                event: None,
                events: Some(events),
                app,
                target,
            };
            let created = client
                .create_alert(&org_of(org)?, &req)
                .await
                .map_err(|e| ctx.error(e))?;
            print_secret(ctx, &created, quiet, "Created");
        }
        AlertsCmd::Delete { id, org } => {
            client
                .delete_alert(&org_of(org)?, &id)
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json {
                output::json(&serde_json::json!({"deleted": id}));
            } else {
                eprintln!("Deleted {}.", terminal_safe(&id));
            }
        }
        AlertsCmd::Enable { id, org } => {
            let rule = client
                .set_alert_enabled(&org_of(org)?, &id, true)
                .await
                .map_err(|e| ctx.error(e))?;
            print_rules(ctx, &[rule]);
        }
        AlertsCmd::Disable { id, org } => {
            let rule = client
                .set_alert_enabled(&org_of(org)?, &id, false)
                .await
                .map_err(|e| ctx.error(e))?;
            print_rules(ctx, &[rule]);
        }
        AlertsCmd::Test { id, org } => {
            let d = client
                .test_alert(&org_of(org)?, &id)
                .await
                .map_err(|e| ctx.error(e))?;
            print_deliveries(ctx, &[d]);
        }
        AlertsCmd::Deliveries { id, org, limit } => {
            let list = client
                .list_deliveries(&org_of(org)?, &id, limit)
                .await
                .map_err(|e| ctx.error(e))?;
            print_deliveries(ctx, &list);
        }
        AlertsCmd::Retry { id, delivery, org } => {
            let d = client
                .retry_delivery(&org_of(org)?, &id, &delivery)
                .await
                .map_err(|e| ctx.error(e))?;
            print_deliveries(ctx, &[d]);
        }
        AlertsCmd::RotateSecret { id, org, quiet } => {
            let rotated = client
                .rotate_alert_secret(&org_of(org)?, &id)
                .await
                .map_err(|e| ctx.error(e))?;
            print_secret(ctx, &rotated, quiet, "Rotated the secret of");
        }
    }
    Ok(0)
}

/// The secret alone on stdout (so `$(…)` captures exactly it); the notice on stderr.
fn print_secret(ctx: &Ctx, created: &AlertSecretView, quiet: bool, what: &str) {
    if ctx.json {
        output::json(created);
        return;
    }
    match &created.secret {
        Some(secret) => {
            say!("{}", terminal_safe(secret));
            if !quiet {
                eprintln!(
                    "{what} rule {} \"{}\".\nThis is the only time the signing secret is shown: store it with the receiver, which verifies each delivery's webhook-signature with it.",
                    terminal_safe(&created.alert.id),
                    terminal_safe(&created.alert.name)
                );
            }
        }
        None => {
            if !quiet {
                eprintln!(
                    "{what} rule {} \"{}\" (mail: no signing secret).",
                    terminal_safe(&created.alert.id),
                    terminal_safe(&created.alert.name)
                );
            }
        }
    }
}

fn print_rules(ctx: &Ctx, rules: &[AlertView]) {
    if ctx.json {
        output::json(&rules);
        return;
    }
    let rows = rules
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.name.clone(),
                r.events.join(","),
                r.app.clone().unwrap_or_else(|| "-".into()),
                if r.enabled { "on" } else { "off" }.to_owned(),
                r.target.clone(),
            ]
        })
        .collect::<Vec<_>>();
    output::table(&["ID", "NAME", "EVENTS", "APP", "ENABLED", "TARGET"], &rows);
}

fn print_deliveries(ctx: &Ctx, list: &[DeliveryView]) {
    if ctx.json {
        output::json(&list);
        return;
    }
    let rows = list
        .iter()
        .map(|d| {
            let last = match (&d.last_status, &d.last_error) {
                (_, Some(e)) => e.clone(),
                (Some(s), None) => s.to_string(),
                _ => "-".into(),
            };
            vec![
                d.id.clone(),
                d.event_type.clone(),
                d.state.clone(),
                d.attempts.to_string(),
                output::when(d.next_attempt_at.as_deref(), "-"),
                last,
            ]
        })
        .collect::<Vec<_>>();
    output::table(
        &["ID", "EVENT", "STATE", "TRIES", "NEXT TRY", "LAST"],
        &rows,
    );
}
