//! The client half of the one `gantry` binary, shaped like flyctl (DESIGN §4): clap commands
//! over the typed `gantry-client`, aligned tables with relative times for people, `--json`
//! with the API's own objects for scripts.
//!
//! Exit codes: 0 success, 1 failure, 2 usage (bad flags, missing app or org), 3 authentication
//! or permission (no, invalid, expired or revoked credential; not allowed).
//!
//! Human output escapes control characters in everything the server sent ([`safe`]); `--json`
//! prints it exactly.

/// `println!` that ignores a closed pipe (`gantry tokens list | head` must not panic).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod commands;
pub mod oidc;
pub mod output;
pub mod safe;
pub mod settings;

pub use commands::{Command, ConfigCmd};

use clap::Args;
use gantry_client::{Client, ClientError};
use settings::{ConfigFile, Resolved, Source};
use std::process::ExitCode;

/// Options every client command takes.
#[derive(Debug, Clone, Args)]
pub struct Globals {
    /// gantry server URL [default: $GANTRY_URL, the saved login, http://127.0.0.1:8080]
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// Credential to use [default: $GANTRY_TOKEN, then the token saved by `gantry login`]
    #[arg(long, global = true, value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print machine-readable JSON instead of tables
    #[arg(long, global = true)]
    pub json: bool,
}

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    /// Exit 1.
    pub fn failure(message: impl Into<String>) -> CliError {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
    /// Exit 2: the command line is incomplete.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError {
            code: 2,
            message: message.into(),
        }
    }
    /// Exit 3: authentication or permission.
    pub fn auth(message: impl Into<String>) -> CliError {
        CliError {
            code: 3,
            message: message.into(),
        }
    }
}

/// Everything a command needs: where the server is, the credential and where it came from.
pub struct Ctx {
    pub url: Resolved,
    pub token: Resolved,
    pub json: bool,
    pub file: ConfigFile,
    client: Client,
}

impl Ctx {
    fn new(g: &Globals) -> Result<Ctx, CliError> {
        let file = ConfigFile::load()?;
        let url = settings::resolve(
            g.url.as_deref(),
            "GANTRY_URL",
            file.url.as_deref(),
            Some(settings::DEFAULT_URL),
        );
        let token = settings::resolve(
            g.token.as_deref(),
            "GANTRY_TOKEN",
            file.token.as_deref(),
            None,
        );
        let base = url
            .value
            .clone()
            .unwrap_or_else(|| settings::DEFAULT_URL.to_owned());
        let mut client = Client::new(&base);
        if let Some(t) = &token.value {
            client = client.with_token(t.trim());
        }
        Ok(Ctx {
            url,
            token,
            json: g.json,
            file,
            client,
        })
    }

    /// The server URL in use.
    pub fn base(&self) -> &str {
        self.client.base()
    }

    /// The client, when a credential is available.
    pub fn client(&self) -> Result<&Client, CliError> {
        if self.token.value.is_none() {
            return Err(CliError::auth(
                "not logged in: run `gantry login`, or set GANTRY_TOKEN (or pass --token)",
            ));
        }
        Ok(&self.client)
    }

    /// The client for a command on `app` (else `$GANTRY_APP`): the given credential; without
    /// one, in a CI job that can prove who it is, a deploy token exchanged for the job's OIDC
    /// ID token (DESIGN §8). The exchanged token lives in memory only.
    pub async fn client_for(&self, app: Option<&str>) -> Result<Client, CliError> {
        if self.token.value.is_some() {
            return Ok(self.client.clone());
        }
        let Some(jwt) = oidc::ci_id_token(self.base()).await? else {
            return self.client().cloned();
        };
        let app = commands::app_of(app.map(str::to_owned))?;
        let issued = self
            .anonymous()
            .exchange_id_token(&jwt, &app)
            .await
            .map_err(|e| self.exchange_error(e))?;
        Ok(self.client.with_token(&issued.access_token))
    }

    /// An exchange refused: what it means for a CI job.
    pub fn exchange_error(&self, e: ClientError) -> CliError {
        match e.code() {
            Some("invalid_grant") => CliError::auth(
                "the CI job's ID token was refused: no trust policy of the app accepts it \
                 (wrong audience, issuer or conditions, or a token already used); \
                 `gantry trust test` shows why",
            ),
            Some(_) => CliError::auth(format!("token exchange refused: {e}")),
            None => self.error(e),
        }
    }

    /// A client without a credential (login).
    pub fn anonymous(&self) -> Client {
        Client::new(self.client.base())
    }

    fn token_source(&self) -> String {
        self.token.source.describe("GANTRY_TOKEN")
    }

    /// Turns an API or transport error into one line naming the problem and the fix.
    pub fn error(&self, e: ClientError) -> CliError {
        match e {
            ClientError::Api { status, body } => {
                let msg = body.error.message;
                match (status.as_u16(), body.error.code.as_str()) {
                    (401, "unauthenticated") => CliError::auth(format!(
                        "{msg}: run `gantry login`, or set GANTRY_TOKEN"
                    )),
                    (401, "invalid_credentials") => CliError::auth(format!("{msg}: check the email and password")),
                    (401, "token_revoked") => CliError::auth(format!(
                        "{msg} (token from {}): create a new one, or run `gantry login`",
                        self.token_source()
                    )),
                    (401, "user_disabled") => CliError::auth(format!(
                        "{msg} (token from {}): ask an instance administrator to enable the user",
                        self.token_source()
                    )),
                    (401, _) => CliError::auth(format!(
                        "{msg} (token from {}): check it, or run `gantry login`",
                        self.token_source()
                    )),
                    (403, _) => CliError::auth(format!(
                        "{msg} (token from {}): use a credential with more rights",
                        self.token_source()
                    )),
                    _ => CliError::failure(msg),
                }
            }
            ClientError::Transport(t) if t.is_connect() || t.is_timeout() => CliError::failure(format!(
                "cannot reach gantry at {}: is `gantry serve` running there? Set --url or GANTRY_URL",
                self.base()
            )),
            other => CliError::failure(other.to_string()),
        }
    }
}

/// Runs a client command and returns the process exit code.
pub async fn run(globals: &Globals, command: Command) -> ExitCode {
    let result = match Ctx::new(globals) {
        Ok(ctx) => commands::dispatch(&ctx, command).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Messages carry the server's words (and its raw answer when it is not gantry's
            // JSON): one line, with any control characters escaped.
            eprintln!("error: {}", safe::terminal_safe(&e.message));
            ExitCode::from(e.code)
        }
    }
}

/// Where the token came from, for `whoami`.
pub fn source_name(s: Source) -> &'static str {
    match s {
        Source::Flag => "--token",
        Source::Env => "GANTRY_TOKEN",
        Source::ConfigFile => "saved login",
        Source::Default => "default",
        Source::None => "none",
    }
}
