//! Day-two operations of the real binary: layered configuration, `/metrics`, request logs
//! with request ids, and `gantry backup` / `gantry restore` under write load.

use crate::harness::{call, free_port, login, Server, PASSWORD};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn gantry(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gantry"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("GANTRY_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// `key → (value, source comment)` from `--print-config`.
fn printed(out: &Output) -> HashMap<String, String> {
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn settings_layer_flag_over_environment_over_file_over_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gantry.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:1001\"\n\
         [limits]\nrequest_timeout = \"30s\"\nmax_json_body = \"1MiB\"\n\
         [tokens]\nmax_lifetime = \"365d\"\n",
    )
    .unwrap();
    let cfg = file.to_str().unwrap();
    let out = gantry(
        &[
            "serve",
            "--config",
            cfg,
            "--print-config",
            "--listen",
            "127.0.0.1:3003",
        ],
        &[
            ("GANTRY_LISTEN", "127.0.0.1:2002"),
            ("GANTRY_REQUEST_TIMEOUT", "45s"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p = printed(&out);
    assert_eq!(p["listen"], "\"127.0.0.1:3003\"  # from --listen");
    assert_eq!(
        p["limits.request_timeout"],
        "\"45s\"  # from GANTRY_REQUEST_TIMEOUT"
    );
    assert_eq!(
        p["limits.max_json_body"],
        format!("\"1MiB\"  # from limits.max_json_body in {cfg}")
    );
    assert_eq!(p["last_used.flush_interval"], "\"1s\"  # from the default");

    // And the layers are what the server actually runs with: the file's listen address loses
    // to the environment's, which loses to the flag's.
    let data = dir.path().join("data");
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:{file_port}\"\ndata_dir = {:?}\n[admin]\nemail = \"ops@example.com\"\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["serve", "--config", cfg, "--listen"])
        .arg(format!("127.0.0.1:{flag_port}"))
        .env("GANTRY_LISTEN", format!("127.0.0.1:{env_port}"))
        .env("GANTRY_ADMIN_PASSWORD", PASSWORD)
        .env_remove("GANTRY_ADMIN_EMAIL")
        .env_remove("GANTRY_DATA_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", flag_port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "did not listen on the flag's port"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(std::net::TcpStream::connect(("127.0.0.1", env_port)).is_err());
    assert!(std::net::TcpStream::connect(("127.0.0.1", file_port)).is_err());
    assert!(
        data.join("gantry.db").exists(),
        "the file's data_dir is used"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_bad_setting_stops_startup_naming_the_setting_and_what_it_accepts() {
    let out = gantry(&["serve"], &[("GANTRY_LOG_FORMAT", "yaml")]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: invalid setting `log.format` (from GANTRY_LOG_FORMAT): \"yaml\" is not accepted; expected auto, text or json"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gantry.toml");
    std::fs::write(&file, "[limits]\nrequest_timeout = \"a while\"\n").unwrap();
    let out = gantry(&["serve", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("invalid setting `limits.request_timeout` (from limits.request_timeout in")
            && err.contains("expected a duration between 1s and 1h"),
        "{err}"
    );

    std::fs::write(&file, "[tokens]\nmax_lifetme = \"30d\"\n").unwrap();
    let out = gantry(&["serve", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown setting `tokens.max_lifetme`"),
        "{}",
        text(&out.stderr)
    );

    let out = gantry(&["serve", "--metrics-listen", "nowhere"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("`metrics.listen` (from --metrics-listen)"));
}

#[test]
fn printed_configuration_redacts_secrets() {
    let out = gantry(
        &["serve", "--print-config"],
        &[
            ("GANTRY_ADMIN_PASSWORD", "a long secret admin passphrase"),
            (
                "GANTRY_DATABASE_URL",
                "postgres://gantry:s3cr3t-pw@db.internal/gantry",
            ),
        ],
    );
    assert!(out.status.success());
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(!all.contains("a long secret admin passphrase"), "{all}");
    assert!(!all.contains("s3cr3t-pw"), "{all}");
    assert!(all.contains("postgres://gantry:<redacted>@db.internal/gantry"));
}

#[test]
fn config_example_lists_every_setting_and_is_accepted_as_is() {
    let out = gantry(&["config", "example"], &[]);
    assert!(out.status.success());
    let example = text(&out.stdout);
    for env in [
        "GANTRY_LISTEN",
        "GANTRY_DATABASE_URL",
        "GANTRY_METRICS_LISTEN",
        "GANTRY_TRUSTED_PROXIES",
        "GANTRY_LOG_FORMAT",
    ] {
        assert!(example.contains(env), "{env} missing");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gantry.toml");
    std::fs::write(&file, &example).unwrap();
    let out = gantry(
        &[
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--print-config",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

type Exposition = openmetrics_parser::MetricsExposition<
    openmetrics_parser::OpenMetricsType,
    openmetrics_parser::OpenMetricsValue,
>;

/// The sum of `family`'s samples whose labels include `labels` (histograms: their count).
fn sample(scrape: &Exposition, family: &str, labels: &[(&str, &str)]) -> f64 {
    use openmetrics_parser::OpenMetricsValue as V;
    let Some(f) = scrape.families.get(family) else {
        return 0.0;
    };
    f.iter_samples()
        .filter(|s| {
            let set = s.get_labelset().unwrap();
            labels
                .iter()
                .all(|(k, v)| set.get_label_value(k) == Some(*v))
        })
        .map(|s| match &s.value {
            V::Counter(c) => c.value.as_f64(),
            V::Gauge(n) | V::Unknown(n) => n.as_f64(),
            V::Histogram(h) => h.count.unwrap_or(0) as f64,
            _ => 0.0,
        })
        .sum()
}

async fn scrape(url: &str) -> Exposition {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let body = resp.text().await.unwrap();
    openmetrics_parser::openmetrics::parse_openmetrics(&body)
        .unwrap_or_else(|e| panic!("the exposition does not parse: {e}\n{body}"))
}

#[tokio::test]
async fn metrics_parse_and_move_as_requests_are_made() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mport = free_port();
    let maddr = format!("127.0.0.1:{mport}");
    let server = Server::start_with_admin(&data, &[("GANTRY_METRICS_LISTEN", &maddr)]);
    let b = &server.base;
    let murl = format!("http://{maddr}/metrics");
    // Not on the public listener.
    let (status, _) = call("GET", &format!("{b}/metrics"), None, None).await;
    assert_eq!(status, 404);

    let before = scrape(&murl).await;
    let admin = crate::harness::admin_with_app(b, "ops@example.com").await;
    let (_, t) = call(
        "POST",
        &format!("{b}/v1/apps/web/tokens"),
        Some(&admin),
        Some(json!({"name": "ci", "expires_in": "3d"})),
    )
    .await;
    let deploy = t["token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        assert_eq!(
            call("GET", &format!("{b}/v1/apps/web"), Some(&deploy), None)
                .await
                .0,
            200
        );
    }
    // A deploy token may not touch alert rules: insufficient scope.
    let (s, _) = call(
        "POST",
        &format!("{b}/v1/orgs/acme/alerts"),
        Some(&deploy),
        Some(json!({"name": "x", "event": "deploy", "target": "https://example.com"})),
    )
    .await;
    assert_eq!(s, 403);
    let unknown = gantry_core::token::PlainToken::generate(gantry_api::TokenKind::Deploy);
    assert_eq!(
        call(
            "GET",
            &format!("{b}/v1/apps/web"),
            Some(unknown.expose_secret()),
            None
        )
        .await
        .0,
        401
    );
    let id = t["id"].as_str().unwrap();
    call("DELETE", &format!("{b}/v1/tokens/{id}"), Some(&admin), None).await;
    assert_eq!(
        call("GET", &format!("{b}/v1/apps/web"), Some(&deploy), None)
            .await
            .0,
        401
    );
    assert_eq!(
        call("GET", &format!("{b}/v1/apps/web"), None, None).await.0,
        401
    );

    let after = scrape(&murl).await;
    let verif = "gantry_token_verifications";
    let moved = |o: &str| {
        sample(&after, verif, &[("outcome", o)]) - sample(&before, verif, &[("outcome", o)])
    };
    assert!(moved("ok") >= 3.0, "ok moved by {}", moved("ok"));
    assert_eq!(moved("unknown"), 1.0);
    assert_eq!(moved("revoked"), 1.0);
    assert_eq!(moved("missing"), 1.0);
    assert_eq!(moved("insufficient_scope"), 1.0);
    let req = "gantry_http_requests";
    let get_app = [
        ("method", "GET"),
        ("route", "/v1/apps/{app}"),
        ("status", "200"),
    ];
    assert_eq!(
        sample(&after, req, &get_app) - sample(&before, req, &get_app),
        3.0
    );
    assert_eq!(
        sample(
            &after,
            req,
            &[("route", "/v1/apps/{app}"), ("status", "401")]
        ),
        3.0
    );
    assert!(
        sample(
            &after,
            "gantry_http_request_duration_seconds",
            &[("route", "/v1/apps/{app}")]
        ) >= 6.0
    );
    // Token gauges come from the store at scrape time: the revoked deploy token and the
    // admin's login token.
    assert_eq!(
        sample(
            &after,
            "gantry_tokens",
            &[("kind", "deploy"), ("status", "revoked")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "gantry_tokens",
            &[("kind", "personal"), ("status", "active")]
        ),
        1.0
    );
    assert!(
        sample(
            &after,
            "gantry_store_operation_duration_seconds",
            &[("operation", "insert_token")]
        ) >= 1.0
    );
    for family in [
        "gantry_rate_limited_requests",
        "gantry_tokens_expiring_within_7d",
        "gantry_pending_last_used_writes",
    ] {
        assert!(after.families.contains_key(family), "{family} is missing");
    }
    // The deploy token (expiring in 3 days) is revoked, so nothing is about to expire.
    assert_eq!(sample(&after, "gantry_tokens_expiring_within_7d", &[]), 0.0);
    server.stop();
}

fn log_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn every_request_logs_one_json_line_with_its_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_admin(
        &data,
        &[
            ("GANTRY_LOG", "info"),
            ("GANTRY_LOG_FORMAT", "json"),
            ("GANTRY_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    let b = server.base.clone();
    let (_, login) = crate::harness::login(&b, "ops@example.com", PASSWORD).await;
    let admin = login["token"].as_str().unwrap().to_owned();
    let me = login["id"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("{b}/v1/user"))
        .bearer_auth(&admin)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    let made = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(made.len(), 32, "a fresh id: {made}");
    let resp = client
        .get(format!("{b}/v1/apps/nope"))
        .bearer_auth(&admin)
        .header("x-request-id", "edge-7f3a.1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.headers()["x-request-id"],
        "edge-7f3a.1",
        "a proxy's id is kept"
    );
    let resp = client
        .get(format!("{b}/v1/user"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    assert_ne!(resp.headers()["x-request-id"], "bad id with spaces");

    let log = server.stop();
    let lines = log_lines(&log);
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "gantry::access")
        .collect();
    let first = access
        .iter()
        .find(|l| l["request_id"] == made.as_str())
        .unwrap_or_else(|| panic!("no line for {made}:\n{log}"));
    assert_eq!(first["method"], "GET");
    assert_eq!(first["route"], "/v1/user");
    assert_eq!(first["status"], 200);
    assert_eq!(first["token_id"], me.as_str());
    assert_eq!(
        first["client_ip"], "203.0.113.9",
        "X-Forwarded-For from a trusted proxy"
    );
    assert!(first["latency_ms"].as_f64().unwrap() >= 0.0);
    let second = access
        .iter()
        .find(|l| l["request_id"] == "edge-7f3a.1")
        .unwrap();
    assert_eq!(second["route"], "/v1/apps/{app}");
    assert_eq!(second["status"], 404);
    assert_eq!(
        access
            .iter()
            .filter(|l| l["request_id"] == made.as_str())
            .count(),
        1,
        "one line per request"
    );
    assert!(!log.contains(&admin), "the token itself is never logged");
}

#[tokio::test]
async fn an_untrusted_peer_cannot_choose_its_client_ip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_admin(&data, &[]);
    let b = server.base.clone();
    let (_, login) = crate::harness::login(&b, "ops@example.com", PASSWORD).await;
    let admin = login["token"].as_str().unwrap().to_owned();
    let id = login["id"].as_str().unwrap().to_owned();
    reqwest::Client::new()
        .get(format!("{b}/v1/user"))
        .bearer_auth(&admin)
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    let (_, t) = call("GET", &format!("{b}/v1/tokens/{id}"), Some(&admin), None).await;
    assert_eq!(t["last_used_ip"], "127.0.0.1");
    server.stop();
}

fn backup_cmd(args: &[&str], data: &Path) -> Output {
    let mut full: Vec<&str> = args.to_vec();
    full.push("--data-dir");
    full.push(data.to_str().unwrap());
    gantry(&full, &[])
}

#[tokio::test]
async fn a_backup_taken_under_write_load_restores_every_token_created_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_admin(&data, &[("GANTRY_LOG", "warn")]);
    let b = server.base.clone();
    let admin = crate::harness::admin_with_app(&b, "ops@example.com").await;
    // A release, so the backup carries an artifact.
    let artifact: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let form = reqwest::multipart::Form::new()
        .part(
            "artifact",
            reqwest::multipart::Part::bytes(artifact.clone()).file_name("a.tar.gz"),
        )
        .text("label", "v1");
    let r = reqwest::Client::new()
        .post(format!("{b}/v1/apps/web/deploys"))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Writers create tokens and deploys for as long as the backup runs.
    let created: Arc<Mutex<Vec<(std::time::Instant, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (b, admin, created, stop) = (b.clone(), admin.clone(), created.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let (s, t) = call(
                    "POST",
                    &format!("{b}/v1/apps/web/tokens"),
                    Some(&admin),
                    Some(json!({"name": format!("w{w}-{n}")})),
                )
                .await;
                assert_eq!(s, 201);
                let at = std::time::Instant::now();
                created
                    .lock()
                    .unwrap()
                    .push((at, t["token"].as_str().unwrap().to_owned()));
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let began = std::time::Instant::now();
    let dest = dir.path().join("backup");
    let out = tokio::task::spawn_blocking({
        let (dest, data) = (dest.clone(), data.clone());
        move || backup_cmd(&["backup", dest.to_str().unwrap()], &data)
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let before: Vec<String> = created
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at < began)
        .map(|(_, t)| t.clone())
        .collect();
    let total = created.lock().unwrap().len();
    assert!(
        before.len() >= 10 && total > before.len(),
        "load: {} before of {total}",
        before.len()
    );
    server.stop();

    // A backup refuses to overwrite, and a restore refuses a data directory in use.
    let again = backup_cmd(&["backup", dest.to_str().unwrap()], &data);
    assert!(!again.status.success());
    let clobber = backup_cmd(&["restore", dest.to_str().unwrap()], &data);
    assert!(!clobber.status.success());
    assert!(text(&clobber.stderr).contains("already holds gantry state"));

    let restored = dir.path().join("restored");
    let out = backup_cmd(&["restore", dest.to_str().unwrap()], &restored);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let server = Server::start(&restored, &[("GANTRY_LOG", "warn")]);
    let b = server.base.clone();
    for t in &before {
        assert_eq!(
            call("GET", &format!("{b}/v1/apps/web"), Some(t), None)
                .await
                .0,
            200,
            "a token created before the backup began must work after the restore"
        );
    }
    let r = reqwest::Client::new()
        .get(format!("{b}/v1/apps/web/deploys/1/artifact"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), artifact);
    server.stop();
}

/// `gantry ARGS` under `umask 000`, with no gantry settings from the environment.
#[cfg(unix)]
fn gantry_under_umask_000(args: &[&str]) -> Output {
    let mut cmd = crate::harness::gantry_under_umask("000");
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("GANTRY_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.output().unwrap()
}

#[cfg(unix)]
#[tokio::test]
async fn export_and_backup_files_are_private_whatever_the_umask() {
    use crate::harness::{assert_all_private, mode_of, modes_under};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_under_umask(
        &data,
        &[
            ("GANTRY_ADMIN_EMAIL", "ops@example.com"),
            ("GANTRY_ADMIN_PASSWORD", PASSWORD),
            ("GANTRY_LOG", "warn"),
        ],
        "000",
    );
    let b = server.base.clone();
    let admin = crate::harness::admin_with_app(&b, "ops@example.com").await;
    // A release, so the data directory and the backup hold an artifact.
    let form = reqwest::multipart::Form::new()
        .part(
            "artifact",
            reqwest::multipart::Part::bytes(vec![7u8; 4096]).file_name("a.tar.gz"),
        )
        .text("label", "v1");
    let r = reqwest::Client::new()
        .post(format!("{b}/v1/apps/web/deploys"))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_all_private(&data);

    // A backup into a new nested directory: every directory it creates is 0700, every file 0600.
    let dest = dir.path().join("backups/nested/today");
    let out = gantry_under_umask_000(&[
        "backup",
        dest.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for d in ["backups", "backups/nested", "backups/nested/today"] {
        assert_eq!(mode_of(&dir.path().join(d)), 0o700, "{d}");
    }
    for f in ["gantry.db", "backup.json", "secret.key"] {
        assert_eq!(mode_of(&dest.join(f)), 0o600, "{f}");
    }
    assert!(
        modes_under(&dest.join("artifacts"))
            .iter()
            .any(|(_, is_dir, _)| !is_dir),
        "the backup holds the artifact"
    );
    assert_all_private(&dir.path().join("backups"));
    server.stop();

    // An export into a new file, and over an existing world-readable one.
    let exports = dir.path().join("exports");
    std::fs::create_dir(&exports).unwrap();
    let fresh = exports.join("fresh.jsonl");
    let existing = exports.join("existing.jsonl");
    std::fs::write(&existing, "not an export").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
    for file in [&fresh, &existing] {
        let out = gantry_under_umask_000(&[
            "export",
            "--data-dir",
            data.to_str().unwrap(),
            "--output",
            file.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(mode_of(file), 0o600, "{}", file.display());
        let body = std::fs::read_to_string(file).unwrap();
        assert!(
            body.lines().count() > 1 && !body.contains("not an export"),
            "{body}"
        );
    }
    // Opening the database offline (under umask 000 too) left the data directory private.
    assert_all_private(&data);

    // A restore into a new data directory writes it private as well.
    let restored = dir.path().join("restored/data");
    let out = gantry_under_umask_000(&[
        "restore",
        dest.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(mode_of(&dir.path().join("restored")), 0o700);
    assert_eq!(mode_of(&restored.join("gantry.db")), 0o600);
    assert_all_private(&dir.path().join("restored"));
}

#[test]
fn the_systemd_unit_example_verifies() {
    let Ok(which) = Command::new("which").arg("systemd-analyze").output() else {
        return;
    };
    if !which.status.success() {
        eprintln!("systemd-analyze not installed: the unit is not verified");
        return;
    }
    let unit = include_str!("../../../../examples/systemd/gantry.service")
        .replace("/usr/local/bin/gantry", env!("CARGO_BIN_EXE_gantry"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gantry.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

#[test]
fn a_node_with_another_secret_key_refuses_to_start() {
    use gantry_core::sealing::SecretKey;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (first, other) = (SecretKey::generate(), SecretKey::generate());
    let refused_with = |key: &SecretKey| {
        let (status, log) = Server::spawn(&data, &[("GANTRY_SECRET_KEY", &key.to_hex())]).refused();
        assert!(!status.success(), "{log}");
        assert!(
            log.contains("is not the one this database's secrets are sealed with")
                && log.contains("GANTRY_SECRET_KEY"),
            "{log}"
        );
        assert!(!log.contains(&key.to_hex()), "a key was logged: {log}");
    };
    Server::start(&data, &[("GANTRY_SECRET_KEY", &first.to_hex())]).stop();
    // Another key, as on a second node given its own: refused before it seals anything.
    refused_with(&other);
    // A rotation: the new key with the old one among the previous keys starts, and from then
    // on the new key is the instance's.
    Server::start(
        &data,
        &[
            ("GANTRY_SECRET_KEY", &other.to_hex()),
            ("GANTRY_SECRET_KEY_PREVIOUS", &first.to_hex()),
        ],
    )
    .stop();
    Server::start(&data, &[("GANTRY_SECRET_KEY", &other.to_hex())]).stop();
    refused_with(&first);
}

#[tokio::test]
async fn rotating_the_secret_key_reseals_every_secret_at_start() {
    use gantry_core::sealing::SecretKey;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (old, new) = (SecretKey::generate(), SecretKey::generate());
    let loopback = ("GANTRY_ALERTS_ALLOW_NETWORKS", "127.0.0.0/8");
    let server = Server::start_with_admin(&data, &[("GANTRY_SECRET_KEY", &old.to_hex()), loopback]);
    let b = server.base.clone();
    let admin = crate::harness::admin_with_app(&b, "ops@example.com").await;
    // A webhook rule: its signing secret is sealed too.
    let receiver = crate::harness::Receiver::start(crate::harness::Answer::Ok);
    let (s, rule) = call(
        "POST",
        &format!("{b}/v1/orgs/acme/alerts"),
        Some(&admin),
        Some(json!({"name": "hook", "events": ["ping"], "target": receiver.url})),
    )
    .await;
    assert_eq!(s, 201, "{rule}");
    let rule = rule["id"].as_str().unwrap().to_owned();
    for key in ["DATABASE_URL", "API_KEY"] {
        let (s, _) = call(
            "PUT",
            &format!("{b}/v1/apps/web/env/{key}"),
            Some(&admin),
            Some(json!({"value": "hush", "secret": true})),
        )
        .await;
        assert_eq!(s, 200);
    }
    server.stop();
    assert!(
        !data.join("secret.key").exists(),
        "a configured key is not written to disk"
    );

    let sealed_with = || async {
        let db = gantry_store::Database::open(None, &data).await.unwrap();
        let vars = db.store().secret_env_vars().await.unwrap();
        let hooks = db.store().sealed_alert_secrets().await.unwrap();
        db.store().close().await;
        vars.into_iter()
            .map(|v| v.value)
            .chain(hooks.into_iter().map(|h| h.value))
            .map(|v| v.split(':').nth(2).unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(sealed_with().await, vec![old.id(), old.id(), old.id()]);

    // The new key, with the old one still able to open: every secret is re-sealed at start.
    let server = Server::start(
        &data,
        &[
            ("GANTRY_SECRET_KEY", &new.to_hex()),
            ("GANTRY_SECRET_KEY_PREVIOUS", &old.to_hex()),
        ],
    );
    let log = server.stop();
    assert!(log.contains("sealed secrets with the current key"), "{log}");
    assert!(
        !log.contains(&new.to_hex()) && !log.contains(&old.to_hex()),
        "a key was logged"
    );
    assert_eq!(sealed_with().await, vec![new.id(), new.id(), new.id()]);

    // The old key dropped: the rule still signs its deliveries.
    let server = Server::start(&data, &[("GANTRY_SECRET_KEY", &new.to_hex()), loopback]);
    let (_, body) = login(&server.base, "ops@example.com", PASSWORD).await;
    let admin = body["token"].as_str().unwrap().to_owned();
    let (s, body) = call(
        "POST",
        &format!("{}/v1/orgs/acme/alerts/{rule}/test", server.base),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 202, "{body}");
    let seen = receiver
        .wait_for(Duration::from_secs(20), |s| s.iter().any(|r| r.answered))
        .await;
    assert!(
        seen.iter()
            .any(|r| r.answered && r.head.contains("webhook-signature: v1,")),
        "the ping was not sent signed after the key rotation: {seen:?}"
    );
}
