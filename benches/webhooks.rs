//! Signed Crypto Pay callbacks per second end to end (HTTP → signature check →
//! webhook bookkeeping → `UserActor` → commit → provisioning on the sandbox
//! node), beside a baseline in the same run that performs the same store calls
//! directly, without HTTP or actors.
//!
//! Run with `cargo bench -p subvisor --bench webhooks`.
//!
//! For each backend (a SQLite file in a temp dir, and a fresh PostgreSQL
//! database from `subvisor_testkit::shared_pg()`), the real `Application` is
//! started in-process (listeners on port 0, the in-memory sandbox node, the
//! default pool of 8 connections, a `FakeCryptoPay` as the provider API).
//!
//! * Each run pays `BENCH_ORDERS` fresh pending orders (default 2,000), each of
//!   a distinct new user (plan `month`, 30 days, 2.99 USD, provider
//!   `cryptobot`), created directly through the store before the run.
//! * End-to-end path: one pre-built, pre-signed `invoice_paid` callback per
//!   order is POSTed to `/pay/cryptobot` by `BENCH_CONCURRENCY` client tasks
//!   (default 32) sharing one keep-alive `reqwest::Client`; every answer must
//!   be 200 with outcome `applied`.
//! * Direct path: per order, what the intake does on the store:
//!   `record_payment_event`, `order`, `apply_payment`, `finish_payment_event`,
//!   with the same concurrency.
//! * Runs are interleaved (direct, e2e) × `BENCH_ROUNDS` (default 3) with fresh
//!   orders each time; the reported figure of each path is its median run by
//!   throughput. After each run the bench waits for the provisioning outbox to
//!   empty ("drain": for e2e, the time from the last answer until every key is
//!   on the sandbox node; the direct path's ops are only handed to the
//!   provisioner after its run).
//!
//! The outbox poll interval and the reconcile interval are set to one hour so
//! that neither fires in the middle of a run: committed ops are pushed by the
//! wake-up the actor sends after commit, as in production.
//!
//! "other CPU" is the share of the machine's CPU time used during a run by
//! processes other than this bench and its PostgreSQL server.
//!
//! Other knobs: `BENCH_BACKENDS` (`sqlite,postgres` by default). Without
//! `--bench` (e.g. `cargo test --all-targets`) it does a tiny smoke run.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use subvisor_testkit::Backend;
use subvisor_testkit::bench::{
    Run, backend_name, backends_from_env, env_usize, fresh_pg_database, is_smoke_run, machine_line,
    median_run, ms, percent, run_clients, sqlite_url,
};

use chrono::{DateTime, Utc};
use serde_json::json;
use subvisor::config::{CryptoBotSettings, Settings};
use subvisor::startup::Application;
use subvisor_actors::Registry;
use subvisor_actors::clock::SystemClock;
use subvisor_actors::domain::{
    Currency, Money, NewOrder, NodeName, OrderId, OrderKind, PlanId, Principal, Provider,
    SubscriptionStatus, UserId,
};
use subvisor_actors::payments::events;
use subvisor_actors::store::{EventRecord, IncomingPayment, NewPaymentEvent, Store, WriteCtx};
use subvisor_testkit::fake_payments::{FakeCryptoPay, invoice_paid};
use subvisor_testkit::signers::cryptobot_signature;
use tempfile::TempDir;
use tokio::sync::oneshot;

const CB_TOKEN: &str = "12345:AAzQcZWQqQAbsfgPnOLr4FHC8Doa4L7KryC";
const PROVIDER: &str = "cryptobot";

#[derive(Debug, Clone)]
struct Config {
    orders: usize,
    concurrency: usize,
    rounds: usize,
    backends: Vec<Backend>,
    smoke: bool,
}

impl Config {
    fn from_env() -> Self {
        // `cargo bench` passes `--bench`; anything else (cargo test) gets a smoke run.
        let smoke = is_smoke_run();
        let (orders, concurrency, rounds) = if smoke { (32, 8, 1) } else { (2_000, 32, 3) };
        let backends = backends_from_env();
        let cfg = Self {
            orders: env_usize("BENCH_ORDERS", orders),
            concurrency: env_usize("BENCH_CONCURRENCY", concurrency),
            rounds: env_usize("BENCH_ROUNDS", rounds),
            backends,
            smoke,
        };
        assert!(cfg.concurrency >= 1, "BENCH_CONCURRENCY must be at least 1");
        assert!(cfg.orders >= 1, "BENCH_ORDERS must be at least 1");
        assert!(cfg.rounds >= 1, "BENCH_ROUNDS must be at least 1");
        cfg
    }
}

