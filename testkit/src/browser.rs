//! A real headless Chromium for tests of pages, driven over the DevTools
//! protocol (one websocket, no chromedriver).
//!
//! [`Browser::start`] launches Debian's `chromium` (or `$SUBVISOR_TEST_CHROMIUM`)
//! with a fresh profile, no background networking, one tab of the given size and
//! language. The tab records, per page opened, every request it made (also those
//! a Content-Security-Policy blocked) and every console error (script errors,
//! CSP violations, failed loads). Dropping the [`Browser`] stops Chromium; the
//! guard shell stops it even if the test process is killed.
//!
//! ```no_run
//! # async fn demo() {
//! use subvisor_testkit::browser::{Browser, BrowserOptions};
//! let mut b = Browser::start(BrowserOptions::phone("ru")).await;
//! b.open("http://127.0.0.1:8080/").await;
//! assert!(b.console_errors().await.is_empty());
//! let title = b.eval("document.title").await;
//! let png = b.screenshot_png().await;
//! # }
//! ```
//!
//! The calls are async so a server running on the test's own runtime keeps
//! answering while the browser loads from it.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Overrides where Chromium is found (else `chromium` on `PATH`, `/usr/bin/chromium`).
pub const BIN_ENV: &str = "SUBVISOR_TEST_CHROMIUM";

/// How long Chromium may take to start, and any one protocol call or page load.
const LIMIT: Duration = Duration::from_secs(60);

/// The tab's size and language.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// `Accept-Language` and `navigator.language`, e.g. `"en"`, `"ru-RU,ru;q=0.9"`.
    pub lang: String,
    /// Viewport in CSS pixels (screenshots are taken at 1 device pixel per CSS pixel).
    pub width: u32,
    pub height: u32,
    /// Emulate a phone: the page's `<meta name="viewport">` is honoured, touch events.
    pub mobile: bool,
}

impl BrowserOptions {
    /// A desktop window, 1280×800.
    pub fn desktop(lang: &str) -> Self {
        Self {
            lang: lang.to_owned(),
            width: 1280,
            height: 800,
            mobile: false,
        }
    }

    /// A phone, 390×844 (an iPhone 12–15's CSS viewport).
    pub fn phone(lang: &str) -> Self {
        Self {
            lang: lang.to_owned(),
            width: 390,
            height: 844,
            mobile: true,
        }
    }
}

impl Default for BrowserOptions {
    fn default() -> Self {
        Self::desktop("en")
    }
}

/// One console message of the current page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleEntry {
    /// `error`, `warning`, `info`, `log`, `debug`…
    pub level: String,
    pub text: String,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A running headless Chromium with one tab.
pub struct Browser {
    socket: Socket,
    /// The tab's flattened DevTools session.
    session: String,
    next_id: u64,
    /// What the current page did (reset by [`Browser::open`]).
    console: Vec<ConsoleEntry>,
    requests: Vec<String>,
    loaded: bool,
    process: ChromiumProcess,
}

