//! Throwaway PostgreSQL servers for tests: [`PgCluster`] is a PostgreSQL
//! server started from inside a test (`initdb` into a temp dir, `postgres`
//! on a free loopback port, trust auth). The only prerequisite is an installed PostgreSQL server (Debian
//! package `postgresql`, or any directory named by `SUBVISOR_PG_BINDIR`).
//!
//! The server is stopped and its directory removed when the cluster is dropped
//! *or* when the test process exits for any reason (even `SIGKILL`): the server
//! runs under a small shell that waits for EOF on a pipe whose only writer is
//! the test process. This is what makes [`shared_pg`] (never dropped) safe.
//!
//! When the tests run as root (containers, CI), `initdb` and `postgres` are run
//! as the `postgres` system user through `runuser`, because they refuse to run
//! as root.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{GUARD_SCRIPT, annotate, is_executable, path_dirs, try_free_port};

/// Environment variable naming a directory that holds `initdb` and `postgres`.
const BINDIR_ENV: &str = "SUBVISOR_PG_BINDIR";
/// How long to wait for a freshly started server to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times to retry startup when the chosen port was taken meanwhile.
const START_ATTEMPTS: usize = 3;

/// A PostgreSQL server in a temp dir on a free loopback port, stopped when the test process exits (even if killed).
///
/// Authentication is `trust` for the superuser `postgres`; use
/// [`fresh_database`](Self::fresh_database) to get an isolated database URL.
/// Dropping the value stops the server and removes its files.
pub struct PgCluster {
    port: u16,
    bin: PgBin,
    /// Write end of the shell's stdin; closing it stops the server.
    stdin: Option<ChildStdin>,
    /// `sh` (or `runuser`, when root) supervising the server.
    child: Child,
    /// Cluster root: `data/`, `server.log` and the Unix socket.
    dir: TempDir,
}

impl PgCluster {
    /// initdb + start; returns when the server accepts connections. Errors have clear messages
    /// (e.g. "PostgreSQL server binaries not found: install the `postgresql` package or set SUBVISOR_PG_BINDIR").
    pub fn start() -> io::Result<PgCluster> {
        let bin = PgBin::locate()?;
        let runas = RunAs::detect()?;
        let mut attempt = 1;
        loop {
            match Self::start_once(&bin, &runas) {
                Err(StartError::PortTaken(_)) if attempt < START_ATTEMPTS => attempt += 1,
                Err(StartError::PortTaken(err) | StartError::Other(err)) => return Err(err),
                Ok(cluster) => return Ok(cluster),
            }
        }
    }

