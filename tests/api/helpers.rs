//! `spawn_app()` (in-process, zero2prod-style) and `ServerProcess` (the real binary).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::sync::Arc;

use subvisor::config::Settings;
use subvisor::startup::Application;
use subvisor_actors::clock::{Clock, SystemClock};
use subvisor_testkit::scratch::scratch_dir;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The database backend a test runs on.
pub use subvisor_testkit::Backend as Db;

pub(crate) use subvisor_testkit::both_backends;

/// Polls `f` every 100 ms until it returns true; panics naming `what` after `limit`.
pub async fn eventually(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct TestApp {
    /// The running application's actors and store (tests may read or seed the store).
    pub registry: subvisor_actors::Registry,
    /// The background workers' supervisor (tests inject panics through it).
    pub workers: subvisor_actors::workers::Supervisor,
    pub ops: String,
    pub public: String,
    pub http: reqwest::Client,
    /// The database this instance uses (a second instance may share it).
    pub db_url: String,
    stop: Option<oneshot::Sender<()>>,
    _dir: TempDir,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.ops))
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.ops))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.ops))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// Credits `minor` to the user's balance through the ops API.
    pub async fn credit(&self, user: i64, minor: i64) {
        let (status, body) = self
            .post(
                &format!("/ops/users/{user}/balance"),
                serde_json::json!({ "amount_minor": minor, "note": "test credit" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Settings for tests: a fresh database, both listeners on port 0.
pub fn test_settings(db: Db, dir: &Path) -> Settings {
    let mut s = Settings::load(None).expect("defaults load");
    s.database.url = match db {
        Db::Sqlite => format!("sqlite://{}/subvisor.db", dir.display()),
        Db::Postgres => subvisor_testkit::shared_pg()
            .fresh_database()
            .expect("database"),
    };
    s.http.public_addr = "127.0.0.1:0".parse().expect("addr");
    s.http.ops_addr = "127.0.0.1:0".parse().expect("addr");
    s
}

pub async fn spawn_app(db: Db, token: Option<&str>) -> TestApp {
    spawn_app_with(db, Arc::new(SystemClock), |s| {
        s.ops.token = token.map(|t| t.to_owned().into());
    })
    .await
}

/// `spawn_app` with a clock and any settings changed by `configure`.
pub async fn spawn_app_with(
    db: Db,
    clock: Arc<dyn Clock>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = scratch_dir("subvisor-app-").expect("temp dir");
    let settings = test_settings(db, dir.path());
    start_app(settings, dir, clock, configure).await
}

/// Another instance on `app`'s database (PostgreSQL: several instances share one).
pub async fn spawn_second_instance(
    app: &TestApp,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = scratch_dir("subvisor-app-").expect("temp dir");
    let mut settings = test_settings(Db::Sqlite, dir.path());
    settings.database.url = app.db_url.clone();
    start_app(settings, dir, Arc::new(SystemClock), configure).await
}

async fn start_app(
    mut settings: Settings,
    dir: TempDir,
    clock: Arc<dyn Clock>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    configure(&mut settings);
    let db_url = settings.database.url.clone();
    let app = Application::build_with_clock(settings, clock)
        .await
        .expect("app builds");
    let registry = app.registry().clone();
    let workers = app.supervisor().clone();
    let ops = format!("http://127.0.0.1:{}", app.ops_port());
    let public = format!("http://127.0.0.1:{}", app.public_port());
    let (stop, stopped) = oneshot::channel::<()>();
    actix_rt::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        registry,
        workers,
        ops,
        public,
        // No pooled connections: a pooled one the server closed for idling
        // (its keep-alive is 5 s, a loaded machine reaches it) would fail the
        // next request with `IncompleteMessage`.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("http client"),
        db_url,
        stop: Some(stop),
        _dir: dir,
    }
}

/// The real `subvisor` binary running `serve` in its own working directory.
pub struct ServerProcess {
    pub child: Child,
    pub ops: String,
    pub ops_addr: String,
    pub public: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_subvisor"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SUBVISOR__") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd
}

impl ServerProcess {
    /// Starts `subvisor serve` in `cwd` with no configuration but `env`
    /// (listeners on port 0, JSON logs), and waits until it listens.
    pub fn start(cwd: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_with_args(cwd, &[], env)
    }

    /// As [`start`](Self::start), with extra arguments after `serve`.
    // The child is kept in `Self` and waited for in `Drop`.
    #[allow(clippy::zombie_processes)]
    pub fn start_with_args(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = bin();
        cmd.arg("serve")
            .args(args)
            .current_dir(cwd)
            .env("SUBVISOR__HTTP__PUBLIC_ADDR", "127.0.0.1:0")
            .env("SUBVISOR__HTTP__OPS_ADDR", "127.0.0.1:0")
            .env("SUBVISOR__LOG__FORMAT", "json")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn subvisor");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "subvisor did not start listening in time:\n{}",
                    seen.join("\n")
                )
            });
            seen.push(line.clone());
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let (Some(ops), Some(public)) =
                (event["ops_port"].as_u64(), event["public_port"].as_u64())
            {
                return Self {
                    child,
                    ops: format!("http://127.0.0.1:{ops}"),
                    ops_addr: format!("127.0.0.1:{ops}"),
                    public: format!("http://127.0.0.1:{public}"),
                    lines,
                    seen,
                };
            }
        }
    }

    /// Every log line printed so far.
    pub fn logs(&mut self) -> String {
        self.seen.extend(self.lines.try_iter());
        self.seen.join("\n")
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGTERM, then asserts a clean exit (code 0) within 10 s.
    pub fn stop_cleanly(&mut self) {
        self.signal("TERM");
        let code = self
            .wait_exit(Duration::from_secs(10))
            .and_then(|s| s.code());
        assert_eq!(code, Some(0), "exit after SIGTERM:\n{}", self.logs());
    }

    /// Waits for exit; `None` if it did not exit within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Days between a user view's `created_at` and `expires_at` (0 without a subscription).
pub fn days_granted(view: &serde_json::Value) -> i64 {
    if view["expires_at"].is_null() {
        return 0;
    }
    let expires: chrono::DateTime<chrono::Utc> = view["expires_at"]
        .as_str()
        .expect("expiry")
        .parse()
        .expect("time");
    let created: chrono::DateTime<chrono::Utc> = view["created_at"]
        .as_str()
        .expect("created")
        .parse()
        .expect("time");
    ((expires - created).num_minutes() as f64 / 1440.0).round() as i64
}
