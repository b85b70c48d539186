//! Tests that run `gantry serve` itself: first-run bootstrap, offline administration,
//! graceful shutdown, and the search for leaked secrets in the database files and logs.

use crate::harness::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[tokio::test]
async fn first_run_without_credentials_writes_a_private_generated_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let file = data.join("initial-admin-password");
    let generated = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(generated.len() >= 20);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "initial-admin-password must be private");
    }
    let (status, body) = login(&server.base, "admin@localhost", &generated).await;
    assert_eq!(status, 201);
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, me) = call(
        "GET",
        &format!("{}/v1/user", server.base),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["is_admin"], true);

    // Changing the password removes the file.
    let (status, _) = call(
        "PUT",
        &format!("{}/v1/user/password", server.base),
        Some(&token),
        Some(json!({"current_password": generated, "new_password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        !file.exists(),
        "the generated password file is removed once changed"
    );
    assert_eq!(
        login(&server.base, "admin@localhost", PASSWORD).await.0,
        201
    );
    let log = server.stop();
    assert!(
        log.contains("initial-admin-password"),
        "the log says where the password is"
    );
    assert!(
        !log.contains(&generated),
        "the log never shows the password"
    );
}

#[tokio::test]
async fn first_run_uses_admin_credentials_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_admin(&data, &[]);
    assert!(!data.join("initial-admin-password").exists());
    assert_eq!(
        login(&server.base, "ops@example.com", PASSWORD).await.0,
        201
    );
    server.stop();
}

#[cfg(unix)]
#[tokio::test]
async fn data_directory_and_files_are_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // No admin credentials: the generated password file is written too.
    let server = Server::start_under_umask(&data, &[], "000");
    assert_eq!(mode_of(&data), 0o700, "the data directory");
    for f in [
        "gantry.db",
        "gantry.db-wal",
        "gantry.db-shm",
        "secret.key",
        "initial-admin-password",
    ] {
        let path = data.join(f);
        assert!(path.exists(), "{f} exists while the server runs");
        assert_eq!(mode_of(&path), 0o600, "{f}");
    }
    assert!(data.join("artifacts/tmp").is_dir());
    // Everything else in it too (the artifact directories).
    assert_all_private(&data);
    let log = server.stop();
    assert!(
        !log.contains("chmod 700"),
        "no warning about a data directory gantry created: {log}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn serve_warns_when_the_data_directory_is_group_or_world_accessible() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start_with_admin(&data, &[]);
    let log = server.stop();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("chmod 700")).collect();
    assert_eq!(warnings.len(), 1, "one warning line: {log}");
    let warning = warnings[0];
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains(&data.display().to_string()),
        "names the path: {warning}"
    );
    assert!(warning.contains("0755"), "names the mode: {warning}");
    assert_eq!(
        mode_of(&data),
        0o755,
        "an existing data directory is left as it is"
    );
    assert_eq!(
        mode_of(&data.join("gantry.db")),
        0o600,
        "the files in it are private"
    );
}

#[tokio::test]
async fn admin_create_user_works_offline_against_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = create_user_offline(&data, "root@example.com", true, PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("usr_"));

    // The server finds users and so bootstraps nobody; the offline user can log in.
    let server = Server::start(&data, &[]);
    assert!(!data.join("initial-admin-password").exists());
    let (status, body) = login(&server.base, "root@example.com", PASSWORD).await;
    assert_eq!(status, 201);
    let token = body["token"].as_str().unwrap().to_owned();
    let (_, me) = call(
        "GET",
        &format!("{}/v1/user", server.base),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(me["user"]["is_admin"], true);
    server.stop();

    // A short password is refused with a message naming the field.
    let out = create_user_offline(&data, "x@example.com", false, "short");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
}

#[tokio::test]
async fn graceful_shutdown_flushes_last_used() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let envs = [
        ("GANTRY_ADMIN_EMAIL", "ops@example.com"),
        ("GANTRY_ADMIN_PASSWORD", PASSWORD),
    ];
    let server = Server::start(&data, &envs);
    let (_, body) = login(&server.base, "ops@example.com", PASSWORD).await;
    let token = body["token"].as_str().unwrap().to_owned();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        call(
            "GET",
            &format!("{}/v1/user", server.base),
            Some(&token),
            None
        )
        .await
        .0,
        200
    );
    server.stop();

    let server = Server::start(&data, &envs);
    let (_, body) = login(&server.base, "ops@example.com", PASSWORD).await;
    let other = body["token"].as_str().unwrap().to_owned();
    let (_, t) = call(
        "GET",
        &format!("{}/v1/tokens/{id}", server.base),
        Some(&other),
        None,
    )
    .await;
    assert!(
        t["last_used_at"].is_string(),
        "last use survived the restart: {t}"
    );
    assert_eq!(t["last_used_ip"], "127.0.0.1");
    server.stop();
}

