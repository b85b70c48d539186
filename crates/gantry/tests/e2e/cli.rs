//! The client commands run as a person or a CI job runs them: the real binary, a clean
//! environment with its own HOME, against a real server on a random port.

use crate::harness::*;
use gantry_api::TokenKind;
use gantry_core::token::PlainToken;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// A client environment: its own HOME (so its own config file) and the server URL.
struct Env {
    home: tempfile::TempDir,
    url: String,
}

impl Env {
    fn new(server: &Server) -> Env {
        Env {
            home: tempfile::tempdir().unwrap(),
            url: server.base.clone(),
        }
    }

    fn config_file(&self) -> PathBuf {
        self.home.path().join(".config/gantry/config.toml")
    }

    /// Runs `gantry args…` with only PATH, HOME, GANTRY_URL and `extra` in the environment.
    fn run(&self, args: &[&str], extra: &[(&str, &str)], stdin: Option<&str>) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gantry"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("GANTRY_URL", &self.url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str], extra: &[(&str, &str)]) -> Out {
        let out = self.run(args, extra, None);
        assert_eq!(
            out.code, 0,
            "gantry {args:?} failed: {}{}",
            out.stdout, out.stderr
        );
        out
    }

    fn login(&self, email: &str) {
        let out = self.run(
            &["login", "--email", email, "--password-stdin"],
            &[],
            Some(&format!("{PASSWORD}\n")),
        );
        assert_eq!(out.code, 0, "login failed: {}", out.stderr);
    }
}

const ADMIN: &str = "ops@example.com";

fn server(dir: &Path) -> Server {
    Server::start(
        &dir.join("data"),
        &[
            ("GANTRY_ADMIN_EMAIL", ADMIN),
            ("GANTRY_ADMIN_PASSWORD", PASSWORD),
        ],
    )
}

/// Logged-in admin with org `acme` and apps `web` and `api`.
fn setup(server: &Server) -> Env {
    let env = Env::new(server);
    env.login(ADMIN);
    env.ok(&["orgs", "create", "acme"], &[]);
    env.ok(&["apps", "create", "web", "-o", "acme"], &[]);
    env.ok(&["apps", "create", "api", "-o", "acme"], &[]);
    env
}

fn create(env: &Env, args: &[&str]) -> (String, String) {
    let mut full = vec!["tokens", "create"];
    full.extend_from_slice(args);
    full.push("--json");
    let v = env.ok(&full, &[]).json();
    (
        v["id"].as_str().unwrap().to_owned(),
        v["token"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn fly_style_create_list_and_revoke_several() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let env = setup(&s);

    // `fly tokens create deploy -n "shiny happy token" -x 720h`: the token alone on stdout.
    let out = env.ok(
        &[
            "tokens",
            "create",
            "deploy",
            "-a",
            "web",
            "-n",
            "shiny happy token",
            "-x",
            "720h",
        ],
        &[],
    );
    let raw = out.stdout.trim().to_owned();
    assert_eq!(
        out.stdout,
        format!("{raw}\n"),
        "stdout holds the token and nothing else"
    );
    assert!(PlainToken::parse(&raw).is_ok_and(|t| t.kind() == TokenKind::Deploy));
    assert!(
        out.stderr.contains("only time"),
        "the shown-once warning goes to stderr: {}",
        out.stderr
    );
    // `-q`: nothing on stderr.
    let quiet = env.ok(
        &[
            "tokens", "create", "deploy", "-a", "web", "-n", "quiet", "-q",
        ],
        &[],
    );
    assert!(quiet.stderr.is_empty());
    let (org_id, _) = create(
        &env,
        &[
            "org",
            "-o",
            "acme",
            "--role",
            "operator",
            "-n",
            "test org token",
        ],
    );

    // `fly tokens list`: the app's deploy tokens, with the DESIGN columns.
    let list = env.ok(&["tokens", "list", "-a", "web"], &[]).stdout;
    let header = list.lines().next().unwrap();
    let columns: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        columns,
        [
            "ID",
            "NAME",
            "PREFIX",
            "STATUS",
            "CREATED BY",
            "EXPIRES AT",
            "LAST USED"
        ]
    );
    assert!(
        list.contains("shiny happy token") && list.contains("in 30 days") && list.contains(ADMIN)
    );
    assert!(
        !list.contains("test org token"),
        "-s app shows deploy tokens only"
    );
    assert!(list.contains(&raw[..12]) && !list.contains(&raw));

    // `fly tokens list -s org`: deploy tokens and the org's other tokens.
    let org_list = env
        .ok(&["tokens", "list", "-s", "org", "-a", "web"], &[])
        .stdout;
    assert!(org_list.contains("shiny happy token") && org_list.contains("test org token"));

    // `fly tokens revoke ID ID`.
    let ids: Vec<String> = env
        .ok(&["tokens", "list", "-a", "web", "--json"], &[])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let mut args = vec!["tokens", "revoke"];
    args.extend(ids.iter().map(String::as_str));
    args.push(&org_id);
    let out = env.ok(&args, &[]);
    for id in ids.iter().chain([&org_id]) {
        assert!(
            out.stdout.contains(&format!("{id}: revoked")),
            "{}",
            out.stdout
        );
    }
    let after = env
        .ok(
            &["tokens", "list", "-s", "org", "-o", "acme", "--json"],
            &[],
        )
        .json();
    assert_eq!(
        after.as_array().unwrap().len(),
        0,
        "revoked tokens are hidden from lists"
    );
    let all = env
        .ok(
            &[
                "tokens", "list", "-o", "acme", "--status", "revoked", "--json",
            ],
            &[],
        )
        .json();
    assert_eq!(all.as_array().unwrap().len(), 3);
}

#[test]
fn multi_id_revoke_reports_each_and_exits_non_zero_on_a_bad_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let env = setup(&s);
    let (good, raw) = create(&env, &["deploy", "-a", "web", "-n", "ci"]);
    let out = env.run(&["tokens", "revoke", "tok_doesnotexist", &good], &[], None);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains(&format!("{good}: revoked")),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("tok_doesnotexist: error") && out.stderr.contains("not found"),
        "{}",
        out.stderr
    );
    // The good one really is revoked.
    let refused = env.run(&["tokens", "whoami"], &[("GANTRY_TOKEN", &raw)], None);
    assert_eq!(refused.code, 3);
    assert!(
        refused.stderr.contains("revoked") && refused.stderr.contains("GANTRY_TOKEN"),
        "{}",
        refused.stderr
    );
    // Revoking again is harmless and says so.
    let again = env.ok(&["tokens", "revoke", &good], &[]);
    assert!(again.stdout.contains("already revoked"));
}

