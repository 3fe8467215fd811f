//! Supervised background workers: the expiry scheduler, the provisioning
//! outbox, the node reconciler, the notifier, the payment worker, the
//! elections and the bot's update loop each run under a [`Supervisor`].
//!
//! A worker that panics or returns while the service is not stopping is
//! started again after a back-off (exponential with jitter, reset once an
//! incarnation has run for `stable_after`). The worker's own state survives
//! its incarnations: it lives behind a mutex the supervisor owns, so channels
//! it reads (node events, Telegram updates) and leases it holds are not lost.
//!
//! Every restart is counted (`subvisor_worker_restarts_total{worker}`); a
//! worker down for longer than `ready_grace` makes `/readyz` fail
//! ([`Supervisor::unready`]); `crash_loop_restarts` restarts within
//! `crash_loop_window` is a crash loop: logged as an error, shown on `/ops`,
//! counted in `subvisor_worker_crash_looping{worker}` and, when the supervisor
//! has a store, raised to the admins as an alert.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};

use crate::clock::Clock;
use crate::domain::{AlertKind, Principal};
use crate::metrics as m;
use crate::store::{Store, WriteCtx};

/// A long-running task of the service. `run` works until `stopped` turns
/// true; returning earlier (or panicking) is a failure its supervisor
/// answers with a restart, calling `run` again on the same value.
pub trait Worker: Send + 'static {
    fn run(&mut self, stopped: watch::Receiver<bool>) -> impl Future<Output = ()> + Send;
}

/// How the supervisor restarts workers and judges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisorSettings {
    /// The first restart's delay; each further failure doubles it (with jitter).
    pub min_backoff: Duration,
    /// The longest delay between two restarts.
    pub max_backoff: Duration,
    /// An incarnation that ran this long counts as recovered: the back-off
    /// starts over and the worker is no longer "down".
    pub stable_after: Duration,
    /// How long a worker may be down before `/readyz` fails.
    pub ready_grace: Duration,
    /// This many restarts within `crash_loop_window` is a crash loop.
    pub crash_loop_restarts: u32,
    pub crash_loop_window: Duration,
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        Self {
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
            ready_grace: Duration::from_secs(15),
            crash_loop_restarts: 5,
            crash_loop_window: Duration::from_secs(300),
        }
    }
}

/// What a worker is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    Running,
    /// Failed; waiting out its back-off before the next start.
    Restarting,
    /// The service is stopping (or stopped) it.
    Stopped,
}

/// One worker as `/ops/workers` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerView {
    pub name: String,
    pub state: WorkerState,
    pub restarts: u64,
    /// While it waits to be restarted: since it failed.
    pub down_for_ms: Option<u64>,
    pub crash_looping: bool,
    /// The panic message, or "exited unexpectedly".
    pub last_failure: Option<String>,
    pub last_failure_ago_ms: Option<u64>,
}

#[derive(Debug)]
struct Entry {
    state: WorkerState,
    restarts: u64,
    down_since: Option<Instant>,
    recent_failures: VecDeque<Instant>,
    crash_looping: bool,
    last_failure: Option<(String, Instant)>,
}

impl Entry {
    fn new() -> Self {
        Self {
            state: WorkerState::Running,
            restarts: 0,
            down_since: None,
            recent_failures: VecDeque::new(),
            crash_looping: false,
            last_failure: None,
        }
    }

    fn view(&self, name: &str, now: Instant) -> WorkerView {
        let ms = |since: Instant| now.saturating_duration_since(since).as_millis() as u64;
        WorkerView {
            name: name.to_owned(),
            state: self.state,
            restarts: self.restarts,
            down_for_ms: self.down_since.map(ms),
            crash_looping: self.crash_looping,
            last_failure: self.last_failure.as_ref().map(|(why, _)| why.clone()),
            last_failure_ago_ms: self.last_failure.as_ref().map(|(_, at)| ms(*at)),
        }
    }
}

