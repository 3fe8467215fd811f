//! One reconcile pass of 100,000 desired users against a node that lists about
//! 100,000 users with 1% drift: wall time and memory (target: under 2 s).
//!
//! Run with `cargo bench -p subvisor-actors --bench reconcile`.
//!
//! Setup (timed and reported apart from the pass):
//!
//! * A SQLite store in a temp dir (WAL, synchronous=NORMAL, 8 connections).
//!   `BENCH_USERS` users (default 100,000) each get `grant_days(30)` through
//!   the store (one transaction each, from a few concurrent tasks), with one
//!   configured node, `fake-1`: one active key and one pending `add` op each.
//!   Those ops are then marked done (`pending_ops` + `complete_ops`), as the
//!   outbox driver would have, so the pass measures the diff and its repair,
//!   not the draining of 100,000 outbox rows.
//! * A [`FakeXrayNode`] (the Xray gRPC API served from memory, in this
//!   process, on its own thread) filled by hand from `store.desired_keys()`:
//!   0.4% of the desired keys are left out (missing: to add), 0.2% get a wrong
//!   UUID (mismatched: remove, then add), strays of our namespace numbering
//!   0.4% of the desired set (`sv.9000000.1`, …: extra, to remove) are added,
//!   plus 100 operator users (`op-N@example.com`, to be left alone). With 100,000 users: the node lists
//!   100,100 users, 1,000 of them (1%) drifted, 1,200 node calls to fix.
//!
//! Measured, on a real `XrayGateway` actor (gRPC to the fake) inside an actix
//! System on a multi-threaded Tokio runtime, through `Reconciler::pass`:
//!
//! 1. a dry run (diff only),
//! 2. the reconcile pass (diff and repair: removes, then adds, 64 in flight),
//! 3. a second pass, which must find no drift (convergence), then
//!    `BENCH_STEADY_PASSES` more (default 5), to watch RSS settle,
//!
//! each with its wall time, the returned `NodeDiff`, VmRSS before and after,
//! and the peak RSS (VmHWM) during the pass: the peak is reset right before
//! each pass through `/proc/self/clear_refs`. The fake node lives in the same
//! process; its share of RSS (the filled user table) is reported apart.
//! A breakdown then times the parts of a pass on their own (the desired-keys
//! query, the node listing through the gateway and directly, the diff, and
//! as many adds and removes of scratch users as the repair makes, 64 in
//! flight through the gateway).
//! Finally the node's users must equal desired ∪ operator users: PASS/FAIL.
//!
//! Knobs: `BENCH_USERS` (default 100,000), `BENCH_WRITERS` (setup tasks,
//! default 4), `BENCH_STEADY_PASSES` (default 5).
//!
//! When run without `--bench` (e.g. `cargo test --all-targets`) it does a
//! smoke run on 2,000 users instead, so tests stay fast.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subvisor_testkit::bench::{
    Mem, ProcessCpu, env_usize, is_smoke_run, machine_line, mib, ms, percent, trim_heap,
};

use futures_util::stream::{self, StreamExt};
use subvisor_actors::clock::SystemClock;
use subvisor_actors::domain::NodeName;
use subvisor_actors::provisioning::xray_api::{ApiFlavor, XrayApi};
use subvisor_actors::provisioning::{
    GatewaySettings, NodeClient, NodeConfig, NodeDiff, OutboxDriver, Provisioner, Reconciler,
    XrayGateway,
};
use subvisor_actors::store::{self, StoreOptions};
use subvisor_testkit::fake_xray::FakeXrayNode;
use uuid::Uuid;

mod measure;
mod setup;

use measure::{best_of, measured_pass, replicated_plan};
use setup::{complete_all_ops, grant_all, link_params};

const NODE: &str = "fake-1";
const TAG: &str = "vless-in";
const OPERATORS: usize = 100;
const TARGET: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
struct Config {
    users: usize,
    /// Concurrent tasks creating the users.
    writers: usize,
    /// Converged passes after the second, to watch RSS settle.
    steady_passes: usize,
    smoke: bool,
}

