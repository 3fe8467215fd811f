//! The Crypto Pay and NOWPayments clients against the fakes of
//! `subvisor_testkit::fake_payments`: exact request bodies, URLs returned,
//! invoices and payments read back with exact amounts, and every failure
//! mapped to `Error::Provider` without the credential.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::json;
use subvisor_actors::Error;
use subvisor_actors::domain::{Currency, Money, OrderId};
use subvisor_actors::payments::cryptobot::{CryptoInvoice, CryptoInvoiceStatus};
use subvisor_actors::payments::nowpayments::NpPayment;
use subvisor_actors::payments::{
    CryptoBotClient, CryptoBotConfig, CryptoBotPricing, NowPaymentsClient, NowPaymentsConfig,
    minor_to_decimal,
};
use subvisor_testkit::fake_payments::{FakeCryptoPay, FakeNowPayments};
use subvisor_testkit::free_port;

const TOKEN: &str = "12345:AAcorrect-crypto-pay-token";
const WRONG_TOKEN: &str = "12345:AAwrong-crypto-pay-token-do-not-leak";
const API_KEY: &str = "A7M40XV-CG1448Z-KVVED3G-NW3V0TK";
const WRONG_KEY: &str = "WRONG00-KEY0000-DONOTLE-AK00000";
const IPN_URL: &str = "https://bot.example.com/webhooks/nowpayments";
const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "dashboard-Passw0rd-do-not-leak";
const WRONG_PASSWORD: &str = "wrong-Passw0rd-do-not-leak";

fn money(minor: i64, currency: &str) -> Money {
    Money::new(minor, Currency::new(currency).unwrap())
}

fn cryptobot(base_url: &str, token: &str, pricing: CryptoBotPricing) -> CryptoBotClient {
    CryptoBotClient::new(CryptoBotConfig {
        token: SecretString::from(token),
        base_url: base_url.to_owned(),
        pricing,
        expires_in: None,
    })
    .expect("valid Crypto Pay settings")
}

fn usdt() -> CryptoBotPricing {
    CryptoBotPricing::Asset {
        asset: "USDT".into(),
        decimals: 2,
    }
}

fn nowpayments(base_url: &str, key: &str, decimals: u32) -> NowPaymentsClient {
    NowPaymentsClient::new(NowPaymentsConfig {
        api_key: SecretString::from(key),
        base_url: base_url.to_owned(),
        ipn_callback_url: IPN_URL.to_owned(),
        decimals,
        email: None,
        password: None,
    })
    .expect("valid NOWPayments settings")
}

/// A client with the dashboard login (for the payment list).
fn nowpayments_login(base_url: &str, password: &str, decimals: u32) -> NowPaymentsClient {
    NowPaymentsClient::new(NowPaymentsConfig {
        api_key: SecretString::from(API_KEY),
        base_url: base_url.to_owned(),
        ipn_callback_url: IPN_URL.to_owned(),
        decimals,
        email: Some(EMAIL.to_owned()),
        password: Some(SecretString::from(password)),
    })
    .expect("valid NOWPayments settings")
}

/// The provider error's message; panics on any other outcome.
fn provider_message<T: std::fmt::Debug>(
    result: Result<T, Error>,
    expected_provider: &str,
) -> String {
    match result {
        Err(Error::Provider { provider, message }) => {
            assert_eq!(provider, expected_provider);
            message
        }
        other => panic!("expected Error::Provider, got {other:?}"),
    }
}

