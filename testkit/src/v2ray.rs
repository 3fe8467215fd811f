//! Real v2ray peers for tests: a node with the gRPC API and a VLESS inbound
//! ([`V2rayNode`]), a VLESS client exposing a SOCKS5 port ([`VlessClient`]),
//! and a tiny HTTP server to fetch through them ([`HttpTarget`]).
//!
//! The only prerequisite is an installed `v2ray` (Debian package `v2ray`,
//! 4.34; `SUBVISOR_V2RAY_BIN` names another binary). Every v2ray runs under a
//! small shell that `SIGKILL`s it on EOF of a pipe whose only writer is the
//! test process, so no v2ray outlives the tests, even if they are killed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle, sleep};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use super::{annotate, is_executable, path_dirs, try_free_port};

/// Environment variable naming the v2ray binary.
const BIN_ENV: &str = "SUBVISOR_V2RAY_BIN";
/// Tag of the VLESS inbound of a [`V2rayNode`].
const VLESS_TAG: &str = "vless-in";
/// How long to wait for a freshly started v2ray to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Start attempts with fresh ports when a chosen port was taken meanwhile.
const START_ATTEMPTS: usize = 5;
/// How long [`V2rayNode::restart`] keeps retrying while its fixed ports are busy.
const RESTART_PATIENCE: Duration = Duration::from_secs(5);
/// Timeouts of [`VlessClient::fetch`].
const FETCH_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const FETCH_IO_TIMEOUT: Duration = Duration::from_secs(3);

/// A v2ray node on loopback: gRPC API (`HandlerService`, `StatsService`, per-user
/// stats at level 0) and a VLESS inbound (tag `vless-in`, tcp, no security, no
/// clients, decryption none). Users added over the API live in memory only, so
/// [`restart`](Self::restart) brings the node back empty.
pub struct V2rayNode {
    api_port: u16,
    vless_port: u16,
    proc: Option<V2rayProcess>,
}

impl V2rayNode {
    /// Starts `v2ray` with the gRPC API and the VLESS inbound on free loopback ports;
    /// returns when both ports accept TCP.
    pub fn start() -> io::Result<Self> {
        let bin = V2rayBin::locate()?;
        let mut attempt = 1;
        loop {
            let api_port = try_free_port()?;
            let vless_port = try_free_port()?;
            if api_port == vless_port {
                continue;
            }
            let config = node_config(api_port, vless_port);
            match V2rayProcess::start(bin, "node", &config, &[api_port, vless_port]) {
                Ok(proc) => {
                    return Ok(V2rayNode {
                        api_port,
                        vless_port,
                        proc: Some(proc),
                    });
                }
                Err(StartError::PortTaken(_)) if attempt < START_ATTEMPTS => attempt += 1,
                Err(StartError::PortTaken(e) | StartError::Other(e)) => return Err(e),
            }
        }
    }

    /// `"127.0.0.1:PORT"` of the gRPC API.
    pub fn api_addr(&self) -> String {
        format!("127.0.0.1:{}", self.api_port)
    }

    /// The port of the VLESS inbound (on 127.0.0.1).
    pub fn vless_port(&self) -> u16 {
        self.vless_port
    }

    /// The tag of the VLESS inbound: `"vless-in"`.
    pub fn inbound_tag(&self) -> &str {
        VLESS_TAG
    }

    /// Kills v2ray (`SIGKILL`) and waits until it is gone. No-op when not running.
    pub fn kill(&mut self) {
        if let Some(proc) = self.proc.take() {
            proc.stop();
        }
    }