#[test]
fn deploy_from_gantry_token_alone_with_no_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let admin = setup(&s);
    let (_, raw) = create(
        &admin,
        &["deploy", "-a", "web", "-n", "github actions", "-x", "90d"],
    );

    // A CI runner: nothing but the URL, GANTRY_TOKEN and GANTRY_APP (FastAPI's
    // FASTAPI_CLOUD_TOKEN + FASTAPI_CLOUD_APP_ID, in gantry's words).
    let ci = Env::new(&s);
    let site = ci.home.path().join("dist");
    std::fs::create_dir_all(site.join("assets")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>hello</h1>").unwrap();
    std::fs::write(site.join("assets/app.js"), "console.log(1)").unwrap();
    let vars = [("GANTRY_TOKEN", raw.as_str()), ("GANTRY_APP", "web")];
    let out = ci.ok(
        &[
            "deploy",
            site.to_str().unwrap(),
            "--label",
            "abc123",
            "-m",
            "from CI",
        ],
        &vars,
    );
    assert!(
        out.stdout.contains("Released web v1 [abc123]"),
        "{}",
        out.stdout
    );
    assert!(!ci.config_file().exists(), "CI never wrote a config file");
    let who = ci.ok(&["tokens", "whoami", "--json"], &vars).json();
    assert_eq!(who["token_source"], "GANTRY_TOKEN");
    assert_eq!(who["whoami"]["kind"], "deploy");

    // The directory went up as a gzip'd tar; a file goes up as is.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bytes = rt.block_on(async {
        let c = gantry_client::Client::new(&s.base).with_token(&raw);
        c.download_artifact("web", 1).await.unwrap()
    });
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    let file = ci.home.path().join("build.bin");
    std::fs::write(&file, b"exact bytes").unwrap();
    ci.ok(&["deploy", file.to_str().unwrap()], &vars);
    let bytes = rt.block_on(async {
        gantry_client::Client::new(&s.base)
            .with_token(&raw)
            .download_artifact("web", 2)
            .await
            .unwrap()
    });
    assert_eq!(bytes, b"exact bytes");
    let releases = ci.ok(&["releases", "list", "--json"], &vars).json();
    assert_eq!(releases.as_array().unwrap().len(), 2);
    // A duplicate label is refused with the server's reason.
    let dup = ci.run(
        &["deploy", file.to_str().unwrap(), "--label", "abc123"],
        &vars,
        None,
    );
    assert_eq!(dup.code, 1);
    assert!(dup.stderr.contains("overwrite"), "{}", dup.stderr);
}

#[test]
fn deploy_token_from_the_environment_inspects_and_changes_only_its_app() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let admin = setup(&s);
    let (_, raw) = create(&admin, &["deploy", "-a", "web"]);
    let ci = Env::new(&s);
    let vars = [("GANTRY_TOKEN", raw.as_str())];
    // `ASTRO_API_TOKEN=… astro deployment inspect`.
    let app = ci
        .ok(&["apps", "show", "-a", "web", "--json"], &vars)
        .json();
    assert_eq!(app["slug"], "web");
    ci.ok(
        &["env", "set", "-a", "web", "LOG_LEVEL=info", "WORKERS=4"],
        &vars,
    );
    ci.ok(
        &[
            "env",
            "set",
            "-a",
            "web",
            "--secret",
            "DATABASE_URL=postgres://u:p@db/app",
        ],
        &vars,
    );
    let env_list = ci.ok(&["env", "list", "-a", "web"], &vars).stdout;
    assert!(
        env_list.contains("WORKERS")
            && env_list.contains("(secret)")
            && !env_list.contains("u:p@db")
    );
    let cfg = ci.home.path().join("deploy.json");
    std::fs::write(&cfg, r#"{"replicas": 3, "region": "eu"}"#).unwrap();
    let set = ci.ok(
        &["config", "set", "-a", "web", cfg.to_str().unwrap()],
        &vars,
    );
    assert!(set.stderr.contains("version 1"), "{}", set.stderr);
    let got = ci.ok(&["config", "get", "-a", "web"], &vars).json();
    assert_eq!(got, serde_json::json!({"replicas": 3, "region": "eu"}));
    // Nothing beyond its app: other apps are invisible, tokens are off limits.
    let other = ci.run(&["apps", "show", "-a", "api"], &vars, None);
    assert_eq!(other.code, 1);
    assert!(other.stderr.contains("not found"));
    let tokens = ci.run(&["tokens", "list", "-a", "web"], &vars, None);
    assert_eq!(tokens.code, 3, "{}", tokens.stderr);
}

#[test]
fn token_precedence_is_flag_then_environment_then_saved_login() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let env = setup(&s);
    let (_, deploy) = create(&env, &["deploy", "-a", "web"]);
    let (_, org) = create(&env, &["org", "-o", "acme", "--role", "viewer"]);
    let who = |args: &[&str], vars: &[(&str, &str)]| {
        let mut a = vec!["tokens", "whoami", "--json"];
        a.extend_from_slice(args);
        env.ok(&a, vars).json()
    };
    let saved = who(&[], &[]);
    assert_eq!(
        (
            saved["token_source"].as_str(),
            saved["whoami"]["kind"].as_str()
        ),
        (Some("saved login"), Some("user"))
    );
    let from_env = who(&[], &[("GANTRY_TOKEN", &deploy)]);
    assert_eq!(
        (
            from_env["token_source"].as_str(),
            from_env["whoami"]["kind"].as_str()
        ),
        (Some("GANTRY_TOKEN"), Some("deploy"))
    );
    let from_flag = who(&["--token", &org], &[("GANTRY_TOKEN", &deploy)]);
    assert_eq!(
        (
            from_flag["token_source"].as_str(),
            from_flag["whoami"]["kind"].as_str()
        ),
        (Some("--token"), Some("org"))
    );
    // The human form says the source too.
    let text = env
        .ok(&["tokens", "whoami"], &[("GANTRY_TOKEN", &deploy)])
        .stdout;
    assert!(text.contains("from GANTRY_TOKEN"), "{text}");
    // URL: flag beats environment.
    let bad_url = env.run(
        &["tokens", "whoami", "--url", "http://127.0.0.1:9"],
        &[],
        None,
    );
    assert_eq!(bad_url.code, 1);
    assert!(
        bad_url
            .stderr
            .contains("cannot reach gantry at http://127.0.0.1:9"),
        "{}",
        bad_url.stderr
    );
}