    /// The TCP port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a fresh database with a unique name and returns its URL:
    /// `postgres://postgres@127.0.0.1:{port}/{name}` (trust auth, no password).
    pub fn fresh_database(&self) -> io::Result<String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let createdb = self.bin.client_tool("createdb")?;
        let port = self.port.to_string();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let output = pg_command(&createdb, self.dir.path())
                .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", &name])
                .output()
                .map_err(|e| annotate(e, format!("cannot run {}", createdb.display())))?;
            if output.status.success() {
                return Ok(format!(
                    "postgres://postgres@127.0.0.1:{}/{name}",
                    self.port
                ));
            }
            let stderr = String::from_utf8_lossy(&output.stderr);
            // Concurrent CREATE DATABASE from the same template can transiently
            // collide; anything else is a real error.
            if attempt < 5 && stderr.contains("being accessed by other users") {
                sleep(Duration::from_millis(100 * attempt));
                continue;
            }
            return Err(io::Error::other(format!(
                "createdb {name} on port {} failed ({}): {}",
                self.port,
                output.status,
                stderr.trim()
            )));
        }
    }

    fn start_once(bin: &PgBin, runas: &RunAs) -> Result<PgCluster, StartError> {
        let dir = crate::scratch::scratch_dir("subvisor-pg-")
            .map_err(|e| annotate(e, "cannot create a temp dir for PostgreSQL"))?;
        let root = dir.path().to_path_buf();
        if let RunAs::User { uid, gid, .. } = runas {
            std::os::unix::fs::chown(&root, Some(*uid), Some(*gid)).map_err(|e| {
                annotate(
                    e,
                    format!("cannot chown {} to the postgres user", root.display()),
                )
            })?;
        }

        // initdb, quiet unless it fails.
        let data = root.join("data");
        let mut initdb = runas.command(&bin.initdb, &root);
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync");
        let output = initdb
            .output()
            .map_err(|e| annotate(e, format!("cannot run {}", bin.initdb.display())))?;
        if !output.status.success() {
            return Err(StartError::Other(io::Error::other(format!(
                "initdb failed ({}) for {}:\n{}{}",
                output.status,
                data.display(),
                String::from_utf8_lossy(&output.stderr).trim_end(),
                root_hint(runas, &output),
            ))));
        }

        // Start the server under the supervising shell.
        let port = try_free_port()?;
        let log_path = root.join("server.log");
        let log = File::create(&log_path)
            .map_err(|e| annotate(e, format!("cannot create {}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(|e| annotate(e, "cannot duplicate the log file handle"))?;
        let mut cmd = runas.command(Path::new("sh"), &root);
        // Own process group: a terminal Ctrl-C must not hit runuser/sh directly
        // (runuser would TERM the shell before it cleans up); the test process
        // dying closes the pipe, which is the one shutdown path.
        cmd.process_group(0);
        cmd.arg("-c")
            .arg(GUARD_SCRIPT)
            .arg("sh")
            .arg(&root)
            .arg("INT")
            .arg(&bin.postgres)
            .arg("-D")
            .arg(root.join("data"))
            .args(["-p", &port.to_string(), "-k"])
            .arg(&root)
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "logging_collector=off",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=64MB",
            ])
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err);
        let mut child = cmd
            .spawn()
            .map_err(|e| annotate(e, "cannot spawn the PostgreSQL server"))?;
        let stdin = child.stdin.take();
        // From here on, dropping `cluster` stops the server and cleans up.
        let mut cluster = PgCluster {
            port,
            bin: bin.clone(),
            stdin,
            child,
            dir,
        };
        cluster.wait_ready()?;
        Ok(cluster)
    }

    /// Polls `pg_isready` until the server accepts connections, it exits, or the timeout.
    fn wait_ready(&mut self) -> Result<(), StartError> {
        let pg_isready = self.bin.client_tool("pg_isready")?;
        let port = self.port.to_string();
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut delay = Duration::from_millis(10);
        loop {
            let status = pg_command(&pg_isready, self.dir.path())
                .args(["-q", "-t", "1", "-h", "127.0.0.1", "-p", &port])
                .args(["-U", "postgres", "-d", "postgres"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| annotate(e, format!("cannot run {}", pg_isready.display())))?;
            if status.success() {
                return Ok(());
            }
            if let Some(exit) = self
                .child
                .try_wait()
                .map_err(|e| annotate(e, "cannot poll the PostgreSQL server process"))?
            {
                let log = self.log_tail();
                let err = io::Error::other(format!(
                    "PostgreSQL server exited during startup ({exit}) on port {port}; \
                     server log tail:\n{log}"
                ));
                return Err(
                    if log.contains("Address already in use") || log.contains("could not bind") {
                        StartError::PortTaken(err)
                    } else {
                        StartError::Other(err)
                    },
                );
            }
            if Instant::now() >= deadline {
                return Err(StartError::Other(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "PostgreSQL server did not accept connections on 127.0.0.1:{port} \
                         within {}s; server log tail:\n{}",
                        READY_TIMEOUT.as_secs(),
                        self.log_tail()
                    ),
                )));
            }
            sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// The last few KiB of the server log, for error messages.
    fn log_tail(&self) -> String {
        const MAX: u64 = 4096;
        let path = self.dir.path().join("server.log");
        let read = || -> io::Result<String> {
            let mut file = File::open(&path)?;
            let len = file.metadata()?.len();
            file.seek(SeekFrom::Start(len.saturating_sub(MAX)))?;
            let mut buf = Vec::new();
            file.read_to_end(&mut buf)?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        };
        match read() {
            Ok(text) if text.trim().is_empty() => "(empty)".to_owned(),
            Ok(text) => text,
            Err(e) => format!("(cannot read {}: {e})", path.display()),
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // EOF on the shell's stdin makes it stop postgres and remove the directory.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(10)),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        // `self.dir` is dropped next; the shell normally removed it already.
    }
}

impl std::fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCluster")
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// One cluster per test process, started on first use (std::sync::OnceLock). Panics with the error message if it cannot start.
///
/// The cluster is never dropped; its server is stopped and its files removed
/// when the test process exits.
pub fn shared_pg() -> &'static PgCluster {
    static SHARED: OnceLock<PgCluster> = OnceLock::new();
    SHARED.get_or_init(|| match PgCluster::start() {
        Ok(cluster) => cluster,
        Err(e) => panic!("cannot start the shared PostgreSQL test cluster: {e}"),
    })
}

enum StartError {
    /// The server could not bind its port (someone took it since `free_port`); retryable.
    PortTaken(io::Error),
    Other(io::Error),
}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        StartError::Other(e)
    }
}