    /// Starts v2ray again with the same config and ports (kills it first if it
    /// still runs). The node comes back without the users added over the API.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let bin = V2rayBin::locate()?;
        let config = node_config(self.api_port, self.vless_port);
        let ports = [self.api_port, self.vless_port];
        let deadline = Instant::now() + RESTART_PATIENCE;
        loop {
            match V2rayProcess::start(bin, "node", &config, &ports) {
                Ok(proc) => {
                    self.proc = Some(proc);
                    return Ok(());
                }
                // Someone (an ephemeral client port, usually) holds one of our
                // fixed ports for a moment; it cannot be changed, so wait.
                Err(StartError::PortTaken(_)) if Instant::now() < deadline => {
                    sleep(Duration::from_millis(100));
                }
                Err(StartError::PortTaken(e) | StartError::Other(e)) => return Err(e),
            }
        }
    }

    /// Whether the v2ray process is alive.
    pub fn is_running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(V2rayProcess::is_running)
    }
}

impl std::fmt::Debug for V2rayNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V2rayNode")
            .field("api_port", &self.api_port)
            .field("vless_port", &self.vless_port)
            .field("running", &self.proc.is_some())
            .finish()
    }
}

/// A real VLESS client: a second v2ray with a SOCKS5 inbound (no auth) on a free
/// loopback port and a VLESS outbound to `127.0.0.1:vless_port` with one user
/// (the given uuid, empty flow, encryption none).
pub struct VlessClient {
    socks_port: u16,
    _proc: V2rayProcess,
}

impl VlessClient {
    /// Starts the client; returns when its SOCKS5 port accepts TCP.
    pub fn start(vless_port: u16, uuid: &str) -> io::Result<Self> {
        let bin = V2rayBin::locate()?;
        let mut attempt = 1;
        loop {
            let socks_port = try_free_port()?;
            let config = client_config(socks_port, vless_port, uuid);
            match V2rayProcess::start(bin, "client", &config, &[socks_port]) {
                Ok(proc) => {
                    return Ok(VlessClient {
                        socks_port,
                        _proc: proc,
                    });
                }
                Err(StartError::PortTaken(_)) if attempt < START_ATTEMPTS => attempt += 1,
                Err(StartError::PortTaken(e) | StartError::Other(e)) => return Err(e),
            }
        }
    }

    /// The SOCKS5 port (on 127.0.0.1).
    pub fn socks_port(&self) -> u16 {
        self.socks_port
    }

    /// Fetches `http://127.0.0.1:{target_port}/` through the SOCKS5 proxy and the
    /// VLESS node; returns the body of a 200 answer, else why not. A user the node
    /// does not know shows up as the connection closing without an HTTP answer.
    pub fn fetch(&self, target_port: u16) -> Result<String, String> {
        socks5_http_get(self.socks_port, target_port)
    }
}

impl std::fmt::Debug for VlessClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VlessClient")
            .field("socks_port", &self.socks_port)
            .finish_non_exhaustive()
    }
}

