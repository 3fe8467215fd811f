use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::*;

/// Fails its first `failures` runs (panicking, or returning when `exits`),
/// then works until stopped. `runs` counts every start; `kept` lives in the
/// worker itself, so it shows whether state survives a restart.
struct Flaky {
    failures: u32,
    exits: bool,
    runs: Arc<AtomicU32>,
    kept: u32,
    seen_kept: Arc<AtomicU32>,
}

impl Flaky {
    fn new(failures: u32, exits: bool) -> (Self, Arc<AtomicU32>, Arc<AtomicU32>) {
        let runs = Arc::new(AtomicU32::new(0));
        let seen_kept = Arc::new(AtomicU32::new(0));
        let worker = Self {
            failures,
            exits,
            runs: runs.clone(),
            kept: 0,
            seen_kept: seen_kept.clone(),
        };
        (worker, runs, seen_kept)
    }
}

impl Worker for Flaky {
    async fn run(&mut self, mut stopped: watch::Receiver<bool>) {
        self.kept += 1;
        self.seen_kept.store(self.kept, Ordering::SeqCst);
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        if run <= self.failures {
            if self.exits {
                return;
            }
            panic!("flaky worker failing on run {run}");
        }
        while !*stopped.borrow() {
            if stopped.changed().await.is_err() {
                return;
            }
        }
    }
}

fn quick() -> SupervisorSettings {
    SupervisorSettings {
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        stable_after: Duration::from_secs(3600),
        ready_grace: Duration::from_secs(3600),
        crash_loop_restarts: 1000,
        crash_loop_window: Duration::from_secs(3600),
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting until {what}");
}

fn view(supervisor: &Supervisor, name: &str) -> WorkerView {
    supervisor
        .views()
        .into_iter()
        .find(|v| v.name == name)
        .expect("the worker is registered")
}

#[tokio::test]
async fn a_panicking_worker_is_restarted_and_keeps_its_state() {
    let supervisor = Supervisor::new(quick());
    let (stop, stopped) = watch::channel(false);
    let (worker, runs, kept) = Flaky::new(2, false);
    let handle = supervisor.spawn("flaky", worker, stopped);

    until("the third run", || runs.load(Ordering::SeqCst) == 3).await;
    until("it runs", || {
        view(&supervisor, "flaky").state == WorkerState::Running
    })
    .await;
    let v = view(&supervisor, "flaky");
    assert_eq!(v.restarts, 2);
    let failure = v.last_failure.expect("the failure is kept");
    assert!(failure.contains("failing on run 2"), "{failure}");
    // The third run saw the value the first two left in the worker.
    assert_eq!(kept.load(Ordering::SeqCst), 3);

    stop.send(true).expect("the supervisor listens");
    handle.await.expect("the supervisor ends");
    assert_eq!(view(&supervisor, "flaky").state, WorkerState::Stopped);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        3,
        "not started again after the stop"
    );
}

#[tokio::test]
async fn a_worker_that_returns_early_is_restarted() {
    let supervisor = Supervisor::new(quick());
    let (stop, stopped) = watch::channel(false);
    let (worker, runs, _) = Flaky::new(1, true);
    let handle = supervisor.spawn("quitter", worker, stopped);

    until("the second run", || runs.load(Ordering::SeqCst) == 2).await;
    let v = view(&supervisor, "quitter");
    assert_eq!(v.restarts, 1);
    assert_eq!(v.last_failure.as_deref(), Some("exited unexpectedly"));

    stop.send(true).expect("the supervisor listens");
    handle.await.expect("the supervisor ends");
}

