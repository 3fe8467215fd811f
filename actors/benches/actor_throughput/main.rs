//! Messages per second through `Registry` → `UserActor` doing its real store
//! transaction, beside two baselines in the same run: the same store
//! transactions called directly (no actors), and the same statements issued by
//! hand on one connection (no pool, no store: `raw.rs`).
//!
//! Run with `cargo bench -p subvisor-actors --bench actor_throughput`.
//!
//! For each backend (a SQLite file in a temp dir, and a fresh PostgreSQL
//! database from `subvisor_testkit::shared_pg()`), with `max_connections = 8`:
//!
//! * `BENCH_USERS` users (default 1,000) each get one `GrantDays { days: 1 }`
//!   through the Registry first (warm-up: creates the subscription and key,
//!   activates every actor, fills the pool). From then on every message of
//!   both paths is the same transaction: extending an active subscription,
//!   which writes no provisioning ops.
//! * `BENCH_MESSAGES` messages (default 20,000) are driven by
//!   `BENCH_CONCURRENCY` client tasks (default 64). Client `k` owns users
//!   `k+1, k+1+C, k+1+2C, …` and cycles through them, awaiting each reply
//!   before the next send, so no two messages for one user are ever in flight
//!   at once (the direct path would otherwise hit version conflicts the actor
//!   path serializes away).
//! * Raw path: the statements of that transaction by hand on one connection.
//!   Direct path: `store.grant_days(&WriteCtx { now: Utc::now(), .. }, user, 1)`.
//!   Actor path: `registry.send(user, GrantDays { days: 1, by: Principal::Ops })`.
//! * Runs are interleaved (raw, direct, actor, raw, …; `BENCH_ROUNDS`
//!   rounds, default 3) and the reported figure of each path is its median
//!   run by throughput; p50/p99 latency are those of that median run.
//!
//! "other CPU" is the share of the machine's CPU time used during a run by
//! processes other than this bench and its PostgreSQL server: on a shared
//! machine, a run with a high figure there was slowed by someone else.
//!
//! Other knobs: `BENCH_ARBITERS` (Registry arbiter threads, default 0 = one per
//! core) and `BENCH_BACKENDS` (`sqlite,postgres` by default).
//!
//! When run without `--bench` (e.g. `cargo test --all-targets`) it does a tiny
//! smoke run instead, so tests stay fast.

mod raw;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subvisor_testkit::bench::{
    Run, backend_name, backends_from_env, env_usize, fresh_pg_database, is_smoke_run, machine_line,
    median_run, ms, percent, run_clients, sqlite_url,
};

use chrono::Utc;
use subvisor_actors::clock::SystemClock;
use subvisor_actors::domain::{NodeName, Plans, Principal, UserId};
use subvisor_actors::messages::GrantDays;
use subvisor_actors::provisioning::{NodeClient, Provisioner, SandboxNode};
use subvisor_actors::store::{self, Backend, Store, StoreOptions, WriteCtx};
use subvisor_actors::{Registry, RegistrySettings};
use tempfile::TempDir;

#[derive(Debug, Clone)]
struct Config {
    users: usize,
    messages: usize,
    concurrency: usize,
    rounds: usize,
    arbiters: usize,
    backends: Vec<Backend>,
    smoke: bool,
}

impl Config {
    fn from_env() -> Self {
        // `cargo bench` passes `--bench`; anything else (cargo test) gets a smoke run.
        let smoke = is_smoke_run();
        let (users, messages, concurrency, rounds) = if smoke {
            (64, 256, 8, 1)
        } else {
            (1_000, 20_000, 64, 3)
        };
        let backends = backends_from_env();
        let cfg = Self {
            users: env_usize("BENCH_USERS", users),
            messages: env_usize("BENCH_MESSAGES", messages),
            concurrency: env_usize("BENCH_CONCURRENCY", concurrency),
            rounds: env_usize("BENCH_ROUNDS", rounds),
            arbiters: env_usize("BENCH_ARBITERS", 0),
            backends,
            smoke,
        };
        assert!(cfg.concurrency >= 1, "BENCH_CONCURRENCY must be at least 1");
        assert!(cfg.rounds >= 1, "BENCH_ROUNDS must be at least 1");
        assert!(
            cfg.users >= cfg.concurrency,
            "BENCH_USERS must be at least BENCH_CONCURRENCY (each client owns its users)"
        );
        cfg
    }
}