impl Config {
    fn from_env() -> Self {
        // `cargo bench` passes `--bench`; anything else (cargo test) gets a smoke run.
        let smoke = is_smoke_run();
        let users = env_usize("BENCH_USERS", if smoke { 2_000 } else { 100_000 });
        assert!(users >= 1_000, "BENCH_USERS must be at least 1,000");
        Self {
            users,
            writers: env_usize("BENCH_WRITERS", 4).max(1),
            steady_passes: env_usize("BENCH_STEADY_PASSES", 5),
            smoke,
        }
    }

    /// (missing, mismatched, extra): 0.4%, 0.2%, 0.4% of the desired users.
    fn drift(&self) -> (usize, usize, usize) {
        (
            self.users * 4 / 1000,
            self.users * 2 / 1000,
            self.users * 4 / 1000,
        )
    }
}

fn main() {
    let cfg = Config::from_env();
    let started = Instant::now();
    print_machine(&cfg);
    let pass = subvisor_testkit::bench::block_on_actix(bench(cfg));
    println!("total bench time: {:.1} s", started.elapsed().as_secs_f64());
    if !pass {
        std::process::exit(1);
    }
}

async fn bench(cfg: Config) -> bool {
    let mem_start = Mem::read();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("subvisor.db");
    let opts = StoreOptions::new(format!("sqlite://{}", path.display()));
    let store = store::connect(&opts).await.expect("connect");
    store.migrate().await.expect("migrate");
    println!(
        "store: SQLite file in a temp dir (WAL, synchronous=NORMAL), {} connections",
        opts.max_connections
    );

    // ---- setup: the desired set ----
    let node = NodeName::new(NODE).expect("node name");
    let t = Instant::now();
    grant_all(&store, &node, cfg.users, cfg.writers).await;
    println!(
        "setup: {} grants (one transaction each, {} concurrent tasks) in {:.2} s ({:.0}/s)",
        cfg.users,
        cfg.writers,
        t.elapsed().as_secs_f64(),
        cfg.users as f64 / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let completed = complete_all_ops(&store).await;
    println!(
        "setup: marked {completed} pending provisioning ops done in {:.2} s (the pass measures the diff, not outbox draining)",
        t.elapsed().as_secs_f64()
    );
    let depth = store.outbox_depth().await.expect("outbox depth");
    assert_eq!(depth.provisioning, 0, "the outbox should be empty");

    let mut desired = store.desired_keys().await.expect("desired keys");
    desired.sort();
    assert_eq!(desired.len(), cfg.users, "one active key per user");

    // ---- setup: the node, with 1% drift ----
    let mem_before_node = Mem::read();
    let fake = FakeXrayNode::start(TAG).expect("fake node");
    let (n_missing, n_mismatched, n_extra) = cfg.drift();
    let t = Instant::now();
    let mut operators = Vec::with_capacity(OPERATORS);
    // Spread the drift over the keys: of each 1,000 (sorted by email), the
    // first 4 are left out and the next 2 get a wrong UUID.
    let mut missing = 0;
    let mut mismatched = 0;
    for (i, (email, uuid)) in desired.iter().enumerate() {
        match i % 1000 {
            0..4 if missing < n_missing => missing += 1,
            4..6 if mismatched < n_mismatched => {
                mismatched += 1;
                fake.insert_user(email, Uuid::new_v4());
            }
            _ => fake.insert_user(email, *uuid),
        }
    }
    for j in 0..n_extra {
        fake.insert_user(&format!("sv.{}.1", 9_000_000 + j), Uuid::new_v4());
    }
    for j in 0..OPERATORS {
        let user = (format!("op-{j}@example.com"), Uuid::new_v4());
        fake.insert_user(&user.0, user.1);
        operators.push(user);
    }
    let listed = fake.users().len();
    let mem_node = Mem::read();
    println!(
        "setup: fake node filled by hand in {:.2} s: lists {listed} users = {} desired with the right UUID + {mismatched} with a wrong UUID + {n_extra} strays in our namespace + {OPERATORS} operator users; {missing} desired missing",
        t.elapsed().as_secs_f64(),
        cfg.users - missing - mismatched,
    );
    println!(
        "setup: drift {} of {} desired ({:.2}%): expect missing {missing}, extra {n_extra}, mismatched {mismatched}, {} node calls to fix",
        missing + mismatched + n_extra,
        cfg.users,
        100.0 * (missing + mismatched + n_extra) as f64 / cfg.users as f64,
        missing + n_extra + 2 * mismatched,
    );
    println!(
        "memory: process start {}; before the fake node {}; after filling it {} (its share: {:+.1} MiB RSS, same process)",
        mem_start,
        mem_before_node,
        mem_node,
        mib(mem_node.rss_kib - mem_before_node.rss_kib),
    );

    // ---- the reconciler, on a real gateway actor ----
    let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
    let node_config = NodeConfig {
        name: node.clone(),
        api: fake.api_addr(),
        api_flavor: ApiFlavor::Xray,
        inbound_tag: TAG.into(),
        link: link_params(),
    };
    let settings = GatewaySettings {
        // The defaults, but a health check that stays out of the way.
        health_interval: Duration::from_secs(3600),
        ..GatewaySettings::default()
    };
    let gateway = XrayGateway::start(&node_config, settings.clone(), events_tx).expect("gateway");
    let gateway: Arc<dyn NodeClient> = Arc::new(gateway);
    let provisioner = Provisioner::new(vec![gateway.clone()]);
    let driver = OutboxDriver::new(
        store.clone(),
        provisioner,
        Arc::new(SystemClock),
        Duration::from_secs(3600),
    );
    let (reconciler, _handle) = Reconciler::new(driver, Duration::from_secs(3600), events_rx);
    // Connect and warm the channel (the first call opens the HTTP/2 connection).
    let t = Instant::now();
    while gateway.status().state != "up" && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "gateway: XrayGateway actor to the fake over gRPC (call timeout {:?}, {} retries), up after {:.0} ms",
        settings.call_timeout,
        settings.retries,
        t.elapsed().as_secs_f64() * 1e3
    );
    println!();

    let dry = measured_pass(&reconciler, &node, true, "dry run").await;
    assert_eq!(fake.users().len(), listed, "a dry run changes nothing");
    let real = measured_pass(&reconciler, &node, false, "reconcile").await;
    let again = measured_pass(&reconciler, &node, false, "second pass").await;
    // A few more converged passes: does RSS settle?
    let mut steady = Vec::new();
    for _ in 0..cfg.steady_passes {
        let cpu = ProcessCpu::take();
        let t = Instant::now();
        let diff = reconciler.pass(Some(node.clone()), true, false).await;
        let took = t.elapsed();
        let cpu = ProcessCpu::take().since(&cpu);
        let drift = diff.ok().and_then(|d| {
            let d = d.first()?;
            Some(d.missing + d.extra + d.mismatched + d.failed + usize::from(d.error.is_some()))
        });
        steady.push((took, cpu, drift, Mem::read().rss_kib));
    }
    if !steady.is_empty() {
        println!(
            "{} more converged passes (wall / our CPU / other processes' share / VmRSS after):",
            steady.len()
        );
        for (took, cpu, _, rss) in &steady {
            println!(
                "  {:>6.0} ms / {:>4.0} ms / {:>4} / {:.1} MiB",
                ms(*took),
                ms(cpu.user + cpu.sys),
                percent(cpu.other_share),
                mib(*rss)
            );
        }
        let mut walls: Vec<Duration> = steady.iter().map(|s| s.0).collect();
        let mut cpus: Vec<Duration> = steady.iter().map(|s| s.1.user + s.1.sys).collect();
        walls.sort();
        cpus.sort();
        println!(
            "  converged pass: wall min {:.0} / median {:.0} / max {:.0} ms; our CPU min {:.0} / median {:.0} ms",
            ms(walls[0]),
            ms(walls[walls.len() / 2]),
            ms(walls[walls.len() - 1]),
            ms(cpus[0]),
            ms(cpus[cpus.len() / 2]),
        );
    }
    let steady_ok = steady.iter().all(|(_, _, drift, _)| *drift == Some(0));

    // ---- breakdown: the parts of a pass, on their own ----
    println!();
    println!(
        "breakdown (each part alone, on the converged node; best of 3 by wall, with its CPU; peak RSS over the RSS before, worst of 3):"
    );
    let (d, cpu, peak, n) = best_of(3, || async {
        store.desired_keys().await.expect("desired keys").len()
    })
    .await;
    println!(
        "  store.desired_keys()            {:>7.1} ms  CPU {:>5.1} ms  peak {:+6.1} MiB  ({n} rows)",
        ms(d),
        ms(cpu),
        mib(peak)
    );
    let (d, cpu, peak, n) = best_of(3, || async {
        let users = gateway.list_users().await.expect("list");
        users.expect("listing").len()
    })
    .await;
    println!(
        "  list_users via gateway actor    {:>7.1} ms  CPU {:>5.1} ms  peak {:+6.1} MiB  ({n} users; incl. the fake's side)",
        ms(d),
        ms(cpu),
        mib(peak)
    );
    let api = XrayApi::new(
        &fake.api_addr(),
        ApiFlavor::Xray,
        TAG,
        settings.call_timeout,
    )
    .expect("api");
    let (d, cpu, peak, n) = best_of(3, || async {
        let users = api.list_users().await.expect("list");
        users.expect("listing").len()
    })
    .await;
    println!(
        "  list_users via XrayApi directly {:>7.1} ms  CPU {:>5.1} ms  peak {:+6.1} MiB  ({n} users; incl. the fake's side)",
        ms(d),
        ms(cpu),
        mib(peak)
    );
    let keys = store.desired_keys().await.expect("desired keys");
    let actual = gateway.list_users().await.expect("list").expect("listing");
    let mut best = (Duration::MAX, Duration::ZERO);
    let mut peak = 0;
    let mut n = 0;
    for _ in 0..3 {
        let (k, a) = (keys.clone(), actual.clone());
        let before = Mem::read();
        Mem::reset_peak();
        let cpu = ProcessCpu::take();
        let t = Instant::now();
        n = replicated_plan(k, a);
        let took = t.elapsed();
        let cpu = ProcessCpu::take().since(&cpu);
        if took < best.0 {
            best = (took, cpu.user + cpu.sys);
        }
        peak = peak.max(Mem::read().hwm_kib - before.rss_kib);
    }
    println!(
        "  diff (pass maps, replicated)    {:>7.1} ms  CPU {:>5.1} ms  peak {:+6.1} MiB  ({n} to change; inputs owned, dropped inside)",
        ms(best.0),
        ms(best.1),
        mib(peak)
    );
    drop((keys, actual));
    // The repair: as many adds, then removes, of scratch users of our
    // namespace, 64 in flight through the gateway, like the pass does.
    let k = missing + mismatched;
    let scratch: Vec<(String, Uuid)> = (0..k)
        .map(|j| (format!("sv.{}.1", 8_000_000 + j), Uuid::new_v4()))
        .collect();
    let t = Instant::now();
    let added = stream::iter(&scratch)
        .map(|(email, uuid)| gateway.add_user(email, *uuid))
        .buffer_unordered(64)
        .filter(|r| std::future::ready(r.is_ok()))
        .count()
        .await;
    let add_time = t.elapsed();
    let t = Instant::now();
    let removed = stream::iter(&scratch)
        .map(|(email, _)| gateway.remove_user(email))
        .buffer_unordered(64)
        .filter(|r| std::future::ready(r.is_ok()))
        .count()
        .await;
    let remove_time = t.elapsed();
    println!(
        "  {k} adds + {k} removes via gateway, 64 in flight: {:.1} ms + {:.1} ms ({:.0} µs/call; {} failed)",
        ms(add_time),
        ms(remove_time),
        (add_time + remove_time).as_secs_f64() * 1e6 / (2 * k).max(1) as f64,
        2 * k - added - removed,
    );

    // Freed memory the allocator keeps vs memory still in use.
    let kept = Mem::read();
    if let Some(trimmed) = trim_heap() {
        println!(
            "memory: VmRSS {:.1} MiB now, {:.1} MiB after malloc_trim(0) (the rest: store pool, fake node table, runtime)",
            mib(kept.rss_kib),
            mib(trimmed.rss_kib)
        );
    }

    // ---- correctness ----
    println!();
    let want: BTreeSet<(String, Uuid)> = store
        .desired_keys()
        .await
        .expect("desired keys")
        .into_iter()
        .chain(operators.iter().cloned())
        .map(|(e, u)| (e.to_ascii_lowercase(), u))
        .collect();
    let have: BTreeSet<(String, Uuid)> = fake
        .users()
        .into_iter()
        .map(|(e, u)| (e.to_ascii_lowercase(), u))
        .collect();
    let (n_missing_exp, n_mismatched_exp, n_extra_exp) = (missing, mismatched, n_extra);
    let diff_ok = |d: &Option<(NodeDiff, Duration)>, m: usize, x: usize, mm: usize| {
        d.as_ref().is_some_and(|(d, _)| {
            d.error.is_none()
                && d.listing
                && (d.missing, d.extra, d.mismatched) == (m, x, mm)
                && d.failed == 0
        })
    };
    let checks = [
        (
            "dry run reports the drift",
            diff_ok(&dry, n_missing_exp, n_extra_exp, n_mismatched_exp),
        ),
        (
            "reconcile finds and fixes the drift",
            diff_ok(&real, n_missing_exp, n_extra_exp, n_mismatched_exp)
                && real.as_ref().is_some_and(|(d, _)| {
                    d.fixed == n_missing_exp + n_extra_exp + 2 * n_mismatched_exp
                }),
        ),
        (
            "second pass finds no drift",
            diff_ok(&again, 0, 0, 0) && again.as_ref().is_some_and(|(d, _)| d.fixed == 0),
        ),
        ("further converged passes find no drift", steady_ok),
        ("node users == desired ∪ operator users", want == have),
    ];
    let mut pass = true;
    for (what, ok) in checks {
        println!("check: {what}: {}", if ok { "ok" } else { "FAILED" });
        pass &= ok;
    }
    if want != have {
        let lacking: Vec<_> = want.difference(&have).take(5).collect();
        let surplus: Vec<_> = have.difference(&want).take(5).collect();
        println!(
            "  node lacks {} (e.g. {lacking:?}), has {} too many (e.g. {surplus:?})",
            want.difference(&have).count(),
            have.difference(&want).count()
        );
    }
    if let Some((_, took)) = &real {
        println!(
            "reconcile of {} desired against {listed} listed with {:.1}% drift: {:.0} ms wall (target < {} ms: {})",
            cfg.users,
            100.0 * (missing + mismatched + n_extra) as f64 / cfg.users as f64,
            ms(*took),
            TARGET.as_millis(),
            if *took < TARGET { "met" } else { "MISSED" }
        );
    }
    println!("{}", if pass { "PASS" } else { "FAIL" });

    drop(reconciler);
    store.close().await;
    drop(fake);
    pass
}

fn print_machine(cfg: &Config) {
    println!("{}", machine_line());
    if cfg.smoke {
        println!(
            "smoke run (no --bench flag): {} users, figures are meaningless",
            cfg.users
        );
    }
}
