//! `gantry`: one binary, server and client.

use anyhow::Context;
use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use gantry_core::service::Settings;
use gantry_core::time::SystemClock;
use gantry_core::Gantry;
use gantry_server::config::{self as server_config, Kind, LogFormat, SETTINGS};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

// mimalloc: the hot path allocates small, short-lived objects on two threads at once, where
// glibc's malloc spent ~13% of a verified request (perf, bench/run.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `gantry --version`: the crate version and the git revision it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("GANTRY_GIT_REVISION"),
    ")"
);

/// gantry: scoped, expiring, revocable deploy credentials for your apps.
#[derive(Parser)]
#[command(name = "gantry", version = VERSION, about, long_about = None, after_help = "\
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
values: keep it as private as the database (--output writes it with mode 0600).

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
    /// Take a consistent backup of the embedded SQLite store while the server runs.
    #[command(after_help = "\
Writes PATH/gantry.db (an online snapshot: VACUUM INTO), PATH/artifacts/ (every release artifact
the snapshot points at, each checked against its SHA-256) and PATH/backup.json. PATH must be new
or empty. The backup holds password hashes and env var values: keep it as private as the data
directory (its files are written 0600, the directories it creates 0700). PostgreSQL: use
pg_dump (README, Backups).

Example:
  gantry backup --data-dir /var/lib/gantry /backups/gantry-$(date +%F)")]
    Backup {
        /// A new or empty directory to write the backup into.
        path: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Restore a `gantry backup` into an empty data directory (the server must not run on it).
    #[command(
        after_help = "Example:\n  gantry restore /backups/gantry-2026-12-01 --data-dir /var/lib/gantry\n  gantry serve --data-dir /var/lib/gantry"
    )]
    Restore {
        /// The directory `gantry backup` wrote.
        path: PathBuf,
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

/// `gantry serve`'s flags: `--config`, `--print-config`, and one flag per setting of
/// [`SETTINGS`] (the same table the config file and the environment are read with).
struct ServeArgs {
    config: Option<PathBuf>,
    print_config: bool,
    /// Settings given as flags, by setting key.
    flags: BTreeMap<&'static str, String>,
}

const SERVE_HELP: &str = "\
Every setting is a flag, an environment variable and a key of the config file: a flag beats
the environment, which beats the file, which beats the default. `gantry config example` prints
a commented file with every setting; `--print-config` shows what is in force and why.

On first start with an empty database an instance administrator is created from
GANTRY_ADMIN_EMAIL and GANTRY_ADMIN_PASSWORD; without a password, admin@localhost gets a generated
one written to <data-dir>/initial-admin-password (mode 0600; removed once changed).

Examples:
  gantry serve
  gantry serve --config /etc/gantry/gantry.toml
  gantry serve --listen 0.0.0.0:8080 --data-dir /var/lib/gantry --max-token-lifetime 365d
  GANTRY_METRICS_LISTEN=127.0.0.1:9100 gantry serve --print-config";

impl FromArgMatches for ServeArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let flags = SETTINGS
            .iter()
            .filter_map(|s| m.get_one::<String>(s.key).map(|v| (s.key, v.clone())))
            .collect();
        Ok(ServeArgs {
            config: m.get_one::<PathBuf>("config").cloned(),
            print_config: m.get_flag("print-config"),
            flags,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for ServeArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let mut cmd = cmd
            .after_help(SERVE_HELP)
            .arg(
                Arg::new("config")
                    .long("config")
                    .short('c')
                    .value_name("FILE")
                    .env("GANTRY_SERVER_CONFIG")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("TOML configuration file (see `gantry config example`)"),
            )
            .arg(
                Arg::new("print-config")
                    .long("print-config")
                    .action(ArgAction::SetTrue)
                    .help("Print the settings in force (secrets redacted) with where each came from, and exit"),
            );
        for s in SETTINGS {
            let default = s.default.filter(|d| !d.is_empty()).unwrap_or("unset");
            let mut arg = Arg::new(s.key)
                .long(s.flag)
                .value_name(match s.kind {
                    Kind::Bool => "BOOL",
                    Kind::Integer => "N",
                    Kind::List => "LIST",
                    Kind::Text => "VALUE",
                })
                .help(format!(
                    "{} [env: {}] [file: {}] [default: {default}]",
                    s.help, s.env, s.key
                ))
                .action(ArgAction::Set);
            if s.kind == Kind::Bool {
                arg = arg
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value("true");
            }
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
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

/// Installs the log subscriber: text on a terminal (or when asked), JSON lines otherwise.
fn init_logging(format: LogFormat, filter: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Client(gantry_cli::Command::Config(gantry_cli::ConfigCmd::Example)) => {
            let _ = std::io::Write::write_all(
                &mut std::io::stdout(),
                server_config::example().as_bytes(),
            );
            return ExitCode::SUCCESS;
        }
        Command::Client(command) => return gantry_cli::run(&cli.globals, command).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "gantry", &mut script);
            // A closed pipe (`… | head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            return ExitCode::SUCCESS;
        }
        Command::Serve(args) => return serve(args).await,
        Command::Backup { path, store } => backup(store, path).await,
        Command::Restore { path, store } => restore(store, path).await,
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

/// The environment as the settings table reads it (`RUST_LOG` stands in for `GANTRY_LOG`).
fn environment(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .or_else(|| (name == "GANTRY_LOG").then(|| std::env::var("RUST_LOG").ok())?)
}

async fn serve(args: ServeArgs) -> ExitCode {
    let effective = match server_config::resolve(&args.flags, environment, args.config.as_deref()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.print_config {
        let text = server_config::render_effective(&effective);
        let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
        return ExitCode::SUCCESS;
    }
    let config = effective.config.clone();
    init_logging(config.log_format, &config.log_filter);
    gantry_server::panics::install_hook();
    tracing::info!(version = VERSION, "starting gantry");
    for (setting, value, source) in &effective.values {
        if *source != server_config::Source::Default {
            let shown = value
                .as_deref()
                .map(|v| server_config::shown(setting, v))
                .unwrap_or_default();
            tracing::info!(setting = setting.key, value = %shown, source = ?source, "setting");
        }
    }
    let started = match gantry_server::start(config, Arc::new(SystemClock)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    started.run_until_signal().await;
    ExitCode::SUCCESS
}

async fn backup(store: StoreArgs, path: PathBuf) -> anyhow::Result<()> {
    if store.database_url.is_some() {
        anyhow::bail!(
            "gantry backup copies the embedded store of --data-dir; back up PostgreSQL with pg_dump (README, Backups)"
        );
    }
    let data_dir = store.data_dir;
    let s = gantry_store::backup::backup(&data_dir, &path)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!(
        "backed up {} tokens, {} releases and {} artifacts ({} bytes) as of {} into {}",
        s.tokens,
        s.releases,
        s.artifacts,
        s.artifact_bytes,
        s.taken_at,
        path.display()
    );
    Ok(())
}

async fn restore(store: StoreArgs, path: PathBuf) -> anyhow::Result<()> {
    if store.database_url.is_some() {
        anyhow::bail!(
            "gantry restore writes the embedded SQLite store of --data-dir; restore PostgreSQL with pg_restore (README, Backups)"
        );
    }
    let s = gantry_store::backup::restore(&path, &store.data_dir)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!(
        "restored {} tokens, {} releases and {} artifacts ({} bytes) as of {} into {}",
        s.tokens,
        s.releases,
        s.artifacts,
        s.artifact_bytes,
        s.taken_at,
        store.data_dir.display()
    );
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
        gantry_store::private_fs::create_private_dir(&store.data_dir)
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
    // The export holds password hashes and env var values: 0600, whatever the umask.
    let mut out: Box<dyn tokio::io::AsyncWrite + Send + Unpin> = match &output {
        Some(path) => Box::new(tokio::io::BufWriter::new(tokio::fs::File::from_std(
            gantry_store::private_fs::create_private_file(path)
                .with_context(|| format!("creating {}", path.display()))?,
        ))),
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
