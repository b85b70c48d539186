//! GitHub secret scanning's partner endpoint (DESIGN §9): reports signed as GitHub signs them,
//! with P-256 keys made at test time by the `openssl` tool (not by gantry's code) and published
//! by a real key server on 127.0.0.1 in GitHub's `/meta/public_keys/secret_scanning` format.

use crate::helpers::*;
use crate::issuer::openssl;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gantry_core::outbound::AllowNetworks;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PATH: &str = "/v1/secret-scanning/github";

struct Key {
    id: String,
    public_pem: String,
    listed: bool,
    current: bool,
}

/// GitHub's key list on loopback: keys can be made, listed, unlisted; it counts its fetches
/// and can be made to fail.
pub struct KeyServer {
    pub url: String,
    keys: Arc<Mutex<Vec<Key>>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<std::sync::atomic::AtomicBool>,
    dir: tempfile::TempDir,
}

impl KeyServer {
    /// Starts with one listed, current key, `k1`.
    pub async fn start() -> KeyServer {
        let keys: Arc<Mutex<Vec<Key>>> = Arc::default();
        let fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/meta/public_keys/secret_scanning",
            listener.local_addr().unwrap()
        );
        let (served, counted, failing) = (keys.clone(), fetches.clone(), down.clone());
        let app = axum::Router::new().route(
            "/meta/public_keys/secret_scanning",
            axum::routing::get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let list: Vec<Value> = served
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|k| k.listed)
                    .map(|k| {
                        json!({"key_identifier": k.id, "key": k.public_pem, "is_current": k.current})
                    })
                    .collect();
                let failing = failing.load(Ordering::SeqCst);
                async move {
                    if failing {
                        Err(axum::http::StatusCode::BAD_GATEWAY)
                    } else {
                        Ok(axum::Json(json!({ "public_keys": list })))
                    }
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let server = KeyServer {
            url,
            keys,
            fetches,
            down,
            dir: tempfile::tempdir().unwrap(),
        };
        server.make_key("k1", true);
        server
    }

    /// Makes a P-256 key; `listed`: published (as the current key) at once.
    pub fn make_key(&self, id: &str, listed: bool) {
        let path = self.dir.path().join(format!("{id}.pem"));
        let p = path.to_str().unwrap();
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            p,
        ]);
        let public_pem = String::from_utf8(openssl(&["pkey", "-in", p, "-pubout"])).unwrap();
        let mut keys = self.keys.lock().unwrap();
        if listed {
            for k in keys.iter_mut() {
                k.current = false;
            }
        }
        keys.push(Key {
            id: id.to_owned(),
            public_pem,
            listed,
            current: listed,
        });
    }

    /// Publishes or withdraws a key.
    pub fn list(&self, id: &str, listed: bool) {
        for k in self.keys.lock().unwrap().iter_mut() {
            if k.id == id {
                k.listed = listed;
            }
        }
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Base64 of the DER ECDSA P-256/SHA-256 signature of `body` by key `id`, as GitHub
    /// sends it in `Github-Public-Key-Signature`.
    pub fn sign(&self, id: &str, body: &[u8]) -> String {
        let key = self.dir.path().join(format!("{id}.pem"));
        let data = self.dir.path().join("body");
        std::fs::write(&data, body).unwrap();
        let der = openssl(&[
            "dgst",
            "-sha256",
            "-sign",
            key.to_str().unwrap(),
            data.to_str().unwrap(),
        ]);
        STANDARD.encode(der)
    }
}

/// `acme` on a server that takes GitHub's keys from `keys` (loopback is allowed for it, as
/// an operator would allow an internal mirror).
pub async fn acme_reporting_to(
    keys: &KeyServer,
    tweak: impl FnOnce(&mut gantry_server::ServerConfig),
) -> Acme {
    let url = keys.url.clone();
    acme_with(move |c| {
        c.settings.github_keys_url = url;
        c.settings.allow_networks = AllowNetworks(vec!["127.0.0.0/8".parse().unwrap()]);
        tweak(c);
    })
    .await
}

