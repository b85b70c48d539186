//! The dashboard in a real headless Chromium (Debian's `chromium` and `chromium-driver`),
//! driven over WebDriver against a real `gantry serve`: sign in, create a deploy token, read
//! the once-shown value, deploy with it, watch "Last used" and the IP appear, regenerate,
//! edit, delete by typing `Delete`, toggle "Show all users", and look at it at phone width.
//! The screenshots in `docs/screenshots/` (shown in the README) come from this run.

use crate::harness::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium and its driver, if installed; `GANTRY_REQUIRE_CHROMIUM` (set by .ci/run) makes
/// them mandatory.
fn chromium(test: &str) -> bool {
    if Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var_os("GANTRY_REQUIRE_CHROMIUM").is_none(),
        "GANTRY_REQUIRE_CHROMIUM is set but {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
    );
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n!!! SKIPPING {test}: {CHROMIUM} / {CHROMEDRIVER} not installed !!!\n"
    );
    false
}

/// A chromedriver process on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl Driver {
    fn start(dir: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile: dir.join("chromium-profile"),
        }
    }

    async fn browser(&self) -> Client {
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--user-data-dir={}", self.profile.display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prints the server's log when the test fails, to see what the browser could not.
struct LogOnPanic(PathBuf);

impl Drop for LogOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.0).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- server log (last 60 lines) ---");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Opens `url`, which sends the browser to the sign-in form, and signs in as `email`.
async fn sign_in_at(c: &Client, url: &str, email: &str) {
    c.goto(url).await.unwrap();
    css(c, "#email").await.send_keys(email).await.unwrap();
    css(c, "#password").await.send_keys(PASSWORD).await.unwrap();
    css(c, "main form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
}

async fn css(c: &Client, selector: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(selector))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let page = c.source().await.unwrap_or_default();
            panic!("no {selector} on {url}: {e}\n{page}")
        }
    }
}

