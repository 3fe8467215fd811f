//! A payment callback the service cannot take right now: the store refuses
//! writes, or the order's user is busy. The webhook answers 503 (so the
//! provider delivers it again) and nothing is lost: an event the store could
//! not keep is simply taken on the next delivery; one it kept unfinished is
//! finished by the next delivery, or by the periodic recovery once it is
//! 30 s old (`RECOVERY_GRACE`) and not before.
//!
//! The failures are real: a PostgreSQL database made read-only with its
//! connections cut (through `psql`), a SQLite file opened read-only, a user's
//! row locked by another PostgreSQL session.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use serde_json::{Value, json};
use subvisor_actors::clock::ManualClock;
use subvisor_actors::domain::{Money, OrderId};
use subvisor_actors::payments::events;
use subvisor_actors::store::{EventRecord, NewPaymentEvent};

use crate::helpers::{Db, TestApp, both_backends};
use crate::payments::{Payments, ipn, nowpayments_body_and_sig, start_with, start_with_clock};

/// How long to wait for something the service does by itself.
const LIMIT: Duration = Duration::from_secs(30);

async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + LIMIT;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A signed NOWPayments callback: (status, `Retry-After`, body).
async fn deliver(app: &TestApp, v: &Value) -> (u16, Option<String>, Value) {
    let (body, sig) = nowpayments_body_and_sig(v);
    let resp = app
        .http
        .post(format!("{}/pay/nowpayments", app.public))
        .header("x-nowpayments-sig", sig)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        status,
        retry_after,
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn order_view(app: &TestApp, order: &str) -> Value {
    let (status, view) = app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(status, 200, "{view}");
    view
}

async fn days(app: &TestApp, user: i64) -> i64 {
    let (status, v) = app.get(&format!("/ops/users/{user}")).await;
    if status == 404 {
        return 0;
    }
    crate::helpers::days_granted(&v)
}

fn order_id(created: &Value) -> String {
    created["order_id"].as_str().expect("order id").to_owned()
}

/// The 503 a callback gets when the service cannot take it now.
fn assert_retry_later(answer: &(u16, Option<String>, Value)) {
    let (status, retry_after, body) = answer;
    assert_eq!(*status, 503, "the provider must deliver it again: {body}");
    assert_eq!(body["error"]["code"], "retry_later", "{body}");
    assert!(retry_after.is_some(), "503 names when to retry: {body}");
}

/// A `psql` session kept open, so that a transaction can hold its locks
/// while the test goes on. Stops on the first SQL error.
struct Psql {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// `psql`: in `SUBVISOR_PG_BINDIR` (as the testkit's cluster), else on PATH.
fn psql_program() -> PathBuf {
    std::env::var_os("SUBVISOR_PG_BINDIR")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ))
        .map(|dir| dir.join("psql"))
        .find(|path| path.is_file())
        .expect("psql (the PostgreSQL client) is needed: not in SUBVISOR_PG_BINDIR or on PATH")
}

impl Psql {
    fn open(url: &str) -> Self {
        let mut child = Command::new(psql_program())
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start psql");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    /// Runs `sql` and returns the rows it printed (one line each).
    fn run(&mut self, sql: &str) -> Vec<String> {
        const DONE: &str = "-- psql done --";
        writeln!(self.stdin, "{sql}\n\\echo '{DONE}'").expect("write to psql");
        self.stdin.flush().expect("flush psql");
        let mut rows = Vec::new();
        loop {
            let mut line = String::new();
            let read = self.stdout.read_line(&mut line).expect("read psql");
            assert!(read > 0, "psql stopped (an SQL error?) running: {sql}");
            let line = line.trim_end().to_owned();
            if line == DONE {
                return rows;
            }
            if !line.is_empty() {
                rows.push(line);
            }
        }
    }
}

impl Drop for Psql {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "\\q");
        let _ = self.child.wait();
    }
}

