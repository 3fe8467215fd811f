//! Two instances of the real binary on one throwaway PostgreSQL database: the
//! leader is frozen (SIGSTOP: its TCP connections stay up, the kernel keeps
//! ACKing, so PostgreSQL alone would keep its lock for hours). The standby
//! must lead within `leader_lease + leader_interval`, and the old leader,
//! resumed (SIGCONT), must have stepped down before running any singleton.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::helpers::ServerProcess;

const INTERVAL: Duration = Duration::from_millis(200);
const LEASE: Duration = Duration::from_secs(2);

fn start(cwd: &std::path::Path, url: &str) -> ServerProcess {
    ServerProcess::start(
        cwd,
        &[
            ("SUBVISOR__DATABASE__URL", url),
            ("SUBVISOR__CLUSTER__LEADER_INTERVAL", "200ms"),
            ("SUBVISOR__CLUSTER__LEADER_LEASE", "2s"),
            ("SUBVISOR__CLUSTER__DB_KEEPALIVE_IDLE", "1s"),
            ("SUBVISOR__CLUSTER__DB_KEEPALIVE_INTERVAL", "1s"),
            ("SUBVISOR__CLUSTER__DB_KEEPALIVE_COUNT", "2"),
            ("SUBVISOR__CLUSTER__DB_TCP_USER_TIMEOUT", "2s"),
            ("SUBVISOR__SCHEDULER__INTERVAL", "100ms"),
            ("SUBVISOR__RECONCILE__INTERVAL", "100ms"),
        ],
    )
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// `(role, leads)` of every role on `/ops/leadership`.
fn roles(http: &reqwest::blocking::Client, server: &ServerProcess) -> Vec<(String, bool)> {
    let body: Value = http
        .get(format!("{}/ops/leadership", server.ops))
        .send()
        .expect("leadership")
        .json()
        .expect("json");
    body["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .map(|r| {
            (
                r["role"].as_str().expect("role").to_owned(),
                r["leader"].as_bool().expect("leader"),
            )
        })
        .collect()
}

fn leads_all(http: &reqwest::blocking::Client, server: &ServerProcess) -> bool {
    let roles = roles(http, server);
    roles.len() == 3 && roles.iter().all(|(_, leads)| *leads)
}

/// The sum of a metric's samples (all label sets) on `/metrics`.
fn metric(http: &reqwest::blocking::Client, server: &ServerProcess, name: &str) -> f64 {
    let text = http
        .get(format!("{}/metrics", server.ops))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn reconcile_status(http: &reqwest::blocking::Client, server: &ServerProcess) -> u16 {
    http.post(format!("{}/ops/reconcile", server.ops))
        .json(&serde_json::json!({ "dry_run": true }))
        .send()
        .expect("reconcile")
        .status()
        .as_u16()
}

#[test]
fn a_frozen_leader_is_replaced_within_the_lease_and_steps_down_when_it_resumes() {
    let url = subvisor_testkit::shared_pg()
        .fresh_database()
        .expect("database");
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let mut leader = start(dir_a.path(), &url);
    let mut standby = start(dir_b.path(), &url);
    let http = client();

    assert!(leads_all(&http, &leader), "{:?}", roles(&http, &leader));
    assert!(
        roles(&http, &standby).iter().all(|(_, leads)| !leads),
        "one leader at a time: {:?}",
        roles(&http, &standby)
    );
    assert_eq!(reconcile_status(&http, &standby), 409);
    // The leader's singletons run (a reconcile pass every 100 ms).
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(
        &http,
        &leader,
        "subvisor_reconcile_last_run_timestamp_seconds",
    ) == 0.0
    {
        assert!(Instant::now() < deadline, "the leader never reconciled");
        std::thread::sleep(Duration::from_millis(50));
    }

    leader.signal("STOP");
    let frozen = Instant::now();
    let deadline = frozen + Duration::from_secs(30);
    while !leads_all(&http, &standby) {
        assert!(
            Instant::now() < deadline,
            "the standby never took over from the frozen leader:\n{}",
            standby.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = frozen.elapsed();
    let bound = LEASE + INTERVAL;
    println!("standby led {took:?} after SIGSTOP (documented bound {bound:?})");
    // The documented bound, with a wide margin for a loaded machine (the
    // session's end and the polling above come on top).
    assert!(
        took < bound + Duration::from_secs(3),
        "took over after {took:?}; the bound is {bound:?}"
    );
    assert_eq!(
        reconcile_status(&http, &standby),
        200,
        "the new leader reconciles"
    );
    let runs_on_new = metric(&http, &standby, "subvisor_scheduler_runs_total");

    // Let the new leader work a while, then resume the old one.
    std::thread::sleep(Duration::from_secs(1));
    let resumed_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs();
    leader.signal("CONT");
    let runs_after_resume = metric(&http, &leader, "subvisor_scheduler_runs_total");
    assert!(
        roles(&http, &leader).iter().all(|(_, leads)| !leads),
        "the resumed leader still claims a role: {:?}",
        roles(&http, &leader)
    );
    // Several intervals later it still stands by and has run no singleton
    // since it resumed: no reconcile pass (its last one is from before the
    // freeze), no scheduler pass.
    std::thread::sleep(Duration::from_secs(1));
    let last_pass = metric(
        &http,
        &leader,
        "subvisor_reconcile_last_run_timestamp_seconds",
    );
    assert!(
        (last_pass as u64) < resumed_at,
        "the resumed leader ran a reconcile pass at {last_pass} (resumed at {resumed_at})"
    );
    assert_eq!(
        metric(&http, &leader, "subvisor_scheduler_runs_total"),
        runs_after_resume,
        "the resumed leader ran the scheduler"
    );
    assert!(roles(&http, &leader).iter().all(|(_, leads)| !leads));
    assert_eq!(
        reconcile_status(&http, &leader),
        409,
        "the old leader stands by"
    );
    assert!(leads_all(&http, &standby), "the new leader keeps the lead");
    assert!(metric(&http, &standby, "subvisor_scheduler_runs_total") > runs_on_new);
    let logs = leader.logs();
    assert!(logs.contains("lost the lead"), "{logs}");
}