fn assert_no_secret(err_text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !err_text.contains(secret),
            "a credential leaked into {err_text:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Crypto Pay

#[tokio::test]
async fn cryptobot_asset_invoice_sends_the_exact_body() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let client = CryptoBotClient::new(CryptoBotConfig {
        token: SecretString::from(TOKEN),
        base_url: fake.base_url(),
        pricing: usdt(),
        expires_in: Some(900),
    })
    .unwrap();
    let order = OrderId::random();

    let invoice = client
        .create_invoice(order, &money(299, "USDT"), "VPN 30 days")
        .await
        .unwrap();

    assert_eq!(
        fake.invoices(),
        vec![json!({
            "currency_type": "crypto",
            "asset": "USDT",
            "amount": "2.99",
            "description": "VPN 30 days",
            "payload": order.uuid().to_string(),
            "expires_in": 900,
        })]
    );
    assert!(
        fake.raw_invoices()[0].contains(r#""amount":"2.99""#),
        "the amount goes out as a string"
    );
    assert_eq!(invoice.provider_invoice_id, "1");
    assert_eq!(
        invoice.pay_url,
        "https://t.me/CryptoTestnetBot?start=IVfake0000000001"
    );
}

#[tokio::test]
async fn cryptobot_fiat_invoice_sends_the_exact_body() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let order = OrderId::random();
    let with_assets = cryptobot(
        &fake.base_url(),
        TOKEN,
        CryptoBotPricing::Fiat {
            accepted_assets: Some("USDT,TON".into()),
            decimals: 2,
        },
    );
    let any_asset = cryptobot(
        &format!("{}/", fake.base_url()), // a trailing slash is fine
        TOKEN,
        CryptoBotPricing::Fiat {
            accepted_assets: None,
            decimals: 2,
        },
    );

    let first = with_assets
        .create_invoice(order, &money(299, "USD"), "VPN 30 days")
        .await
        .unwrap();
    let second = any_asset
        .create_invoice(order, &money(123456, "EUR"), "VPN 1 year")
        .await
        .unwrap();

    assert_eq!(
        fake.invoices(),
        vec![
            json!({
                "currency_type": "fiat",
                "fiat": "USD",
                "accepted_assets": "USDT,TON",
                "amount": "2.99",
                "description": "VPN 30 days",
                "payload": order.to_string(),
            }),
            json!({
                "currency_type": "fiat",
                "fiat": "EUR",
                "amount": "1234.56",
                "description": "VPN 1 year",
                "payload": order.to_string(),
            }),
        ]
    );
    assert_eq!(first.provider_invoice_id, "1");
    assert_eq!(second.provider_invoice_id, "2");
    assert!(second.pay_url.starts_with("https://t.me/"), "{second:?}");
}

#[tokio::test]
async fn cryptobot_wrong_token_is_a_provider_error_naming_the_api_error() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let client = cryptobot(&fake.base_url(), WRONG_TOKEN, usdt());

    let result = client
        .create_invoice(OrderId::random(), &money(299, "USDT"), "VPN")
        .await;
    let debug = format!("{result:?}");
    let message = provider_message(result, "cryptobot");

    assert!(message.contains("UNAUTHORIZED"), "{message}");
    assert!(message.contains("401"), "{message}");
    assert_no_secret(&message, &[WRONG_TOKEN, TOKEN]);
    assert_no_secret(&debug, &[WRONG_TOKEN, TOKEN]);
    assert!(fake.invoices().is_empty());
}

#[tokio::test]
async fn cryptobot_server_failure_is_a_provider_error() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    fake.set_failing(true);
    let client = cryptobot(&fake.base_url(), TOKEN, usdt());

    let message = provider_message(
        client
            .create_invoice(OrderId::random(), &money(299, "USDT"), "VPN")
            .await,
        "cryptobot",
    );
    assert!(message.contains("500"), "{message}");
    assert_no_secret(&message, &[TOKEN]);
    assert!(fake.invoices().is_empty());

    fake.set_failing(false);
    client
        .create_invoice(OrderId::random(), &money(299, "USDT"), "VPN")
        .await
        .expect("works again once the server recovers");
}

