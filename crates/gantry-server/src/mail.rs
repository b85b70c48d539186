//! Outgoing mail (DESIGN §7): `mailto:` alert rules and owner notifications, over SMTP as
//! `smtp.url` says (lettre: plain, STARTTLS or implicit TLS, with authentication when the URL
//! carries a user). Plain text only; never a token value or a secret.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// How long one mail may take (connect, TLS, auth, transfer).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// `smtp.url`. Its password is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn parse(v: &str) -> Result<SmtpUrl, String> {
        let url = url::Url::parse(v).map_err(|e| e.to_string())?;
        if !matches!(url.scheme(), "smtp" | "smtps") || url.host().is_none() {
            return Err("must be smtp:// or smtps:// with a host".into());
        }
        // Refused here, not at the first mail.
        AsyncSmtpTransport::<Tokio1Executor>::from_url(v).map_err(|e| e.to_string())?;
        Ok(SmtpUrl(v.to_owned()))
    }
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("<redacted>"));
                }
                write!(f, "SmtpUrl({u})")
            }
            Err(_) => f.write_str("SmtpUrl(<unparsable>)"),
        }
    }
}

/// `smtp.url`, `smtp.from` and `smtp.ca_file`.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub url: Option<SmtpUrl>,
    /// A mailbox, `Name <address>` or `address` (checked when set).
    pub from: String,
    /// PEM certificates trusted for the mail server's TLS besides the usual web roots (a
    /// company CA, or a self-signed server).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            url: None,
            from: "gantry@localhost".to_owned(),
            ca_file: None,
        }
    }
}

/// How `smtp.url` asks for TLS (as lettre reads it): none, STARTTLS (`?tls=required` or
/// `?tls=opportunistic`) or implicit TLS (`smtps://`).
fn tls_with(url: &url::Url, params: TlsParameters) -> Option<Tls> {
    let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v);
    match (url.scheme(), tls.as_deref()) {
        ("smtps", _) => Some(Tls::Wrapper(params)),
        ("smtp", Some("required")) => Some(Tls::Required(params)),
        ("smtp", Some("opportunistic")) => Some(Tls::Opportunistic(params)),
        _ => None,
    }
}

/// TLS parameters for `host` trusting the web roots and the certificates in `ca_file`.
fn tls_parameters(host: &str, ca_file: &std::path::Path) -> anyhow::Result<TlsParameters> {
    let pem = std::fs::read(ca_file)
        .map_err(|e| anyhow::anyhow!("smtp.ca_file {}: {e}", ca_file.display()))?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        anyhow::bail!(
            "smtp.ca_file {}: no PEM certificate in it",
            ca_file.display()
        );
    }
    let cert = Certificate::from_pem(&pem)
        .map_err(|e| anyhow::anyhow!("smtp.ca_file {}: {e}", ca_file.display()))?;
    TlsParameters::builder(host.to_owned())
        .add_root_certificate(cert)
        .build_rustls()
        .map_err(|e| anyhow::anyhow!("smtp.ca_file {}: {e}", ca_file.display()))
}

/// Whether `v` is a sender `smtp.from` accepts.
pub fn valid_from(v: &str) -> bool {
    v.parse::<Mailbox>().is_ok()
}

/// A connection pool to the mail server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// None when no `smtp.url` is set.
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Option<Mailer>> {
        let Some(url) = &config.url else {
            return Ok(None);
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url.0)
            .map_err(|e| anyhow::anyhow!("smtp.url: {e}"))?
            .timeout(Some(SEND_TIMEOUT));
        if let Some(ca_file) = &config.ca_file {
            let parsed = url::Url::parse(&url.0).map_err(|e| anyhow::anyhow!("smtp.url: {e}"))?;
            let host = parsed.host_str().unwrap_or_default();
            let tls = tls_with(&parsed, tls_parameters(host, ca_file)?).ok_or_else(|| {
                anyhow::anyhow!(
                    "smtp.ca_file is set but smtp.url asks for no TLS (use ?tls=required or smtps://)"
                )
            })?;
            builder = builder.tls(tls);
        }
        let transport = builder.build();
        let from = config
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("smtp.from: {e}"))?;
        Ok(Some(Mailer { transport, from }))
    }

    /// Sends one plain-text mail to every address in `to`.
    pub async fn send(&self, to: &[String], subject: &str, body: String) -> Result<(), String> {
        let mut message = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for address in to {
            let mailbox: Mailbox = address
                .parse()
                .map_err(|_| format!("{address} is not a mail address"))?;
            message = message.to(mailbox);
        }
        let message = message.body(body).map_err(|e| e.to_string())?;
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("mail server: {e}")),
            Err(_) => Err(format!(
                "mail server: no answer within {} s",
                SEND_TIMEOUT.as_secs()
            )),
        }
    }
}

