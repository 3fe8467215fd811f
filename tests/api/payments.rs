//! Payments end to end: orders through the ops API, invoices at fake providers,
//! signed callbacks on the public listener. Signatures are computed here from
//! the providers' documented formulas, independently of the code under test.

use std::sync::Arc;

use chrono::Utc;
use futures_util::future::join_all;
use serde_json::{Value, json};
use subvisor::config::{CryptoBotSettings, NowPaymentsSettings, Settings};
use subvisor_actors::clock::{Clock, SystemClock};
use subvisor_actors::domain::LedgerKind;
use subvisor_testkit::fake_payments::{FakeCryptoPay, FakeNowPayments, invoice_paid};
use subvisor_testkit::fixtures::uid;
use subvisor_testkit::signers::{cryptobot_signature, nowpayments_signature};

use crate::helpers::{Db, TestApp, both_backends, days_granted, spawn_app_with};

const CB_TOKEN: &str = "12345:AAzQcZWQqQAbsfgPnOLr4FHC8Doa4L7KryC";
const NP_KEY: &str = "np-api-key";
const NP_SECRET: &str = "np-ipn-secret";
/// The NOWPayments account the reconciler logs in with.
pub(crate) const NP_EMAIL: &str = "ops@example.com";
const NP_PASSWORD: &str = "np-password";

pub(crate) struct Payments {
    pub(crate) app: TestApp,
    pub(crate) cryptopay: FakeCryptoPay,
    pub(crate) nowpayments: FakeNowPayments,
}

async fn start(db: Db) -> Payments {
    start_with(db, |s| {
        s.http.public_rate_per_minute = 100_000;
        s.http.public_rate_burst = 10_000;
    })
    .await
}

/// The application with both invoice-page providers (fakes, the NOWPayments
/// account included) and any other settings changed by `configure`.
pub(crate) async fn start_with(db: Db, configure: impl FnOnce(&mut Settings)) -> Payments {
    start_with_clock(db, Arc::new(SystemClock), configure).await
}

/// [`start_with`] on `clock`.
pub(crate) async fn start_with_clock(
    db: Db,
    clock: Arc<dyn Clock>,
    configure: impl FnOnce(&mut Settings),
) -> Payments {
    let cryptopay = FakeCryptoPay::start(CB_TOKEN).expect("fake crypto pay");
    let nowpayments = FakeNowPayments::start(NP_KEY).expect("fake nowpayments");
    nowpayments.set_account(NP_EMAIL, NP_PASSWORD);
    let (cb_url, np_url) = (cryptopay.base_url(), nowpayments.base_url());
    let app = spawn_app_with(db, clock, move |s| {
        s.payments.cryptobot = Some(
            serde_json::from_value::<CryptoBotSettings>(
                json!({ "token": CB_TOKEN, "base_url": cb_url }),
            )
            .expect("settings"),
        );
        s.payments.nowpayments = Some(
            serde_json::from_value::<NowPaymentsSettings>(json!({
                "api_key": NP_KEY, "ipn_secret": NP_SECRET, "base_url": np_url,
                "email": NP_EMAIL, "password": NP_PASSWORD,
            }))
            .expect("settings"),
        );
        configure(s);
    })
    .await;
    Payments {
        app,
        cryptopay,
        nowpayments,
    }
}

pub(crate) fn cryptobot_sig(body: &str) -> String {
    cryptobot_signature(CB_TOKEN, body)
}

/// serde_json's map is sorted by key (no `preserve_order`), so `to_string` is
/// the recursively key-sorted compact JSON NOWPayments signs.
pub(crate) fn nowpayments_body_and_sig(v: &Value) -> (String, String) {
    let body = v.to_string();
    let sig = nowpayments_signature(NP_SECRET, &body);
    (body, sig)
}