#[tokio::test]
async fn cryptobot_unreachable_server_fails_fast() {
    let base = format!("http://127.0.0.1:{}/api", free_port());
    let client = cryptobot(&base, TOKEN, usdt());

    let started = Instant::now();
    let message = provider_message(
        client
            .create_invoice(OrderId::random(), &money(299, "USDT"), "VPN")
            .await,
        "cryptobot",
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(message.contains("cannot connect"), "{message}");
    assert_no_secret(&message, &[TOKEN]);
}

#[tokio::test]
async fn cryptobot_refuses_bad_amounts_before_calling() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let client = cryptobot(&fake.base_url(), TOKEN, usdt());
    for amount in [money(299, "USD"), money(0, "USDT"), money(-5, "USDT")] {
        let result = client
            .create_invoice(OrderId::random(), &amount, "VPN")
            .await;
        assert!(
            matches!(result, Err(Error::InvalidInput { .. })),
            "{amount}: {result:?}"
        );
    }
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn cryptobot_get_invoices_reads_status_amount_order_and_paid_at() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let client = cryptobot(&fake.base_url(), TOKEN, usdt());
    assert_eq!(client.decimals(), 2);
    let (first, second, third) = (OrderId::random(), OrderId::random(), OrderId::random());
    for (order, minor) in [(first, 299), (second, 500), (third, 1)] {
        client
            .create_invoice(order, &money(minor, "USDT"), "VPN")
            .await
            .unwrap();
    }
    assert_eq!(fake.created_invoice_ids(), vec![1, 2, 3]);
    fake.pay_invoice(1);
    fake.expire_invoice(2);
    let before = fake.requests();

    let mut invoices = client.get_invoices(&[1, 2, 3, 999, 1]).await.unwrap();
    invoices.sort_by_key(|i| i.invoice_id);

    assert_eq!(fake.requests(), before + 1, "one getInvoices call");
    assert_eq!(invoices.len(), 3, "the unknown id is absent: {invoices:?}");
    let paid_at = invoices[0].paid_at.expect("paid_at of a paid invoice");
    assert!((chrono::Utc::now() - paid_at).num_seconds().abs() < 60);
    assert_eq!(
        invoices,
        vec![
            CryptoInvoice {
                invoice_id: 1,
                status: CryptoInvoiceStatus::Paid,
                amount: money(299, "USDT"),
                order: Some(first),
                paid_at: Some(paid_at),
            },
            CryptoInvoice {
                invoice_id: 2,
                status: CryptoInvoiceStatus::Expired,
                amount: money(500, "USDT"),
                order: Some(second),
                paid_at: None,
            },
            CryptoInvoice {
                invoice_id: 3,
                status: CryptoInvoiceStatus::Active,
                amount: money(1, "USDT"),
                order: Some(third),
                paid_at: None,
            },
        ]
    );

    assert!(client.get_invoices(&[]).await.unwrap().is_empty());
    assert!(client.get_invoices(&[404]).await.unwrap().is_empty());
    assert_eq!(fake.requests(), before + 2, "no call for an empty list");
}

#[tokio::test]
async fn cryptobot_get_invoices_amounts_are_exact() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let micro = cryptobot(
        &fake.base_url(),
        TOKEN,
        CryptoBotPricing::Asset {
            asset: "USDT".into(),
            decimals: 6,
        },
    );
    let fiat = cryptobot(
        &fake.base_url(),
        TOKEN,
        CryptoBotPricing::Fiat {
            accepted_assets: Some("TON".into()),
            decimals: 2,
        },
    );
    assert_eq!(micro.decimals(), 6);
    micro
        .create_invoice(OrderId::random(), &money(1, "USDT"), "a")
        .await
        .unwrap();
    micro
        .create_invoice(OrderId::random(), &money(2_990_000, "USDT"), "b")
        .await
        .unwrap();
    fiat.create_invoice(OrderId::random(), &money(299, "EUR"), "c")
        .await
        .unwrap();
    assert_eq!(fake.invoices()[0]["amount"], "0.000001");
    fake.pay_invoice(3);

    let amounts = |list: Vec<CryptoInvoice>| {
        let mut list: Vec<(i64, Money)> =
            list.into_iter().map(|i| (i.invoice_id, i.amount)).collect();
        list.sort_by_key(|(id, _)| *id);
        list
    };
    assert_eq!(
        amounts(micro.get_invoices(&[1, 2]).await.unwrap()),
        vec![(1, money(1, "USDT")), (2, money(2_990_000, "USDT"))]
    );
    let euro = fiat.get_invoices(&[3]).await.unwrap();
    assert_eq!(amounts(euro.clone()), vec![(3, money(299, "EUR"))]);
    assert_eq!(euro[0].status, CryptoInvoiceStatus::Paid);

    // An amount finer than the client's decimals is refused, not rounded.
    let message = provider_message(fiat.get_invoices(&[1]).await, "cryptobot");
    assert!(message.contains("0.000001"), "{message}");
    assert!(message.contains("invoice 1"), "{message}");
    assert_no_secret(&message, &[TOKEN]);
}

