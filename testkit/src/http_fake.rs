//! A minimal HTTP/1.1 server for the fake APIs of this crate
//! ([`fake_payments`](crate::fake_payments), [`fake_telegram`](crate::fake_telegram)).
//!
//! `std::net::TcpListener` with a thread per connection and a minimal parser
//! (request line, headers, `Content-Length` or chunked body); every answer
//! closes the connection (`connection: close`), which HTTP clients such as
//! reqwest handle by opening a new connection per request. A handler may block
//! (a long poll) without holding up other connections. It works from sync and
//! async tests alike and stops accepting when the [`Server`] is dropped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::Value;

use super::annotate;

/// Largest request head (request line + headers) the fakes read.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body the fakes read (file uploads included).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// A client that stops sending mid-request is dropped after this long.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Request {
    pub(crate) method: String,
    /// The path without the query string, as sent (not percent-decoded).
    pub(crate) path: String,
    /// The query string without `?` (empty when there is none).
    pub(crate) query: String,
    /// Lowercased names.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            content_type: "application/json; charset=utf-8",
            body: value.to_string().into_bytes(),
        }
    }

    pub(crate) fn server_error() -> Self {
        Self {
            status: 500,
            content_type: "text/html",
            body: b"<html><head><title>500 Internal Server Error</title></head>\
                    <body><center><h1>500 Internal Server Error</h1></center></body></html>"
                .to_vec(),
        }
    }

    pub(crate) fn text(status: u16, text: &str) -> Self {
        Self {
            status,
            content_type: "text/plain",
            body: text.as_bytes().to_vec(),
        }
    }

    fn write_to(&self, stream: &mut TcpStream) -> io::Result<()> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            413 => "Payload Too Large",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            _ => "Unknown",
        };
        let head = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(&self.body)?;
        stream.flush()
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// Accepts on a thread; one thread per connection; stopped on drop.
///
/// Dropping stops the acceptor; a connection thread still inside its handler
/// finishes on its own (handlers that block must watch a flag of their own).
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    pub(crate) fn start(
        name: &'static str,
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| annotate(e, format!("cannot bind the {name} on 127.0.0.1")))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let stop_flag = Arc::clone(&stop);
        let acceptor = thread::Builder::new()
            .name(format!("{name} {addr}"))
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop_flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = conn else { continue };
                    let handler = Arc::clone(&handler);
                    // Best effort: a failed spawn drops that one connection.
                    let _ = thread::Builder::new()
                        .name(format!("{name} conn"))
                        .spawn(move || serve(stream, &*handler));
                }
            })
            .map_err(|e| annotate(e, format!("cannot spawn the {name} thread")))?;
        Ok(Self {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// One request, one answer, then close.
fn serve(mut stream: TcpStream, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let response = match read_request(&stream) {
        Ok(Some(req)) => handler(&req),
        Ok(None) => return, // closed before sending anything
        Err(ParseError::TooLarge) => Response::text(413, "request too large"),
        Err(ParseError::Bad(why)) => Response::text(400, &why),
        Err(ParseError::Io) => return,
    };
    let _ = response.write_to(&mut stream);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

enum ParseError {
    /// Reading failed or timed out: nothing to answer.
    Io,
    Bad(String),
    TooLarge,
}

impl From<io::Error> for ParseError {
    fn from(_: io::Error) -> Self {
        ParseError::Io
    }
}

fn read_request(stream: &TcpStream) -> Result<Option<Request>, ParseError> {
    let mut reader = BufReader::new(stream);
    let mut head_len = 0;
    let Some(request_line) = read_head_line(&mut reader, &mut head_len)? else {
        return Ok(None); // closed before sending anything
    };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::Bad(format!(
            "bad request line {request_line:?}"
        )));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ParseError::Bad(format!("unsupported version {version:?}")));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (path, query) = (path.to_owned(), query.to_owned());
    let method = method.to_owned();

    let mut headers = Vec::new();
    loop {
        let line = read_head_line(&mut reader, &mut head_len)?
            .ok_or_else(|| ParseError::Bad("connection closed inside the head".into()))?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ParseError::Bad(format!("bad header line {line:?}")));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };

    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        read_chunked(&mut reader)?
    } else if let Some(len) = header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| ParseError::Bad(format!("bad content-length {len:?}")))?;
        if len > MAX_BODY {
            return Err(ParseError::TooLarge);
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        body
    } else {
        Vec::new()
    };
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        body,
    }))
}

/// One line of the request head without its line end; `None` at EOF.
fn read_head_line(
    reader: &mut BufReader<&TcpStream>,
    head_len: &mut usize,
) -> Result<Option<String>, ParseError> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take((MAX_HEAD - *head_len + 1) as u64)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    *head_len += n;
    if *head_len > MAX_HEAD {
        return Err(ParseError::TooLarge);
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| ParseError::Bad("head is not UTF-8".into()))
}

fn read_chunked(reader: &mut BufReader<&TcpStream>) -> Result<Vec<u8>, ParseError> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.by_ref().take(1024).read_line(&mut size_line)?;
        let size_text = size_line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ParseError::Bad(format!("bad chunk size {size_text:?}")))?;
        if body.len() + size > MAX_BODY {
            return Err(ParseError::TooLarge);
        }
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut line = String::new();
                let n = reader.by_ref().take(8 * 1024).read_line(&mut line)?;
                if n == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(ParseError::Bad("chunk not followed by CRLF".into()));
        }
    }
}

/// The pairs of an `application/x-www-form-urlencoded` text (a query string
/// or a form body), decoded (`+` is a space).
pub(crate) fn parse_form(text: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}
