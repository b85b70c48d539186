//! The client commands and their dispatch.

mod account;
mod alerts;
mod release;
mod scan;
mod tokens;
mod trust;

use crate::{CliError, Ctx};
use clap::Subcommand;

pub use account::{AppsCmd, AuditCmd, LoginArgs, MembersCmd, OrgsCmd, UsersCmd};
pub use alerts::AlertsCmd;
pub use release::{ConfigCmd, DeployArgs, EnvCmd, ReleasesCmd};
pub use scan::ScanArgs;
pub use tokens::TokensCmd;
pub use trust::TrustCmd;

/// Client commands (they talk to a gantry server over HTTP).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with email and password and save a personal token for later commands.
    #[command(
        after_help = "Examples:\n  gantry login\n  gantry login --email me@example.com --password-stdin < password.txt\n  gantry --url https://gantry.example.com login"
    )]
    Login(LoginArgs),
    /// Revoke the saved personal token and forget it.
    Logout,
    /// Organizations.
    #[command(subcommand)]
    Orgs(OrgsCmd),
    /// Apps (deployment targets).
    #[command(subcommand)]
    Apps(AppsCmd),
    /// Members of an org and their roles.
    #[command(subcommand)]
    Members(MembersCmd),
    /// Users of the instance (instance administrators).
    #[command(subcommand)]
    Users(UsersCmd),
    /// Create, list, inspect, rotate and revoke tokens.
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Push a release: a directory is packed as tar.gz, a file is sent as is.
    #[command(
        after_help = "Examples:\n  gantry deploy -a web ./dist --label \"$(git rev-parse --short HEAD)\"\n  GANTRY_TOKEN=gtd_… GANTRY_APP=web gantry deploy build.tar.gz -m 'nightly'"
    )]
    Deploy(DeployArgs),
    /// An app's releases.
    #[command(subcommand)]
    Releases(ReleasesCmd),
    /// An app's environment variables.
    #[command(subcommand)]
    Env(EnvCmd),
    /// An app's deployment configuration (a JSON document, versioned); `example` prints a
    /// server configuration file.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Alert rules: signed webhooks and mail on token, release, env and config events.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Trust policies for keyless CI: which CI jobs may exchange their OIDC ID token for a
    /// short-lived deploy token (no stored secret).
    #[command(subcommand)]
    Trust(TrustCmd),
    /// Find gantry tokens in files and directories (exit 1 if any); works offline.
    #[command(
        after_help = "Examples:\n  gantry scan .\n  git diff --cached --name-only -z | xargs -0 gantry scan   # pre-commit hook"
    )]
    Scan(ScanArgs),
}

/// Runs one command; Ok carries the exit code (0, or 1 for "found something" / partial failure).
pub async fn dispatch(ctx: &Ctx, command: Command) -> Result<u8, CliError> {
    match command {
        Command::Login(a) => account::login(ctx, a).await,
        Command::Logout => account::logout(ctx).await,
        Command::Orgs(c) => account::orgs(ctx, c).await,
        Command::Apps(c) => account::apps(ctx, c).await,
        Command::Members(c) => account::members(ctx, c).await,
        Command::Users(c) => account::users(ctx, c).await,
        Command::Tokens(c) => tokens::run(ctx, c).await,
        Command::Deploy(a) => release::deploy(ctx, a).await,
        Command::Releases(c) => release::releases(ctx, c).await,
        Command::Env(c) => release::env(ctx, c).await,
        Command::Config(c) => release::config(ctx, c).await,
        Command::Audit(c) => account::audit(ctx, c).await,
        Command::Alerts(c) => alerts::run(ctx, c).await,
        Command::Trust(c) => trust::run(ctx, c).await,
        Command::Scan(a) => scan::run(ctx, a).await,
    }
}

/// The app from `-a`, else `GANTRY_APP`.
pub fn app_of(flag: Option<String>) -> Result<String, CliError> {
    flag.or_else(|| std::env::var("GANTRY_APP").ok().filter(|s| !s.is_empty()))
        .ok_or_else(|| CliError::usage("no app given: pass -a APP or set GANTRY_APP"))
}

/// The org from `-o`, else `GANTRY_ORG`.
pub fn org_of(flag: Option<String>) -> Result<String, CliError> {
    flag.or_else(|| std::env::var("GANTRY_ORG").ok().filter(|s| !s.is_empty()))
        .ok_or_else(|| CliError::usage("no org given: pass -o ORG or set GANTRY_ORG"))
}

/// Reads one line (or all of stdin) without the newline.
pub fn read_stdin_line() -> Result<String, CliError> {
    let mut s = String::new();
    std::io::stdin()
        .read_line(&mut s)
        .map_err(|e| CliError::failure(format!("cannot read standard input: {e}")))?;
    Ok(s.trim_end_matches(['\n', '\r']).to_owned())
}