#[tokio::test]
async fn cryptobot_get_invoices_asks_in_batches_of_1000() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let client = cryptobot(&fake.base_url(), TOKEN, usdt());
    let order = OrderId::random();
    client
        .create_invoice(order, &money(299, "USDT"), "VPN")
        .await
        .unwrap();
    let before = fake.requests();
    // 2500 distinct ids, the known one last.
    let mut ids: Vec<i64> = (1_000..3_499).collect();
    ids.push(1);

    let found = client.get_invoices(&ids).await.unwrap();

    assert_eq!(fake.requests(), before + 3, "1000 + 1000 + 500 ids");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].order, Some(order));
}

#[tokio::test]
async fn cryptobot_get_invoices_wrong_token_and_failures_are_provider_errors() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let wrong = cryptobot(&fake.base_url(), WRONG_TOKEN, usdt());
    let result = wrong.get_invoices(&[1]).await;
    let debug = format!("{result:?}");
    let message = provider_message(result, "cryptobot");
    assert!(message.contains("getInvoices"), "{message}");
    assert!(message.contains("UNAUTHORIZED"), "{message}");
    assert_no_secret(&message, &[WRONG_TOKEN, TOKEN]);
    assert_no_secret(&debug, &[WRONG_TOKEN, TOKEN]);

    fake.set_failing(true);
    let client = cryptobot(&fake.base_url(), TOKEN, usdt());
    let message = provider_message(client.get_invoices(&[1]).await, "cryptobot");
    assert!(message.contains("500"), "{message}");
}

#[test]
fn cryptobot_settings_are_checked_and_debug_hides_the_token() {
    let cfg = |pricing, expires_in| CryptoBotConfig {
        token: SecretString::from(TOKEN),
        base_url: "https://testnet-pay.crypt.bot/api".into(),
        pricing,
        expires_in,
    };
    let fiat = |list: &str| CryptoBotPricing::Fiat {
        accepted_assets: Some(list.into()),
        decimals: 2,
    };
    assert!(CryptoBotClient::new(cfg(usdt(), Some(0))).is_err());
    assert!(CryptoBotClient::new(cfg(usdt(), Some(2_678_401))).is_err());
    assert!(CryptoBotClient::new(cfg(fiat("USDT, TON"), None)).is_err());
    assert!(CryptoBotClient::new(cfg(fiat(""), None)).is_err());
    assert!(
        CryptoBotClient::new(cfg(
            CryptoBotPricing::Asset {
                asset: "usdt".into(),
                decimals: 2
            },
            None
        ))
        .is_err()
    );
    let mut bad_url = cfg(usdt(), None);
    bad_url.base_url = "pay.crypt.bot/api".into();
    assert!(CryptoBotClient::new(bad_url).is_err());
    let mut empty_token = cfg(usdt(), None);
    empty_token.token = SecretString::from("");
    assert!(CryptoBotClient::new(empty_token).is_err());

    let config = cfg(fiat("USDT,TON"), Some(3600));
    let client = CryptoBotClient::new(config.clone()).unwrap();
    assert_no_secret(&format!("{config:?} {client:?}"), &[TOKEN]);
}

// ---------------------------------------------------------------------------
// NOWPayments

