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
const CREATED_AT: &str = "2025-01-01T00:00:00.000Z";

/// A fake Crypto Pay API (@CryptoBot) accepting one app token.
pub struct FakeCryptoPay {
    server: Server,
    state: Arc<Shared>,
}

impl FakeCryptoPay {
    /// Starts the fake on a free port of `127.0.0.1`; requests must carry
    /// `token` in `Crypto-Pay-API-Token`.
    pub fn start(token: &str) -> io::Result<Self> {
        let state = Arc::new(Shared::new(token));
        let handler_state = Arc::clone(&state);
        let server = Server::start("fake Crypto Pay", move |req| {
            crypto_pay(&handler_state, req)
        })?;
        Ok(Self { server, state })
    }

    /// The API base, like `https://pay.crypt.bot/api`: `http://127.0.0.1:PORT/api`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api", self.server.addr)
    }

    /// The `createInvoice` parameters of every invoice created, in order.
    pub fn invoices(&self) -> Vec<Value> {
        self.state.lock().invoices.clone()
    }

    /// The same requests as [`invoices`](Self::invoices), as the bytes sent (UTF-8).
    pub fn raw_invoices(&self) -> Vec<String> {
        self.state.lock().raw.clone()
    }

    /// When `true`, authorized requests get HTTP 500 and create nothing.
    pub fn set_failing(&self, fail: bool) {
        self.state.failing.store(fail, Ordering::SeqCst);
    }

    /// How many well-formed HTTP requests arrived (authorized or not).
    pub fn requests(&self) -> usize {
        self.state.lock().requests
    }

    /// The `invoice_id` of every invoice created, in order.
    pub fn created_invoice_ids(&self) -> Vec<i64> {
        self.state
            .lock()
            .crypto
            .iter()
            .filter_map(|inv| inv["invoice_id"].as_i64())
            .collect()
    }

    /// Marks the invoice paid: `status` `"paid"`, `paid_at` now, `paid_asset`
    /// (the asset, or for a fiat invoice the first accepted asset, else
    /// `USDT`) and `paid_amount` (the amount: the fake's rate is 1),
    /// `paid_usd_rate`, `fee_asset`/`fee_amount`. Panics for an id the fake
    /// did not create.
    pub fn pay_invoice(&self, invoice_id: i64) {
        let now = iso_now();
        self.with_invoice(invoice_id, |inv| {
            let paid_asset = match inv["currency_type"].as_str() {
                Some("fiat") => inv["accepted_assets"]
                    .as_str()
                    .and_then(|list| list.split(',').next())
                    .unwrap_or("USDT")
                    .to_owned(),
                _ => inv["asset"].as_str().unwrap_or("USDT").to_owned(),
            };
            inv["status"] = json!("paid");
            inv["paid_at"] = json!(now);
            inv["paid_amount"] = inv["amount"].clone();
            inv["paid_asset"] = json!(paid_asset);
            inv["paid_usd_rate"] = json!("1.00");
            inv["fee_asset"] = json!(paid_asset);
            inv["fee_amount"] = json!("0");
            inv["paid_anonymously"] = json!(false);
            if inv["currency_type"] == "fiat" {
                inv["paid_fiat_rate"] = json!("1.00");
            }
        });
    }

    /// Marks the invoice `"expired"`. Panics for an id the fake did not create.
    pub fn expire_invoice(&self, invoice_id: i64) {
        self.with_invoice(invoice_id, |inv| inv["status"] = json!("expired"));
    }

    fn with_invoice(&self, invoice_id: i64, change: impl FnOnce(&mut Value)) {
        let mut state = self.state.lock();
        let invoice = state
            .crypto
            .iter_mut()
            .find(|inv| inv["invoice_id"].as_i64() == Some(invoice_id));
        match invoice {
            Some(invoice) => change(invoice),
            None => panic!("the fake Crypto Pay created no invoice {invoice_id}"),
        }
    }
}

impl std::fmt::Debug for FakeCryptoPay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCryptoPay")
            .field("addr", &self.server.addr)
            .finish_non_exhaustive()
    }
}