#[test]
fn json_output_round_trips_and_only_create_and_rotate_print_a_raw_token() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let env = setup(&s);
    let created = env
        .ok(
            &[
                "tokens",
                "create",
                "deploy",
                "-a",
                "web",
                "-n",
                "ci",
                "--description",
                "pipeline",
                "--json",
            ],
            &[],
        )
        .json();
    let id = created["id"].as_str().unwrap();
    let raw = created["token"].as_str().unwrap().to_owned();
    let shown = env.ok(&["tokens", "show", id, "--json"], &[]).json();
    for field in [
        "id",
        "name",
        "description",
        "prefix",
        "status",
        "app",
        "org",
        "expires_at",
        "created_at",
    ] {
        assert_eq!(shown[field], created[field], "{field} differs");
    }
    assert!(shown.get("token").is_none());
    let updated = env
        .ok(&["tokens", "update", id, "-n", "ci-2", "--json"], &[])
        .json();
    assert_eq!(updated["name"], "ci-2");

    // Use it, so every listing has something to say about it.
    env.ok(&["tokens", "whoami"], &[("GANTRY_TOKEN", &raw)]);
    let mut outputs = Vec::new();
    for args in [
        vec!["tokens", "list", "-a", "web"],
        vec!["tokens", "list", "-a", "web", "--json"],
        vec!["tokens", "list", "--json"],
        vec!["tokens", "show", id],
        vec!["tokens", "show", id, "--json"],
        vec!["tokens", "whoami"],
        vec!["tokens", "whoami", "--json"],
        vec!["audit", "list", "--json"],
        vec!["audit", "list"],
    ] {
        let out = env.ok(&args, &[]);
        outputs.push((args.join(" "), out.stdout + &out.stderr));
    }
    let out = env.ok(&["tokens", "whoami", "--json"], &[("GANTRY_TOKEN", &raw)]);
    outputs.push(("whoami as the token".into(), out.stdout + &out.stderr));
    let saved = std::fs::read_to_string(env.config_file()).unwrap();
    let login_token = saved
        .lines()
        .find_map(|l| l.strip_prefix("token = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    for (what, text) in &outputs {
        assert!(
            !text.contains(&raw),
            "`{what}` printed the raw deploy token"
        );
        assert!(
            !text.contains(&login_token),
            "`{what}` printed the saved login token"
        );
    }
    let listed = env
        .ok(&["tokens", "list", "-a", "web", "--json"], &[])
        .json();
    assert!(listed[0]["last_used_at"].is_string());

    // Rotate prints the new value alone on stdout; the old one stops working.
    let rotated = env.ok(&["tokens", "rotate", id, "-q"], &[]);
    let new = rotated.stdout.trim();
    assert!(PlainToken::parse(new).is_ok() && new != raw);
    assert_eq!(
        env.run(&["tokens", "whoami"], &[("GANTRY_TOKEN", &raw)], None)
            .code,
        3
    );
    env.ok(&["tokens", "whoami"], &[("GANTRY_TOKEN", new)]);
}

/// The first character of `text` that acts on a terminal: what human output must escape (C0
/// but the output's own newlines, DEL, C1, bidi controls).
fn terminal_control(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        c != '\n'
            && matches!(
                c,
                '\u{0}'..='\u{1f}'
                    | '\u{7f}'..='\u{9f}'
                    | '\u{61c}'
                    | '\u{200e}'
                    | '\u{200f}'
                    | '\u{202a}'..='\u{202e}'
                    | '\u{2066}'..='\u{2069}'
            )
    })
}