impl Browser {
    /// Starts Chromium with one tab sized and localised by `options`.
    ///
    /// Panics with the reason (and Chromium's log) if it cannot start.
    pub async fn start(options: BrowserOptions) -> Browser {
        let mut process = ChromiumProcess::start(&options);
        let url = process.wait_for_devtools().await;
        let (socket, _) = tokio::time::timeout(LIMIT, tokio_tungstenite::connect_async(&url))
            .await
            .unwrap_or_else(|_| panic!("DevTools websocket {url}: no answer"))
            .unwrap_or_else(|e| panic!("DevTools websocket {url}: {e}"));
        let mut browser = Browser {
            socket,
            session: String::new(),
            next_id: 0,
            console: Vec::new(),
            requests: Vec::new(),
            loaded: false,
            process,
        };
        let target = browser
            .send(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let target_id = target["targetId"].as_str().unwrap_or_default().to_owned();
        let attached = browser
            .send(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await;
        browser.session = attached["sessionId"]
            .as_str()
            .expect("Target.attachToTarget returned no sessionId")
            .to_owned();
        let version = browser.send(None, "Browser.getVersion", json!({})).await;
        for domain in ["Page", "Runtime", "Log", "Network"] {
            browser.call(&format!("{domain}.enable"), json!({})).await;
        }
        browser
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({
                    "width": options.width,
                    "height": options.height,
                    "deviceScaleFactor": 1,
                    "mobile": options.mobile,
                }),
            )
            .await;
        browser
            .call(
                "Emulation.setTouchEmulationEnabled",
                json!({ "enabled": options.mobile }),
            )
            .await;
        browser
            .call(
                "Emulation.setUserAgentOverride",
                json!({
                    "userAgent": version["userAgent"].as_str().unwrap_or("Mozilla/5.0"),
                    "acceptLanguage": options.lang,
                }),
            )
            .await;
        browser
    }

    /// Sends these headers with every request from now on (e.g. `Authorization`).
    pub async fn set_extra_headers(&mut self, headers: &[(&str, &str)]) {
        let map: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        self.call("Network.setExtraHTTPHeaders", json!({ "headers": map }))
            .await;
    }

    /// Navigates to `url` and waits for its `load` event. Forgets what the
    /// previous page requested and logged.
    ///
    /// Panics if the navigation fails (e.g. the answer was a download).
    pub async fn open(&mut self, url: &str) {
        self.console.clear();
        self.requests.clear();
        self.loaded = false;
        let nav = self.call("Page.navigate", json!({ "url": url })).await;
        if let Some(err) = nav["errorText"].as_str() {
            panic!("opening {url} failed: {err}");
        }
        let deadline = Instant::now() + LIMIT;
        while !self.loaded {
            assert!(Instant::now() < deadline, "{url} did not finish loading");
            let msg = self.next_message().await;
            self.record(&msg);
        }
    }

    /// Evaluates `js` in the page (promises are awaited) and returns its value
    /// as JSON. Panics if it throws.
    pub async fn eval(&mut self, js: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({
                    "expression": js,
                    "returnByValue": true,
                    "awaitPromise": true,
                    "userGesture": true,
                }),
            )
            .await;
        if let Some(details) = r.get("exceptionDetails") {
            panic!(
                "{js} threw: {}",
                details["exception"]["description"]
                    .as_str()
                    .or(details["text"].as_str())
                    .unwrap_or("?")
            );
        }
        r["result"].get("value").cloned().unwrap_or(Value::Null)
    }

    /// Every console message of the current page so far.
    pub async fn console(&mut self) -> Vec<ConsoleEntry> {
        self.flush().await;
        self.console.clone()
    }

    /// The current page's console errors: uncaught exceptions, `console.error`,
    /// Content-Security-Policy violations, failed loads.
    pub async fn console_errors(&mut self) -> Vec<String> {
        self.console()
            .await
            .into_iter()
            .filter(|e| e.level == "error")
            .map(|e| e.text)
            .collect()
    }

    /// The URL of every request the current page made, in order, the page
    /// itself first, including `data:` URLs and requests a CSP blocked.
    pub async fn requests(&mut self) -> Vec<String> {
        self.flush().await;
        self.requests.clone()
    }

    /// A PNG of the viewport (1 pixel per CSS pixel: `getBoundingClientRect()`
    /// coordinates index it directly).
    pub async fn screenshot_png(&mut self) -> Vec<u8> {
        let r = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        decode_data(&r)
    }

