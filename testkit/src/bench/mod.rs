//! Helpers shared by the benchmarks: environment knobs (smoke run, backends,
//! numbers), the machine line, fresh databases, formatting; CPU accounting in
//! [`cpu`], memory in [`memory`], measured runs of concurrent clients in
//! [`runs`].

use std::path::Path;
use std::time::Duration;

use crate::Backend;

mod cpu;
mod memory;
mod runs;

pub use cpu::{CpuSample, ProcessCpu, ProcessCpuUse};
pub use memory::{Mem, mib, trim_heap};
pub use runs::{Run, median_run, run_clients};

/// `cargo bench` passes `--bench`; anything else (`cargo test --all-targets`)
/// gets a smoke run: a tiny workload, so tests stay fast.
pub fn is_smoke_run() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// The backends named in `BENCH_BACKENDS` (`sqlite,postgres` by default; `pg`
/// is `postgres`).
pub fn backends_from_env() -> Vec<Backend> {
    match std::env::var("BENCH_BACKENDS") {
        Ok(list) => list
            .split(',')
            .map(|b| match b.trim() {
                "sqlite" => Backend::Sqlite,
                "postgres" | "pg" => Backend::Postgres,
                other => panic!("BENCH_BACKENDS: unknown backend {other:?}"),
            })
            .collect(),
        Err(_) => vec![Backend::Sqlite, Backend::Postgres],
    }
}

/// `SQLite` / `PostgreSQL`, for headings.
pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

/// The URL of a SQLite database file `subvisor.db` in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("subvisor.db").display())
}

/// A fresh database on the shared PostgreSQL cluster (started on first use,
/// off the async runtime's threads): its URL and a line describing it.
pub async fn fresh_pg_database() -> (String, String) {
    let url = tokio::task::spawn_blocking(|| {
        crate::shared_pg()
            .fresh_database()
            .expect("create database")
    })
    .await
    .expect("start PostgreSQL");
    let where_ =
        format!("{url} (testkit cluster: fsync=off, synchronous_commit=off, full_page_writes=off)");
    (url, where_)
}

/// A numeric knob from the environment (`_` separators allowed), or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
        Err(_) => default,
    }
}

/// One line describing the machine and build the figures come from.
pub fn machine_line() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / (1024.0 * 1024.0))
        })
        .map_or_else(|| "?".into(), |g| format!("{g:.1}"));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".into(), |k| k.trim().to_string());
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "rustc ?".into(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        );
    let profile = if cfg!(debug_assertions) {
        "debug (debug_assertions on: figures are not representative)"
    } else {
        "release (cargo bench profile)"
    };
    format!(
        "machine: {cpus} CPUs (nproc), {model}, {mem_gib} GiB RAM, Linux {kernel}; {rustc}, profile {profile}"
    )
}

/// `Some(0.42)` → `"42%"`.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "?".into(), |s| format!("{:.0}%", 100.0 * s))
}

/// Milliseconds as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `fut` to completion inside an actix `System` on a multi-threaded tokio
/// runtime (what the Registry and the application need), as every bench does.
pub fn block_on_actix<F: std::future::Future>(fut: F) -> F::Output {
    actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
    .block_on(fut)
}
