//! Alert rules that fire (DESIGN §7), against a real receiver (`crate::receiver`) that checks
//! every signature with its own HMAC: each event type arrives signed as Standard Webhooks v1,
//! with no token value or secret in it; failures are retried on the schedule with the same id;
//! `410` disables the rule; a rotated secret signs beside the old one for a day; a hanging
//! receiver holds up no one else; and gantry never connects where the SSRF rules forbid.

use crate::helpers::*;
use crate::receiver::{Receiver, Reply};
use gantry_core::outbound::AllowNetworks;
use serde_json::{json, Value};
use std::time::Duration;

/// The org `acme` with app `web`, whose dispatcher may reach loopback (the receiver).
async fn acme_reaching_loopback() -> Acme {
    acme_with(|c| {
        c.settings.allow_networks = AllowNetworks(vec![
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]);
        c.dispatch.poll = Duration::from_millis(50);
        c.dispatch.expiry_scan = Duration::from_millis(100);
    })
    .await
}

/// Creates a webhook rule to `url`: (its id, its secret).
async fn webhook(app: &TestApp, owner: &str, events: &[&str], url: &str) -> (String, String) {
    let r = app
        .post(
            "/v1/orgs/acme/alerts",
            owner,
            json!({"name": "hook", "events": events, "target": url}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{}", r.text);
    (id_of(&r), secret)
}

pub(crate) async fn deliveries(app: &TestApp, owner: &str, rule: &str) -> Vec<Value> {
    items(
        &app.get(&format!("/v1/orgs/acme/alerts/{rule}/deliveries"), owner)
            .await,
    )
}

/// Waits (up to 20 s) until `check` holds for the rule's newest delivery.
pub(crate) async fn newest_delivery(
    app: &TestApp,
    owner: &str,
    rule: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..400 {
        if let Some(d) = deliveries(app, owner, rule).await.first() {
            if check(d) {
                return d.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the delivery never got there: {:?}",
        deliveries(app, owner, rule).await
    );
}

#[tokio::test]
async fn every_event_type_arrives_signed_and_without_any_secret() {
    let Acme { app, owner, .. } = acme_reaching_loopback().await;
    let receiver = Receiver::start(app.clock.clone()).await;
    let (rule, secret) = webhook(
        &app,
        &owner,
        &[
            "token.created",
            "token.rotated",
            "token.revoked",
            "token.expiring",
            "token.expired",
            "release.created",
            "env.changed",
            "config.changed",
        ],
        &receiver.url("/all"),
    )
    .await;
    receiver.trust(&secret);

    // Lifecycle: a token made and rotated (both values kept to look for), and revoked.
    let (id, first_value) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let rotated = app.rotate(&owner, &id, json!({})).await;
    let second_value = raw_of(&rotated);
    app.revoke(&owner, &id).await;
    let r = app.deploy(&owner, "web", b"v1".to_vec(), None, false).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let env_secret = "s3cr3t-database-password-value";
    let r = app
        .put(
            "/v1/apps/web/env/DATABASE_URL",
            &owner,
            json!({"value": env_secret, "secret": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .put("/v1/apps/web/config", &owner, json!({"replicas": 2}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Expiry: a token made 2 days before it expires crosses only the 1-day threshold, then
    // expires; the 30 and 7 day ones were crossed before it existed.
    let (expiring, expiring_value) = app
        .deploy_token(&owner, "web", json!({"name": "short", "expires_in": "2d"}))
        .await;
    let got = receiver.wait_for("/all", 7).await;
    app.advance(DAY + HOUR);
    let got_expiring = receiver.wait_for("/all", 8).await;
    app.advance(DAY);
    let got = {
        let all = receiver.wait_for("/all", 9).await;
        assert!(got.len() <= all.len() && got_expiring.len() <= all.len());
        all
    };

    // Tries run side by side, so they arrive in any order.
    let mut kinds: Vec<&str> = got.iter().map(|r| r.kind()).collect();
    kinds.sort_unstable();
    let mut expected = vec![
        "token.created",
        "token.rotated",
        "token.revoked",
        "release.created",
        "env.changed",
        "config.changed",
        "token.created",
        "token.expiring",
        "token.expired",
    ];
    expected.sort_unstable();
    assert_eq!(kinds, expected);
    let mut ids = std::collections::HashSet::new();
    for r in &got {
        assert!(r.authentic(), "not verified: {r:?}");
        assert_eq!(r.signatures.len(), 1, "{r:?}");
        assert_eq!(r.content_type, "application/json");
        assert!(r.id.starts_with("evt_"), "{r:?}");
        assert!(ids.insert(r.id.clone()), "one event id per event");
        assert_eq!(r.body["data"]["org"], "acme", "{}", r.raw);
        assert!(
            gantry_core::time::Timestamp::parse_rfc3339(r.body["timestamp"].as_str().unwrap())
                .is_some()
        );
        for secret in [
            first_value.as_str(),
            second_value.as_str(),
            expiring_value.as_str(),
            env_secret,
            secret.as_str(),
        ] {
            assert!(!r.raw.contains(secret), "a secret in {}", r.raw);
        }
    }
    let by_kind = |k: &str| got.iter().find(|r| r.kind() == k).unwrap();
    assert_eq!(got_expiring.last().unwrap().kind(), "token.expiring");
    assert_eq!(by_kind("token.rotated").body["data"]["token"]["id"], id);
    assert_eq!(
        by_kind("token.expiring").body["data"]["token"]["id"],
        expiring
    );
    assert_eq!(by_kind("token.expiring").body["data"]["expires_in"], "1d");
    assert_eq!(
        by_kind("token.expired").body["data"]["token"]["id"],
        expiring
    );
    assert_eq!(by_kind("env.changed").body["data"]["app"], "web");
    assert_eq!(
        by_kind("release.created").body["data"]["release"]["version"],
        1
    );

    // Each threshold fires once, whatever the scheduler sees next.
    app.advance(DAY);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 9);

    // The deliveries log says so; the secret is in no listing.
    let log = deliveries(&app, &owner, &rule).await;
    assert_eq!(log.len(), 9);
    assert!(
        log.iter()
            .all(|d| d["state"] == "delivered" && d["attempts"] == 1),
        "{log:?}"
    );
    let listed = app.get("/v1/orgs/acme/alerts", &owner).await;
    assert!(!listed.text.contains(&secret[6..]), "{}", listed.text);
    assert!(listed.body["items"][0].get("secret").is_none());
}

#[tokio::test]
async fn deleting_an_app_fires_token_revoked_for_each_of_its_live_tokens() {
    let Acme { app, owner, .. } = acme_reaching_loopback().await;
    let receiver = Receiver::start(app.clock.clone()).await;
    let (_, secret) = webhook(&app, &owner, &["token.revoked"], &receiver.url("/r")).await;
    receiver.trust(&secret);
    let (ci, ci_value) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let (preview, _) = app
        .deploy_token(&owner, "web", json!({"name": "preview"}))
        .await;
    let (gone, _) = app
        .deploy_token(&owner, "web", json!({"name": "old"}))
        .await;
    app.revoke(&owner, &gone).await;
    assert_eq!(receiver.wait_for("/r", 1).await.len(), 1);

    let r = app.delete("/v1/apps/web", &owner).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let got = receiver.wait_for("/r", 3).await;
    let mut by_app: Vec<&str> = got
        .iter()
        .filter(|r| r.body["data"]["reason"] == "app_deleted")
        .map(|r| {
            assert!(r.authentic(), "not verified: {r:?}");
            assert_eq!(r.kind(), "token.revoked");
            assert_eq!(r.body["data"]["app"], "web", "{}", r.raw);
            assert!(!r.raw.contains(&ci_value), "a token value in {}", r.raw);
            r.body["data"]["token"]["id"].as_str().unwrap()
        })
        .collect();
    by_app.sort_unstable();
    let mut live = vec![ci.as_str(), preview.as_str()];
    live.sort_unstable();
    assert_eq!(
        by_app, live,
        "one event per token still live, none for the revoked one"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_on_the_schedule_with_the_same_id() {
    let Acme { app, owner, .. } = acme_reaching_loopback().await;
    let receiver = Receiver::start(app.clock.clone()).await;
    let (rule, secret) = webhook(&app, &owner, &["token.created"], &receiver.url("/flaky")).await;
    receiver.trust(&secret);
    receiver.script("/flaky", &[Reply::Status(500), Reply::Status(503)]);

    app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    receiver.wait_for("/flaky", 1).await;
    let d = newest_delivery(&app, &owner, &rule, |d| d["attempts"] == 1).await;
    assert_eq!(d["state"], "pending");
    assert_eq!(d["last_status"], 500);
    assert!(d["last_error"].as_str().unwrap().contains("500"), "{d}");
    let next = millis_of(&d["next_attempt_at"]);
    assert!(
        (next - app.now_millis() - 5_000).abs() < 1_000,
        "5 s after: {d}"
    );

    // Nothing before its time.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
    app.advance(Duration::from_secs(5));
    receiver.wait_for("/flaky", 2).await;
    let d = newest_delivery(&app, &owner, &rule, |d| d["attempts"] == 2).await;
    let next = millis_of(&d["next_attempt_at"]);
    assert!(
        (next - app.now_millis() - 300_000).abs() < 1_000,
        "5 min after: {d}"
    );
    app.advance(5 * MINUTE);
    let got = receiver.wait_for("/flaky", 3).await;
    let d = newest_delivery(&app, &owner, &rule, |d| d["state"] == "delivered").await;
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["last_status"], 204);

    assert!(got.iter().all(|r| r.authentic()), "{got:?}");
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "the same webhook-id on every try"
    );
    assert!(
        got[0].timestamp < got[1].timestamp && got[1].timestamp < got[2].timestamp,
        "a fresh timestamp on every try"
    );
}

#[tokio::test]
async fn a_delivery_that_never_succeeds_fails_after_its_last_try_and_can_be_retried() {
    let Acme { app, owner, .. } = acme_reaching_loopback().await;
    let receiver = Receiver::start(app.clock.clone()).await;
    let (rule, secret) = webhook(&app, &owner, &["token.created"], &receiver.url("/down")).await;
    receiver.trust(&secret);
    receiver.script("/down", &[Reply::Status(500); 10]);
    app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    // 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
    let waits = [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400];
    for (i, wait) in waits.iter().enumerate() {
        receiver.wait_for("/down", i + 1).await;
        newest_delivery(&app, &owner, &rule, |d| d["attempts"] == i + 1).await;
        app.advance(Duration::from_secs(*wait));
    }
    receiver.wait_for("/down", 10).await;
    let d = newest_delivery(&app, &owner, &rule, |d| d["state"] == "failed").await;
    assert_eq!(d["attempts"], 10);
    assert!(d["next_attempt_at"].is_null(), "{d}");
    app.advance(DAY);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 10, "no try after the last");

    // A retry is one more try, now; the receiver is back.
    let r = app
        .post(
            &format!(
                "/v1/orgs/acme/alerts/{rule}/deliveries/{}/retry",
                d["id"].as_str().unwrap()
            ),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["state"], "pending");
    receiver.wait_for("/down", 11).await;
    newest_delivery(&app, &owner, &rule, |d| d["state"] == "delivered").await;
    let r = app
        .post(
            &format!("/v1/orgs/acme/alerts/{rule}/deliveries/dlv_nope/retry"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}

#[tokio::test]
async fn gone_disables_the_rule_until_it_is_turned_back_on() {
    let Acme { app, owner, .. } = acme_reaching_loopback().await;
    let receiver = Receiver::start(app.clock.clone()).await;
    let (rule, secret) = webhook(&app, &owner, &["token.created"], &receiver.url("/gone")).await;
    receiver.trust(&secret);
    receiver.script("/gone", &[Reply::Status(410)]);
    app.deploy_token(&owner, "web", json!({"name": "a"})).await;
    receiver.wait_for("/gone", 1).await;
    let d = newest_delivery(&app, &owner, &rule, |d| d["state"] == "failed").await;
    assert_eq!(d["last_status"], 410);
    let rules = items(&app.get("/v1/orgs/acme/alerts", &owner).await);
    assert_eq!(find_id(&rules, &rule).unwrap()["enabled"], false);

    // Disabled: later events are not queued for it, and nothing is retried.
    app.deploy_token(&owner, "web", json!({"name": "b"})).await;
    app.advance(HOUR);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(deliveries(&app, &owner, &rule).await.len(), 1);

    let r = app
        .patch(
            &format!("/v1/orgs/acme/alerts/{rule}"),
            &owner,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["enabled"], true);
    app.deploy_token(&owner, "web", json!({"name": "c"})).await;
    let got = receiver.wait_for("/gone", 2).await;
    assert_eq!(got[1].body["data"]["token"]["name"], "c");
    assert!(got.iter().all(|r| r.authentic()));
    let r = app
        .patch(
            &format!("/v1/orgs/acme/alerts/{rule}"),
            &owner,
            json!({"enabled": "yes"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_for_a_day() {
    let Acme { app, owner, .. } = acme_reaching_loopback().await;
    let receiver = Receiver::start(app.clock.clone()).await;
    let (rule, old) = webhook(&app, &owner, &["ping"], &receiver.url("/rot")).await;
    let r = app
        .post(
            &format!("/v1/orgs/acme/alerts/{rule}/rotate-secret"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = r.body["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(
        r.body["previous_secret_valid_until"].is_string(),
        "{}",
        r.text
    );
    receiver.trust(&old);
    receiver.trust(&new);

    let test = app
        .post(
            &format!("/v1/orgs/acme/alerts/{rule}/test"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(test.status, 202, "{}", test.text);
    assert_eq!(test.body["type"], "ping");
    let got = receiver.wait_for("/rot", 1).await;
    assert_eq!(got[0].kind(), "ping");
    assert_eq!(got[0].id, test.body["event_id"].as_str().unwrap());
    // The new secret's signature first, then the old one's.
    assert_eq!(got[0].verified_by, [Some(1), Some(0)], "{:?}", got[0]);

    app.advance(DAY + MINUTE);
    app.post(
        &format!("/v1/orgs/acme/alerts/{rule}/test"),
        &owner,
        json!({}),
    )
    .await;
    let got = receiver.wait_for("/rot", 2).await;
    assert_eq!(
        got[1].verified_by,
        [Some(1)],
        "only the new one after a day"
    );
}

#[tokio::test]
async fn a_hanging_receiver_delays_no_other_rule() {
    let Acme { app, owner, .. } = acme_reaching_loopback().await;
    let receiver = Receiver::start(app.clock.clone()).await;
    let (slow, slow_secret) =
        webhook(&app, &owner, &["token.created"], &receiver.url("/slow")).await;
    let (_, fast_secret) = webhook(&app, &owner, &["token.created"], &receiver.url("/fast")).await;
    receiver.trust(&slow_secret);
    receiver.trust(&fast_secret);
    // Every try to /slow hangs; the first few take all of that rule's slots.
    receiver.script("/slow", &[Reply::Hang; 8]);
    let started = std::time::Instant::now();
    for i in 0..6 {
        app.deploy_token(&owner, "web", json!({"name": format!("t{i}")}))
            .await;
    }
    // /fast gets all six while /slow hangs.
    let fast = receiver.wait_for("/fast", 6).await;
    assert!(fast.iter().all(|r| r.authentic()));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a hanging rule held up another: {:?}",
        started.elapsed()
    );
    // An API request is not delayed either.
    let t = std::time::Instant::now();
    assert_eq!(app.get("/v1/apps/web", &owner).await.status, 200);
    assert!(t.elapsed() < Duration::from_secs(1));
    // At most 4 of the slow rule's tries are in flight at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let slow_tries = receiver
        .received()
        .iter()
        .filter(|r| r.path == "/slow")
        .count();
    assert!(slow_tries <= 4, "{slow_tries} tries in flight for one rule");
    let _ = slow;
}

#[tokio::test]
async fn targets_that_reach_inside_are_refused_at_creation() {
    let Acme { app, owner, .. } = acme().await;
    for target in [
        "https://127.0.0.1/h",
        "https://2130706433/h",
        "https://0x7f.1/h",
        "https://[::1]/h",
        "https://[::ffff:127.0.0.1]/h",
        "https://10.0.0.8/h",
        "https://172.20.1.1/h",
        "https://192.168.0.10/h",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.100.100.200/h",
        "https://[fd12::1]/h",
        "https://[fe80::1]/h",
        "https://239.1.1.1/h",
        "https://0.0.0.0/h",
        "https://user:pw@hooks.example.com/h",
        "http://hooks.example.com/h",
        "ftp://hooks.example.com/h",
        "mailto:not-an-address",
    ] {
        let r = app
            .post(
                "/v1/orgs/acme/alerts",
                &owner,
                json!({"name": "x", "event": "ping", "target": target}),
            )
            .await;
        if target.starts_with("http://hooks") {
            // A name over plain http is checked where it resolves, at delivery.
            assert_eq!(r.status, 201, "{target}: {}", r.text);
            continue;
        }
        assert_invalid_field(&r, "target");
    }
}

#[tokio::test]
async fn a_name_that_resolves_inside_is_refused_at_delivery_and_logged() {
    // No allowed networks: `localhost` resolves to loopback only.
    let Acme { app, owner, .. } = acme_with(|c| {
        c.dispatch.poll = Duration::from_millis(50);
    })
    .await;
    let receiver = Receiver::start(app.clock.clone()).await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    for target in [
        format!("https://localhost:{port}/in"),
        format!("http://localhost:{port}/in"),
    ] {
        let r = app
            .post(
                "/v1/orgs/acme/alerts",
                &owner,
                json!({"name": "x", "event": "ping", "target": target}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let rule = id_of(&r);
        app.post(
            &format!("/v1/orgs/acme/alerts/{rule}/test"),
            &owner,
            json!({}),
        )
        .await;
        let d = newest_delivery(&app, &owner, &rule, |d| d["attempts"] == 1).await;
        let error = d["last_error"].as_str().unwrap();
        assert!(
            error.contains("refused") && error.contains("localhost"),
            "{d}"
        );
        assert!(!error.contains(&port), "no URL in the log: {d}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.received().is_empty(), "gantry connected inside");
}

#[tokio::test]
async fn viewers_see_a_target_as_scheme_and_host_only() {
    let Acme { app, owner, .. } = acme().await;
    let target = "https://hooks.example.com/services/T000/B000/XXXXsecretXXXX";
    app.post(
        "/v1/orgs/acme/alerts",
        &owner,
        json!({"name": "x", "event": "ping", "target": target}),
    )
    .await;
    let (_, viewer) = member(&app, &owner, "viewer@acme.test", "viewer").await;
    let (_, viewer_org_token) = app.org_token(&owner, "acme", "viewer").await;
    let (_, operator) = member(&app, &owner, "op@acme.test", "operator").await;
    for who in [&viewer, &viewer_org_token] {
        let r = app.get("/v1/orgs/acme/alerts", who).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["items"][0]["target"], "https://hooks.example.com/…");
        assert!(!r.text.contains("XXXXsecretXXXX"));
    }
    let r = app.get("/v1/orgs/acme/alerts", &operator).await;
    assert_eq!(r.body["items"][0]["target"], target);
}

#[tokio::test]
async fn finished_deliveries_are_forgotten_after_the_retention_and_pending_ones_kept() {
    let Acme { app, owner, .. } = acme_with(|c| {
        c.settings.allow_networks = AllowNetworks(vec!["127.0.0.0/8".parse().unwrap()]);
        c.dispatch.poll = Duration::from_millis(50);
        c.dispatch.prune = Duration::from_millis(100);
    })
    .await;
    let receiver = Receiver::start(app.clock.clone()).await;
    let (done, done_secret) = webhook(
        &app,
        &owner,
        &["token.created", "token.revoked"],
        &receiver.url("/done"),
    )
    .await;
    let (slow, slow_secret) =
        webhook(&app, &owner, &["token.created"], &receiver.url("/slow")).await;
    receiver.trust(&done_secret);
    receiver.trust(&slow_secret);
    receiver.script("/slow", &[Reply::Hang; 8]);
    let (id, _) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    app.revoke(&owner, &id).await;
    receiver.wait_for("/done", 2).await;
    newest_delivery(&app, &owner, &done, |d| d["state"] == "delivered").await;
    let kept = deliveries(&app, &owner, &done).await;
    assert_eq!(kept.len(), 2, "{kept:?}");

    // Within the retention (30 d by default) the log keeps them.
    app.advance(29 * DAY);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(deliveries(&app, &owner, &done).await.len(), 2);

    // Past it, finished deliveries go; the one still being tried stays, with its event.
    app.advance(2 * DAY);
    let mut left = deliveries(&app, &owner, &done).await;
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = deliveries(&app, &owner, &done).await;
    }
    assert!(left.is_empty(), "kept past the retention: {left:?}");
    let pending = deliveries(&app, &owner, &slow).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0]["state"], "pending");
    let r = app
        .post(
            &format!(
                "/v1/orgs/acme/alerts/{done}/deliveries/{}/retry",
                kept[0]["id"].as_str().unwrap()
            ),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
}