#[tokio::test]
async fn nowpayments_invoice_sends_the_exact_body() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let client = nowpayments(&fake.base_url(), API_KEY, 2);
    let order = OrderId::random();

    let invoice = client
        .create_invoice(order, &money(299, "USD"), "VPN 30 days")
        .await
        .unwrap();

    assert_eq!(
        fake.invoices(),
        vec![json!({
            "price_amount": 2.99,
            "price_currency": "usd",
            "order_id": order.uuid().to_string(),
            "order_description": "VPN 30 days",
            "ipn_callback_url": IPN_URL,
        })]
    );
    let raw = &fake.raw_invoices()[0];
    assert!(raw.contains(r#""price_amount":2.99,"#), "{raw}");
    assert!(raw.contains(r#""price_currency":"usd""#), "{raw}");
    assert!(fake.invoices()[0]["price_amount"].is_number());
    assert_eq!(invoice.provider_invoice_id, "5077125051");
    assert_eq!(
        invoice.pay_url,
        "https://nowpayments.io/payment/?iid=5077125051"
    );
}

#[tokio::test]
async fn nowpayments_amounts_are_exact_numbers() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let cents = nowpayments(&fake.base_url(), API_KEY, 2);
    let whole = nowpayments(&fake.base_url(), API_KEY, 0)
        .with_redirect_urls(
            Some("https://t.me/subvisor_bot?start=paid".into()),
            Some("https://t.me/subvisor_bot".into()),
        )
        .unwrap();
    let order = OrderId::random();

    cents
        .create_invoice(order, &money(5, "USD"), "a")
        .await
        .unwrap();
    cents
        .create_invoice(order, &money(290, "EUR"), "b")
        .await
        .unwrap();
    cents
        .create_invoice(order, &money(123456, "USD"), "c")
        .await
        .unwrap();
    whole
        .create_invoice(order, &money(500, "JPY"), "d")
        .await
        .unwrap();

    let amounts: Vec<String> = fake
        .raw_invoices()
        .iter()
        .map(|raw| {
            let start = raw.find(r#""price_amount":"#).unwrap() + r#""price_amount":"#.len();
            raw[start..].split([',', '}']).next().unwrap().to_owned()
        })
        .collect();
    assert_eq!(amounts, ["0.05", "2.9", "1234.56", "500"]);
    let last = fake.invoices().pop().unwrap();
    assert_eq!(last["price_currency"], "jpy");
    assert_eq!(last["success_url"], "https://t.me/subvisor_bot?start=paid");
    assert_eq!(last["cancel_url"], "https://t.me/subvisor_bot");

    // More significant digits than a JSON double carries: refused, not rounded.
    let result = cents
        .create_invoice(order, &money(123_456_789_012_345_678, "USD"), "e")
        .await;
    assert!(
        matches!(result, Err(Error::InvalidInput { .. })),
        "{result:?}"
    );
    assert_eq!(fake.invoices().len(), 4);
}

#[tokio::test]
async fn nowpayments_wrong_key_is_a_provider_error_naming_the_api_error() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let client = nowpayments(&fake.base_url(), WRONG_KEY, 2);

    let result = client
        .create_invoice(OrderId::random(), &money(299, "USD"), "VPN")
        .await;
    let debug = format!("{result:?}");
    let message = provider_message(result, "nowpayments");

    assert!(message.contains("INVALID_API_KEY"), "{message}");
    assert!(message.contains("403"), "{message}");
    assert_no_secret(&message, &[WRONG_KEY, API_KEY]);
    assert_no_secret(&debug, &[WRONG_KEY, API_KEY]);
    assert!(fake.invoices().is_empty());
}

#[tokio::test]
async fn nowpayments_server_failure_is_a_provider_error() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    fake.set_failing(true);
    let client = nowpayments(&fake.base_url(), API_KEY, 2);

    let message = provider_message(
        client
            .create_invoice(OrderId::random(), &money(299, "USD"), "VPN")
            .await,
        "nowpayments",
    );
    assert!(message.contains("500"), "{message}");
    assert_no_secret(&message, &[API_KEY]);
    assert!(fake.invoices().is_empty());
}

#[tokio::test]
async fn nowpayments_unreachable_server_fails_fast() {
    let base = format!("http://127.0.0.1:{}/v1", free_port());
    let client = nowpayments(&base, API_KEY, 2);

    let started = Instant::now();
    let message = provider_message(
        client
            .create_invoice(OrderId::random(), &money(299, "USD"), "VPN")
            .await,
        "nowpayments",
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(message.contains("cannot connect"), "{message}");
    assert_no_secret(&message, &[API_KEY]);
}

#[tokio::test]
async fn nowpayments_payment_reads_status_order_and_exact_price() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let client = nowpayments(&fake.base_url(), API_KEY, 2);
    let order = OrderId::random();
    let invoice = client
        .create_invoice(order, &money(299, "USD"), "VPN 30 days")
        .await
        .unwrap();
    let invoice_id = invoice.provider_invoice_id;
    fake.add_payment(&invoice_id, 5_524_759_814, "finished", "2.99", "USD");
    fake.add_payment(&invoice_id, 5_524_759_815, "waiting", "2.990000", "usd");
    fake.add_payment(&invoice_id, 5_524_759_816, "partially_paid", "2.991", "usd");
    fake.add_payment("1", 5_524_759_817, "failed", "3", "eur");

    let payment = client.payment("5524759814").await.unwrap();
    assert_eq!(
        payment,
        NpPayment {
            payment_id: "5524759814".into(),
            invoice_id: Some(invoice_id.clone()),
            status: "finished".into(),
            order: Some(order),
            price: Some(money(299, "USD")),
        }
    );
    let trailing = client.payment(" 5524759815 ").await.unwrap();
    assert_eq!(trailing.price, Some(money(299, "USD")));
    assert_eq!(trailing.status, "waiting");
    let finer = client.payment("5524759816").await.unwrap();
    assert_eq!(
        finer.price, None,
        "2.991 USD is not a whole number of cents"
    );
    assert_eq!(finer.status, "partially_paid");
    let other = client.payment("5524759817").await.unwrap();
    assert_eq!(other.order, None, "an invoice the fake did not create");
    assert_eq!(other.price, Some(money(300, "EUR")));

    fake.set_payment_status(5_524_759_815, "finished");
    assert_eq!(
        client.payment("5524759815").await.unwrap().status,
        "finished"
    );
}

#[tokio::test]
async fn nowpayments_payment_amounts_with_six_decimals() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let client = nowpayments(&fake.base_url(), API_KEY, 6);
    assert_eq!(client.decimals(), 6);
    fake.add_payment("5077125051", 1, "finished", "0.000001", "usd");
    fake.add_payment("5077125051", 2, "finished", "2.99", "usd");
    fake.add_payment("5077125051", 3, "finished", "1234.567890", "usd");
    let price = |id: &'static str| {
        let client = client.clone();
        async move { client.payment(id).await.unwrap().price }
    };
    assert_eq!(price("1").await, Some(money(1, "USD")));
    assert_eq!(price("2").await, Some(money(2_990_000, "USD")));
    assert_eq!(price("3").await, Some(money(1_234_567_890, "USD")));
}

