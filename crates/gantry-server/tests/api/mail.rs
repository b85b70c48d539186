//! Mail (DESIGN §7) through a real SMTP server process: Python's aiosmtpd (PyPI), started per
//! test on a free loopback port, storing what it receives in a maildir the test reads.
//! `.ci/run` installs it and sets `GANTRY_AIOSMTPD` (its Python); without it the tests say so
//! loudly and pass, unless `GANTRY_REQUIRE_SMTP` is set.

use crate::helpers::*;
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

impl SmtpServer {
    fn start() -> Option<SmtpServer> {
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
        let mut child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // A path that does not exist yet: the handler makes the maildir's folders.
            .arg(maildir.path().join("box"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(SmtpServer {
                    child,
                    port,
                    maildir,
                });
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
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    acme_with(move |c| {
        c.smtp.url = Some(gantry_server::mail::SmtpUrl::parse(&url).unwrap());
        c.smtp.from = "Gantry <gantry@acme.test>".into();
        c.public_url = Some("https://gantry.acme.test".into());
        c.dispatch.poll = Duration::from_millis(50);
        c.dispatch.expiry_scan = Duration::from_millis(100);
    })
    .await
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
