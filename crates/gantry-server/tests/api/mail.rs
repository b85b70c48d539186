//! Mail (DESIGN §7) through a real SMTP server process: Python's aiosmtpd (PyPI) run by
//! `smtp_server.py`, started per test on a free loopback port (plain, STARTTLS or implicit TLS
//! with a certificate made by the test, AUTH when asked), storing what it receives in a maildir
//! the test reads.
//! `.ci/run` installs it and sets `GANTRY_AIOSMTPD` (its Python); without it the tests say so
//! loudly and pass, unless `GANTRY_REQUIRE_SMTP` is set.

use crate::helpers::*;
use crate::webhooks::newest_delivery;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running aiosmtpd, killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One received mail: its headers (lower-cased names) and body.
#[derive(Debug, Clone)]
struct Mail {
    to: String,
    subject: String,
    from: String,
    body: String,
    raw: String,
}

/// How the server speaks: plain SMTP, STARTTLS required, or TLS from the first byte.
#[derive(Clone, Copy, PartialEq)]
enum Security {
    Plain,
    StartTls,
    Implicit,
}

/// A CA made for one test, and a certificate for 127.0.0.1 it signed: (CA PEM, cert PEM, key
/// PEM).
fn test_certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

impl SmtpServer {
    fn start() -> Option<SmtpServer> {
        Self::start_with(Security::Plain, None).map(|(s, _)| s)
    }

    /// Starts the server; with TLS, also the path of the CA file that trusts it.
    fn start_with(
        security: Security,
        auth: Option<(&str, &str)>,
    ) -> Option<(SmtpServer, Option<PathBuf>)> {
        let python = match std::env::var("GANTRY_AIOSMTPD") {
            Ok(p) if Path::new(&p).exists() => p,
            _ => {
                assert!(
                    std::env::var_os("GANTRY_REQUIRE_SMTP").is_none(),
                    "GANTRY_REQUIRE_SMTP is set but GANTRY_AIOSMTPD does not name a Python with aiosmtpd"
                );
                eprintln!("\n!!! SKIPPING the mail tests: set GANTRY_AIOSMTPD to a Python with aiosmtpd (pip install aiosmtpd) !!!\n");
                return None;
            }
        };
        let maildir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(python);
        command
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/api/smtp_server.py"
            ))
            .arg(port.to_string())
            // A path that does not exist yet: the handler makes the maildir's folders.
            .arg(maildir.path().join("box"));
        let mut ca_file = None;
        if security != Security::Plain {
            let (ca, cert, key) = test_certificates();
            let path = |name: &str| maildir.path().join(name);
            std::fs::write(path("ca.pem"), ca).unwrap();
            std::fs::write(path("cert.pem"), cert).unwrap();
            std::fs::write(path("key.pem"), key).unwrap();
            command
                .arg(if security == Security::StartTls {
                    "--starttls"
                } else {
                    "--smtps"
                })
                .arg(path("cert.pem"))
                .arg(path("key.pem"));
            ca_file = Some(path("ca.pem"));
        }
        if let Some((user, password)) = auth {
            command.args(["--auth", user, password]);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some((
                    SmtpServer {
                        child,
                        port,
                        maildir,
                    },
                    ca_file,
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not start on port {port}");
    }

    fn mails(&self) -> Vec<Mail> {
        let dir: PathBuf = self.maildir.path().join("box").join("new");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .map(|raw| {
                let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                        })
                        .unwrap_or_default()
                };
                Mail {
                    to: header("to"),
                    subject: header("subject"),
                    from: header("from"),
                    body: body.replace("=\n", "").replace("=3D", "="),
                    raw: raw.clone(),
                }
            })
            .collect()
    }

    /// Waits (up to 20 s) for mails whose subject contains `subject`: at least `n`.
    async fn wait_for(&self, subject: &str, n: usize) -> Vec<Mail> {
        for _ in 0..400 {
            let got: Vec<Mail> = self
                .mails()
                .into_iter()
                .filter(|m| m.subject.contains(subject))
                .collect();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no {n} mails about {subject:?}; got {:?}",
            self.mails().iter().map(|m| &m.subject).collect::<Vec<_>>()
        );
    }
}

