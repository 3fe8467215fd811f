//! The background workers' supervisor against a real store: a crash loop is
//! raised to the admins through the alert outbox, once per loop.

use std::sync::Arc;
use std::time::Duration;

use subvisor_actors::clock::SystemClock;
use subvisor_actors::domain::AlertKind;
use subvisor_actors::store::Backend;
use subvisor_actors::workers::{Supervisor, SupervisorSettings, Worker};
use tokio::sync::watch;

use crate::helpers::fresh_store;

/// Panics on every run.
struct Doomed;

impl Worker for Doomed {
    async fn run(&mut self, _stopped: watch::Receiver<bool>) {
        panic!("doomed worker: the database schema is not what it expects");
    }
}

#[tokio::test]
async fn a_crash_loop_is_raised_to_the_admins_once() {
    let db = fresh_store(Backend::Sqlite, 2).await;
    let supervisor = Supervisor::with_alerts(
        SupervisorSettings {
            min_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            stable_after: Duration::from_secs(3600),
            ready_grace: Duration::from_secs(3600),
            crash_loop_restarts: 3,
            crash_loop_window: Duration::from_secs(3600),
        },
        db.store.clone(),
        Arc::new(SystemClock),
    );
    let (stop, stopped) = watch::channel(false);
    let handle = supervisor.spawn("doomed", Doomed, stopped);
    let far = chrono::Utc::now() + chrono::Duration::days(1);
    let mut alerts = Vec::new();
    for _ in 0..1000 {
        alerts = db.store.due_alerts(far, 10).await.expect("alerts");
        let restarts = supervisor.views()[0].restarts;
        if !alerts.is_empty() && restarts >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(true).expect("the supervisor listens");
    handle.await.expect("the supervisor ends");
    assert!(supervisor.views()[0].restarts >= 6);
    assert_eq!(alerts.len(), 1, "one alert per crash loop: {alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert.kind, AlertKind::WorkerCrashLoop);
    assert_eq!(alert.payload["worker"], "doomed");
    assert_eq!(alert.payload["restarts"], 3);
    let failure = alert.payload["failure"].as_str().unwrap_or_default();
    assert!(
        failure.contains("schema is not what it expects"),
        "{failure}"
    );
}
