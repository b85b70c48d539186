//! What CI does: deploy, releases, env vars, config.

use super::app_of;
use crate::safe::terminal_safe;
use crate::{output, CliError, Ctx};
use clap::{Args, Subcommand};
use futures_util::StreamExt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The release: a file (sent as is) or a directory (packed as tar.gz).
    path: PathBuf,
    /// App [default: $GANTRY_APP]
    #[arg(short, long)]
    app: Option<String>,
    /// Label, e.g. a git sha; unique per app.
    #[arg(short, long)]
    label: Option<String>,
    /// Message.
    #[arg(short, long)]
    message: Option<String>,
    /// Replace the release that already carries this label.
    #[arg(long)]
    overwrite: bool,
}

/// Packs a directory as a gzip'd tar in a temporary file.
fn pack_dir(dir: &Path) -> Result<tempfile::NamedTempFile, CliError> {
    let tmp = tempfile::NamedTempFile::new()
        .map_err(|e| CliError::failure(format!("cannot create a temporary file: {e}")))?;
    let gz = flate2::write::GzEncoder::new(tmp.as_file(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    tar.append_dir_all(".", dir)
        .map_err(|e| CliError::failure(format!("cannot pack {}: {e}", dir.display())))?;
    let gz = tar
        .into_inner()
        .map_err(|e| CliError::failure(format!("cannot pack {}: {e}", dir.display())))?;
    gz.finish()
        .map_err(|e| CliError::failure(format!("cannot pack {}: {e}", dir.display())))?;
    Ok(tmp)
}

pub async fn deploy(ctx: &Ctx, a: DeployArgs) -> Result<u8, CliError> {
    let app = app_of(a.app)?;
    let client = &ctx.client_for(Some(&app)).await?;
    let meta = std::fs::metadata(&a.path)
        .map_err(|e| CliError::failure(format!("cannot read {}: {e}", a.path.display())))?;
    let mut _packed = None;
    let (file_path, file_name) = if meta.is_dir() {
        let tmp = pack_dir(&a.path)?;
        let p = tmp.path().to_owned();
        _packed = Some(tmp);
        (p, format!("{app}.tar.gz"))
    } else {
        let name = a
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "artifact".into());
        (a.path.clone(), name)
    };
    let file = tokio::fs::File::open(&file_path)
        .await
        .map_err(|e| CliError::failure(format!("cannot open {}: {e}", file_path.display())))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| CliError::failure(e.to_string()))?
        .len();
    let show_progress = std::io::stderr().is_terminal() && !ctx.json && len > 1024 * 1024;
    let bar = if show_progress {
        let bar = indicatif::ProgressBar::new(len);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        Some(bar)
    } else {
        None
    };
    let progress = bar.clone();
    let stream = tokio_util::io::ReaderStream::new(file).inspect(move |chunk| {
        if let (Some(bar), Ok(bytes)) = (&progress, chunk) {
            bar.inc(bytes.len() as u64);
        }
    });
    let release = client
        .deploy_stream(
            &app,
            reqwest::Body::wrap_stream(stream),
            len,
            &file_name,
            &gantry_client::DeployOptions {
                label: a.label.as_deref(),
                message: a.message.as_deref(),
                overwrite: a.overwrite,
            },
        )
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let release = release.map_err(|e| ctx.error(e))?;
    if ctx.json {
        output::json(&release);
    } else {
        let line = format!(
            "Released {} v{}{} ({} bytes, sha256 {}…)",
            release.app,
            release.version,
            release
                .label
                .as_deref()
                .map(|l| format!(" [{l}]"))
                .unwrap_or_default(),
            release.artifact_size,
            // `get`: a server's odd answer (short, not ASCII) must not panic a byte slice.
            release
                .artifact_sha256
                .get(..12)
                .unwrap_or(release.artifact_sha256.as_str())
        );
        say!("{}", terminal_safe(&line));
    }
    Ok(0)
}

#[derive(Debug, Subcommand)]
pub enum ReleasesCmd {
    /// The app's releases, newest first.
    List {
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
    },
}

pub async fn releases(ctx: &Ctx, cmd: ReleasesCmd) -> Result<u8, CliError> {
    let ReleasesCmd::List { app } = cmd;
    let app = app_of(app)?;
    let releases = ctx
        .client()?
        .list_releases(&app)
        .await
        .map_err(|e| ctx.error(e))?;
    if ctx.json {
        output::json(&releases);
    } else {
        let rows = releases
            .iter()
            .map(|r| {
                vec![
                    format!("v{}", r.version),
                    r.label.clone().unwrap_or_else(|| "-".into()),
                    r.artifact_size.to_string(),
                    r.created_by.name.clone().unwrap_or_default(),
                    output::when(Some(&r.created_at), "-"),
                    r.message.clone().unwrap_or_default(),
                ]
            })
            .collect::<Vec<_>>();
        output::table(
            &["VERSION", "LABEL", "BYTES", "BY", "CREATED", "MESSAGE"],
            &rows,
        );
    }
    Ok(0)
}