/// Posts `body` as GitHub does, signed by `signer` and naming key `named`.
pub async fn report_signed(
    app: &TestApp,
    keys: &KeyServer,
    signer: &str,
    named: &str,
    body: &[u8],
) -> Resp {
    let rb = app
        .http
        .post(format!("{}{PATH}", app.base))
        .header("content-type", "application/json")
        .header("Github-Public-Key-Identifier", named)
        .header("Github-Public-Key-Signature", keys.sign(signer, body))
        .body(body.to_vec());
    TestApp::finish(rb).await
}

pub fn matches(found: &[(&str, &str)]) -> Vec<u8> {
    let list: Vec<Value> = found
        .iter()
        .map(|(token, url)| {
            json!({"token": token, "type": "gantry_deploy_token", "url": url, "source": "content"})
        })
        .collect();
    serde_json::to_vec(&list).unwrap()
}

/// Asserts a refusal: its status and its error's `code` or `field`.
fn refused(r: &Resp, status: u16, key: &str, value: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"][key], value, "{}", r.text);
}

const FOUND_AT: &str = "https://github.com/octo/site/blob/3f1c2a/deploy/.env";

#[tokio::test]
async fn a_signed_github_report_labels_each_match_and_revokes_the_live_tokens() {
    let keys = KeyServer::start().await;
    let acme = acme_reporting_to(&keys, |_| {}).await;
    let rule = acme.rule_for(&["token.leaked"]).await;
    let Acme { app, owner, .. } = acme;
    let (live_id, live) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let (dead_id, dead) = app
        .deploy_token(&owner, "web", json!({"name": "old"}))
        .await;
    let r = app
        .req(
            reqwest::Method::DELETE,
            &format!("/v1/tokens/{dead_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    let (_, keep) = app
        .deploy_token(&owner, "web", json!({"name": "kept"}))
        .await;

    let unknown = unknown_token();
    let body = matches(&[
        (&live, FOUND_AT),
        (&unknown, "https://github.com/octo/site/blob/3f1c2a/a.txt"),
        ("gtd_not-a-token", "https://gist.github.com/x"),
        (&dead, FOUND_AT),
        (&live, "https://github.com/octo/site/issues/7"),
    ]);
    let r = report_signed(&app, &keys, "k1", "k1", &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let labels: Vec<(String, String)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["token_type"], "gantry_deploy_token");
            (
                l["token_raw"].as_str().unwrap().to_owned(),
                l["label"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let label = |s: &str| s.to_owned();
    assert_eq!(
        labels,
        vec![
            (live.clone(), label("true_positive")),
            (unknown.clone(), label("false_positive")),
            ("gtd_not-a-token".into(), label("false_positive")),
            (dead.clone(), label("true_positive")),
            (live.clone(), label("true_positive")),
        ]
    );
    assert_eq!(keys.fetches(), 1);

    // The live token is dead, at once; nothing else changed.
    assert_unauthorized(&app.get("/v1/apps/web", &live).await, "token_revoked");
    assert_eq!(app.get("/v1/apps/web", &keep).await.status, 200);

    // The token says why, and where it was found (the first report of it).
    let view = app.get(&format!("/v1/tokens/{live_id}"), &owner).await;
    assert_eq!(view.body["status"], "revoked", "{}", view.text);
    assert_eq!(view.body["revoked_reason"], "leak_report");
    assert_eq!(view.body["leak"]["via"], "github_secret_scanning");
    assert_eq!(view.body["leak"]["url"], FOUND_AT);
    let dead_view = app.get(&format!("/v1/tokens/{dead_id}"), &owner).await;
    assert_eq!(dead_view.body["revoked_reason"], "requested");
    assert!(
        dead_view.body.get("leak").is_none(),
        "an already dead token is not news"
    );

    // Audited once, with the URL; token.leaked reached the rule, carrying it.
    let (_, revokes) = app.audit_items("?action=token.revoke").await;
    let ours: Vec<_> = revokes
        .iter()
        .filter(|r| r["target_id"] == live_id.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{revokes:?}");
    assert_eq!(ours[0]["detail"]["reason"], "leak_report");
    assert_eq!(ours[0]["detail"]["via"], "github_secret_scanning");
    assert_eq!(ours[0]["detail"]["url"], FOUND_AT);
    let (_, leaked) = app.audit_items("?action=token.leaked").await;
    assert_eq!(leaked.len(), 1, "{leaked:?}");
    assert_eq!(leaked[0]["detail"]["url"], FOUND_AT);
    assert_eq!(leaked[0]["detail"]["revoked"], true);
    let r = app
        .get(&format!("/v1/orgs/acme/alerts/{rule}/deliveries"), &owner)
        .await;
    let types: Vec<_> = items(&r).iter().map(|d| d["type"].clone()).collect();
    assert_eq!(types, vec![json!("token.leaked")], "{}", r.text);
    for r in [&view, &dead_view] {
        assert_no_secret(r, &live);
    }
    assert!(!leaked[0].to_string().contains(&live));
}

#[tokio::test]
async fn a_report_not_signed_by_a_listed_github_key_is_refused_and_changes_nothing() {
    let keys = KeyServer::start().await;
    keys.make_key("stranger", false);
    let Acme { app, owner, .. } = acme_reporting_to(&keys, |_| {}).await;
    let (_, live) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let body = matches(&[(&live, FOUND_AT)]);

    // Signed by a key GitHub does not list, under a listed key's name: a wrong signature.
    let r = report_signed(&app, &keys, "stranger", "k1", &body).await;
    refused(&r, 401, "code", "invalid_signature");
    // Under its own name: a key GitHub does not publish.
    let r = report_signed(&app, &keys, "stranger", "stranger", &body).await;
    refused(&r, 401, "code", "unknown_key");
    // The listed key's signature of another body.
    let other = matches(&[(&unknown_token(), FOUND_AT)]);
    let rb = app
        .http
        .post(format!("{}{PATH}", app.base))
        .header("content-type", "application/json")
        .header("Github-Public-Key-Identifier", "k1")
        .header("Github-Public-Key-Signature", keys.sign("k1", &other))
        .body(body.clone());
    let r = TestApp::finish(rb).await;
    refused(&r, 401, "code", "invalid_signature");
    // No signature at all; and one that is not base64.
    let r = app
        .raw(
            reqwest::Method::POST,
            PATH,
            None,
            "application/json",
            body.clone(),
        )
        .await;
    refused(&r, 401, "code", "signature_required");
    let rb = app
        .http
        .post(format!("{}{PATH}", app.base))
        .header("Github-Public-Key-Identifier", "k1")
        .header("Github-Public-Key-Signature", "%%%not base64%%%")
        .body(body.clone());
    let r = TestApp::finish(rb).await;
    refused(&r, 401, "code", "invalid_signature");
    // Larger than a report may be, whoever signed it.
    let big = vec![b' '; gantry_core::validate::MAX_SCANNING_REPORT_BYTES + 1];
    let r = report_signed(&app, &keys, "k1", "k1", &big).await;
    refused(&r, 413, "code", "body_too_large");
    // Signed, but not a list of matches; and more matches than a report carries.
    let r = report_signed(&app, &keys, "k1", "k1", br#"{"token": "x"}"#).await;
    refused(&r, 422, "field", "body");
    let many: Vec<(&str, &str)> = vec![("x", FOUND_AT); 1001];
    let r = report_signed(&app, &keys, "k1", "k1", &matches(&many)).await;
    refused(&r, 422, "field", "body");

    // Nothing changed.
    assert_eq!(app.get("/v1/apps/web", &live).await.status, 200);
    let (_, leaked) = app.audit_items("?action=token.leaked").await;
    assert!(leaked.is_empty(), "{leaked:?}");
    let (_, revokes) = app.audit_items("?action=token.revoke").await;
    assert!(revokes.is_empty(), "{revokes:?}");

    // Unknown identifiers cost one fetch a minute, however many arrive.
    let before = keys.fetches();
    for i in 0..5 {
        let r = report_signed(&app, &keys, "stranger", &format!("made-up-{i}"), &body).await;
        assert_eq!(r.status, 401);
    }
    assert_eq!(keys.fetches(), before, "refetched within the minute");
    app.advance(Duration::from_secs(61));
    let r = report_signed(&app, &keys, "stranger", "made-up-x", &body).await;
    assert_eq!(r.status, 401);
    assert_eq!(keys.fetches(), before + 1);
}

#[tokio::test]
async fn github_key_rotation_is_followed_and_a_withdrawn_key_stops_being_accepted() {
    let keys = KeyServer::start().await;
    let Acme { app, owner, .. } = acme_reporting_to(&keys, |_| {}).await;
    let (_, a) = app.deploy_token(&owner, "web", json!({"name": "a"})).await;
    let (_, b) = app.deploy_token(&owner, "web", json!({"name": "b"})).await;
    let (_, c) = app.deploy_token(&owner, "web", json!({"name": "c"})).await;
    // The list is fetched and cached with k1 only.
    let r = report_signed(&app, &keys, "k1", "k1", &matches(&[(&a, FOUND_AT)])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_unauthorized(&app.get("/v1/apps/web", &a).await, "token_revoked");

    // GitHub rotates: k2 is current, k1 still listed. A report signed by k2 makes gantry
    // look again (it was more than a minute since the last fetch).
    keys.make_key("k2", true);
    app.advance(Duration::from_secs(61));
    let r = report_signed(&app, &keys, "k2", "k2", &matches(&[(&b, FOUND_AT)])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_unauthorized(&app.get("/v1/apps/web", &b).await, "token_revoked");
    // Both keys are good while both are listed, is_current or not.
    let r = report_signed(
        &app,
        &keys,
        "k1",
        "k1",
        &matches(&[(&unknown_token(), FOUND_AT)]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // k1 is withdrawn; once the cached list is older than an hour, k1 is refused.
    keys.list("k1", false);
    app.advance(Duration::from_secs(3601));
    let r = report_signed(&app, &keys, "k1", "k1", &matches(&[(&c, FOUND_AT)])).await;
    refused(&r, 401, "code", "unknown_key");
    assert_eq!(app.get("/v1/apps/web", &c).await.status, 200);

    // GitHub unreachable and no list fresh enough: 503 (GitHub tries again), nothing changes.
    keys.set_down(true);
    app.advance(Duration::from_secs(25 * 3600));
    let body = matches(&[(&c, FOUND_AT)]);
    let r = app
        .http
        .post(format!("{}{PATH}", app.base))
        .header("Github-Public-Key-Identifier", "k2")
        .header("Github-Public-Key-Signature", keys.sign("k2", &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_some());
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "keys_unavailable", "{answer}");
    assert_eq!(app.get("/v1/apps/web", &c).await.status, 200);
    keys.set_down(false);
    app.advance(Duration::from_secs(61));
    let r = report_signed(&app, &keys, "k2", "k2", &matches(&[(&c, FOUND_AT)])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_unauthorized(&app.get("/v1/apps/web", &c).await, "token_revoked");
}

#[tokio::test]
async fn with_auto_revoke_off_a_reported_token_keeps_working_and_its_owners_are_told() {
    let keys = KeyServer::start().await;
    let Acme { app, owner, .. } =
        acme_reporting_to(&keys, |c| c.settings.auto_revoke_leaks = false).await;
    let (id, live) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let r = report_signed(&app, &keys, "k1", "k1", &matches(&[(&live, FOUND_AT)])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body[0]["label"], "true_positive");
    assert_eq!(app.get("/v1/apps/web", &live).await.status, 200);
    let view = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(view.body["status"], "active");
    assert!(view.body.get("revoked_reason").is_none());
    assert_eq!(view.body["leak"]["url"], FOUND_AT);
    let (_, leaked) = app.audit_items("?action=token.leaked").await;
    assert_eq!(leaked.len(), 1, "{leaked:?}");
    assert_eq!(leaked[0]["detail"]["revoked"], false);
    let (_, revokes) = app.audit_items("?action=token.revoke").await;
    assert!(revokes.is_empty(), "{revokes:?}");
}

#[tokio::test]
async fn a_leak_url_that_is_not_a_web_address_is_not_kept() {
    let keys = KeyServer::start().await;
    let Acme { app, owner, .. } = acme_reporting_to(&keys, |_| {}).await;
    let (id, live) = app.deploy_token(&owner, "web", json!({"name": "ci"})).await;
    let body = matches(&[(&live, "javascript:alert(document.cookie)")]);
    let r = report_signed(&app, &keys, "k1", "k1", &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let view = app.get(&format!("/v1/tokens/{id}"), &owner).await;
    assert_eq!(view.body["revoked_reason"], "leak_report");
    assert!(view.body["leak"].get("url").is_none(), "{}", view.text);
}
