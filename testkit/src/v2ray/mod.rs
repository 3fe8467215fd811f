//! Real v2ray peers for tests: a node with the gRPC API and a VLESS inbound
//! ([`V2rayNode`]), a VLESS client exposing a SOCKS5 port ([`VlessClient`]),
//! and a tiny HTTP server to fetch through them ([`HttpTarget`]).
//!
//! [`VlessClient::probe`] tells what became of a key: the page came through
//! ([`KeyProbe::Served`]), the node rejected the user id
//! ([`KeyProbe::UnknownUser`], from the node's own access log), or anything
//! else ([`KeyProbe::Failed`]: the node down, a timeout, …). From the client's
//! side the first two failures look alike (v2ray's SOCKS inbound answers the
//! CONNECT at once and just closes when its tunnel fails), hence the log.
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

mod http;
mod process;

// What the submodules share (they see it through `use super::*`).
pub use http::HttpTarget;
use http::{FetchError, socks5_http_get};
use process::{StartError, V2rayBin, V2rayProcess};

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
/// How long [`VlessClient::probe`] waits for the node to log a rejection
/// (v2ray writes its log asynchronously, possibly after closing the connection).
const REJECTION_LOG_WAIT: Duration = Duration::from_secs(2);
/// What v2ray's access log says when a VLESS request names an unknown user id
/// (`127.0.0.1:PORT rejected  v2ray.com/core/proxy/vless/encoding: invalid
/// request user id`; the access log goes to stdout at every log level).
const UNKNOWN_USER_LOG: &str = "invalid request user id";

/// What became of one attempt to use a key ([`VlessClient::probe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProbe {
    /// The page came back through the node: the body.
    Served(String),
    /// The node received the VLESS request and rejected it because it does not
    /// know the user id (its access log recorded the rejection during the attempt).
    UnknownUser,
    /// Anything else — the node down (connection refused), a timeout, a bad
    /// answer, a closed connection the node did not log — and why.
    Failed(String),
}

/// Where a [`V2rayNode`] logs, for [`VlessClient::probe`] (taken with
/// [`V2rayNode::log`]; it goes stale when the node is killed or restarted).
#[derive(Debug, Clone)]
pub struct NodeLog {
    path: Option<PathBuf>,
}

impl NodeLog {
    /// How many VLESS requests with an unknown user id the node has rejected
    /// so far; `None` when its log cannot be read (the node is not running).
    pub fn unknown_user_rejections(&self) -> Option<usize> {
        let text = std::fs::read_to_string(self.path.as_ref()?).ok()?;
        Some(
            text.lines()
                .filter(|l| l.contains(" rejected ") && l.contains(UNKNOWN_USER_LOG))
                .count(),
        )
    }
}

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
    /// Starts v2ray with a configuration of the caller's (e.g. one printed by
    /// `subvisor node-config`), whose API inbound listens on `api_port` and
    /// VLESS inbound on `vless_port` (both on 127.0.0.1). [`restart`](Self::restart)
    /// falls back to the built-in configuration.
    pub fn start_with_config(config: &Value, api_port: u16, vless_port: u16) -> io::Result<Self> {
        let bin = V2rayBin::locate()?;
        match V2rayProcess::start(bin, "node", config, &[api_port, vless_port]) {
            Ok(proc) => Ok(V2rayNode {
                api_port,
                vless_port,
                proc: Some(proc),
            }),
            Err(StartError::PortTaken(e) | StartError::Other(e)) => Err(e),
        }
    }

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

    /// The node's log as it runs now, for [`VlessClient::probe`].
    pub fn log(&self) -> NodeLog {
        NodeLog {
            path: self.proc.as_ref().map(V2rayProcess::log_path),
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
    proc: V2rayProcess,
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
                    return Ok(VlessClient { socks_port, proc });
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
        socks5_http_get(self.socks_port, target_port).map_err(|e| e.to_string())
    }

    /// Fetches `http://127.0.0.1:{target_port}/` through the node whose log
    /// is `node` and says what became of the attempt (see [`KeyProbe`]). A
    /// connection closed without an answer counts as [`KeyProbe::UnknownUser`]
    /// only when the node logged a new unknown-user rejection meanwhile, so
    /// probes of one node must not run concurrently. Blocking.
    pub fn probe(&self, node: &NodeLog, target_port: u16) -> KeyProbe {
        let Some(before) = node.unknown_user_rejections() else {
            return KeyProbe::Failed("the node's log is gone: the node is not running".into());
        };
        let why = match socks5_http_get(self.socks_port, target_port) {
            Ok(body) => return KeyProbe::Served(body),
            Err(FetchError::Other(why)) => return KeyProbe::Failed(why),
            Err(FetchError::ClosedWithoutAnswer(why)) => why,
        };
        let deadline = Instant::now() + REJECTION_LOG_WAIT;
        loop {
            if node.unknown_user_rejections().is_some_and(|n| n > before) {
                return KeyProbe::UnknownUser;
            }
            if Instant::now() >= deadline {
                let log = self.proc.log();
                let tail: Vec<&str> = log.lines().rev().take(3).collect();
                return KeyProbe::Failed(format!(
                    "{why}, and the node logged no unknown-user rejection; the client's log \
                     ends: {tail:?}"
                ));
            }
            sleep(Duration::from_millis(10));
        }
    }
}

impl std::fmt::Debug for VlessClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VlessClient")
            .field("socks_port", &self.socks_port)
            .finish_non_exhaustive()
    }
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

    /// Only a rejection the node logged is an unknown user: a client whose
    /// node cannot be reached (connection refused) or never answers sees the
    /// same closed SOCKS connection, and those are failures.
    #[test]
    fn probe_tells_an_unknown_user_from_an_unreachable_or_silent_node() {
        const UUID: &str = "6f6cd4b4-2c0a-4a43-9a2b-1c8d3b8f8f0a";
        let node = V2rayNode::start().unwrap_or_else(|e| panic!("{e}"));
        let target = HttpTarget::start("hello").expect("http target");

        let client = VlessClient::start(node.vless_port(), UUID).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            client.probe(&node.log(), target.port()),
            KeyProbe::UnknownUser
        );
        assert_eq!(node.log().unknown_user_rejections(), Some(1));

        // Nothing listens on the client's node port: the client's dial is refused.
        let closed = try_free_port().expect("free port");
        let refused = VlessClient::start(closed, UUID).unwrap_or_else(|e| panic!("{e}"));
        match refused.probe(&node.log(), target.port()) {
            KeyProbe::Failed(why) => assert!(why.contains("connection refused"), "{why}"),
            other => panic!("a refused connection taken for {other:?}"),
        }

        // A "node" that accepts the connection and never answers.
        let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let silent_port = silent.local_addr().expect("addr").port();
        let stalled = VlessClient::start(silent_port, UUID).unwrap_or_else(|e| panic!("{e}"));
        let probe = stalled.probe(&node.log(), target.port());
        assert!(matches!(probe, KeyProbe::Failed(_)), "{probe:?}");
        assert_eq!(
            node.log().unknown_user_rejections(),
            Some(1),
            "only the first probe reached the node"
        );

        // A node that is gone has no log to show a rejection in.
        let log = node.log();
        let mut node = node;
        node.kill();
        assert!(matches!(
            client.probe(&log, target.port()),
            KeyProbe::Failed(_)
        ));
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