#[test]
fn human_output_escapes_control_characters_and_json_stays_exact() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let env = setup(&s);
    // What the server accepts: names refuse C0 and C1 controls but not bidi controls,
    // descriptions allow newlines and tabs, env values and release labels and messages hold
    // anything but NUL. Each with the form human output shows it in.
    let name = "invoice\u{202e}fdp.exe \u{2066}x\u{2069}";
    let name_shown = r"invoice\u{202e}fdp.exe \u{2066}x\u{2069}";
    let description = "first line\nsecond\tline";
    let description_shown = r"first line\x0asecond\x09line";
    let value = "\x1b[31mred\x07\r\u{202e}\u{9b}2J\x7f";
    let value_shown = r"\x1b[31mred\x07\x0d\u{202e}\u{9b}2J\x7f";
    let label = "v1\x1b[2K";
    let label_shown = r"v1\x1b[2K";
    let message = "\x1b]0;pwned\x07 shipped\roverwritten";
    let message_shown = r"\x1b]0;pwned\x07 shipped\x0doverwritten";
    let document =
        r#"{"motd": "\u001b[5mblink\u0007", "rlo": "a\u202eb", "del": "\u007f", "csi": "\u009b"}"#;

    // A human command: succeeds, and nothing on stdout or stderr can act on a terminal.
    let human = |args: &[&str], vars: &[(&str, &str)]| -> Out {
        let out = env.ok(args, vars);
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            if let Some(c) = terminal_control(text) {
                panic!(
                    "`gantry {}` printed U+{:04X} raw on {stream}: {text:?}",
                    args.join(" "),
                    u32::from(c)
                );
            }
        }
        out
    };

    // Created in human form: the token alone on stdout, the notice naming it on stderr.
    let created = human(
        &[
            "tokens",
            "create",
            "deploy",
            "-a",
            "web",
            "-n",
            name,
            "--description",
            description,
        ],
        &[],
    );
    let raw = created.stdout.trim().to_owned();
    assert!(PlainToken::parse(&raw).is_ok(), "{}", created.stdout);
    assert!(created.stderr.contains(name_shown), "{}", created.stderr);

    // CI with that token: an env var, a release, a config document.
    let ci = [("GANTRY_TOKEN", raw.as_str()), ("GANTRY_APP", "web")];
    env.ok(&["env", "set", &format!("BANNER={value}")], &ci);
    let artifact = env.home.path().join("build.bin");
    std::fs::write(&artifact, b"exact bytes").unwrap();
    let deployed = human(
        &[
            "deploy",
            artifact.to_str().unwrap(),
            "--label",
            label,
            "-m",
            message,
        ],
        &ci,
    );
    assert!(
        deployed
            .stdout
            .contains(&format!("Released web v1 [{label_shown}]")),
        "{}",
        deployed.stdout
    );
    let cfg = env.home.path().join("deploy.json");
    std::fs::write(&cfg, document).unwrap();
    env.ok(&["config", "set", cfg.to_str().unwrap()], &ci);

    // --json: the exact strings, encoded by serde_json and nothing else (bidi controls, C1 and
    // DEL raw; C0 as JSON escapes).
    let listed = env.ok(&["tokens", "list", "-a", "web", "--json"], &[]);
    let tokens = listed.json();
    let token = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no token named {name:?}: {}", listed.stdout));
    assert_eq!(token["description"], description);
    let id = token["id"].as_str().unwrap().to_owned();
    for exact in [name, description] {
        let encoded = serde_json::to_string(exact).unwrap();
        assert!(listed.stdout.contains(&encoded), "{}", listed.stdout);
    }
    let shown = env.ok(&["tokens", "show", &id, "--json"], &[]).json();
    assert_eq!(
        (&shown["name"], &shown["description"]),
        (&Value::from(name), &Value::from(description))
    );
    let vars = env.ok(&["env", "list", "-a", "web", "--json"], &[]);
    let banner = vars
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "BANNER")
        .cloned()
        .unwrap();
    assert_eq!(banner["value"], value);
    assert!(vars.stdout.contains(&serde_json::to_string(value).unwrap()));
    let releases = env.ok(&["releases", "list", "-a", "web", "--json"], &[]);
    let release = releases.json()[0].clone();
    assert_eq!(
        (&release["label"], &release["message"]),
        (&Value::from(label), &Value::from(message))
    );
    assert!(releases
        .stdout
        .contains(&serde_json::to_string(message).unwrap()));
    let who = env.ok(&["tokens", "whoami", "--json"], &ci).json();
    assert_eq!(who["whoami"]["token"]["name"], name);
    let expected: Value = serde_json::from_str(document).unwrap();
    let doc = env.ok(&["config", "get", "-a", "web", "--json"], &[]);
    assert_eq!(doc.json(), expected);
    assert!(
        doc.stdout.contains('\u{202e}')
            && doc.stdout.contains('\u{9b}')
            && doc.stdout.contains('\u{7f}'),
        "{:?}",
        doc.stdout
    );

    // Human output: the same strings, escaped where they are shown.
    let list = human(&["tokens", "list", "-a", "web"], &[]).stdout;
    assert!(list.contains(name_shown), "{list}");
    let show = human(&["tokens", "show", &id], &[]).stdout;
    assert!(
        show.lines()
            .any(|l| l.starts_with("name:") && l.ends_with(name_shown)),
        "{show}"
    );
    assert!(
        show.lines()
            .any(|l| l.starts_with("description:") && l.ends_with(description_shown)),
        "a description is one line: {show}"
    );
    let env_list = human(&["env", "list", "-a", "web"], &[]).stdout;
    assert!(env_list.contains(value_shown), "{env_list}");
    let release_list = human(&["releases", "list", "-a", "web"], &[]).stdout;
    assert!(
        release_list.contains(label_shown) && release_list.contains(message_shown),
        "{release_list}"
    );
    let whoami = human(&["tokens", "whoami"], &ci).stdout;
    assert!(
        whoami.contains(&format!("deploy token \"{name_shown}\"")),
        "{whoami}"
    );
    human(&["audit", "list"], &[]);
    // The config document for people is still the same JSON document: controls as `\uXXXX`.
    let doc = human(&["config", "get", "-a", "web"], &[]);
    assert_eq!(doc.json(), expected);
    assert!(
        doc.stdout.contains(r"a\u202eb")
            && doc.stdout.contains(r"\u009b")
            && doc.stdout.contains(r"\u007f"),
        "{}",
        doc.stdout
    );

    // The server's error messages too (they echo the id), on stderr; --json keeps them exact.
    let bad_id = "tok_\u{202e}nope";
    let bad_id_shown = r"tok_\u{202e}nope";
    let missing = env.run(&["tokens", "show", bad_id], &[], None);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert_eq!(
        terminal_control(&missing.stderr),
        None,
        "{:?}",
        missing.stderr
    );
    assert!(
        missing.stderr.starts_with("error: ") && missing.stderr.contains(bad_id_shown),
        "{}",
        missing.stderr
    );
    let revoke = env.run(&["tokens", "revoke", bad_id], &[], None);
    assert_eq!(revoke.code, 1, "{}", revoke.stderr);
    assert_eq!(
        terminal_control(&revoke.stderr),
        None,
        "{:?}",
        revoke.stderr
    );
    assert!(
        revoke
            .stderr
            .starts_with(&format!("{bad_id_shown}: error: ")),
        "{}",
        revoke.stderr
    );
    let revoke = env.run(&["tokens", "revoke", bad_id, "--json"], &[], None);
    assert_eq!(revoke.code, 1, "{}", revoke.stderr);
    let result = revoke.json()[0].clone();
    assert_eq!(result["id"], bad_id);
    assert!(
        result["error"].as_str().unwrap().contains(bad_id),
        "{result}"
    );
}

