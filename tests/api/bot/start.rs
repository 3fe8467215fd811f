//! The real binary starts while the Bot API is unreachable: the core serves
//! (health, payment webhooks, `/sub`, the ops API), `/readyz` shows the bot
//! connecting, and once Telegram answers the bot connects and works.

use std::io::copy;
use std::net::{Shutdown, TcpListener, TcpStream};

use subvisor_testkit::fake_payments::{FakeCryptoPay, invoice_paid};
use subvisor_testkit::signers::cryptobot_signature;

use super::*;
use crate::helpers::ServerProcess;

const CB_TOKEN: &str = "777:crypto-pay-token";
const SECRET: &str = "start-secret_0123456789";

/// A free port of 127.0.0.1 that nothing listens on (yet).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Telegram "comes up" on `port`: every connection is forwarded to `to`.
fn forward(port: u16, to: std::net::SocketAddr) {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the Bot API port");
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let Ok(upstream) = TcpStream::connect(to) else {
                continue;
            };
            let (mut c_in, mut u_out) = (
                client.try_clone().expect("clone"),
                upstream.try_clone().expect("clone"),
            );
            std::thread::spawn(move || {
                let _ = copy(&mut c_in, &mut u_out);
                let _ = u_out.shutdown(Shutdown::Write);
            });
            let (mut u_in, mut c_out) = (upstream, client);
            std::thread::spawn(move || {
                let _ = copy(&mut u_in, &mut c_out);
                let _ = c_out.shutdown(Shutdown::Write);
            });
        }
    });
}

fn bot_state(http: &reqwest::blocking::Client, server: &ServerProcess) -> (u16, serde_json::Value) {
    let resp = http
        .get(format!("{}/readyz", server.ops))
        .send()
        .expect("readyz");
    (resp.status().as_u16(), resp.json().expect("json"))
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_binary_serves_while_telegram_is_down_and_the_bot_connects_once_it_is_up() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let cryptopay = FakeCryptoPay::start(CB_TOKEN).expect("fake crypto pay");
    let port = free_port();
    let api_url = format!("http://127.0.0.1:{port}");
    let cb_url = cryptopay.base_url();
    let mut server = ServerProcess::start(
        cwd.path(),
        &[
            ("SUBVISOR__TELEGRAM__TOKEN", TOKEN),
            ("SUBVISOR__TELEGRAM__API_URL", &api_url),
            ("SUBVISOR__TELEGRAM__MODE", "webhook"),
            (
                "SUBVISOR__TELEGRAM__WEBHOOK_URL",
                "https://example.com/telegram/webhook",
            ),
            ("SUBVISOR__TELEGRAM__WEBHOOK_SECRET", SECRET),
            ("SUBVISOR__PAYMENTS__CRYPTOBOT__TOKEN", CB_TOKEN),
            ("SUBVISOR__PAYMENTS__CRYPTOBOT__BASE_URL", &cb_url),
        ],
    );
    let http = reqwest::blocking::Client::new();
    let status = http
        .get(format!("{}/healthz", server.ops))
        .send()
        .expect("healthz")
        .status();
    assert_eq!(status, 200);

    // Ready (the core serves), showing the bot still connecting and why.
    wait_until("a failed getMe is shown", STEP, || {
        let (status, body) = bot_state(&http, &server);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["bot"]["state"], "connecting", "{body}");
        body["bot"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("getMe"))
    });

    // A payment through a provider's webhook is applied; /sub serves the key.
    let user = 630_001;
    let created: serde_json::Value = http
        .post(format!("{}/ops/users/{user}/orders", server.ops))
        .json(&json!({ "plan": "month", "provider": "cryptobot" }))
        .send()
        .expect("order")
        .json()
        .expect("json");
    let order = created["order_id"].as_str().expect("order id").to_owned();
    let body = invoice_paid(9101, 91, &order, "2.99");
    let paid: serde_json::Value = http
        .post(format!("{}/pay/cryptobot", server.public))
        .header(
            "crypto-pay-api-signature",
            cryptobot_signature(CB_TOKEN, &body),
        )
        .body(body)
        .send()
        .expect("callback")
        .json()
        .expect("json");
    assert_eq!(paid["outcome"], "applied", "{paid}");
    let view: serde_json::Value = http
        .get(format!("{}/ops/users/{user}", server.ops))
        .send()
        .expect("view")
        .json()
        .expect("json");
    assert_eq!(view["status"], "active", "{view}");
    let sub_url = view["subscription_url"].as_str().expect("subscription url");
    let token = sub_url.rsplit('/').next().expect("token");
    let sub = http
        .get(format!("{}/sub/{token}", server.public))
        .send()
        .expect("sub");
    assert_eq!(sub.status(), 200);
    // The sandbox node has no links; the paid month is in the header.
    let info = sub.headers()["subscription-userinfo"]
        .to_str()
        .expect("header")
        .to_owned();
    assert!(info.contains("expire="), "{info}");

    // Telegram comes up on the configured port: the bot connects and answers.
    let tg = FakeTelegram::start(TOKEN).expect("fake telegram");
    let fake_addr = tg
        .api_url()
        .trim_start_matches("http://")
        .parse()
        .expect("fake address");
    forward(port, fake_addr);
    wait_until("the bot is connected", Duration::from_secs(90), || {
        bot_state(&http, &server).1["bot"]["state"] == "ok"
    });
    let (url, secret, _) = tg.webhook().expect("setWebhook was called");
    assert_eq!(
        (url.as_str(), secret.as_deref()),
        ("https://example.com/telegram/webhook", Some(SECRET))
    );
    let start = 630_002;
    let mut update = FakeTelegram::message(start, "/start", Some("en"));
    update["update_id"] = json!(1);
    let status = http
        .post(format!("{}/telegram/webhook", server.public))
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&update)
        .send()
        .expect("update")
        .status();
    assert_eq!(status, 200);
    wait_until("the bot answered /start", STEP, || {
        !to_chat(&tg, "sendMessage", start).is_empty()
    });
    let menu = &to_chat(&tg, "sendMessage", start)[0];
    assert!(buttons(menu).contains(&data(&Callback::Buy)));

    server.stop_cleanly();
}
