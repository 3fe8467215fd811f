//! Fake payment providers for tests: [`FakeCryptoPay`] (Crypto Pay API of
//! @CryptoBot) and [`FakeNowPayments`], each an HTTP/1.1 server on
//! `127.0.0.1` and a port of its own.
//!
//! They answer the way the real APIs do, as far as their documentation and
//! known answers show:
//!
//! * Crypto Pay ("Crypto Pay API",
//!   <https://help.send.tg/en/articles/10279948-crypto-pay-api>): methods at
//!   `{base}/{method}` with the token in `Crypto-Pay-API-Token`, GET or POST.
//!   - `createInvoice` (JSON body) answers `{"ok":true,"result":{…}}` with
//!     `invoice_id`, `hash`, `bot_invoice_url`, the deprecated `pay_url`,
//!     `mini_app_invoice_url` and `web_app_invoice_url`. Every invoice is kept
//!     with `status` `"active"`; [`pay_invoice`](FakeCryptoPay::pay_invoice)
//!     and [`expire_invoice`](FakeCryptoPay::expire_invoice) change it.
//!   - `getInvoices` takes its parameters from the query string, a JSON body
//!     or a form-urlencoded body (not multipart): `invoice_ids` (ids
//!     separated by commas), `asset`/`fiat` (codes separated by commas),
//!     `status`, `offset` (default 0) and `count` (1–1000, default 100); it
//!     answers `{"ok":true,"result":{"items":[Invoice…]}}` (the documentation
//!     says "array of Invoice"; real answers wrap it in `items`), newest
//!     invoice first (the real order is not documented; do not rely on it).
//!     Unknown ids are simply absent.
//!   - `getMe`.
//!
//!   A missing or wrong token gets HTTP 401
//!   `{"ok":false,"error":{"code":401,"name":"UNAUTHORIZED"}}`, an unknown
//!   method 405 `METHOD_NOT_FOUND`, bad parameters 400 with names in the
//!   API's style (`PARAM_AMOUNT_REQUIRED`, `COUNT_INVALID`, …; the fake's
//!   validation and these names are an approximation).
//! * NOWPayments ("NOWPayments API",
//!   <https://documenter.getpostman.com/view/7907941/S1a32n38>): base
//!   `{…}/v1`, the key in `x-api-key`.
//!   - `GET /status` (no key).
//!   - `POST /invoice` answers `{id, invoice_url, order_id, price_amount, …}`
//!     (`id` and `price_amount` as strings, as in their documented example);
//!     invoices keep their id (`5077125051`, `5077125052`, …).
//!   - `POST /auth` with `{"email","password"}` (no key needed) answers
//!     `{"token":"<JWT-like string>"}` for the account of
//!     [`set_account`](FakeNowPayments::set_account); wrong credentials get
//!     403 `{"status":false,"statusCode":403,"code":"ACCESS_DENIED",…}` (an
//!     approximation: the nowpayments Ruby gem handles exactly that answer;
//!     the documentation shows none), a body that is not an object 400
//!     `INVALID_REQUEST_PARAMS` "value must be of type object" (seen in
//!     PrevailExcel/laravel-nowpayments#5). Tokens stay valid until
//!     [`expire_tokens`](FakeNowPayments::expire_tokens).
//!   - `GET /payment/{id}` answers the payment added with
//!     [`add_payment`](FakeNowPayments::add_payment); a non-numeric id gets
//!     400 `INVALID_REQUEST_PARAMS` "Payment id must be a number" (seen in
//!     PrevailExcel/laravel-nowpayments#8), an unknown one 404
//!     `{"status":false,"statusCode":404,"code":"NOT_FOUND","message":"Payment not found"}`
//!     (an approximation: not documented).
//!   - `GET /payment/?invoiceId=&limit=&page=&sortBy=&orderBy=` needs the key
//!     and `Authorization: Bearer <token>`: without one it answers 401
//!     `AUTH_REQUIRED` "Authorization header is empty (Bearer JWTtoken is
//!     required)" (NowPaymentsIO/nowpayments-api-js#6), with an unknown or
//!     expired one 401 `AUTH_REQUIRED` (wording approximated). `limit` is
//!     1–500 (default 10), `page` counts from 0; the answer is
//!     `{"data":[…],"limit":…,"page":…,"pagesCount":…,"total":…}`.
//!
//!   Payments look like the documented ones: `payment_id` and `invoice_id`
//!   numbers, `payment_status`, `price_amount` a number written exactly as
//!   given to `add_payment` (`2.99`, `0.000001`), `price_currency` lowercase,
//!   `order_id` (the invoice's), `pay_address`, `pay_amount`, `pay_currency`,
//!   `actually_paid`, `purchase_id`, `created_at`, `updated_at`, ….
//!   A missing or wrong key gets HTTP **403**
//!   `{"status":false,"statusCode":403,"code":"INVALID_API_KEY","message":"Invalid api key"}`,
//!   which is what the real API answers (not 401), before any JWT check.
//!
//! [`set_failing`](FakeCryptoPay::set_failing) makes every request after
//! the credential check answer HTTP 500 with an HTML page, like a proxy in
//! front of a broken backend. [`invoices`](FakeCryptoPay::invoices) returns
//! the JSON bodies of the invoice requests that created an invoice, and
//! [`raw_invoices`](FakeCryptoPay::raw_invoices) the same bodies as sent, so
//! tests can check the exact wire text (`"price_amount":2.99`).
//!
//! The server (`crate::http_fake`) is `std::net::TcpListener` with a thread
//! per connection and a minimal parser (request line, headers,
//! `Content-Length` or chunked body); every answer closes the connection. It
//! works from sync and async tests alike and stops when the value is dropped.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::http_fake::{Request, Response, Server, parse_form};

