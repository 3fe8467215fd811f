//! The device limit at `/sub` (`x-hwid`): the application in-process with a
//! fake Xray node (so answers carry real links), on SQLite and PostgreSQL.
//! A plan of `devices = N` admits N distinct devices; the next one gets the
//! stub and the headers Happ / v2RayTun / FlClash read; known devices keep
//! working; removing one (ops, the bot) frees its slot; concurrent first
//! requests never register more than N, even across two instances.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use subvisor::bot::callback::Callback;
use subvisor::config::{NodeSettings, Settings};
use subvisor_actors::clock::SystemClock;
use subvisor_actors::domain::DeviceList;
use subvisor_testkit::fake_telegram::{Call, FakeTelegram};
use subvisor_testkit::fake_xray::FakeXrayNode;
use subvisor_testkit::fixtures::uid;

use crate::helpers::{Db, TestApp, both_backends, spawn_app_with, spawn_second_instance};
use futures_util::future::join_all;

both_backends!(
    the_device_past_the_plan_limit_gets_the_stub,
    concurrent_first_requests_never_register_more_than_the_limit,
    removing_a_device_in_the_bot_frees_its_slot,
);

/// A fake Xray node and its `[[nodes]]` entry (names are unique per test).
fn xray_node(name: &str) -> (FakeXrayNode, NodeSettings) {
    let node = FakeXrayNode::start("vless-in").expect("fake xray node");
    let settings = crate::provisioning::node_settings(name, node.api_addr(), "xray", 443);
    (node, settings)
}

/// Month plan of `devices` devices, a node, no ops token, no per-IP limit in the way.
fn configure(s: &mut Settings, node: &NodeSettings, devices: u32) {
    s.nodes = vec![node.clone()];
    s.ops.token = None;
    s.http.public_rate_per_minute = 100_000;
    s.http.public_rate_burst = 100_000;
    // A configured announcement: a refusal's own text replaces it.
    s.subscription.announce = subvisor_http::Announce::Everyone("Maintenance on Sunday".into());
    for plan in &mut s.plans {
        if plan.id == "month" {
            plan.devices = devices;
        }
    }
}