/// The subject and plain text of the mail for an event: which token (or app), where, when,
/// and what to do — the command and the dashboard page. Built from the event's data, which
/// holds views only, so no token value or secret can be in it.
pub fn compose(event_type: &str, data: &serde_json::Value, public_url: &str) -> (String, String) {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let org = text(&data["org"]);
    let app = text(&data["app"]);
    let place = match (&org, &app) {
        (Some(o), Some(a)) => format!("{o}/{a}"),
        (Some(o), None) => o.clone(),
        _ => "your account".to_owned(),
    };
    let page = match (&org, &app) {
        (_, Some(a)) => format!("{public_url}/apps/{a}"),
        (Some(o), None) => format!("{public_url}/orgs/{o}"),
        _ => format!("{public_url}/"),
    };
    let token = &data["token"];
    let mut body = String::new();
    let subject = if token.is_object() {
        let name = text(&token["name"]).unwrap_or_default();
        let id = text(&token["id"]).unwrap_or_default();
        let what = match event_type {
            "token.expiring" => format!(
                "expires in {}",
                text(&data["expires_in"]).unwrap_or_else(|| "less than a day".into())
            ),
            "token.expired" => "has expired".to_owned(),
            "token.created" => "was created".to_owned(),
            "token.rotated" => "was rotated".to_owned(),
            "token.revoked" => "was revoked".to_owned(),
            "token.leaked" => "was reported leaked and has been revoked".to_owned(),
            "token.reused" => format!(
                "was presented with a value rotated away {} ago",
                text(&data["since_rotation"]).unwrap_or_else(|| "a while".into())
            ),
            other => other.to_owned(),
        };
        body.push_str(&format!(
            "The {} token \"{name}\" ({id}) in {place} {what}.\n\n",
            text(&token["kind"]).unwrap_or_else(|| "gantry".into())
        ));
        for (label, key) in [
            ("Token id", "id"),
            ("Prefix", "prefix"),
            ("Role", "role"),
            ("User", "user"),
            ("Created", "created_at"),
            ("Expires", "expires_at"),
        ] {
            if let Some(v) = text(&token[key]) {
                body.push_str(&format!("{label}: {v}\n"));
            }
        }
        if event_type == "token.leaked" {
            if let Some(url) = text(&data["url"]) {
                body.push_str(&format!("Found at: {url}\n"));
            }
            body.push_str(
                "\nSomeone found this token where it should not be and reported it; gantry revoked it.\n\
                 Anything still using it is now refused. Create a new token, store it only in a secret\n\
                 store, and check the audit log for uses you do not recognise.\n",
            );
        }
        if matches!(event_type, "token.expiring" | "token.expired") {
            body.push_str(&format!(
                "\nTo keep it working, rotate it before it expires:\n\n    gantry tokens rotate {id}\n\n\
                 and put the new value where the old one is used (a CI secret, a deploy config).\n\
                 Or rotate it in the dashboard: {page}\n"
            ));
        } else {
            body.push_str(&format!("\nDashboard: {page}\n"));
        }
        format!("[gantry] Token \"{name}\" {what} ({place})")
    } else {
        let what = match event_type {
            "release.created" => {
                let version = data["release"]["version"]
                    .as_i64()
                    .map(|v| format!(" v{v}"))
                    .unwrap_or_default();
                format!("New release{version} of {place}")
            }
            "env.changed" => format!("Env vars of {place} changed"),
            "config.changed" => format!("Config of {place} changed"),
            "ping" => format!("Test notification for {place}"),
            other => format!("{other} in {place}"),
        };
        body.push_str(&format!("{what}.\n\n"));
        if let Ok(pretty) = serde_json::to_string_pretty(data) {
            body.push_str(&pretty);
            body.push('\n');
        }
        body.push_str(&format!("\nDashboard: {page}\n"));
        format!("[gantry] {what}")
    };
    body.push_str("\n-- \nSent by gantry. Alert rules: the org's page in the dashboard, or `gantry alerts list`.\n");
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_mail_says_which_token_where_when_and_how_to_rotate_it() {
        let data = serde_json::json!({
            "org": "acme", "app": "web", "expires_in": "7d",
            "token": {"id": "tok_1", "name": "ci", "kind": "deploy", "prefix": "gtd_ab12",
                      "expires_at": "2027-01-01T00:00:00.000Z", "created_at": "2026-10-01T00:00:00.000Z"}
        });
        let (subject, body) = compose("token.expiring", &data, "https://gantry.example.com");
        assert_eq!(subject, "[gantry] Token \"ci\" expires in 7d (acme/web)");
        assert!(body.contains("gantry tokens rotate tok_1"), "{body}");
        assert!(
            body.contains("https://gantry.example.com/apps/web"),
            "{body}"
        );
        assert!(body.contains("Expires: 2027-01-01T00:00:00.000Z"), "{body}");
    }

    #[test]
    fn the_smtp_password_is_never_printed() {
        let url = SmtpUrl::parse("smtps://ops:hunter2hunter2@mail.example.com:465").unwrap();
        let shown = format!("{url:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("mail.example.com"), "{shown}");
        assert!(SmtpUrl::parse("http://mail.example.com").is_err());
    }
}
