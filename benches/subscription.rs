//! `/sub` answers per second in each format, for a user with three nodes,
//! end to end (HTTP → token lookup in the store → `SubscriptionView` →
//! render → headers), and the cost of rendering alone.
//!
//! Run with `cargo bench -p subvisor --bench subscription`.
//!
//! The real `Application` runs in-process on a SQLite file with three
//! `FakeXrayNode`s as `[[nodes]]` (the per-IP limit of `/sub` lifted).
//! `BENCH_USERS` users (default 200) are granted 30 days through the ops API;
//! then, per format, `BENCH_REQUESTS` GETs (default 4,000) of
//! `/sub/{token}/{format}`, round-robin over the users, by `BENCH_CONCURRENCY`
//! clients (default 16) sharing one keep-alive client. Formats are
//! interleaved over `BENCH_ROUNDS` rounds (default 3); each format's figure
//! is its median run. Every answer must be 200.
//!
//! "render" is `subvisor_http::render` alone on a three-entry view, averaged
//! over `BENCH_RENDERS` calls (default 20,000) on one thread.
//!
//! Without `--bench` (e.g. `cargo test --all-targets`) it does a tiny smoke run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use subvisor::config::{NodeSettings, Settings};
use subvisor::startup::Application;
use subvisor_actors::clock::SystemClock;
use subvisor_actors::domain::{LinkParams, UserId};
use subvisor_http::{Entry, Format, RenderOptions, SubscriptionView, ViewStatus};
use subvisor_testkit::bench::{
    Run, env_usize, is_smoke_run, machine_line, median_run, ms, run_clients,
};
use subvisor_testkit::fake_xray::FakeXrayNode;
use tokio::sync::oneshot;

fn main() {
    let smoke = is_smoke_run();
    let pick = |name, full, small| if smoke { small } else { env_usize(name, full) };
    let users = pick("BENCH_USERS", 200, 5);
    let requests = pick("BENCH_REQUESTS", 4000, 40);
    let concurrency = pick("BENCH_CONCURRENCY", 16, 4);
    let rounds = pick("BENCH_ROUNDS", 3, 1);
    let renders = pick("BENCH_RENDERS", 20_000, 100);
    println!("{}", machine_line());
    println!(
        "subscription bench: 3 nodes, {users} users, {requests} GETs per run, {concurrency} clients, {rounds} rounds, SQLite"
    );
    render_only(renders);
    subvisor_testkit::bench::block_on_actix(end_to_end(users, requests, concurrency, rounds));
}

fn node(i: usize, api: String) -> NodeSettings {
    let (_, public_key) = subvisor::keys::generate().expect("keys");
    serde_json::from_value(json!({
        "name": format!("bench-{i}"), "api": api, "inbound_tag": "vless-in",
        "host": format!("n{i}.vpn.example.com"), "port": 443, "sni": "www.microsoft.com",
        "public_key": public_key, "short_id": "6ba85179e30d4fc2",
        "label": format!("Node {i} №1"),
    }))
    .expect("node settings")
}

async fn end_to_end(users: usize, requests: usize, concurrency: usize, rounds: usize) {
    let nodes: Vec<FakeXrayNode> = (0..3)
        .map(|_| FakeXrayNode::start("vless-in").expect("fake node"))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut s = Settings::load(None).expect("defaults load");
    s.database.url = format!("sqlite://{}/subvisor.db", dir.path().display());
    s.http.public_addr = "127.0.0.1:0".parse().expect("addr");
    s.http.ops_addr = "127.0.0.1:0".parse().expect("addr");
    s.http.public_rate_per_minute = 100_000_000;
    s.http.public_rate_burst = 100_000_000;
    s.reconcile.interval = Duration::from_secs(3600);
    s.nodes = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| node(i, n.api_addr()))
        .collect();
    let app = Application::build_with_clock(s, Arc::new(SystemClock))
        .await
        .expect("app builds");
    let public = format!("http://127.0.0.1:{}", app.public_port());
    let ops = format!("http://127.0.0.1:{}", app.ops_port());
    let (stop, stopped) = oneshot::channel::<()>();
    actix_rt::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let mut paths = Vec::with_capacity(users);
    for i in 0..users {
        let view: serde_json::Value = http
            .post(format!("{ops}/ops/users/{}/grant", 1_000 + i))
            .json(&json!({ "days": 30 }))
            .send()
            .await
            .expect("grant")
            .json()
            .await
            .expect("json");
        let url = view["subscription_url"].as_str().expect("url");
        let token = url.rsplit('/').next().expect("token");
        paths.push(format!("{public}/sub/{token}"));
    }
    let paths = Arc::new(paths);
    let mut runs: Vec<(Format, Vec<Run>)> = Format::ALL.iter().map(|f| (*f, Vec::new())).collect();
    for _ in 0..rounds {
        for (format, runs) in &mut runs {
            runs.push(run(&http, &paths, *format, requests, concurrency).await);
        }
    }
    let base = median_run(runs[0].1.clone()).rate();
    for (format, runs) in runs {
        let r = median_run(runs);
        println!(
            "  {:8} {:>7.0} req/s ({:.2}× base64's time per request)  p50 {:.2} ms  p99 {:.2} ms  cpu/req {}",
            format.name(),
            r.rate(),
            base / r.rate(),
            ms(r.percentile(50.0)),
            ms(r.percentile(99.0)),
            r.cpu_per_call(),
        );
    }
    let _ = stop.send(());
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn run(
    http: &reqwest::Client,
    paths: &Arc<Vec<String>>,
    format: Format,
    requests: usize,
    concurrency: usize,
) -> Run {
    run_clients(concurrency, |k| {
        let (http, paths) = (http.clone(), paths.clone());
        async move {
            let mut latencies = Vec::new();
            let mut i = k;
            while i < requests {
                let url = format!("{}/{}", paths[i % paths.len()], format.name());
                let started = Instant::now();
                let resp = http.get(&url).send().await.expect("GET /sub");
                assert_eq!(resp.status(), 200, "{url}");
                let body = resp.bytes().await.expect("body");
                assert!(!body.is_empty());
                latencies.push(started.elapsed());
                i += concurrency;
            }
            latencies
        }
    })
    .await
}

/// Rendering alone, per format, on the same three entries.
fn render_only(renders: usize) {
    let entries = (0..3)
        .map(|i| Entry {
            uuid: uuid::Uuid::from_u128(0x6f1c_2a8e_5b3d_4e7f_9a10_c2d4_e6f8_1a3b),
            node: LinkParams {
                host: format!("n{i}.vpn.example.com"),
                port: 443,
                sni: "www.microsoft.com".into(),
                public_key: "Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw".into(),
                short_id: "6ba85179e30d4fc2".into(),
                fingerprint: "chrome".into(),
                label: format!("Node {i} №1"),
            },
        })
        .collect();
    let now = Utc::now();
    let view = SubscriptionView {
        user: UserId::new(1).expect("id"),
        status: ViewStatus::Active,
        expires_at: now + chrono::Duration::days(30),
        upload: 0,
        download: 0,
        total: 0,
        entries,
        url: "https://vpn.example.com/sub/x".into(),
        language: None,
    };
    let options = RenderOptions {
        now,
        info_entries: false,
        renew_url: None,
    };
    for format in Format::ALL {
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..renders {
            bytes += std::hint::black_box(subvisor_http::render(format, &view, &options)).len();
        }
        let each = started.elapsed() / renders as u32;
        println!(
            "  render {:8} {:>6.1} µs  {} bytes",
            format.name(),
            each.as_secs_f64() * 1e6,
            bytes / renders
        );
    }
}
