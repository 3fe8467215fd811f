//! `/sub/{token}` in every format over HTTP: chosen by User-Agent or by the
//! path, with its content type and the headers clients read; expired and
//! revoked subscriptions answer with a stub entry in every format, the
//! expiry still in `subscription-userinfo`.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration as Days, Utc};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use subvisor_actors::clock::{Clock, ManualClock};
use subvisor_actors::domain::UserId;
use subvisor_actors::messages::SetLanguage;
use subvisor_http::Announce;
use subvisor_testkit::fake_telegram::{BOT_USERNAME, FakeTelegram};
use subvisor_testkit::fake_xray::FakeXrayNode;

use crate::helpers::{Db, TestApp, eventually, spawn_app_with};
use crate::provisioning::node_settings;

const FORMATS: [(&str, &str, &str); 4] = [
    ("base64", "text/plain; charset=utf-8", "txt"),
    ("clash", "text/yaml; charset=utf-8", "yaml"),
    ("singbox", "application/json", "json"),
    ("xray", "application/json", "json"),
];

/// The app on three fake Xray nodes (names unique per test), a manual clock.
async fn three_node_app(test: &str, clock: Arc<ManualClock>) -> (TestApp, Vec<FakeXrayNode>) {
    let nodes: Vec<FakeXrayNode> = (0..3)
        .map(|_| FakeXrayNode::start("vless-in").expect("fake node"))
        .collect();
    let entries: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| node_settings(&format!("{test}-{i}"), n.api_addr(), "xray", 443))
        .collect();
    let app = spawn_app_with(Db::Sqlite, clock, |s| {
        s.nodes = entries;
        s.subscription.title = "Мой VPN".into();
        s.subscription.support_url = Some("https://t.me/vpn_help".into());
        s.subscription.renew_url = Some("https://t.me/vpn_bot".into());
        s.subscription.announce = Announce::PerLanguage(
            [("en", "New servers"), ("ru", "Новые серверы")]
                .map(|(l, t)| (l.to_owned(), t.to_owned()))
                .into(),
        );
    })
    .await;
    (app, nodes)
}

async fn grant(app: &TestApp, user: i64, days: i64) -> (String, Value) {
    let (status, view) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": days }))
        .await;
    assert_eq!(status, 200, "{view}");
    let url = view["subscription_url"].as_str().expect("url").to_owned();
    let path = url.split_once("/sub/").expect("sub url").1;
    (format!("{}/sub/{path}", app.public), view)
}

struct Answer {
    status: u16,
    header: std::collections::HashMap<String, String>,
    body: String,
}

async fn get(app: &TestApp, url: &str, user_agent: &str) -> Answer {
    let resp = app
        .http
        .get(url)
        .header("user-agent", user_agent)
        .send()
        .await
        .expect("sub");
    let status = resp.status().as_u16();
    let header = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().expect("ascii").to_owned()))
        .collect();
    Answer {
        status,
        header,
        body: resp.text().await.expect("body"),
    }
}

/// Every (UUID, host, name) a body lists, in order.
fn servers(format: &str, body: &str) -> Vec<(String, String, String)> {
    match format {
        "base64" => {
            let text = String::from_utf8(STANDARD.decode(body).expect("base64")).expect("utf-8");
            text.lines()
                .map(|l| {
                    let url = reqwest::Url::parse(l).expect("vless link");
                    let name = percent_decode_str(url.fragment().expect("name"))
                        .decode_utf8()
                        .expect("utf-8")
                        .into_owned();
                    (
                        url.username().to_owned(),
                        url.host_str().expect("host").to_owned(),
                        name,
                    )
                })
                .collect()
        }
        "clash" => {
            // The YAML's proxies, as JSON values (the strict check is in the http crate).
            let doc: Value = serde_saphyr::from_str(body).expect("yaml");
            doc["proxies"]
                .as_array()
                .expect("proxies")
                .iter()
                .map(|p| (text(&p["uuid"]), text(&p["server"]), text(&p["name"])))
                .collect()
        }
        "singbox" => {
            let doc: Value = serde_json::from_str(body).expect("json");
            doc["outbounds"]
                .as_array()
                .expect("outbounds")
                .iter()
                .filter(|o| o["type"] == "vless")
                .map(|o| (text(&o["uuid"]), text(&o["server"]), text(&o["tag"])))
                .collect()
        }
        "xray" => {
            let doc: Value = serde_json::from_str(body).expect("json");
            doc.as_array()
                .expect("configs")
                .iter()
                .map(|c| {
                    let vnext = &c["outbounds"][0]["settings"]["vnext"][0];
                    (
                        text(&vnext["users"][0]["id"]),
                        text(&vnext["address"]),
                        text(&c["remarks"]),
                    )
                })
                .collect()
        }
        other => panic!("unknown format {other}"),
    }
}

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_owned()
}