/// Buys the month plan from the balance (through the ops API); returns the
/// subscription token and the key's UUID.
async fn buy_month(app: &TestApp, user: i64) -> (String, String) {
    app.credit(user, 1000).await;
    let (status, body) = app
        .post(
            &format!("/ops/users/{user}/orders"),
            json!({ "plan": "month", "provider": "balance" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    token_and_uuid(app, user).await
}

async fn token_and_uuid(app: &TestApp, user: i64) -> (String, String) {
    let s = app
        .registry
        .queries()
        .user(uid(user))
        .await
        .expect("store")
        .expect("user");
    let token = s.subscription.clone().expect("subscription").sub_token;
    let uuid = s.active_keys().next().expect("an active key").uuid;
    (token, uuid.to_string())
}

/// One `/sub` answer: status, headers, the decoded body.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A working answer: the key's link is in it.
    fn works(&self, uuid: &str) -> bool {
        self.status == 200 && self.body.contains(uuid)
    }
}

async fn fetch(app: &TestApp, token: &str, hwid: Option<&str>) -> Answer {
    let mut req = app
        .http
        .get(format!("{}/sub/{token}", app.public))
        .header("user-agent", "Happ/3.5.0")
        .header("x-device-os", "Android")
        .header("x-ver-os", "14")
        .header("x-device-model", "Pixel 8");
    if let Some(hwid) = hwid {
        req = req.header("x-hwid", hwid);
    }
    let resp = req.send().await.expect("subscription request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let raw = resp.text().await.expect("body");
    let body =
        String::from_utf8(STANDARD.decode(raw.trim()).unwrap_or_default()).unwrap_or_default();
    Answer {
        status,
        headers,
        body,
    }
}

/// Refused by the device limit: 200, no working link, the limit headers.
fn assert_limit_stub(a: &Answer, uuid: &str) {
    assert_eq!(a.status, 200, "never an error for a refused device");
    assert!(!a.body.contains(uuid), "no working link: {}", a.body);
    assert_eq!(a.header("x-hwid-limit"), Some("true"));
    assert_eq!(a.header("x-hwid-max-devices-reached"), Some("true"));
    assert!(
        a.header("announce")
            .is_some_and(|v| v.starts_with("base64:")),
        "the refusal's text, not the configured ASCII one: {:?}",
        a.headers
    );
}

async fn devices(app: &TestApp, user: i64) -> DeviceList {
    app.registry
        .queries()
        .devices(uid(user))
        .await
        .expect("devices")
}

async fn the_device_past_the_plan_limit_gets_the_stub(db: Db) {
    let (_node, node) = xray_node(&format!("devlimit-{}", format!("{db:?}").to_lowercase()));
    let app = spawn_app_with(db, Arc::new(SystemClock), |s| {
        configure(s, &node, 2);
        // Grants and trials would get 1; the plan's 2 must win.
        s.subscription.default_devices = 1;
    })
    .await;
    let user = 7_100_001;
    let (token, uuid) = buy_month(&app, user).await;

    for hwid in ["phone-a", "laptop-b"] {
        let a = fetch(&app, &token, Some(hwid)).await;
        assert!(a.works(&uuid), "{hwid} is within the limit: {}", a.body);
        assert_eq!(a.header("x-hwid-active"), Some("true"));
        assert_eq!(a.header("x-hwid-limit"), None);
    }
    let third = fetch(&app, &token, Some("tablet-c")).await;
    assert_limit_stub(&third, &uuid);
    // Known devices keep working; a client without x-hwid is served (not required).
    assert!(fetch(&app, &token, Some("phone-a")).await.works(&uuid));
    assert!(fetch(&app, &token, None).await.works(&uuid));
    // Garbage is refused with the stub, not an error, and registers nothing.
    let garbage = fetch(&app, &token, Some(&"x".repeat(200))).await;
    assert_eq!(garbage.status, 200);
    assert!(!garbage.works(&uuid));
    assert_eq!(garbage.header("x-hwid-not-supported"), Some("true"));

    let list = devices(&app, user).await;
    assert_eq!(
        list.plan_limit,
        Some(2),
        "set by the plan when it was applied"
    );
    assert_eq!(list.devices.len(), 2);
    let phone = &list.devices[0];
    assert_eq!(phone.hwid.as_str(), "phone-a");
    assert_eq!(phone.os.as_deref(), Some("Android 14"));
    assert_eq!(phone.model.as_deref(), Some("Pixel 8"));
    assert_eq!(phone.app.as_deref(), Some("Happ/3.5.0"));

    // The ops view shows them; removing one frees its slot.
    let (status, view) = app.get(&format!("/ops/users/{user}")).await;
    assert_eq!(status, 200);
    assert_eq!(view["devices"]["limit"], 2);
    assert_eq!(view["devices"]["devices"][1]["hwid"], "laptop-b");
    let laptop = view["devices"]["devices"][1]["id"].as_i64().expect("id");
    let resp = app
        .http
        .delete(format!("{}/ops/users/{user}/devices/{laptop}", app.ops))
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(fetch(&app, &token, Some("tablet-c")).await.works(&uuid));
    assert_limit_stub(&fetch(&app, &token, Some("laptop-b")).await, &uuid);

    // An admin reset clears them all, audited with its principal.
    let resp = app
        .http
        .delete(format!("{}/ops/users/{user}/devices", app.ops))
        .send()
        .await
        .expect("reset");
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["removed"], 2);
    assert!(devices(&app, user).await.devices.is_empty());
    let audit = app
        .registry
        .queries()
        .recent_audit(uid(user), 50)
        .await
        .expect("audit");
    let reset = audit
        .iter()
        .find(|e| e.action == "devices_reset")
        .expect("the reset is audited");
    assert_eq!(reset.actor, "ops");
    assert_eq!(reset.details["removed"], 2);
    assert!(
        audit
            .iter()
            .any(|e| e.action == "device_removed" && e.actor == "ops")
    );
    assert!(fetch(&app, &token, Some("laptop-b")).await.works(&uuid));
    app.stop().await;
}

async fn concurrent_first_requests_never_register_more_than_the_limit(db: Db) {
    const LIMIT: usize = 3;
    let (_node, node) = xray_node(&format!("devrace-{}", format!("{db:?}").to_lowercase()));
    let app = spawn_app_with(db, Arc::new(SystemClock), |s| configure(s, &node, 3)).await;
    // PostgreSQL: half the requests go to a second instance on the same database.
    let second = match db {
        Db::Postgres => Some(spawn_second_instance(&app, |s| configure(s, &node, 3)).await),
        Db::Sqlite => None,
    };
    let user = 7_100_002;
    let (token, uuid) = buy_month(&app, user).await;
    let answers = join_all((0..LIMIT + 5).map(|i| {
        let instance = match (&second, i % 2) {
            (Some(other), 1) => other,
            _ => &app,
        };
        let token = token.clone();
        async move { fetch(instance, &token, Some(&format!("device-{i}"))).await }
    }))
    .await;
    let served = answers.iter().filter(|a| a.works(&uuid)).count();
    let refused = answers
        .iter()
        .filter(|a| a.header("x-hwid-max-devices-reached") == Some("true"))
        .count();
    assert_eq!((served, refused), (LIMIT, 5), "exactly the limit is served");
    assert_eq!(devices(&app, user).await.devices.len(), LIMIT);
    if let Some(second) = second {
        second.stop().await;
    }
    app.stop().await;
}

#[actix_rt::test]
async fn hwid_required_refuses_clients_without_one_and_grants_use_the_default() {
    let (_node, node) = xray_node("devrequired");
    let app = spawn_app_with(Db::Sqlite, Arc::new(SystemClock), |s| {
        configure(s, &node, 0);
        s.subscription.hwid_required = true;
        s.subscription.default_devices = 1;
    })
    .await;
    let user = 7_100_003;
    let (status, body) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": 10 }))
        .await;
    assert_eq!(status, 200, "{body}");
    let (token, uuid) = token_and_uuid(&app, user).await;

    let anonymous = fetch(&app, &token, None).await;
    assert_eq!(anonymous.status, 200);
    assert!(!anonymous.works(&uuid), "the stub: {}", anonymous.body);
    assert_eq!(anonymous.header("x-hwid-not-supported"), Some("true"));
    assert_eq!(anonymous.header("x-hwid-limit"), Some("true"));

    // A person in a browser gets the page, is no device, and sees no single
    // keys (one copied from there would bypass the limit); the app buttons stay.
    let page = app
        .http
        .get(format!("{}/sub/{token}", app.public))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("<!DOCTYPE html>") || html.contains("<!doctype html>"));
    assert!(!html.contains(&uuid), "no single keys on the page");
    assert!(
        html.contains(&token),
        "the subscription link and import buttons"
    );
    assert!(
        devices(&app, user).await.devices.is_empty(),
        "a browser is no device"
    );

    // A grant is held to `default_devices` (1).
    assert!(fetch(&app, &token, Some("only-one")).await.works(&uuid));
    assert_limit_stub(&fetch(&app, &token, Some("second")).await, &uuid);
    assert_eq!(devices(&app, user).await.plan_limit, None);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"subvisor_devices_refused_total{reason="missing_hwid"}"#),
        "{metrics}"
    );
    app.stop().await;
}