/// A command with the `PG*` environment removed, so a developer's `PGHOST`,
/// `PGSSLMODE`, `PGDATABASE`, … cannot redirect or break the helpers.
fn pg_command(program: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(cwd);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Locations of the PostgreSQL binaries.
#[derive(Clone, Debug)]
struct PgBin {
    /// Directory holding `initdb` and `postgres`; client tools are looked up here first.
    dir: PathBuf,
    initdb: PathBuf,
    postgres: PathBuf,
}

impl PgBin {
    fn locate() -> io::Result<PgBin> {
        if let Some(dir) = std::env::var_os(BINDIR_ENV).filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            return Self::in_dir(&dir).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{BINDIR_ENV}={} does not contain executable `initdb` and `postgres`",
                        dir.display()
                    ),
                )
            });
        }
        Self::debian_dirs()
            .into_iter()
            .chain(path_dirs())
            .find_map(|dir| Self::in_dir(&dir))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "PostgreSQL server binaries not found: install the `postgresql` \
                         package or set {BINDIR_ENV} (looked in /usr/lib/postgresql/*/bin \
                         and PATH for `initdb` and `postgres`)"
                    ),
                )
            })
    }

    fn in_dir(dir: &Path) -> Option<PgBin> {
        let initdb = dir.join("initdb");
        let postgres = dir.join("postgres");
        (is_executable(&initdb) && is_executable(&postgres)).then(|| PgBin {
            dir: dir.to_path_buf(),
            initdb,
            postgres,
        })
    }

    /// `/usr/lib/postgresql/<version>/bin`, highest version first.
    fn debian_dirs() -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") else {
            return Vec::new();
        };
        let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name();
                let version = name
                    .to_str()?
                    .split('.')
                    .map(|part| part.parse().ok())
                    .collect::<Option<Vec<u32>>>()?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        versions.into_iter().map(|(_, dir)| dir).collect()
    }

    /// A client tool (`createdb`, `pg_isready`, `psql`, …): next to the server, else on PATH.
    fn client_tool(&self, name: &str) -> io::Result<PathBuf> {
        std::iter::once(self.dir.clone())
            .chain(path_dirs())
            .map(|dir| dir.join(name))
            .find(|path| is_executable(path))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "PostgreSQL client tool `{name}` not found in {} or on PATH",
                        self.dir.display()
                    ),
                )
            })
    }
}

/// Who runs `initdb` and `postgres`.
enum RunAs {
    /// The current user (not root).
    Me,
    /// Root: switch to the `postgres` system user with `runuser`.
    User {
        runuser: PathBuf,
        uid: u32,
        gid: u32,
    },
}

impl RunAs {
    fn detect() -> io::Result<RunAs> {
        if effective_uid()? != 0 {
            return Ok(RunAs::Me);
        }
        let runuser = [
            "/usr/sbin/runuser",
            "/sbin/runuser",
            "/usr/bin/runuser",
            "/bin/runuser",
        ]
        .iter()
        .map(PathBuf::from)
        .chain(path_dirs().into_iter().map(|dir| dir.join("runuser")))
        .find(|path| is_executable(path))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "running as root, but `runuser` (util-linux) was not found; it is needed \
                     to run initdb/postgres as the `postgres` user",
            )
        })?;
        let uid = id_of_postgres("-u")?;
        let gid = id_of_postgres("-g")?;
        Ok(RunAs::User { runuser, uid, gid })
    }

    fn command(&self, program: &Path, cwd: &Path) -> Command {
        match self {
            RunAs::Me => pg_command(program, cwd),
            RunAs::User { runuser, .. } => {
                let mut cmd = pg_command(runuser, cwd);
                cmd.args(["-u", "postgres", "--"]).arg(program);
                cmd
            }
        }
    }
}

fn root_hint(runas: &RunAs, output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    if matches!(runas, RunAs::User { .. }) && stderr.contains("Permission denied") {
        "\n(hint: running as root, initdb runs as the `postgres` user, which needs access \
         to the temp dir; set TMPDIR to a world-traversable directory such as /tmp)"
            .to_owned()
    } else {
        String::new()
    }
}

/// `id -u postgres` / `id -g postgres`.
fn id_of_postgres(flag: &str) -> io::Result<u32> {
    let output = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .map_err(|e| annotate(e, "cannot run `id`"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.trim().parse() {
        Ok(id) if output.status.success() => Ok(id),
        _ => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "running as root, but there is no `postgres` system user to run \
                 initdb/postgres as (`id {flag} postgres`: {}); install the `postgresql` \
                 package or run the tests as a non-root user",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        )),
    }
}

/// The effective uid, from `/proc/self/status` (falling back to `id -u`).
fn effective_uid() -> io::Result<u32> {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(euid) = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|euid| euid.parse().ok())
    {
        return Ok(euid);
    }
    let output = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| annotate(e, "cannot determine the effective uid (`id -u`)"))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| io::Error::other("cannot determine the effective uid: bad `id -u` output"))
}

#[cfg(test)]
mod tests;
