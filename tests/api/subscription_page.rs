//! The subscription page in a real headless Chromium against the real server:
//! what a person sees when they open their subscription URL in a browser.
//!
//! Set `SUBVISOR_PAGE_SCREENSHOTS=<dir>` to keep the screenshots the tests take.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use subvisor_actors::clock::{Clock, ManualClock, SystemClock};
use subvisor_testkit::browser::{Browser, BrowserOptions, Image};
use subvisor_testkit::fake_xray::FakeXrayNode;

use crate::helpers::{Db, TestApp, spawn_app_with};
use crate::provisioning::node_settings;

/// The app with three (fake) nodes and user 100 granted `days`; returns the
/// subscription URL as the page shows it, and the one to open here.
/// `subscription.renew_url` of these tests.
const RENEW: &str = "https://t.me/subvisor_page_test_bot";

async fn app_with_user(
    name: &str,
    clock: Arc<dyn Clock>,
    days: u32,
) -> (TestApp, Vec<FakeXrayNode>, String, String) {
    let nodes: Vec<FakeXrayNode> = (0..3)
        .map(|_| FakeXrayNode::start("vless-in").expect("fake node"))
        .collect();
    let settings: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| node_settings(&format!("{name}-{i}"), n.api_addr(), "xray", 443 + i as u16))
        .collect();
    let app = spawn_app_with(Db::Sqlite, clock, |s| {
        s.nodes = settings;
        s.subscription.renew_url = Some(RENEW.into());
    })
    .await;
    let (status, granted) = app
        .post("/ops/users/100/grant", json!({ "days": days }))
        .await;
    assert_eq!(status, 200, "{granted}");
    let sub_url = granted["subscription_url"]
        .as_str()
        .expect("subscription_url")
        .to_owned();
    let (_, token) = sub_url.split_once("/sub/").expect("a /sub/ URL");
    let local = format!("{}/sub/{token}", app.public);
    (app, nodes, sub_url, local)
}

/// Keeps a screenshot when `SUBVISOR_PAGE_SCREENSHOTS` names a directory.
fn keep(name: &str, png: &[u8]) {
    if let Some(dir) = std::env::var_os("SUBVISOR_PAGE_SCREENSHOTS") {
        let path = std::path::Path::new(&dir).join(name);
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

async fn strings(b: &mut Browser, js: &str) -> Vec<String> {
    match b.eval(js).await {
        Value::Array(items) => items
            .into_iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
        other => panic!("{js}: {other}"),
    }
}

#[actix_rt::test]
async fn the_page_in_a_browser_is_self_contained_and_carries_the_subscription() {
    let (app, _nodes, sub_url, local) = app_with_user("page-en", Arc::new(SystemClock), 30).await;
    let mut b = Browser::start(BrowserOptions::desktop("en-US,en;q=0.9")).await;
    b.open(&local).await;

    assert_eq!(b.eval("document.documentElement.lang").await, "en");
    assert_eq!(
        b.eval("document.getElementById('status').textContent")
            .await,
        "Active"
    );
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    let requests = b.requests().await;
    assert_eq!(requests.first(), Some(&local), "{requests:?}");
    assert!(
        requests
            .iter()
            .all(|u| u.starts_with(&format!("{}/", app.public)) || u.starts_with("data:")),
        "requests outside our origin: {requests:?}"
    );

    // Copy buttons: the subscription URL and the three keys.
    let copies = strings(
        &mut b,
        "[...document.querySelectorAll('button[data-copy]')].map(x => x.dataset.copy)",
    )
    .await;
    assert!(copies.contains(&sub_url), "{copies:?}");
    let links: Vec<&String> = copies
        .iter()
        .filter(|c| c.starts_with("vless://"))
        .collect();
    assert_eq!(links.len(), 3, "{copies:?}");
    // Deep links: every "Add" carries the subscription URL (encoded or not).
    let adds = strings(&mut b, "[...document.querySelectorAll('a.add')].map(a => decodeURIComponent(a.getAttribute('href')))").await;
    assert!(adds.len() >= 10, "{adds:?}");
    assert!(adds.iter().all(|a| a.contains(&sub_url)), "{adds:?}");
    for prefix in [
        format!("happ://add/{sub_url}"),
        format!("v2raytun://import/{sub_url}"),
        format!("v2rayng://install-config/?url={sub_url}"),
        format!("clash://install-config?url={sub_url}/clash"),
        format!("hiddify://import/{sub_url}#"),
        format!("sing-box://import-remote-profile?url={sub_url}/singbox#"),
        format!("streisand://import/{sub_url}#"),
    ] {
        assert!(
            adds.iter().any(|a| a.starts_with(&prefix)),
            "{prefix} in {adds:?}"
        );
    }

    keep("page-desktop.png", &b.full_page_png().await);

    // Every QR code is drawn: dark and light modules where it sits.
    b.eval("document.querySelectorAll('details').forEach(d => d.open = true)")
        .await;
    let count = b.eval("document.querySelectorAll('svg.qr').length").await;
    assert_eq!(count, 4, "the subscription's and one per key");
    for i in 0..4 {
        let rect = b
            .eval(&format!(
                "(() => {{ const q = document.querySelectorAll('svg.qr')[{i}];
                    q.scrollIntoView({{block: 'center'}});
                    const r = q.getBoundingClientRect();
                    return [r.x, r.y, r.width, r.height]; }})()"
            ))
            .await;
        let r: Vec<f64> = rect
            .as_array()
            .expect("rect")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        assert!(r[2] >= 150.0 && r[3] >= 150.0, "QR {i} is {r:?}");
        let shot = b.screenshot_png().await;
        let (dark, light) = Image::decode_png(&shot).dark_and_light(r[0], r[1], r[2], r[3]);
        let area = (r[2] * r[3]) as usize;
        assert!(
            dark > area / 5 && light > area / 5,
            "QR {i}: {dark} dark and {light} light of {area} pixels"
        );
    }

    // Copying shows "Copied" and puts the URL on the clipboard.
    b.call(
        "Browser.grantPermissions",
        json!({ "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"], "origin": app.public }),
    )
    .await;
    let copied = b
        .eval(
            "(async () => {
                const button = document.querySelector('#subscription button.copy');
                button.click();
                for (let i = 0; i < 100 && button.textContent !== 'Copied'; i++) {
                    await new Promise(r => setTimeout(r, 20));
                }
                return [button.textContent, await navigator.clipboard.readText()];
            })()",
        )
        .await;
    assert_eq!(copied, json!(["Copied", sub_url]));
    assert_eq!(b.console_errors().await, Vec::<String>::new());

    app.stop().await;
}

