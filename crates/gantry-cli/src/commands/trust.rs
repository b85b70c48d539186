//! `gantry trust …`: an app's trust policies for keyless CI (DESIGN §8), and the exchange of a
//! CI job's ID token for a deploy token.

use super::app_of;
use crate::safe::terminal_safe;
use crate::{output, CliError, Ctx};
use clap::Subcommand;
use gantry_api::{CreateTrustPolicyRequest, TrustPolicyView};
use std::collections::BTreeMap;

#[derive(Debug, Subcommand)]
pub enum TrustCmd {
    /// The app's trust policies.
    List {
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
    },
    /// Create a trust policy. The presets require the CI system's immutable ids (they look
    /// nothing up: give the ids, or a sample ID token of the job with --from-jwt).
    #[command(
        after_help = "Examples:\n  gantry trust create -a web --name main --preset github --repo octo/web \\\n      --repository-id 123456 --owner-id 7890 --ref refs/heads/main\n  gantry trust create -a web --name main --preset github --from-jwt sample.jwt --ref refs/heads/main\n  gantry trust create -a web --name prod --preset gitlab --project-id 42 --namespace-id 7 \\\n      --ref main --protected\n  gantry trust create -a web --name buildkite --issuer https://agent.buildkite.com \\\n      --condition 'sub=organization:acme:pipeline:web:ref:refs/heads/main:*'"
    )]
    Create(Box<CreateArgs>),
    /// Delete a policy; the live tokens it issued are revoked with it.
    Delete {
        /// Policy id (trp_…).
        id: String,
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
    },
    /// Show, claim by claim, whether an ID token would be exchanged under a policy.
    Test {
        /// Policy id (trp_…).
        id: String,
        /// The JWT: a file, or - for standard input [default: $GANTRY_ID_TOKEN].
        jwt: Option<String>,
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
    },
    /// Exchange this CI job's ID token for a deploy token and print it (once), e.g.
    /// `export GANTRY_TOKEN=$(gantry trust exchange -a web -q)` before several commands.
    Exchange {
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
        /// Print only the token (no notice on stderr).
        #[arg(short, long)]
        quiet: bool,
    },
}

/// `gantry trust create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// App [default: $GANTRY_APP]
    #[arg(short, long)]
    app: Option<String>,
    /// A name for the policy.
    #[arg(long)]
    name: String,
    /// github or gitlab.
    #[arg(long)]
    preset: Option<String>,
    /// The issuer URL (required without a preset; overrides the preset's).
    #[arg(long)]
    issuer: Option<String>,
    /// The aud the ID token must carry [default: the server's public_url].
    #[arg(long)]
    audience: Option<String>,
    /// github: OWNER/NAME (matched as `repository`, beside the ids).
    #[arg(long, value_name = "OWNER/NAME")]
    repo: Option<String>,
    /// github: the repository's numeric id (`repository_id`).
    #[arg(long)]
    repository_id: Option<String>,
    /// github: the owner's numeric id (`repository_owner_id`).
    #[arg(long)]
    owner_id: Option<String>,
    /// gitlab: the project's id (`project_id`).
    #[arg(long)]
    project_id: Option<String>,
    /// gitlab: the group's id (`namespace_id`).
    #[arg(long)]
    namespace_id: Option<String>,
    /// The git ref (`ref`): refs/heads/main on GitHub, main on GitLab; a glob with *.
    #[arg(long = "ref", value_name = "REF")]
    git_ref: Option<String>,
    /// The deployment environment (`environment`).
    #[arg(long)]
    environment: Option<String>,
    /// gitlab: only protected refs (`ref_protected=true`).
    #[arg(long)]
    protected: bool,
    /// Any other condition, CLAIM=VALUE (exact, or a glob with *); repeatable.
    #[arg(long = "condition", value_name = "CLAIM=VALUE")]
    conditions: Vec<String>,
    /// Read the ids (and the issuer) from a sample ID token of the job (a file; - for stdin).
    /// Nothing in it is trusted: it only fills in what the flags did not give.
    #[arg(long, value_name = "FILE")]
    from_jwt: Option<String>,
    /// How long issued tokens live (at most 1h) [default: 15m].
    #[arg(long)]
    token_lifetime: Option<String>,
    /// What issued tokens may do: read, deploy, env, config, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_name = "CAPS")]
    capabilities: Option<Vec<String>>,
    /// github: accept jobs run by pull_request_target (refused by default).
    #[arg(long)]
    allow_pull_request_target: bool,
    /// Trust names instead of the preset's ids; needs --reason.
    #[arg(long)]
    no_immutable_ids: bool,
    #[arg(long)]
    reason: Option<String>,
}

fn read_jwt(source: Option<&str>) -> Result<String, CliError> {
    match source {
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| CliError::failure(format!("cannot read standard input: {e}")))?;
            Ok(s.trim().to_owned())
        }
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| CliError::failure(format!("cannot read {path}: {e}"))),
        None => std::env::var("GANTRY_ID_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| CliError::usage("no JWT given: pass a file, -, or set GANTRY_ID_TOKEN")),
    }
}

fn print_policies(policies: &[TrustPolicyView]) {
    let rows: Vec<Vec<String>> = policies
        .iter()
        .map(|p| {
            vec![
                p.id.clone(),
                p.name.clone(),
                p.preset.clone().unwrap_or_else(|| "-".into()),
                p.issuer.clone(),
                p.conditions
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                p.token_lifetime.clone(),
            ]
        })
        .collect();
    output::table(
        &["ID", "NAME", "PRESET", "ISSUER", "CONDITIONS", "LIFETIME"],
        &rows,
    );
}