    /// A PNG of the whole page, scrolled content included (for a person to look at).
    pub async fn full_page_png(&mut self) -> Vec<u8> {
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {
                        "x": 0, "y": 0,
                        "width": size["width"].as_f64().unwrap_or(800.0),
                        "height": size["height"].as_f64().unwrap_or(600.0),
                        "scale": 1,
                    },
                }),
            )
            .await;
        decode_data(&r)
    }

    /// Calls a DevTools method on the tab and returns its result.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params).await
    }

    async fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = Value::from(s);
        }
        self.socket
            .send(Message::text(msg.to_string()))
            .await
            .unwrap_or_else(|e| panic!("DevTools {method}: {e}"));
        loop {
            let reply = self.next_message().await;
            if reply["id"].as_u64() == Some(id) {
                if let Some(err) = reply.get("error") {
                    panic!("DevTools {method} failed: {err}");
                }
                return reply["result"].clone();
            }
            self.record(&reply);
        }
    }

    /// Reads every event sent before now (the browser answers in order).
    async fn flush(&mut self) {
        self.call("Runtime.evaluate", json!({ "expression": "0" }))
            .await;
    }

    async fn next_message(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(LIMIT, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("Chromium sent nothing for {}s", LIMIT.as_secs()));
            match msg {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text).unwrap_or(Value::Null);
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("DevTools websocket: {e}; log:\n{}", self.process.log()),
                None => panic!(
                    "Chromium closed the DevTools websocket; log:\n{}",
                    self.process.log()
                ),
            }
        }
    }

    fn record(&mut self, msg: &Value) {
        let p = &msg["params"];
        match msg["method"].as_str().unwrap_or_default() {
            "Page.loadEventFired" => self.loaded = true,
            "Network.requestWillBeSent" => {
                if let Some(url) = p["request"]["url"].as_str() {
                    self.requests.push(url.to_owned());
                }
            }
            "Log.entryAdded" => self.console.push(ConsoleEntry {
                level: p["entry"]["level"].as_str().unwrap_or("info").to_owned(),
                text: p["entry"]["text"].as_str().unwrap_or_default().to_owned(),
            }),
            "Runtime.consoleAPICalled" => {
                let text = p["args"]
                    .as_array()
                    .map(|args| {
                        args.iter()
                            .map(|a| match &a["value"] {
                                Value::String(s) => s.clone(),
                                Value::Null => a["description"].as_str().unwrap_or("").to_owned(),
                                v => v.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                let level = match p["type"].as_str().unwrap_or("log") {
                    "warning" => "warning",
                    "error" | "assert" => "error",
                    other => other,
                };
                self.console.push(ConsoleEntry {
                    level: level.to_owned(),
                    text,
                });
            }
            "Runtime.exceptionThrown" => {
                let d = &p["exceptionDetails"];
                let text = d["exception"]["description"]
                    .as_str()
                    .or(d["text"].as_str())
                    .unwrap_or("uncaught exception");
                self.console.push(ConsoleEntry {
                    level: "error".into(),
                    text: text.to_owned(),
                });
            }
            _ => {}
        }
    }
}

fn decode_data(result: &Value) -> Vec<u8> {
    STANDARD
        .decode(result["data"].as_str().unwrap_or_default())
        .expect("Page.captureScreenshot returned no base64 data")
}

/// Chromium under the guard shell, with its profile and log in a temp dir.
struct ChromiumProcess {
    /// Write end of the shell's stdin; closing it stops Chromium.
    stdin: Option<ChildStdin>,
    child: Child,
    dir: TempDir,
}

impl ChromiumProcess {
    fn start(options: &BrowserOptions) -> ChromiumProcess {
        let bin = find_chromium().unwrap_or_else(|e| panic!("{e}"));
        let dir = crate::scratch::scratch_dir("subvisor-chromium-")
            .expect("temp dir for Chromium's profile");
        let log = std::fs::File::create(dir.path().join("chromium.log")).expect("Chromium log");
        let log_err = log.try_clone().expect("Chromium log");
        let profile = dir.path().join("profile");
        let mut cmd = Command::new("sh");
        cmd.process_group(0)
            .arg("-c")
            .arg(crate::GUARD_SCRIPT)
            .arg("sh")
            .arg(dir.path())
            .arg("TERM")
            .arg(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--mute-audio",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--lang={}", primary_language(&options.lang)))
            .arg(format!("--accept-lang={}", options.lang))
            .arg(format!(
                "--window-size={},{}",
                options.width, options.height
            ))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdin = child.stdin.take();
        ChromiumProcess { stdin, child, dir }
    }

    /// Waits for Chromium to write the DevTools port, and returns the browser's websocket URL.
    async fn wait_for_devtools(&mut self) -> String {
        let file = self.dir.path().join("profile").join("DevToolsActivePort");
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    return format!("ws://127.0.0.1:{port}{path}");
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("Chromium exited at start ({status}); log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "Chromium did not open its DevTools port within {}s; log:\n{}",
                LIMIT.as_secs(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log(&self) -> String {
        const MAX: usize = 4096;
        let mut text = String::new();
        let _ = std::fs::File::open(self.dir.path().join("chromium.log"))
            .and_then(|mut f| f.read_to_string(&mut text));
        let start = text.len().saturating_sub(MAX);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].to_owned()
    }
}

impl Drop for ChromiumProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
    }
}

/// `ru-RU,ru;q=0.9` → `ru-RU`.
fn primary_language(accept: &str) -> &str {
    accept
        .split([',', ';'])
        .next()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("en")
}

fn find_chromium() -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os(BIN_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .chain([PathBuf::from("/usr/bin/chromium")])
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "chromium not found on PATH nor at /usr/bin/chromium: install the Debian \
                     package chromium (`apt-get install chromium`) or set {BIN_ENV}"
                ),
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A decoded screenshot, for checks on its pixels.
#[derive(Debug, Clone)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    /// Luma (0 black … 255 white) of each pixel, row by row.
    luma: Vec<u8>,
}

impl Image {
    /// Decodes an 8- or 16-bit grey, RGB or RGBA PNG (alpha over white).
    pub fn decode_png(bytes: &[u8]) -> Image {
        let mut decoder = png::Decoder::new(bytes);
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("a PNG frame");
        let channels = info.color_type.samples();
        let luma = buf[..info.buffer_size()]
            .chunks_exact(channels)
            .map(|px| {
                let (r, g, b, a) = match px {
                    [v] => (*v, *v, *v, 255),
                    [v, a] => (*v, *v, *v, *a),
                    [r, g, b] => (*r, *g, *b, 255),
                    [r, g, b, a, ..] => (*r, *g, *b, *a),
                    [] => (255, 255, 255, 255),
                };
                let y = (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) / 1000;
                let a = u32::from(a);
                u8::try_from((y * a + 255 * (255 - a)) / 255).unwrap_or(255)
            })
            .collect();
        Image {
            width: info.width,
            height: info.height,
            luma,
        }
    }

    /// The luma of the pixel at (x, y); white outside the image.
    pub fn luma(&self, x: u32, y: u32) -> u8 {
        if x >= self.width || y >= self.height {
            return 255;
        }
        let i = usize::try_from(u64::from(y) * u64::from(self.width) + u64::from(x))
            .unwrap_or(usize::MAX);
        self.luma.get(i).copied().unwrap_or(255)
    }

    /// How many pixels of the rectangle (CSS pixels, clipped to the image) are
    /// dark (luma < 64) and how many light (luma > 192).
    pub fn dark_and_light(&self, x: f64, y: f64, w: f64, h: f64) -> (usize, usize) {
        let clip = |v: f64, max: u32| v.clamp(0.0, f64::from(max)) as u32;
        let (x0, x1) = (clip(x, self.width), clip(x + w, self.width));
        let (y0, y1) = (clip(y, self.height), clip(y + h, self.height));
        let (mut dark, mut light) = (0, 0);
        for yy in y0..y1 {
            for xx in x0..x1 {
                match self.luma(xx, yy) {
                    v if v < 64 => dark += 1,
                    v if v > 192 => light += 1,
                    _ => {}
                }
            }
        }
        (dark, light)
    }
}