#[actix_rt::test]
async fn in_russian_on_a_phone() {
    let (app, _nodes, _, local) = app_with_user("page-ru", Arc::new(SystemClock), 30).await;
    let lang = "ru-RU,ru;q=0.9,en;q=0.8";
    let mut b = Browser::start(BrowserOptions::phone(lang)).await;
    b.call(
        "Emulation.setUserAgentOverride",
        json!({
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
            "acceptLanguage": lang,
        }),
    )
    .await;
    b.open(&local).await;
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    assert_eq!(b.eval("document.documentElement.lang").await, "ru");
    assert_eq!(
        b.eval("document.querySelector('h1').textContent").await,
        "Ваша VPN-подписка"
    );
    assert_eq!(
        b.eval("document.getElementById('status').textContent")
            .await,
        "Активна"
    );
    let text = b.eval("document.body.innerText").await;
    let text = text.as_str().unwrap_or_default();
    assert!(
        text.contains("Копировать") && text.contains("Добавить"),
        "{text}"
    );
    // Readable on a phone: nothing wider than the screen, one column, large tap targets.
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        true
    );
    let columns = b
        .eval("getComputedStyle(document.querySelector('.facts')).gridTemplateColumns.split(' ').length")
        .await;
    assert_eq!(columns, 1);
    let smallest = b
        .eval("Math.min(...[...document.querySelectorAll('.btn')].filter(e => e.offsetParent).map(e => e.getBoundingClientRect().height))")
        .await;
    assert!(smallest.as_f64().is_some_and(|h| h >= 44.0), "{smallest}");
    // The phone's own apps first and open, the other platforms closed.
    let groups = b
        .eval("[...document.querySelectorAll('details.group')].map(d => [d.querySelector('summary').textContent, d.open])")
        .await;
    assert_eq!(
        groups,
        json!([
            ["Android", true],
            ["iOS / macOS", false],
            ["Windows", false],
            ["Linux", false]
        ])
    );
    keep("page-phone-ru.png", &b.full_page_png().await);

    // Dark mode: a dark page, the QR code still black on white.
    b.call(
        "Emulation.setEmulatedMedia",
        json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] }),
    )
    .await;
    assert_eq!(
        b.eval("getComputedStyle(document.body).backgroundColor")
            .await,
        "rgb(13, 17, 23)"
    );
    let r = b
        .eval(
            "(() => { const q = document.querySelector('svg.qr'); q.scrollIntoView({block: 'center'});
                const r = q.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()",
        )
        .await;
    let r: Vec<f64> = r
        .as_array()
        .expect("rect")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let (dark, light) =
        Image::decode_png(&b.screenshot_png().await).dark_and_light(r[0], r[1], r[2], r[3]);
    let area = (r[2] * r[3]) as usize;
    assert!(
        dark > area / 5 && light > area / 5,
        "{dark} dark, {light} light of {area}"
    );
    b.eval("window.scrollTo(0, 0)").await;
    keep("page-phone-ru-dark.png", &b.full_page_png().await);
    app.stop().await;
}

