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

mod cryptobot;
mod nowpayments;

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
