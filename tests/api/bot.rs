//! End-to-end tests of the Telegram bot: the application in-process, talking
//! to the testkit's fake Bot API server (`FakeTelegram`) through a real
//! teloxide client, with a fake Xray node where links are needed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::json;
use subvisor::bot::callback::Callback;
use subvisor::bot::i18n::{Lang, tr};
use subvisor::config::{NodeSettings, Settings, TelegramMode};
use subvisor_actors::clock::{Clock, ManualClock, SystemClock};
use subvisor_actors::domain::{
    LedgerKind, OrderId, OrderStatus, Principal, Provider, SubscriptionStatus, UserId,
};
use subvisor_actors::store::{Profile, UserSnapshot, WriteCtx};
use subvisor_testkit::fake_telegram::{Call, FakeTelegram};
use subvisor_testkit::fake_xray::FakeXrayNode;

use crate::helpers::{Db, TestApp, both_backends, spawn_app, spawn_app_with};

const TOKEN: &str = "424242:fake-bot-token-for-tests";
const ADMIN: i64 = 9_000_001;
/// A message id the builders never hand out: the bot's screens are edited
/// into it (the fake accepts edits of messages it does not know).
const MSG: i64 = 900_000_000;
/// How long a single expected reaction of the bot may take.
const STEP: Duration = Duration::from_secs(10);

fn en(key: &str) -> String {
    tr(Lang::En, key)
}

fn data(cb: &Callback) -> String {
    cb.encode().expect("encodable callback")
}

fn pay_stars() -> String {
    data(&Callback::Pay {
        plan: "month".into(),
        provider: Provider::Stars,
        key: None,
    })
}

/// The "pay with Stars for a month" button of a screen (it carries the key of
/// its press).
fn stars_button(message: &Call) -> String {
    let prefix = pay_stars();
    buttons(message)
        .into_iter()
        .find(|b| b.starts_with(&format!("{prefix}:")) || *b == prefix)
        .unwrap_or_else(|| panic!("no Stars button in {:?}", buttons(message)))
}

fn uid(id: i64) -> UserId {
    UserId::new(id).expect("user id")
}

/// A fake Xray node and its `[[nodes]]` entry (names are unique per test:
/// the metrics recorder is shared by the whole process).
fn xray_node(name: &str) -> (FakeXrayNode, NodeSettings) {
    let node = FakeXrayNode::start("vless-in").expect("fake xray node");
    let (_, public_key) = subvisor::keys::generate().expect("keys");
    let settings: NodeSettings = serde_json::from_value(json!({
        "name": name, "api": node.api_addr(), "api_flavor": "xray", "inbound_tag": "vless-in",
        "host": "127.0.0.1", "port": 443, "sni": "www.example.com",
        "public_key": public_key, "short_id": "", "label": format!("Bot {name}"),
    }))
    .expect("node settings");
    (node, settings)
}

/// The bot on, pointed at `tg`, with fast background loops and a generous
/// per-user budget (tests click faster than people).
fn bot_on(s: &mut Settings, tg: &FakeTelegram) {
    s.telegram.token = Some(tg.token().to_owned().into());
    s.telegram.api_url = Some(tg.api_url());
    s.telegram.admins = vec![ADMIN];
    s.telegram.user_rate_per_minute = 100_000;
    s.telegram.user_rate_burst = 100_000;
    s.notifier.poll_interval = Duration::from_millis(100);
    s.scheduler.interval = Duration::from_millis(100);
    s.outbox.poll_interval = Duration::from_millis(200);
}

async fn spawn_bot(
    db: Db,
    clock: Arc<dyn Clock>,
    configure: impl FnOnce(&mut Settings),
) -> (TestApp, FakeTelegram) {
    let tg = FakeTelegram::start(TOKEN).expect("fake telegram");
    let app = spawn_app_with(db, clock, |s| {
        bot_on(s, &tg);
        configure(s);
    })
    .await;
    (app, tg)
}

// --- waiting and reading the fake's records ---------------------------------