pub(crate) fn ipn(payment_id: i64, status: &str, order: &str, price: f64) -> Value {
    json!({
        "payment_id": payment_id, "payment_status": status, "pay_address": "TXyz",
        "price_amount": price, "price_currency": "usd", "pay_amount": 2.99, "actually_paid": 0,
        "pay_currency": "usdttrc20", "order_id": order, "order_description": "1 month",
        "outcome_amount": null, "outcome_currency": "usdttrc20",
        "fee": { "currency": "usdttrc20", "depositFee": 0, "serviceFee": 0.0149, "withdrawalFee": 0 },
    })
}

impl Payments {
    pub(crate) async fn order(&self, user: i64, provider: &str) -> Value {
        let (status, body) = self
            .app
            .post(
                &format!("/ops/users/{user}/orders"),
                json!({ "plan": "month", "provider": provider }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub(crate) async fn cryptobot(&self, body: &str, sig: Option<&str>) -> (u16, Value) {
        let mut req = self
            .app
            .http
            .post(format!("{}/pay/cryptobot", self.app.public))
            .body(body.to_owned());
        if let Some(sig) = sig {
            req = req.header("crypto-pay-api-signature", sig);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn nowpayments(&self, v: &Value) -> (u16, Value) {
        let (body, sig) = nowpayments_body_and_sig(v);
        self.nowpayments_raw(&body, Some(&sig)).await
    }

    /// A NOWPayments callback exactly as given: `body` as the raw body, `sig`
    /// (if any) as the `x-nowpayments-sig` header.
    pub(crate) async fn nowpayments_raw(&self, body: &str, sig: Option<&str>) -> (u16, Value) {
        let mut req = self
            .app
            .http
            .post(format!("{}/pay/nowpayments", self.app.public))
            .body(body.to_owned());
        if let Some(sig) = sig {
            req = req.header("x-nowpayments-sig", sig);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn days(&self, user: i64) -> i64 {
        let (status, v) = self.app.get(&format!("/ops/users/{user}")).await;
        if status == 404 {
            return 0;
        }
        days_granted(&v)
    }

    /// A top-up of the balance by `minor` through `provider`.
    pub(crate) async fn topup(&self, user: i64, minor: i64, provider: &str) -> Value {
        let (status, created) = self
            .app
            .post(
                &format!("/ops/users/{user}/orders"),
                json!({ "topup_minor": minor, "provider": provider }),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(created["kind"], "topup");
        created
    }
}

both_backends!(
    two_hundred_deliveries_of_one_paid_invoice_extend_once,
    forged_and_malformed_callbacks_change_nothing,
    a_wrong_amount_never_grants_and_is_kept_for_the_user,
    nowpayments_statuses_out_of_order_grant_once,
    a_callback_interrupted_by_a_crash_is_processed_on_retry,
    a_provider_top_up_credits_the_balance,
    three_providers_at_once_give_the_exact_sum,
    forged_nowpayments_callbacks_change_nothing,
    refunds_give_back_exactly_what_was_paid_and_only_once,
);

async fn two_hundred_deliveries_of_one_paid_invoice_extend_once(db: Db) {
    let p = start(db).await;
    let created = p.order(501, "cryptobot").await;
    let order = created["order_id"].as_str().expect("order id").to_owned();
    assert!(
        created["payment_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http")),
        "{created}"
    );
    let invoice = p
        .cryptopay
        .invoices()
        .pop()
        .expect("invoice created at the provider");
    assert_eq!(invoice["payload"], order.as_str());
    assert_eq!(invoice["amount"], "2.99");

    let body = invoice_paid(9001, 77, &order, "2.99");
    let sig = cryptobot_sig(&body);
    let sends = (0..200).map(|_| p.cryptobot(&body, Some(&sig)));
    let results = join_all(sends).await;
    assert!(
        results.iter().all(|(s, _)| *s == 200),
        "{:?}",
        results.iter().find(|r| r.0 != 200)
    );
    let applied = results
        .iter()
        .filter(|(_, b)| b["outcome"] == "applied")
        .count();
    assert_eq!(applied, 1, "exactly one delivery applied");
    assert_eq!(p.days(501).await, 30);

    let (_, view) = p.app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(view["order"]["status"], "paid");
    assert_eq!(view["order"]["provider_payment_id"], "cryptobot:77");
    assert_eq!(
        view["webhook_events"].as_array().map(Vec::len),
        Some(1),
        "stored once: {view}"
    );
    assert_eq!(view["webhook_events"][0]["outcome"], "applied");
    p.app.stop().await;
}

async fn forged_and_malformed_callbacks_change_nothing(db: Db) {
    let p = start(db).await;
    let created = p.order(502, "cryptobot").await;
    let order = created["order_id"].as_str().expect("order id").to_owned();
    let body = invoice_paid(9002, 78, &order, "2.99");
    let good = cryptobot_sig(&body);
    let mut tampered = body.clone().into_bytes();
    let at = tampered.iter().position(|b| *b == b'9').expect("a digit");
    tampered[at] = b'8';
    let tampered = String::from_utf8(tampered).expect("utf-8");
    for (body, sig) in [
        (body.as_str(), None),
        (body.as_str(), Some("00")),
        (body.as_str(), Some(&cryptobot_sig("something else")[..])),
        (tampered.as_str(), Some(good.as_str())),
    ] {
        let (status, err) = p.cryptobot(body, sig).await;
        assert_eq!(status, 401, "{err}");
        assert_eq!(err["error"]["code"], "unauthorized");
    }
    let (_, view) = p.app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(view["order"]["status"], "pending");
    assert_eq!(
        view["webhook_events"],
        json!([]),
        "nothing stored for forged callbacks"
    );
    assert_eq!(p.days(502).await, 0);
    let metrics = p.app.metrics().await;
    assert!(
        metrics
            .contains("subvisor_payments_total{provider=\"cryptobot\",outcome=\"bad_signature\"}"),
        "{metrics}"
    );

    // Signed but malformed → 400; unknown order → 200, recorded; oversized → refused.
    let junk = "{\"update_id\": \"x\"";
    assert_eq!(p.cryptobot(junk, Some(&cryptobot_sig(junk))).await.0, 400);
    let unknown = invoice_paid(9003, 79, &uuid::Uuid::new_v4().to_string(), "2.99");
    let (status, body) = p.cryptobot(&unknown, Some(&cryptobot_sig(&unknown))).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("unknown_order"))
    );
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    let (status, _) = p.cryptobot(&huge, Some(&cryptobot_sig(&huge))).await;
    assert_eq!(status, 413, "bodies over 64 KiB are refused");
    p.app.stop().await;
}

async fn a_wrong_amount_never_grants_and_is_kept_for_the_user(db: Db) {
    let p = start(db).await;
    let created = p.order(503, "cryptobot").await;
    let order = created["order_id"].as_str().expect("order id").to_owned();
    let body = invoice_paid(9004, 80, &order, "2.98");
    let (status, out) = p.cryptobot(&body, Some(&cryptobot_sig(&body))).await;
    assert_eq!((status, out["outcome"].as_str()), (200, Some("credited")));
    let (_, view) = p.app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(view["order"]["status"], "pending");
    assert_eq!(view["payments"][0]["settlement"], "credited");
    assert_eq!(view["payments"][0]["reason"], "underpaid");
    assert_eq!(p.days(503).await, 0, "no grant on a mismatch");
    let (_, user) = p.app.get("/ops/users/503").await;
    assert_eq!(user["balance"]["minor"], 298, "the money is the user's");
    p.app.stop().await;
}

async fn nowpayments_statuses_out_of_order_grant_once(db: Db) {
    let p = start(db).await;
    let created = p.order(504, "nowpayments").await;
    let order = created["order_id"].as_str().expect("order id").to_owned();
    let invoice = p.nowpayments.invoices().pop().expect("invoice");
    assert_eq!(invoice["order_id"], order.as_str());
    assert!(
        invoice["ipn_callback_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/pay/nowpayments"))
    );
    let mut outcomes = Vec::new();
    for status in ["finished", "waiting", "confirming", "finished"] {
        let (code, body) = p.nowpayments(&ipn(4242, status, &order, 2.99)).await;
        assert_eq!(code, 200, "{body}");
        outcomes.push(body["outcome"].as_str().unwrap_or("duplicate").to_owned());
    }
    assert_eq!(
        outcomes,
        vec!["applied", "recorded", "recorded", "duplicate"]
    );
    assert_eq!(p.days(504).await, 30);
    let (_, view) = p.app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(view["order"]["status"], "paid", "final status stays paid");
    assert_eq!(view["webhook_events"].as_array().map(Vec::len), Some(3));

    // partially_paid flags; an unknown status grants nothing; failed closes a pending order.
    let other = p.order(505, "nowpayments").await["order_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        p.nowpayments(&ipn(4243, "partially_paid", &other, 2.99))
            .await
            .1["outcome"],
        "flagged"
    );
    assert_eq!(
        p.nowpayments(&ipn(4243, "mystery", &other, 2.99)).await.1["outcome"],
        "unknown_status"
    );
    assert_eq!(
        p.nowpayments(&ipn(4243, "failed", &other, 2.99)).await.1["outcome"],
        "closed"
    );
    let (_, view) = p.app.get(&format!("/ops/orders/{other}")).await;
    assert_eq!(
        (
            view["order"]["status"].as_str(),
            view["order"]["flag"].as_str()
        ),
        (Some("failed"), Some("partially_paid"))
    );
    assert_eq!(p.days(505).await, 0);
    p.app.stop().await;
}

async fn three_providers_at_once_give_the_exact_sum(db: Db) {
    let p = start(db).await;
    let user = 506;
    p.app.credit(user, 299).await;
    let cb = p.order(user, "cryptobot").await["order_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let np = p.order(user, "nowpayments").await["order_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let cb_body = invoice_paid(9100, 90, &cb, "2.99");
    let cb_sig = cryptobot_sig(&cb_body);
    let np_ipn = ipn(5000, "finished", &np, 2.99);
    let orders = format!("/ops/users/{user}/orders");
    let (a, b, c) = tokio::join!(
        p.cryptobot(&cb_body, Some(&cb_sig)),
        p.nowpayments(&np_ipn),
        p.app
            .post(&orders, json!({ "plan": "month", "provider": "balance" })),
    );
    assert_eq!((a.0, b.0, c.0), (200, 200, 200), "{a:?} {b:?} {c:?}");
    assert_eq!(p.days(user).await, 90, "3 × 30 days");
    let (_, view) = p.app.get(&format!("/ops/users/{user}")).await;
    assert_eq!(
        view["balance"]["minor"], 0,
        "the balance paid exactly one plan"
    );
    // Not enough balance now: a clear refusal.
    let (status, body) = p
        .app
        .post(
            &format!("/ops/users/{user}/orders"),
            json!({ "plan": "month", "provider": "balance" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("insufficient_funds"))
    );
    // A refund takes the days back.
    let (status, refunded) = p
        .app
        .post(&format!("/ops/orders/{cb}/refund"), json!({}))
        .await;
    assert_eq!(status, 200, "{refunded}");
    assert_eq!(p.days(user).await, 60);
    p.app.stop().await;
}

/// The process died after storing a callback and before applying it: the
/// provider's retry must not be swallowed as a duplicate.
async fn a_callback_interrupted_by_a_crash_is_processed_on_retry(db: Db) {
    let p = start(db).await;
    let order = p.order(507, "cryptobot").await["order_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let body = invoice_paid(9200, 91, &order, "2.99");
    // What the dead process left behind: stored, never applied.
    let usd = subvisor_actors::domain::Money::new(299, "USD".parse().expect("currency"));
    let event = subvisor_actors::payments::events::cryptobot_paid(
        91,
        Some(order.parse().expect("order id")),
        usd,
    );
    let left = subvisor_actors::store::NewPaymentEvent {
        provider: "cryptobot".into(),
        event_id: event.event_id.clone(),
        order: event.order,
        received_at: Utc::now() - chrono::Duration::minutes(5),
        payload: body.clone(),
        event: serde_json::to_string(&event).expect("json"),
    };
    assert_eq!(
        p.app
            .registry
            .store()
            .record_payment_event(&left)
            .await
            .expect("seed"),
        subvisor_actors::store::EventRecord::New
    );
    let (status, out) = p.cryptobot(&body, Some(&cryptobot_sig(&body))).await;
    assert_eq!(
        (status, out["outcome"].as_str()),
        (200, Some("applied")),
        "{out}"
    );
    assert_eq!(p.days(507).await, 30);
    // And now it is a plain duplicate.
    let (_, again) = p.cryptobot(&body, Some(&cryptobot_sig(&body))).await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(p.days(507).await, 30);
    p.app.stop().await;
}

async fn a_provider_top_up_credits_the_balance(db: Db) {
    let p = start(db).await;
    let user = 508;
    let created = p.topup(user, 1000, "nowpayments").await;
    let order = created["order_id"].as_str().expect("id").to_owned();
    assert_eq!(
        p.nowpayments.invoices().pop().expect("invoice")["price_amount"],
        json!(10)
    );
    let (status, out) = p.nowpayments(&ipn(6000, "finished", &order, 10.0)).await;
    assert_eq!(
        (status, out["outcome"].as_str()),
        (200, Some("applied")),
        "{out}"
    );
    let (_, view) = p.app.get(&format!("/ops/users/{user}")).await;
    assert_eq!(view["balance"]["minor"], 1000);
    assert_eq!(p.days(user).await, 0, "a top-up buys no days");
    // Spend it on a plan, then refund the top-up: what is left comes back,
    // the spent rest is a shortfall flagged for ops — not an error loop.
    let (status, _) = p
        .app
        .post(
            &format!("/ops/users/{user}/orders"),
            json!({ "plan": "month", "provider": "balance" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(p.days(user).await, 30);
    let (_, view) = p.app.get(&format!("/ops/users/{user}")).await;
    assert_eq!(view["balance"]["minor"], 701);
    let (status, body) = p
        .app
        .post(&format!("/ops/orders/{order}/refund"), json!({}))
        .await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (200, Some("refund_shortfall")),
        "{body}"
    );
    assert_eq!(body["user"]["balance"]["minor"], 0);
    let (_, view) = p.app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(view["order"]["status"], "refunded");
    assert_eq!(view["order"]["flag"], "refund_shortfall");
    let (status, again) = p
        .app
        .post(&format!("/ops/orders/{order}/refund"), json!({}))
        .await;
    assert_eq!(
        (status, again["outcome"].as_str()),
        (200, Some("refund_shortfall")),
        "a duplicate: {again}"
    );
    // Bad requests are explained.
    for bad in [
        json!({ "provider": "nowpayments" }),
        json!({ "plan": "month", "topup_minor": 5, "provider": "nowpayments" }),
        json!({ "topup_minor": 5, "provider": "balance" }),
        json!({ "topup_minor": -5, "provider": "nowpayments" }),
    ] {
        let (status, body) = p
            .app
            .post(&format!("/ops/users/{user}/orders"), bad.clone())
            .await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    p.app.stop().await;
}

/// Every ledger entry of `user` as (kind, signed minor units, order).
pub(crate) async fn ledger(app: &TestApp, user: i64) -> Vec<(LedgerKind, i64, Option<String>)> {
    app.registry
        .store()
        .ledger(uid(user))
        .await
        .expect("ledger")
        .into_iter()
        .map(|e| (e.kind, e.amount.minor, e.order.map(|o| o.to_string())))
        .collect()
}

/// The ledger entries of `user` that name `order`, as (kind, signed minor units).
async fn ledger_of(app: &TestApp, user: i64, order: &str) -> Vec<(LedgerKind, i64)> {
    ledger(app, user)
        .await
        .into_iter()
        .filter(|(_, _, o)| o.as_deref() == Some(order))
        .map(|(kind, minor, _)| (kind, minor))
        .collect()
}

async fn balance_of(app: &TestApp, user: i64) -> i64 {
    let (status, view) = app.get(&format!("/ops/users/{user}")).await;
    assert_eq!(status, 200, "{view}");
    view["balance"]["minor"].as_i64().expect("balance")
}

/// NOWPayments callbacks that are not signed with our IPN secret over exactly
/// the body received are refused and leave no trace; the genuine one is then
/// applied once.
async fn forged_nowpayments_callbacks_change_nothing(db: Db) {
    let p = start(db).await;
    let user = 509;
    let order = p.order(user, "nowpayments").await["order_id"]
        .as_str()
        .expect("order id")
        .to_owned();
    let genuine = ipn(7001, "finished", &order, 2.99);
    let (body, good) = nowpayments_body_and_sig(&genuine);
    // Another payment of this order, signed correctly for itself.
    let (_, other_sig) = nowpayments_body_and_sig(&ipn(7002, "finished", &order, 2.99));
    // Same signature, the body changed after signing (amount, payment, status).
    let tampered: Vec<String> = [
        ("price_amount", json!(0.01)),
        ("payment_id", json!(7003)),
        ("order_id", json!(uuid::Uuid::new_v4().to_string())),
    ]
    .into_iter()
    .map(|(key, value)| {
        let mut v = genuine.clone();
        v[key] = value;
        v.to_string()
    })
    .collect();
    let wrong_secret = nowpayments_signature("not-our-ipn-secret", &body);
    let mut forgeries: Vec<(&str, Option<&str>, &str)> = vec![
        (&body, None, "no signature header"),
        (&body, Some(""), "an empty signature"),
        (&body, Some("00"), "a short signature"),
        (&body, Some("not hex at all"), "a signature that is not hex"),
        (&body, Some(&wrong_secret), "signed with another secret"),
        (&body, Some(&other_sig), "the signature of another body"),
    ];
    for t in &tampered {
        forgeries.push((t, Some(&good), "a body changed after signing"));
    }
    for (body, sig, what) in forgeries {
        let (status, err) = p.nowpayments_raw(body, sig).await;
        assert_eq!(status, 401, "{what} must be refused: {err}");
        assert_eq!(err["error"]["code"], "unauthorized", "{what}");
    }

    let (_, view) = p.app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(view["order"]["status"], "pending", "{view}");
    assert_eq!(view["webhook_events"], json!([]), "nothing stored: {view}");
    assert_eq!(view["payments"], json!([]), "no payment recorded: {view}");
    assert_eq!(p.days(user).await, 0, "no days granted");
    assert_eq!(ledger(&p.app, user).await, vec![], "no money moved");
    let metrics = p.app.metrics().await;
    assert!(
        metrics.contains(
            "subvisor_payments_total{provider=\"nowpayments\",outcome=\"bad_signature\"}"
        ),
        "{metrics}"
    );

    // The genuine callback still goes through, once.
    let (status, out) = p.nowpayments_raw(&body, Some(&good)).await;
    assert_eq!(
        (status, out["outcome"].as_str()),
        (200, Some("applied")),
        "{out}"
    );
    assert_eq!(p.days(user).await, 30);
    assert_eq!(
        ledger_of(&p.app, user, &order).await,
        vec![(LedgerKind::Payment, 299), (LedgerKind::Purchase, -299)]
    );
    // A forgery after it changes nothing either.
    let (status, _) = p.nowpayments_raw(&tampered[1], Some(&good)).await;
    assert_eq!(status, 401);
    let (_, view) = p.app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(view["webhook_events"].as_array().map(Vec::len), Some(1));
    assert_eq!(view["payments"].as_array().map(Vec::len), Some(1));
    assert_eq!(p.days(user).await, 30);
    p.app.stop().await;
}

/// Refunds through the ops API, amounts computed from this test's inputs: a
/// balance purchase gives its price back to the balance once; a provider
/// purchase goes back through the provider (the balance does not move) and
/// takes its days; a second refund of either does nothing.
async fn refunds_give_back_exactly_what_was_paid_and_only_once(db: Db) {
    /// What the ops credit: the user's own money.
    const CREDIT: i64 = 1000;
    /// The month plan: 2.99 USD, 30 days.
    const PRICE: i64 = 299;
    const DAYS: i64 = 30;
    let p = start(db).await;
    let user = 520;
    p.app.credit(user, CREDIT).await;
    let (status, bought) = p
        .app
        .post(
            &format!("/ops/users/{user}/orders"),
            json!({ "plan": "month", "provider": "balance" }),
        )
        .await;
    assert_eq!(status, 200, "{bought}");
    let from_balance = bought["order_id"].as_str().expect("id").to_owned();
    assert_eq!(balance_of(&p.app, user).await, CREDIT - PRICE);
    let by_provider = p.order(user, "cryptobot").await["order_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let body = invoice_paid(9300, 93, &by_provider, "2.99");
    let (status, out) = p.cryptobot(&body, Some(&cryptobot_sig(&body))).await;
    assert_eq!((status, out["outcome"].as_str()), (200, Some("applied")));
    assert_eq!(p.days(user).await, 2 * DAYS);
    assert_eq!(
        balance_of(&p.app, user).await,
        CREDIT - PRICE,
        "a provider payment passes through the ledger"
    );

    let refund = |order: String| {
        let app = &p.app;
        async move {
            let (status, body) = app
                .post(&format!("/ops/orders/{order}/refund"), json!({}))
                .await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    // The provider purchase: the money goes back through Crypto Pay, the
    // balance stays, the days go.
    let out = refund(by_provider.clone()).await;
    assert_eq!(out["outcome"], "refunded", "{out}");
    assert_eq!(out["user"]["balance"]["minor"], CREDIT - PRICE, "{out}");
    assert_eq!(balance_of(&p.app, user).await, CREDIT - PRICE);
    assert_eq!(p.days(user).await, DAYS);
    assert_eq!(
        ledger_of(&p.app, user, &by_provider).await,
        vec![
            (LedgerKind::Payment, PRICE),
            (LedgerKind::Purchase, -PRICE),
            (LedgerKind::Refund, PRICE),
            (LedgerKind::Payout, -PRICE),
        ],
        "in, spent, given back, paid out"
    );

    // The balance purchase: exactly its price back, once; access ends.
    let out = refund(from_balance.clone()).await;
    assert_eq!(out["outcome"], "refunded", "{out}");
    assert_eq!(out["user"]["balance"]["minor"], CREDIT, "{out}");
    assert_eq!(
        balance_of(&p.app, user).await,
        CREDIT,
        "the balance is what it was before the purchase"
    );
    assert_eq!(p.days(user).await, 0);
    assert_eq!(
        ledger_of(&p.app, user, &from_balance).await,
        vec![(LedgerKind::Purchase, -PRICE), (LedgerKind::Refund, PRICE)],
        "one refund credit of the price, naming its order"
    );

    // Again, both: nothing more moves.
    let before = ledger(&p.app, user).await;
    for order in [&from_balance, &by_provider] {
        let out = refund(order.clone()).await;
        assert_eq!(out["user"]["balance"]["minor"], CREDIT, "{out}");
    }
    assert_eq!(balance_of(&p.app, user).await, CREDIT);
    assert_eq!(p.days(user).await, 0);
    assert_eq!(ledger(&p.app, user).await, before, "no new ledger entry");
    let refunds: Vec<(i64, Option<String>)> = before
        .into_iter()
        .filter(|(kind, _, _)| *kind == LedgerKind::Refund)
        .map(|(_, minor, order)| (minor, order))
        .collect();
    assert_eq!(
        refunds,
        vec![(PRICE, Some(by_provider)), (PRICE, Some(from_balance))]
    );
    p.app.stop().await;
}