#[test]
fn login_writes_a_private_config_and_logout_revokes_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let env = Env::new(&s);
    let bad = env.run(
        &["login", "--email", ADMIN, "--password-stdin"],
        &[],
        Some("wrong password\n"),
    );
    assert_eq!(bad.code, 3);
    assert!(bad.stderr.contains("wrong email or password"));
    env.login(ADMIN);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let file = env.config_file();
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(file.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }
    let saved = std::fs::read_to_string(env.config_file()).unwrap();
    let token = saved
        .lines()
        .find_map(|l| l.strip_prefix("token = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    env.ok(&["orgs", "list"], &[]);
    let out = env.ok(&["logout"], &[]);
    assert!(out.stderr.contains("revoked"), "{}", out.stderr);
    assert!(!std::fs::read_to_string(env.config_file())
        .unwrap()
        .contains("token ="));
    let after = env.run(&["tokens", "whoami"], &[("GANTRY_TOKEN", &token)], None);
    assert_eq!(
        after.code, 3,
        "the logged-out token is revoked on the server"
    );
    let none = env.run(&["orgs", "list"], &[], None);
    assert_eq!(none.code, 3);
    assert!(none.stderr.contains("gantry login"), "{}", none.stderr);
}

#[test]
fn login_takes_the_new_tokens_lifetime_and_a_login_token_cannot_outlive_itself() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let env = Env::new(&s);
    let login = |expiry: &str| {
        let args = [
            "login",
            "--email",
            ADMIN,
            "--password-stdin",
            "-x",
            expiry,
            "--json",
        ];
        let out = env.run(&args, &[], Some(&format!("{PASSWORD}\n")));
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.json()["token"]["expires_at"].clone()
    };
    let day = login("1d");
    let day = day.as_str().unwrap().to_owned();
    // The saved one-day token cannot make a longer-lived personal token…
    let longer = env.run(
        &["tokens", "create", "personal", "-n", "laptop", "-x", "30d"],
        &[],
        None,
    );
    assert_eq!(longer.code, 1, "{}", longer.stderr);
    assert!(longer.stderr.contains("expires_in"), "{}", longer.stderr);
    // …and one asked for without a lifetime gets the default cut to the login's expiry.
    let child = env.ok(
        &["tokens", "create", "personal", "-n", "child", "--json"],
        &[],
    );
    let child = child.json()["expires_at"].as_str().unwrap().to_owned();
    assert!(child <= day, "{child} is later than {day}");
    // A password login can give a longer life; `never` asks for one that never expires.
    assert!(login("never").is_null());
}

#[test]
fn errors_are_one_line_with_the_fix_and_documented_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let env = setup(&s);
    let missing_app = env.run(&["env", "list"], &[], None);
    assert_eq!(missing_app.code, 2);
    assert!(missing_app.stderr.contains("-a APP") && missing_app.stderr.contains("GANTRY_APP"));
    let usage = env.run(&["tokens", "create", "deploy", "--no-such-flag"], &[], None);
    assert_eq!(usage.code, 2);
    let bad_expiry = env.run(
        &["tokens", "create", "deploy", "-a", "web", "-x", "90x"],
        &[],
        None,
    );
    assert_eq!(bad_expiry.code, 1);
    assert!(
        bad_expiry.stderr.starts_with("error: expires_in:"),
        "{}",
        bad_expiry.stderr
    );
    assert_eq!(bad_expiry.stderr.lines().count(), 1);
    let malformed = env.run(&["orgs", "list"], &[("GANTRY_TOKEN", "not-a-token")], None);
    assert_eq!(malformed.code, 3);
    assert!(malformed.stderr.contains("GANTRY_TOKEN") && malformed.stderr.contains("gantry login"));
    let forbidden = {
        let (_, viewer) = create(&env, &["org", "-o", "acme", "--role", "viewer"]);
        env.run(
            &["env", "set", "-a", "web", "A=1"],
            &[("GANTRY_TOKEN", &viewer)],
            None,
        )
    };
    assert_eq!(forbidden.code, 3);
    assert!(forbidden.stderr.contains("may not"), "{}", forbidden.stderr);
}

#[test]
fn scan_finds_planted_tokens_and_ignores_near_misses_and_random_strings() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("repo");
    std::fs::create_dir_all(tree.join("config/nested")).unwrap();
    std::fs::create_dir_all(tree.join(".git")).unwrap();
    let deploy = PlainToken::generate(TokenKind::Deploy);
    let personal = PlainToken::generate(TokenKind::Personal);
    let raw_d = deploy.expose_secret();
    let raw_p = personal.expose_secret();
    std::fs::write(
        tree.join("config/nested/.env"),
        format!("# ci\nGANTRY_TOKEN={raw_d}\n"),
    )
    .unwrap();
    std::fs::write(
        tree.join("deploy.yml"),
        format!("steps:\n  - run: gantry deploy\n    env:\n      TOKEN: \"{raw_p}\"\n"),
    )
    .unwrap();
    std::fs::write(tree.join(".git/objects"), raw_d).unwrap(); // .git is skipped

    // Near misses: a wrong checksum, an unknown kind, one character short, glued into a longer word.
    let mut wrong_sum = raw_d.to_owned();
    let last = wrong_sum.pop().unwrap();
    wrong_sum.push(if last == 'a' { 'b' } else { 'a' });
    let near = format!(
        "{wrong_sum}\ngtx_{}\n{}\nx{raw_d}\n{raw_d}y\n",
        &raw_d[4..],
        &raw_d[..39]
    );
    std::fs::write(tree.join("near-misses.txt"), near).unwrap();
    // Random base62 strings shaped like tokens: the checksum rejects them.
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut random = String::new();
    for _ in 0..2000 {
        random.push_str("gtd_");
        for _ in 0..36 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            random.push(alphabet[(seed % 62) as usize] as char);
        }
        random.push('\n');
    }
    std::fs::write(tree.join("random.txt"), random).unwrap();

    let env = Env {
        home: tempfile::tempdir().unwrap(),
        url: "http://127.0.0.1:9".into(),
    };
    let out = env.run(&["scan", tree.to_str().unwrap()], &[], None);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(out
        .stdout
        .contains(&format!(".env:2: {}", deploy.display_prefix())));
    assert!(out
        .stdout
        .contains(&format!("deploy.yml:4: {}", personal.display_prefix())));
    assert!(
        !out.stdout.contains(raw_d) && !out.stdout.contains(raw_p),
        "scan prints prefixes only"
    );
    let json = env.run(&["scan", tree.to_str().unwrap(), "--json"], &[], None);
    assert_eq!(json.json().as_array().unwrap().len(), 2);

    // A clean tree passes (pre-commit hook use).
    std::fs::remove_file(tree.join("config/nested/.env")).unwrap();
    std::fs::remove_file(tree.join("deploy.yml")).unwrap();
    let clean = env.run(&["scan", tree.to_str().unwrap()], &[], None);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
}