/// A loopback HTTP server answering every request with `200` and a fixed body.
/// Stops when dropped.
pub struct HttpTarget {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpTarget {
    /// Binds a free loopback port and serves from a background thread.
    pub fn start(body: &str) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| annotate(e, "cannot bind the HTTP target on 127.0.0.1"))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let response: Arc<[u8]> = format!(
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
        .into();
        let thread = {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name(format!("http-target-{port}"))
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(conn) = conn else { continue };
                        let response = Arc::clone(&response);
                        let _ = thread::Builder::new()
                            .name("http-target-conn".to_owned())
                            .spawn(move || serve_http(conn, &response));
                    }
                })?
        };
        Ok(HttpTarget {
            port,
            stop,
            thread: Some(thread),
        })
    }

    /// The port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for HttpTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            Duration::from_secs(1),
        );
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for HttpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTarget")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Reads the request head (best effort), answers, closes.
fn serve_http(mut conn: TcpStream, response: &[u8]) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = conn.write_all(response);
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Write);
    // Drain until the peer closes, so the close is orderly (no RST).
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// Minimal SOCKS5 (no auth, CONNECT to an IPv4 address) + HTTP/1.0 GET.
fn socks5_http_get(socks_port: u16, target_port: u16) -> Result<String, String> {
    let proxy = SocketAddr::from((Ipv4Addr::LOCALHOST, socks_port));
    let mut s = TcpStream::connect_timeout(&proxy, FETCH_CONNECT_TIMEOUT)
        .map_err(|e| format!("cannot connect to the SOCKS5 proxy {proxy}: {e}"))?;
    s.set_read_timeout(Some(FETCH_IO_TIMEOUT))
        .and_then(|()| s.set_write_timeout(Some(FETCH_IO_TIMEOUT)))
        .map_err(|e| format!("cannot set socket timeouts: {e}"))?;
    let io = |what: &str| {
        let what = what.to_owned();
        move |e: io::Error| format!("{what}: {e}")
    };

    // Greeting: version 5, one method, "no authentication".
    s.write_all(&[5, 1, 0]).map_err(io("SOCKS5 greeting"))?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply)
        .map_err(io("SOCKS5 method selection"))?;
    if reply != [5, 0] {
        return Err(format!("SOCKS5 proxy refused no-auth: {reply:?}"));
    }

    // CONNECT 127.0.0.1:target_port.
    let [hi, lo] = target_port.to_be_bytes();
    s.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, hi, lo])
        .map_err(io("SOCKS5 CONNECT"))?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head)
        .map_err(io("SOCKS5 CONNECT reply"))?;
    if head[0] != 5 || head[1] != 0 {
        return Err(format!("SOCKS5 CONNECT failed: reply code {}", head[1]));
    }
    let addr_len = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).map_err(io("SOCKS5 CONNECT reply"))?;
            usize::from(len[0])
        }
        other => {
            return Err(format!(
                "SOCKS5 CONNECT reply: unknown address type {other}"
            ));
        }
    };
    let mut bound = vec![0u8; addr_len + 2];
    s.read_exact(&mut bound)
        .map_err(io("SOCKS5 CONNECT reply"))?;

    // HTTP/1.0 GET; the server closes after answering.
    let request = format!(
        "GET / HTTP/1.0\r\nHost: 127.0.0.1:{target_port}\r\nUser-Agent: subvisor-testkit\r\n\r\n"
    );
    s.write_all(request.as_bytes())
        .map_err(io("sending the HTTP request"))?;
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw)
        && raw.is_empty()
    {
        return Err(format!("no HTTP response (read failed: {e})"));
    }
    if raw.is_empty() {
        return Err("no HTTP response: the proxy closed the connection".to_owned());
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("truncated HTTP response: {text:?}"))?;
    let status_line = head.lines().next().unwrap_or_default();
    let code = status_line.split_whitespace().nth(1);
    if code != Some("200") {
        return Err(format!("HTTP status is not 200: {status_line:?}"));
    }
    Ok(body.to_owned())
}

fn node_config(api_port: u16, vless_port: u16) -> Value {
    json!({
        "log": {"loglevel": "warning"},
        "stats": {},
        "api": {"tag": "api", "services": ["HandlerService", "StatsService"]},
        "policy": {"levels": {"0": {"statsUserUplink": true, "statsUserDownlink": true}}},
        "inbounds": [
            {"tag": "api", "listen": "127.0.0.1", "port": api_port,
             "protocol": "dokodemo-door", "settings": {"address": "127.0.0.1"}},
            {"tag": VLESS_TAG, "listen": "127.0.0.1", "port": vless_port, "protocol": "vless",
             "settings": {"clients": [], "decryption": "none"},
             "streamSettings": {"network": "tcp", "security": "none"}}
        ],
        "outbounds": [{"tag": "direct", "protocol": "freedom"}],
        "routing": {"rules": [{"type": "field", "inboundTag": ["api"], "outboundTag": "api"}]}
    })
}