/// Where a crash loop is reported besides the log and the metrics.
struct AlertSink {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

struct Inner {
    settings: SupervisorSettings,
    workers: Mutex<BTreeMap<String, Entry>>,
    alerts: Option<AlertSink>,
    #[cfg(feature = "fault-injection")]
    faults: Mutex<BTreeMap<String, Arc<tokio::sync::Notify>>>,
}

/// Starts workers and restarts them when they fail; answers what each is
/// doing. Cheap to clone (all clones see the same workers).
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl Supervisor {
    pub fn new(settings: SupervisorSettings) -> Self {
        Self::build(settings, None)
    }

    /// As [`new`](Self::new); crash loops are also raised to the admins
    /// through the store's alert outbox.
    pub fn with_alerts(
        settings: SupervisorSettings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::build(settings, Some(AlertSink { store, clock }))
    }

    fn build(settings: SupervisorSettings, alerts: Option<AlertSink>) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                workers: Mutex::new(BTreeMap::new()),
                alerts,
                #[cfg(feature = "fault-injection")]
                faults: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Runs `worker` under supervision until `stopped` turns true. The
    /// returned handle ends once the worker has stopped for good.
    pub fn spawn<W: Worker>(
        &self,
        name: impl Into<String>,
        worker: W,
        stopped: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let name = name.into();
        self.entries().insert(name.clone(), Entry::new());
        metrics::gauge!(m::WORKER_UP, "worker" => name.clone()).set(1.0);
        metrics::gauge!(m::WORKER_CRASH_LOOPING, "worker" => name.clone()).set(0.0);
        let worker = Arc::new(tokio::sync::Mutex::new(worker));
        tokio::spawn(self.clone().supervise(name, worker, stopped))
    }

    /// Every worker, by name.
    pub fn views(&self) -> Vec<WorkerView> {
        let now = Instant::now();
        self.entries()
            .iter()
            .map(|(name, entry)| entry.view(name, now))
            .collect()
    }

    /// The workers that have been down for longer than `ready_grace`, and
    /// those crash-looping (up between failures, but not for long).
    pub fn unready(&self) -> Vec<String> {
        let now = Instant::now();
        let grace = self.inner.settings.ready_grace;
        self.entries()
            .iter()
            .filter(|(_, e)| {
                let down_too_long = e.state == WorkerState::Restarting
                    && e.down_since
                        .is_some_and(|since| now.saturating_duration_since(since) >= grace);
                down_too_long || (e.crash_looping && e.state != WorkerState::Stopped)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Makes the named worker's running incarnation panic (tests). Returns
    /// whether a worker of that name is running.
    #[cfg(feature = "fault-injection")]
    pub fn inject_panic(&self, name: &str) -> bool {
        let faults = self
            .inner
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match faults.get(name) {
            Some(trigger) => {
                trigger.notify_one();
                true
            }
            None => false,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        // No code panics while holding this lock; a poisoned map is still whole.
        self.inner
            .workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn update<T>(&self, name: &str, change: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        self.entries().get_mut(name).map(change)
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        let s = &self.inner.settings;
        ExponentialBuilder::default()
            .with_min_delay(s.min_backoff)
            .with_max_delay(s.max_backoff)
            .with_jitter()
            .without_max_times()
            .build()
    }

    async fn supervise<W: Worker>(
        self,
        name: String,
        worker: Arc<tokio::sync::Mutex<W>>,
        mut stopped: watch::Receiver<bool>,
    ) {
        let settings = self.inner.settings;
        let mut delays = self.backoff();
        loop {
            let started = Instant::now();
            let mut incarnation = tokio::spawn(self.incarnation(&name, &worker, stopped.clone()));
            let outcome = tokio::select! {
                outcome = &mut incarnation => outcome,
                () = tokio::time::sleep(settings.stable_after) => {
                    self.recovered(&name);
                    incarnation.await
                }
            };
            if *stopped.borrow() {
                self.stopped(&name);
                return;
            }
            if started.elapsed() >= settings.stable_after {
                delays = self.backoff();
            }
            let delay = delays.next().unwrap_or(settings.max_backoff);
            self.failed(&name, &outcome, delay);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stopped.changed() => {}
            }
            if *stopped.borrow() {
                self.stopped(&name);
                return;
            }
            self.update(&name, |e| {
                e.state = WorkerState::Running;
                e.down_since = None;
            });
            metrics::gauge!(m::WORKER_UP, "worker" => name.clone()).set(1.0);
            tracing::info!(worker = %name, "background worker restarted");
        }
    }

    /// One run of the worker, in its own task (so a panic is caught there).
    fn incarnation<W: Worker>(
        &self,
        name: &str,
        worker: &Arc<tokio::sync::Mutex<W>>,
        stopped: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let worker = worker.clone();
        #[cfg(feature = "fault-injection")]
        let trigger = {
            let trigger = Arc::new(tokio::sync::Notify::new());
            self.inner
                .faults
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(name.to_owned(), trigger.clone());
            trigger
        };
        #[cfg(not(feature = "fault-injection"))]
        let _ = name;
        async move {
            let mut worker = worker.lock_owned().await;
            #[cfg(feature = "fault-injection")]
            tokio::select! {
                () = worker.run(stopped) => {}
                () = trigger.notified() => panic!("injected fault: worker panic"),
            }
            #[cfg(not(feature = "fault-injection"))]
            worker.run(stopped).await;
        }
    }

    /// The incarnation has run for `stable_after`: no longer a crash loop.
    fn recovered(&self, name: &str) {
        let was_looping = self
            .update(name, |e| std::mem::replace(&mut e.crash_looping, false))
            .unwrap_or(false);
        if was_looping {
            metrics::gauge!(m::WORKER_CRASH_LOOPING, "worker" => name.to_owned()).set(0.0);
            tracing::info!(worker = %name, "background worker is stable again");
        }
    }

    fn stopped(&self, name: &str) {
        self.update(name, |e| e.state = WorkerState::Stopped);
        metrics::gauge!(m::WORKER_UP, "worker" => name.to_owned()).set(0.0);
    }

    fn failed(&self, name: &str, outcome: &Result<(), JoinError>, delay: Duration) {
        let why = match outcome {
            Ok(()) => "exited unexpectedly".to_owned(),
            Err(e) if e.is_panic() => e.to_string(),
            Err(_) => "cancelled".to_owned(),
        };
        let settings = self.inner.settings;
        let now = Instant::now();
        let (restarts, crash_loop_began) = self
            .update(name, |e| {
                e.state = WorkerState::Restarting;
                e.restarts += 1;
                e.down_since.get_or_insert(now);
                e.last_failure = Some((why.clone(), now));
                e.recent_failures.push_back(now);
                while e
                    .recent_failures
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) > settings.crash_loop_window)
                {
                    e.recent_failures.pop_front();
                }
                let looping = e.recent_failures.len() >= settings.crash_loop_restarts as usize;
                let began = looping && !e.crash_looping;
                e.crash_looping |= looping;
                (e.restarts, began)
            })
            .unwrap_or((0, false));
        metrics::counter!(m::WORKER_RESTARTS, "worker" => name.to_owned()).increment(1);
        metrics::gauge!(m::WORKER_UP, "worker" => name.to_owned()).set(0.0);
        tracing::error!(
            worker = %name,
            failure = %why,
            restarts,
            restart_in_ms = delay.as_millis() as u64,
            "background worker failed; restarting it"
        );
        if crash_loop_began {
            metrics::gauge!(m::WORKER_CRASH_LOOPING, "worker" => name.to_owned()).set(1.0);
            tracing::error!(
                worker = %name,
                failure = %why,
                restarts,
                "background worker is crash-looping"
            );
            self.raise_crash_loop(name, &why, restarts);
        }
    }

    fn raise_crash_loop(&self, name: &str, why: &str, restarts: u64) {
        let Some(sink) = &self.inner.alerts else {
            return;
        };
        let store = sink.store.clone();
        let now = sink.clock.now();
        let payload = serde_json::json!({
            "worker": name,
            "failure": why,
            "restarts": restarts,
        });
        let name = name.to_owned();
        tokio::spawn(async move {
            let ctx = WriteCtx {
                now,
                by: Principal::System,
                nodes: &[],
            };
            if let Err(e) = store
                .raise_alert(&ctx, AlertKind::WorkerCrashLoop, payload)
                .await
            {
                tracing::error!(worker = %name, error = %e, "could not raise the crash-loop alert");
            }
        });
    }
}

#[cfg(test)]
mod tests;
