//! The real binary killed (`kill -9`) after Telegram was told a Stars payment
//! arrived — the webhook answered 200, or the polling loop confirmed the
//! update — and before the payment was applied. After a restart the service
//! finishes it by itself: the order is paid and the user told, with no
//! redelivery from Telegram.
//!
//! `SUBVISOR_FAULTS=before_apply=hang` (read only by test builds) stops the
//! payment at the step before it is applied, so the kill lands exactly there.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use subvisor_testkit::fake_telegram::FakeTelegram;

use crate::helpers::{Db, ServerProcess};

const TOKEN: &str = "515151:fake-bot-token-for-crash-tests";
const SECRET: &str = "crash-test-webhook-secret";
const LIMIT: Duration = Duration::from_secs(20);

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The environment of a bot-enabled server on `db`.
fn env(tg: &FakeTelegram, db_url: &str, webhook: bool, faults: bool) -> Vec<(String, String)> {
    let mut env = vec![
        ("SUBVISOR__DATABASE__URL".to_owned(), db_url.to_owned()),
        ("SUBVISOR__TELEGRAM__TOKEN".into(), tg.token().to_owned()),
        ("SUBVISOR__TELEGRAM__API_URL".into(), tg.api_url()),
        ("SUBVISOR__NOTIFIER__POLL_INTERVAL".into(), "100ms".into()),
        (
            "SUBVISOR__PAYMENTS__RECOVERY_INTERVAL".into(),
            "200ms".into(),
        ),
    ];
    if webhook {
        env.extend([
            ("SUBVISOR__TELEGRAM__MODE".to_owned(), "webhook".to_owned()),
            (
                "SUBVISOR__TELEGRAM__WEBHOOK_URL".into(),
                "https://bot.example.com/telegram/webhook".into(),
            ),
            ("SUBVISOR__TELEGRAM__WEBHOOK_SECRET".into(), SECRET.into()),
        ]);
    }
    if faults {
        env.push(("SUBVISOR_FAULTS".into(), "before_apply=hang".into()));
    }
    env
}

fn start(cwd: &Path, env: &[(String, String)]) -> ServerProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServerProcess::start(cwd, &env)
}

fn db_url(db: Db, cwd: &Path) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}/crash.db", cwd.display()),
        Db::Postgres => subvisor_testkit::shared_pg()
            .fresh_database()
            .expect("database"),
    }
}

/// A pending Stars order for `user` (made through the ops API).
fn stars_order(server: &ServerProcess, user: i64) -> String {
    let created: Value = reqwest::blocking::Client::new()
        .post(format!("{}/ops/users/{user}/orders", server.ops))
        .json(&json!({ "plan": "month", "provider": "stars" }))
        .send()
        .expect("order")
        .json()
        .expect("json");
    created["order_id"].as_str().expect("order id").to_owned()
}

fn order_status(server: &ServerProcess, order: &str) -> String {
    let view: Value = reqwest::blocking::get(format!("{}/ops/orders/{order}", server.ops))
        .expect("order view")
        .json()
        .expect("json");
    view["order"]["status"].as_str().unwrap_or("?").to_owned()
}

fn kill_at_the_fault(server: &mut ServerProcess) {
    wait_until("the payment stops at the injected fault", || {
        server.logs().contains("fault injected")
    });
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5)).expect("killed");
}

/// After the restart: paid, and the user was told (the activation message).
fn finished_after_restart(server: &ServerProcess, tg: &FakeTelegram, order: &str, user: i64) {
    wait_until("the restarted service finishes the payment", || {
        order_status(server, order) == "paid"
    });
    wait_until("the user is told", || {
        tg.calls_to("sendMessage")
            .iter()
            .any(|c| c.status == 200 && c.chat_id == Some(user))
    });
}

fn webhook_kill_after_200(db: Db) {
    let tg = FakeTelegram::start(TOKEN).expect("fake telegram");
    let cwd = tempfile::tempdir().expect("temp dir");
    let url = db_url(db, cwd.path());
    let mut server = start(cwd.path(), &env(&tg, &url, true, true));
    let user = 810_001;
    let order = stars_order(&server, user);
    let mut update = FakeTelegram::successful_payment(user, "XTR", 150, &order, "charge-crash-1");
    update["update_id"] = json!(4_000_001);
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/telegram/webhook", server.public))
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .json(&update)
        .send()
        .expect("webhook");
    assert_eq!(resp.status().as_u16(), 200, "Telegram was told it arrived");
    kill_at_the_fault(&mut server);
    assert_eq!(
        tg.calls_to("sendMessage").len(),
        0,
        "nothing told before the crash"
    );

    let server = start(cwd.path(), &env(&tg, &url, true, false));
    // Telegram does not send it again: it got its 200.
    finished_after_restart(&server, &tg, &order, user);
}

fn polling_kill_after_confirm(db: Db) {
    let tg = FakeTelegram::start(TOKEN).expect("fake telegram");
    let cwd = tempfile::tempdir().expect("temp dir");
    let url = db_url(db, cwd.path());
    let mut server = start(cwd.path(), &env(&tg, &url, false, true));
    let user = 810_002;
    let order = stars_order(&server, user);
    tg.push_update(FakeTelegram::successful_payment(
        user,
        "XTR",
        150,
        &order,
        "charge-crash-2",
    ));
    // The fake drops an update once a getUpdates asks for a later offset.
    wait_until("the update is confirmed to Telegram", || {
        tg.pending_updates() == 0
    });
    kill_at_the_fault(&mut server);
    assert_eq!(
        tg.calls_to("sendMessage").len(),
        0,
        "nothing told before the crash"
    );

    let server = start(cwd.path(), &env(&tg, &url, false, false));
    finished_after_restart(&server, &tg, &order, user);
}

#[test]
fn webhook_payment_survives_kill_after_200_sqlite() {
    webhook_kill_after_200(Db::Sqlite);
}

#[test]
fn webhook_payment_survives_kill_after_200_postgres() {
    webhook_kill_after_200(Db::Postgres);
}

#[test]
fn polled_payment_survives_kill_after_confirm_sqlite() {
    polling_kill_after_confirm(Db::Sqlite);
}

#[test]
fn polled_payment_survives_kill_after_confirm_postgres() {
    polling_kill_after_confirm(Db::Postgres);
}
