//! Alert deliveries survive the process: a node killed with SIGKILL while a webhook is in
//! flight delivers it after it comes back (same `webhook-id`), and three nodes on one
//! PostgreSQL database deliver each event exactly once between them.

use crate::harness::*;
use gantry_store::testing::TestDatabase;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const ADMIN: &str = "admin@example.com";

/// A `token.created` webhook rule in org `acme` to `url`: its id.
async fn rule_to(base: &str, admin: &str, url: &str) -> String {
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/orgs/acme/alerts"),
        Some(admin),
        Some(json!({"name": "hook", "events": ["token.created"], "target": url})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Creates a deploy token of app `web`: the id of its `token.created` event is not known to
/// the caller, so the token's id is returned (the event's data names it).
async fn new_deploy_token(base: &str, admin: &str, name: &str) -> String {
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/apps/web/tokens"),
        Some(admin),
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn deliveries(base: &str, admin: &str, rule: &str) -> Vec<Value> {
    let (status, body) = call(
        "GET",
        &format!("{base}/v1/orgs/acme/alerts/{rule}/deliveries"),
        Some(admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_in_flight_when_the_node_is_killed_is_delivered_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let envs = [
        ("GANTRY_ADMIN_EMAIL", ADMIN),
        ("GANTRY_ADMIN_PASSWORD", PASSWORD),
        ("GANTRY_ALERTS_ALLOW_NETWORKS", "127.0.0.0/8"),
    ];
    let mut server = Server::start(&data, &envs);
    let admin = admin_with_app(&server.base, ADMIN).await;
    let receiver = Receiver::start(Answer::Hang);
    let rule = rule_to(&server.base, &admin, &receiver.url).await;

    // The event commits with the token; the first try reaches the receiver and is held there.
    let token = new_deploy_token(&server.base, &admin, "ci").await;
    let held = receiver
        .wait_for(Duration::from_secs(20), |s| !s.is_empty())
        .await;
    assert_eq!(held.len(), 1, "the first try never arrived: {held:?}");
    let id = held[0].webhook_id.clone();
    assert!(
        id.starts_with("evt_") && held[0].body.contains(&token),
        "{held:?}"
    );

    // SIGKILL mid-try: no answer was recorded, no drain ran.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    receiver.set(Answer::Ok);

    // Back up on the same data: the claim runs out and the delivery is tried again.
    let server = Server::start(&data, &envs);
    let seen = receiver
        .wait_for(Duration::from_secs(60), |s| s.iter().any(|r| r.answered))
        .await;
    let answered: Vec<&Seen> = seen.iter().filter(|r| r.answered).collect();
    assert_eq!(answered.len(), 1, "{seen:?}");
    assert_eq!(answered[0].webhook_id, id, "a retry keeps its webhook-id");
    let admin = personal(&server.base).await;
    let mut state = Value::Null;
    for _ in 0..100 {
        let list = deliveries(&server.base, &admin, &rule).await;
        state = list[0]["state"].clone();
        if state == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, "delivered");
}

async fn personal(base: &str) -> String {
    let (status, body) = login(base, ADMIN, PASSWORD).await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_postgres_nodes_deliver_each_event_exactly_once() {
    let Some(db) = TestDatabase::create().await.unwrap() else {
        return;
    };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let key = "5e".repeat(32);
    let envs = [
        ("GANTRY_DATABASE_URL", db.url.as_str()),
        ("GANTRY_ADMIN_EMAIL", ADMIN),
        ("GANTRY_ADMIN_PASSWORD", PASSWORD),
        ("GANTRY_ALERTS_ALLOW_NETWORKS", "127.0.0.0/8"),
        // As the README says for several nodes: one sealing key, so each opens the rule's secret.
        ("GANTRY_SECRET_KEY", key.as_str()),
    ];
    let nodes: Vec<Server> = dirs
        .iter()
        .map(|d| Server::spawn(&d.path().join("data"), &envs))
        .collect();
    for n in &nodes {
        n.wait_ready();
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let admin = admin_with_app(&bases[0], ADMIN).await;
    let receiver = Receiver::start(Answer::Ok);
    let rule = rule_to(&bases[1], &admin, &receiver.url).await;

    // Events committed through every node, several at once: every dispatcher sees them due.
    const EVENTS: usize = 60;
    let mut made = Vec::new();
    for round in 0..EVENTS / 6 {
        let batch = (0..6).map(|i| {
            let base = bases[i % 3].clone();
            let admin = admin.clone();
            tokio::spawn(
                async move { new_deploy_token(&base, &admin, &format!("t{round}-{i}")).await },
            )
        });
        for t in batch {
            made.push(t.await.unwrap());
        }
    }
    let seen = receiver
        .wait_for(Duration::from_secs(60), |s| s.len() >= EVENTS)
        .await;
    // A straggler from a second node would come within a poll or two.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = if seen.len() >= EVENTS {
        receiver.seen()
    } else {
        seen
    };
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for r in &seen {
        *per_id.entry(r.webhook_id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    if per_id.len() != EVENTS {
        let list = deliveries(&bases[2], &admin, &rule).await;
        let stuck: Vec<_> = list.iter().filter(|d| d["state"] != "delivered").collect();
        for n in &nodes {
            let log = std::fs::read_to_string(&n.log).unwrap_or_default();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("deliver") || l.contains("claim") || l.contains("WARN"))
                .take(20)
                .collect();
            eprintln!("{}:\n{}", n.base, lines.join("\n"));
        }
        panic!(
            "{} of {EVENTS} events delivered; not delivered: {stuck:?}",
            per_id.len()
        );
    }
    for token in &made {
        assert!(
            seen.iter().any(|r| r.body.contains(token.as_str())),
            "no event for {token}"
        );
    }
    let list = deliveries(&bases[2], &admin, &rule).await;
    assert!(
        list.iter()
            .all(|d| d["state"] == "delivered" && d["attempts"] == 1),
        "{list:?}"
    );
    drop(nodes);
}
