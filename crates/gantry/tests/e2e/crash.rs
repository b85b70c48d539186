//! Crash safety: `gantry serve` killed with SIGKILL in the middle of a mixed write load comes
//! back with every acknowledged write, every acknowledged revocation still in force, and no
//! half-written artifact.

use crate::harness::{call, Server};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server acknowledged (answered 2xx to) before it died.
#[derive(Default)]
struct Acked {
    /// Token values that were created and never revoked or rotated away by an acked call.
    live: Vec<String>,
    /// Values whose revocation (or rotation without grace) was acknowledged.
    dead: Vec<String>,
    /// (version, sha256 of the bytes) of acknowledged deploys.
    releases: Vec<(i64, String)>,
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn deploy(base: &str, token: &str, label: &str, bytes: Vec<u8>) -> Option<i64> {
    let form = reqwest::multipart::Form::new()
        .part(
            "artifact",
            reqwest::multipart::Part::bytes(bytes).file_name("a.tar.gz"),
        )
        .text("label", label.to_owned());
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/apps/web/deploys"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let body: serde_json::Value = r.json().await.ok()?;
    body["version"].as_i64()
}

/// A request that may die with the server: `None` when there was no answer.
async fn try_call(
    method: &str,
    url: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> Option<(u16, serde_json::Value)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let mut rb = client.request(method.parse().ok()?, url).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.ok()?;
    let status = r.status().as_u16();
    let text = r.text().await.ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or_default()))
}

fn blobs_are_whole(artifacts: &Path) {
    for dir in std::fs::read_dir(artifacts).unwrap().flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        if name == "tmp" {
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
            assert!(left.is_empty(), "torn uploads left behind: {left:?}");
            continue;
        }
        for blob in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let bytes = std::fs::read(blob.path()).unwrap();
            assert_eq!(
                sha(&bytes),
                blob.file_name().to_string_lossy(),
                "a blob is not what its name says: half-written"
            );
        }
    }
}

#[tokio::test]
async fn sigkill_under_write_load_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start_with_admin(&data, &[("GANTRY_LOG", "warn")]);
    let b = server.base.clone();
    let admin = crate::harness::admin_with_app(&b, "ops@example.com").await;

    let acked = Arc::new(Mutex::new(Acked::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..6 {
        let (b, admin, acked, stop) = (b.clone(), admin.clone(), acked.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let Some((201, t)) = try_call(
                    "POST",
                    &format!("{b}/v1/apps/web/tokens"),
                    &admin,
                    Some(json!({"name": format!("w{w}-{n}")})),
                )
                .await
                else {
                    break;
                };
                let id = t["id"].as_str().unwrap().to_owned();
                let value = t["token"].as_str().unwrap().to_owned();
                match n % 4 {
                    // Revoke.
                    0 => match try_call("DELETE", &format!("{b}/v1/tokens/{id}"), &admin, None)
                        .await
                    {
                        Some((200, _)) => acked.lock().unwrap().dead.push(value),
                        _ => break, // unknown outcome: no claim either way
                    },
                    // Rotate without grace: the old value dies, the new one lives.
                    1 => match try_call(
                        "POST",
                        &format!("{b}/v1/tokens/{id}/rotate"),
                        &admin,
                        Some(json!({})),
                    )
                    .await
                    {
                        Some((200, r)) => {
                            let mut a = acked.lock().unwrap();
                            a.dead.push(value);
                            a.live.push(r["token"].as_str().unwrap().to_owned());
                        }
                        _ => break,
                    },
                    // Deploy with the new token.
                    2 => {
                        acked.lock().unwrap().live.push(value.clone());
                        let bytes: Vec<u8> = (0..(64 * 1024 + n as usize * 977))
                            .map(|i| (i as u32 ^ n ^ w) as u8)
                            .collect();
                        let digest = sha(&bytes);
                        match deploy(&b, &value, &format!("w{w}-{n}"), bytes).await {
                            Some(v) => acked.lock().unwrap().releases.push((v, digest)),
                            None => break,
                        }
                    }
                    _ => acked.lock().unwrap().live.push(value),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.child.kill().unwrap(); // SIGKILL: no drain, no flush
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    drop(server);

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.live.len() >= 10 && acked.dead.len() >= 5 && acked.releases.len() >= 3,
        "the load was too light to mean anything: {} live, {} dead, {} releases",
        acked.live.len(),
        acked.dead.len(),
        acked.releases.len()
    );

    eprintln!(
        "acknowledged before SIGKILL: {} live tokens, {} revoked or rotated away, {} releases",
        acked.live.len(),
        acked.dead.len(),
        acked.releases.len()
    );
    let server = Server::start(&data, &[("GANTRY_LOG", "warn")]);
    let b = server.base.clone();
    blobs_are_whole(&data.join("artifacts"));
    for t in &acked.live {
        let (s, body) = call("GET", &format!("{b}/v1/apps/web"), Some(t), None).await;
        assert_eq!(
            s, 200,
            "an acknowledged token is gone after the crash: {body}"
        );
    }
    for t in &acked.dead {
        let (s, _) = call("GET", &format!("{b}/v1/apps/web"), Some(t), None).await;
        assert!(
            s == 401 || s == 429,
            "an acknowledged revocation did not survive the crash: {s}"
        );
    }
    for (version, digest) in &acked.releases {
        let r = reqwest::Client::new()
            .get(format!("{b}/v1/apps/web/deploys/{version}/artifact"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "release {version} is gone after the crash");
        assert_eq!(&sha(&r.bytes().await.unwrap()), digest, "release {version}");
    }
    server.stop();
}
