//! Measured runs of concurrent clients for benchmarks: [`run_clients`] starts
//! the clients together and times them, [`Run`] holds the figures,
//! [`median_run`] picks the run to report.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Barrier;

use super::CpuSample;

/// One measured run of one path.
#[derive(Debug, Clone)]
pub struct Run {
    /// Calls made (messages sent, callbacks posted, …).
    pub calls: usize,
    pub elapsed: Duration,
    /// Per-call latency, sorted.
    pub latencies: Vec<Duration>,
    /// Share of the machine's CPU time used by processes outside this bench
    /// (this process and its descendants, i.e. PostgreSQL) during the run.
    pub foreign_cpu: Option<f64>,
    /// CPU time of this process and its descendants (PostgreSQL) during the run.
    pub own_cpu: Option<Duration>,
}

impl Run {
    /// Calls per second.
    pub fn rate(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency below which `p` percent of the calls stayed.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// Our CPU time per call, as `"123 µs"` (`"?"` when unknown).
    pub fn cpu_per_call(&self) -> String {
        self.own_cpu.map_or_else(
            || "?".into(),
            |cpu| {
                format!(
                    "{:.0} µs",
                    cpu.as_secs_f64() * 1e6 / self.calls.max(1) as f64
                )
            },
        )
    }
}

impl AsRef<Run> for Run {
    fn as_ref(&self) -> &Run {
        self
    }
}

/// The run of median throughput.
pub fn median_run<R: AsRef<Run>>(mut runs: Vec<R>) -> R {
    runs.sort_by(|a, b| a.as_ref().rate().total_cmp(&b.as_ref().rate()));
    runs.swap_remove(runs.len() / 2)
}

/// Spawns `clients` tasks on the runtime, `client(k)` for `k` in
/// `0..clients`, each returning the latencies of its calls; lets them all
/// start at once and measures from then until the last one is done.
pub async fn run_clients<F, Fut>(clients: usize, client: F) -> Run
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Vec<Duration>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(clients + 1));
    let tasks: Vec<_> = (0..clients)
        .map(|k| {
            let calls = client(k);
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                calls.await
            })
        })
        .collect();
    barrier.wait().await;
    let cpu_before = CpuSample::take();
    let started = Instant::now();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    let cpu = cpu_before.zip(CpuSample::take());
    latencies.sort_unstable();
    Run {
        calls: latencies.len(),
        elapsed,
        latencies,
        foreign_cpu: cpu.as_ref().map(|(b, a)| a.foreign_share_since(b)),
        own_cpu: cpu.map(|(b, a)| a.own_cpu_since(&b)),
    }
}
