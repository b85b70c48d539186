//! A short, bounded libFuzzer run of every `cargo fuzz` target in `fuzz/` (ID tokens for
//! keyless CI, token parser and checksum, durations and limits, JSON request decoding and validation, multipart deploy
//! forms into the real artifact store): any panic fails the suite. Longer runs are documented in the README.
//!
//! Needs `cargo-fuzz` (`cargo install cargo-fuzz`; `.ci/run` installs it and sets
//! `GANTRY_REQUIRE_FUZZ`). The fuzz crate builds with the fuzzer's instrumentation in its own
//! `fuzz/target`; `RUSTC_BOOTSTRAP=1` lets the one stable toolchain accept those flags, and
//! `-s none` skips AddressSanitizer (the code forbids `unsafe`: what is hunted is panics).
//! `GANTRY_FUZZ_SECONDS` sets the time per target (default 10).

use std::path::{Path, PathBuf};
use std::process::Command;

fn cargo_fuzz_installed() -> bool {
    let ok = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("GANTRY_REQUIRE_FUZZ").is_none(),
            "GANTRY_REQUIRE_FUZZ is set but cargo-fuzz is not installed (cargo install cargo-fuzz)"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! SKIPPING fuzz targets: cargo-fuzz not installed !!!\n"
        );
    }
    ok
}

fn seed(dir: &Path, name: &str, items: &[String]) -> PathBuf {
    let corpus = dir.join(name);
    std::fs::create_dir_all(&corpus).unwrap();
    for (i, item) in items.iter().enumerate() {
        std::fs::write(corpus.join(format!("seed-{i}")), item).unwrap();
    }
    corpus
}

#[test]
fn fuzz_targets_survive_a_bounded_run() {
    if !cargo_fuzz_installed() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let seconds = std::env::var("GANTRY_FUZZ_SECONDS").unwrap_or_else(|_| "10".into());
    let corpora = tempfile::tempdir().unwrap();

    // Seeds: the shared test vectors (valid and near-miss tokens), a fresh token, and the
    // documented spellings of durations, limits and request bodies.
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/token-vectors.json")).unwrap(),
    )
    .unwrap();
    let mut tokens: Vec<String> = ["valid", "invalid"]
        .iter()
        .flat_map(|k| vectors[k].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v["token"].as_str().map(str::to_owned))
        .collect();
    let fresh = gantry_core::token::PlainToken::generate(gantry_api::TokenKind::Personal);
    tokens.push(format!("export GANTRY_TOKEN={}\n", fresh.expose_secret()));
    let durations: Vec<String> = [
        "90d",
        "720h",
        "1d12h",
        "175200h0m0s",
        "7d",
        "30/1m",
        "10/5m",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let requests: Vec<String> = [
        r#"{"name":"ci","expires_in":"30d","description":"main pipeline"}"#,
        r#"{"name":"x","never_expires":true,"role":"operator"}"#,
        r#"{"slug":"acme","name":"Acme"}"#,
        r#"{"value":"info","secret":true}"#,
        r#"{"email":"a@b.c","password":"correct horse battery staple","is_admin":false}"#,
        r#"{"replicas":2,"regions":["fra","ams"]}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();

    // Deploy forms: a label, a message, an artifact, with CRLFs and the boundary `X` (the
    // target's first byte picks the boundary: even bytes `X`).
    let part = |name: &str, file: Option<&str>, value: &str| {
        match file {
        Some(f) => format!(
            "--X\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/gzip\r\n\r\n{value}\r\n"
        ),
        None => format!("--X\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"),
    }
    };
    let forms: Vec<String> = vec![
        format!(
            "\0{}{}{}--X--\r\n",
            part("label", None, "v1.2.3"),
            part("message", None, "release"),
            part(
                "artifact",
                Some("build.tar.gz"),
                "\x1f\u{8b}bytes of a release"
            )
        ),
        format!(
            "\0{}{}--X--\r\n",
            part("overwrite", None, "true"),
            part("artifact", Some("a.bin"), "x")
        ),
        format!("\0{}--X--\r\n", part("unknown", None, "?")),
    ];

    // ID tokens: well-formed JWTs of each accepted and refused algorithm, signed by nobody.
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let claims = b64(serde_json::json!({
        "iss": "https://token.actions.githubusercontent.com", "aud": "https://gantry.example.com",
        "iat": 1_700_000_000, "exp": 1_700_000_300, "jti": "j", "sub": "repo:o/r:ref:refs/heads/main",
        "repository_id": "1001", "ref": "refs/heads/main", "event_name": "push"
    }));
    let jwts: Vec<String> = ["RS256", "ES256", "HS256", "none"]
        .iter()
        .zip(["rsa-1", "ec-1", "rsa-1", "ec-1"])
        .map(|(alg, kid)| {
            format!(
                "{}.{claims}.{}",
                b64(serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT"})),
                "A".repeat(86)
            )
        })
        .collect();

    for (target, items) in [
        ("jwt", &jwts),
        ("token", &tokens),
        ("duration", &durations),
        ("requests", &requests),
        ("multipart", &forms),
    ] {
        let corpus = seed(corpora.path(), target, items);
        let out = Command::new("cargo")
            .current_dir(&root)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "-s", "none", target])
            .arg(&corpus)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        let tail: String = log
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        assert!(out.status.success(), "fuzz target {target} failed:\n{tail}");
        assert!(
            log.contains("Done "),
            "fuzz target {target} did not run:\n{tail}"
        );
    }
}
