//! The browser harness against a tiny page server: what it reports must be
//! what the page did (requests, CSP violations, script errors, pixels).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use subvisor_testkit::browser::{Browser, BrowserOptions, Image};

const CSP: &str = "default-src 'none'; script-src 'nonce-t3st'; style-src 'nonce-t3st'; \
                   img-src 'self' data:";

/// Serves `/clean` (a page that stays in its origin) and `/dirty` (one that
/// breaks its CSP and throws) on a free port; returns the origin.
fn serve_pages() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut first = String::new();
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let _ = reader.read_line(&mut first);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = if first.starts_with("GET /clean") {
                r#"<!doctype html><html lang="en"><head><title>clean</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style nonce="t3st">body{margin:0;background:#fff}#sq{width:100px;height:100px;background:#000}</style>
</head>
<body><div id="sq"></div>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
<script nonce="t3st">document.title = navigator.language + "|" + window.innerWidth;</script>
</body></html>"#
            } else if first.starts_with("GET /dirty") {
                r#"<!doctype html><html><head><title>dirty</title></head><body>
<img src="http://203.0.113.9/tracker.png" alt="">
<script>document.title = "inline ran";</script>
<script nonce="t3st">null.boom();</script>
</body></html>"#
            } else {
                ""
            };
            let status = if body.is_empty() {
                "404 Not Found"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n\
                 content-security-policy: {CSP}\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    origin
}

#[tokio::test]
async fn reports_what_the_page_did() {
    let origin = serve_pages();
    let mut b = Browser::start(BrowserOptions::phone("ru-RU,ru;q=0.9")).await;

    b.open(&format!("{origin}/clean")).await;
    assert_eq!(b.eval("document.title").await, "ru-RU|390");
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    let requests = b.requests().await;
    assert_eq!(requests[0], format!("{origin}/clean"), "{requests:?}");
    assert!(
        requests
            .iter()
            .all(|u| u.starts_with(&origin) || u.starts_with("data:")),
        "{requests:?}"
    );

    let img = Image::decode_png(&b.screenshot_png().await);
    assert_eq!((img.width, img.height), (390, 844));
    let rect = b
        .eval("JSON.stringify(document.getElementById('sq').getBoundingClientRect())")
        .await;
    let rect: serde_json::Value = serde_json::from_str(rect.as_str().expect("json")).expect("rect");
    let (x, y) = (
        rect["x"].as_f64().expect("x"),
        rect["y"].as_f64().expect("y"),
    );
    assert_eq!(img.dark_and_light(x, y, 100.0, 100.0), (10_000, 0));
    let (dark, light) = img.dark_and_light(x, y, 200.0, 100.0);
    assert!(dark == 10_000 && light == 10_000, "{dark} {light}");

    b.open(&format!("{origin}/dirty")).await;
    // The inline script without the nonce was blocked, the other one threw.
    assert_eq!(b.eval("document.title").await, "dirty");
    let errors = b.console_errors().await;
    assert!(
        errors
            .iter()
            .any(|e| e.contains("Content Security Policy") && e.contains("script")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("TypeError")), "{errors:?}");
    let requests = b.requests().await;
    assert!(
        requests
            .iter()
            .any(|u| u == "http://203.0.113.9/tracker.png"),
        "the blocked request is listed: {requests:?}"
    );
    assert!(!b.full_page_png().await.is_empty());
}
