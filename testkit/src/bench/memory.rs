//! Memory of this process for benchmarks: VmRSS and its peak (VmHWM), and
//! giving freed heap back to the system.

/// Gives freed heap memory back to the system (glibc `malloc_trim`) and
/// reads the memory after; `None` where that is not available.
#[allow(unsafe_code)] // malloc_trim: returns freed pages so RSS shows what was released
pub fn trim_heap() -> Option<Mem> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only releases free memory of the allocator.
        unsafe { libc::malloc_trim(0) };
        Some(Mem::read())
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// VmRSS and VmHWM of this process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    pub rss_kib: i64,
    pub hwm_kib: i64,
}

impl Mem {
    pub fn read() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        Self {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
        }
    }

    /// Resets VmHWM to the current RSS (Linux ≥ 4.0); false if not possible.
    pub fn reset_peak() -> bool {
        std::fs::write("/proc/self/clear_refs", "5").is_ok()
    }
}

impl std::fmt::Display for Mem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VmRSS {:.1} MiB (VmHWM {:.1} MiB)",
            mib(self.rss_kib),
            mib(self.hwm_kib)
        )
    }
}

/// KiB as MiB.
pub fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}
