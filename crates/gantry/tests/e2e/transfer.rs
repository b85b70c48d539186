//! `gantry export` from a populated SQLite instance, `gantry import` into PostgreSQL: every
//! token keeps working (hashes moved; values never existed on the server), revoked ones stay
//! refused, and releases, artifacts, env, config and the audit log come along.

use crate::harness::*;
use gantry_store::testing::TestDatabase;
use serde_json::json;
use std::process::Command;

fn gantry(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gantry {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test]
async fn export_from_sqlite_imports_into_postgres_with_every_token_still_valid() {
    let Some(db) = TestDatabase::create().await.unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let envs = [
        ("GANTRY_ADMIN_EMAIL", "admin@example.com"),
        ("GANTRY_ADMIN_PASSWORD", PASSWORD),
    ];
    let server = Server::start(&data, &envs);
    let base = server.base.clone();
    let (_, login) = login(&base, "admin@example.com", PASSWORD).await;
    let admin = login["token"].as_str().unwrap().to_owned();
    let post = |path: &str, body: serde_json::Value| {
        let (base, admin) = (base.clone(), admin.clone());
        let path = path.to_owned();
        async move { call("POST", &format!("{base}{path}"), Some(&admin), Some(body)).await }
    };
    assert_eq!(post("/v1/orgs", json!({"slug": "acme"})).await.0, 201);
    assert_eq!(
        post("/v1/orgs/acme/apps", json!({"slug": "web"})).await.0,
        201
    );
    let (_, deploy) = post("/v1/apps/web/tokens", json!({"name": "ci"})).await;
    let deploy = deploy["token"].as_str().unwrap().to_owned();
    let (_, org) = post(
        "/v1/orgs/acme/tokens",
        json!({"name": "ops", "role": "admin"}),
    )
    .await;
    let org = org["token"].as_str().unwrap().to_owned();
    let (_, gone) = post("/v1/apps/web/tokens", json!({"name": "old"})).await;
    let (gone_id, gone) = (
        gone["id"].as_str().unwrap().to_owned(),
        gone["token"].as_str().unwrap().to_owned(),
    );
    let (s, _) = call(
        "DELETE",
        &format!("{base}/v1/tokens/{gone_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 200);
    // A release with an artifact, env and config.
    let artifact: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let form = reqwest::multipart::Form::new().text("label", "v1").part(
        "artifact",
        reqwest::multipart::Part::bytes(artifact.clone()).file_name("site.tar.gz"),
    );
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/apps/web/deploys"))
        .bearer_auth(&deploy)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    let (s, _) = call(
        "PUT",
        &format!("{base}/v1/apps/web/env/DATABASE_URL"),
        Some(&deploy),
        Some(json!({"value": "postgres://db", "secret": true})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, audit_before) = call("GET", &format!("{base}/v1/audit"), Some(&admin), None).await;
    assert_eq!(s, 200);
    server.stop();

    let dump = dir.path().join("gantry.jsonl");
    let data_arg = data.display().to_string();
    let out = gantry(&[
        "export",
        "--data-dir",
        &data_arg,
        "--output",
        &dump.display().to_string(),
    ]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("1 artifacts (3000000 bytes)"), "{said}");
    let text = std::fs::read_to_string(&dump).unwrap();
    for secret in [&admin, &deploy, &org, &gone] {
        assert!(
            !text.contains(secret.as_str()),
            "a token value is in the export"
        );
    }

    let empty = dir.path().join("pg-node");
    gantry(&[
        "import",
        &dump.display().to_string(),
        "--database-url",
        &db.url,
    ]);
    // Importing twice is refused: the target is no longer empty.
    let again = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args([
            "import",
            &dump.display().to_string(),
            "--database-url",
            &db.url,
        ])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));

    let server = Server::start(&empty, &[("GANTRY_DATABASE_URL", db.url.as_str())]);
    let base = server.base.clone();
    for token in [&admin, &deploy, &org] {
        let (s, b) = call("GET", &format!("{base}/v1/apps/web"), Some(token), None).await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, _) = call("GET", &format!("{base}/v1/apps/web"), Some(&gone), None).await;
    assert_eq!(s, 401, "a revoked token works after import");
    let r = reqwest::Client::new()
        .get(format!("{base}/v1/apps/web/deploys/1/artifact"))
        .bearer_auth(&deploy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), artifact.as_slice());
    let (_, env) = call(
        "GET",
        &format!("{base}/v1/apps/web/env"),
        Some(&admin),
        None,
    )
    .await;
    assert!(env.to_string().contains("DATABASE_URL"), "{env}");
    let (_, audit_after) = call("GET", &format!("{base}/v1/audit"), Some(&admin), None).await;
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let before = ids(&audit_before);
    let after = ids(&audit_after);
    assert!(!before.is_empty());
    assert!(
        before.iter().all(|id| after.contains(id)),
        "audit events lost"
    );
    // New events continue after the imported ones.
    let (s, _) = call(
        "POST",
        &format!("{base}/v1/apps/web/tokens"),
        Some(&admin),
        Some(json!({"name": "after import"})),
    )
    .await;
    assert_eq!(s, 201);
    let (_, audit_new) = call("GET", &format!("{base}/v1/audit"), Some(&admin), None).await;
    assert!(ids(&audit_new)[0] > *before.iter().max().unwrap());
}
