//! The payment intake end to end, against fake Crypto Pay and NOWPayments:
//! reconciliation with the providers' own records, money the order could not
//! take, late deposits, spent top-ups refunded, signed callbacks never
//! rate-limited, and two instances on one PostgreSQL database.

use futures_util::future::join_all;
use serde_json::{Value, json};
use subvisor_actors::domain::{AlertKind, LedgerKind};
use subvisor_testkit::fake_payments::invoice_paid;
use subvisor_testkit::fixtures::uid;

use crate::helpers::{Db, TestApp, bin, both_backends, days_granted, spawn_second_instance};
use crate::payments::{Payments, cryptobot_sig, ipn, start_with};

async fn open(db: Db) -> Payments {
    start_with(db, |s| {
        s.http.public_rate_per_minute = 100_000;
        s.http.public_rate_burst = 10_000;
    })
    .await
}

fn order_id(created: &Value) -> String {
    created["order_id"].as_str().expect("order id").to_owned()
}

async fn alerts(app: &TestApp, kind: AlertKind) -> usize {
    let far = chrono::Utc::now() + chrono::Duration::days(1);
    app.registry
        .store()
        .due_alerts(far, 1000)
        .await
        .expect("alerts")
        .iter()
        .filter(|a| a.kind == kind)
        .count()
}

async fn balance(app: &TestApp, user: i64) -> i64 {
    let (_, view) = app.get(&format!("/ops/users/{user}")).await;
    let balance = view["balance"]["minor"].as_i64().expect("balance");
    let ledger = app
        .registry
        .store()
        .ledger_sum(uid(user))
        .await
        .expect("ledger");
    assert_eq!(balance, ledger, "user {user}: balance equals the ledger");
    balance
}

both_backends!(
    reconciliation_applies_what_no_callback_brought,
    a_second_invoice_and_an_overpaid_deposit_are_kept_in_the_balance,
    a_late_deposit_after_failed_is_granted_once,
    a_refunded_top_up_that_was_spent_is_flagged_once,
    signed_callbacks_are_never_rate_limited_but_forgeries_are,
    pay_is_idempotent_through_the_ops_api,
);

async fn pay_is_idempotent_through_the_ops_api(db: Db) {
    let p = open(db).await;
    let user = 651;
    p.app.credit(user, 1000).await;
    let buy = |key: &'static str| {
        let app = &p.app;
        async move {
            let resp = app
                .http
                .post(format!("{}/ops/users/{user}/orders", app.ops))
                .header("Idempotency-Key", key)
                .json(&json!({ "plan": "month", "provider": "balance" }))
                .send()
                .await
                .expect("request");
            assert_eq!(resp.status().as_u16(), 200);
            resp.json::<Value>().await.expect("json")
        }
    };
    let (first, second) = futures_util::join!(buy("press-1"), buy("press-1"));
    assert_eq!(
        first["order_id"], second["order_id"],
        "one press, one order"
    );
    assert_eq!(balance(&p.app, user).await, 701, "charged once");
    assert_eq!(p.days(user).await, 30);
    let third = buy("press-2").await;
    assert_ne!(third["order_id"], first["order_id"]);
    assert_eq!(balance(&p.app, user).await, 402);

    // The same purchase through a provider, pressed twice: one invoice.
    let a = p.order(user, "cryptobot").await;
    let b = p.order(user, "cryptobot").await;
    assert_eq!(a["order_id"], b["order_id"]);
    assert_eq!(a["payment_url"], b["payment_url"]);
    assert_eq!(b["reused"], true);
    assert_eq!(
        p.cryptopay.invoices().len(),
        1,
        "one invoice at the provider"
    );
    p.app.stop().await;
}

