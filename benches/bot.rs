//! Telegram updates per second through the bot: webhook POST → secret check →
//! parse → per-user dispatch → `UserActor` (and store) → the reply on a fake
//! Bot API server, plus the handling latency of each update (from the start
//! of its POST until the fake Bot API received the reply to that chat; no
//! Telegram latency is in it, the fake answers at once).
//!
//! Run with `cargo bench -p subvisor --bench bot`.
//!
//! The real `Application` runs in-process in webhook mode against
//! `subvisor_testkit::fake_telegram::FakeTelegram`, on a SQLite file (and a
//! fresh PostgreSQL database when `BENCH_BACKENDS` includes `postgres`).
//! Two phases, each over `BENCH_USERS` distinct users (default 2,000), posted
//! by `BENCH_CONCURRENCY` clients (default 32):
//!
//! * `/start`: a first contact: the user is created (one write transaction
//!   through their actor), the main menu is sent (`sendMessage`).
//! * button `Help`, paced at `BENCH_RATE` updates/s (default 200, 5 s): the
//!   handling latency of a bot that is not saturated.
//! * button `My subscription`: a read through the actor, the screen edited in
//!   place (`editMessageText`).
//!
//! The flood phases post as fast as the clients can (the webhook answers as
//! soon as the update is queued), so their latency is mostly queueing behind
//! the rest of the burst; the paced phase shows the handling time itself.
//!
//! Without `--bench` (e.g. `cargo test --all-targets`) it does a tiny smoke run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use subvisor::bot::callback::Callback;
use subvisor::config::{Settings, TelegramMode};
use subvisor::startup::Application;
use subvisor_actors::clock::SystemClock;
use subvisor_testkit::bench::{CpuSample, env_usize, machine_line, ms};
use subvisor_testkit::fake_telegram::FakeTelegram;
use tokio::sync::oneshot;

const TOKEN: &str = "123456:bench-token";
const SECRET: &str = "bench-secret-0123456789";
const FIRST_USER: i64 = 10_000_000;
static NEXT_UPDATE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let users = if smoke {
        20
    } else {
        env_usize("BENCH_USERS", 2000)
    };
    let concurrency = env_usize("BENCH_CONCURRENCY", 32);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite".into());
    println!("{}", machine_line());
    println!(
        "bot bench: {users} users, {concurrency} clients, webhook mode, fake Bot API on loopback"
    );
    subvisor_testkit::bench::block_on_actix(async move {
        for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
            run(backend, users, concurrency).await;
        }
    });
}

