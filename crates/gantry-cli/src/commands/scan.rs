//! `gantry scan`: finds real gantry tokens (prefix + length + checksum) in files, offline.
//! Prints where and the public prefix only — never the token.

use crate::safe::terminal_safe;
use crate::{output, CliError, Ctx};
use clap::Args;
use gantry_core::token::find_tokens;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or directories to scan (directories recursively; .git is skipped).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Also report every token found to a gantry server's public revoke endpoint
    /// (`POST /v1/credentials/revoke`), which revokes the live ones: `--revoke` for the
    /// configured server, `--revoke=URL` for another. Prints how many were reported, never
    /// the values.
    #[arg(long, value_name = "URL", num_args = 0..=1, require_equals = true)]
    revoke: Option<Option<String>>,
}

#[derive(Serialize)]
struct Finding {
    /// The value itself, for `--revoke` only: never printed or serialised.
    #[serde(skip)]
    raw: gantry_core::token::PlainToken,
    path: String,
    line: usize,
    kind: &'static str,
    prefix: String,
}

fn scan_file(path: &Path, out: &mut Vec<Finding>) -> std::io::Result<()> {
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    for (i, line) in text.lines().enumerate() {
        for (_, token) in find_tokens(line) {
            out.push(Finding {
                raw: token.clone(),
                path: path.display().to_string(),
                line: i + 1,
                kind: token.kind().as_str(),
                prefix: token.display_prefix().to_owned(),
            });
        }
    }
    Ok(())
}

/// Exit 0: nothing found; 1: tokens found; errors reading a path are reported and make it 1 too.
pub async fn run(ctx: &Ctx, args: ScanArgs) -> Result<u8, CliError> {
    let mut found = Vec::new();
    let mut unreadable = 0;
    for root in &args.paths {
        let walker = walkdir::WalkDir::new(root)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git");
        for entry in walker {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    if let Err(err) = scan_file(e.path(), &mut found) {
                        // File names are anyone's (a cloned repository's): escaped too.
                        let what = format!("cannot read {}: {err}", e.path().display());
                        eprintln!("warning: {}", terminal_safe(&what));
                        unreadable += 1;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    eprintln!("warning: {}", terminal_safe(&err.to_string()));
                    unreadable += 1;
                }
            }
        }
    }
    if let Some(target) = &args.revoke {
        report(ctx, target.as_deref(), &found).await?;
    }
    if ctx.json {
        output::json(&found);
    } else {
        for f in &found {
            say!(
                "{}:{}: {}… ({} token)",
                terminal_safe(&f.path),
                f.line,
                f.prefix,
                f.kind
            );
        }
        if !found.is_empty() {
            eprintln!(
                "found {} gantry token{}: revoke each one (`gantry tokens list` shows its ID by prefix; `gantry tokens revoke ID`) and remove it from the files",
                found.len(),
                if found.len() == 1 { "" } else { "s" }
            );
        }
    }
    Ok(if found.is_empty() && unreadable == 0 {
        0
    } else {
        1
    })
}

/// Sends the distinct values found to the revoke endpoint at `url` (else the configured
/// server), 1000 per request; says on stderr how many it reported.
async fn report(ctx: &Ctx, url: Option<&str>, found: &[Finding]) -> Result<(), CliError> {
    let mut values: Vec<String> = found
        .iter()
        .map(|f| f.raw.expose_secret().to_owned())
        .collect();
    values.sort();
    values.dedup();
    let client = match url {
        Some(u) => gantry_client::Client::new(u),
        None => ctx.anonymous(),
    };
    for chunk in values.chunks(gantry_core::validate::MAX_REPORTED_CREDENTIALS) {
        client
            .revoke_credentials(chunk)
            .await
            .map_err(|e| ctx.error(e))?;
    }
    eprintln!(
        "reported {} token{} to {} (the live ones are revoked now)",
        values.len(),
        if values.len() == 1 { "" } else { "s" },
        terminal_safe(client.base())
    );
    Ok(())
}