fn client_config(socks_port: u16, vless_port: u16, uuid: &str) -> Value {
    json!({
        "log": {"loglevel": "warning"},
        "inbounds": [
            {"tag": "socks-in", "listen": "127.0.0.1", "port": socks_port, "protocol": "socks",
             "settings": {"auth": "noauth", "udp": false}}
        ],
        "outbounds": [
            {"tag": "vless-out", "protocol": "vless",
             "settings": {"vnext": [{"address": "127.0.0.1", "port": vless_port,
                 "users": [{"id": uuid, "encryption": "none", "level": 0}]}]},
             "streamSettings": {"network": "tcp", "security": "none"}}
        ]
    })
}

/// The v2ray binary and how it wants its config file.
#[derive(Debug)]
struct V2rayBin {
    path: PathBuf,
    /// v4: `v2ray -config FILE`; v5: `v2ray run -c FILE`.
    run_subcommand: bool,
}

impl V2rayBin {
    /// Located once per process; the error is kept as text and repeated.
    fn locate() -> io::Result<&'static V2rayBin> {
        static BIN: OnceLock<Result<V2rayBin, (io::ErrorKind, String)>> = OnceLock::new();
        BIN.get_or_init(|| Self::find().map_err(|e| (e.kind(), e.to_string())))
            .as_ref()
            .map_err(|(kind, msg)| io::Error::new(*kind, msg.clone()))
    }

    fn find() -> io::Result<V2rayBin> {
        let path = match std::env::var_os(BIN_ENV).filter(|p| !p.is_empty()) {
            Some(path) => {
                let path = PathBuf::from(path);
                if !is_executable(&path) {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{BIN_ENV}={} is not an executable file", path.display()),
                    ));
                }
                path
            }
            None => path_dirs()
                .into_iter()
                .map(|dir| dir.join("v2ray"))
                .chain([PathBuf::from("/usr/bin/v2ray")])
                .find(|path| is_executable(path))
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!(
                            "v2ray not found on PATH nor at /usr/bin/v2ray: install the Debian \
                             package v2ray (`apt-get install v2ray`) or set {BIN_ENV}"
                        ),
                    )
                })?,
        };
        // v4 knows `-version`; v5 answers it with an error and wants `v2ray version`.
        let output = Command::new(&path)
            .arg("-version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| annotate(e, format!("cannot run {} -version", path.display())))?;
        let version = String::from_utf8_lossy(&output.stdout);
        let run_subcommand = !(output.status.success() && version.contains("V2Ray 4."));
        Ok(V2rayBin {
            path,
            run_subcommand,
        })
    }

    fn args(&self, config: &Path) -> Vec<std::ffi::OsString> {
        if self.run_subcommand {
            vec!["run".into(), "-c".into(), config.into()]
        } else {
            vec!["-config".into(), config.into()]
        }
    }
}

/// One v2ray under the wrapper shell.
struct V2rayProcess {
    /// Write end of the shell's stdin; closing it kills v2ray.
    stdin: Option<ChildStdin>,
    child: Child,
    /// Config and log; the shell removes it after a requested stop.
    dir: TempDir,
}

enum StartError {
    /// v2ray could not bind one of its ports; retryable.
    PortTaken(io::Error),
    Other(io::Error),
}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        StartError::Other(e)
    }
}