async fn run(backend: &str, users: usize, concurrency: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let fake = Arc::new(FakeTelegram::start(TOKEN).expect("fake telegram"));
    let mut s = Settings::load(None).expect("defaults load");
    s.database.url = match backend {
        "postgres" => tokio::task::spawn_blocking(|| {
            subvisor_testkit::shared_pg()
                .fresh_database()
                .expect("database")
        })
        .await
        .expect("pg"),
        _ => format!("sqlite://{}/subvisor.db", dir.path().display()),
    };
    s.http.public_addr = "127.0.0.1:0".parse().expect("addr");
    s.http.ops_addr = "127.0.0.1:0".parse().expect("addr");
    s.telegram.token = Some(TOKEN.to_owned().into());
    s.telegram.api_url = Some(fake.api_url());
    s.telegram.mode = TelegramMode::Webhook;
    s.telegram.webhook_url = Some("https://bench.example.com/telegram/webhook".into());
    s.telegram.webhook_secret = Some(SECRET.to_owned().into());
    s.telegram.user_rate_per_minute = 1_000_000;
    s.telegram.user_rate_burst = 1_000_000;
    let app = Application::build_with_clock(s, Arc::new(SystemClock))
        .await
        .expect("app builds");
    let url = format!("http://127.0.0.1:{}/telegram/webhook", app.public_port());
    let (stop, stopped) = oneshot::channel::<()>();
    actix_rt::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let env = Env {
        fake: fake.clone(),
        http: reqwest::Client::new(),
        url,
    };

    let start_updates: Vec<(i64, Value)> = (0..users as i64)
        .map(|i| {
            let user = FIRST_USER + i;
            (user, FakeTelegram::message(user, "/start", Some("en")))
        })
        .collect();
    phase(
        &env,
        &format!("{backend} /start (new user + menu)"),
        start_updates,
        "sendMessage",
        concurrency,
        None,
    )
    .await;

    let data = Callback::MySub.encode().expect("encodes");
    let menus = fake.calls_to("sendMessage");
    let callbacks: Vec<(i64, Value)> = (0..users as i64)
        .map(|i| {
            let user = FIRST_USER + i;
            let message_id = menus
                .iter()
                .rev()
                .find(|c| c.chat_id == Some(user))
                .and_then(|c| c.params.get("message_id").and_then(Value::as_i64))
                .unwrap_or(1);
            (user, FakeTelegram::callback(user, &data, message_id))
        })
        .collect();
    // Another button (Help: a read through the actor, an edit), paced at
    // BENCH_RATE updates/s (default 200): the latency of a bot not saturated.
    let rate = env_usize("BENCH_RATE", 200).max(1);
    let help = Callback::Help.encode().expect("encodes");
    let paced: Vec<(i64, Value)> = (0..users.min(rate * 5) as i64)
        .map(|i| {
            (
                FIRST_USER + i,
                FakeTelegram::callback(FIRST_USER + i, &help, 1),
            )
        })
        .collect();
    phase(
        &env,
        &format!("{backend} button Help (read + edit), paced at {rate}/s"),
        paced,
        "editMessageText",
        0,
        Some(Duration::from_secs(1) / rate as u32),
    )
    .await;
    phase(
        &env,
        &format!("{backend} button My subscription (read + edit)"),
        callbacks,
        "editMessageText",
        concurrency,
        None,
    )
    .await;
    let _ = stop.send(());
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Where updates go and replies are watched.
struct Env {
    fake: Arc<FakeTelegram>,
    http: reqwest::Client,
    url: String,
}

async fn phase(
    env: &Env,
    name: &str,
    updates: Vec<(i64, Value)>,
    reply: &str,
    concurrency: usize,
    pace: Option<Duration>,
) {
    let (fake, http, url) = (&env.fake, &env.http, env.url.as_str());
    fake.clear_calls();
    let n = updates.len();
    let cpu = CpuSample::take();
    let started = Instant::now();
    let mut clients = Vec::new();
    if let Some(every) = pace {
        let mut tick = tokio::time::interval(every);
        for (user, update) in updates.clone() {
            tick.tick().await;
            let (http, url) = (http.clone(), url.to_owned());
            clients.push(tokio::spawn(async move {
                vec![(user, post(&http, &url, update).await)]
            }));
        }
    }
    let queue = Arc::new(tokio::sync::Mutex::new(updates.into_iter()));
    for _ in 0..if pace.is_some() { 0 } else { concurrency } {
        let queue = queue.clone();
        let http = http.clone();
        let url = url.to_owned();
        clients.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let next = queue.lock().await.next();
                let Some((user, update)) = next else { break };
                sent.push((user, post(&http, &url, update).await));
            }
            sent
        }));
    }
    let mut posted = std::collections::HashMap::new();
    for c in clients {
        for (user, at) in c.await.expect("client") {
            posted.insert(user, at);
        }
    }
    let replies = fake
        .wait_for_calls_async(reply, n, Duration::from_secs(300))
        .await;
    let elapsed = started.elapsed();
    if replies.len() < n {
        let calls = fake.calls();
        let last: Vec<_> = calls
            .iter()
            .rev()
            .take(5)
            .map(|c| (c.method.clone(), c.status, c.params.to_string()))
            .collect();
        panic!(
            "{name}: only {} of {n} replies; last calls: {last:?}",
            replies.len()
        );
    }
    let mut latencies: Vec<Duration> = replies
        .iter()
        .filter_map(|c| {
            let at = posted.get(&c.chat_id?)?;
            Some(c.at.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let own_cpu = match (cpu, CpuSample::take()) {
        (Some(before), Some(after)) => format!(
            "{:.2} ms CPU/update",
            ms(after.own_cpu_since(&before)) / n as f64
        ),
        _ => "CPU n/a".into(),
    };
    println!(
        "{name}: {n} updates in {:.2} s = {:.0} updates/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {own_cpu}",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(pct(1.0)),
    );
}

/// POSTs one update as Telegram would; returns when the POST started.
async fn post(http: &reqwest::Client, url: &str, mut update: Value) -> Instant {
    // Telegram numbers every update; the builders leave that to push_update.
    let id = NEXT_UPDATE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    update["update_id"] = serde_json::json!(id);
    let at = Instant::now();
    let resp = http
        .post(url)
        .header("x-telegram-bot-api-secret-token", SECRET)
        .json(&update)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200, "webhook answered {}", resp.status());
    at
}