/// A fake NOWPayments API accepting one API key.
pub struct FakeNowPayments {
    server: Server,
    state: Arc<Shared>,
}

impl FakeNowPayments {
    /// Starts the fake on a free port of `127.0.0.1`; requests must carry
    /// `api_key` in `x-api-key`.
    pub fn start(api_key: &str) -> io::Result<Self> {
        let state = Arc::new(Shared::new(api_key));
        let handler_state = Arc::clone(&state);
        let server = Server::start("fake NOWPayments", move |req| {
            now_payments(&handler_state, req)
        })?;
        Ok(Self { server, state })
    }

    /// The API base, like `https://api.nowpayments.io/v1`: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.server.addr)
    }

    /// The `POST /invoice` bodies of every invoice created, in order.
    pub fn invoices(&self) -> Vec<Value> {
        self.state.lock().invoices.clone()
    }

    /// The same requests as [`invoices`](Self::invoices), as the bytes sent (UTF-8).
    pub fn raw_invoices(&self) -> Vec<String> {
        self.state.lock().raw.clone()
    }

    /// When `true`, authorized requests get HTTP 500 and create nothing.
    pub fn set_failing(&self, fail: bool) {
        self.state.failing.store(fail, Ordering::SeqCst);
    }

    /// How many well-formed HTTP requests arrived (authorized or not).
    pub fn requests(&self) -> usize {
        self.state.lock().requests
    }

    /// The dashboard login `POST /auth` accepts (case-sensitive, as the
    /// real one); without it every login is refused.
    pub fn set_account(&self, email: &str, password: &str) {
        self.state.lock().account = Some((email.to_owned(), password.to_owned()));
    }

    /// Records a payment of invoice `invoice_id` (its `order_id` is the
    /// invoice's, `null` for an invoice the fake did not create) with
    /// `payment_status` `status`, `price_amount` written exactly as
    /// `price_amount` (a plain decimal such as `"2.99"`; panics otherwise) and
    /// `price_currency` lowercased. A second payment with the same id
    /// replaces the first.
    pub fn add_payment(
        &self,
        invoice_id: &str,
        payment_id: i64,
        status: &str,
        price_amount: &str,
        price_currency: &str,
    ) {
        assert!(
            is_decimal(price_amount),
            "price_amount {price_amount:?} must be a plain decimal such as \"2.99\""
        );
        let mut state = self.state.lock();
        let order_id = state
            .np_invoices
            .iter()
            .find(|inv| inv.id == invoice_id)
            .map_or(Value::Null, |inv| inv.order_id.clone());
        state.next_seq += 1;
        let payment = NpPayment {
            payment_id,
            invoice_id: invoice_id.to_owned(),
            status: status.to_owned(),
            price_amount: price_amount.to_owned(),
            price_currency: price_currency.to_ascii_lowercase(),
            order_id,
            seq: state.next_seq,
            created_at: iso_now(),
        };
        state.np_payments.retain(|p| p.payment_id != payment_id);
        state.np_payments.push(payment);
    }

    /// Changes the `payment_status` of a payment. Panics for an unknown id.
    pub fn set_payment_status(&self, payment_id: i64, status: &str) {
        let mut state = self.state.lock();
        match state
            .np_payments
            .iter_mut()
            .find(|p| p.payment_id == payment_id)
        {
            Some(payment) => payment.status = status.to_owned(),
            None => panic!("the fake NOWPayments has no payment {payment_id}"),
        }
    }

    /// Makes every JWT issued so far invalid (as if 5 minutes had passed):
    /// the next list request with one answers 401.
    pub fn expire_tokens(&self) {
        self.state.lock().tokens.clear();
    }

    /// How many `POST /auth` logins succeeded.
    pub fn logins(&self) -> usize {
        self.state.lock().logins
    }
}

impl std::fmt::Debug for FakeNowPayments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeNowPayments")
            .field("addr", &self.server.addr)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// Provider behaviour

