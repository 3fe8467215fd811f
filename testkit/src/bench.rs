//! Helpers shared by the benchmarks: environment knobs, the machine line, and
//! CPU accounting (how much of the machine other processes used during a run).

use std::time::Duration;

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

/// CPU counters, to tell how much of the machine something else used during
/// a run (the machine may be shared; such runs are slower for no fault of ours).
pub struct CpuSample {
    /// All CPUs, all states, in USER_HZ ticks (`/proc/stat`).
    total: u64,
    /// All CPUs, non-idle states.
    busy: u64,
    /// User + system ticks of this process and its live descendants.
    ours: u64,
}

impl CpuSample {
    pub fn take() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        // user nice system idle iowait irq softirq steal [guest guest_nice]
        let total: u64 = ticks.iter().take(8).sum();
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        Some(Self {
            total,
            busy: total.saturating_sub(idle),
            ours: own_tree_ticks()?,
        })
    }

    pub fn own_cpu_since(&self, before: &Self) -> Duration {
        // /proc reports in USER_HZ, which is 100 on Linux.
        Duration::from_millis(self.ours.saturating_sub(before.ours) * 10)
    }

    pub fn foreign_share_since(&self, before: &Self) -> f64 {
        let total = self.total.saturating_sub(before.total).max(1);
        let busy = self.busy.saturating_sub(before.busy);
        let ours = self.ours.saturating_sub(before.ours);
        busy.saturating_sub(ours) as f64 / total as f64
    }
}

/// utime + stime of this process and every live descendant (the PostgreSQL
/// server and its backends run under this process).
fn own_tree_ticks() -> Option<u64> {
    let me = std::process::id();
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name (which may contain spaces) start at `state`.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
        let (Some(ppid), Some(utime), Some(stime)) = (num(1), num(11), num(12)) else {
            continue;
        };
        procs.push((pid, ppid as u32, utime + stime));
    }
    let mut tree = vec![me];
    let mut grew = true;
    while grew {
        grew = false;
        for &(pid, ppid, _) in &procs {
            if tree.contains(&ppid) && !tree.contains(&pid) {
                tree.push(pid);
                grew = true;
            }
        }
    }
    Some(
        procs
            .iter()
            .filter(|(pid, ..)| tree.contains(pid))
            .map(|&(.., ticks)| ticks)
            .sum(),
    )
}

/// Milliseconds as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
