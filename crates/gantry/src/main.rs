//! `gantry`: one binary, server and client.

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use gantry_core::expiry::{parse_duration, TokenPolicy};
use gantry_core::service::Settings;
use gantry_core::time::SystemClock;
use gantry_core::Gantry;
use gantry_server::ServerConfig;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// gantry: scoped, expiring, revocable deploy credentials for your apps.
#[derive(Parser)]
#[command(name = "gantry", version, about, long_about = None, after_help = "\
Examples:
  gantry serve                                  # embedded SQLite under ./gantry-data
  gantry login                                  # save a personal token for the commands below
  gantry tokens create deploy -a web -n ci -x 720h
  GANTRY_TOKEN=gtd_… GANTRY_APP=web gantry deploy ./dist --label \"$(git rev-parse --short HEAD)\"
  gantry tokens list -s org -a web

Exit codes: 0 success, 1 failure, 2 usage, 3 authentication or permission.")]
struct Cli {
    #[command(flatten)]
    globals: gantry_cli::Globals,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gantry server.
    Serve(ServeArgs),
    /// Offline administration against the server's database.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Apply database migrations and exit (`serve` also applies them on start).
    #[command(
        after_help = "Example:\n  GANTRY_DATABASE_URL=postgres://gantry@db/gantry gantry migrate"
    )]
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write the whole instance (rows and release artifacts) as JSON lines.
    #[command(after_help = "\
Token values are not in the export (the server never had them): only their hashes, so every
token keeps working after `gantry import`. The export does hold password hashes and env var
values: keep it as private as the database.

Example (move from the embedded SQLite store to PostgreSQL):
  gantry export --data-dir /var/lib/gantry --output gantry.jsonl
  gantry import gantry.jsonl --database-url postgres://gantry@db/gantry")]
    Export {
        #[command(flatten)]
        store: StoreArgs,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Load an export into a new, empty database (all of it in one transaction).
    #[command(
        after_help = "Example:\n  gantry import gantry.jsonl --database-url postgres://gantry@db/gantry"
    )]
    Import {
        /// The file `gantry export` wrote (`-` for standard input).
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    #[command(flatten)]
    Client(gantry_cli::Command),
    /// Print shell completions.
    #[command(
        after_help = "Examples:\n  gantry completions bash > /etc/bash_completion.d/gantry\n  gantry completions zsh > \"${fpath[1]}/_gantry\"\n  gantry completions fish > ~/.config/fish/completions/gantry.fish"
    )]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