fn main() {
    let cfg = Config::from_env();
    let started = Instant::now();
    print_machine(&cfg);
    subvisor_testkit::bench::block_on_actix(async {
        for &db in &cfg.backends {
            bench_backend(&cfg, db).await;
        }
    });
    println!("total bench time: {:.1} s", started.elapsed().as_secs_f64());
}

/// The application running in-process, plus what keeps it alive.
struct App {
    registry: Registry,
    public: String,
    where_: String,
    stop: oneshot::Sender<()>,
    _dir: TempDir,
    _cryptopay: FakeCryptoPay,
}

async fn start_app(db: Backend) -> App {
    let dir = tempfile::tempdir().expect("temp dir");
    let cryptopay = FakeCryptoPay::start(CB_TOKEN).expect("fake crypto pay");
    let mut s = Settings::load(None).expect("defaults load");
    let where_;
    s.database.url = match db {
        Backend::Sqlite => {
            where_ = "SQLite file in a temp dir (WAL, synchronous=NORMAL)".to_string();
            sqlite_url(dir.path())
        }
        Backend::Postgres => {
            let url;
            (url, where_) = fresh_pg_database().await;
            url
        }
    };
    s.http.public_addr = "127.0.0.1:0".parse().expect("addr");
    s.http.ops_addr = "127.0.0.1:0".parse().expect("addr");
    s.http.public_rate_per_minute = 100_000_000;
    s.http.public_rate_burst = 10_000_000;
    s.outbox.poll_interval = Duration::from_secs(3600);
    s.reconcile.interval = Duration::from_secs(3600);
    s.payments.cryptobot = Some(
        serde_json::from_value::<CryptoBotSettings>(
            json!({ "token": CB_TOKEN, "base_url": cryptopay.base_url() }),
        )
        .expect("cryptobot settings"),
    );
    let pool = s.database.max_connections;
    let app = Application::build_with_clock(s, Arc::new(SystemClock))
        .await
        .expect("app builds");
    let registry = app.registry().clone();
    let public = format!("http://127.0.0.1:{}", app.public_port());
    let (stop, stopped) = oneshot::channel::<()>();
    actix_rt::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    App {
        registry,
        public,
        where_: format!("{where_}, pool of {pool}"),
        stop,
        _dir: dir,
        _cryptopay: cryptopay,
    }
}

/// One order to pay, with its pre-built, pre-signed callback.
struct Item {
    user: UserId,
    order: OrderId,
    invoice: i64,
    body: String,
    sig: String,
}

/// Source of distinct user ids, update ids and invoice ids over the whole bench.
static NEXT_ID: AtomicI64 = AtomicI64::new(1);

/// Creates `n` pending orders of `n` new users through the store and builds
/// their signed callbacks.
async fn make_orders(cfg: &Config, store: &Arc<dyn Store>, nodes: &Arc<[NodeName]>) -> Vec<Item> {
    let usd = Currency::new("USD").expect("currency");
    let items: Vec<Item> = (0..cfg.orders)
        .map(|_| {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let order = OrderId::random();
            let body = invoice_paid(1_000_000 + id, 5_000_000 + id, &order.to_string(), "2.99");
            Item {
                user: UserId::new(id).expect("user id"),
                order,
                invoice: 5_000_000 + id,
                sig: cryptobot_signature(CB_TOKEN, &body),
                body,
            }
        })
        .collect();
    let items = Arc::new(items);
    let create = {
        let (store, nodes, items) = (store.clone(), nodes.clone(), items.clone());
        move |i: usize| {
            let (store, nodes, items, usd) =
                (store.clone(), nodes.clone(), items.clone(), usd.clone());
            async move {
                let item = &items[i];
                let ctx = WriteCtx {
                    now: Utc::now(),
                    by: Principal::Ops,
                    nodes: &nodes,
                };
                let order = NewOrder {
                    id: item.order,
                    user: item.user,
                    kind: OrderKind::Plan,
                    plan: PlanId::new("month").expect("plan id"),
                    days: 30,
                    traffic_bytes: 0,
                    provider: Provider::Cryptobot,
                    amount: Money::new(299, usd),
                    idempotency_key: None,
                    reuse_since: None,
                };
                store
                    .create_order(&ctx, &order)
                    .await
                    .expect("create order");
            }
        }
    };
    drive(cfg.orders, cfg.concurrency, create).await;
    Arc::try_unwrap(items).unwrap_or_else(|_| panic!("order items still shared"))
}

/// One measured run of one path, and how long the outbox took to drain after it.
#[derive(Debug, Clone)]
struct PathRun {
    run: Run,
    /// From the end of the run until the provisioning outbox was empty.
    drain: Duration,
}

impl AsRef<Run> for PathRun {
    fn as_ref(&self) -> &Run {
        &self.run
    }
}

