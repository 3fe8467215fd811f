//! A loopback HTTP target ([`HttpTarget`]) and a minimal SOCKS5 + HTTP/1.0
//! client to fetch it through a [`VlessClient`](super::VlessClient).

use super::*;

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

/// Why a fetch through the SOCKS5 proxy gave no page.
#[derive(Debug)]
pub(super) enum FetchError {
    /// The proxy accepted the request and then closed the connection (or
    /// reset it) without a byte of answer: what a VLESS client does when its
    /// node drops the tunnel — the node rejected the user, or it could not
    /// be reached at all (the client's log tells which).
    ClosedWithoutAnswer(String),
    /// Anything else: the proxy unreachable, a timeout, a bad answer.
    Other(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::ClosedWithoutAnswer(why) | FetchError::Other(why) => f.write_str(why),
        }
    }
}

/// Minimal SOCKS5 (no auth, CONNECT to an IPv4 address) + HTTP/1.0 GET.
pub(super) fn socks5_http_get(socks_port: u16, target_port: u16) -> Result<String, FetchError> {
    let other = FetchError::Other;
    let proxy = SocketAddr::from((Ipv4Addr::LOCALHOST, socks_port));
    let mut s = TcpStream::connect_timeout(&proxy, FETCH_CONNECT_TIMEOUT)
        .map_err(|e| other(format!("cannot connect to the SOCKS5 proxy {proxy}: {e}")))?;
    s.set_read_timeout(Some(FETCH_IO_TIMEOUT))
        .and_then(|()| s.set_write_timeout(Some(FETCH_IO_TIMEOUT)))
        .map_err(|e| other(format!("cannot set socket timeouts: {e}")))?;
    let io = |what: &str| {
        let what = what.to_owned();
        move |e: io::Error| FetchError::Other(format!("{what}: {e}"))
    };

    // Greeting: version 5, one method, "no authentication".
    s.write_all(&[5, 1, 0]).map_err(io("SOCKS5 greeting"))?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply)
        .map_err(io("SOCKS5 method selection"))?;
    if reply != [5, 0] {
        return Err(other(format!("SOCKS5 proxy refused no-auth: {reply:?}")));
    }

    // CONNECT 127.0.0.1:target_port. (v2ray answers success at once and only
    // then dials its outbound: a failure further on shows as a closed
    // connection, below.)
    let [hi, lo] = target_port.to_be_bytes();
    s.write_all(&[5, 1, 0, 1, 127, 0, 0, 1, hi, lo])
        .map_err(io("SOCKS5 CONNECT"))?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head)
        .map_err(io("SOCKS5 CONNECT reply"))?;
    if head[0] != 5 || head[1] != 0 {
        return Err(other(format!(
            "SOCKS5 CONNECT failed: reply code {}",
            head[1]
        )));
    }
    let addr_len = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).map_err(io("SOCKS5 CONNECT reply"))?;
            usize::from(len[0])
        }
        other_type => {
            return Err(other(format!(
                "SOCKS5 CONNECT reply: unknown address type {other_type}"
            )));
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
        let why = format!("no HTTP response (read failed: {e})");
        return Err(match e.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                FetchError::ClosedWithoutAnswer(why)
            }
            // Timeouts (WouldBlock/TimedOut) and the rest: not a rejection.
            _ => FetchError::Other(why),
        });
    }
    if raw.is_empty() {
        return Err(FetchError::ClosedWithoutAnswer(
            "no HTTP response: the proxy closed the connection".to_owned(),
        ));
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| other(format!("truncated HTTP response: {text:?}")))?;
    let status_line = head.lines().next().unwrap_or_default();
    let code = status_line.split_whitespace().nth(1);
    if code != Some("200") {
        return Err(other(format!("HTTP status is not 200: {status_line:?}")));
    }
    Ok(body.to_owned())
}