#[derive(Debug, Subcommand)]
pub enum EnvCmd {
    /// The app's variables (secret values are not shown).
    List {
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
    },
    /// Set variables.
    #[command(
        after_help = "Examples:\n  gantry env set -a web LOG_LEVEL=info WORKERS=4\n  gantry env set -a web --secret DATABASE_URL=postgres://…"
    )]
    Set {
        /// KEY=VALUE pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
        /// Store the values as secrets (write-only).
        #[arg(long)]
        secret: bool,
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
    },
    /// Remove variables.
    Unset {
        /// Keys.
        #[arg(required = true)]
        keys: Vec<String>,
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
    },
}

pub async fn env(ctx: &Ctx, cmd: EnvCmd) -> Result<u8, CliError> {
    let app = match &cmd {
        EnvCmd::List { app } | EnvCmd::Set { app, .. } | EnvCmd::Unset { app, .. } => app.clone(),
    };
    let client = &ctx.client_for(app.as_deref()).await?;
    match cmd {
        EnvCmd::List { app } => {
            let vars = client
                .list_env(&app_of(app)?)
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json {
                output::json(&vars);
            } else {
                let rows = vars
                    .iter()
                    .map(|v| {
                        vec![
                            v.key.clone(),
                            v.value.clone().unwrap_or_else(|| "(secret)".into()),
                            output::when(Some(&v.updated_at), "-"),
                        ]
                    })
                    .collect::<Vec<_>>();
                output::table(&["KEY", "VALUE", "UPDATED"], &rows);
            }
        }
        EnvCmd::Set { pairs, secret, app } => {
            let app = app_of(app)?;
            let mut parsed = Vec::new();
            for p in &pairs {
                let (k, v) = p.split_once('=').ok_or_else(|| {
                    CliError::usage(format!(
                        "'{}' is not KEY=VALUE",
                        p.split('=').next().unwrap_or(p)
                    ))
                })?;
                parsed.push((k.to_owned(), v.to_owned()));
            }
            let mut out = Vec::new();
            for (k, v) in parsed {
                let var = client
                    .set_env(&app, &k, &v, secret)
                    .await
                    .map_err(|e| ctx.error(e))?;
                if !ctx.json {
                    eprintln!("Set {k}{}", if secret { " (secret)" } else { "" });
                }
                out.push(var);
            }
            if ctx.json {
                output::json(&out);
            }
        }
        EnvCmd::Unset { keys, app } => {
            let app = app_of(app)?;
            for k in &keys {
                client.unset_env(&app, k).await.map_err(|e| ctx.error(e))?;
                if !ctx.json {
                    eprintln!("Unset {k}");
                }
            }
            if ctx.json {
                output::json(&serde_json::json!({"unset": keys}));
            }
        }
    }
    Ok(0)
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the app's config document.
    Get {
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
        /// An earlier version.
        #[arg(long)]
        version: Option<i64>,
    },
    /// Replace the app's config document with a JSON file (`-` reads standard input).
    #[command(after_help = "Example:\n  gantry config set -a web deploy.json")]
    Set {
        /// A JSON file holding one object.
        file: PathBuf,
        /// App [default: $GANTRY_APP]
        #[arg(short, long)]
        app: Option<String>,
    },
    /// Print a commented server configuration file (`gantry serve --config`) with every
    /// setting at its default.
    #[command(after_help = "Example:\n  gantry config example > /etc/gantry/gantry.toml")]
    Example,
}

pub async fn config(ctx: &Ctx, cmd: ConfigCmd) -> Result<u8, CliError> {
    if let ConfigCmd::Example = cmd {
        // Rendered by the binary, which knows the server's settings.
        return Err(CliError::failure(
            "`gantry config example` is served by the gantry binary",
        ));
    }
    let app = match &cmd {
        ConfigCmd::Get { app, .. } | ConfigCmd::Set { app, .. } => app.clone(),
        ConfigCmd::Example => None,
    };
    let client = &ctx.client_for(app.as_deref()).await?;
    match cmd {
        ConfigCmd::Example => {}
        ConfigCmd::Get { app, version } => {
            let app = app_of(app)?;
            let doc = match version {
                Some(v) => client.get_config_version(&app, v).await,
                None => client.get_config(&app).await,
            }
            .map_err(|e| ctx.error(e))?;
            if ctx.json {
                output::json(&doc);
            } else {
                // Still the same JSON document, with terminal controls as `\uXXXX`.
                output::json_document(&doc);
            }
        }
        ConfigCmd::Set { file, app } => {
            let app = app_of(app)?;
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| CliError::failure(format!("cannot read standard input: {e}")))?;
                s
            } else {
                std::fs::read_to_string(&file).map_err(|e| {
                    CliError::failure(format!("cannot read {}: {e}", file.display()))
                })?
            };
            let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                CliError::failure(format!("{} is not valid JSON: {e}", file.display()))
            })?;
            let (stored, version) = client
                .set_config(&app, &doc)
                .await
                .map_err(|e| ctx.error(e))?;
            if ctx.json {
                output::json(
                    &serde_json::json!({"app": app, "version": version, "document": stored}),
                );
            } else {
                eprintln!(
                    "Saved the config of {app} as version {}.",
                    version.map(|v| v.to_string()).unwrap_or_else(|| "?".into())
                );
            }
        }
    }
    Ok(0)
}