both_backends!(
    a_callback_the_store_cannot_keep_is_answered_503_and_taken_when_delivered_again,
    recovery_takes_an_unfinished_event_over_at_30_seconds_not_before,
);

/// The store refuses every write: the callback is answered 503, nothing is
/// kept (the provider holds the event until it delivers it again), and the
/// next delivery, once the store is back, applies it once.
async fn a_callback_the_store_cannot_keep_is_answered_503_and_taken_when_delivered_again(db: Db) {
    let roomy = |s: &mut subvisor::config::Settings| {
        s.http.public_rate_per_minute = 100_000;
        s.http.public_rate_burst = 10_000;
        s.database.acquire_timeout = Duration::from_millis(300);
    };
    let user = 661;
    let (p, order, outage) = match db {
        Db::Sqlite => {
            let p = start_with(db, roomy).await;
            let order = order_id(&p.order(user, "nowpayments").await);
            // An instance on the same file, opened read-only (a disk
            // remounted read-only looks the same to the service).
            let read_only = format!("{}?mode=ro", p.app.db_url);
            let outage = start_with(db, move |s| {
                roomy(s);
                s.database.url = read_only;
            })
            .await;
            (p, order, Outage::ReadOnlyInstance(outage))
        }
        Db::Postgres => {
            let p = start_with(db, roomy).await;
            let order = order_id(&p.order(user, "nowpayments").await);
            let mut psql = Psql::open(&p.app.db_url);
            let name = psql.run("SELECT current_database();").remove(0);
            // New sessions are read-only; the pool's sessions are cut.
            psql.run(&format!(
                "ALTER DATABASE \"{name}\" SET default_transaction_read_only = on;\n\
                 SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid();"
            ));
            (p, order, Outage::ReadOnlyDatabase(psql, name))
        }
    };
    let callback = ipn(8661, "finished", &order, 2.99);
    let during = match &outage {
        Outage::ReadOnlyInstance(ro) => &ro.app,
        Outage::ReadOnlyDatabase(..) => &p.app,
    };
    let answer = deliver(during, &callback).await;
    assert_retry_later(&answer);
    let view = order_view(during, &order).await;
    assert_eq!(view["order"]["status"], "pending", "{view}");
    assert_eq!(view["webhook_events"], json!([]), "nothing kept: {view}");
    assert_eq!(view["payments"], json!([]), "{view}");
    assert_eq!(days(during, user).await, 0);

    // The store is back; the provider delivers it again.
    match outage {
        Outage::ReadOnlyInstance(ro) => ro.app.stop().await,
        Outage::ReadOnlyDatabase(mut psql, name) => {
            psql.run(&format!(
                "ALTER DATABASE \"{name}\" RESET default_transaction_read_only;\n\
                 SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid();"
            ));
        }
    }
    let (status, _, out) = deliver(&p.app, &callback).await;
    assert_eq!(
        (status, out["outcome"].as_str()),
        (200, Some("applied")),
        "{out}"
    );
    assert_eq!(days(&p.app, user).await, 30);
    let view = order_view(&p.app, &order).await;
    assert_eq!(view["order"]["status"], "paid", "{view}");
    assert_eq!(view["webhook_events"].as_array().map(Vec::len), Some(1));
    let (status, _, again) = deliver(&p.app, &callback).await;
    assert_eq!((status, again["duplicate"].as_bool()), (200, Some(true)));
    assert_eq!(days(&p.app, user).await, 30);
    p.app.stop().await;
}

/// What makes the store refuse writes, and what undoes it.
enum Outage {
    /// SQLite: a second instance on the file, opened read-only.
    ReadOnlyInstance(Payments),
    /// PostgreSQL: the database (by name) read-only for new sessions, the
    /// old ones cut.
    ReadOnlyDatabase(Psql, String),
}