#[test]
fn help_has_examples_and_completions_generate() {
    let env = Env {
        home: tempfile::tempdir().unwrap(),
        url: "http://127.0.0.1:9".into(),
    };
    for cmd in [
        vec!["--help"],
        vec!["tokens", "create", "deploy", "--help"],
        vec!["tokens", "list", "--help"],
        vec!["deploy", "--help"],
        vec!["scan", "--help"],
        vec!["serve", "--help"],
    ] {
        let out = env.ok(&cmd, &[]);
        assert!(
            out.stdout.contains("Example"),
            "`gantry {}` has no examples",
            cmd.join(" ")
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = env.ok(&["completions", shell], &[]);
        assert!(out.stdout.contains("gantry") && out.stdout.len() > 1000);
    }
}

#[test]
fn alerts_commands_manage_rules_print_the_secret_once_and_show_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            ("GANTRY_ADMIN_EMAIL", ADMIN),
            ("GANTRY_ADMIN_PASSWORD", PASSWORD),
            ("GANTRY_ALERTS_ALLOW_NETWORKS", "127.0.0.0/8"),
        ],
    );
    let env = setup(&server);
    let receiver = crate::harness::Receiver::start(crate::harness::Answer::Ok);
    let url = receiver.url.clone();

    // The secret alone on stdout, the notice on stderr.
    let out = env.ok(
        &[
            "alerts",
            "create",
            "-o",
            "acme",
            "--name",
            "hooks",
            "--events",
            "ping,release.created",
            "--target",
            &url,
        ],
        &[],
    );
    let secret = out.stdout.trim().to_owned();
    assert!(
        secret.starts_with("whsec_") && !secret.contains(' '),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("only time"), "{}", out.stderr);
    let rules = env
        .ok(&["alerts", "list", "-o", "acme", "--json"], &[])
        .json();
    let id = rules[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        rules[0]["events"],
        serde_json::json!(["ping", "release.created"])
    );
    let listed = env.ok(&["alerts", "list", "-o", "acme"], &[]);
    assert!(!listed.stdout.contains(&secret[6..]) && listed.stdout.contains("hooks"));

    // A test ping reaches the receiver, and the deliveries say so.
    let test = env
        .ok(&["alerts", "test", &id, "-o", "acme", "--json"], &[])
        .json();
    let event = test[0]["event_id"].as_str().unwrap().to_owned();
    let mut delivered = false;
    for _ in 0..100 {
        let list = env
            .ok(&["alerts", "deliveries", &id, "-o", "acme", "--json"], &[])
            .json();
        if list[0]["state"] == "delivered" {
            delivered = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(delivered, "the ping was not delivered");
    let seen = receiver.seen();
    assert!(
        seen.iter()
            .any(|r| r.webhook_id == event && r.head.contains("webhook-signature: v1,")),
        "{seen:?}"
    );
    let table = env.ok(&["alerts", "deliveries", &id, "-o", "acme"], &[]);
    assert!(
        table.stdout.contains("delivered") && table.stdout.contains("ping"),
        "{}",
        table.stdout
    );

    // A new secret, once; off and on; gone.
    let rotated = env.ok(&["alerts", "rotate-secret", &id, "-o", "acme", "-q"], &[]);
    let new_secret = rotated.stdout.trim();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    assert!(rotated.stderr.is_empty(), "{}", rotated.stderr);
    let off = env
        .ok(&["alerts", "disable", &id, "-o", "acme", "--json"], &[])
        .json();
    assert_eq!(off[0]["enabled"], false);
    let on = env
        .ok(&["alerts", "enable", &id, "-o", "acme", "--json"], &[])
        .json();
    assert_eq!(on[0]["enabled"], true);
    // A mail rule has no secret.
    let mail = env.ok(
        &[
            "alerts",
            "create",
            "-o",
            "acme",
            "--name",
            "mail",
            "--events",
            "token.expiring",
            "--target",
            "mailto:ops@example.com",
        ],
        &[],
    );
    assert!(
        mail.stdout.is_empty() && mail.stderr.contains("no signing secret"),
        "{}{}",
        mail.stdout,
        mail.stderr
    );
    env.ok(&["alerts", "delete", &id, "-o", "acme"], &[]);
    let bad = env.run(
        &[
            "alerts",
            "create",
            "-o",
            "acme",
            "--name",
            "x",
            "--events",
            "ping",
            "--target",
            "https://10.0.0.1/h",
        ],
        &[],
        None,
    );
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("target"), "{}", bad.stderr);
    let _ = server;
}