impl V2rayProcess {
    fn start(
        bin: &V2rayBin,
        role: &str,
        config: &Value,
        ports: &[u16],
    ) -> Result<V2rayProcess, StartError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("subvisor-v2ray-{role}-"))
            .tempdir()
            .map_err(|e| annotate(e, "cannot create a temp dir for v2ray"))?;
        let config_path = dir.path().join("config.json");
        let text = serde_json::to_vec_pretty(config).map_err(io::Error::other)?;
        std::fs::write(&config_path, text)
            .map_err(|e| annotate(e, format!("cannot write {}", config_path.display())))?;

        let log_path = dir.path().join("v2ray.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| annotate(e, format!("cannot create {}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(|e| annotate(e, "cannot duplicate the log file handle"))?;
        let mut cmd = Command::new("sh");
        cmd.process_group(0)
            .current_dir(dir.path())
            .arg("-c")
            .arg(crate::GUARD_SCRIPT)
            .arg("sh")
            .arg(dir.path())
            .arg("KILL")
            .arg(&bin.path)
            .args(bin.args(&config_path))
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err);
        let mut child = cmd
            .spawn()
            .map_err(|e| annotate(e, format!("cannot spawn {}", bin.path.display())))?;
        let stdin = child.stdin.take();
        // From here on, dropping `proc` kills v2ray.
        let mut proc = V2rayProcess { stdin, child, dir };
        proc.wait_ready(ports)?;
        Ok(proc)
    }

    /// Waits until every port accepts TCP while v2ray keeps running.
    fn wait_ready(&mut self, ports: &[u16]) -> Result<(), StartError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut pending: Vec<u16> = ports.to_vec();
        loop {
            pending.retain(|&port| {
                TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    Duration::from_millis(200),
                )
                .is_err()
            });
            self.check_alive()?;
            if pending.is_empty() {
                // A port may accept because someone else holds it while v2ray
                // is just failing to bind it: make sure v2ray is still up.
                sleep(Duration::from_millis(50));
                self.check_alive()?;
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartError::Other(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "v2ray did not accept connections on 127.0.0.1 ports {pending:?} within \
                         {}s; log:\n{}",
                        READY_TIMEOUT.as_secs(),
                        self.log()
                    ),
                )));
            }
            sleep(Duration::from_millis(20));
        }
    }

    fn check_alive(&mut self) -> Result<(), StartError> {
        let Some(exit) = self
            .child
            .try_wait()
            .map_err(|e| annotate(e, "cannot poll the v2ray process"))?
        else {
            return Ok(());
        };
        let log = self.log();
        let err = io::Error::other(format!("v2ray exited during startup ({exit}); log:\n{log}"));
        Err(if log.contains("address already in use") {
            StartError::PortTaken(err)
        } else {
            StartError::Other(err)
        })
    }

    fn log(&self) -> String {
        const MAX: usize = 4096;
        let path = self.dir.path().join("v2ray.log");
        let mut text = String::new();
        match File::open(&path).and_then(|mut f| f.read_to_string(&mut text)) {
            Ok(_) if text.trim().is_empty() => "(empty)".to_owned(),
            Ok(_) => {
                let start = text.len().saturating_sub(MAX);
                let start = (start..text.len())
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(text.len());
                text[start..].to_owned()
            }
            Err(e) => format!("(cannot read {}: {e})", path.display()),
        }
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Closes the pipe (the shell `SIGKILL`s v2ray) and reaps the shell.
    fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(5)),
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
    }
}

impl Drop for V2rayProcess {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_and_client_start_and_stop() {
        let mut node = V2rayNode::start().unwrap_or_else(|e| panic!("{e}"));
        assert!(node.is_running());
        assert_eq!(node.inbound_tag(), "vless-in");
        let target = HttpTarget::start("hello").expect("http target");
        let client = VlessClient::start(node.vless_port(), "6f6cd4b4-2c0a-4a43-9a2b-1c8d3b8f8f0a")
            .unwrap_or_else(|e| panic!("{e}"));
        // No users on the node: the connection is refused.
        let err = client
            .fetch(target.port())
            .expect_err("unknown user must fail");
        eprintln!("fetch without user: {err}");
        node.kill();
        assert!(!node.is_running());
        assert!(TcpStream::connect(node.api_addr()).is_err());
        node.restart().unwrap_or_else(|e| panic!("{e}"));
        assert!(node.is_running());
        assert!(TcpStream::connect(node.api_addr()).is_ok());
    }

    #[test]
    fn http_target_answers_directly() {
        let target = HttpTarget::start("direct").expect("http target");
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, target.port())).unwrap();
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\ndirect"), "{text}");
    }
}
