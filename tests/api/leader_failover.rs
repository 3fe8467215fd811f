//! Two instances of the real binary on one throwaway PostgreSQL database: the
//! leader is frozen (SIGSTOP: its TCP connections stay up, the kernel keeps
//! ACKing, so PostgreSQL alone would keep its lock for hours). The standby
//! must lead within `leader_lease + leader_interval`, and the old leader,
//! resumed (SIGCONT), must have stepped down before running any singleton:
//! its scheduler pass, overdue when it resumes, must not run.
//!
//! (A pass already running when the process froze finishes after it resumes:
//! the workers check the lead before each pass, not before each step. The
//! freeze is therefore put between two scheduler passes.)

use std::time::{Duration, Instant};

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
            // Scheduler passes far apart, so the freeze can be put between two.
            ("SUBVISOR__SCHEDULER__INTERVAL", "3s"),
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
    // Freeze the leader between two scheduler passes: right after one has
    // started, wait for it to finish (the next is 3 s away).
    let runs = |server: &ServerProcess| metric(&http, server, "subvisor_scheduler_runs_total");
    let before = runs(&leader);
    let deadline = Instant::now() + Duration::from_secs(15);
    while runs(&leader) == before {
        assert!(
            Instant::now() < deadline,
            "the leader never ran the scheduler"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    let runs_before_freeze = runs(&leader);

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

    // Resume the old leader once its next scheduler pass is overdue: the
    // scheduler wakes at once and must find it is no longer the leader.
    while frozen.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(50));
    }
    leader.signal("CONT");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        roles(&http, &leader).iter().all(|(_, leads)| !leads),
        "the resumed leader still claims a role: {:?}",
        roles(&http, &leader)
    );
    assert_eq!(
        runs(&leader),
        runs_before_freeze,
        "the resumed leader ran a scheduler pass"
    );
    assert_eq!(
        reconcile_status(&http, &leader),
        409,
        "the old leader stands by"
    );
    assert!(leads_all(&http, &standby), "the new leader keeps the lead");
    let deadline = Instant::now() + Duration::from_secs(15);
    while runs(&standby) == 0.0 {
        assert!(
            Instant::now() < deadline,
            "the new leader never ran the scheduler"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = leader.logs();
    assert!(logs.contains("lost the lead"), "{logs}");
}