#[tokio::test]
async fn a_worker_down_past_the_grace_makes_the_service_unready_until_the_stop() {
    let supervisor = Supervisor::new(SupervisorSettings {
        // The restart waits long enough to be seen waiting.
        min_backoff: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(3600),
        ready_grace: Duration::ZERO,
        ..quick()
    });
    let (stop, stopped) = watch::channel(false);
    let (worker, runs, _) = Flaky::new(1, false);
    let (healthy, _, _) = Flaky::new(0, false);
    let handle = supervisor.spawn("down", worker, stopped.clone());
    let other = supervisor.spawn("healthy", healthy, stopped);

    until("it fails", || {
        view(&supervisor, "down").state == WorkerState::Restarting
    })
    .await;
    assert_eq!(supervisor.unready(), vec!["down".to_owned()]);
    let v = view(&supervisor, "down");
    assert!(v.down_for_ms.is_some());
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Stopping interrupts the back-off; a stopped worker is not "down".
    stop.send(true).expect("the supervisor listens");
    handle.await.expect("the supervisor ends");
    other.await.expect("the supervisor ends");
    assert_eq!(view(&supervisor, "down").state, WorkerState::Stopped);
    assert!(supervisor.unready().is_empty());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_worker_within_its_grace_keeps_the_service_ready() {
    let supervisor = Supervisor::new(SupervisorSettings {
        min_backoff: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(3600),
        ..quick()
    });
    let (stop, stopped) = watch::channel(false);
    let (worker, _, _) = Flaky::new(1, false);
    let handle = supervisor.spawn("brief", worker, stopped);
    until("it fails", || {
        view(&supervisor, "brief").state == WorkerState::Restarting
    })
    .await;
    assert!(supervisor.unready().is_empty());
    stop.send(true).expect("the supervisor listens");
    handle.await.expect("the supervisor ends");
}

#[tokio::test]
async fn a_crash_loop_makes_the_service_unready_until_a_stable_run() {
    let supervisor = Supervisor::new(SupervisorSettings {
        stable_after: Duration::from_secs(2),
        crash_loop_restarts: 3,
        ..quick()
    });
    let (stop, stopped) = watch::channel(false);
    let (worker, runs, _) = Flaky::new(3, false);
    let handle = supervisor.spawn("looping", worker, stopped);

    until("the fourth run", || runs.load(Ordering::SeqCst) == 4).await;
    let v = view(&supervisor, "looping");
    assert_eq!(v.restarts, 3);
    assert_eq!(v.state, WorkerState::Running);
    assert_eq!(v.down_for_ms, None, "running again: not down");
    // Up, but three failures in the window: a crash loop, not ready — until
    // the fourth run has lasted `stable_after` (seconds away).
    assert!(v.crash_looping, "{v:?}");
    assert_eq!(supervisor.unready(), vec!["looping".to_owned()]);
    until("it is stable", || {
        !view(&supervisor, "looping").crash_looping
    })
    .await;
    assert!(supervisor.unready().is_empty());

    stop.send(true).expect("the supervisor listens");
    handle.await.expect("the supervisor ends");
}

#[tokio::test]
async fn restarts_within_the_window_are_a_crash_loop() {
    let supervisor = Supervisor::new(SupervisorSettings {
        crash_loop_restarts: 3,
        ..quick()
    });
    let (stop, stopped) = watch::channel(false);
    let (worker, runs, _) = Flaky::new(u32::MAX, false);
    let handle = supervisor.spawn("doomed", worker, stopped);

    until("two failures", || runs.load(Ordering::SeqCst) >= 2).await;
    until("the second restart", || {
        view(&supervisor, "doomed").restarts >= 2
    })
    .await;
    let v = view(&supervisor, "doomed");
    if v.restarts < 3 {
        assert!(!v.crash_looping, "two restarts are not a loop: {v:?}");
    }
    until("a crash loop", || view(&supervisor, "doomed").crash_looping).await;
    assert!(view(&supervisor, "doomed").restarts >= 3);

    stop.send(true).expect("the supervisor listens");
    handle.await.expect("the supervisor ends");
}

#[tokio::test]
async fn restarts_outside_the_window_are_no_crash_loop() {
    let supervisor = Supervisor::new(SupervisorSettings {
        crash_loop_restarts: 2,
        crash_loop_window: Duration::ZERO,
        ..quick()
    });
    let (stop, stopped) = watch::channel(false);
    let (worker, runs, _) = Flaky::new(5, false);
    let handle = supervisor.spawn("sparse", worker, stopped);
    until("the sixth run", || runs.load(Ordering::SeqCst) == 6).await;
    let v = view(&supervisor, "sparse");
    assert_eq!(v.restarts, 5);
    assert!(!v.crash_looping, "{v:?}");
    stop.send(true).expect("the supervisor listens");
    handle.await.expect("the supervisor ends");
}

#[cfg(feature = "fault-injection")]
#[tokio::test]
async fn an_injected_panic_restarts_a_healthy_worker() {
    let supervisor = Supervisor::new(quick());
    let (stop, stopped) = watch::channel(false);
    let (worker, runs, _) = Flaky::new(0, false);
    let handle = supervisor.spawn("healthy", worker, stopped);
    until("it runs", || runs.load(Ordering::SeqCst) == 1).await;
    assert!(!supervisor.inject_panic("nobody"));
    assert!(supervisor.inject_panic("healthy"));
    until("the second run", || runs.load(Ordering::SeqCst) == 2).await;
    let v = view(&supervisor, "healthy");
    assert_eq!(v.restarts, 1);
    assert!(
        v.last_failure
            .as_deref()
            .is_some_and(|f| f.contains("injected fault")),
        "{v:?}"
    );
    stop.send(true).expect("the supervisor listens");
    handle.await.expect("the supervisor ends");
}
