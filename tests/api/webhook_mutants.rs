//! Payment callbacks at the edges of what `http/src/webhooks.rs` accepts,
//! written from its mutation-testing survivors (issue 16): the body bound,
//! the shapes of a NOWPayments IPN the parser takes (string ids and amounts,
//! an empty id), a Crypto Pay `invoice_paid` update whose invoice is not paid,
//! and the redacted `Debug` of the secrets. Every expected value is computed
//! here from the test's own inputs. One backend: parsing does not depend on
//! the store.

use serde_json::{Value, json};
use subvisor_http::{MAX_WEBHOOK_BODY, WebhookSecrets};
use subvisor_testkit::fake_payments::invoice_paid;

use crate::helpers::Db;
use crate::payments::{Payments, cryptobot_sig, ipn, nowpayments_body_and_sig, start_with};

async fn start() -> Payments {
    start_with(Db::Sqlite, |_| {}).await
}

async fn order_id(p: &Payments, user: i64, provider: &str) -> String {
    p.order(user, provider).await["order_id"]
        .as_str()
        .expect("order id")
        .to_owned()
}

/// A finished IPN for `order` padded (in a field the parser ignores) so that
/// its signed body is exactly `len` bytes.
fn ipn_of_length(payment_id: i64, order: &str, len: usize) -> (String, String) {
    let mut v = ipn(payment_id, "finished", order, 2.99);
    v["order_description"] = json!("");
    let bare = nowpayments_body_and_sig(&v).0.len();
    assert!(bare < len, "{bare} bytes before padding");
    v["order_description"] = json!("x".repeat(len - bare));
    let (body, sig) = nowpayments_body_and_sig(&v);
    assert_eq!(body.len(), len);
    (body, sig)
}

/// The bound is 64 KiB, inclusive: a signed callback of exactly
/// `MAX_WEBHOOK_BODY` bytes is taken, one byte more is refused with 413 and
/// nothing is stored; a few kilobytes are far inside it.
#[actix_rt::test]
async fn callbacks_up_to_64_kib_are_taken_and_one_byte_more_is_refused() {
    assert_eq!(MAX_WEBHOOK_BODY, 65_536);
    let p = start().await;

    let small = order_id(&p, 601, "nowpayments").await;
    let (body, sig) = ipn_of_length(6101, &small, 4096);
    let (status, out) = p.nowpayments_raw(&body, Some(&sig)).await;
    assert_eq!(
        (status, out["outcome"].as_str()),
        (200, Some("applied")),
        "{out}"
    );
    assert_eq!(p.days(601).await, 30);

    let over = order_id(&p, 602, "nowpayments").await;
    let (body, sig) = ipn_of_length(6102, &over, MAX_WEBHOOK_BODY + 1);
    let (status, _) = p.nowpayments_raw(&body, Some(&sig)).await;
    assert_eq!(status, 413);
    let (_, view) = p.app.get(&format!("/ops/orders/{over}")).await;
    assert_eq!(view["webhook_events"], json!([]), "{view}");
    assert_eq!(p.days(602).await, 0);

    let (body, sig) = ipn_of_length(6103, &over, MAX_WEBHOOK_BODY);
    let (status, out) = p.nowpayments_raw(&body, Some(&sig)).await;
    assert_eq!(
        (status, out["outcome"].as_str()),
        (200, Some("applied")),
        "{out}"
    );
    assert_eq!(p.days(602).await, 30);
    p.app.stop().await;
}

/// NOWPayments sends ids and amounts as numbers or as strings: a string
/// `payment_id` and a string `price_amount` are the same payment as numbers;
/// an empty `payment_id` is malformed (400) and stores nothing.
#[actix_rt::test]
async fn nowpayments_ids_and_amounts_may_be_strings_but_not_empty() {
    let p = start().await;
    let order = order_id(&p, 603, "nowpayments").await;

    let mut empty = ipn(0, "finished", &order, 2.99);
    empty["payment_id"] = json!("");
    let (status, err) = p.nowpayments(&empty).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "bad_request", "{err}");
    let (_, view) = p.app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(view["webhook_events"], json!([]), "{view}");

    let mut strings = ipn(0, "finished", &order, 0.0);
    strings["payment_id"] = json!("6104");
    strings["price_amount"] = json!("2.99");
    let (status, out) = p.nowpayments(&strings).await;
    assert_eq!(
        (status, out["outcome"].as_str()),
        (200, Some("applied")),
        "{out}"
    );
    assert_eq!(p.days(603).await, 30);
    let (_, view) = p.app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(view["order"]["status"], "paid");
    assert_eq!(view["order"]["provider_payment_id"], "nowpayments:6104");
    assert_eq!(view["payments"][0]["amount"]["minor"], 299, "{view}");
    p.app.stop().await;
}

/// An `invoice_paid` update is a payment only when its invoice says `paid`:
/// with any other status it is stored as progress and grants nothing.
#[actix_rt::test]
async fn an_invoice_paid_update_of_an_unpaid_invoice_grants_nothing() {
    let p = start().await;
    let order = order_id(&p, 604, "cryptobot").await;
    let mut update: Value =
        serde_json::from_str(&invoice_paid(6105, 6106, &order, "2.99")).expect("json");
    update["payload"]["status"] = json!("active");
    let body = update.to_string();
    let (status, out) = p.cryptobot(&body, Some(&cryptobot_sig(&body))).await;
    assert_eq!(
        (status, out["outcome"].as_str()),
        (200, Some("recorded")),
        "{out}"
    );
    assert_eq!(p.days(604).await, 0);
    let (_, view) = p.app.get(&format!("/ops/orders/{order}")).await;
    assert_eq!(view["order"]["status"], "pending");
    assert_eq!(view["payments"], json!([]), "{view}");
    p.app.stop().await;
}

/// The secrets never reach a log line: `Debug` names which providers are
/// configured and nothing else.
#[test]
fn webhook_secrets_debug_is_redacted() {
    let secrets = WebhookSecrets {
        cryptobot: Some(("cb-token-123".into(), 2)),
        nowpayments: None,
    };
    assert_eq!(
        format!("{secrets:?}"),
        "WebhookSecrets { cryptobot: Some(\"<redacted>\"), nowpayments: None }"
    );
}