async fn deploy(base: &str, token: &str, label: &str) -> u16 {
    let form = reqwest::multipart::Form::new()
        .part(
            "artifact",
            reqwest::multipart::Part::bytes(vec![7u8; 4096]).file_name("release.tar.gz"),
        )
        .text("label", label.to_owned())
        .text("message", "deployed from CI");
    reqwest::Client::new()
        .post(format!("{base}/v1/apps/web/deploys"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn status_with(base: &str, token: &str) -> u16 {
    call("GET", &format!("{base}/v1/apps/web"), Some(token), None)
        .await
        .0
}

#[tokio::test]
async fn dashboard_in_chromium_manages_a_deploy_token_end_to_end() {
    if !chromium("dashboard_in_chromium_manages_a_deploy_token_end_to_end") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_admin(&dir.path().join("data"), &[]);
    let base = server.base.clone();
    let _log = LogOnPanic(server.log.clone());
    let admin = admin_with_app(&base, "ops@example.com").await;
    // Someone else, with a personal token of their own, for "Show all users".
    let (s, body) = call(
        "POST",
        &format!("{base}/v1/users"),
        Some(&admin),
        Some(json!({"email": "dana@example.com", "password": PASSWORD, "name": "Dana"})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(login(&base, "dana@example.com", PASSWORD).await.0, 201);
    // Something on the app page besides tokens.
    for (key, value, secret) in [
        ("RUST_LOG", "info", false),
        ("DATABASE_URL", "postgres://db/web", true),
    ] {
        let (s, body) = call(
            "PUT",
            &format!("{base}/v1/apps/web/env/{key}"),
            Some(&admin),
            Some(json!({"value": value, "secret": secret})),
        )
        .await;
        assert!(s == 200 || s == 201, "{body}");
    }

    let driver = Driver::start(dir.path());
    let c = driver.browser().await;
    c.set_window_size(1280, 900).await.unwrap();

    // Signing in comes back to the page asked for.
    c.goto(&format!("{base}/apps/web")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/login");
    css(&c, "#email")
        .await
        .send_keys("ops@example.com")
        .await
        .unwrap();
    css(&c, "#password")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    shot(&c, "login").await;
    css(&c, "main form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    css(&c, "#deploy-tokens").await;
    assert_eq!(c.current_url().await.unwrap().path(), "/apps/web");

    // Create a deploy token: name, description, 30 days.
    css(&c, "#deploy-tokens summary")
        .await
        .click()
        .await
        .unwrap();
    css(&c, "#token-name")
        .await
        .send_keys("GitHub Actions")
        .await
        .unwrap();
    css(&c, "#token-description")
        .await
        .send_keys("pushes main to production")
        .await
        .unwrap();
    css(&c, "#token-expiration")
        .await
        .select_by_value("30d")
        .await
        .unwrap();
    css(&c, "form.create-token button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let value_box = css(&c, "#token-value").await;
    let raw = value_box.prop("value").await.unwrap().unwrap();
    assert!(raw.starts_with("gtd_"), "{raw}");
    let warning = css(&c, "[role=alert]").await.text().await.unwrap();
    assert!(
        warning.contains("won't be able to see it again"),
        "{warning}"
    );
    // The copy button is shown by the script, so the script ran under the CSP.
    assert!(css(&c, "button[data-copy]")
        .await
        .is_displayed()
        .await
        .unwrap());
    shot(&c, "token-created").await;

    // Use it from "CI": a deploy with the value just read off the page.
    assert_eq!(deploy(&base, &raw, "v1.0.0").await, 201);

    // The list shows it Active, expiring in 30 days, last used just now from 127.0.0.1.
    c.goto(&format!("{base}/apps/web")).await.unwrap();
    let row = "#deploy-tokens tr[data-token-name='GitHub Actions']";
    let used = css(&c, &format!("{row} td.last-used"))
        .await
        .text()
        .await
        .unwrap();
    assert!(used.contains("from 127.0.0.1"), "{used}");
    let status = css(&c, &format!("{row} .badge"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(status, "Active");
    let expires = css(&c, &format!("{row} td[data-label=Expires]"))
        .await
        .text()
        .await
        .unwrap();
    assert!(expires.contains("expires in 30 days"), "{expires}");
    assert!(
        !c.source().await.unwrap().contains(&raw),
        "the value is shown once only"
    );
    shot(&c, "app").await;

    // Phone width: nothing wider than the screen.
    c.set_window_size(390, 844).await.unwrap();
    c.refresh().await.unwrap();
    css(&c, "#deploy-tokens").await;
    let fits = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, json!(true), "the app page overflows at 390 px");
    shot(&c, "phone-app").await;

    c.set_window_size(1280, 900).await.unwrap();

    // Regenerate, confirmed: the old value stops, the new one works.
    css(&c, &format!("{row} a.regenerate"))
        .await
        .click()
        .await
        .unwrap();
    css(&c, "select#grace").await;
    shot(&c, "regenerate").await;
    css(&c, "main form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let fresh = css(&c, "#token-value")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(fresh, raw);
    assert_eq!(status_with(&base, &raw).await, 401);
    assert_eq!(status_with(&base, &fresh).await, 200);
    assert_eq!(deploy(&base, &fresh, "v1.0.1").await, 201);

    // Edit its name.
    c.goto(&format!("{base}/apps/web")).await.unwrap();
    css(&c, &format!("{row} a[aria-label='Edit GitHub Actions']"))
        .await
        .click()
        .await
        .unwrap();
    let name = css(&c, "#edit-name").await;
    name.clear().await.unwrap();
    name.send_keys("GitHub Actions (prod)").await.unwrap();
    css(&c, "main form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let row = "#deploy-tokens tr[data-token-name='GitHub Actions (prod)']";
    css(&c, row).await;

    // Delete: the button stays disabled until `Delete` is typed exactly.
    css(&c, &format!("{row} a.delete"))
        .await
        .click()
        .await
        .unwrap();
    let confirm = css(&c, "#confirm").await;
    let button = css(&c, "button.danger").await;
    assert!(!button.is_enabled().await.unwrap());
    confirm.send_keys("delete").await.unwrap();
    assert!(!button.is_enabled().await.unwrap());
    confirm.clear().await.unwrap();
    confirm.send_keys("Delete").await.unwrap();
    assert!(button.is_enabled().await.unwrap());
    shot(&c, "delete").await;
    button.click().await.unwrap();
    css(&c, "#deploy-tokens").await;
    assert!(c.find_all(Locator::Css(row)).await.unwrap().is_empty());
    assert_eq!(status_with(&base, &fresh).await, 401);

    // Overview and personal tokens.
    c.goto(&base).await.unwrap();
    css(&c, "section.org").await;
    shot(&c, "overview").await;

    // An administrator's "Show all users" toggle.
    c.goto(&format!("{base}/admin/tokens")).await.unwrap();
    css(&c, "#all-tokens").await;
    assert!(!c.source().await.unwrap().contains("dana@example.com"));
    css(&c, "#all-users").await.click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !c
        .current_url()
        .await
        .unwrap()
        .query()
        .is_some_and(|q| q.contains("all_users=1"))
    {
        assert!(Instant::now() < deadline, "the toggle did not apply");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    css(&c, "#all-tokens").await;
    let page = c.source().await.unwrap();
    assert!(page.contains("dana@example.com"), "Dana's token is listed");
    assert!(css(&c, "#all-users").await.is_selected().await.unwrap());
    shot(&c, "all-tokens").await;

    // The audit log, filtered.
    c.goto(&format!("{base}/audit?action=token.revoke"))
        .await
        .unwrap();
    let table = css(&c, "table.audit").await.text().await.unwrap();
    assert!(table.contains("token.revoke"), "{table}");
    assert!(!table.contains("token.create"), "{table}");
    shot(&c, "audit").await;

    let session = c
        .get_all_cookies()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.name() == "gantry_session")
        .map(|k| k.value().to_owned())
        .expect("a session cookie");
    // Sign out: the session is gone.
    css(&c, "header form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    css(&c, "#email").await;
    c.goto(&format!("{base}/tokens")).await.unwrap();
    assert_eq!(c.current_url().await.unwrap().path(), "/login");
    c.close().await.unwrap();

    // Neither value nor the session ever reached the log.
    let log = server.stop();
    for secret in [&raw, &fresh, &session] {
        assert!(!log.contains(secret.as_str()), "the log holds a secret");
    }
}

/// Checks a Standard Webhooks v1 signature with our own HMAC, not gantry's code.
fn signed_by(seen: &Seen, secret: &str) -> bool {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.trim_start_matches("whsec_")).unwrap();
    let header = |name: &str| {
        seen.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let (Some(timestamp), Some(signatures)) =
        (header("webhook-timestamp"), header("webhook-signature"))
    else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", seen.webhook_id, timestamp, seen.body).as_bytes());
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    signatures.split(' ').any(|s| s == expected)
}

/// Reloads `url` until `selector`'s text contains `text` (the dispatcher works in the
/// background): that text.
async fn reload_until(c: &Client, url: &str, selector: &str, text: &str) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        c.goto(url).await.unwrap();
        last = css(c, selector).await.text().await.unwrap();
        if last.contains(text) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{selector} on {url} never said {text:?}: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_alerts_create_a_rule_show_its_secret_once_test_and_retry() {
    if !chromium("dashboard_alerts_create_a_rule_show_its_secret_once_test_and_retry") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_admin(
        &dir.path().join("data"),
        &[("GANTRY_ALERTS_ALLOW_NETWORKS", "127.0.0.0/8")],
    );
    let base = server.base.clone();
    let _log = LogOnPanic(server.log.clone());
    let admin = admin_with_app(&base, "ops@example.com").await;
    let receiver = Receiver::start(Answer::Ok);

    let driver = Driver::start(dir.path());
    let c = driver.browser().await;
    c.set_window_size(1280, 900).await.unwrap();
    sign_in_at(&c, &format!("{base}/orgs/acme"), "ops@example.com").await;
    css(&c, "#alerts").await;

    // A rule for pings and new tokens of app web, to the receiver.
    css(&c, "#alerts summary").await.click().await.unwrap();
    css(&c, "#alert-name")
        .await
        .send_keys("deploy hooks")
        .await
        .unwrap();
    for event in ["token.created", "ping"] {
        css(&c, &format!("form.create-alert input[value='{event}']"))
            .await
            .click()
            .await
            .unwrap();
    }
    css(&c, "#alert-app")
        .await
        .select_by_value("web")
        .await
        .unwrap();
    css(&c, "#alert-target")
        .await
        .send_keys(&receiver.url)
        .await
        .unwrap();
    css(&c, "form.create-alert button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let secret = css(&c, "#secret-value")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let warning = css(&c, "[role=alert]").await.text().await.unwrap();
    assert!(
        warning.contains("won't be able to see it again"),
        "{warning}"
    );
    shot(&c, "alert-created").await;
    css(&c, "main a.button").await.click().await.unwrap();

    // The org page lists it, and never shows the secret again.
    c.goto(&format!("{base}/orgs/acme")).await.unwrap();
    let row = css(&c, "#alerts tr[data-alert-name='deploy hooks']")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        row.contains("token.created") && row.contains("Enabled"),
        "{row}"
    );
    assert!(!c.source().await.unwrap().contains(&secret[6..]));

    // Send test: the ping arrives signed with the secret the page showed, and the log says so.
    css(&c, "#alerts tr[data-alert-name='deploy hooks'] form button")
        .await
        .click()
        .await
        .unwrap();
    css(&c, "#deliveries").await;
    let rule_url = c.current_url().await.unwrap().to_string();
    let state = reload_until(&c, &rule_url, "#deliveries tbody tr", "delivered").await;
    assert!(state.contains("ping"), "{state}");
    let pings = receiver.seen();
    assert_eq!(pings.len(), 1, "{pings:?}");
    assert!(
        signed_by(&pings[0], &secret),
        "the ping's signature does not check: {pings:?}"
    );

    // A receiver that fails: the try is logged pending with its answer; retried from the page
    // once the receiver is back, it is delivered with the same webhook-id.
    receiver.set(Answer::Fail);
    let (s, body) = call(
        "POST",
        &format!("{base}/v1/apps/web/tokens"),
        Some(&admin),
        Some(json!({"name": "ci"})),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let failing = reload_until(&c, &rule_url, "#deliveries tbody tr", "HTTP 500").await;
    assert!(
        failing.contains("pending") && failing.contains("token.created"),
        "{failing}"
    );
    shot(&c, "alert-deliveries").await;
    receiver.set(Answer::Ok);
    css(&c, "#deliveries tbody tr form button")
        .await
        .click()
        .await
        .unwrap();
    let done = reload_until(&c, &rule_url, "#deliveries tbody tr", "delivered").await;
    assert!(done.contains("token.created"), "{done}");
    let seen = receiver.seen();
    let tries: Vec<&Seen> = seen
        .iter()
        .filter(|r| r.body.contains("token.created"))
        .collect();
    assert!(tries.len() >= 2, "{tries:?}");
    assert!(tries.iter().all(|r| r.webhook_id == tries[0].webhook_id));
    assert!(tries.iter().all(|r| signed_by(r, &secret)));

    // Off, then gone.
    css(&c, "#alert-rule form[action$='/disable'] button")
        .await
        .click()
        .await
        .unwrap();
    let heading = css(&c, "h1").await.text().await.unwrap();
    assert!(heading.contains("Disabled"), "{heading}");
    css(&c, "#alert-rule form[action$='/delete'] button")
        .await
        .click()
        .await
        .unwrap();
    let section = css(&c, "#alerts").await.text().await.unwrap();
    assert!(section.contains("No alert rules"), "{section}");
    c.close().await.unwrap();

    let log = server.stop();
    assert!(
        !log.contains(&secret[6..]),
        "the log holds the webhook secret"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_trust_policies_are_created_from_a_preset_and_test_a_jwt_claim_by_claim() {
    if !chromium("dashboard_trust_policies_are_created_from_a_preset_and_test_a_jwt_claim_by_claim")
    {
        return;
    }
    let issuer = crate::issuer::Issuer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_admin(
        &dir.path().join("data"),
        &[("GANTRY_OIDC_ALLOW_INSECURE_ISSUERS", issuer.url.as_str())],
    );
    let base = server.base.clone();
    let _log = LogOnPanic(server.log.clone());
    admin_with_app(&base, "ops@example.com").await;

    let driver = Driver::start(dir.path());
    let c = driver.browser().await;
    c.set_window_size(1280, 900).await.unwrap();
    sign_in_at(&c, &format!("{base}/apps/web"), "ops@example.com").await;
    let panel = css(&c, "#trust-policies").await.text().await.unwrap();
    assert!(panel.contains("No trust policies."), "{panel}");

    // A GitHub policy from the preset, with the repository's ids.
    css(&c, "#trust-policies details.create summary")
        .await
        .click()
        .await
        .unwrap();
    let form = "#trust-policies details.create form";
    css(&c, &format!("{form} input[name=name]"))
        .await
        .send_keys("main branch")
        .await
        .unwrap();
    css(&c, &format!("{form} select[name=preset]"))
        .await
        .select_by_value("github")
        .await
        .unwrap();
    css(&c, &format!("{form} input[name=issuer]"))
        .await
        .send_keys(&issuer.url)
        .await
        .unwrap();
    css(&c, &format!("{form} textarea[name=conditions]"))
        .await
        .send_keys("repository_id=1001\nrepository_owner_id=2002\nref=refs/heads/main")
        .await
        .unwrap();
    css(&c, &format!("{form} button[type=submit]"))
        .await
        .click()
        .await
        .unwrap();
    let row = css(&c, "#trust-policies tr[data-policy-id]")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        row.contains("main branch") && row.contains("repository_id=1001"),
        "{row}"
    );
    shot(&c, "trust-policies").await;

    // Test a JWT of another branch: the verdict names the claim that does not match.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut claims = issuer.github_claims(now, &base);
    claims["ref"] = serde_json::json!("refs/heads/feature");
    let jwt = issuer.sign("ec-1", &claims);
    css(&c, "#trust-policies details.test-jwt summary")
        .await
        .click()
        .await
        .unwrap();
    css(&c, "#trust-policies details.test-jwt textarea[name=token]")
        .await
        .send_keys(&jwt)
        .await
        .unwrap();
    css(&c, "#trust-policies details.test-jwt button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let verdict = css(&c, "#trust-test").await.text().await.unwrap();
    let title = css(&c, "h1").await.text().await.unwrap();
    assert_eq!(title, "This token would be refused");
    assert!(
        verdict.contains("refs/heads/feature") && verdict.contains("refs/heads/main"),
        "{verdict}"
    );
    assert!(
        verdict.contains("signature") && verdict.contains("verified"),
        "{verdict}"
    );
    shot(&c, "trust-test").await;
    c.close().await.unwrap();
}
