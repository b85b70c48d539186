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
}

#[derive(Serialize)]
struct Finding {
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
pub fn run(ctx: &Ctx, args: ScanArgs) -> Result<u8, CliError> {
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