#[tokio::test]
async fn nowpayments_payment_errors_are_provider_errors() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let client = nowpayments(&fake.base_url(), API_KEY, 2);

    let unknown = provider_message(client.payment("42").await, "nowpayments");
    assert!(unknown.contains("404"), "{unknown}");
    assert!(unknown.contains("NOT_FOUND"), "{unknown}");
    let word = provider_message(client.payment("abc").await, "nowpayments");
    assert!(word.contains("400"), "{word}");
    assert!(word.contains("Payment id must be a number"), "{word}");
    assert!(matches!(
        client.payment("  ").await,
        Err(Error::InvalidInput { .. })
    ));

    let wrong = nowpayments(&fake.base_url(), WRONG_KEY, 2);
    let result = wrong.payment("42").await;
    let debug = format!("{result:?}");
    let message = provider_message(result, "nowpayments");
    assert!(message.contains("INVALID_API_KEY"), "{message}");
    assert!(message.contains("403"), "{message}");
    assert_no_secret(&message, &[WRONG_KEY, API_KEY]);
    assert_no_secret(&debug, &[WRONG_KEY, API_KEY]);

    fake.set_failing(true);
    let message = provider_message(client.payment("42").await, "nowpayments");
    assert!(message.contains("500"), "{message}");
}

#[tokio::test]
async fn nowpayments_invoice_payments_pages_through_the_list() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    fake.set_account(EMAIL, PASSWORD);
    let client = nowpayments_login(&fake.base_url(), PASSWORD, 2)
        .with_page_size(2)
        .unwrap();
    assert!(client.can_list_payments());
    let order = OrderId::random();
    let invoice_id = client
        .create_invoice(order, &money(299, "USD"), "VPN")
        .await
        .unwrap()
        .provider_invoice_id;
    let statuses = [
        "expired",
        "partially_paid",
        "waiting",
        "confirming",
        "finished",
    ];
    for (n, status) in (1..).zip(statuses) {
        fake.add_payment(&invoice_id, 6_000_000_000 + n, status, "2.99", "usd");
    }
    fake.add_payment("5077125099", 7_000_000_000, "finished", "9.99", "usd");
    let before = fake.requests();

    let payments = client.invoice_payments(&invoice_id).await.unwrap();

    assert_eq!(fake.requests(), before + 4, "one login, three pages");

    let got: Vec<(String, String)> = payments
        .iter()
        .map(|p| (p.payment_id.clone(), p.status.clone()))
        .collect();
    let want: Vec<(String, String)> = (1..)
        .zip(statuses)
        .map(|(n, s)| ((6_000_000_000_i64 + n).to_string(), s.to_owned()))
        .collect();
    assert_eq!(got, want, "all five over three pages, in order");
    for p in &payments {
        assert_eq!(p.invoice_id.as_deref(), Some(invoice_id.as_str()));
        assert_eq!(p.order, Some(order));
        assert_eq!(p.price, Some(money(299, "USD")));
    }
    assert_eq!(fake.logins(), 1);

    // The JWT is reused; an invoice without payments is an empty list.
    assert!(
        client
            .invoice_payments("5077125098")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(fake.logins(), 1);
}

