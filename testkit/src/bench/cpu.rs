//! CPU accounting for benchmarks: [`CpuSample`] (this process tree against
//! the whole machine, from `/proc`) and [`ProcessCpu`] (this process's user
//! and system time from `getrusage`).

use std::time::Duration;

use super::{ms, percent};

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

/// CPU time of this process (all threads, the fake node's included) and of
/// the whole machine, to tell our work from other processes' on a shared box.
#[derive(Debug, Clone, Copy)]
pub struct ProcessCpu {
    user: Duration,
    pub sys: Duration,
    /// `/proc/stat` ticks (USER_HZ = 100): all CPUs, all states / non-idle.
    machine: Option<(u64, u64)>,
}

/// What a [`ProcessCpu`] interval used.
#[derive(Debug, Clone, Copy)]
pub struct ProcessCpuUse {
    pub user: Duration,
    pub sys: Duration,
    /// Share of the machine's CPU time used by other processes meanwhile.
    pub other_share: Option<f64>,
}

impl ProcessCpu {
    #[allow(unsafe_code)] // getrusage: the only way to read this process's CPU time
    pub fn take() -> Self {
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a rusage for RUSAGE_SELF.
        let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0;
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        let (user, sys) = if ok {
            (tv(usage.ru_utime), tv(usage.ru_stime))
        } else {
            (Duration::ZERO, Duration::ZERO)
        };
        let machine = std::fs::read_to_string("/proc/stat").ok().and_then(|stat| {
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
            Some((total, total.saturating_sub(idle)))
        });
        Self { user, sys, machine }
    }

    /// What was used between `before` and `self`.
    pub fn since(&self, before: &Self) -> ProcessCpuUse {
        let user = self.user.saturating_sub(before.user);
        let sys = self.sys.saturating_sub(before.sys);
        let other_share = self.machine.zip(before.machine).and_then(|(a, b)| {
            let total = a.0.saturating_sub(b.0);
            let busy = a.1.saturating_sub(b.1) as f64;
            let ours = (user + sys).as_secs_f64() * 100.0;
            (total >= 20).then(|| ((busy - ours) / total as f64).clamp(0.0, 1.0))
        });
        ProcessCpuUse {
            user,
            sys,
            other_share,
        }
    }
}

impl std::fmt::Display for ProcessCpuUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ours {:.0} ms (user {:.0} + sys {:.0}); other processes used {} of the machine meanwhile",
            ms(self.user + self.sys),
            ms(self.user),
            ms(self.sys),
            percent(self.other_share)
        )
    }
}
