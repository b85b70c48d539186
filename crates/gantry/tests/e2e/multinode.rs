//! Three `gantry serve` nodes on one PostgreSQL database behind a real nginx, round-robin.
//! What one node writes is in force on every node before the call that wrote it answers:
//! each check below warms the other nodes' caches first, then changes something through one
//! node and immediately asks the others, many times.

use crate::harness::*;
use gantry_store::testing::TestDatabase;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin@example.com";

async fn get(base: &str, path: &str, token: &str) -> u16 {
    call("GET", &format!("{base}{path}"), Some(token), None)
        .await
        .0
}

/// Asks every node in `bases` `rounds` times and returns the statuses seen.
async fn statuses(bases: &[&str], path: &str, token: &str, rounds: usize) -> Vec<u16> {
    let mut seen = Vec::new();
    for _ in 0..rounds {
        for base in bases {
            seen.push(get(base, path, token).await);
        }
    }
    seen
}

async fn personal_token(base: &str, email: &str) -> String {
    let (status, body) = login(base, email, PASSWORD).await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn deploy_token(base: &str, admin: &str, name: &str) -> (String, String) {
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/apps/web/tokens"),
        Some(admin),
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

async fn member(base: &str, admin: &str, email: &str, role: &str) -> String {
    let (status, body) = call(
        "POST",
        &format!("{base}/v1/users"),
        Some(admin),
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        "PUT",
        &format!("{base}/v1/orgs/acme/members/{id}"),
        Some(admin),
        Some(json!({"role": role})),
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_postgres_behind_nginx_agree_at_once() {
    let Some(nginx) = nginx("three_nodes_on_one_postgres_behind_nginx") else {
        return;
    };
    let Some(db) = TestDatabase::create().await.unwrap() else {
        return;
    };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // One instance key for all (README: give every node the same key); a node with its own
    // would refuse to start.
    let key = gantry_core::sealing::SecretKey::generate().to_hex();
    let envs = [
        ("GANTRY_DATABASE_URL", db.url.as_str()),
        ("GANTRY_SECRET_KEY", key.as_str()),
        ("GANTRY_ADMIN_EMAIL", ADMIN),
        ("GANTRY_ADMIN_PASSWORD", PASSWORD),
        // The README's setup: nodes believe the balancer's X-Forwarded-* headers.
        ("GANTRY_TRUSTED_PROXIES", "127.0.0.1"),
        // Every failed use counts toward the failure limit; this test refuses hundreds of
        // revoked values from one address on purpose and wants to see each one's 401.
        ("GANTRY_RATE_LIMIT_FAILED_AUTH", "100000/1m"),
    ];
    // All three start at once on the empty database: migrations and the first administrator
    // must not race.
    let mut nodes: Vec<Server> = dirs
        .iter()
        .map(|d| Server::spawn(&d.path().join("data"), &envs))
        .collect();
    for n in &nodes {
        n.wait_ready();
    }
    let front = free_port();
    let upstreams: String = nodes
        .iter()
        .map(|n| format!("server {} max_fails=1 fail_timeout=30s;", n.addr()))
        .collect();
    let _nginx = Nginx::start(
        nginx,
        front,
        &format!(
            "upstream gantry {{ {upstreams} }}\n\
             server {{ listen 127.0.0.1:{front};\n\
               location / {{ proxy_pass http://gantry; proxy_next_upstream error timeout;\n\
                 proxy_connect_timeout 1s; proxy_set_header X-Forwarded-For $remote_addr;\n\
                 proxy_set_header X-Forwarded-Proto https; }} }}"
        ),
    );
    let lb = format!("http://127.0.0.1:{front}");
    let (n1, n2, n3) = (
        nodes[0].base.clone(),
        nodes[1].base.clone(),
        nodes[2].base.clone(),
    );
    let others = [n1.as_str(), n3.as_str()];

    // Through the balancer that terminates TLS (the README's example sets X-Forwarded-Proto),
    // the dashboard's cookies are Secure; straight to a node over plain HTTP they are not.
    for (base, secure) in [(lb.as_str(), true), (n1.as_str(), false)] {
        let r = no_redirects()
            .get(format!("{base}/login"))
            .send()
            .await
            .unwrap();
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert_eq!(cookie.contains("; Secure"), secure, "{base}: {cookie}");
    }

    // Set up through the load balancer: whichever node answers, all share one database.
    let admin = personal_token(&lb, ADMIN).await;
    let (s, b) = call(
        "POST",
        &format!("{lb}/v1/orgs"),
        Some(&admin),
        Some(json!({"slug": "acme"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = call(
        "POST",
        &format!("{lb}/v1/orgs/acme/apps"),
        Some(&admin),
        Some(json!({"slug": "web"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");

    // An app node 2 has already been asked about (and cached as missing) exists there as
    // soon as node 1 has created it.
    assert_eq!(get(&n2, "/v1/apps/api", &admin).await, 404);
    let (s, b) = call(
        "POST",
        &format!("{n1}/v1/orgs/acme/apps"),
        Some(&admin),
        Some(json!({"slug": "api"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(get(&n2, "/v1/apps/api", &admin).await, 200);

    // A token created on node 1 works on nodes 2 and 3.
    let (revoke_id, revoke_me) = deploy_token(&n1, &admin, "to revoke").await;
    for base in [&n1, &n2, &n3] {
        assert_eq!(get(base, "/v1/apps/web", &revoke_me).await, 200, "{base}");
    }

    // Revoke on node 2: refused by nodes 1 and 3 from the very next request.
    for _ in 0..3 {
        assert!(statuses(&others, "/v1/apps/web", &revoke_me, 1)
            .await
            .iter()
            .all(|s| *s == 200));
    }
    let started = Instant::now();
    let (s, b) = call(
        "DELETE",
        &format!("{n2}/v1/tokens/{revoke_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // With --nocapture: what waiting for the other nodes costs a revocation.
    println!("revoke through node 2 answered in {:?}", started.elapsed());
    let seen = statuses(&others, "/v1/apps/web", &revoke_me, 50).await;
    assert!(
        seen.iter().all(|s| *s == 401),
        "revoked token accepted: {seen:?}"
    );

    // Rotate on node 2 (no grace period): the old value is refused everywhere at once and the
    // new one works everywhere.
    let (rotate_id, old_value) = deploy_token(&n1, &admin, "to rotate").await;
    assert!(statuses(&others, "/v1/apps/web", &old_value, 3)
        .await
        .iter()
        .all(|s| *s == 200));
    let (s, b) = call(
        "POST",
        &format!("{n2}/v1/tokens/{rotate_id}/rotate"),
        Some(&admin),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let new_value = b["token"].as_str().unwrap().to_owned();
    // A value rotated away is unknown now: refused, and past the failure limit refused with
    // 429 (it counts as a guess).
    let seen = statuses(&others, "/v1/apps/web", &old_value, 50).await;
    assert!(
        seen.iter().all(|s| *s == 401 || *s == 429),
        "rotated-away value accepted: {seen:?}"
    );
    let seen = statuses(&others, "/v1/apps/web", &new_value, 5).await;
    assert!(
        seen.iter().all(|s| *s == 200),
        "new value refused: {seen:?}"
    );

    // Disable a user on node 2: their personal token stops on nodes 1 and 3 at once.
    let dana = member(&n1, &admin, "dana@example.com", "operator").await;
    let dana_token = personal_token(&n1, "dana@example.com").await;
    assert!(statuses(&others, "/v1/apps/web", &dana_token, 3)
        .await
        .iter()
        .all(|s| *s == 200));
    let (s, b) = call(
        "PATCH",
        &format!("{n2}/v1/users/{dana}"),
        Some(&admin),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let seen = statuses(&others, "/v1/apps/web", &dana_token, 50).await;
    assert!(
        seen.iter().all(|s| *s == 401),
        "disabled user accepted: {seen:?}"
    );

    // A dashboard session made on node 1 works on nodes 2 and 3; signing out on node 3 ends
    // it on nodes 1 and 2 at once.
    let session = dashboard_sign_in(&n1, ADMIN).await;
    for node in [&n2, &n3] {
        assert_eq!(
            dashboard_get(node, "/apps/web", &session).await.0,
            200,
            "{node}"
        );
    }
    let (_, page) = dashboard_get(&n3, "/apps/web", &session).await;
    let at = page.find("name=\"_csrf\" value=\"").unwrap() + 20;
    let csrf = page[at..].split('"').next().unwrap().to_owned();
    let out = no_redirects()
        .post(format!("{n3}/logout"))
        .header("cookie", format!("gantry_session={session}"))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    for node in [&n1, &n2] {
        assert_eq!(
            dashboard_get(node, "/apps/web", &session).await.0,
            303,
            "{node}"
        );
    }

    // Remove a membership on node 2: the app disappears for that user on nodes 1 and 3 at once.
    let eli = member(&n1, &admin, "eli@example.com", "operator").await;
    let eli_token = personal_token(&n1, "eli@example.com").await;
    assert!(statuses(&others, "/v1/apps/web", &eli_token, 3)
        .await
        .iter()
        .all(|s| *s == 200));
    let (s, b) = call(
        "DELETE",
        &format!("{n2}/v1/orgs/acme/members/{eli}"),
        Some(&admin),
        None,
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {b}");
    let seen = statuses(&others, "/v1/apps/web", &eli_token, 50).await;
    assert!(
        seen.iter().all(|s| *s == 404 || *s == 403),
        "removed member still sees the app: {seen:?}"
    );

    // Last used, recorded on node 3, is visible through node 1 within a few seconds.
    let (used_id, used) = deploy_token(&n1, &admin, "used on node 3").await;
    assert_eq!(get(&n3, "/v1/apps/web", &used).await, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, t) = call(
            "GET",
            &format!("{n1}/v1/tokens/{used_id}"),
            Some(&admin),
            None,
        )
        .await;
        if !t["last_used_at"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "last use never recorded: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Kill node 3 mid-load (creations and revocations through nginx): every acknowledged
    // write survives, and the other two keep serving. A revocation right after the kill waits
    // for node 3 only until its heartbeat is older than the staleness bound.
    #[derive(Default)]
    struct Acks {
        created: Vec<(String, String)>,
        revoked: Vec<(String, String)>,
        slowest_revoke: Duration,
    }
    let acks: Arc<Mutex<Acks>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (lb, admin, acks, stop) = (lb.clone(), admin.clone(), acks.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let (s, b): (u16, Value) = call(
                    "POST",
                    &format!("{lb}/v1/apps/web/tokens"),
                    Some(&admin),
                    Some(json!({"name": format!("load {w}-{i}")})),
                )
                .await;
                if s != 201 {
                    continue;
                }
                let token = (
                    b["id"].as_str().unwrap().to_owned(),
                    b["token"].as_str().unwrap().to_owned(),
                );
                if i % 3 != 0 {
                    acks.lock().unwrap().created.push(token);
                    continue;
                }
                let started = Instant::now();
                let (s, _) = call(
                    "DELETE",
                    &format!("{lb}/v1/tokens/{}", token.0),
                    Some(&admin),
                    None,
                )
                .await;
                // Not acknowledged (the node died under it): it may or may not have happened.
                if s == 200 {
                    let mut acks = acks.lock().unwrap();
                    acks.revoked.push(token);
                    acks.slowest_revoke = acks.slowest_revoke.max(started.elapsed());
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = nodes.pop().unwrap();
    let before_kill = acks.lock().unwrap().created.len();
    drop(killed); // SIGKILL
    tokio::time::sleep(Duration::from_millis(6000)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acks = std::mem::take(&mut *acks.lock().unwrap());
    assert!(before_kill > 0, "no writes before the kill");
    assert!(
        acks.created.len() > before_kill,
        "no writes acknowledged after the kill ({before_kill} before)"
    );
    assert!(!acks.revoked.is_empty(), "no revocation acknowledged");
    for (id, value) in &acks.created {
        let (s, _) = call("GET", &format!("{n1}/v1/tokens/{id}"), Some(&admin), None).await;
        assert_eq!(s, 200, "acknowledged token {id} lost");
        assert_eq!(
            get(&n2, "/v1/apps/web", value).await,
            200,
            "token {id} refused"
        );
    }
    for (id, value) in &acks.revoked {
        for base in [&n1, &n2] {
            assert_eq!(
                get(base, "/v1/apps/web", value).await,
                401,
                "revoked token {id} accepted"
            );
        }
    }
    println!(
        "under load with a node killed: {} creations and {} revocations acknowledged, slowest revocation {:?}",
        acks.created.len(),
        acks.revoked.len(),
        acks.slowest_revoke
    );
    assert!(
        acks.slowest_revoke < gantry_store::STALENESS_BOUND + Duration::from_secs(2),
        "a revocation waited past the staleness bound for a dead node"
    );
    // The survivors serve everything through the load balancer.
    let seen = statuses(&[lb.as_str()], "/v1/apps/web", &new_value, 20).await;
    assert!(seen.iter().all(|s| *s == 200), "after the kill: {seen:?}");
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in to the dashboard on `base` as a browser does: the session cookie's value.
async fn dashboard_sign_in(base: &str, email: &str) -> String {
    let http = no_redirects();
    let form = http.get(format!("{base}/login")).send().await.unwrap();
    let login = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("gantry_login="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let r = http
        .post(format!("{base}/login"))
        .header("cookie", format!("gantry_login={login}"))
        .form(&[("email", email), ("password", PASSWORD), ("_csrf", &login)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("gantry_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned()
}

async fn dashboard_get(base: &str, path: &str, session: &str) -> (u16, String) {
    let r = no_redirects()
        .get(format!("{base}{path}"))
        .header("cookie", format!("gantry_session={session}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `n` nodes on one fresh PostgreSQL database sharing an instance key, failure limits out of
/// the way (these tests present dead values on purpose); None without PostgreSQL.
struct Cluster {
    nodes: Vec<Server>,
    _dirs: Vec<tempfile::TempDir>,
    _db: TestDatabase,
}

impl Cluster {
    async fn start(n: usize) -> Option<Cluster> {
        let db = TestDatabase::create().await.unwrap()?;
        let dirs: Vec<tempfile::TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let key = gantry_core::sealing::SecretKey::generate().to_hex();
        let envs = [
            ("GANTRY_DATABASE_URL", db.url.as_str()),
            ("GANTRY_SECRET_KEY", key.as_str()),
            ("GANTRY_ADMIN_EMAIL", ADMIN),
            ("GANTRY_ADMIN_PASSWORD", PASSWORD),
            ("GANTRY_RATE_LIMIT_FAILED_AUTH", "100000/1m"),
        ];
        let nodes: Vec<Server> = dirs
            .iter()
            .map(|d| Server::spawn(&d.path().join("data"), &envs))
            .collect();
        for node in &nodes {
            node.wait_ready();
        }
        Some(Cluster {
            nodes,
            _dirs: dirs,
            _db: db,
        })
    }
}

/// Signs the administrator in at `base` and creates org `acme` with app `web`: their token.
async fn acme_with_web(base: &str) -> String {
    let admin = personal_token(base, ADMIN).await;
    for (path, body) in [
        ("/v1/orgs", json!({"slug": "acme"})),
        ("/v1/orgs/acme/apps", json!({"slug": "web"})),
    ] {
        let (s, answer) = call("POST", &format!("{base}{path}"), Some(&admin), Some(body)).await;
        assert_eq!(s, 201, "{answer}");
    }
    admin
}

/// DESIGN §10 safe rotation across nodes: with `until_first_use`, the new value's first use on
/// node 2 ends the old value on node 1 before that use's answer returns — node 1 had it
/// cached as valid a moment before. Repeated, so the ordering is not luck.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_use_of_a_rotated_value_on_one_node_ends_the_old_value_on_the_other() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let nodes = &cluster.nodes;
    let (n1, n2) = (nodes[0].base.clone(), nodes[1].base.clone());
    let admin = acme_with_web(&n1).await;
    let (id, mut old) = deploy_token(&n1, &admin, "ci").await;
    for round in 0..5 {
        let (s, body) = call(
            "POST",
            &format!("{n1}/v1/tokens/{id}/rotate"),
            Some(&admin),
            Some(json!({"grace_period": "1h", "until_first_use": true})),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        let new = body["token"].as_str().unwrap().to_owned();
        // Both nodes accept (and cache) the old value during the grace period.
        assert_eq!(
            statuses(&[&n1, &n2], "/v1/apps/web", &old, 3).await,
            vec![200; 6],
            "round {round}"
        );
        // First use of the new value, on node 2.
        assert_eq!(get(&n2, "/v1/apps/web", &new).await, 200, "round {round}");
        // At once, on both nodes, the old value is gone; the new one works everywhere.
        assert_eq!(
            statuses(&[&n1, &n2], "/v1/apps/web", &old, 3).await,
            vec![401; 6],
            "round {round}: the old value outlived the new one's first use"
        );
        assert_eq!(
            statuses(&[&n1, &n2], "/v1/apps/web", &new, 2).await,
            vec![200; 4]
        );
        old = new;
    }
    let (s, body) = call(
        "GET",
        &format!("{n2}/v1/audit?action=token.grace_ended"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(5), "{body}");
    // Each old value, presented on both nodes after its end, was a reuse: reported once each,
    // whichever node saw it first (DESIGN §9).
    let (s, body) = call(
        "GET",
        &format!("{n1}/v1/audit?action=token.reused"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(5), "{body}");
}

/// DESIGN §9: a leak reported to one node is in force on every node before the 202.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leak_reported_to_one_node_is_refused_by_every_node_at_once() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let nodes = &cluster.nodes;
    let bases: Vec<&str> = nodes.iter().map(|n| n.base.as_str()).collect();
    let admin = acme_with_web(bases[0]).await;
    for round in 0..5 {
        let (_, leaked) = deploy_token(bases[0], &admin, &format!("ci {round}")).await;
        // Every node has it cached as valid.
        assert_eq!(
            statuses(&bases, "/v1/apps/web", &leaked, 2).await,
            vec![200; 6]
        );
        let reporter = bases[1 + round % 2];
        let (s, body) = call(
            "POST",
            &format!("{reporter}/v1/credentials/revoke"),
            None,
            Some(json!({"credentials": [leaked]})),
        )
        .await;
        assert_eq!(s, 202, "{body}");
        assert_eq!(
            statuses(&bases, "/v1/apps/web", &leaked, 2).await,
            vec![401; 6],
            "round {round}: a node still accepted a reported token"
        );
    }
}
