//! Test helpers for the subvisor workspace: throwaway PostgreSQL clusters
//! ([`PgCluster`], [`shared_pg`]), free ports, running one test on both
//! database backends ([`both_backends!`]), real and fake Xray nodes, fake
//! Telegram Bot API and payment providers, webhook signers, small domain
//! fixtures, a headless Chromium for pages ([`browser`]), and the benchmarks'
//! scaffolding.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

pub use backends::Backend;
pub use pg::{PgCluster, shared_pg};

mod backends;
pub mod bench;
pub mod browser;
pub mod fake_payments;
pub mod fake_telegram;
pub mod fake_xray;
pub mod fixtures;
mod http_fake;
mod pg;
pub mod scratch;
pub mod signers;
pub mod v2ray;

/// Stops a process when its guard pipe closes: run as
/// `sh -c GUARD_SCRIPT sh <dir> <signal> <program> <args>…` with stdin a pipe
/// held open by the Rust side.
///
/// A background reader waits for EOF on the pipe (the value was dropped, or the
/// test process died even by SIGKILL), marks the stop as requested and sends
/// `<signal>` to the program. The shell waits for the program and then removes
/// `<dir>`, unless the program exited on its own (a startup failure), in which
/// case the files are kept so the test process can read the log. Run the shell
/// in its own process group: a terminal Ctrl-C then reaches only the test
/// process; `INT`/`HUP` are ignored anyway.
pub(crate) const GUARD_SCRIPT: &str = r#"
dir=$1
sig=$2
shift 2
exec 3<&0 0</dev/null
"$@" &
pid=$!
( read _ <&3; : >"$dir/stop-requested"; kill -"$sig" "$pid" 2>/dev/null ) &
reader=$!
exec 3<&-
trap '' INT HUP
wait "$pid"
status=$?
if [ -e "$dir/stop-requested" ]; then
    rm -rf "$dir"
else
    kill "$reader" 2>/dev/null
fi
exit "$status"
"#;

/// A free TCP port on 127.0.0.1 (bind port 0, read it, drop the listener).
///
/// Panics if no port can be bound at all (no loopback interface).
pub fn free_port() -> u16 {
    try_free_port().unwrap_or_else(|e| panic!("{e}"))
}

fn try_free_port() -> io::Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| annotate(e, "cannot bind a free TCP port on 127.0.0.1"))
}

fn annotate(e: io::Error, context: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("{context}: {e}"))
}

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