#[actix_rt::test]
async fn an_expired_subscription_says_so_and_shows_no_keys() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (app, _nodes, sub_url, local) = app_with_user("page-expired", clock.clone(), 1).await;
    clock.advance(Duration::days(3));
    let mut b = Browser::start(BrowserOptions::phone("en")).await;
    b.open(&local).await;
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    assert_eq!(
        b.eval("document.getElementById('status').textContent")
            .await,
        "Expired"
    );
    let notice = b.eval("document.getElementById('notice').innerText").await;
    assert!(
        notice
            .as_str()
            .is_some_and(|n| n.contains("has ended") && n.contains("Renew")),
        "{notice}"
    );
    assert_eq!(
        b.eval("document.querySelector('#notice a').getAttribute('href')")
            .await,
        RENEW,
        "the renew button leads to subscription.renew_url"
    );
    assert_eq!(
        b.eval("document.getElementById('days-left').textContent")
            .await,
        "ended 2 days ago"
    );
    let html = b.eval("document.documentElement.outerHTML").await;
    let html = html.as_str().unwrap_or_default();
    assert!(!html.contains("vless://"), "{html}");
    assert!(
        !html.contains(&sub_url),
        "no link to import an expired subscription"
    );
    assert_eq!(
        b.eval("document.querySelectorAll('a.add, button[data-copy], svg.qr').length")
            .await,
        0
    );
    keep("page-expired.png", &b.full_page_png().await);
    app.stop().await;
}

#[actix_rt::test]
async fn vpn_apps_still_get_their_format_and_browsers_get_a_locked_down_page() {
    let (app, _nodes, _, local) = app_with_user("page-headers", Arc::new(SystemClock), 30).await;
    let get = |url: String, ua: &'static str, accept: &'static str| {
        app.http
            .get(url)
            .header("user-agent", ua)
            .header("accept", accept)
            .send()
    };
    const BROWSER_ACCEPT: &str =
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

    let resp = get(local.clone(), "v2rayNG/1.9.40", "*/*")
        .await
        .expect("sub");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    let body = resp.text().await.expect("body");
    let decoded = String::from_utf8(STANDARD.decode(body.trim()).expect("base64")).expect("utf-8");
    assert_eq!(
        decoded
            .lines()
            .filter(|l| l.starts_with("vless://"))
            .count(),
        3,
        "{decoded}"
    );

    // A format in the path wins over a browser's Accept.
    let resp = get(format!("{local}/base64"), "Mozilla/5.0", BROWSER_ACCEPT)
        .await
        .expect("sub");
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");

    let resp = get(
        local.clone(),
        "Mozilla/5.0 (X11; Linux x86_64)",
        BROWSER_ACCEPT,
    )
    .await
    .expect("page");
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for directive in [
        "default-src 'none'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    let nonce = csp
        .split("script-src 'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a script nonce")
        .to_owned();
    assert!(csp.contains(&format!("style-src 'nonce-{nonce}'")), "{csp}");
    let body = resp.text().await.expect("page");
    assert!(
        body.contains(&format!("<script nonce=\"{nonce}\">")),
        "{body}"
    );
    // A new nonce for every answer.
    let again = get(local.clone(), "Mozilla/5.0", BROWSER_ACCEPT)
        .await
        .expect("page");
    let csp2 = again.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(csp, csp2);
    app.stop().await;
}

/// The page follows `[bot] language_map` for browsers speaking other
/// languages, as the bot does: by default Ukrainian gets Russian; mapped to
/// English it gets English, and a newly mapped language gets its language.
#[actix_rt::test]
async fn the_page_follows_the_configured_language_map() {
    async fn page_lang(app: &TestApp, url: &str, accept_language: &str) -> String {
        let html = app
            .http
            .get(url)
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
            .header("accept", "text/html")
            .header("accept-language", accept_language)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        let (_, rest) = html.split_once("<html lang=\"").expect("<html lang>");
        rest.split('"').next().unwrap_or_default().to_owned()
    }
    for (map, expected) in [
        (None, [("uk-UA", "ru"), ("de", "en")]),
        (
            Some([("uk", "en"), ("de", "ru")]),
            [("uk-UA", "en"), ("de", "ru")],
        ),
    ] {
        let node = FakeXrayNode::start("vless-in").expect("fake node");
        let settings = node_settings("page-lang", node.api_addr(), "xray", 443);
        let app = spawn_app_with(Db::Sqlite, Arc::new(SystemClock), |s| {
            s.nodes = vec![settings];
            if let Some(map) = map {
                s.bot.language_map = map
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
            }
        })
        .await;
        let (status, granted) = app
            .post("/ops/users/100/grant", json!({ "days": 30 }))
            .await;
        assert_eq!(status, 200, "{granted}");
        let sub_url = granted["subscription_url"].as_str().expect("url");
        let (_, token) = sub_url.split_once("/sub/").expect("a /sub/ URL");
        let local = format!("{}/sub/{token}", app.public);
        for (accept_language, want) in expected {
            assert_eq!(
                page_lang(&app, &local, accept_language).await,
                want,
                "{accept_language} with map {map:?}"
            );
        }
        app.stop().await;
    }
}