// --- the bot ------------------------------------------------------------------

const TOKEN: &str = "424242:fake-bot-token-for-tests";
const MSG: i64 = 900_000_000;
const ADMIN: i64 = 9_000_002;

fn data(cb: &Callback) -> String {
    cb.encode().expect("encodable callback")
}

/// The callback data of every inline button of a recorded call.
fn buttons(call: &Call) -> Vec<String> {
    call.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().into_iter().flatten())
        .filter_map(|b| b["callback_data"].as_str().map(str::to_owned))
        .collect()
}

/// Presses `button` and waits for the screen it brings (an edit of `MSG`).
async fn press(tg: &FakeTelegram, user: i64, button: &str) -> Call {
    let before = tg.calls_to("editMessageText").len();
    tg.push_update(FakeTelegram::callback(user, button, MSG));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let edits = tg.calls_to("editMessageText");
        if let Some(call) = edits
            .into_iter()
            .skip(before)
            .find(|c| c.status == 200 && c.chat_id == Some(user))
        {
            return call;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no screen after {button}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn removing_a_device_in_the_bot_frees_its_slot(db: Db) {
    let (_node, node) = xray_node(&format!("devbot-{}", format!("{db:?}").to_lowercase()));
    let tg = FakeTelegram::start(TOKEN).expect("fake telegram");
    let app = spawn_app_with(db, Arc::new(SystemClock), |s| {
        configure(s, &node, 2);
        s.telegram.token = Some(tg.token().to_owned().into());
        s.telegram.api_url = Some(tg.api_url());
        s.telegram.user_rate_per_minute = 100_000;
        s.telegram.user_rate_burst = 100_000;
        s.telegram.admins = vec![ADMIN];
    })
    .await;
    let user = 7_100_004;
    let (token, uuid) = buy_month(&app, user).await;
    assert!(fetch(&app, &token, Some("phone-a")).await.works(&uuid));
    assert!(fetch(&app, &token, Some("laptop-b")).await.works(&uuid));
    assert_limit_stub(&fetch(&app, &token, Some("tablet-c")).await, &uuid);

    // My subscription → Devices: both listed, each with a remove button.
    let sub = press(&tg, user, &data(&Callback::MySub)).await;
    let devices_button = data(&Callback::Devices);
    assert!(
        buttons(&sub).contains(&devices_button),
        "{:?}",
        buttons(&sub)
    );
    let list = press(&tg, user, &devices_button).await;
    let text = list.param_str("text").unwrap_or_default();
    assert!(text.contains("Pixel 8") && text.contains("2/2"), "{text}");
    let laptop = devices(&app, user).await.devices[1].id;
    let ask = data(&Callback::DeviceRemoveAsk { device: laptop });
    assert!(buttons(&list).contains(&ask), "{:?}", buttons(&list));
    // Asking first changes nothing.
    let confirm = press(&tg, user, &ask).await;
    assert_eq!(devices(&app, user).await.devices.len(), 2);
    let remove = data(&Callback::DeviceRemove { device: laptop });
    assert!(
        buttons(&confirm).contains(&remove),
        "{:?}",
        buttons(&confirm)
    );
    let after = press(&tg, user, &remove).await;
    assert!(
        after.param_str("text").unwrap_or_default().contains("1/2"),
        "{:?}",
        after.param_str("text")
    );
    let left = devices(&app, user).await;
    assert_eq!(left.devices.len(), 1);
    assert_eq!(left.devices[0].hwid.as_str(), "phone-a");
    // The freed slot takes the new device; the removed one is now the one too many.
    assert!(fetch(&app, &token, Some("tablet-c")).await.works(&uuid));
    assert_limit_stub(&fetch(&app, &token, Some("laptop-b")).await, &uuid);
    // Another user's device id removes nothing.
    let other = 7_100_005;
    buy_month(&app, other).await;
    let before = devices(&app, user).await.devices.len();
    let foreign = devices(&app, user).await.devices[0].id;
    press(
        &tg,
        other,
        &data(&Callback::DeviceRemove { device: foreign }),
    )
    .await;
    assert_eq!(devices(&app, user).await.devices.len(), before);

    // An admin resets them from the user's view, with a confirmation.
    let view = press(&tg, ADMIN, &data(&Callback::AdminUser { user })).await;
    let ask = data(&Callback::AdminDevicesResetAsk { user });
    assert!(buttons(&view).contains(&ask), "{:?}", buttons(&view));
    let confirm = press(&tg, ADMIN, &ask).await;
    assert_eq!(devices(&app, user).await.devices.len(), before);
    let reset = data(&Callback::AdminDevicesReset { user });
    assert!(
        buttons(&confirm).contains(&reset),
        "{:?}",
        buttons(&confirm)
    );
    press(&tg, ADMIN, &reset).await;
    assert!(devices(&app, user).await.devices.is_empty());
    let audit = app
        .registry
        .queries()
        .recent_audit(uid(user), 50)
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "devices_reset" && e.actor == format!("admin:{ADMIN}")),
        "{audit:?}"
    );
    // A user pressing the admin's button changes nothing.
    assert!(fetch(&app, &token, Some("phone-a")).await.works(&uuid));
    press(&tg, user, &reset).await;
    assert_eq!(devices(&app, user).await.devices.len(), 1);
    app.stop().await;
}