struct Shared {
    credential: String,
    failing: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    requests: usize,
    invoices: Vec<Value>,
    raw: Vec<String>,
    next_id: u64,
    /// Crypto Pay: every invoice created, as the `Invoice` object answered.
    crypto: Vec<Value>,
    /// NOWPayments: every invoice created.
    np_invoices: Vec<NpInvoice>,
    /// NOWPayments: payments, in the order added.
    np_payments: Vec<NpPayment>,
    next_seq: u64,
    /// NOWPayments dashboard login (email, password).
    account: Option<(String, String)>,
    /// NOWPayments JWTs currently valid.
    tokens: HashSet<String>,
    logins: usize,
}

struct NpInvoice {
    id: String,
    order_id: Value,
}

struct NpPayment {
    payment_id: i64,
    invoice_id: String,
    status: String,
    /// As given: written into the JSON as the number's exact text.
    price_amount: String,
    price_currency: String,
    order_id: Value,
    /// Creation order.
    seq: u64,
    created_at: String,
}

impl Shared {
    fn new(credential: &str) -> Self {
        Self {
            credential: credential.to_owned(),
            failing: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler thread must not take the fake down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a created invoice and returns its number (1, 2, …).
    fn record(&self, body: Value, raw: &[u8]) -> u64 {
        let mut state = self.lock();
        state.invoices.push(body);
        state.raw.push(String::from_utf8_lossy(raw).into_owned());
        state.next_id += 1;
        state.next_id
    }
}

fn crypto_pay(shared: &Shared, req: &Request) -> Response {
    shared.lock().requests += 1;
    let error = |status: u16, name: &str| {
        Response::json(
            status,
            &json!({"ok": false, "error": {"code": status, "name": name}}),
        )
    };
    if req.header("crypto-pay-api-token") != Some(shared.credential.as_str()) {
        return error(401, "UNAUTHORIZED");
    }
    if shared.failing.load(Ordering::SeqCst) {
        return Response::server_error();
    }
    let Some(method) = req.path.strip_prefix("/api/") else {
        return error(404, "NOT_FOUND");
    };
    if req.method != "POST" && req.method != "GET" {
        return error(405, "METHOD_NOT_ALLOWED");
    }
    match method {
        "getMe" => Response::json(
            200,
            &json!({"ok": true, "result": {
                "app_id": 1,
                "name": "fake",
                "payment_processing_bot_username": "CryptoTestnetBot"
            }}),
        ),
        "createInvoice" => {
            let params: Value = if req.body.is_empty() {
                json!({})
            } else {
                match serde_json::from_slice(&req.body) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => return error(400, "INVALID_JSON"),
                }
            };
            let text = |key: &str| params.get(key).and_then(Value::as_str);
            let currency_type = text("currency_type").unwrap_or("crypto");
            match currency_type {
                "crypto" if text("asset").is_none() => return error(400, "PARAM_ASSET_REQUIRED"),
                "fiat" if text("fiat").is_none() => return error(400, "PARAM_FIAT_REQUIRED"),
                "crypto" | "fiat" => {}
                _ => return error(400, "CURRENCY_TYPE_INVALID"),
            }
            let amount = match params.get("amount") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                None => return error(400, "PARAM_AMOUNT_REQUIRED"),
                Some(_) => return error(400, "AMOUNT_INVALID"),
            };
            if !is_positive_decimal(&amount) {
                return error(400, "AMOUNT_INVALID");
            }
            let id = shared.record(params.clone(), &req.body);
            let hash = format!("IVfake{id:010}");
            let mut result = json!({
                "invoice_id": id,
                "hash": hash,
                "currency_type": currency_type,
                "amount": amount,
                "bot_invoice_url": format!("https://t.me/CryptoTestnetBot?start={hash}"),
                "pay_url": format!("https://t.me/CryptoTestnetBot?start={hash}"),
                "mini_app_invoice_url":
                    format!("https://t.me/CryptoTestnetBot/app?startapp=invoice-{hash}&mode=compact"),
                "web_app_invoice_url": format!("https://testnet-app.send.tg/invoices/{hash}"),
                "status": "active",
                "created_at": CREATED_AT,
                "allow_comments": true,
                "allow_anonymous": true,
            });
            for key in ["asset", "fiat", "accepted_assets", "description", "payload"] {
                if let Some(v) = params.get(key) {
                    result[key] = v.clone();
                }
            }
            if let Some(secs) = params.get("expires_in") {
                result["expiration_date"] = json!(CREATED_AT);
                result["expires_in"] = secs.clone();
            }
            shared.lock().crypto.push(result.clone());
            Response::json(200, &json!({"ok": true, "result": result}))
        }
        "getInvoices" => match get_invoices(shared, req) {
            Ok(items) => Response::json(200, &json!({"ok": true, "result": {"items": items}})),
            Err(name) => error(400, name),
        },
        _ => error(405, "METHOD_NOT_FOUND"),
    }
}

