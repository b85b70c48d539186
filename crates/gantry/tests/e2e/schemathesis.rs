//! Property tests of the whole API from its own description: schemathesis (PyPI) generates
//! requests from `/v1/openapi.json` of a live server, authenticated as an administrator, and
//! checks that nothing answers 5xx and every answer matches the documented status codes,
//! content types, headers and schemas.
//!
//! `.ci/run` installs schemathesis and sets `GANTRY_SCHEMATHESIS` (its `st` binary) and
//! `GANTRY_REQUIRE_SCHEMATHESIS`; without them this test looks for `st` on the PATH and skips
//! loudly when there is none. `GANTRY_SCHEMATHESIS_SEED` picks another seed (the default is
//! fixed so CI runs are reproducible), `GANTRY_SCHEMATHESIS_EXAMPLES` more cases per operation.

use crate::harness::{admin_with_app, Server};
use std::process::Command;

fn schemathesis() -> Option<String> {
    if let Ok(path) = std::env::var("GANTRY_SCHEMATHESIS") {
        return Some(path);
    }
    let found = Command::new("which")
        .arg("st")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if found.is_none() {
        assert!(
            std::env::var_os("GANTRY_REQUIRE_SCHEMATHESIS").is_none(),
            "GANTRY_REQUIRE_SCHEMATHESIS is set but schemathesis is not installed (pip install schemathesis)"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! SKIPPING schemathesis: `st` not installed (pip install schemathesis) !!!\n"
        );
    }
    found
}

#[tokio::test]
async fn generated_requests_get_no_5xx_and_documented_answers() {
    let Some(st) = schemathesis() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Generated garbage credentials must not lock the test out of its own coverage.
    let server = Server::start_with_admin(
        &data,
        &[
            ("GANTRY_LOG", "warn"),
            ("GANTRY_RATE_LIMIT_FAILED_AUTH", "1000000/1m"),
            ("GANTRY_RATE_LIMIT_FAILED_LOGIN", "1000000/1m"),
        ],
    );
    let admin = admin_with_app(&server.base, "ops@example.com").await;
    let seed = std::env::var("GANTRY_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261201".into());
    let examples = std::env::var("GANTRY_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".into());
    let url = format!("{}/v1/openapi.json", server.base);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .args(["run", &url, "--header"])
            .arg(format!("Authorization: Bearer {admin}"))
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                &examples,
                "--seed",
                &seed,
                "--request-timeout",
                "20",
                "--no-color",
            ])
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{report}"
    );
    assert!(
        report.contains(" passed"),
        "schemathesis ran no test case:\n{report}"
    );
    server.stop();
}