async fn acme_mailing(smtp: &SmtpServer) -> Acme {
    acme_mailing_to(&format!("smtp://127.0.0.1:{}", smtp.port), None).await
}

async fn acme_mailing_to(url: &str, ca_file: Option<PathBuf>) -> Acme {
    let url = url.to_owned();
    acme_with(move |c| {
        c.smtp.url = Some(gantry_server::mail::SmtpUrl::parse(&url).unwrap());
        c.smtp.from = "Gantry <gantry@acme.test>".into();
        c.smtp.ca_file = ca_file;
        c.public_url = Some("https://gantry.acme.test".into());
        c.dispatch.poll = Duration::from_millis(50);
        c.dispatch.expiry_scan = Duration::from_millis(100);
    })
    .await
}

/// A `mailto:` rule for `token.created`: its id.
async fn mail_rule(app: &TestApp, owner: &str) -> String {
    let r = app
        .post(
            "/v1/orgs/acme/alerts",
            owner,
            json!({"name": "ops", "events": ["token.created"], "target": "mailto:ops@acme.test"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    id_of(&r)
}

#[tokio::test]
async fn mail_goes_over_starttls_and_implicit_tls_with_auth_to_a_server_trusted_by_smtp_ca_file() {
    for security in [Security::StartTls, Security::Implicit] {
        let Some((smtp, ca_file)) =
            SmtpServer::start_with(security, Some(("gantry", "s3cret pass")))
        else {
            return;
        };
        let url = match security {
            Security::StartTls => format!(
                "smtp://gantry:s3cret%20pass@127.0.0.1:{}?tls=required",
                smtp.port
            ),
            _ => format!("smtps://gantry:s3cret%20pass@127.0.0.1:{}", smtp.port),
        };
        let Acme { app, owner, .. } = acme_mailing_to(&url, ca_file).await;
        let rule = mail_rule(&app, &owner).await;
        app.deploy_token(&owner, "web", json!({"name": "over-tls"}))
            .await;
        newest_delivery(&app, &owner, &rule, |d| d["state"] == "delivered").await;
        let got = smtp.wait_for("over-tls", 1).await;
        assert_eq!(got[0].to, "ops@acme.test");
    }
}

#[tokio::test]
async fn a_server_whose_certificate_is_not_trusted_or_a_wrong_password_gets_no_mail() {
    for (trusted, password) in [(false, "s3cret"), (true, "wrong")] {
        let Some((smtp, ca_file)) =
            SmtpServer::start_with(Security::StartTls, Some(("gantry", "s3cret")))
        else {
            return;
        };
        let url = format!(
            "smtp://gantry:{password}@127.0.0.1:{}?tls=required",
            smtp.port
        );
        let Acme { app, owner, .. } =
            acme_mailing_to(&url, if trusted { ca_file } else { None }).await;
        let rule = mail_rule(&app, &owner).await;
        app.deploy_token(&owner, "web", json!({"name": "refused"}))
            .await;
        let tried = newest_delivery(&app, &owner, &rule, |d| !d["last_error"].is_null()).await;
        let error = tried["last_error"].as_str().unwrap_or_default().to_owned();
        assert_eq!(tried["state"], "pending", "retried later: {tried:?}");
        assert!(!error.is_empty(), "{tried:?}");
        assert!(!error.contains(password), "the password in {error}");
        assert!(smtp.mails().is_empty());
    }
}

#[tokio::test]
async fn a_mailto_rule_mails_each_event_without_any_secret() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let Acme { app, owner, .. } = acme_mailing(&smtp).await;
    let r = app
        .post(
            "/v1/orgs/acme/alerts",
            &owner,
            json!({"name": "ops", "events": ["token.created", "env.changed", "ping"],
                   "target": "mailto:ops@acme.test,oncall@acme.test"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(
        r.body["secret"].is_null(),
        "a mail rule has no secret: {}",
        r.text
    );
    let rule = id_of(&r);
    let (_, value) = app
        .deploy_token(&owner, "web", json!({"name": "release-bot"}))
        .await;
    let env_secret = "pg-password-that-must-not-travel";
    app.put(
        "/v1/apps/web/env/DB_PASSWORD",
        &owner,
        json!({"value": env_secret, "secret": true}),
    )
    .await;
    app.post(
        &format!("/v1/orgs/acme/alerts/{rule}/test"),
        &owner,
        json!({}),
    )
    .await;

    let created = smtp.wait_for("release-bot", 1).await;
    assert_eq!(
        created[0].subject,
        "[gantry] Token \"release-bot\" was created (acme/web)"
    );
    assert!(created[0].to.contains("ops@acme.test") && created[0].to.contains("oncall@acme.test"));
    assert!(
        created[0].from.contains("gantry@acme.test"),
        "{:?}",
        created[0]
    );
    assert!(
        created[0]
            .body
            .contains("https://gantry.acme.test/apps/web"),
        "{}",
        created[0].body
    );
    smtp.wait_for("Env vars of acme/web changed", 1).await;
    smtp.wait_for("Test notification", 1).await;
    for m in smtp.mails() {
        assert!(!m.raw.contains(&value), "a token value in {}", m.raw);
        assert!(!m.raw.contains(env_secret), "a secret value in {}", m.raw);
    }
    let log = items(
        &app.get(&format!("/v1/orgs/acme/alerts/{rule}/deliveries"), &owner)
            .await,
    );
    assert!(log.iter().all(|d| d["state"] == "delivered"), "{log:?}");
}

#[tokio::test]
async fn owners_are_mailed_at_expiry_thresholds_without_any_rule() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let Acme { app, owner, .. } = acme_mailing(&smtp).await;
    member(&app, &owner, "admin@acme.test", "admin").await;
    member(&app, &owner, "viewer@acme.test", "viewer").await;
    let (_, operator) = member(&app, &owner, "op@acme.test", "operator").await;
    // A deploy token made by the owner, and a personal token of the operator.
    let (id, value) = app
        .deploy_token(
            &owner,
            "web",
            json!({"name": "ci-deploy", "expires_in": "2d"}),
        )
        .await;
    let (personal_id, personal_value) = app
        .personal_token(&operator, json!({"name": "laptop", "expires_in": "2d"}))
        .await;

    app.advance(DAY + HOUR);
    let deploy = smtp.wait_for("\"ci-deploy\" expires in 1d", 1).await;
    let to = &deploy[0].to;
    assert!(to.contains("owner@acme.test"), "the creator: {to}");
    assert!(to.contains("admin@acme.test"), "the org's admins: {to}");
    assert!(
        !to.contains("viewer@acme.test") && !to.contains("op@acme.test"),
        "{to}"
    );
    let body = &deploy[0].body;
    assert!(
        body.contains(&format!("gantry tokens rotate {id}")),
        "{body}"
    );
    assert!(body.contains("https://gantry.acme.test/apps/web"), "{body}");
    assert!(body.contains("Expires: "), "{body}");
    let laptop = smtp.wait_for("\"laptop\" expires in 1d", 1).await;
    assert_eq!(laptop[0].to, "op@acme.test");
    assert!(laptop[0].body.contains(&personal_id));

    app.advance(DAY);
    smtp.wait_for("\"ci-deploy\" has expired", 1).await;
    smtp.wait_for("\"laptop\" has expired", 1).await;
    // Once each.
    app.advance(HOUR);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let about_ci: Vec<Mail> = smtp
        .mails()
        .into_iter()
        .filter(|m| m.subject.contains("ci-deploy"))
        .collect();
    assert_eq!(about_ci.len(), 2, "{about_ci:?}");
    for m in smtp.mails() {
        assert!(
            !m.raw.contains(&value) && !m.raw.contains(&personal_value),
            "{}",
            m.raw
        );
    }
}