fn main() {
    let cfg = Config::from_env();
    let started = Instant::now();
    print_machine(&cfg);
    subvisor_testkit::bench::block_on_actix(async {
        for &backend in &cfg.backends {
            bench_backend(&cfg, backend).await;
        }
    });
    println!("total bench time: {:.1} s", started.elapsed().as_secs_f64());
}

/// A migrated store on a fresh database; keeps its temp dir alive.
struct BenchStore {
    store: Arc<dyn Store>,
    url: String,
    where_: String,
    _dir: Option<TempDir>,
}

async fn fresh_store(backend: Backend) -> BenchStore {
    let (url, where_, dir) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = sqlite_url(dir.path());
            let where_ = format!(
                "file {} (WAL, synchronous=NORMAL)",
                dir.path().join("subvisor.db").display()
            );
            (url, where_, Some(dir))
        }
        Backend::Postgres => {
            let (url, where_) = fresh_pg_database().await;
            (url, where_, None)
        }
    };
    let mut opts = StoreOptions::new(url.clone());
    opts.max_connections = 8;
    let store = store::connect(&opts).await.expect("connect");
    store.migrate().await.expect("migrate");
    BenchStore {
        store,
        url,
        where_,
        _dir: dir,
    }
}

/// Drives `cfg.messages` calls of `op` from `cfg.concurrency` client tasks on the
/// multi-threaded runtime. Client `k` owns users `k+1, k+1+C, …` and cycles
/// through them, one call in flight at a time.
async fn drive<F, Fut>(cfg: &Config, op: F) -> Run
where
    F: Fn(UserId) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let c = cfg.concurrency;
    run_clients(c, |k| {
        let owned: Vec<UserId> = (k + 1..=cfg.users)
            .step_by(c)
            .map(|u| UserId::new(u as i64).expect("valid user id"))
            .collect();
        // Spread the remainder over the first clients.
        let count = cfg.messages / c + usize::from(k < cfg.messages % c);
        let op = op.clone();
        async move {
            let mut latencies = Vec::with_capacity(count);
            for i in 0..count {
                let user = owned[i % owned.len()];
                let sent = Instant::now();
                op(user).await;
                latencies.push(sent.elapsed());
            }
            latencies
        }
    })
    .await
}