/// `getInvoices`: filters, newest first, then `offset` and `count`.
fn get_invoices(shared: &Shared, req: &Request) -> Result<Vec<Value>, &'static str> {
    let params = request_params(req).ok_or("INVALID_JSON")?;
    let number = |key: &str| -> Result<Option<i64>, ()> {
        match params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(()),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| ()),
            Some(_) => Err(()),
        }
    };
    let offset = number("offset")
        .map_err(|()| "OFFSET_INVALID")?
        .unwrap_or(0);
    let count = number("count")
        .map_err(|()| "COUNT_INVALID")?
        .unwrap_or(100);
    if offset < 0 {
        return Err("OFFSET_INVALID");
    }
    if !(1..=1000).contains(&count) {
        return Err("COUNT_INVALID");
    }
    let list = |key: &str| -> Option<Vec<String>> {
        let items: Vec<String> = match params.get(key)? {
            Value::String(s) => s.split(',').map(|x| x.trim().to_owned()).collect(),
            Value::Number(n) => vec![n.to_string()],
            Value::Array(items) => items
                .iter()
                .map(|x| match x {
                    Value::String(s) => s.trim().to_owned(),
                    other => other.to_string(),
                })
                .collect(),
            _ => return None,
        };
        let items: Vec<String> = items.into_iter().filter(|x| !x.is_empty()).collect();
        (!items.is_empty()).then_some(items)
    };
    let ids = match list("invoice_ids") {
        None => None,
        Some(ids) => Some(
            ids.iter()
                .map(|id| id.parse::<i64>())
                .collect::<Result<HashSet<i64>, _>>()
                .map_err(|_| "INVOICE_IDS_INVALID")?,
        ),
    };
    let assets = list("asset");
    let fiats = list("fiat");
    let status = params
        .get("status")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let state = shared.lock();
    let matches = |inv: &&Value| {
        let id_ok = ids.as_ref().is_none_or(|ids| {
            inv["invoice_id"]
                .as_i64()
                .is_some_and(|id| ids.contains(&id))
        });
        let status_ok = status.as_ref().is_none_or(|s| inv["status"] == s.as_str());
        let code_in = |key: &str, codes: &Option<Vec<String>>| {
            codes.as_ref().is_none_or(|codes| {
                inv[key]
                    .as_str()
                    .is_some_and(|code| codes.iter().any(|c| c.eq_ignore_ascii_case(code)))
            })
        };
        id_ok && status_ok && code_in("asset", &assets) && code_in("fiat", &fiats)
    };
    Ok(state
        .crypto
        .iter()
        .rev()
        .filter(matches)
        .skip(offset as usize)
        .take(count as usize)
        .cloned()
        .collect())
}

/// Crypto Pay parameters: the query string, then a JSON or form body.
/// `None` for a body that does not parse.
fn request_params(req: &Request) -> Option<Map<String, Value>> {
    let mut params = Map::new();
    for (key, value) in parse_form(&req.query) {
        params.insert(key, Value::String(value));
    }
    if !req.body.is_empty() {
        let form = req
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if form {
            for (key, value) in parse_form(&String::from_utf8_lossy(&req.body)) {
                params.insert(key, Value::String(value));
            }
        } else {
            match serde_json::from_slice(&req.body) {
                Ok(Value::Object(body)) => params.extend(body),
                _ => return None,
            }
        }
    }
    Some(params)
}