async fn reconciliation_applies_what_no_callback_brought(db: Db) {
    let p = open(db).await;
    let cb = order_id(&p.order(601, "cryptobot").await);
    let invoice = *p
        .cryptopay
        .created_invoice_ids()
        .last()
        .expect("invoice at Crypto Pay");
    p.cryptopay.pay_invoice(invoice);
    let np = order_id(&p.order(602, "nowpayments").await);
    let (_, view) = p.app.get(&format!("/ops/orders/{np}")).await;
    let np_invoice = view["order"]["provider_invoice_id"]
        .as_str()
        .expect("NOWPayments invoice id remembered")
        .to_owned();
    p.nowpayments
        .add_payment(&np_invoice, 8801, "finished", "2.99", "usd");

    // A dry run through the CLI reports both and changes nothing.
    let ops_addr = p.app.ops.trim_start_matches("http://").to_owned();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args(["payments", "reconcile", "--dry-run"])
            .env("SUBVISOR__HTTP__OPS_ADDR", ops_addr)
            .output()
            .expect("run cli")
    })
    .await
    .expect("cli");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("found 2 payment event(s)"), "{stdout}");
    assert!(stdout.contains("dry run: nothing changed"), "{stdout}");
    assert_eq!((p.days(601).await, p.days(602).await), (0, 0));

    let (status, report) = p.app.post("/ops/payments/reconcile", json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["applied"], 2, "{report}");
    assert_eq!(report["checked"]["cryptobot"], 1);
    assert_eq!(report["checked"]["nowpayments"], 1);
    assert_eq!((p.days(601).await, p.days(602).await), (30, 30));

    // The callbacks that come late are plain duplicates.
    let late = invoice_paid(77_001, invoice, &cb, "2.99");
    let (status, out) = p.cryptobot(&late, Some(&cryptobot_sig(&late))).await;
    assert_eq!(
        (status, out["duplicate"].as_bool()),
        (200, Some(true)),
        "{out}"
    );
    let (status, out) = p.nowpayments(&ipn(8801, "finished", &np, 2.99)).await;
    assert_eq!(
        (status, out["duplicate"].as_bool()),
        (200, Some(true)),
        "{out}"
    );
    assert_eq!((p.days(601).await, p.days(602).await), (30, 30));
    let (_, again) = p.app.post("/ops/payments/reconcile", json!({})).await;
    assert_eq!(again["found"], json!([]), "{again}");
    p.app.stop().await;
}

async fn a_second_invoice_and_an_overpaid_deposit_are_kept_in_the_balance(db: Db) {
    let p = open(db).await;
    let user = 611;
    let a = order_id(&p.order(user, "cryptobot").await);
    for (update, invoice, outcome) in [(1, 90_001, "applied"), (2, 90_002, "credited")] {
        let body = invoice_paid(update, invoice, &a, "2.99");
        let (status, out) = p.cryptobot(&body, Some(&cryptobot_sig(&body))).await;
        assert_eq!(
            (status, out["outcome"].as_str()),
            (200, Some(outcome)),
            "{out}"
        );
    }
    assert_eq!(p.days(user).await, 30, "one extension");
    assert_eq!(balance(&p.app, user).await, 299);

    let b = order_id(&p.order(user, "nowpayments").await);
    let (status, out) = p.nowpayments(&ipn(8811, "finished", &b, 5.0)).await;
    assert_eq!(
        (status, out["outcome"].as_str()),
        (200, Some("applied")),
        "{out}"
    );
    assert_eq!(p.days(user).await, 60);
    assert_eq!(
        balance(&p.app, user).await,
        299 + 201,
        "the difference is the user's"
    );
    let credits = p
        .app
        .registry
        .store()
        .ledger(uid(user))
        .await
        .expect("ledger")
        .iter()
        .filter(|e| e.kind == LedgerKind::PaymentCredit)
        .map(|e| e.amount.minor)
        .collect::<Vec<_>>();
    assert_eq!(credits, vec![299, 201]);
    assert_eq!(
        alerts(&p.app, AlertKind::PaymentCredited).await,
        2,
        "admins told"
    );
    p.app.stop().await;
}

async fn a_late_deposit_after_failed_is_granted_once(db: Db) {
    let p = open(db).await;
    let user = 621;
    let order = order_id(&p.order(user, "nowpayments").await);
    let mut outcomes = Vec::new();
    for status in ["failed", "finished", "finished"] {
        let (code, body) = p.nowpayments(&ipn(8821, status, &order, 2.99)).await;
        assert_eq!(code, 200, "{body}");
        outcomes.push(body["outcome"].as_str().unwrap_or("duplicate").to_owned());
    }
    assert_eq!(outcomes, vec!["closed", "applied", "duplicate"]);
    assert_eq!(p.days(user).await, 30);
    let (_, view) = p.app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(view["order"]["status"], "paid");
    p.app.stop().await;
}