async fn bench_backend(cfg: &Config, backend: Backend) {
    let db = fresh_store(backend).await;
    let store = db.store.clone();
    let sandbox = Arc::new(SandboxNode::new());
    let provisioner = Provisioner::new(vec![sandbox as Arc<dyn NodeClient>]);
    let nodes: Arc<[NodeName]> = provisioner.node_names().into();
    let registry = Registry::start(
        store.clone(),
        provisioner,
        Arc::new(SystemClock),
        Plans::default(),
        RegistrySettings {
            mailbox_capacity: 1024,
            arbiters: cfg.arbiters,
            ..Default::default()
        },
    );

    let direct = {
        let store = store.clone();
        move |user: UserId| {
            let store = store.clone();
            let nodes = nodes.clone();
            async move {
                let ctx = WriteCtx {
                    now: Utc::now(),
                    by: Principal::Ops,
                    nodes: &nodes,
                };
                store
                    .grant_days(&ctx, user, 1)
                    .await
                    .expect("direct grant_days");
            }
        }
    };
    let raw = {
        let conn = raw::RawConn::open(&db.url).await;
        move |user: UserId| {
            let conn = conn.clone();
            async move { conn.grant_one_day(user).await }
        }
    };
    let actor = {
        let registry = registry.clone();
        move |user: UserId| {
            let registry = registry.clone();
            async move {
                registry
                    .send(
                        user,
                        GrantDays {
                            days: 1,
                            by: Principal::Ops,
                        },
                    )
                    .await
                    .expect("actor GrantDays");
            }
        }
    };

    println!();
    println!("== {} ==", backend_name(backend));
    println!("store: {}", db.where_);

    // Warm-up: one grant per user through the Registry (creates subscriptions
    // and keys, activates every actor, opens the pool's connections).
    let warm_cfg = Config {
        messages: cfg.users,
        ..cfg.clone()
    };
    let warm = drive(&warm_cfg, actor.clone()).await;
    let stats = registry.stats();
    println!(
        "warm-up: {} grants through the Registry in {:.2} s; {} actors live on {} arbiters",
        warm.calls,
        warm.elapsed.as_secs_f64(),
        stats.live,
        stats.arbiters,
    );

    let mut raw_runs = Vec::with_capacity(cfg.rounds);
    let mut direct_runs = Vec::with_capacity(cfg.rounds);
    let mut actor_runs = Vec::with_capacity(cfg.rounds);
    for round in 1..=cfg.rounds {
        let r = drive(cfg, raw.clone()).await;
        print_round(round, "raw", &r);
        raw_runs.push(r);
        let d = drive(cfg, direct.clone()).await;
        print_round(round, "direct", &d);
        direct_runs.push(d);
        let a = drive(cfg, actor.clone()).await;
        print_round(round, "actor", &a);
        actor_runs.push(a);
    }
    let stats = registry.stats();
    assert_eq!(
        stats.activations as usize, cfg.users,
        "every actor should have stayed active for the whole bench"
    );
    assert_eq!(stats.restarts, 0, "no actor should have died");

    let best = |runs: &[Run]| runs.iter().map(Run::rate).fold(0.0, f64::max);
    let (best_direct, best_actor) = (best(&direct_runs), best(&actor_runs));
    let r = median_run(raw_runs);
    let d = median_run(direct_runs);
    let a = median_run(actor_runs);
    let pick = if cfg.rounds == 1 {
        "single run".to_string()
    } else {
        format!("median of {} interleaved runs", cfg.rounds)
    };
    println!();
    println!(
        "{} — {} users, {} clients, {pick}",
        backend_name(backend),
        cfg.users,
        cfg.concurrency
    );
    println!(
        "| path   | messages | seconds | msgs/s   | p50 ms | p99 ms | CPU/msg | other CPU |\n\
         |--------|---------:|--------:|---------:|-------:|-------:|--------:|----------:|"
    );
    for (name, run) in [("raw", &r), ("direct", &d), ("actor", &a)] {
        println!(
            "| {name:<6} | {:>8} | {:>7.2} | {:>8.0} | {:>6.2} | {:>6.2} | {:>7} | {:>9} |",
            run.calls,
            run.elapsed.as_secs_f64(),
            run.rate(),
            ms(run.percentile(50.0)),
            ms(run.percentile(99.0)),
            run.cpu_per_call(),
            percent(run.foreign_cpu),
        );
    }
    let target = match backend {
        Backend::Sqlite => " (target: at least 50%)",
        // One connection waits for every round trip: the pool is meant to beat it.
        Backend::Postgres => " (one connection against a pool: no target)",
    };
    println!("direct / raw: {:.1}%{target}", 100.0 * d.rate() / r.rate());
    println!(
        "actor / direct: {:.1}% (target: at least 80%)",
        100.0 * a.rate() / d.rate()
    );
    if cfg.rounds > 1 {
        println!(
            "best of {} runs: direct {best_direct:.0} msgs/s, actor {best_actor:.0} msgs/s, actor / direct {:.1}%",
            cfg.rounds,
            100.0 * best_actor / best_direct
        );
    }

    let drained = registry.shutdown(Duration::from_secs(5)).await;
    assert!(drained, "registry did not drain");
    store.close().await;
}

fn print_round(round: usize, path: &str, run: &Run) {
    println!(
        "  round {round} {path:<6}: {:>8.0} msgs/s  ({} in {:.2} s, p50 {:.2} ms, p99 {:.2} ms, CPU/msg {}, other processes' CPU {})",
        run.rate(),
        run.calls,
        run.elapsed.as_secs_f64(),
        ms(run.percentile(50.0)),
        ms(run.percentile(99.0)),
        run.cpu_per_call(),
        percent(run.foreign_cpu),
    );
}

fn print_machine(cfg: &Config) {
    println!("{}", machine_line());
    if cfg.smoke {
        println!("smoke run (no --bench flag): tiny workload, figures are meaningless");
    }
    println!(
        "workload: {} GrantDays {{ days: 1 }} per run, {} clients, {} users, {} rounds, arbiters {}",
        cfg.messages,
        cfg.concurrency,
        cfg.users,
        cfg.rounds,
        if cfg.arbiters == 0 {
            "one per core".to_string()
        } else {
            cfg.arbiters.to_string()
        },
    );
}