/// Runs `op(0..n)` from `c` client tasks on the multi-threaded runtime, each
/// taking the next index when its previous call is done.
async fn drive<F, Fut>(n: usize, c: usize, op: F) -> Run
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    run_clients(c, |_| {
        let (op, next) = (op.clone(), next.clone());
        async move {
            let mut latencies = Vec::with_capacity(n / c + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let sent = Instant::now();
                op(i).await;
                latencies.push(sent.elapsed());
            }
            latencies
        }
    })
    .await
}

/// Wakes the outbox driver and waits until no provisioning op is pending.
async fn wait_outbox_empty(registry: &Registry) -> Duration {
    let started = Instant::now();
    registry.provisioner().wake();
    loop {
        let depth = registry.store().outbox_depth().await.expect("outbox depth");
        if depth.provisioning == 0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "outbox did not drain: {} ops pending",
            depth.provisioning
        );
        registry.provisioner().wake();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn run_direct(cfg: &Config, app: &App, items: Vec<Item>) -> PathRun {
    let store = app.registry.store().clone();
    let nodes: Arc<[NodeName]> = app.registry.provisioner().node_names().into();
    let items = Arc::new(items);
    let paid = Money::new(299, Currency::new("USD").expect("currency"));
    let op = move |i: usize| {
        let (store, nodes, items, paid) =
            (store.clone(), nodes.clone(), items.clone(), paid.clone());
        async move {
            let item = &items[i];
            let now = Utc::now();
            let neutral = events::cryptobot_paid(item.invoice, Some(item.order), paid.clone());
            let event = NewPaymentEvent {
                provider: PROVIDER.to_owned(),
                event_id: neutral.event_id.clone(),
                order: Some(item.order),
                received_at: now,
                payload: item.body.clone(),
                event: serde_json::to_string(&neutral).expect("json"),
            };
            assert_eq!(
                store.record_payment_event(&event).await.expect("record"),
                EventRecord::New,
                "fresh event"
            );
            let order = store
                .order(item.order)
                .await
                .expect("read order")
                .expect("order exists");
            let ctx = WriteCtx {
                now,
                by: Principal::User(order.user),
                nodes: &nodes,
            };
            let payment = IncomingPayment {
                provider: Provider::Cryptobot,
                provider_payment_id: format!("{PROVIDER}:{}", item.invoice),
                amount: Some(paid.clone()),
                payer: None,
            };
            let settled = store
                .apply_payment(&ctx, order.user, order.id, &payment)
                .await
                .expect("apply payment");
            assert!(settled.change.applied, "payment applied");
            assert!(
                store
                    .finish_payment_event(PROVIDER, &event.event_id, "applied", Utc::now())
                    .await
                    .expect("outcome")
            );
        }
    };
    let run = drive(cfg.orders, cfg.concurrency, op).await;
    let drain = wait_outbox_empty(&app.registry).await;
    PathRun { run, drain }
}

async fn run_e2e(cfg: &Config, app: &App, http: &reqwest::Client, items: Vec<Item>) -> PathRun {
    let url = format!("{}/pay/cryptobot", app.public);
    let items = Arc::new(items);
    let http = http.clone();
    let op = move |i: usize| {
        let (http, url, items) = (http.clone(), url.clone(), items.clone());
        async move {
            let item = &items[i];
            let resp = http
                .post(&url)
                .header("crypto-pay-api-signature", &item.sig)
                .body(item.body.clone())
                .send()
                .await
                .expect("callback request");
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            assert_eq!(
                (status, body["outcome"].as_str()),
                (200, Some("applied")),
                "{body}"
            );
        }
    };
    let run = drive(cfg.orders, cfg.concurrency, op).await;
    let drain = wait_outbox_empty(&app.registry).await;
    PathRun { run, drain }
}

async fn bench_backend(cfg: &Config, db: Backend) {
    let app = start_app(db).await;
    let store = app.registry.store().clone();
    let nodes: Arc<[NodeName]> = app.registry.provisioner().node_names().into();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.concurrency)
        .build()
        .expect("http client");

    println!();
    println!("== {} ==", backend_name(db));
    println!("store: {}", app.where_);

    // Warm-up: a small e2e run (opens pool connections and keep-alive
    // connections, starts the arbiters), not reported.
    let warm_cfg = Config {
        orders: cfg.concurrency * 4,
        ..cfg.clone()
    };
    let items = make_orders(&warm_cfg, &store, &nodes).await;
    let mut users: Vec<UserId> = items.iter().map(|i| i.user).collect();
    let warm = run_e2e(&warm_cfg, &app, &http, items).await;
    println!(
        "warm-up: {} callbacks in {:.2} s",
        warm.run.calls,
        warm.run.elapsed.as_secs_f64()
    );

    let mut direct_runs = Vec::with_capacity(cfg.rounds);
    let mut e2e_runs = Vec::with_capacity(cfg.rounds);
    let mut setup = Duration::ZERO;
    for round in 1..=cfg.rounds {
        let t = Instant::now();
        let items = make_orders(cfg, &store, &nodes).await;
        setup += t.elapsed();
        users.extend(items.iter().map(|i| i.user));
        let d = run_direct(cfg, &app, items).await;
        print_round(round, "direct", &d);
        direct_runs.push(d);

        let t = Instant::now();
        let items = make_orders(cfg, &store, &nodes).await;
        setup += t.elapsed();
        users.extend(items.iter().map(|i| i.user));
        let e = run_e2e(cfg, &app, &http, items).await;
        print_round(round, "e2e", &e);
        e2e_runs.push(e);
    }
    println!(
        "setup: {} orders created through the store in {:.2} s ({:.0} orders/s)",
        2 * cfg.rounds * cfg.orders,
        setup.as_secs_f64(),
        (2 * cfg.rounds * cfg.orders) as f64 / setup.as_secs_f64()
    );

    let d = median_run(direct_runs);
    let e = median_run(e2e_runs);
    let pick = if cfg.rounds == 1 {
        "single run".to_string()
    } else {
        format!("median of {} interleaved runs", cfg.rounds)
    };
    println!();
    println!(
        "{} — {} orders per run, {} clients, {pick}",
        backend_name(db),
        cfg.orders,
        cfg.concurrency
    );
    println!(
        "| path   | callbacks | seconds | calls/s  | p50 ms | p99 ms | CPU/call | drain ms | other CPU |\n\
         |--------|----------:|--------:|---------:|-------:|-------:|---------:|---------:|----------:|"
    );
    for (name, PathRun { run, drain }) in [("direct", &d), ("e2e", &e)] {
        println!(
            "| {name:<6} | {:>9} | {:>7.2} | {:>8.0} | {:>6.2} | {:>6.2} | {:>8} | {:>8.0} | {:>9} |",
            run.calls,
            run.elapsed.as_secs_f64(),
            run.rate(),
            ms(run.percentile(50.0)),
            ms(run.percentile(99.0)),
            run.cpu_per_call(),
            ms(*drain),
            percent(run.foreign_cpu),
        );
    }
    println!("e2e / direct: {:.1}%", 100.0 * e.run.rate() / d.run.rate());

    verify(&app, &store, &users).await;

    let _ = app.stop.send(());
    // Let the application shut down (listeners, workers, actors, pool).
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Every paid user has an active subscription of 30 days, every key reached
/// the sandbox node, nothing is left in the outbox.
async fn verify(app: &App, store: &Arc<dyn Store>, users: &[UserId]) {
    for &user in users {
        let snap = store
            .user(user)
            .await
            .expect("read user")
            .unwrap_or_else(|| panic!("user {user} missing"));
        let sub = snap
            .subscription
            .as_ref()
            .unwrap_or_else(|| panic!("user {user} has no subscription"));
        assert_eq!(sub.status, SubscriptionStatus::Active, "user {user}");
        let days = days_between(snap.created_at, sub.expires_at);
        assert_eq!(days, 30, "user {user}: {days} days");
        assert_eq!(snap.active_keys().count(), 1, "user {user}: one key");
    }
    let depth = store.outbox_depth().await.expect("outbox depth");
    assert_eq!(depth.provisioning, 0, "provisioning outbox empty");
    let on_node = app
        .registry
        .provisioner()
        .statuses()
        .first()
        .and_then(|s| s.users)
        .expect("sandbox node reports its users");
    assert_eq!(on_node, users.len(), "every paid user's key is on the node");
    println!(
        "check: {} users active for 30 days, {} keys on the sandbox node, outbox empty",
        users.len(),
        on_node
    );
}

fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    ((to - from).num_minutes() as f64 / 1440.0).round() as i64
}

fn print_round(round: usize, path: &str, PathRun { run, drain }: &PathRun) {
    println!(
        "  round {round} {path:<6}: {:>7.0} calls/s  ({} in {:.2} s, p50 {:.2} ms, p99 {:.2} ms, CPU/call {}, drain {:.0} ms, other processes' CPU {})",
        run.rate(),
        run.calls,
        run.elapsed.as_secs_f64(),
        ms(run.percentile(50.0)),
        ms(run.percentile(99.0)),
        run.cpu_per_call(),
        ms(*drain),
        percent(run.foreign_cpu),
    );
}

fn print_machine(cfg: &Config) {
    println!("{}", machine_line());
    if cfg.smoke {
        println!("smoke run (no --bench flag): tiny workload, figures are meaningless");
    }
    println!(
        "workload: {} signed invoice_paid callbacks per run (one per new user), {} clients, {} rounds of (direct, e2e)",
        cfg.orders, cfg.concurrency, cfg.rounds,
    );
}