/// The user's row is held by another PostgreSQL session, so a grant waits in
/// the user's actor and its mailbox (room for one) is full: the callback is
/// stored, answered 503, kept unfinished with the failure counted, and the
/// next delivery applies it (it is not swallowed as a duplicate).
#[actix_rt::test]
async fn a_callback_for_a_busy_user_is_kept_answered_503_and_applied_when_delivered_again() {
    // A clock that stays put: the kept event never gets old enough for the
    // periodic recovery, so only the redelivery can finish it.
    let t0 = Utc::now()
        .duration_trunc(chrono::Duration::seconds(1))
        .expect("round");
    let clock = Arc::new(ManualClock::new(t0));
    let p = start_with_clock(Db::Postgres, clock, |s| {
        s.actors.mailbox_capacity = 1;
        s.payments.recovery_interval = Duration::from_millis(50);
    })
    .await;
    // The recovery's first pass (which takes over events of any age) is over
    // once an old event left unfinished has been finished.
    finish_a_witness(&p.app, "busy-start", t0 - chrono::Duration::hours(1)).await;
    let user = 662;
    let order = order_id(&p.order(user, "nowpayments").await);

    let mut psql = Psql::open(&p.app.db_url);
    let locked = psql.run(&format!(
        "BEGIN;\nSELECT telegram_id FROM users WHERE telegram_id = {user} FOR UPDATE;"
    ));
    assert_eq!(locked, [user.to_string()], "the user's row is held");
    let grant = {
        let http = p.app.http.clone();
        let url = format!("{}/ops/users/{user}/grant", p.app.ops);
        actix_rt::spawn(async move {
            let resp = http
                .post(url)
                .json(&json!({ "days": 1 }))
                .send()
                .await
                .expect("grant");
            resp.status().as_u16()
        })
    };
    // The grant is in the user's actor, waiting for the row.
    wait_until("the grant waits for the locked row", || {
        let waiting = psql.run(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock';",
        );
        let busy = p.app.registry.stats().in_flight;
        async move { waiting == ["1"] && busy == 1 }
    })
    .await;

    let callback = ipn(8662, "finished", &order, 2.99);
    let answer = deliver(&p.app, &callback).await;
    assert_retry_later(&answer);
    let view = order_view(&p.app, &order).await;
    assert_eq!(view["order"]["status"], "pending", "{view}");
    assert_eq!(view["payments"], json!([]), "{view}");
    let kept = &view["webhook_events"];
    assert_eq!(kept.as_array().map(Vec::len), Some(1), "kept: {view}");
    assert_eq!(kept[0]["finished_at"], Value::Null, "unfinished: {view}");
    assert_eq!(kept[0]["attempts"], 1, "the failed attempt counted: {view}");
    assert!(
        kept[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("busy")),
        "{view}"
    );

    psql.run("ROLLBACK;");
    assert_eq!(grant.await.expect("grant task"), 200);
    let (status, _, out) = deliver(&p.app, &callback).await;
    assert_eq!(
        (status, out["outcome"].as_str()),
        (200, Some("applied")),
        "the kept event is processed, not a duplicate: {out}"
    );
    assert_eq!(days(&p.app, user).await, 1 + 30);
    let view = order_view(&p.app, &order).await;
    assert_eq!(view["order"]["status"], "paid", "{view}");
    assert_eq!(view["webhook_events"][0]["outcome"], "applied", "{view}");
    let (status, _, again) = deliver(&p.app, &callback).await;
    assert_eq!((status, again["duplicate"].as_bool()), (200, Some(true)));
    assert_eq!(days(&p.app, user).await, 1 + 30);
    p.app.stop().await;
}

