//! A real `gantry serve` process on a random port with its own data directory.

use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: PathBuf,
}

impl Server {
    pub fn start(data_dir: &Path, envs: &[(&str, &str)]) -> Server {
        let server = Server::spawn(data_dir, envs);
        server.wait_ready();
        server
    }

    /// Starts with `ops@example.com` / [`PASSWORD`] as the first administrator, plus `envs`.
    pub fn start_with_admin(data_dir: &Path, envs: &[(&str, &str)]) -> Server {
        let mut all = vec![
            ("GANTRY_ADMIN_EMAIL", "ops@example.com"),
            ("GANTRY_ADMIN_PASSWORD", PASSWORD),
        ];
        all.extend_from_slice(envs);
        Server::start(data_dir, &all)
    }

    /// Starts it as [`Server::start`] does, under `umask` (e.g. `"000"`).
    pub fn start_under_umask(data_dir: &Path, envs: &[(&str, &str)], umask: &str) -> Server {
        let server = Server::spawn_with(data_dir, envs, Some(umask));
        server.wait_ready();
        server
    }

    /// Starts the process without waiting for it to listen.
    pub fn spawn(data_dir: &Path, envs: &[(&str, &str)]) -> Server {
        Server::spawn_with(data_dir, envs, None)
    }

    fn spawn_with(data_dir: &Path, envs: &[(&str, &str)], umask: Option<&str>) -> Server {
        let port = free_port();
        let log = data_dir.with_extension(format!("{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let mut cmd = match umask {
            None => Command::new(env!("CARGO_BIN_EXE_gantry")),
            Some(umask) => gantry_under_umask(umask),
        };
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("GANTRY_ADMIN_EMAIL")
            .env_remove("GANTRY_ADMIN_PASSWORD")
            .env("GANTRY_LOG", "debug,sqlx=debug,tower_http=trace,hyper=info")
            .env("NO_COLOR", "1")
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// The address it listens on (`127.0.0.1:PORT`).
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            // The server binds only after migrations and first-run bootstrap are done.
            if std::net::TcpStream::connect(self.addr()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "server did not become ready: {}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// SIGTERM and wait: the graceful path.
    /// Waits (up to 20 s) for a server that should not start to exit: its status and log.
    pub fn refused(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, std::fs::read_to_string(&self.log).unwrap());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("the server started although it should have refused");
    }

    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return std::fs::read_to_string(&self.log).unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("server did not stop on SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

pub async fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut rb = client.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub async fn login(base: &str, email: &str, password: &str) -> (u16, Value) {
    call(
        "POST",
        &format!("{base}/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

/// Logs in as `email` (with [`PASSWORD`]) and creates org `acme` with app `web`: the personal
/// token.
pub async fn admin_with_app(base: &str, email: &str) -> String {
    let (status, body) = login(base, email, PASSWORD).await;
    assert_eq!(status, 201, "{body}");
    let admin = body["token"].as_str().unwrap().to_owned();
    for (path, slug) in [("/v1/orgs", "acme"), ("/v1/orgs/acme/apps", "web")] {
        let (status, body) = call(
            "POST",
            &format!("{base}{path}"),
            Some(&admin),
            Some(json!({ "slug": slug })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    admin
}

/// Runs `gantry admin create-user --email EMAIL [--admin] --data-dir DATA` with `password` on
/// standard input, as an operator would on the server's machine.
pub fn create_user_offline(
    data: &Path,
    email: &str,
    admin: bool,
    password: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut args = vec!["admin", "create-user", "--email", email];
    if admin {
        args.push("--admin");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(&args)
        .arg("--data-dir")
        .arg(data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// nginx from Debian, if present; `GANTRY_REQUIRE_NGINX` (set by .ci/run) makes it mandatory.
pub fn nginx(test: &str) -> Option<&'static str> {
    let path = "/usr/sbin/nginx";
    if Path::new(path).exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("GANTRY_REQUIRE_NGINX").is_none(),
        "GANTRY_REQUIRE_NGINX is set but {path} is missing (apt-get install nginx-light)"
    );
    use std::io::Write;
    // Straight to the terminal, past the test harness's output capture.
    let _ = writeln!(
        std::io::stderr(),
        "\n!!! SKIPPING {test}: {path} not installed !!!\n"
    );
    None
}

/// A foreground nginx with `http_block` as its `http {}` contents; killed on drop.
pub struct Nginx {
    child: Child,
    /// Its configuration, logs and temp files; removed with it.
    _dir: tempfile::TempDir,
}

impl Nginx {
    pub fn start(binary: &str, listen_port: u16, http_block: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().display();
        // One process, no workers: killing it kills nginx whole (an orphaned worker would keep
        // the test's output pipes open and hang whoever reads them).
        let conf = format!(
            "master_process off;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
             events {{ worker_connections 256; }}\nhttp {{\n access_log off;\n\
             client_body_temp_path {p}/body; proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fastcgi;\n\
             uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n{http_block}\n}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = Command::new(binary)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", listen_port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "nginx exited: {status}: {}",
                    std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `gantry` binary run through `sh` under `umask`: `sh` sets it and `exec`s gantry, so the
/// child's pid is gantry's. Add gantry's arguments to the command.
pub fn gantry_under_umask(umask: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_gantry"));
    cmd
}

/// Every file and directory under `root` (itself excluded) with its permission bits.
#[cfg(unix)]
pub fn modes_under(root: &Path) -> Vec<(PathBuf, bool, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                todo.push(path.clone());
            }
            found.push((path, meta.is_dir(), meta.permissions().mode() & 0o7777));
        }
    }
    found
}

/// The permission bits of `path`.
#[cfg(unix)]
pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Asserts every directory under `root` is 0700 and every file 0600.
#[cfg(unix)]
pub fn assert_all_private(root: &Path) {
    for (path, is_dir, mode) in modes_under(root) {
        let want = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} has mode {mode:04o}", path.display());
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How a [`Receiver`] answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Answer {
    /// 204 No Content.
    Ok,
    /// Reads the request and never answers, until the mode changes.
    Hang,
    /// 500 Internal Server Error.
    Fail,
}

/// One request a [`Receiver`] saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub webhook_id: String,
    pub head: String,
    pub body: String,
    /// Whether it was answered 204, rather than held or failed.
    pub answered: bool,
}

/// A webhook receiver on loopback (threads, no runtime): records every request's `webhook-id`,
/// head and body, and answers as [`Answer`] says.
pub struct Receiver {
    pub url: String,
    mode: std::sync::Arc<std::sync::Mutex<Answer>>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
}

impl Receiver {
    pub fn start(mode: Answer) -> Receiver {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(mode));
        let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
        let (m, s) = (mode.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (mode, seen) = (m.clone(), s.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    let mut head = String::new();
                    let mut length = 0usize;
                    let mut webhook_id = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        if lower.starts_with("webhook-id:") {
                            webhook_id = line["webhook-id:".len()..].trim().to_owned();
                        }
                        head.push_str(&line);
                    }
                    let mut body = vec![0u8; length];
                    let _ = reader.read_exact(&mut body);
                    let answer = *mode.lock().unwrap();
                    let record = Seen {
                        webhook_id,
                        head,
                        body: String::from_utf8_lossy(&body).into_owned(),
                        answered: answer == Answer::Ok,
                    };
                    if answer == Answer::Hang {
                        seen.lock().unwrap().push(record);
                        while *mode.lock().unwrap() == Answer::Hang {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        return; // dropped without an answer
                    }
                    let status: &[u8] = if answer == Answer::Fail {
                        b"500 Internal Server Error"
                    } else {
                        b"204 No Content"
                    };
                    let _ = reader.get_mut().write_all(
                        &[
                            b"HTTP/1.1 ",
                            status,
                            b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        ]
                        .concat(),
                    );
                    seen.lock().unwrap().push(record);
                });
            }
        });
        Receiver { url, mode, seen }
    }

    pub fn set(&self, answer: Answer) {
        *self.mode.lock().unwrap() = answer;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits up to `limit` for `done(seen)` to hold; the requests seen by then.
    pub async fn wait_for(&self, limit: Duration, done: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self.seen();
            if done(&seen) || Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