async fn a_refunded_top_up_that_was_spent_is_flagged_once(db: Db) {
    let p = open(db).await;
    let user = 631;
    let topup = order_id(&p.topup(user, 1000, "nowpayments").await);
    let (_, out) = p.nowpayments(&ipn(8831, "finished", &topup, 10.0)).await;
    assert_eq!(out["outcome"], "applied");
    let (status, _) = p
        .app
        .post(
            &format!("/ops/users/{user}/orders"),
            json!({ "plan": "month", "provider": "balance" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(balance(&p.app, user).await, 701);
    let (status, out) = p.nowpayments(&ipn(8831, "refunded", &topup, 10.0)).await;
    assert_eq!(
        (status, out["outcome"].as_str()),
        (200, Some("refund_shortfall")),
        "final, so the provider stops retrying: {out}"
    );
    let (status, out) = p.nowpayments(&ipn(8831, "refunded", &topup, 10.0)).await;
    assert_eq!((status, out["duplicate"].as_bool()), (200, Some(true)));
    assert_eq!(
        balance(&p.app, user).await,
        0,
        "taken back as far as it goes"
    );
    let (_, view) = p.app.get(&format!("/ops/orders/{topup}")).await;
    assert_eq!(view["order"]["flag"], "refund_shortfall");
    assert_eq!(
        alerts(&p.app, AlertKind::RefundShortfall).await,
        1,
        "told once"
    );
    assert_eq!(
        p.days(user).await,
        30,
        "the plan bought from the balance stays"
    );
    p.app.stop().await;
}

async fn signed_callbacks_are_never_rate_limited_but_forgeries_are(db: Db) {
    // The default budget: 120 per minute, bursts of 30.
    let p = start_with(db, |_| {}).await;
    let order = uuid::Uuid::new_v4().to_string();
    let bodies: Vec<String> = (0..500)
        .map(|i| {
            invoice_paid(50_000 + i, 60_000 + i, &order, "2.99").replace("\"paid\"", "\"active\"")
        })
        .collect();
    let mut statuses = Vec::new();
    let owned = p;
    let p = &owned;
    for chunk in bodies.chunks(50) {
        let sends = chunk
            .iter()
            .map(|b| async move { p.cryptobot(b, Some(&cryptobot_sig(b))).await.0 });
        statuses.extend(join_all(sends).await);
    }
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every signed callback accepted: {:?}",
        statuses.iter().filter(|s| **s != 200).count()
    );
    let forged = invoice_paid(99_999, 99_999, &order, "2.99");
    let mut refused = Vec::new();
    let started = std::time::Instant::now();
    for chunk in (0..500).collect::<Vec<_>>().chunks(50) {
        let sends = chunk
            .iter()
            .map(|_| async { p.cryptobot(&forged, Some("00")).await.0 });
        refused.extend(join_all(sends).await);
    }
    // The budget: a burst of 30, then 2 per second while the run lasts.
    let budget = 30 + (started.elapsed().as_secs_f64() * 2.0).ceil() as usize + 1;
    let unauthorized = refused.iter().filter(|s| **s == 401).count();
    let limited = refused.iter().filter(|s| **s == 429).count();
    assert_eq!(unauthorized + limited, 500, "{refused:?}");
    assert!(
        (30..=budget).contains(&unauthorized),
        "the burst of failures is answered 401, then 429: {unauthorized} / {limited} (budget {budget})"
    );
    // A signed callback from the same address still goes through.
    let body = invoice_paid(99_998, 99_998, &order, "2.99");
    assert_eq!(p.cryptobot(&body, Some(&cryptobot_sig(&body))).await.0, 200);
    owned.app.stop().await;
}

/// Two instances on one PostgreSQL: concurrent grants for one user split
/// across both never surface a conflict; every grant counts.
#[actix_rt::test]
async fn two_instances_retry_their_conflicts_and_every_grant_counts() {
    // Room in each mailbox for every request (a full mailbox is a deliberate
    // "busy", not a race).
    let roomy = |s: &mut subvisor::config::Settings| s.actors.mailbox_capacity = 256;
    let first = crate::helpers::spawn_app_with(
        Db::Postgres,
        std::sync::Arc::new(subvisor_actors::clock::SystemClock),
        roomy,
    )
    .await;
    let second = spawn_second_instance(&first, roomy).await;
    let user = 641;
    let grants = (0..200).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        async move {
            app.post(&format!("/ops/users/{user}/grant"), json!({ "days": 1 }))
                .await
        }
    });
    let answers = join_all(grants).await;
    let failed: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    let (_, view) = first.get(&format!("/ops/users/{user}")).await;
    assert_eq!(days_granted(&view), 200);
    second.stop().await;
    first.stop().await;
}