struct StoreArgs {
    /// Directory for the database and release artifacts.
    #[arg(long, env = "GANTRY_DATA_DIR", default_value = "./gantry-data")]
    data_dir: PathBuf,
    /// Database URL: `postgres://USER@HOST/DB` to run several nodes on one PostgreSQL
    /// database, or `sqlite://PATH`; default: the embedded SQLite file in the data directory.
    #[arg(long, env = "GANTRY_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(Args)]
#[command(after_help = "\
On first start with an empty database an instance administrator is created from
GANTRY_ADMIN_EMAIL and GANTRY_ADMIN_PASSWORD; without them, admin@localhost gets a generated
password written to <data-dir>/initial-admin-password (mode 0600; removed once changed).

Examples:
  gantry serve
  gantry serve --listen 0.0.0.0:8080 --data-dir /var/lib/gantry --max-token-lifetime 365d")]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GANTRY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    store: StoreArgs,
    /// Longest lifetime any token may have (e.g. 365d); off by default. Also forbids tokens
    /// that never expire.
    #[arg(long, env = "GANTRY_MAX_TOKEN_LIFETIME", value_parser = duration)]
    max_token_lifetime: Option<Duration>,
    /// Refuse tokens that never expire.
    #[arg(long, env = "GANTRY_FORBID_NON_EXPIRING_TOKENS")]
    forbid_non_expiring_tokens: bool,
    /// Largest release artifact in bytes.
    #[arg(long, env = "GANTRY_MAX_ARTIFACT_BYTES", default_value_t = 512 * 1024 * 1024)]
    max_artifact_bytes: u64,
    /// Email of the first instance administrator (empty database only).
    #[arg(long, env = "GANTRY_ADMIN_EMAIL")]
    admin_email: Option<String>,
    /// Password of the first instance administrator (empty database only). Prefer the
    /// environment variable to the flag, which other users can see in `ps`.
    #[arg(long, env = "GANTRY_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user directly in the database (the password is read from standard input).
    #[command(
        after_help = "Example:\n  echo 'a long password' | gantry admin create-user --email ops@example.com --admin"
    )]
    CreateUser {
        /// The user's email (their login).
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Make the user an instance administrator.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("'{s}' is not a duration such as 90d, 720h or 1d12h"))
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("GANTRY_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Client(command) => return gantry_cli::run(&cli.globals, command).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "gantry", &mut script);
            // A closed pipe (`… | head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            return ExitCode::SUCCESS;
        }
        Command::Serve(args) => {
            init_logging();
            serve(args).await
        }
        Command::Admin(AdminCommand::CreateUser {
            email,
            name,
            admin,
            store,
        }) => create_user(store, &email, name.as_deref(), admin).await,
        Command::Migrate { store } => open_database(&store).await.map(|_| {
            eprintln!("the database schema is up to date");
        }),
        Command::Export { store, output } => export(store, output).await,
        Command::Import { file, store } => import(store, file).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = ServerConfig::for_data_dir(&args.store.data_dir);
    config.listen = args.listen;
    config.database_url = args.store.database_url;
    config.admin_email = args.admin_email;
    config.admin_password = args.admin_password;
    config.settings = Settings {
        token_policy: TokenPolicy {
            max_lifetime: args.max_token_lifetime,
            forbid_non_expiring: args.forbid_non_expiring_tokens,
        },
        max_artifact_bytes: args.max_artifact_bytes,
    };
    let started = gantry_server::start(config, Arc::new(SystemClock)).await?;
    started.run_until_signal().await;
    Ok(())
}

async fn create_user(
    store: StoreArgs,
    email: &str,
    name: Option<&str>,
    admin: bool,
) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']);
    let db = open_database(&store).await?.store();
    let gantry = Gantry::new(db, Arc::new(SystemClock), Settings::default());
    let user = gantry
        .create_user_as_system(email, password, name, admin)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", user.id);
    Ok(())
}

async fn open_database(store: &StoreArgs) -> anyhow::Result<gantry_store::Database> {
    if store.database_url.is_none() {
        std::fs::create_dir_all(&store.data_dir)
            .with_context(|| format!("creating {}", store.data_dir.display()))?;
    }
    gantry_store::Database::open(store.database_url.as_deref(), &store.data_dir)
        .await
        .map_err(|e| anyhow::anyhow!("opening the database: {e}"))
}

async fn export(store: StoreArgs, output: Option<PathBuf>) -> anyhow::Result<()> {
    let db = open_database(&store).await?;
    let artifacts = db
        .artifacts(&store.data_dir)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out: Box<dyn tokio::io::AsyncWrite + Send + Unpin> = match &output {
        Some(path) => Box::new(tokio::io::BufWriter::new(
            tokio::fs::File::create(path)
                .await
                .with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(tokio::io::BufWriter::new(tokio::io::stdout())),
    };
    let summary = gantry_store::transfer::export(&db, artifacts.as_ref(), &mut out)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!(
        "exported {} rows and {} artifacts ({} bytes)",
        summary.rows, summary.artifacts, summary.artifact_bytes
    );
    Ok(())
}

async fn import(store: StoreArgs, file: PathBuf) -> anyhow::Result<()> {
    let db = open_database(&store).await?;
    let artifacts = db
        .artifacts(&store.data_dir)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut input: Box<dyn tokio::io::AsyncBufRead + Send + Unpin> = if file.as_os_str() == "-" {
        Box::new(tokio::io::BufReader::new(tokio::io::stdin()))
    } else {
        Box::new(tokio::io::BufReader::new(
            tokio::fs::File::open(&file)
                .await
                .with_context(|| format!("opening {}", file.display()))?,
        ))
    };
    let summary = gantry_store::transfer::import(&db, artifacts.as_ref(), &mut input)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!(
        "imported {} rows and {} artifacts ({} bytes)",
        summary.rows, summary.artifacts, summary.artifact_bytes
    );
    Ok(())
}