fn np_error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"status": false, "statusCode": status, "code": code, "message": message}),
    )
}

fn now_payments(shared: &Shared, req: &Request) -> Response {
    shared.lock().requests += 1;
    let error = np_error;
    if req.method == "GET" && req.path == "/v1/status" {
        return Response::json(200, &json!({"message": "OK"}));
    }
    if req.path == "/v1/auth" {
        return np_auth(shared, req);
    }
    if req.header("x-api-key") != Some(shared.credential.as_str()) {
        return error(403, "INVALID_API_KEY", "Invalid api key");
    }
    if shared.failing.load(Ordering::SeqCst) {
        return Response::server_error();
    }
    if req.path == "/v1/payment" || req.path == "/v1/payment/" {
        if req.method != "GET" {
            return error(405, "METHOD_NOT_ALLOWED", "Method not allowed");
        }
        return np_list(shared, req);
    }
    if let Some(id) = req.path.strip_prefix("/v1/payment/") {
        if req.method != "GET" {
            return error(405, "METHOD_NOT_ALLOWED", "Method not allowed");
        }
        return np_payment(shared, id);
    }
    if req.path != "/v1/invoice" {
        return error(404, "NOT_FOUND", "Not found");
    }
    if req.method != "POST" {
        return error(405, "METHOD_NOT_ALLOWED", "Method not allowed");
    }
    let params: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return error(400, "INVALID_REQUEST_PARAMS", "Invalid JSON body"),
    };
    let price = match params.get("price_amount") {
        Some(Value::Number(n)) if n.as_f64().is_some_and(|x| x > 0.0) => n.to_string(),
        Some(_) => {
            return error(
                400,
                "INVALID_REQUEST_PARAMS",
                "\"price_amount\" must be a positive number",
            );
        }
        None => {
            return error(
                400,
                "INVALID_REQUEST_PARAMS",
                "\"price_amount\" is required",
            );
        }
    };
    let Some(currency) = params.get("price_currency").and_then(Value::as_str) else {
        return error(
            400,
            "INVALID_REQUEST_PARAMS",
            "\"price_currency\" is required",
        );
    };
    let currency = currency.to_owned();
    let n = shared.record(params.clone(), &req.body);
    let id = (5_077_125_050 + n).to_string();
    let field = |key: &str| params.get(key).cloned().unwrap_or(Value::Null);
    shared.lock().np_invoices.push(NpInvoice {
        id: id.clone(),
        order_id: field("order_id"),
    });
    Response::json(
        200,
        &json!({
            "id": id,
            "token_id": format!("fake{n}"),
            "order_id": field("order_id"),
            "order_description": field("order_description"),
            "price_amount": price,
            "price_currency": currency,
            "pay_currency": field("pay_currency"),
            "ipn_callback_url": field("ipn_callback_url"),
            "invoice_url": format!("https://nowpayments.io/payment/?iid={id}"),
            "success_url": field("success_url"),
            "cancel_url": field("cancel_url"),
            "customer_email": null,
            "partially_paid_url": null,
            "payout_currency": null,
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "is_fixed_rate": false,
            "is_fee_paid_by_user": false,
        }),
    )
}

/// `POST /v1/auth`: the dashboard login for a JWT.
fn np_auth(shared: &Shared, req: &Request) -> Response {
    if req.method != "POST" {
        return np_error(405, "METHOD_NOT_ALLOWED", "Method not allowed");
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
        return np_error(
            400,
            "INVALID_REQUEST_PARAMS",
            "value must be of type object",
        );
    };
    let field = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let (Some(email), Some(password)) = (field("email"), field("password")) else {
        return np_error(
            400,
            "INVALID_REQUEST_PARAMS",
            "\"email\" and \"password\" are required",
        );
    };
    if shared.failing.load(Ordering::SeqCst) {
        return Response::server_error();
    }
    let mut state = shared.lock();
    if state.account.as_ref() != Some(&(email, password)) {
        return np_error(403, "ACCESS_DENIED", "Access denied");
    }
    let token = format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    state.tokens.insert(token.clone());
    state.logins += 1;
    Response::json(200, &json!({ "token": token }))
}

