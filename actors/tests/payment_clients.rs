//! The Crypto Pay and NOWPayments clients against the fakes of
//! `subvisor_testkit::fake_payments`: exact request bodies, URLs returned,
//! and every failure mapped to `Error::Provider` without the credential.

use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::json;
use subvisor_actors::Error;
use subvisor_actors::domain::{Currency, Money, OrderId};
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

#[test]
fn nowpayments_settings_are_checked_and_debug_hides_the_key() {
    let cfg = NowPaymentsConfig {
        api_key: SecretString::from(API_KEY),
        base_url: "https://api-sandbox.nowpayments.io/v1".into(),
        ipn_callback_url: IPN_URL.into(),
        decimals: 2,
    };
    let client = NowPaymentsClient::new(cfg.clone()).unwrap();
    assert_no_secret(&format!("{cfg:?} {client:?}"), &[API_KEY]);

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
