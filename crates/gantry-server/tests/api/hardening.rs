//! Abuse: brute force against tokens and passwords is rate limited (429 with `Retry-After`)
//! without slowing valid credentials.

use crate::helpers::*;
use gantry_api::TokenKind;
use gantry_core::token::PlainToken;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn guessing_tokens_is_rate_limited_per_ip_and_valid_tokens_are_not_slowed() {
    let app = spawn_app_with(|c| c.settings.failed_auth_limit = limit(5, 60)).await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let (_, valid) = app
        .deploy_token(&app.admin_token, "web", json!({"name": "ci"}))
        .await;
    for i in 0..5 {
        let guess = PlainToken::generate(TokenKind::Deploy);
        let r = app.get("/v1/apps/web", guess.expose_secret()).await;
        assert_eq!(r.status, 401, "guess {i} is an ordinary failure");
    }
    let guess = PlainToken::generate(TokenKind::Deploy);
    let r = app.get("/v1/apps/web", guess.expose_secret()).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "rate_limited");
    let after: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&after), "Retry-After {after}");
    // Garbage counts as a guess too.
    let r = app.get("/v1/apps/web", "not-a-token").await;
    assert_eq!(r.status, 429);
    // The same client's valid token goes straight through, as many times as it likes.
    for _ in 0..20 {
        assert_eq!(app.get("/v1/apps/web", &valid).await.status, 200);
    }
    // Only the crossing is audited, not every refused guess.
    let audit = app
        .get("/v1/audit?action=auth.failed&limit=100", &app.admin_token)
        .await;
    let rows = audit.body["items"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        6,
        "five failures and the crossing: {}",
        audit.text
    );
    assert!(rows
        .iter()
        .any(|r| r["detail"]["rate_limited"] == "auth_ip"));
}