/// `GET /v1/payment/{id}`.
fn np_payment(shared: &Shared, id: &str) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return np_error(400, "INVALID_REQUEST_PARAMS", "Payment id must be a number");
    };
    let state = shared.lock();
    match state.np_payments.iter().find(|p| p.payment_id == id) {
        Some(payment) => payment_response(200, payment_json(payment), &[payment]),
        None => np_error(404, "NOT_FOUND", "Payment not found"),
    }
}

/// `GET /v1/payment/`: the list, for a valid JWT.
fn np_list(shared: &Shared, req: &Request) -> Response {
    let bearer = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = bearer else {
        return np_error(
            401,
            "AUTH_REQUIRED",
            "Authorization header is empty (Bearer JWTtoken is required)",
        );
    };
    let state = shared.lock();
    if !state.tokens.contains(token) {
        return np_error(401, "AUTH_REQUIRED", "Invalid or expired JWT token");
    }
    let query: Vec<(String, String)> = parse_form(&req.query);
    let param = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let limit = match param("limit").map(|v| v.parse::<usize>()) {
        None => 10,
        Some(Ok(n)) if (1..=500).contains(&n) => n,
        Some(_) => {
            return np_error(
                400,
                "INVALID_REQUEST_PARAMS",
                "\"limit\" must be a number from 1 to 500",
            );
        }
    };
    let page = match param("page").map(|v| v.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return np_error(400, "INVALID_REQUEST_PARAMS", "\"page\" must be a number");
        }
    };
    let invoice = param("invoiceId");
    let mut payments: Vec<&NpPayment> = state
        .np_payments
        .iter()
        .filter(|p| invoice.as_ref().is_none_or(|id| &p.invoice_id == id))
        .collect();
    match param("sortBy").as_deref() {
        Some("payment_id") => payments.sort_by_key(|p| p.payment_id),
        _ => payments.sort_by_key(|p| p.seq),
    }
    if param("orderBy").as_deref() == Some("desc") {
        payments.reverse();
    }
    let total = payments.len();
    let pages = total.div_ceil(limit);
    let shown: Vec<&NpPayment> = payments
        .into_iter()
        .skip(page.saturating_mul(limit))
        .take(limit)
        .collect();
    let data: Vec<Value> = shown.iter().map(|p| payment_json(p)).collect();
    payment_response(
        200,
        json!({
            "data": data,
            "limit": limit,
            "page": page,
            "pagesCount": pages,
            "total": total,
        }),
        &shown,
    )
}

/// The placeholder standing for a payment's `price_amount` until the exact
/// number text replaces it in [`payment_response`].
fn price_placeholder(payment_id: i64) -> String {
    format!("@@price_amount:{payment_id}@@")
}

/// A payment object like the documented ones.
fn payment_json(p: &NpPayment) -> Value {
    let actually_paid = if p.status == "waiting" { 0 } else { 1 };
    let invoice_id = p
        .invoice_id
        .parse::<i64>()
        .map_or_else(|_| json!(p.invoice_id), |id| json!(id));
    json!({
        "payment_id": p.payment_id,
        "invoice_id": invoice_id,
        "payment_status": p.status,
        "pay_address": format!("TFakeAddress{:010}", p.payment_id.rem_euclid(10_000_000_000)),
        "payin_extra_id": null,
        "price_amount": price_placeholder(p.payment_id),
        "price_currency": p.price_currency,
        "pay_amount": 1,
        "actually_paid": actually_paid,
        "actually_paid_at_fiat": 0,
        "pay_currency": "usdttrc20",
        "order_id": p.order_id,
        "order_description": null,
        "purchase_id": (p.payment_id + 1_000_000).to_string(),
        "outcome_amount": 1,
        "outcome_currency": "usdttrc20",
        "parent_payment_id": null,
        "payment_extra_ids": null,
        "created_at": p.created_at,
        "updated_at": p.created_at,
    })
}