/// Stores an unfinished NOWPayments event received at `at`, as a failed or
/// crashed delivery leaves it: with an order, the payment of its 2.99 USD
/// (`finished`); without, a `waiting` status of a payment of no order of ours.
async fn leave_unfinished(app: &TestApp, payment: &str, order: Option<OrderId>, at: DateTime<Utc>) {
    let (status, price) = match order {
        Some(_) => (
            "finished",
            Some(Money::new(299, "USD".parse().expect("usd"))),
        ),
        None => ("waiting", None),
    };
    let event = events::nowpayments_status(payment, status, order, price).expect("event");
    let left = NewPaymentEvent {
        provider: "nowpayments".into(),
        event_id: event.event_id.clone(),
        order,
        received_at: at,
        payload: json!({ "payment_id": payment, "payment_status": status }).to_string(),
        event: serde_json::to_string(&event).expect("json"),
    };
    assert_eq!(
        app.registry
            .store()
            .record_payment_event(&left)
            .await
            .expect("store the event"),
        EventRecord::New
    );
}

/// The outcome of NOWPayments' event (payment, status) once it is finished.
async fn finished(app: &TestApp, payment: &str, status: &str) -> Option<Value> {
    let stored = app
        .registry
        .store()
        .webhook_event("nowpayments", &format!("{payment}:{status}"))
        .await
        .expect("read event")
        .expect("stored");
    stored
        .finished_at
        .map(|_| Value::String(stored.outcome.clone()))
}

/// Leaves an unfinished event received at `at` and waits until the recovery
/// finished it.
async fn finish_a_witness(app: &TestApp, payment: &str, at: DateTime<Utc>) {
    leave_unfinished(app, payment, None, at).await;
    wait_until(&format!("the recovery finishes {payment}"), || async {
        finished(app, payment, "waiting").await.is_some()
    })
    .await;
}

/// An event left unfinished is the periodic recovery's once it is 30 s old:
/// at 30 s less 1 ms it is left alone (a delivery may still be working on
/// it), at 30 s it is finished — and the order paid, once.
async fn recovery_takes_an_unfinished_event_over_at_30_seconds_not_before(db: Db) {
    let t0 = Utc::now()
        .duration_trunc(chrono::Duration::seconds(1))
        .expect("round");
    let clock = Arc::new(ManualClock::new(t0));
    let p = start_with_clock(db, clock.clone(), |s| {
        s.payments.recovery_interval = Duration::from_millis(50);
    })
    .await;
    finish_a_witness(&p.app, "first-pass", t0 - chrono::Duration::hours(1)).await;
    let user = 663;
    let order = order_id(&p.order(user, "nowpayments").await);
    let order_uuid: OrderId = order.parse().expect("order id");
    // The callback of this payment was kept at t0 and not finished.
    leave_unfinished(&p.app, "8663", Some(order_uuid), t0).await;

    // 1 ms short of 30 s: events exactly 30 s old are finished by passes
    // that leave ours alone. The second one is stored after the first was
    // finished, so a whole pass at this time has ended by then.
    let grace = chrono::Duration::seconds(30);
    let almost = t0 + grace - chrono::Duration::milliseconds(1);
    clock.set(almost);
    finish_a_witness(&p.app, "boundary-1", almost - grace).await;
    finish_a_witness(&p.app, "boundary-2", almost - grace).await;
    assert_eq!(
        finished(&p.app, "8663", "finished").await,
        None,
        "an event 30 s less 1 ms old is left alone"
    );
    let view = order_view(&p.app, &order).await;
    assert_eq!(view["order"]["status"], "pending", "{view}");
    assert_eq!(days(&p.app, user).await, 0);

    clock.set(t0 + grace);
    wait_until("the recovery finishes the 30 s old event", || async {
        finished(&p.app, "8663", "finished").await.is_some()
    })
    .await;
    assert_eq!(
        finished(&p.app, "8663", "finished").await,
        Some(json!("applied"))
    );
    let view = order_view(&p.app, &order).await;
    assert_eq!(view["order"]["status"], "paid", "{view}");
    assert_eq!(days(&p.app, user).await, 30);
    // The provider's own redelivery is now a plain duplicate.
    let (status, _, again) = deliver(&p.app, &ipn(8663, "finished", &order, 2.99)).await;
    assert_eq!((status, again["duplicate"].as_bool()), (200, Some(true)));
    assert_eq!(days(&p.app, user).await, 30);
    p.app.stop().await;
}
