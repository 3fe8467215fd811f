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
    LedgerKind, OrderId, OrderStatus, Principal, Provider, SubscriptionStatus,
};
use subvisor_actors::store::{Profile, UserSnapshot, WriteCtx};
use subvisor_testkit::fake_telegram::{Call, FakeTelegram};
use subvisor_testkit::fake_xray::FakeXrayNode;
use subvisor_testkit::fixtures::uid;

use crate::helpers::{Db, TestApp, both_backends, spawn_app, spawn_app_with};

mod account;
mod admin_screens;
mod auto_renew;
mod bans;
mod broadcast;
mod callbacks;
mod choices;
mod commerce;
mod crawler;
mod grant_once;
mod intake;
mod lifecycle;
mod locale;
mod modes;
mod referral_days;
mod stars;
mod start;
mod supervision;
mod support;

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

/// The `field` (`callback_data`, `text`, …) of every inline button of a recorded call.
fn button_fields(call: &Call, field: &str) -> Vec<String> {
    call.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().into_iter().flatten())
        .filter_map(|b| b[field].as_str().map(str::to_owned))
        .collect()
}

/// The callback data of every inline button of a recorded call.
fn buttons(call: &Call) -> Vec<String> {
    button_fields(call, "callback_data")
}

/// Every button label of a recorded call.
fn labels(call: &Call) -> Vec<String> {
    button_fields(call, "text")
}

/// The (label, url) of every URL button of a recorded call.
fn url_buttons(call: &Call) -> Vec<(String, String)> {
    call.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().into_iter().flatten())
        .filter_map(|b| {
            Some((
                b["text"].as_str()?.to_owned(),
                b["url"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Where the card's "🚀 Connect" button points, if the call has one.
fn connect_url(call: &Call) -> Option<String> {
    let labels = [tr(Lang::En, "btn-connect"), tr(Lang::Ru, "btn-connect")];
    url_buttons(call)
        .into_iter()
        .find(|(label, _)| labels.contains(label))
        .map(|(_, url)| url)
}

/// Waits for a `sendMessage` to `chat` carrying the status card's Connect button.
async fn card_message(tg: &FakeTelegram, chat: i64) -> Call {
    let deadline = Instant::now() + STEP;
    loop {
        let found = to_chat(tg, "sendMessage", chat)
            .into_iter()
            .find(|c| connect_url(c).is_some());
        if let Some(call) = found {
            return call;
        }
        assert!(
            Instant::now() < deadline,
            "no card with Connect to {chat}; sent: {:#?}",
            tg.sent_texts_to(chat)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Presses "Show keys" and returns the `vless://` links the screen shows.
async fn shown_keys(tg: &FakeTelegram, chat: i64) -> Vec<String> {
    let before = to_chat(tg, "editMessageText", chat).len();
    tg.push_update(FakeTelegram::callback(chat, &data(&Callback::Keys), MSG));
    let screen = nth_to_chat(tg, "editMessageText", chat, before).await;
    links_in(&text_of(&screen))
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
    let id: OrderId =
        subvisor_actors::payments::stars::order_of_payload(payload).expect("order id");
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