/// `value` as a JSON answer, each payment's `price_amount` placeholder
/// replaced by the amount's exact text as a JSON number.
fn payment_response(status: u16, value: Value, payments: &[&NpPayment]) -> Response {
    let mut body = value.to_string();
    for p in payments {
        body = body.replace(
            &format!("\"{}\"", price_placeholder(p.payment_id)),
            &p.price_amount,
        );
    }
    Response {
        status,
        content_type: "application/json; charset=utf-8",
        body: body.into_bytes(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};

    fn roundtrip(addr: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn crypto_pay_checks_the_token_and_creates_invoices() {
        let fake = FakeCryptoPay::start("t0ken").unwrap();
        let addr = fake.server.addr;
        let body = r#"{"asset":"USDT","amount":"2.99","payload":"x"}"#;
        let wrong = roundtrip(
            addr,
            &format!(
                "POST /api/createInvoice HTTP/1.1\r\nHost: x\r\nCrypto-Pay-API-Token: nope\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
        assert!(wrong.contains(r#""name":"UNAUTHORIZED""#), "{wrong}");

        // Chunked body, mixed-case header name.
        let ok = roundtrip(
            addr,
            &format!(
                "POST /api/createInvoice HTTP/1.1\r\nHost: x\r\ncrypto-pay-api-token: t0ken\r\n\
                 Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                body.len()
            ),
        );
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains(r#""bot_invoice_url":"https://t.me/"#), "{ok}");
        assert_eq!(fake.invoices().len(), 1);
        assert_eq!(fake.raw_invoices(), vec![body.to_owned()]);
        assert_eq!(fake.requests(), 2);

        fake.set_failing(true);
        let failed = roundtrip(
            addr,
            "GET /api/getMe HTTP/1.1\r\nCrypto-Pay-API-Token: t0ken\r\n\r\n",
        );
        assert!(failed.starts_with("HTTP/1.1 500"), "{failed}");
    }

    #[test]
    fn now_payments_answers_403_for_a_wrong_key() {
        let fake = FakeNowPayments::start("k3y").unwrap();
        let out = roundtrip(
            fake.server.addr,
            "POST /v1/invoice HTTP/1.1\r\nx-api-key: bad\r\ncontent-length: 2\r\n\r\n{}",
        );
        assert!(out.starts_with("HTTP/1.1 403"), "{out}");
        assert!(out.contains(r#""code":"INVALID_API_KEY""#), "{out}");
        assert!(fake.invoices().is_empty());
    }

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_089), (2025, 1, 1));
        assert!(iso_now().ends_with('Z'));
        assert_eq!(iso_now().len(), "2025-01-01T00:00:00.000Z".len());
    }

    #[test]
    fn crypto_pay_get_invoices_from_the_query_string() {
        let fake = FakeCryptoPay::start("t0ken").unwrap();
        let addr = fake.server.addr;
        for amount in ["1.00", "2.00", "3.00"] {
            let body = format!(r#"{{"asset":"TON","amount":"{amount}"}}"#);
            let out = roundtrip(
                addr,
                &format!(
                    "POST /api/createInvoice HTTP/1.1\r\nCrypto-Pay-API-Token: t0ken\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
            );
            assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        }
        assert_eq!(fake.created_invoice_ids(), vec![1, 2, 3]);
        fake.pay_invoice(2);
        let get = |query: &str| {
            let out = roundtrip(
                addr,
                &format!(
                    "GET /api/getInvoices?{query} HTTP/1.1\r\nCrypto-Pay-API-Token: t0ken\r\n\r\n"
                ),
            );
            let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
            (
                out,
                serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
            )
        };
        let (_, all) = get("invoice_ids=1%2C2,3,99");
        let ids: Vec<i64> = all["result"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["invoice_id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![3, 2, 1], "newest first, unknown ids absent");
        let (_, paid) = get("status=paid");
        assert_eq!(paid["result"]["items"][0]["invoice_id"], 2);
        assert_eq!(paid["result"]["items"][0]["paid_asset"], "TON");
        let (_, page) = get("offset=1&count=1");
        assert_eq!(page["result"]["items"].as_array().unwrap().len(), 1);
        assert_eq!(page["result"]["items"][0]["invoice_id"], 2);
        let (out, _) = get("count=1001");
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        assert!(out.contains("COUNT_INVALID"), "{out}");
    }

    #[test]
    fn now_payments_list_needs_a_jwt_and_pages() {
        let fake = FakeNowPayments::start("k3y").unwrap();
        let addr = fake.server.addr;
        fake.set_account("a@b.c", "pw");
        for (id, amount) in [(11, "2.99"), (12, "0.000001"), (13, "10")] {
            fake.add_payment("5077125051", id, "waiting", amount, "USD");
        }
        fake.add_payment("5077125099", 14, "finished", "1", "usd");
        let no_jwt = roundtrip(
            addr,
            "GET /v1/payment/?invoiceId=5077125051 HTTP/1.1\r\nx-api-key: k3y\r\n\r\n",
        );
        assert!(no_jwt.starts_with("HTTP/1.1 401"), "{no_jwt}");
        let bad = r#"{"email":"a@b.c","password":"PW"}"#;
        let denied = roundtrip(
            addr,
            &format!(
                "POST /v1/auth HTTP/1.1\r\ncontent-length: {}\r\n\r\n{bad}",
                bad.len()
            ),
        );
        assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");
        let good = r#"{"email":"a@b.c","password":"pw"}"#;
        let auth = roundtrip(
            addr,
            &format!(
                "POST /v1/auth HTTP/1.1\r\ncontent-length: {}\r\n\r\n{good}",
                good.len()
            ),
        );
        let body = auth.split("\r\n\r\n").nth(1).unwrap();
        let token = serde_json::from_str::<Value>(body).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let page = roundtrip(
            addr,
            &format!(
                "GET /v1/payment/?invoiceId=5077125051&limit=2&page=1 HTTP/1.1\r\n\
                 x-api-key: k3y\r\nAuthorization: Bearer {token}\r\n\r\n"
            ),
        );
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains(r#""price_amount":10,"#), "{page}");
        let body: Value = serde_json::from_str(page.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["total"], 3);
        assert_eq!(body["pagesCount"], 2);
        assert_eq!(body["page"], 1);
        assert_eq!(body["data"][0]["payment_id"], 13);
        assert_eq!(body["data"][0]["invoice_id"], 5_077_125_051_i64);

        let one = roundtrip(
            addr,
            "GET /v1/payment/12 HTTP/1.1\r\nx-api-key: k3y\r\n\r\n",
        );
        assert!(one.contains(r#""price_amount":0.000001,"#), "{one}");
        assert!(one.contains(r#""price_currency":"usd""#), "{one}");
        let unknown = roundtrip(
            addr,
            "GET /v1/payment/99 HTTP/1.1\r\nx-api-key: k3y\r\n\r\n",
        );
        assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
        let word = roundtrip(
            addr,
            "GET /v1/payment/abc HTTP/1.1\r\nx-api-key: k3y\r\n\r\n",
        );
        assert!(word.starts_with("HTTP/1.1 400"), "{word}");

        fake.expire_tokens();
        let expired = roundtrip(
            addr,
            &format!(
                "GET /v1/payment/ HTTP/1.1\r\nx-api-key: k3y\r\nAuthorization: Bearer {token}\r\n\r\n"
            ),
        );
        assert!(expired.starts_with("HTTP/1.1 401"), "{expired}");
        assert_eq!(fake.logins(), 1);
    }

    #[test]
    fn dropping_stops_the_server() {
        let fake = FakeNowPayments::start("k").unwrap();
        let addr = fake.server.addr;
        drop(fake);
        assert!(TcpStream::connect(addr).is_err());
    }
}