mod cryptopay;
mod nowpayments;
#[cfg(test)]
mod tests;

pub use cryptopay::{FakeCryptoPay, invoice_paid};
pub use nowpayments::FakeNowPayments;

const CREATED_AT: &str = "2025-01-01T00:00:00.000Z";

// State shared by both fakes

pub(super) struct Shared {
    pub(super) credential: String,
    pub(super) failing: AtomicBool,
    pub(super) state: Mutex<State>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) requests: usize,
    pub(super) invoices: Vec<Value>,
    pub(super) raw: Vec<String>,
    pub(super) next_id: u64,
    /// Crypto Pay: every invoice created, as the `Invoice` object answered.
    pub(super) crypto: Vec<Value>,
    /// NOWPayments: every invoice created.
    pub(super) np_invoices: Vec<NpInvoice>,
    /// NOWPayments: payments, in the order added.
    pub(super) np_payments: Vec<NpPayment>,
    pub(super) next_seq: u64,
    /// NOWPayments dashboard login (email, password).
    pub(super) account: Option<(String, String)>,
    /// NOWPayments JWTs currently valid.
    pub(super) tokens: HashSet<String>,
    pub(super) logins: usize,
}

pub(super) struct NpInvoice {
    pub(super) id: String,
    pub(super) order_id: Value,
}

pub(super) struct NpPayment {
    pub(super) payment_id: i64,
    pub(super) invoice_id: String,
    pub(super) status: String,
    /// As given: written into the JSON as the number's exact text.
    pub(super) price_amount: String,
    pub(super) price_currency: String,
    pub(super) order_id: Value,
    /// Creation order.
    pub(super) seq: u64,
    pub(super) created_at: String,
}

impl Shared {
    pub(super) fn new(credential: &str) -> Self {
        Self {
            credential: credential.to_owned(),
            failing: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler thread must not take the fake down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a created invoice and returns its number (1, 2, …).
    pub(super) fn record(&self, body: Value, raw: &[u8]) -> u64 {
        let mut state = self.lock();
        state.invoices.push(body);
        state.raw.push(String::from_utf8_lossy(raw).into_owned());
        state.next_id += 1;
        state.next_id
    }
}

/// `0`, `2.99`, `0.000001`: digits with at most one point and digits after it.
fn is_decimal(text: &str) -> bool {
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) if !frac.is_empty() => (int, frac),
        Some(_) => return false,
        None => (text, ""),
    };
    !int.is_empty() && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
}

/// Now as ISO 8601 in UTC with milliseconds (`2025-01-01T00:00:00.000Z`).
fn iso_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Count in 400-year eras from 0000-03-01 so leap days fall at the end.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `123`, `2.99`: digits with at most one point, above zero.
fn is_positive_decimal(text: &str) -> bool {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    !int.is_empty()
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        && int.bytes().chain(frac.bytes()).any(|b| b != b'0')
}