/// Every byte of every file under `dir`.
fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn raw_tokens_never_reach_the_database_files_or_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with_admin(&data, &[]);
    let b = server.base.clone();
    let mut issued: Vec<String> = Vec::new();

    let admin = crate::harness::admin_with_app(&b, "ops@example.com").await;
    issued.push(admin.clone());
    call(
        "PUT",
        &format!("{b}/v1/apps/web/env/DB_PASSWORD"),
        Some(&admin),
        Some(json!({"value": "hunter2hunter2", "secret": true})),
    )
    .await;

    for kind in ["deploy", "org", "personal"] {
        let (url, body) = match kind {
            "deploy" => (format!("{b}/v1/apps/web/tokens"), json!({"name": "ci"})),
            "org" => (
                format!("{b}/v1/orgs/acme/tokens"),
                json!({"name": "ops", "role": "operator"}),
            ),
            _ => (format!("{b}/v1/user/tokens"), json!({"name": "laptop"})),
        };
        let (status, created) = call("POST", &url, Some(&admin), Some(body)).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let raw = created["token"].as_str().unwrap().to_owned();
        issued.push(raw.clone());
        // Use it, successfully and not.
        assert_eq!(status_of("GET", &format!("{b}/v1/user"), &raw).await, 200);
        let mut typo = raw.clone();
        typo.replace_range(10..11, if &raw[10..11] == "a" { "b" } else { "a" });
        assert_eq!(status_of("GET", &format!("{b}/v1/user"), &typo).await, 401);
        // Rotate with a grace period, use both values, then revoke.
        let (status, rotated) = call(
            "POST",
            &format!("{b}/v1/tokens/{id}/rotate"),
            Some(&admin),
            Some(json!({"grace_period": "1h"})),
        )
        .await;
        assert_eq!(status, 200, "{rotated}");
        let new = rotated["token"].as_str().unwrap().to_owned();
        issued.push(new.clone());
        assert_eq!(status_of("GET", &format!("{b}/v1/user"), &raw).await, 200);
        assert_eq!(status_of("GET", &format!("{b}/v1/user"), &new).await, 200);
        assert_eq!(
            status_of("DELETE", &format!("{b}/v1/tokens/{id}"), &admin).await,
            200
        );
        assert_eq!(status_of("GET", &format!("{b}/v1/user"), &new).await, 401);
        assert_eq!(status_of("GET", &format!("{b}/v1/user"), &raw).await, 401);
    }
    // Look while the server still runs (the WAL holds recent writes), and again after stop.
    tokio::time::sleep(Duration::from_millis(1500)).await; // one flush interval
    let running = all_bytes(&data);
    assert!(
        running
            .iter()
            .any(|(p, _)| p.to_string_lossy().ends_with("-wal")),
        "WAL file inspected"
    );
    let log = server.stop();
    let stopped = all_bytes(&data);
    assert!(log.len() > 1000, "debug logs were captured");
    for raw in &issued {
        for (path, bytes) in running.iter().chain(stopped.iter()) {
            assert!(
                !contains(bytes, raw),
                "raw token found in {}",
                path.display()
            );
            assert!(
                !contains(bytes, &raw[12..]),
                "secret part of a token found in {}",
                path.display()
            );
        }
        assert!(!log.contains(raw.as_str()), "raw token found in the log");
        assert!(
            !log.contains(&raw[12..]),
            "secret part of a token found in the log"
        );
    }
    assert!(
        !log.contains("hunter2hunter2"),
        "secret env value found in the log"
    );
}

#[tokio::test]
async fn a_user_created_offline_without_admin_rights_can_still_change_their_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(
        create_user_offline(&data, "dev@example.com", false, PASSWORD)
            .status
            .success()
    );
    let server = Server::start(&data, &[]);
    let (_, body) = login(&server.base, "dev@example.com", PASSWORD).await;
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, body) = call(
        "PUT",
        &format!("{}/v1/user/password", server.base),
        Some(&token),
        Some(json!({"current_password": PASSWORD, "new_password": "another long passphrase"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    server.stop();
}

/// The status of a bodiless request with a bearer token.
async fn status_of(method: &str, url: &str, token: &str) -> u16 {
    call(method, url, Some(token), None).await.0
}