#[test]
fn a_ci_job_deploys_with_no_stored_secret_by_oidc_token_exchange() {
    use crate::issuer::{Issuer, ACTIONS_REQUEST_TOKEN};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let issuer = rt.block_on(Issuer::start());
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &[
            ("GANTRY_ADMIN_EMAIL", ADMIN),
            ("GANTRY_ADMIN_PASSWORD", PASSWORD),
            ("GANTRY_OIDC_ALLOW_INSECURE_ISSUERS", issuer.url.as_str()),
        ],
    );
    let admin = setup(&s);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    // The operator reads the ids from a sample token of the job (nothing is looked up).
    let sample = admin.home.path().join("sample.jwt");
    std::fs::write(
        &sample,
        issuer.sign("rsa-1", &issuer.github_claims(now(), "sample")),
    )
    .unwrap();
    let p = admin
        .ok(
            &[
                "trust",
                "create",
                "-a",
                "web",
                "--name",
                "main",
                "--preset",
                "github",
                "--issuer",
                &issuer.url,
                "--from-jwt",
                sample.to_str().unwrap(),
                "--ref",
                "refs/heads/main",
                "--json",
            ],
            &[],
        )
        .json();
    assert_eq!(p["conditions"]["repository_id"], "1001", "{p}");
    assert_eq!(p["conditions"]["repository_owner_id"], "2002");
    assert_eq!(p["conditions"]["repository"], "octo/web");
    let id = p["id"].as_str().unwrap().to_owned();
    let listed = admin
        .ok(&["trust", "list", "-a", "web", "--json"], &[])
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // The sample was made for another audience: `trust test` says so, claim by claim.
    let t = admin.run(
        &["trust", "test", &id, sample.to_str().unwrap(), "-a", "web"],
        &[],
        None,
    );
    assert_eq!(t.code, 1, "{}{}", t.stdout, t.stderr);
    assert!(t.stdout.contains("aud"), "{}", t.stdout);
    assert!(t.stdout.contains("refused"), "{}", t.stdout);

    // GitHub Actions: the job's token service, no secret, an empty HOME.
    let gh = Env::new(&s);
    let actions_url = issuer.actions_request_url();
    let vars = [
        ("ACTIONS_ID_TOKEN_REQUEST_URL", actions_url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ACTIONS_REQUEST_TOKEN),
        ("GANTRY_APP", "web"),
    ];
    let build = gh.home.path().join("build.bin");
    std::fs::write(&build, b"release one").unwrap();
    let out = gh.ok(
        &["deploy", build.to_str().unwrap(), "--label", "gh1"],
        &vars,
    );
    assert!(
        out.stdout.contains("Released web v1 [gh1]"),
        "{}",
        out.stdout
    );
    gh.ok(&["env", "set", "LOG_LEVEL=info"], &vars);
    let who = gh.ok(&["tokens", "whoami", "--json"], &vars).json();
    assert_eq!(who["token_source"], "OIDC token exchange");
    assert_eq!(who["whoami"]["kind"], "deploy");
    assert!(!gh.config_file().exists(), "nothing is kept on disk");
    // A job without `permissions: id-token: write` is told what is missing.
    let denied = gh.run(
        &["deploy", build.to_str().unwrap()],
        &[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", actions_url.as_str()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong"),
            ("GANTRY_APP", "web"),
        ],
        None,
    );
    assert_eq!(denied.code, 3, "{}", denied.stderr);
    assert!(
        denied.stderr.contains("id-token: write"),
        "{}",
        denied.stderr
    );

    // GitLab's id_tokens (any CI): one JWT, exchanged once for several commands.
    let gl = Env::new(&s);
    let jwt = issuer.sign("ec-1", &issuer.github_claims(now(), &s.base));
    let id_token = [("GANTRY_ID_TOKEN", jwt.as_str())];
    let exchanged = gl.ok(&["trust", "exchange", "-a", "web", "-q"], &id_token);
    let token = exchanged.stdout.trim().to_owned();
    assert!(token.starts_with("gtd_"), "{}", exchanged.stdout);
    assert!(
        exchanged.stderr.is_empty(),
        "-q prints only the token: {}",
        exchanged.stderr
    );
    let with_token = [("GANTRY_TOKEN", token.as_str()), ("GANTRY_APP", "web")];
    std::fs::write(&build, b"release two").unwrap();
    let out = gl.ok(
        &["deploy", build.to_str().unwrap(), "--label", "gl1"],
        &with_token,
    );
    assert!(
        out.stdout.contains("Released web v2 [gl1]"),
        "{}",
        out.stdout
    );
    // The same JWT again is refused, with the way to find out why.
    let again = gl.run(
        &["deploy", build.to_str().unwrap()],
        &[("GANTRY_ID_TOKEN", jwt.as_str()), ("GANTRY_APP", "web")],
        None,
    );
    assert_eq!(again.code, 3, "{}", again.stderr);
    assert!(
        again.stderr.contains("gantry trust test"),
        "{}",
        again.stderr
    );
    assert!(!again.stderr.contains(&jwt) && !again.stdout.contains(&jwt));
    assert!(!gl.config_file().exists());

    // Deleting the policy revokes what it issued.
    admin.ok(&["trust", "delete", &id, "-a", "web"], &[]);
    let gone = gl.run(&["tokens", "whoami"], &with_token, None);
    assert_eq!(gone.code, 3, "{}", gone.stderr);
}

#[test]
fn a_ci_job_renews_its_own_deploy_token_made_with_rotate_self() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let admin = setup(&s);
    let (_, raw) = create(
        &admin,
        &[
            "deploy",
            "-a",
            "web",
            "-n",
            "ci",
            "-x",
            "1d",
            "--rotate-self",
            "--capabilities",
            "deploy,read",
        ],
    );
    let shown = admin
        .ok(&["tokens", "list", "-a", "web", "--json"], &[])
        .json();
    assert_eq!(shown[0]["rotate_self"], true, "{shown}");
    assert_eq!(
        shown[0]["capabilities"],
        serde_json::json!(["read", "deploy"])
    );
    let ci = Env::new(&s);
    let out = ci.ok(
        &["tokens", "rotate", "self", "-x", "30d", "-q"],
        &[("GANTRY_TOKEN", raw.as_str())],
    );
    let renewed = out.stdout.trim().to_owned();
    assert!(
        renewed.starts_with("gtd_") && renewed != raw,
        "{}",
        out.stdout
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let who = ci.ok(&["tokens", "whoami"], &[("GANTRY_TOKEN", renewed.as_str())]);
    assert!(
        who.stdout.contains("may:") && who.stdout.contains("read, deploy"),
        "{}",
        who.stdout
    );
    let old = ci.run(
        &["tokens", "whoami"],
        &[("GANTRY_TOKEN", raw.as_str())],
        None,
    );
    assert_eq!(old.code, 3, "the old value is gone: {}", old.stdout);
    // A token made without it is told how it is rotated instead.
    let (_, plain) = create(&admin, &["deploy", "-a", "web", "-n", "plain"]);
    let refused = ci.run(
        &["tokens", "rotate", "self"],
        &[("GANTRY_TOKEN", plain.as_str())],
        None,
    );
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("rotate_self"), "{}", refused.stderr);
}

#[test]
fn restrictions_from_the_cli_networks_org_policy_and_rotation_until_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let admin = setup(&s);
    // The org policy, set and shown.
    let out = admin.ok(
        &[
            "orgs",
            "set-policy",
            "acme",
            "--max-lifetime",
            "30d",
            "--require-expiry",
        ],
        &[],
    );
    assert!(out.stdout.contains("max lifetime: 30d"), "{}", out.stdout);
    let shown = admin.ok(&["orgs", "policy", "acme", "--json"], &[]).json();
    assert_eq!(shown["effective"]["require_expiry"], true, "{shown}");
    let refused = admin.run(
        &["tokens", "create", "deploy", "-a", "web", "-x", "60d"],
        &[],
        None,
    );
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("this org's maximum token lifetime of 30d"),
        "{}",
        refused.stderr
    );

    // A token usable from loopback only works here; one for another network does not.
    let (id, here) = create(
        &admin,
        &[
            "deploy",
            "-a",
            "web",
            "-n",
            "here",
            "--allowed-ips",
            "127.0.0.0/8,::1",
        ],
    );
    let (_, elsewhere) = create(
        &admin,
        &[
            "deploy",
            "-a",
            "web",
            "-n",
            "there",
            "--allowed-ips",
            "192.0.2.0/24",
        ],
    );
    let ci = Env::new(&s);
    let who = ci.ok(&["tokens", "whoami"], &[("GANTRY_TOKEN", here.as_str())]);
    assert!(
        who.stdout.contains("from:") && who.stdout.contains("127.0.0.0/8, ::1/128"),
        "{}",
        who.stdout
    );
    let away = ci.run(
        &["tokens", "whoami"],
        &[("GANTRY_TOKEN", elsewhere.as_str())],
        None,
    );
    assert_eq!(away.code, 3, "{}", away.stderr);
    assert!(
        away.stderr.contains("not allowed from this address"),
        "{}",
        away.stderr
    );
    assert!(!away.stderr.contains(elsewhere.as_str()));

    // Rotation whose old value ends at the new one's first use.
    let out = admin.ok(
        &[
            "tokens",
            "rotate",
            &id,
            "--grace",
            "1d",
            "--until-first-use",
            "-q",
        ],
        &[],
    );
    let new = out.stdout.trim().to_owned();
    let show = admin.ok(&["tokens", "show", &id], &[]);
    assert!(
        show.stdout.contains("or the new value's first use"),
        "{}",
        show.stdout
    );
    ci.ok(&["tokens", "whoami"], &[("GANTRY_TOKEN", here.as_str())]);
    ci.ok(&["tokens", "whoami"], &[("GANTRY_TOKEN", new.as_str())]);
    let old = ci.run(
        &["tokens", "whoami"],
        &[("GANTRY_TOKEN", here.as_str())],
        None,
    );
    assert_eq!(
        old.code, 3,
        "the old value ended at the new one's first use: {}",
        old.stdout
    );
    let usage = admin.run(&["tokens", "rotate", &id, "--until-first-use"], &[], None);
    assert_eq!(usage.code, 2, "needs --grace: {}", usage.stderr);
}

