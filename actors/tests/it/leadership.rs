//! Leadership that survives a frozen or cut-off leader, on a real PostgreSQL
//! cluster: two stores (two pools, as two instances) on one database. An
//! election that is not refreshed stands for a frozen process (SIGSTOP): its
//! session is open and idle, so the server alone would keep its lock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use subvisor_actors::leader::{Election, Leadership, LeasePolicy};
use subvisor_actors::store::{self, Store, StoreOptions};
use subvisor_actors::workers::Worker;

const POLICY: LeasePolicy = LeasePolicy {
    every: Duration::from_millis(100),
    term: Duration::from_millis(800),
};

/// Two instances' stores on one fresh, migrated database, and its URL.
async fn two_instances() -> (Arc<dyn Store>, Arc<dyn Store>, String) {
    let url = subvisor_testkit::shared_pg()
        .fresh_database()
        .expect("create database");
    let first = store::connect(&StoreOptions::new(url.clone()))
        .await
        .expect("connect");
    first.migrate().await.expect("migrate");
    let second = store::connect(&StoreOptions::new(url.clone()))
        .await
        .expect("connect");
    (first, second, url)
}

/// Refreshes `election` every interval until it leads; panics after `limit`.
async fn lead_within(election: &mut Election, limit: Duration) -> Duration {
    let started = Instant::now();
    while !election.refresh().await {
        assert!(started.elapsed() < limit, "never took the lead");
        tokio::time::sleep(POLICY.every).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_leader_that_stops_renewing_reads_not_leader_once_its_term_is_over() {
    let (first, _second, _) = two_instances().await;
    let (_frozen, flag) = Election::start(first, "scheduler", POLICY).await;
    assert!(flag.is_leader(), "a lone instance leads at once");
    // Nothing runs for longer than the term (the process was stopped): the
    // flag alone says the lead is over, before any election code runs again.
    tokio::time::sleep(POLICY.term + Duration::from_millis(200)).await;
    assert!(
        !flag.is_leader(),
        "a lead not renewed within its term must not be acted on"
    );
    assert_eq!(flag.valid_for(), None);
}

#[tokio::test]
async fn a_standby_ends_a_frozen_leaders_session_and_the_old_leader_stays_down() {
    let (first, second, _) = two_instances().await;
    let (mut frozen, old) = Election::start(first, "scheduler", POLICY).await;
    let (mut standby, new) = Election::start(second, "scheduler", POLICY).await;
    assert!(old.is_leader());
    assert!(!new.is_leader(), "one leader at a time");

    // The leader freezes: its session stays open and idle, its lock held.
    let took = lead_within(&mut standby, Duration::from_secs(20)).await;
    println!(
        "takeover after the leader froze: {took:?} (bound: {:?})",
        POLICY.worst_failover()
    );
    assert!(
        !old.is_leader(),
        "the frozen leader's lead was still valid when the standby took over"
    );

    // The old leader resumes: its session was ended, so it stays standby.
    assert!(
        !frozen.refresh().await,
        "the old leader must not lead again"
    );
    assert!(!old.is_leader());
    assert!(standby.refresh().await, "the new leader keeps the lead");
    assert!(new.is_leader());
}

/// The server ended the leader's session by itself (as its keepalive or
/// `tcp_user_timeout` does for a vanished peer) while the leader still
/// believed it led: the lock is free at once, but whoever takes it acts
/// only after the old lease has run out.
#[tokio::test]
async fn a_lock_freed_by_the_server_is_acted_on_only_after_the_old_lease() {
    let (first, second, url) = two_instances().await;
    let policy = LeasePolicy {
        every: Duration::from_millis(50),
        term: Duration::from_millis(1500),
    };
    let (_cut_off, old) = Election::start(first, "scheduler", policy).await;
    assert!(old.is_leader());
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .expect("connect");
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(backend_pid, 5000) FROM leader_leases WHERE role = 'scheduler'",
    )
    .fetch_all(&mut admin)
    .await
    .expect("terminate");
    assert_eq!(ended, vec![true], "the leader's session was ended");

    let (mut standby, new) = Election::start(second, "scheduler", policy).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut waited_with_the_lock = false;
    loop {
        assert!(
            !(old.is_leader() && new.is_leader()),
            "two instances acted as leader at once"
        );
        if new.is_leader() {
            break;
        }
        waited_with_the_lock |= standby.flag().valid_for().is_none() && old.is_leader();
        assert!(Instant::now() < deadline, "the standby never led");
        tokio::time::sleep(Duration::from_millis(10)).await;
        standby.refresh().await;
    }
    assert!(
        waited_with_the_lock,
        "the standby should have waited out the old lease"
    );
}

/// A leader that shuts down marks its lease expired: a standby leads at its
/// next look, without waiting out the term.
#[tokio::test]
async fn a_leader_that_shuts_down_hands_over_at_once() {
    let (first, second, _) = two_instances().await;
    let policy = LeasePolicy {
        every: Duration::from_millis(100),
        term: Duration::from_secs(60),
    };
    let (mut leader, old) = Election::start(first, "payments", policy).await;
    let (mut standby, new) = Election::start(second, "payments", policy).await;
    assert!(old.is_leader() && !new.is_leader());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move { leader.run(stopped).await });
    stop.send(true).expect("stop");
    task.await.expect("election stopped");
    assert!(!old.is_leader());
    assert!(
        standby.refresh().await,
        "the released lease is taken without waiting out its term"
    );
}

/// One SQLite instance always leads, renewal after renewal.
#[tokio::test]
async fn sqlite_always_leads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/subvisor.db", dir.path().display());
    let store = store::connect(&StoreOptions::new(url))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let leadership = Leadership::new(store, POLICY);
    let (mut election, flag) = leadership.elect("scheduler").await;
    assert!(flag.is_leader());
    for _ in 0..3 {
        tokio::time::sleep(POLICY.term / 2).await;
        assert!(election.refresh().await);
        assert!(flag.is_leader());
    }
    let views = leadership.views();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].role, "scheduler");
    assert!(views[0].leader);
}