#[tokio::test]
async fn nowpayments_invoice_payments_logs_in_again_after_a_401() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    fake.set_account(EMAIL, PASSWORD);
    let client = nowpayments_login(&fake.base_url(), PASSWORD, 2);
    fake.add_payment("5077125051", 1, "finished", "2.99", "usd");
    assert_eq!(
        client.invoice_payments("5077125051").await.unwrap().len(),
        1
    );
    assert_eq!(fake.logins(), 1);

    fake.expire_tokens();
    let before = fake.requests();
    let again = client.clone().invoice_payments("5077125051").await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(fake.logins(), 2, "one new login after the 401");
    assert_eq!(fake.requests(), before + 3, "401, login, retry");

    // A login that keeps failing is reported, not looped on.
    fake.set_account(EMAIL, "changed-on-the-dashboard");
    fake.expire_tokens();
    let message = provider_message(client.invoice_payments("5077125051").await, "nowpayments");
    assert!(message.contains("POST /auth"), "{message}");
    assert!(message.contains("ACCESS_DENIED"), "{message}");
    assert_no_secret(&message, &[PASSWORD, API_KEY]);
}

#[tokio::test]
async fn nowpayments_invoice_payments_needs_credentials() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    fake.set_account(EMAIL, PASSWORD);

    let without = nowpayments(&fake.base_url(), API_KEY, 2);
    assert!(!without.can_list_payments());
    let message = provider_message(without.invoice_payments("5077125051").await, "nowpayments");
    assert!(message.contains("email"), "{message}");
    assert_eq!(fake.requests(), 0, "nothing is asked without credentials");

    let wrong = nowpayments_login(&fake.base_url(), WRONG_PASSWORD, 2);
    let result = wrong.invoice_payments("5077125051").await;
    let debug = format!("{result:?} {wrong:?}");
    let message = provider_message(result, "nowpayments");
    assert!(message.contains("ACCESS_DENIED"), "{message}");
    assert!(message.contains("403"), "{message}");
    assert_no_secret(&message, &[WRONG_PASSWORD, PASSWORD, API_KEY]);
    assert_no_secret(&debug, &[WRONG_PASSWORD, PASSWORD, API_KEY]);
    assert_eq!(fake.logins(), 0);
}