#[test]
fn scan_revoke_reports_a_planted_live_token_and_kills_it_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path());
    let admin = setup(&s);
    let (live_id, live) = create(&admin, &["deploy", "-a", "web", "-n", "leaked"]);
    let (_, other) = create(&admin, &["deploy", "-a", "web", "-n", "safe"]);
    let tree = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tree.path().join("src")).unwrap();
    std::fs::write(
        tree.path().join("src/settings.py"),
        format!("TOKEN = \"{live}\"\n"),
    )
    .unwrap();
    std::fs::write(tree.path().join("README"), "nothing here\n").unwrap();
    // No credential at all: the endpoint is public. The configured server is the default.
    let finder = Env::new(&s);
    let tree_arg = tree.path().to_str().unwrap();
    let out = finder.run(&["scan", "--revoke", tree_arg], &[], None);
    assert_eq!(out.code, 1, "tokens found: {}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("reported 1 token to"), "{}", out.stderr);
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(live.as_str()),
            "the value is never printed: {text}"
        );
    }
    let who = finder.run(
        &["tokens", "whoami"],
        &[("GANTRY_TOKEN", live.as_str())],
        None,
    );
    assert_eq!(who.code, 3, "revoked: {}", who.stderr);
    finder.ok(&["tokens", "whoami"], &[("GANTRY_TOKEN", other.as_str())]);
    // Its owner sees why it died.
    let shown = admin.ok(&["tokens", "show", &live_id], &[]).stdout;
    assert!(shown.contains("(leak_report)"), "{shown}");
    assert!(shown.contains("via credentials_revoke"), "{shown}");
    // --revoke=URL names another server; a tree without tokens reports nothing and passes.
    let clean = tempfile::tempdir().unwrap();
    std::fs::write(clean.path().join("a.txt"), "hello\n").unwrap();
    let url = format!("--revoke={}", s.base);
    let out = finder.run(&["scan", &url, clean.path().to_str().unwrap()], &[], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("reported 0 tokens"), "{}", out.stderr);
}

/// `pre-commit` (PyPI) from `GANTRY_PRE_COMMIT`, set by .ci/run; without it the test is
/// skipped loudly, unless `GANTRY_REQUIRE_PRE_COMMIT` makes it mandatory.
fn pre_commit() -> Option<String> {
    match std::env::var("GANTRY_PRE_COMMIT") {
        Ok(p) if Path::new(&p).exists() => Some(p),
        _ => {
            assert!(
                std::env::var_os("GANTRY_REQUIRE_PRE_COMMIT").is_none(),
                "GANTRY_REQUIRE_PRE_COMMIT is set but pre-commit is not installed (pip install pre-commit)"
            );
            eprintln!("\n!!! SKIPPING the pre-commit hook test: pre-commit not installed !!!\n");
            None
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_pre_commit_hook_fails_on_a_planted_token_and_passes_a_clean_tree() {
    let Some(pre_commit) = pre_commit() else {
        return;
    };
    // A hook repository holding this repository's .pre-commit-hooks.yaml, as published.
    let hooks = tempfile::tempdir().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.pre-commit-hooks.yaml");
    std::fs::copy(&manifest, hooks.path().join(".pre-commit-hooks.yaml")).unwrap();
    git(hooks.path(), &["init", "-q"]);
    git(hooks.path(), &["add", "."]);
    git(hooks.path(), &["commit", "-q", "-m", "hooks"]);
    let rev = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(hooks.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // A project using it, with the README's .pre-commit-config.yaml lines.
    let project = tempfile::tempdir().unwrap();
    git(project.path(), &["init", "-q"]);
    std::fs::write(
        project.path().join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: gantry-scan\n",
            hooks.path().display(),
            rev.trim()
        ),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_gantry"))
        .parent()
        .unwrap()
        .to_owned();
    let run = |files: &[&str]| {
        let out = Command::new(&pre_commit)
            .args(["run", "--files"])
            .args(files)
            .current_dir(project.path())
            .env("PRE_COMMIT_HOME", cache.path())
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin_dir.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    std::fs::write(project.path().join("clean.txt"), "no secrets here\n").unwrap();
    git(project.path(), &["add", "."]);
    let (code, text) = run(&["clean.txt"]);
    assert_eq!(code, 0, "a clean file passes: {text}");
    let planted = PlainToken::generate(TokenKind::Deploy);
    std::fs::write(
        project.path().join("deploy.env"),
        format!("GANTRY_TOKEN={}\n", planted.expose_secret()),
    )
    .unwrap();
    git(project.path(), &["add", "."]);
    let (code, text) = run(&["clean.txt", "deploy.env"]);
    assert_ne!(code, 0, "a planted token fails the hook: {text}");
    assert!(text.contains("deploy.env:1:"), "{text}");
    assert!(
        !text.contains(planted.expose_secret()),
        "only the prefix is shown: {text}"
    );
}
