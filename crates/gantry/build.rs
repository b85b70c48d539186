//! Embeds the git revision in `gantry --version` (falls back to "unknown revision" when built
//! outside a git checkout, e.g. from a source tarball).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn main() {
    let revision = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(rev) if !rev.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            let date = git(&["log", "-1", "--format=%cs"]).unwrap_or_default();
            format!("{rev}{} {date}", if dirty { "-dirty" } else { "" })
                .trim()
                .to_owned()
        }
        _ => "unknown revision".to_owned(),
    };
    println!("cargo:rustc-env=GANTRY_GIT_REVISION={revision}");
    // Rebuild when HEAD moves (a commit, a checkout) or the index changes (dirty state).
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        for f in ["HEAD", "index"] {
            println!("cargo:rerun-if-changed={dir}/{f}");
        }
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head_ref}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