#[test]
fn nowpayments_settings_are_checked_and_debug_hides_the_key() {
    let cfg = NowPaymentsConfig {
        api_key: SecretString::from(API_KEY),
        base_url: "https://api-sandbox.nowpayments.io/v1".into(),
        ipn_callback_url: IPN_URL.into(),
        decimals: 2,
        email: None,
        password: None,
    };
    let client = NowPaymentsClient::new(cfg.clone()).unwrap();
    assert_no_secret(&format!("{cfg:?} {client:?}"), &[API_KEY]);
    assert!(!client.can_list_payments());
    assert_eq!(client.decimals(), 2);

    let mut with_login = cfg.clone();
    with_login.email = Some(EMAIL.into());
    with_login.password = Some(SecretString::from(PASSWORD));
    let client = NowPaymentsClient::new(with_login.clone()).unwrap();
    assert!(client.can_list_payments());
    assert_no_secret(&format!("{with_login:?} {client:?}"), &[API_KEY, PASSWORD]);
    // Email and password go together; blank counts as unset.
    let mut half = cfg.clone();
    half.email = Some(EMAIL.into());
    assert!(NowPaymentsClient::new(half).is_err());
    let mut half = cfg.clone();
    half.password = Some(SecretString::from(PASSWORD));
    assert!(NowPaymentsClient::new(half).is_err());
    let mut blank = cfg.clone();
    blank.email = Some("  ".into());
    blank.password = Some(SecretString::from(""));
    assert!(!NowPaymentsClient::new(blank).unwrap().can_list_payments());
    assert!(
        NowPaymentsClient::new(cfg.clone())
            .unwrap()
            .with_page_size(0)
            .is_err()
    );
    assert!(
        NowPaymentsClient::new(cfg.clone())
            .unwrap()
            .with_page_size(501)
            .is_err()
    );

    let mut bad = cfg.clone();
    bad.ipn_callback_url = "/webhooks/nowpayments".into();
    assert!(NowPaymentsClient::new(bad).is_err());
    let mut bad = cfg.clone();
    bad.decimals = 19;
    assert!(NowPaymentsClient::new(bad).is_err());
    let mut bad = cfg;
    bad.api_key = SecretString::from("line\nbreak");
    let err = NowPaymentsClient::new(bad).unwrap_err().to_string();
    assert!(!err.contains("line"), "{err}");
}

// ---------------------------------------------------------------------------
// Amounts

#[test]
fn minor_units_become_exact_decimal_strings() {
    assert_eq!(minor_to_decimal(299, 2).unwrap(), "2.99");
    assert_eq!(minor_to_decimal(0, 2).unwrap(), "0.00");
    assert_eq!(minor_to_decimal(5, 2).unwrap(), "0.05");
    assert_eq!(minor_to_decimal(10, 2).unwrap(), "0.10");
    assert_eq!(minor_to_decimal(123456, 2).unwrap(), "1234.56");
    // No fraction digits: Stars, JPY.
    assert_eq!(minor_to_decimal(0, 0).unwrap(), "0");
    assert_eq!(minor_to_decimal(150, 0).unwrap(), "150");
    // Six fraction digits: USDT on-chain units.
    assert_eq!(minor_to_decimal(2_990_000, 6).unwrap(), "2.990000");
    assert_eq!(minor_to_decimal(1, 6).unwrap(), "0.000001");
    assert_eq!(minor_to_decimal(1_234_567_890, 6).unwrap(), "1234.567890");
    assert_eq!(
        minor_to_decimal(i64::MAX, 2).unwrap(),
        "92233720368547758.07"
    );
    // Negative amounts are refused.
    for bad in [-1, -299, i64::MIN] {
        let err = minor_to_decimal(bad, 2).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }
}