async fn eventually(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Successful calls of `method` to `chat`.
fn to_chat(tg: &FakeTelegram, method: &str, chat: i64) -> Vec<Call> {
    tg.calls_to(method)
        .into_iter()
        .filter(|c| c.status == 200 && c.chat_id == Some(chat))
        .collect()
}

/// Waits for the `n`-th (0-based) successful call of `method` to `chat`.
async fn nth_to_chat(tg: &FakeTelegram, method: &str, chat: i64, n: usize) -> Call {
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(call) = to_chat(tg, method, chat).into_iter().nth(n) {
            return call;
        }
        assert!(
            Instant::now() < deadline,
            "no {method} #{n} to {chat}; calls: {:#?}",
            tg.calls()
                .iter()
                .map(|c| (c.method.clone(), c.status, c.params.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for a successful `sendMessage` to `chat` whose text contains `needle`.
async fn message_with(tg: &FakeTelegram, chat: i64, needle: &str) -> Call {
    let deadline = Instant::now() + STEP;
    loop {
        let found = to_chat(tg, "sendMessage", chat)
            .into_iter()
            .find(|c| c.param_str("text").is_some_and(|t| t.contains(needle)));
        if let Some(call) = found {
            return call;
        }
        assert!(
            Instant::now() < deadline,
            "no message with {needle:?} to {chat}; sent: {:#?}",
            tg.sent_texts_to(chat)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many `sendMessage`s to `chat` contain `needle`.
fn count_messages(tg: &FakeTelegram, chat: i64, needle: &str) -> usize {
    to_chat(tg, "sendMessage", chat)
        .iter()
        .filter(|c| c.param_str("text").is_some_and(|t| t.contains(needle)))
        .count()
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

fn text_of(call: &Call) -> String {
    call.param_str("text")
        .or_else(|| call.param_str("caption"))
        .unwrap_or_default()
}

fn html_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The `vless://` links in a message, as a client would copy them.
fn links_in(text: &str) -> Vec<String> {
    text.split("<code>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</code>").map(|(code, _)| code))
        .filter(|code| code.starts_with("vless://"))
        .map(html_unescape)
        .collect()
}

async fn snapshot(app: &TestApp, user: i64) -> UserSnapshot {
    app.registry
        .store()
        .user(uid(user))
        .await
        .expect("store")
        .expect("user exists")
}

fn is_live(app: &TestApp, s: &UserSnapshot) -> bool {
    let now = app.registry.clock().now();
    s.subscription.as_ref().is_some_and(|sub| sub.is_live(now))
}

/// The links the public listener serves for a subscription token.
async fn served_links(app: &TestApp, token: &str) -> Vec<String> {
    let resp = app
        .http
        .get(format!("{}/sub/{token}", app.public))
        .send()
        .await
        .expect("subscription request");
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.text().await.expect("body");
    let decoded = String::from_utf8(STANDARD.decode(body.trim()).expect("base64")).expect("utf-8");
    decoded
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

// --- Stars checkout steps -------------------------------------------------------

/// Presses "Pay with Stars" for the month plan; returns the invoice's payload.
async fn invoice(tg: &FakeTelegram, user: i64) -> String {
    let before = to_chat(tg, "sendInvoice", user).len();
    tg.push_update(FakeTelegram::callback(user, &pay_stars(), MSG));
    let call = nth_to_chat(tg, "sendInvoice", user, before).await;
    call.param_str("payload").expect("invoice payload")
}

/// Pushes a pre-checkout query; returns the bot's answer (ok, error message).
async fn pre_checkout(
    tg: &FakeTelegram,
    user: i64,
    currency: &str,
    amount: u32,
    payload: &str,
) -> (bool, Option<String>) {
    let id = format!("pcq-{}", uuid::Uuid::new_v4().simple());
    tg.push_update(FakeTelegram::pre_checkout(
        user, &id, currency, amount, payload,
    ));
    let deadline = Instant::now() + STEP;
    loop {
        let answered = tg.answered_pre_checkouts();
        if let Some((_, ok, error)) = answered.into_iter().find(|(q, _, _)| *q == id) {
            return (ok, error);
        }
        assert!(
            Instant::now() < deadline,
            "pre-checkout {id} was not answered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn order_status(app: &TestApp, payload: &str) -> OrderStatus {
    let id: OrderId = payload.parse().expect("order id");
    app.registry
        .store()
        .order(id)
        .await
        .expect("store")
        .expect("order exists")
        .status
}

/// The successful payment of `payload` (150 Stars) with charge `charge`;
/// waits until the order is paid.
async fn stars_paid(app: &TestApp, tg: &FakeTelegram, user: i64, payload: &str, charge: &str) {
    tg.push_update(FakeTelegram::successful_payment(
        user, "XTR", 150, payload, charge,
    ));
    eventually("the order is paid", STEP, async || {
        order_status(app, payload).await == OrderStatus::Paid
    })
    .await;
}

/// Invoice, pre-checkout, payment: the whole Stars purchase of the month plan.
async fn buy_with_stars(app: &TestApp, tg: &FakeTelegram, user: i64, charge: &str) -> String {
    let payload = invoice(tg, user).await;
    assert_eq!(
        pre_checkout(tg, user, "XTR", 150, &payload).await,
        (true, None)
    );
    stars_paid(app, tg, user, &payload, charge).await;
    payload
}

// --- 1. purchase through Stars -------------------------------------------------

async fn stars_purchase(db: Db) {
    let (node, node_settings) = xray_node(match db {
        Db::Sqlite => "bot-buy-sqlite",
        Db::Postgres => "bot-buy-pg",
    });
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |s| s.nodes = vec![node_settings]).await;
    let user = 100_001;

    // /start: the main menu, with a Buy button.
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    let menu = nth_to_chat(&tg, "sendMessage", user, 0).await;
    assert!(text_of(&menu).contains("Hi, User100001"), "{menu:?}");
    assert!(
        buttons(&menu).contains(&data(&Callback::Buy)),
        "{:?}",
        buttons(&menu)
    );

    // Buy → plans; Plan → payment methods, Stars among them.
    tg.push_update(FakeTelegram::callback(user, &data(&Callback::Buy), MSG));
    let plans = nth_to_chat(&tg, "editMessageText", user, 0).await;
    let month = data(&Callback::Plan {
        plan: "month".into(),
    });
    assert!(buttons(&plans).contains(&month), "{:?}", buttons(&plans));
    tg.push_update(FakeTelegram::callback(user, &month, MSG));
    let methods = nth_to_chat(&tg, "editMessageText", user, 1).await;
    let pay = stars_button(&methods);

    // Pay with Stars → an invoice in XTR whose payload is the order id.
    tg.push_update(FakeTelegram::callback(user, &pay, MSG));
    let sent = nth_to_chat(&tg, "sendInvoice", user, 0).await;
    assert_eq!(sent.param_str("currency").as_deref(), Some("XTR"));
    assert_eq!(sent.params["prices"][0]["amount"], json!(150));
    let payload = sent.param_str("payload").expect("payload");
    let order = app
        .registry
        .store()
        .order(payload.parse().expect("order id"))
        .await
        .expect("store")
        .expect("the payload is an order id");
    assert_eq!(
        (
            order.user.get(),
            order.provider,
            order.status,
            order.amount.minor
        ),
        (user, Provider::Stars, OrderStatus::Pending, 150)
    );
    assert_eq!(order.amount.currency.as_str(), "XTR");

    // Pre-checkout: accepted.
    assert_eq!(
        pre_checkout(&tg, user, "XTR", 150, &payload).await,
        (true, None)
    );

    // The payment: links and a QR code arrive through the Notifier.
    tg.push_update(FakeTelegram::successful_payment(
        user, "XTR", 150, &payload, "charge-1",
    ));
    let activated = message_with(&tg, user, "vless://").await;
    let photo = nth_to_chat(&tg, "sendPhoto", user, 0).await;
    let png = photo
        .files
        .first()
        .map(|(_, bytes)| bytes.clone())
        .expect("an uploaded photo");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the QR code is a PNG"
    );

    let s = snapshot(&app, user).await;
    assert!(is_live(&app, &s), "the subscription is live");
    let sub = s.subscription.as_ref().expect("subscription");
    let text = text_of(&activated);
    assert!(
        text.contains(&format!("/sub/{}", sub.sub_token)),
        "the message carries the subscription URL: {text}"
    );
    let links = links_in(&text);
    assert_eq!(links.len(), 1, "one link per node and key: {text}");
    let key = s.active_keys().next().expect("an active key");
    assert!(links[0].contains(&key.uuid.to_string()), "{}", links[0]);
    assert_eq!(order_status(&app, &payload).await, OrderStatus::Paid);

    // The subscription URL serves exactly those links.
    assert_eq!(served_links(&app, &sub.sub_token).await, links);

    // The key reached the node.
    eventually("the key is on the node", STEP, async || {
        node.users().iter().any(|(_, u)| *u == key.uuid)
    })
    .await;

    // The same payment again (Telegram redelivers an update): nothing new.
    tg.push_update(FakeTelegram::successful_payment(
        user, "XTR", 150, &payload, "charge-1",
    ));
    tg.push_update(FakeTelegram::message(user, "/sub", Some("en")));
    let screen = message_with(&tg, user, &en("sub-title")).await;
    assert!(text_of(&screen).contains("vless://"));
    let again = snapshot(&app, user).await;
    assert_eq!(
        again.subscription.as_ref().map(|s| s.expires_at),
        Some(sub.expires_at),
        "a redelivered payment extends nothing"
    );
    app.stop().await;
}

both_backends!(stars_purchase);

// --- 1b. money the order could not take -----------------------------------------

/// Two pre-checkouts approved at once, two charges for one invoice: one
/// extension, the second charge goes back through `refundStarPayment`, the
/// user and the admins are told.
async fn a_second_stars_charge_goes_back_and_admins_are_told(db: Db) {
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |_| {}).await;
    let user = 100_020;
    let payload = invoice(&tg, user).await;
    stars_paid(&app, &tg, user, &payload, "charge-twice-1").await;
    tg.push_update(FakeTelegram::successful_payment(
        user,
        "XTR",
        150,
        &payload,
        "charge-twice-2",
    ));
    eventually("the second charge is sent back", STEP, async || {
        tg.calls_to("refundStarPayment")
            .iter()
            .any(|c| c.param_str("telegram_payment_charge_id").as_deref() == Some("charge-twice-2"))
    })
    .await;
    let refunds = tg.calls_to("refundStarPayment");
    assert_eq!(refunds.len(), 1, "only the second charge: {refunds:?}");
    let s = snapshot(&app, user).await;
    assert_eq!(
        s.subscription.expect("sub").expires_at.date_naive(),
        (Utc::now() + chrono::Duration::days(30)).date_naive(),
        "one extension"
    );
    eventually("the user hears about it", STEP, async || {
        to_chat(&tg, "sendMessage", user)
            .iter()
            .any(|c| text_of(c).contains("You paid twice"))
    })
    .await;
    eventually("the admins hear about it", STEP, async || {
        to_chat(&tg, "sendMessage", ADMIN).iter().any(|c| {
            text_of(c).contains("Payment sent back") && text_of(c).contains("charge-twice-2")
        })
    })
    .await;
    let (_, order) = app.get(&format!("/ops/orders/{payload}")).await;
    assert_eq!(order["order"]["status"], "paid");
    let settled: Vec<_> = order["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| p["settlement"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(settled, vec!["applied", "refunded"]);
    // A redelivery of either update changes nothing.
    tg.push_update(FakeTelegram::successful_payment(
        user,
        "XTR",
        150,
        &payload,
        "charge-twice-2",
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tg.calls_to("refundStarPayment").len(), 1);
    app.stop().await;
}

/// A Stars payment whose update never arrived is found by the payment
/// reconciler in the bot's Star transactions; the update that arrives late is
/// a plain duplicate.
async fn a_lost_stars_update_is_found_by_reconciliation(db: Db) {
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |_| {}).await;
    let user = 100_021;
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    let (status, created) = app
        .post(
            &format!("/ops/users/{user}/orders"),
            json!({ "plan": "month", "provider": "stars" }),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let order = created["order_id"].as_str().expect("order").to_owned();
    tg.add_star_payment(user, "charge-lost", 150, &order);

    let (status, dry) = app
        .post("/ops/payments/reconcile", json!({ "dry_run": true }))
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["found"].as_array().map(Vec::len), Some(1), "{dry}");
    assert_eq!(
        order_status(&app, &order).await,
        OrderStatus::Pending,
        "a dry run changes nothing"
    );

    let (_, report) = app.post("/ops/payments/reconcile", json!({})).await;
    assert_eq!(report["applied"], 1, "{report}");
    assert_eq!(report["found"][0]["outcome"], "applied");
    assert_eq!(order_status(&app, &order).await, OrderStatus::Paid);
    let (_, again) = app.post("/ops/payments/reconcile", json!({})).await;
    assert_eq!(
        again["found"],
        json!([]),
        "settled payments are not found twice"
    );

    tg.push_update(FakeTelegram::successful_payment(
        user,
        "XTR",
        150,
        &order,
        "charge-lost",
    ));
    eventually("the late update is handled", STEP, async || {
        app.registry
            .store()
            .webhook_event("stars", "charge-lost")
            .await
            .ok()
            .flatten()
            .is_some_and(|e| e.finished_at.is_some())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = snapshot(&app, user).await;
    assert_eq!(
        s.subscription.expect("sub").expires_at.date_naive(),
        (Utc::now() + chrono::Duration::days(30)).date_naive(),
        "one extension"
    );
    assert!(
        tg.calls_to("refundStarPayment").is_empty(),
        "a duplicate, not a second charge"
    );
    app.stop().await;
}

/// Fast taps on one Pay button: one order, one charge, one invoice.
async fn fast_taps_on_pay_charge_once(db: Db) {
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |_| {}).await;
    let user = 100_022;
    app.credit(user, 1000).await;
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    tg.push_update(FakeTelegram::callback(user, &data(&Callback::Buy), MSG));
    nth_to_chat(&tg, "editMessageText", user, 0).await;
    let month = data(&Callback::Plan {
        plan: "month".into(),
    });
    tg.push_update(FakeTelegram::callback(user, &month, MSG));
    let methods = nth_to_chat(&tg, "editMessageText", user, 1).await;
    let from_balance = buttons(&methods)
        .into_iter()
        .find(|b| b.starts_with("1:pay:month:b:"))
        .expect("a balance button with its key");
    for _ in 0..3 {
        tg.push_update(FakeTelegram::callback(user, &from_balance, MSG));
    }
    let stars = stars_button(&methods);
    for _ in 0..3 {
        tg.push_update(FakeTelegram::callback(user, &stars, MSG));
    }
    eventually("every tap is answered", STEP, async || {
        tg.calls_to("answerCallbackQuery")
            .iter()
            .filter(|c| c.status == 200)
            .count()
            >= 8
    })
    .await;
    eventually("the Stars invoices are sent", STEP, async || {
        to_chat(&tg, "sendInvoice", user).len() == 3
    })
    .await;
    let s = snapshot(&app, user).await;
    assert_eq!(s.balance_minor, 701, "charged once");
    let orders = app
        .registry
        .store()
        .orders_of(uid(user), 10)
        .await
        .expect("orders");
    let by = |p: Provider| orders.iter().filter(|o| o.provider == p).count();
    assert_eq!(
        (by(Provider::Balance), by(Provider::Stars)),
        (1, 1),
        "{orders:?}"
    );
    let payloads: HashSet<String> = to_chat(&tg, "sendInvoice", user)
        .iter()
        .filter_map(|c| c.param_str("payload"))
        .collect();
    assert_eq!(payloads.len(), 1, "every invoice is for the one open order");
    app.stop().await;
}

both_backends!(
    a_second_stars_charge_goes_back_and_admins_are_told,
    a_lost_stars_update_is_found_by_reconciliation,
    fast_taps_on_pay_charge_once
);

// --- 2. pre-checkout refusals -------------------------------------------------

#[actix_rt::test]
async fn pre_checkout_refuses_paid_expired_mismatched_and_paused_orders() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (app, tg) = spawn_bot(Db::Sqlite, clock.clone(), |_| {}).await;

    // Already paid.
    let paid = buy_with_stars(&app, &tg, 200_001, "charge-paid").await;
    assert_eq!(
        pre_checkout(&tg, 200_001, "XTR", 150, &paid).await,
        (false, Some(en("precheckout-paid")))
    );

    // Expired: the clock moves past payments.order_ttl, the Scheduler expires it.
    let stale = invoice(&tg, 200_002).await;
    clock.advance(chrono::Duration::hours(1) + chrono::Duration::minutes(1));
    eventually("the scheduler expires the order", STEP, async || {
        order_status(&app, &stale).await == OrderStatus::Expired
    })
    .await;
    assert_eq!(
        pre_checkout(&tg, 200_002, "XTR", 150, &stale).await,
        (false, Some(en("precheckout-expired")))
    );

    // Amount or currency not the order's.
    let order = invoice(&tg, 200_003).await;
    assert_eq!(
        pre_checkout(&tg, 200_003, "XTR", 149, &order).await,
        (false, Some(en("precheckout-mismatch")))
    );
    assert_eq!(
        pre_checkout(&tg, 200_003, "USD", 150, &order).await,
        (false, Some(en("precheckout-mismatch")))
    );
    // Someone else's order, or no order at all.
    assert_eq!(
        pre_checkout(&tg, 200_004, "XTR", 150, &order).await,
        (false, Some(en("precheckout-unknown")))
    );
    assert_eq!(
        pre_checkout(&tg, 200_003, "XTR", 150, "not-an-order").await,
        (false, Some(en("precheckout-unknown")))
    );
    // The right amount still goes through.
    assert_eq!(
        pre_checkout(&tg, 200_003, "XTR", 150, &order).await,
        (true, None)
    );

    // Purchases paused by an admin: a pending order is refused at checkout...
    let pending = invoice(&tg, 200_005).await;
    tg.push_update(FakeTelegram::message(ADMIN, "/maintenance on", Some("en")));
    message_with(&tg, ADMIN, &en("admin-maintenance-on")).await;
    assert_eq!(
        pre_checkout(&tg, 200_005, "XTR", 150, &pending).await,
        (false, Some(en("precheckout-paused")))
    );
    // ...and Pay shows the paused text instead of an invoice.
    let invoices = tg.calls_to("sendInvoice").len();
    let edits = to_chat(&tg, "editMessageText", 200_005).len();
    tg.push_update(FakeTelegram::callback(200_005, &pay_stars(), MSG));
    let paused = nth_to_chat(&tg, "editMessageText", 200_005, edits).await;
    assert_eq!(text_of(&paused), en("purchases-paused"));
    assert_eq!(
        tg.calls_to("sendInvoice").len(),
        invoices,
        "no invoice while paused"
    );

    // Maintenance off: the same order is accepted again, and Pay works.
    tg.push_update(FakeTelegram::message(ADMIN, "/maintenance off", Some("en")));
    message_with(&tg, ADMIN, &en("admin-maintenance-off")).await;
    assert_eq!(
        pre_checkout(&tg, 200_005, "XTR", 150, &pending).await,
        (true, None)
    );
    invoice(&tg, 200_005).await;

    // A non-admin cannot pause purchases: /maintenance is an unknown command.
    tg.push_update(FakeTelegram::message(
        200_006,
        "/maintenance on",
        Some("en"),
    ));
    message_with(&tg, 200_006, &en("unknown-command")).await;
    assert_eq!(
        app.registry
            .store()
            .setting(subvisor::bot::PURCHASES_PAUSED)
            .await
            .expect("setting")
            .as_deref(),
        Some("false")
    );
    app.stop().await;
}

// --- 3. Stars refunds ---------------------------------------------------------

#[actix_rt::test]
async fn stars_refund_goes_back_through_telegram_and_reverses_the_days() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let user = 300_001;
    let payload = buy_with_stars(&app, &tg, user, "charge-refund").await;
    assert!(is_live(&app, &snapshot(&app, user).await));

    let (status, view) = app
        .post(&format!("/ops/orders/{payload}/refund"), json!({}))
        .await;
    assert_eq!(status, 200, "{view}");
    let refunds = tg.calls_to("refundStarPayment");
    assert_eq!(refunds.len(), 1);
    assert_eq!(
        refunds[0]
            .param_str("telegram_payment_charge_id")
            .as_deref(),
        Some("charge-refund")
    );
    assert_eq!(refunds[0].param_str("user_id"), Some(user.to_string()));
    assert_eq!(refunds[0].status, 200);

    // Only that order gave access: it ends now.
    let s = snapshot(&app, user).await;
    assert!(!is_live(&app, &s), "access ends with the refund");
    assert_eq!(view["user"]["status"], "expired", "{view}");
    assert_eq!(order_status(&app, &payload).await, OrderStatus::Refunded);

    // The ledger tells it all; the balance is its sum.
    let ledger = app
        .registry
        .store()
        .ledger(uid(user))
        .await
        .expect("ledger");
    let kinds: Vec<LedgerKind> = ledger.iter().map(|e| e.kind).collect();
    for kind in [
        LedgerKind::Payment,
        LedgerKind::Purchase,
        LedgerKind::Refund,
        LedgerKind::Payout,
    ] {
        assert_eq!(
            kinds.iter().filter(|k| **k == kind).count(),
            1,
            "{kind:?} in {ledger:?}"
        );
    }
    let sum: i64 = ledger.iter().map(|e| e.amount.minor).sum();
    assert_eq!(
        app.registry
            .store()
            .ledger_sum(uid(user))
            .await
            .expect("sum"),
        sum
    );
    assert_eq!(s.balance_minor, sum);
    assert_eq!(sum, 0, "Stars pass through the ledger");
    let (_, ops_view) = app.get(&format!("/ops/users/{user}")).await;
    assert_eq!(ops_view["balance"]["minor"], json!(sum), "{ops_view}");

    // The user is told.
    message_with(&tg, user, "refund of").await;

    // A refund Telegram refuses changes nothing here.
    let other = 300_002;
    let failing = buy_with_stars(&app, &tg, other, "charge-gone").await;
    tg.fail_refund("charge-gone");
    let before = snapshot(&app, other).await;
    let ledger_before = app
        .registry
        .store()
        .ledger(uid(other))
        .await
        .expect("ledger");
    let (status, body) = app
        .post(&format!("/ops/orders/{failing}/refund"), json!({}))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        tg.calls_to("refundStarPayment")
            .iter()
            .any(|c| c.status == 400
                && c.param_str("telegram_payment_charge_id").as_deref() == Some("charge-gone"))
    );
    assert_eq!(order_status(&app, &failing).await, OrderStatus::Paid);
    let after = snapshot(&app, other).await;
    assert_eq!(
        after
            .subscription
            .as_ref()
            .map(|s| (s.status, s.expires_at)),
        before
            .subscription
            .as_ref()
            .map(|s| (s.status, s.expires_at))
    );
    assert!(is_live(&app, &after));
    assert_eq!(
        app.registry
            .store()
            .ledger(uid(other))
            .await
            .expect("ledger"),
        ledger_before
    );

    // An admin refunds from the bot: /user, Refund, Confirm.
    let third = 300_003;
    let order = buy_with_stars(&app, &tg, third, "charge-admin").await;
    let order_id: OrderId = order.parse().expect("order id");
    tg.push_update(FakeTelegram::message(
        ADMIN,
        &format!("/user {third}"),
        None,
    ));
    let view = message_with(&tg, ADMIN, &format!("<code>{third}</code>")).await;
    let ask = data(&Callback::AdminRefundAsk {
        order: order_id.uuid(),
    });
    assert!(buttons(&view).contains(&ask), "{:?}", buttons(&view));
    let edits = to_chat(&tg, "editMessageText", ADMIN).len();
    tg.push_update(FakeTelegram::callback(ADMIN, &ask, MSG));
    let confirm = nth_to_chat(&tg, "editMessageText", ADMIN, edits).await;
    let yes = data(&Callback::AdminRefund {
        order: order_id.uuid(),
    });
    assert!(buttons(&confirm).contains(&yes), "{:?}", buttons(&confirm));
    tg.push_update(FakeTelegram::callback(ADMIN, &yes, MSG));
    let done = nth_to_chat(&tg, "editMessageText", ADMIN, edits + 1).await;
    assert!(text_of(&done).contains("refunded"), "{done:?}");
    assert_eq!(order_status(&app, &order).await, OrderStatus::Refunded);
    assert!(
        tg.calls_to("refundStarPayment")
            .iter()
            .any(|c| c.status == 200
                && c.param_str("telegram_payment_charge_id").as_deref() == Some("charge-admin"))
    );
    assert!(!is_live(&app, &snapshot(&app, third).await));
    app.stop().await;
}

// --- 4. reissue ---------------------------------------------------------------

#[actix_rt::test]
async fn reissue_replaces_the_key_and_the_url_serves_the_new_link() {
    let (node, node_settings) = xray_node("bot-reissue");
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.nodes = vec![node_settings]
    })
    .await;
    let user = 400_001;
    let (status, granted) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": 30 }))
        .await;
    assert_eq!(status, 200, "{granted}");
    message_with(&tg, user, "vless://").await;
    let old = snapshot(&app, user).await;
    let old_key = old.active_keys().next().expect("key").uuid;
    let token = old.subscription.as_ref().expect("sub").sub_token.clone();

    tg.push_update(FakeTelegram::callback(
        user,
        &data(&Callback::ReissueAsk),
        MSG,
    ));
    let ask = nth_to_chat(&tg, "editMessageText", user, 0).await;
    assert_eq!(text_of(&ask), en("reissue-confirm"));
    assert!(buttons(&ask).contains(&data(&Callback::ReissueConfirm)));
    tg.push_update(FakeTelegram::callback(
        user,
        &data(&Callback::ReissueConfirm),
        MSG,
    ));
    let done = nth_to_chat(&tg, "editMessageText", user, 1).await;
    assert!(text_of(&done).starts_with(&en("reissued")), "{done:?}");

    let new = snapshot(&app, user).await;
    let active: Vec<_> = new.active_keys().map(|k| k.uuid).collect();
    assert_eq!(active.len(), 1, "one active key");
    assert_ne!(active[0], old_key, "a new key");
    let shown = links_in(&text_of(&done));
    assert_eq!(shown.len(), 1);
    assert!(shown[0].contains(&active[0].to_string()));

    // The URL is the same and serves the new link only.
    assert_eq!(new.subscription.as_ref().expect("sub").sub_token, token);
    let served = served_links(&app, &token).await;
    assert_eq!(served, shown);
    assert!(!served.iter().any(|l| l.contains(&old_key.to_string())));

    // The node follows: new key in, old key out.
    eventually("the node has only the new key", STEP, async || {
        let users = node.users();
        users.iter().any(|(_, u)| *u == active[0]) && !users.iter().any(|(_, u)| *u == old_key)
    })
    .await;
    // The user gets the new link (and QR code) as a message too.
    let told = message_with(&tg, user, &en("notify-reissued")).await;
    assert_eq!(links_in(&text_of(&told)), shown);
    app.stop().await;
}

// --- 5. the trial, once -------------------------------------------------------

#[actix_rt::test]
async fn the_trial_is_given_once() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| s.trial.days = 3).await;
    let user = 500_001;
    let trial = data(&Callback::Trial);

    tg.push_update(FakeTelegram::callback(user, &trial, MSG));
    let started = nth_to_chat(&tg, "editMessageText", user, 0).await;
    assert!(
        text_of(&started).contains("free trial has started"),
        "{started:?}"
    );
    let s = snapshot(&app, user).await;
    assert!(is_live(&app, &s) && s.trial_used);
    let expires = s.subscription.as_ref().expect("sub").expires_at;
    let token = s.subscription.as_ref().expect("sub").sub_token.clone();
    // The activation message with the subscription URL, and the QR code.
    let activation = message_with(&tg, user, &format!("/sub/{token}")).await;
    nth_to_chat(&tg, "sendPhoto", user, 0).await;

    tg.push_update(FakeTelegram::callback(user, &trial, MSG));
    let refused = nth_to_chat(&tg, "editMessageText", user, 1).await;
    assert_eq!(text_of(&refused), en("trial-used"));
    assert!(buttons(&refused).contains(&data(&Callback::Buy)));
    let again = snapshot(&app, user).await;
    assert_eq!(
        again.subscription.as_ref().map(|s| s.expires_at),
        Some(expires),
        "no second extension"
    );
    // Nothing else was queued for the user.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count_messages(&tg, user, &format!("/sub/{token}")), 1);
    assert_eq!(to_chat(&tg, "sendPhoto", user).len(), 1);
    // A trial is not a payment.
    assert!(
        !text_of(&activation).contains("Payment received"),
        "a trial's activation must not claim a payment: {}",
        text_of(&activation)
    );
    app.stop().await;
}

// --- 6. webhook mode ----------------------------------------------------------

#[actix_rt::test]
async fn webhook_mode_checks_the_secret_header() {
    let secret = "webhook-secret_0123456789";
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.telegram.mode = TelegramMode::Webhook;
        s.telegram.webhook_url = Some("https://example.com/telegram/webhook".into());
        s.telegram.webhook_secret = Some(secret.to_owned().into());
    })
    .await;
    let (url, set_secret, allowed) = tg.webhook().expect("setWebhook was called");
    assert_eq!(url, "https://example.com/telegram/webhook");
    assert_eq!(set_secret.as_deref(), Some(secret));
    let allowed: HashSet<String> = allowed.into_iter().collect();
    assert_eq!(
        allowed,
        ["message", "callback_query", "pre_checkout_query"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    assert!(tg.calls_to("getUpdates").is_empty(), "no polling");

    let endpoint = format!("{}/telegram/webhook", app.public);
    let update = |user: i64, id: i64| {
        let mut u = FakeTelegram::message(user, "/start", Some("en"));
        u["update_id"] = json!(id);
        u
    };
    let missing = app
        .http
        .post(&endpoint)
        .json(&update(600_001, 1))
        .send()
        .await
        .expect("post");
    assert_eq!(missing.status().as_u16(), 401);
    let wrong = app
        .http
        .post(&endpoint)
        .header(
            "X-Telegram-Bot-Api-Secret-Token",
            "webhook-secret_0123456780",
        )
        .json(&update(600_002, 2))
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status().as_u16(), 401);
    let right = app
        .http
        .post(&endpoint)
        .header("X-Telegram-Bot-Api-Secret-Token", secret)
        .json(&update(600_003, 3))
        .send()
        .await
        .expect("post");
    assert_eq!(right.status().as_u16(), 200);
    let menu = nth_to_chat(&tg, "sendMessage", 600_003, 0).await;
    assert!(buttons(&menu).contains(&data(&Callback::Buy)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(to_chat(&tg, "sendMessage", 600_001).is_empty());
    assert!(to_chat(&tg, "sendMessage", 600_002).is_empty());
    for user in [600_001, 600_002] {
        assert!(
            app.registry
                .store()
                .user(uid(user))
                .await
                .expect("store")
                .is_none(),
            "a rejected update is not handled"
        );
    }
    // A body that is not an update is accepted (Telegram must not retry it) and ignored.
    let junk = app
        .http
        .post(&endpoint)
        .header("X-Telegram-Bot-Api-Secret-Token", secret)
        .body("not json")
        .send()
        .await
        .expect("post");
    assert_eq!(junk.status().as_u16(), 200);
    app.stop().await;
}

#[actix_rt::test]
async fn without_a_token_the_bot_is_off() {
    let app = spawn_app(Db::Sqlite, None).await;
    let resp = app
        .http
        .post(format!("{}/telegram/webhook", app.public))
        .header("X-Telegram-Bot-Api-Secret-Token", "anything-at-all-1234")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 404);
    let health = app
        .http
        .get(format!("{}/healthz", app.public))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    // The rest of the service works: a grant queues its notification for later.
    let (status, _) = app
        .post("/ops/users/650001/grant", json!({ "days": 1 }))
        .await;
    assert_eq!(status, 200);
    app.stop().await;
}

// --- 7. broadcast to 1,000 users ------------------------------------------------

#[actix_rt::test]
async fn broadcast_to_a_thousand_users_respects_the_flood_limits() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let first = 7_000_001;
    let users: Vec<i64> = (first..first + 1000).collect();
    let store = app.registry.store().clone();
    let now = Utc::now();
    let ctx = WriteCtx {
        now,
        by: Principal::System,
        nodes: &[],
    };
    for user in &users {
        store
            .touch_user(
                &ctx,
                uid(*user),
                &Profile {
                    username: Some(format!("user{user}")),
                    language_code: Some("en".into()),
                    referrer: None,
                },
            )
            .await
            .expect("touch");
    }
    let blocked: HashSet<i64> = users.iter().copied().step_by(100).collect();
    assert_eq!(blocked.len(), 10);
    for chat in &blocked {
        tg.block_chat(*chat);
    }

    tg.push_update(FakeTelegram::message(ADMIN, "/broadcast Hello", Some("en")));
    let preview = message_with(&tg, ADMIN, "Broadcast preview").await;
    assert!(
        text_of(&preview).contains("recipients: 1000"),
        "{preview:?}"
    );
    let confirm = buttons(&preview)
        .into_iter()
        .find(|d| matches!(Callback::decode(d), Ok(Callback::BroadcastConfirm { .. })))
        .expect("a confirm button");
    tg.push_update(FakeTelegram::callback(ADMIN, &confirm, MSG));
    // Once the progress message is out, the next two sends answer 429.
    message_with(&tg, ADMIN, "Sending").await;
    tg.fail_next("sendMessage", 2, 1);

    let deadline = Instant::now() + Duration::from_secs(120);
    let report = loop {
        if let Some(call) = to_chat(&tg, "sendMessage", ADMIN)
            .into_iter()
            .find(|c| text_of(c).contains("Broadcast finished"))
        {
            break call;
        }
        assert!(
            Instant::now() < deadline,
            "no report; {} sent",
            tg.calls_to("sendMessage").len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let report = text_of(&report);
    for line in [
        "Recipients: 1000",
        "Delivered: 990",
        "Blocked the bot: 10",
        "Failed: 0",
    ] {
        assert!(report.contains(line), "{line:?} in {report}");
    }

    let calls = tg.calls_to("sendMessage");
    // Every reachable user got "Hello" exactly once; the blocked ones were tried once.
    let mut hello: HashMap<i64, usize> = HashMap::new();
    for c in calls
        .iter()
        .filter(|c| c.status == 200 && text_of(c) == "Hello")
    {
        *hello.entry(c.chat_id.expect("chat")).or_default() += 1;
    }
    for user in &users {
        let expected = usize::from(!blocked.contains(user));
        assert_eq!(
            hello.get(user).copied().unwrap_or(0),
            expected,
            "user {user}"
        );
    }
    for chat in &blocked {
        let s = snapshot(&app, *chat).await;
        assert!(s.bot_blocked, "{chat} is marked as having blocked the bot");
        assert_eq!(
            calls
                .iter()
                .filter(|c| c.chat_id == Some(*chat) && c.status == 403)
                .count(),
            1
        );
    }
    assert!(!snapshot(&app, first + 1).await.bot_blocked);

    // Flood limits, from the times the fake saw the requests. The global one
    // counts every sendMessage (the admin's progress and report messages
    // too); the per-chat one is about the recipients (the admin's preview
    // and progress messages answer their own clicks, outside the Notifier).
    let ok: Vec<&Call> = calls.iter().filter(|c| c.status == 200).collect();
    let mut times: Vec<Instant> = ok.iter().map(|c| c.at).collect();
    times.sort();
    for (i, window) in times.windows(31).enumerate() {
        assert!(
            window[30] - window[0] >= Duration::from_secs(1),
            "31 successful sendMessage within {:?} (from #{i})",
            window[30] - window[0]
        );
    }
    let mut per_chat: HashMap<i64, Vec<Instant>> = HashMap::new();
    for c in &ok {
        if let Some(chat) = c.chat_id.filter(|chat| *chat != ADMIN) {
            per_chat.entry(chat).or_default().push(c.at);
        }
    }
    for (chat, times) in &per_chat {
        for pair in times.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_secs(1),
                "two messages to {chat} within {:?}",
                pair[1] - pair[0]
            );
        }
    }
    let limited: Vec<&Call> = calls.iter().filter(|c| c.status == 429).collect();
    assert_eq!(limited.len(), 2, "both injected 429s were hit");
    for c in &limited {
        let next = ok
            .iter()
            .filter(|o| o.at > c.at)
            .map(|o| o.at)
            .min()
            .expect("sends after a 429");
        assert!(
            next - c.at >= Duration::from_secs(1),
            "a send {:?} after a 429 with retry_after=1",
            next - c.at
        );
    }
    app.stop().await;
}

// --- 8. garbage callback data ---------------------------------------------------

/// xorshift64*: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// At most 64 bytes, cut at a character boundary.
fn trim64(s: &str) -> String {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[actix_rt::test]
async fn random_callback_data_is_answered_and_never_crashes_the_bot() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let victim = 810_001;
    let mut noise = Noise(0x5EED_1234_ABCD_0042);
    let valid: Vec<String> = [
        Callback::Menu,
        Callback::Buy,
        Callback::Plan {
            plan: "month".into(),
        },
        Callback::MySub,
        Callback::Links,
        Callback::Balance,
        Callback::TopUp,
        Callback::Referral,
        Callback::Help,
        Callback::Language,
        Callback::ReissueConfirm,
        Callback::ResetLinkConfirm,
    ]
    .iter()
    .map(data)
    .collect();
    let malformed = [
        "",
        "1",
        "1:",
        ":",
        "::::",
        "0:menu",
        "2:menu",
        "1:menu:extra",
        "1:MENU",
        "1:plan",
        "1:plan:",
        "1:plan:MONTH",
        "1:plan:month:1",
        "1:pay:month",
        "1:pay:month:x",
        "1:pay:mo nth:s",
        "1:topup-pay:-500:c",
        "1:topup-pay:0500:c",
        "1:topup-pay:0:c",
        "1:topup-pay:99999999999999999999999:c",
        "1:lang-set:de",
        "1:adm-grant:42:0",
        "1:adm-grant:-42:30",
        "1:adm-grant:42:+30",
        "1:adm-user:0",
        "1:adm-refund!:xyz",
        "1:adm-refund?:0123456789ABCDEF0123456789abcdef",
        "1:bc-ok:-1",
        "1:bc-ok:4294967296",
        "1:adm-users:01",
        "1:sub\u{0}",
        "1:пay:month:s",
        "🙂🙂🙂",
    ];
    let admin_actions: Vec<String> = [
        Callback::AdminGrant {
            user: victim,
            days: 30,
        },
        Callback::AdminRevoke { user: victim },
        Callback::AdminRevokeAsk { user: victim },
        Callback::AdminUser { user: victim },
        Callback::AdminUsers { page: 0 },
        Callback::AdminRefund {
            order: uuid::Uuid::new_v4(),
        },
        Callback::AdminRefundAsk {
            order: uuid::Uuid::new_v4(),
        },
        Callback::BroadcastConfirm { id: 1 },
        Callback::BroadcastCancel { id: 1 },
    ]
    .iter()
    .map(data)
    .collect();

    let mut pushed: Vec<(String, String)> = Vec::new(); // (query id, data)
    for i in 0..300 {
        let user = 800_001 + (i % 10) as i64;
        let d = match i % 6 {
            0 | 1 => {
                let len = noise.below(90);
                trim64(&String::from_utf8_lossy(&noise.bytes(len)))
            }
            2 => malformed[noise.below(malformed.len())].to_owned(),
            3 => {
                // A valid encoding with one byte changed, dropped or added.
                let mut bytes = valid[noise.below(valid.len())].clone().into_bytes();
                let at = noise.below(bytes.len());
                match noise.below(3) {
                    0 => bytes[at] = noise.next() as u8,
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, noise.next() as u8),
                }
                trim64(&String::from_utf8_lossy(&bytes))
            }
            4 => admin_actions[noise.below(admin_actions.len())].clone(),
            _ => valid[noise.below(valid.len())].clone(),
        };
        let update = FakeTelegram::callback(user, &d, MSG + i as i64);
        let id = update["callback_query"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        tg.push_update(update);
        pushed.push((id, d));
    }

    // Well-formed buttons the bot never shows: top-ups through Stars or from
    // the balance itself, a provider that is not configured.
    let forger = 810_002;
    for forged in [
        Callback::TopUpPay {
            amount_minor: 500,
            provider: Provider::Stars,
        },
        Callback::TopUpPay {
            amount_minor: 500,
            provider: Provider::Balance,
        },
        Callback::TopUpPay {
            amount_minor: 500,
            provider: Provider::Cryptobot,
        },
        Callback::Pay {
            plan: "month".into(),
            provider: Provider::Nowpayments,
            key: None,
        },
    ] {
        let d = data(&forged);
        let update = FakeTelegram::callback(forger, &d, MSG);
        let id = update["callback_query"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        tg.push_update(update);
        pushed.push((id, d));
    }

    let answers = tg
        .wait_for_calls_async("answerCallbackQuery", pushed.len(), Duration::from_secs(20))
        .await;
    let answered: HashMap<String, Option<String>> = answers
        .iter()
        .map(|c| {
            (
                c.param_str("callback_query_id").unwrap_or_default(),
                c.param_str("text"),
            )
        })
        .collect();
    let expired = en("button-expired");
    for (id, d) in &pushed {
        let answer = answered
            .get(id)
            .unwrap_or_else(|| panic!("callback {d:?} was not answered"));
        if Callback::decode(d).is_err() {
            assert_eq!(answer.as_deref(), Some(expired.as_str()), "for {d:?}");
        }
    }
    assert_eq!(answers.len(), pushed.len(), "each answered once");
    // Admin actions from a non-admin did nothing.
    assert!(
        app.registry
            .store()
            .user(uid(victim))
            .await
            .expect("store")
            .is_none_or(|s| s.subscription.is_none()),
        "a non-admin cannot grant"
    );

    assert!(
        tg.calls_to("sendInvoice").is_empty(),
        "no invoice for a forged button: {:?}",
        tg.calls_to("sendInvoice")
            .iter()
            .map(|c| c.params.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        app.registry
            .store()
            .orders_of(uid(forger), 10)
            .await
            .expect("orders"),
        vec![],
        "no order for a forged button"
    );

    // The bot still works.
    let fresh = 899_999;
    tg.push_update(FakeTelegram::message(fresh, "/start", Some("en")));
    let menu = nth_to_chat(&tg, "sendMessage", fresh, 0).await;
    assert!(buttons(&menu).contains(&data(&Callback::Buy)));
    tg.push_update(FakeTelegram::message(800_001, "/start", None));
    message_with(&tg, 800_001, "Hi, User800001").await;
    app.stop().await;
}

// --- 9. reminders and expiry ----------------------------------------------------

#[actix_rt::test]
async fn reminders_and_expiry_are_sent_once_each() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (app, tg) = spawn_bot(Db::Sqlite, clock.clone(), |_| {}).await;
    let user = 900_001;
    let (status, view) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": 5 }))
        .await;
    assert_eq!(status, 200, "{view}");
    message_with(&tg, user, "/sub/").await;
    let expires = snapshot(&app, user)
        .await
        .subscription
        .expect("sub")
        .expires_at;
    let three = "ends in 3 days";
    let one = "ends tomorrow";
    let expired = "access has expired";
    // Long enough for several Scheduler and Notifier passes.
    let settle = || tokio::time::sleep(Duration::from_millis(800));

    clock.set(expires - chrono::Duration::hours(2 * 24 + 23));
    let reminder = message_with(&tg, user, three).await;
    assert!(buttons(&reminder).contains(&data(&Callback::Buy)));
    clock.set(expires - chrono::Duration::hours(2 * 24 + 20));
    settle().await;
    assert_eq!(count_messages(&tg, user, three), 1);

    clock.set(expires - chrono::Duration::hours(23));
    let reminder = message_with(&tg, user, one).await;
    assert!(buttons(&reminder).contains(&data(&Callback::Buy)));
    clock.set(expires - chrono::Duration::hours(2));
    settle().await;
    assert_eq!(count_messages(&tg, user, one), 1);
    assert_eq!(count_messages(&tg, user, three), 1);

    clock.set(expires + chrono::Duration::minutes(1));
    let gone = message_with(&tg, user, expired).await;
    assert!(
        buttons(&gone).contains(&data(&Callback::Buy)),
        "a Renew button"
    );
    let s = snapshot(&app, user).await;
    assert_eq!(
        s.subscription.as_ref().map(|s| s.status),
        Some(SubscriptionStatus::Expired)
    );
    clock.set(expires + chrono::Duration::hours(1));
    settle().await;
    assert_eq!(count_messages(&tg, user, three), 1);
    assert_eq!(count_messages(&tg, user, one), 1);
    assert_eq!(count_messages(&tg, user, expired), 1);
    app.stop().await;
}

// --- users who blocked the bot and came back --------------------------------------

#[actix_rt::test]
async fn a_user_back_after_blocking_the_bot_is_notified_again() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let (pressing, paying) = (1_000_001, 1_000_002);
    // The payer's invoice is out before they block the bot.
    let payload = invoice(&tg, paying).await;
    for user in [pressing, paying] {
        tg.block_chat(user);
        let (status, _) = app
            .post(&format!("/ops/users/{user}/grant"), json!({ "days": 30 }))
            .await;
        assert_eq!(status, 200);
    }
    for user in [pressing, paying] {
        eventually("the user is marked as blocked", STEP, async || {
            snapshot(&app, user).await.bot_blocked
        })
        .await;
        tg.unblock_chat(user);
    }

    // Pressing an old button (no /start) proves the bot is not blocked.
    tg.push_update(FakeTelegram::callback(
        pressing,
        &data(&Callback::MySub),
        MSG,
    ));
    nth_to_chat(&tg, "editMessageText", pressing, 0).await;
    let (status, _) = app
        .post(
            &format!("/ops/users/{pressing}/grant"),
            json!({ "days": 30 }),
        )
        .await;
    assert_eq!(status, 200);
    message_with(&tg, pressing, "Subscription extended").await;
    assert!(!snapshot(&app, pressing).await.bot_blocked);

    // So does paying an invoice.
    assert_eq!(
        pre_checkout(&tg, paying, "XTR", 150, &payload).await,
        (true, None)
    );
    stars_paid(&app, &tg, paying, &payload, "charge-back").await;
    message_with(&tg, paying, "Subscription extended").await;
    assert!(!snapshot(&app, paying).await.bot_blocked);
    app.stop().await;
}

// --- referral bonus -----------------------------------------------------------------

#[actix_rt::test]
async fn a_referrer_gets_the_bonus_once_when_the_friend_pays() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.referral.bonus_minor = 100
    })
    .await;
    let (referrer, friend) = (1_100_001, 1_100_002);
    tg.push_update(FakeTelegram::message(referrer, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", referrer, 0).await;
    tg.push_update(FakeTelegram::message(
        friend,
        &format!("/start ref{referrer}"),
        Some("en"),
    ));
    nth_to_chat(&tg, "sendMessage", friend, 0).await;
    assert_eq!(snapshot(&app, friend).await.referrer, Some(uid(referrer)));

    buy_with_stars(&app, &tg, friend, "charge-friend-1").await;
    message_with(&tg, referrer, "has been added to your balance").await;
    assert_eq!(snapshot(&app, referrer).await.balance_minor, 100);
    // A second purchase gives no second bonus.
    buy_with_stars(&app, &tg, friend, "charge-friend-2").await;
    message_with(&tg, friend, "Subscription extended").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count_messages(&tg, referrer, "has been added to your balance"),
        1
    );
    assert_eq!(snapshot(&app, referrer).await.balance_minor, 100);
    let ledger = app
        .registry
        .store()
        .ledger(uid(referrer))
        .await
        .expect("ledger");
    assert_eq!(
        ledger
            .iter()
            .map(|e| (e.kind, e.amount.minor))
            .collect::<Vec<_>>(),
        vec![(LedgerKind::ReferralBonus, 100)]
    );

    tg.push_update(FakeTelegram::callback(
        referrer,
        &data(&Callback::Referral),
        MSG,
    ));
    let screen = nth_to_chat(&tg, "editMessageText", referrer, 0).await;
    let text = text_of(&screen);
    assert!(text.contains("Friends invited: 1"), "{text}");
    assert!(
        text.contains(&format!("start=ref{referrer}")),
        "the referral link: {text}"
    );
    app.stop().await;
}