#[tokio::test]
async fn revoked_expired_and_disabled_values_count_toward_the_failure_limits() {
    let app = spawn_app_with(|c| c.settings.failed_auth_limit = limit(4, 60)).await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let (id, revoked) = app
        .deploy_token(&app.admin_token, "web", json!({"name": "ci"}))
        .await;
    app.revoke(&app.admin_token, &id).await;
    let (_, expired) = app
        .deploy_token(
            &app.admin_token,
            "web",
            json!({"name": "short", "expires_in": "1m"}),
        )
        .await;
    let (user_id, disabled) = app.user("gone@example.com").await;
    let r = app
        .patch(
            &format!("/v1/users/{user_id}"),
            &app.admin_token,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.advance(Duration::from_secs(120));

    // Each keeps its reason while under the limit…
    for (value, code) in [
        (&revoked, "token_revoked"),
        (&expired, "token_expired"),
        (&disabled, "user_disabled"),
        (&revoked, "token_revoked"),
    ] {
        let r = app.get("/v1/apps/web", value).await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.body["error"]["code"], code);
    }
    // …and all of them count: the next failure from this address is refused.
    let r = app.get("/v1/apps/web", &expired).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));
    // A valid token is never counted, so never slowed.
    assert_eq!(app.get("/v1/user", &app.admin_token).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_uses_of_a_revoked_token_make_a_handful_of_audit_rows() {
    let app = spawn_app().await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let (id, revoked) = app
        .deploy_token(&app.admin_token, "web", json!({"name": "ci"}))
        .await;
    app.revoke(&app.admin_token, &id).await;
    let failed_rows = |items: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        items
            .into_iter()
            .filter(|e| e["action"] == "auth.failed" && e["target_id"] == id.as_str())
            .collect()
    };

    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for _ in 0..(3_000 / 20) {
        let batch = (0..20).map(|_| app.get("/v1/apps/web", &revoked));
        for r in futures_util::future::join_all(batch).await {
            *statuses.entry(r.status).or_default() += 1;
        }
    }
    assert_eq!(statuses.len(), 2, "401s, then 429s: {statuses:?}");
    assert!(statuses[&429] > 2_900, "{statuses:?}");

    // As it happens: the first use and the crossing of the limit.
    let (_, items) = app.audit_items("?action=auth.failed&limit=1000").await;
    let rows = failed_rows(items);
    assert!(rows.len() <= 3, "{} rows: {rows:?}", rows.len());
    assert_eq!(rows.last().unwrap()["detail"]["reason"], "revoked");

    // When the window ends, one summary row carries the rest of the count.
    app.advance(Duration::from_secs(61));
    app.flush_usage().await;
    let (_, items) = app.audit_items("?action=auth.failed&limit=1000").await;
    let rows = failed_rows(items);
    assert!(rows.len() <= 4, "{} rows: {rows:?}", rows.len());
    let counted: u64 = rows
        .iter()
        .map(|r| r["detail"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 3_000, "{rows:?}");
    assert!(rows.iter().any(|r| r["detail"]["repeated"] == true));
}

/// Signs in as `email` with `password` from `ip` (the test server trusts loopback as a proxy).
async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> u16 {
    let r = app
        .http
        .post(format!("{}/v1/auth/login", app.base))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

#[tokio::test]
async fn the_right_password_from_an_address_without_failures_is_accepted_while_the_email_is_attacked(
) {
    let app = spawn_app_with(|c| {
        c.settings.failed_login_limit = limit(3, 300);
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    // Guesses at the admin's email from many addresses put the email past its limit.
    for i in 0..6 {
        let s = login_from(
            &app,
            &format!("198.51.100.{i}"),
            ADMIN_EMAIL,
            "wrong password 1",
        )
        .await;
        assert!(s == 401 || s == 429, "{s}");
    }
    assert_eq!(
        login_from(&app, "198.51.100.1", ADMIN_EMAIL, PASSWORD).await,
        429,
        "an address that failed is refused while the email is over its limit"
    );
    // Its owner, from an address that has not failed, gets in.
    assert_eq!(
        login_from(&app, "203.0.113.9", ADMIN_EMAIL, PASSWORD).await,
        201
    );
    // A fresh address gets one try at the attacked email, not the address's whole allowance.
    assert_eq!(
        login_from(&app, "203.0.113.10", ADMIN_EMAIL, "wrong password 2").await,
        401
    );
    assert_eq!(
        login_from(&app, "203.0.113.10", ADMIN_EMAIL, "wrong password 3").await,
        429
    );
}

#[tokio::test]
async fn ipv6_addresses_of_one_64_share_one_login_limit() {
    let app = spawn_app_with(|c| {
        c.settings.failed_login_limit = limit(3, 300);
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    for i in 1..=3 {
        let email = format!("nobody{i}@example.com");
        let s = login_from(
            &app,
            &format!("2001:db8:5:6::{i:x}"),
            &email,
            "wrong password 1",
        )
        .await;
        assert_eq!(s, 401);
    }
    // Another address of the same /64, another email: the network is over its limit.
    let s = login_from(
        &app,
        "2001:db8:5:6:ffff::1",
        "else@example.com",
        "wrong password 1",
    )
    .await;
    assert_eq!(s, 429);
    // The next /64 is someone else.
    let s = login_from(
        &app,
        "2001:db8:5:7::1",
        "else@example.com",
        "wrong password 1",
    )
    .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn changing_the_password_goes_through_the_login_limiter() {
    let app = spawn_app_with(|c| c.settings.failed_login_limit = limit(3, 300)).await;
    let (_, token) = app.user("victim@example.com").await;
    let change = |current: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            app.put(
                "/v1/user/password",
                &token,
                json!({"current_password": current, "new_password": "a brand new passphrase"}),
            )
            .await
        }
    };
    for _ in 0..3 {
        let r = change("wrong password 123").await;
        assert_invalid_field(&r, "current_password");
    }
    // A stolen token is not a password oracle: past the limit, even the right one is refused.
    let r = change(PASSWORD).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(
        app.try_login("victim@example.com", PASSWORD).await.status,
        429
    );
}

#[tokio::test]
async fn password_guessing_is_rate_limited_even_with_the_right_password_after() {
    let app = spawn_app_with(|c| c.settings.failed_login_limit = limit(3, 300)).await;
    let login = |password: &'static str| app.try_login(ADMIN_EMAIL, password);
    for _ in 0..3 {
        assert_eq!(login("wrong password 123").await.status, 401);
    }
    let r = login("wrong password 123").await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));
    // Blocked before the password is checked: a right guess is not confirmed either.
    let r = login(PASSWORD).await;
    assert_eq!(r.status, 429);
    // Tokens already issued keep working.
    assert_eq!(app.get("/v1/user", &app.admin_token).await.status, 200);
}

#[tokio::test]
async fn rate_limited_requests_are_counted_in_the_metrics() {
    let app = spawn_app_with(|c| c.settings.failed_auth_limit = limit(1, 60)).await;
    for _ in 0..3 {
        let guess = PlainToken::generate(TokenKind::Org);
        app.get("/v1/user", guess.expose_secret()).await;
    }
    let text = app.started.gantry.render_metrics().await.unwrap();
    assert!(
        text.contains(r#"gantry_rate_limited_requests_total{scope="auth_ip"} 2"#),
        "{text}"
    );
}

async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Err(_) => return false,                // still open, nothing said
            Ok(Ok(0)) | Ok(Err(_)) => return true, // closed (or reset)
            Ok(Ok(_)) => continue,                 // an error answer, then the close
        }
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_do_not_starve_others() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|c| {
        c.conn_limits.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Ten clients connect and never say a word; fifty start a request head and never finish.
    let mut slow = Vec::new();
    for _ in 0..10 {
        slow.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    for _ in 0..50 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /v1/user HTTP/1.1\r\nHost: gantry\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    // Everyone else is served meanwhile, promptly.
    let started = std::time::Instant::now();
    for _ in 0..10 {
        assert_eq!(app.get("/v1/user", &app.admin_token).await.status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // And the slow ones are disconnected once their second is up.
    for (i, s) in slow.iter_mut().enumerate() {
        assert!(
            closed_within(s, Duration::from_secs(3)).await,
            "slow client {i} (0–9 silent, 10– a partial head) still holds its connection"
        );
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_and_busy_ones_kept() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|c| c.conn_limits.keep_alive_timeout = Duration::from_secs(1)).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let request = b"GET /healthz HTTP/1.1\r\nHost: gantry\r\n\r\n";
    async fn answer(s: &mut tokio::net::TcpStream) -> String {
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
    // One request, then silence: closed once the second is up.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(request).await.unwrap();
    assert!(answer(&mut idle).await.starts_with("HTTP/1.1 200"));
    // A connection that keeps asking, every 400 ms for 3 s, stays open throughout.
    let mut busy = tokio::net::TcpStream::connect(&addr).await.unwrap();
    for _ in 0..8 {
        busy.write_all(request).await.unwrap();
        let a = answer(&mut busy).await;
        assert!(
            a.starts_with("HTTP/1.1 200"),
            "a busy connection was cut: {a:?}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(
        closed_within(&mut idle, Duration::from_millis(100)).await,
        "an idle connection is still open after 3 s"
    );
}

#[tokio::test]
async fn uploads_past_the_concurrency_limit_are_refused_with_retry_after() {
    let app = spawn_app_with(|c| c.settings.max_concurrent_uploads = 1).await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    // One upload in progress: its body trickles in through a channel the test holds.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let head =
        "--B\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"a.tgz\"\r\n\r\n";
    tx.send(Ok(head.as_bytes().to_vec())).await.unwrap();
    tx.send(Ok(vec![1u8; 1024])).await.unwrap();
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let first = {
        let rb = app
            .http
            .post(format!("{}/v1/apps/web/deploys", app.base))
            .bearer_auth(&app.admin_token)
            .header("content-type", "multipart/form-data; boundary=B")
            .body(reqwest::Body::wrap_stream(body));
        tokio::spawn(async move { rb.send().await.unwrap().status().as_u16() })
    };
    // Give the first upload time to reach the handler and take the slot.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !first.is_finished(),
        "the first upload ended early: {:?}",
        first.await
    );
    let form = reqwest::multipart::Form::new().part(
        "artifact",
        reqwest::multipart::Part::bytes(vec![2u8; 64]).file_name("b.tgz"),
    );
    let r = app
        .http
        .post(format!("{}/v1/apps/web/deploys", app.base))
        .bearer_auth(&app.admin_token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        503,
        "a second upload was accepted while the only slot was taken"
    );
    assert_eq!(r.headers()["retry-after"], "5");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_uploads");
    // The first one finishes; then uploads are accepted again.
    tx.send(Ok(b"\r\n--B--\r\n".to_vec())).await.unwrap();
    drop(tx);
    assert_eq!(first.await.unwrap(), 201);
    let r = app
        .deploy(&app.admin_token, "web", vec![3u8; 64], None, false)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let app = spawn_app_with(|c| c.conn_limits.max_header_bytes = 16 * 1024).await;
    let r = app
        .http
        .get(format!("{}/v1/user", app.base))
        .bearer_auth(&app.admin_token)
        .header("x-padding", "a".repeat(32 * 1024))
        .send()
        .await;
    match r {
        // hyper answers 431, or closes the connection mid-head.
        Ok(r) => assert_eq!(r.status().as_u16(), 431),
        Err(e) => assert!(e.is_request() || e.is_connect() || e.is_body(), "{e}"),
    }
    // A normal request still works.
    assert_eq!(app.get("/v1/user", &app.admin_token).await.status, 200);
}

#[tokio::test]
async fn connections_past_the_limit_are_closed_at_once() {
    let app = spawn_app_with(|c| c.conn_limits.max_connections = 16).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // Give the server a moment to account for them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(closed_within(&mut extra, Duration::from_secs(2)).await);
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = reqwest::Client::new();
    let r = fresh
        .get(format!("{}/v1/user", app.base))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "slots come back when connections close");
}

#[tokio::test]
async fn secret_env_values_are_sealed_at_rest() {
    let app = spawn_app().await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let secret = "postgres://app:s3cr3t-sealed-value@db.internal/prod";
    let plain = "plain-value-visible-at-rest";
    let r = app
        .put(
            "/v1/apps/web/env/DATABASE_URL",
            &app.admin_token,
            json!({"value": secret, "secret": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .put(
            "/v1/apps/web/env/LOG_LEVEL",
            &app.admin_token,
            json!({"value": plain}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = app.get("/v1/apps/web/env", &app.admin_token).await;
    assert!(!listed.text.contains(secret), "write-only: {}", listed.text);
    app.started.gantry.flush_all_usage().await.unwrap();
    let stored = app.stored().await;
    let contains = |needle: &str| {
        stored
            .iter()
            .any(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    };
    assert!(
        contains(plain),
        "the scan sees what is stored in plain text"
    );
    assert!(
        !contains("s3cr3t-sealed-value"),
        "a secret is stored in plain text"
    );
    assert!(contains("sealed:v1:"), "no sealed value found");
}

#[tokio::test]
async fn concurrent_password_guesses_cannot_slip_past_the_limit() {
    let app = spawn_app_with(|c| c.settings.failed_login_limit = limit(3, 300)).await;
    let guesses = (0..30).map(|i| {
        let app = &app;
        async move {
            app.try_login(ADMIN_EMAIL, &format!("guess number {i:04}"))
                .await
                .status
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 3, "{checked} guesses were checked: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 30 - checked);
}

/// Median latencies of `n` requests made by `a` and `n` made by `b`, taken in alternation (which
/// of the two goes first alternates too): whatever else the machine does while they run, both
/// see it alike, so a difference between the medians is the server's and not the moment's.
async fn paired_medians<A, Fa, B, Fb>(n: usize, mut a: A, mut b: B) -> (Duration, Duration)
where
    A: FnMut(usize) -> Fa,
    Fa: std::future::Future<Output = u16>,
    B: FnMut(usize) -> Fb,
    Fb: std::future::Future<Output = u16>,
{
    let (mut ta, mut tb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        for first in [i % 2 == 0, i % 2 == 1] {
            let start = std::time::Instant::now();
            if first {
                a(i).await;
                ta.push(start.elapsed());
            } else {
                b(i).await;
                tb.push(start.elapsed());
            }
        }
    }
    ta.sort();
    tb.sort();
    (ta[n / 2], tb[n / 2])
}

fn same_order(a: Duration, b: Duration, what: &str) {
    eprintln!("{what}: {a:?} vs {b:?}");
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    assert!(
        hi.as_secs_f64() <= 3.0 * lo.as_secs_f64(),
        "{what}: {a:?} vs {b:?} — the difference is an oracle"
    );
}

#[tokio::test]
async fn unknown_and_revoked_tokens_and_hidden_and_missing_apps_cost_the_same() {
    let app = spawn_app_with(|c| c.settings.failed_auth_limit = limit(1_000_000, 60)).await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let (_, outsider) = app.user("outsider@example.com").await;
    let mut revoked = Vec::new();
    for i in 0..40 {
        let (id, t) = app
            .deploy_token(&app.admin_token, "web", json!({"name": format!("r{i}")}))
            .await;
        app.delete(&format!("/v1/tokens/{id}"), &app.admin_token)
            .await;
        revoked.push(t);
    }
    // Warm both paths once.
    app.get("/v1/apps/web", &revoked[0]).await;
    app.get("/v1/apps/nope", &outsider).await;

    let (unknown, revoked_t) = paired_medians(
        40,
        |_| async {
            let guess = PlainToken::generate(TokenKind::Deploy);
            app.get("/v1/apps/web", guess.expose_secret()).await.status
        },
        |i| {
            let t = revoked[i].clone();
            let app = &app;
            async move { app.get("/v1/apps/web", &t).await.status }
        },
    )
    .await;
    same_order(unknown, revoked_t, "unknown vs revoked token");

    // Someone else's app and no app at all: both 404, both as cheap.
    let (hidden, missing) = paired_medians(
        40,
        |_| async { app.get("/v1/apps/web", &outsider).await.status },
        |_| async { app.get("/v1/apps/nope", &outsider).await.status },
    )
    .await;
    assert_eq!(app.get("/v1/apps/web", &outsider).await.status, 404);
    same_order(hidden, missing, "hidden vs missing app");
}

/// Feeds a request body, chunk by chunk.
type BodyFeed = tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>;

/// Starts a deploy as `token` whose body the test feeds through the returned sender (the
/// multipart boundary is `B`); the task answers the status and the error code.
fn trickled_deploy(
    app: &TestApp,
    token: &str,
    first: &[u8],
) -> (BodyFeed, tokio::task::JoinHandle<(u16, String)>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(64);
    tx.try_send(Ok(first.to_vec())).unwrap();
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let rb = app
        .http
        .post(format!("{}/v1/apps/web/deploys", app.base))
        .bearer_auth(token)
        .header("content-type", "multipart/form-data; boundary=B")
        .body(reqwest::Body::wrap_stream(body));
    let task = tokio::spawn(async move {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        (
            status,
            body["error"]["code"].as_str().unwrap_or("").to_owned(),
        )
    });
    (tx, task)
}

const LABEL_HEAD: &[u8] = b"--B\r\nContent-Disposition: form-data; name=\"label\"\r\n\r\nv1";
const ARTIFACT_HEAD: &[u8] =
    b"--B\r\nContent-Disposition: form-data; name=\"artifact\"; filename=\"a.tgz\"\r\n\r\n";

#[tokio::test]
async fn a_deploy_that_stalls_anywhere_in_its_body_is_cut_off() {
    let app = spawn_app_with(|c| c.upload_idle_timeout = Duration::from_secs(1)).await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    // Stalled inside a text field, before any artifact byte: the old idle timeout (artifact
    // bytes only) never saw this.
    let started = std::time::Instant::now();
    let (_tx, task) = trickled_deploy(&app, &app.admin_token, LABEL_HEAD);
    let (status, code) = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("a stalled deploy held its connection")
        .unwrap();
    assert_eq!((status, code.as_str()), (408, "upload_timeout"));
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing was recorded, and the slots are free again.
    let r = app.get("/v1/apps/web/deploys", &app.admin_token).await;
    assert!(items(&r).is_empty(), "{}", r.text);
    let r = app
        .deploy(&app.admin_token, "web", vec![1u8; 64], None, false)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn a_deploy_that_trickles_past_its_deadline_is_cut_off() {
    let app = spawn_app_with(|c| {
        c.upload_idle_timeout = Duration::from_secs(5);
        c.upload_deadline = Duration::from_secs(2);
    })
    .await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let (tx, task) = trickled_deploy(&app, &app.admin_token, ARTIFACT_HEAD);
    // A byte every 200 ms: never idle, never done.
    let feeder = tokio::spawn(async move {
        while tx.send(Ok(vec![7u8])).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let (status, code) = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("a trickling deploy outlived its deadline")
        .unwrap();
    feeder.abort();
    assert_eq!((status, code.as_str()), (408, "upload_timeout"));
    let r = app.get("/v1/apps/web/deploys", &app.admin_token).await;
    assert!(items(&r).is_empty(), "{}", r.text);
}

#[tokio::test]
async fn one_credential_cannot_take_every_upload_slot() {
    let app = spawn_app_with(|c| c.settings.max_uploads_per_credential = 2).await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let (_, ci) = app
        .deploy_token(&app.admin_token, "web", json!({"name": "ci"}))
        .await;
    let held: Vec<_> = (0..2)
        .map(|_| trickled_deploy(&app, &ci, ARTIFACT_HEAD))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Its third at once is refused…
    let r = app.deploy(&ci, "web", vec![2u8; 64], None, false).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "too_many_uploads");
    assert_eq!(r.header("retry-after"), "5");
    // …while another credential still deploys.
    let r = app
        .deploy(&app.admin_token, "web", vec![3u8; 64], None, false)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // When one of its uploads finishes, it may start another.
    let mut held = held.into_iter();
    let (tx, task) = held.next().unwrap();
    tx.send(Ok(b"abc\r\n--B--\r\n".to_vec())).await.unwrap();
    drop(tx);
    assert_eq!(task.await.unwrap().0, 201);
    let r = app.deploy(&ci, "web", vec![4u8; 64], None, false).await;
    assert_eq!(r.status, 201, "{}", r.text);
}
