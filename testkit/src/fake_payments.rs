//! Fake payment providers for tests: [`FakeCryptoPay`] (Crypto Pay API of
//! @CryptoBot) and [`FakeNowPayments`], each an HTTP/1.1 server on
//! `127.0.0.1` and a port of its own.
//!
//! They answer invoice creation the way the real APIs do, as far as their
//! documentation and known answers show:
//!
//! * Crypto Pay: `POST {base}/createInvoice` (and `getMe`) with the token in
//!   `Crypto-Pay-API-Token`; answers `{"ok":true,"result":{…}}` with
//!   `invoice_id`, `hash`, `bot_invoice_url`, the deprecated `pay_url`,
//!   `mini_app_invoice_url` and `web_app_invoice_url`. A missing or wrong
//!   token gets HTTP 401 `{"ok":false,"error":{"code":401,"name":"UNAUTHORIZED"}}`,
//!   an unknown method 405 `METHOD_NOT_FOUND`, missing parameters 400 with
//!   names in the API's style (`PARAM_AMOUNT_REQUIRED`, …; the fake's
//!   validation is an approximation).
//! * NOWPayments: `POST {base}/invoice` (and `GET {base}/status`) with the key
//!   in `x-api-key`; answers `{id, invoice_url, order_id, price_amount, …}`
//!   (`id` and `price_amount` as strings, as in their documented example). A
//!   missing or wrong key gets HTTP **403**
//!   `{"status":false,"statusCode":403,"code":"INVALID_API_KEY","message":"Invalid api key"}`,
//!   which is what the real API answers (not 401).
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

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

use crate::http_fake::{Request, Response, Server};
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
            Response::json(200, &json!({"ok": true, "result": result}))
        }
        _ => error(405, "METHOD_NOT_FOUND"),
    }
}

fn now_payments(shared: &Shared, req: &Request) -> Response {
    shared.lock().requests += 1;
    let error = |status: u16, code: &str, message: &str| {
        Response::json(
            status,
            &json!({"status": false, "statusCode": status, "code": code, "message": message}),
        )
    };
    if req.method == "GET" && req.path == "/v1/status" {
        return Response::json(200, &json!({"message": "OK"}));
    }
    if req.header("x-api-key") != Some(shared.credential.as_str()) {
        return error(403, "INVALID_API_KEY", "Invalid api key");
    }
    if shared.failing.load(Ordering::SeqCst) {
        return Response::server_error();
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
    fn dropping_stops_the_server() {
        let fake = FakeNowPayments::start("k").unwrap();
        let addr = fake.server.addr;
        drop(fake);
        assert!(TcpStream::connect(addr).is_err());
    }
}