// --- group chats ----------------------------------------------------------------------

#[actix_rt::test]
async fn links_are_never_posted_in_a_group_chat() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let user = 1_200_001;
    let group = -1_001_234_567_890;
    let (status, _) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": 30 }))
        .await;
    assert_eq!(status, 200);
    message_with(&tg, user, "/sub/").await;

    for command in ["/sub", "/start", "/menu", "/help", "hello"] {
        let mut update = FakeTelegram::message(user, command, Some("en"));
        update["message"]["chat"] = json!({
            "id": group, "type": "supergroup", "title": "Some group",
        });
        tg.push_update(update);
    }
    let mut pressed = FakeTelegram::callback(user, &data(&Callback::Links), MSG);
    pressed["callback_query"]["message"]["chat"] = json!({
        "id": group, "type": "supergroup", "title": "Some group",
    });
    let query = pressed["callback_query"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    tg.push_update(pressed);
    // The same user's private /sub is handled after those (one user's
    // updates run in order).
    let before = to_chat(&tg, "sendMessage", user).len();
    tg.push_update(FakeTelegram::message(user, "/sub", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, before).await;
    let in_group: Vec<String> = tg
        .calls()
        .iter()
        .filter(|c| c.chat_id == Some(group))
        .map(|c| format!("{} {}", c.method, text_of(c)))
        .collect();
    assert!(
        in_group.is_empty(),
        "the bot talks in private chats only: {in_group:?}"
    );
    assert!(
        tg.calls_to("answerCallbackQuery")
            .iter()
            .any(|c| c.param_str("callback_query_id") == Some(query.clone())),
        "the button in the group is answered"
    );
    app.stop().await;
}