pub async fn run(ctx: &Ctx, cmd: TrustCmd) -> Result<u8, CliError> {
    match cmd {
        TrustCmd::List { app } => {
            let client = ctx.client()?;
            let policies = client
                .list_trust_policies(&app_of(app)?)
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json {
                output::json(&policies);
            } else {
                print_policies(&policies);
            }
        }
        TrustCmd::Create(args) => {
            let CreateArgs {
                app,
                name,
                preset,
                issuer,
                audience,
                repo,
                repository_id,
                owner_id,
                project_id,
                namespace_id,
                git_ref,
                environment,
                protected,
                conditions: extra,
                from_jwt,
                token_lifetime,
                capabilities,
                allow_pull_request_target,
                no_immutable_ids,
                reason,
            } = *args;
            let client = ctx.client()?;
            let app = app_of(app)?;
            let sample = match &from_jwt {
                Some(src) => Some(crate::oidc::sample_claims(&read_jwt(Some(src))?)?),
                None => None,
            };
            let from_sample = |claim: &str| -> Option<String> {
                sample
                    .as_ref()
                    .and_then(|s| s.get(claim))
                    .and_then(|v| match v {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
            };
            let mut conditions = BTreeMap::new();
            let mut put = |claim: &str, value: Option<String>| {
                if let Some(v) = value {
                    conditions.insert(claim.to_owned(), v);
                }
            };
            match preset.as_deref() {
                Some("github") => {
                    put("repository", repo.or_else(|| from_sample("repository")));
                    put(
                        "repository_id",
                        repository_id.or_else(|| from_sample("repository_id")),
                    );
                    put(
                        "repository_owner_id",
                        owner_id.or_else(|| from_sample("repository_owner_id")),
                    );
                }
                Some("gitlab") => {
                    put(
                        "project_id",
                        project_id.or_else(|| from_sample("project_id")),
                    );
                    put(
                        "namespace_id",
                        namespace_id.or_else(|| from_sample("namespace_id")),
                    );
                    put("ref_protected", protected.then(|| "true".to_owned()));
                }
                _ => {}
            }
            put("ref", git_ref);
            put("environment", environment);
            for pair in extra {
                let (k, v) = pair.split_once('=').ok_or_else(|| {
                    CliError::usage(format!("--condition {pair}: expected CLAIM=VALUE"))
                })?;
                conditions.insert(k.trim().to_owned(), v.to_owned());
            }
            let req = CreateTrustPolicyRequest {
                name,
                issuer: issuer.or_else(|| {
                    if preset.is_none() {
                        from_sample("iss")
                    } else {
                        None
                    }
                }),
                preset,
                audience,
                conditions,
                capabilities,
                token_lifetime,
                require_immutable_ids: no_immutable_ids.then_some(false),
                reason,
                allow_pull_request_target: allow_pull_request_target.then_some(true),
            };
            let p = client
                .create_trust_policy(&app, &req)
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json {
                output::json(&p);
            } else {
                say!(
                    "created trust policy {} ({}) on {}: issuer {}, audience {}, tokens live {}",
                    terminal_safe(&p.id),
                    terminal_safe(&p.name),
                    terminal_safe(&p.app),
                    terminal_safe(&p.issuer),
                    terminal_safe(&p.audience),
                    p.token_lifetime
                );
            }
        }
        TrustCmd::Delete { id, app } => {
            let client = ctx.client()?;
            client
                .delete_trust_policy(&app_of(app)?, &id)
                .await
                .map_err(|e| ctx.error(e))?;
            if !ctx.json {
                say!(
                    "deleted trust policy {}; the tokens it issued are revoked",
                    terminal_safe(&id)
                );
            }
        }
        TrustCmd::Test { id, jwt, app } => {
            let client = ctx.client()?;
            let jwt = read_jwt(jwt.as_deref())?;
            let verdict = client
                .test_trust_policy(&app_of(app)?, &id, &jwt)
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json {
                output::json(&verdict);
            } else {
                let rows: Vec<Vec<String>> = verdict
                    .checks
                    .iter()
                    .map(|c| {
                        vec![
                            if c.ok { "ok" } else { "FAIL" }.to_owned(),
                            c.claim.clone(),
                            c.expected.clone(),
                            c.actual.clone().unwrap_or_else(|| "(missing)".into()),
                        ]
                    })
                    .collect();
                output::table(&["", "CLAIM", "POLICY ASKS", "TOKEN SAYS"], &rows);
                say!(
                    "{}",
                    if verdict.matches {
                        "the token would be exchanged"
                    } else {
                        "the token would be refused"
                    }
                );
            }
            return Ok(if verdict.matches { 0 } else { 1 });
        }
        TrustCmd::Exchange { app, quiet } => {
            let app = app_of(app)?;
            let base = ctx.base().to_owned();
            let jwt = crate::oidc::ci_id_token(&base).await?.ok_or_else(|| {
                CliError::usage(
                    "no ID token: run in a GitHub Actions job with `permissions: id-token: write`, or set GANTRY_ID_TOKEN",
                )
            })?;
            let issued = ctx
                .anonymous()
                .exchange_id_token(&jwt, &app)
                .await
                .map_err(|e| ctx.exchange_error(e))?;
            if ctx.json {
                output::json(&issued_json(&issued));
            } else {
                say!("{}", issued.access_token);
                if !quiet {
                    eprintln!(
                        "a deploy token for {} valid for {} s; it is shown only now",
                        terminal_safe(&app),
                        issued.expires_in
                    );
                }
            }
        }
    }
    Ok(0)
}

fn issued_json(t: &gantry_api::TokenExchangeResponse) -> serde_json::Value {
    serde_json::json!({
        "access_token": t.access_token,
        "issued_token_type": t.issued_token_type,
        "token_type": t.token_type,
        "expires_in": t.expires_in,
    })
}