#[actix_rt::test]
async fn every_format_is_served_with_its_headers() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (app, _nodes) = three_node_app("fmt-hdr", clock.clone()).await;
    let (url, view) = grant(&app, 501, 30).await;
    let uuid = view["keys"][0]["uuid"].as_str().expect("uuid").to_owned();
    let expire = (clock.now() + Days::days(30)).timestamp();
    for (format, content_type, ext) in FORMATS {
        let a = get(&app, &format!("{url}/{format}"), "curl/8.11.1").await;
        assert_eq!(a.status, 200, "{format}: {}", a.body);
        assert_eq!(a.header["content-type"], content_type, "{format}");
        let seen = servers(format, &a.body);
        assert_eq!(seen.len(), 3, "{format}: {}", a.body);
        assert!(
            seen.iter().all(|(u, h, _)| *u == uuid && h == "127.0.0.1"),
            "{format}: {seen:?}"
        );
        assert_eq!(
            a.header["content-disposition"],
            format!(
                "attachment; filename=\"____VPN.{ext}\"; filename*=UTF-8''%D0%9C%D0%BE%D0%B9%20VPN.{ext}"
            ),
        );
        let info = &a.header["subscription-userinfo"];
        assert!(info.ends_with(&format!("expire={expire}")), "{info}");
        assert_eq!(
            a.header["profile-title"],
            format!("base64:{}", STANDARD.encode("Мой VPN"))
        );
        assert_eq!(a.header["profile-update-interval"], "12");
        assert_eq!(a.header["support-url"], "https://t.me/vpn_help");
        assert_eq!(
            a.header["profile-web-page-url"],
            view["subscription_url"].as_str().expect("url")
        );
        assert_eq!(
            a.header["announce"], "New servers",
            "English: no language chosen"
        );
    }
    // Without a format in the path, the User-Agent chooses.
    for (ua, content_type) in [
        ("clash-verge/v2.2.3", "text/yaml; charset=utf-8"),
        ("SFA/1.11.4", "application/json"),
        ("v2rayNG/1.9.40", "text/plain; charset=utf-8"),
    ] {
        let a = get(&app, &url, ua).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header["content-type"], content_type, "{ua}");
    }
    let a = get(&app, &format!("{url}/yaml"), "curl/8.11.1").await;
    assert_eq!(a.status, 404, "unknown formats are not found");
    app.stop().await;
}

#[actix_rt::test]
async fn expired_and_revoked_subscriptions_get_a_stub_in_every_format() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (app, _nodes) = three_node_app("fmt-stub", clock.clone()).await;
    let (expired_url, _) = grant(&app, 601, 1).await;
    let (revoked_url, _) = grant(&app, 602, 30).await;
    let expired_at = (clock.now() + Days::days(1)).timestamp();
    // A revoked subscription ends when it was revoked.
    let revoked_expiry = clock.now().timestamp();
    let (status, revoked) = app.post("/ops/users/602/revoke", json!({})).await;
    assert_eq!(status, 200, "{revoked}");
    clock.advance(Days::days(2));
    // The expired user chose Russian in the bot.
    let user = UserId::new(601).expect("id");
    let language = SetLanguage {
        language: "ru".into(),
    };
    app.registry.send(user, language).await.expect("language");
    let cases = [
        (
            expired_url,
            expired_at,
            "Подписка истекла · продлить: https://t.me/vpn_bot",
        ),
        (
            revoked_url,
            revoked_expiry,
            "Subscription revoked · help: https://t.me/vpn_bot",
        ),
    ];
    for (url, expire, text) in cases {
        for (format, content_type, _) in FORMATS {
            let a = get(&app, &format!("{url}/{format}"), "curl/8.11.1").await;
            assert_eq!(a.status, 200, "{format}");
            assert_eq!(a.header["content-type"], content_type);
            let seen = servers(format, &a.body);
            let stub = (
                "00000000-0000-4000-8000-000000000000".to_owned(),
                "0.0.0.0".to_owned(),
                text.to_owned(),
            );
            assert_eq!(seen, [stub], "{format}: one stub entry, nowhere");
            let info = &a.header["subscription-userinfo"];
            assert!(
                info.ends_with(&format!("expire={expire}")),
                "{format}: {info}, want {expire}"
            );
            let announce = if text.starts_with("Subscription") {
                "New servers".to_owned()
            } else {
                format!("base64:{}", STANDARD.encode("Новые серверы"))
            };
            assert_eq!(a.header["announce"], announce, "in the user's language");
        }
    }
    app.stop().await;
}

/// Without `renew_url`, the stub sends people to the bot once `getMe` named it.
#[actix_rt::test]
async fn the_stub_links_to_the_bot_once_it_is_known() {
    let tg = FakeTelegram::start("123456:formats-token").expect("fake telegram");
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let node = FakeXrayNode::start("vless-in").expect("fake node");
    let entry = node_settings("fmt-bot-0", node.api_addr(), "xray", 443);
    let app = spawn_app_with(Db::Sqlite, clock.clone(), |s| {
        s.nodes = vec![entry];
        s.telegram.token = Some(tg.token().to_owned().into());
        s.telegram.api_url = Some(tg.api_url());
        // This test polls /sub until the bot connected.
        s.http.public_rate_burst = 10_000;
    })
    .await;
    let (url, _) = grant(&app, 701, 1).await;
    clock.advance(Days::days(2));
    let want = format!("Subscription expired · renew: https://t.me/{BOT_USERNAME}");
    let mut last = Vec::new();
    eventually(
        "the stub names the bot",
        Duration::from_secs(10),
        async || {
            last = servers(
                "singbox",
                &get(&app, &format!("{url}/singbox"), "SFA/1.11.4")
                    .await
                    .body,
            );
            last.len() == 1 && last[0].2 == want
        },
    )
    .await;
    assert_eq!(last[0].1, "0.0.0.0");
    app.stop().await;
}
