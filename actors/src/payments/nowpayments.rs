//! NOWPayments client: creates hosted invoices (`POST /v1/invoice`) and reads
//! payments back (`GET /v1/payment/{id}`, `GET /v1/payment/?invoiceId=…`).
//!
//! Source: "NOWPayments API" (Postman documenter,
//! <https://documenter.getpostman.com/view/7907941/S1a32n38>), sections
//! "Authentication", "Create invoice", "Get payment status", "Get list of
//! payments" and "Auth and API status"; sandbox: "NOWPayments API Sandbox"
//! (<https://documenter.getpostman.com/view/7907941/T1LSCRHC>):
//!
//! * base `https://api.nowpayments.io/v1` (sandbox
//!   `https://api-sandbox.nowpayments.io/v1`), API key in the `x-api-key`
//!   header;
//! * `POST /invoice` with a JSON body `{price_amount (number), price_currency
//!   ("usd"), order_id, order_description, ipn_callback_url, success_url?,
//!   cancel_url?}` answers `{id, order_id, price_amount, invoice_url,
//!   created_at, …}`; the documented example has `id` as a string, some
//!   answers have it as a number, both are accepted;
//! * errors are `{"status": false, "statusCode": 403, "code":
//!   "INVALID_API_KEY", "message": "Invalid api key"}` (a wrong key is 403,
//!   not 401);
//! * `GET /payment/{payment_id}` (`x-api-key`) answers one payment:
//!   `{payment_id (number), invoice_id, payment_status, price_amount (number),
//!   price_currency ("usd"), pay_amount, actually_paid, pay_currency,
//!   order_id, order_description, purchase_id, created_at, updated_at,
//!   outcome_amount, outcome_currency, …}`; statuses are `waiting`,
//!   `confirming`, `confirmed`, `sending`, `partially_paid`, `finished`,
//!   `failed`, `refunded`, `expired`. A non-numeric id answers 400
//!   `INVALID_REQUEST_PARAMS` "Payment id must be a number" (seen in
//!   PrevailExcel/laravel-nowpayments#8); an unknown id is not documented;
//! * `POST /auth` with `{"email", "password"}` (the dashboard login,
//!   case-sensitive) answers `{"token": "<JWT>"}`; "JWT token will be
//!   required for using 'Get list of payments' and 'Create payout'
//!   endpoints. For security reasons, JWT tokens expire in 5 minutes." We
//!   reuse a token for [`JWT_REUSE`] and log in again once when the list
//!   answers 401;
//! * `GET /payment/?limit=&page=&invoiceId=&sortBy=&orderBy=` needs
//!   `x-api-key` and `Authorization: Bearer <JWT>` (without the JWT it answers
//!   401 `AUTH_REQUIRED` "Authorization header is empty (Bearer JWTtoken is
//!   required)", NowPaymentsIO/nowpayments-api-js#6); `limit` is 1–500,
//!   `page` counts from 0 to `pagesCount - 1`, `invoiceId` filters by
//!   invoice, `sortBy` defaults to `created_at` and `orderBy` to `asc`; it
//!   answers `{"data": [payment…], "limit", "page", "pagesCount", "total"}`.
//!
//! `price_amount` is a JSON number. It is built from the exact decimal string
//! and sent only if `serde_json` writes it back as the same decimal value (it
//! always does for up to 15 significant digits); otherwise the amount is
//! refused rather than rounded.
//!
//! Amounts read back (`price_amount`, a number or a string) are taken from
//! the raw JSON text of the answer (`serde_json::value::RawValue`), never
//! through an `f64`: `2.990`, `"2.99"` and `299e-2` are all exactly 2.99, and
//! `2.9900000000000000001` does not become 2.99. They are then parsed like the
//! IPN handler parses them ([`Money::parse_decimal`] with the configured
//! decimals, the currency uppercased).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

use super::{
    Invoice, check_decimals, check_url, http_client, invoice_amount, parse_base_url, post_json,
    provider_error, secret_header, snippet, transport_message,
};
use crate::domain::{Currency, Money, OrderId};
use crate::{Error, Result};

/// The name in [`Error::Provider`].
pub const PROVIDER: &str = "nowpayments";
/// Production API.
pub const PRODUCTION_URL: &str = "https://api.nowpayments.io/v1";
/// Sandbox API (separate account and keys).
pub const SANDBOX_URL: &str = "https://api-sandbox.nowpayments.io/v1";
/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";
/// How long a JWT from `POST /auth` is reused (they expire after 5 minutes).
pub const JWT_REUSE: Duration = Duration::from_secs(4 * 60);
/// Most payments per page of `GET /payment/` (the API accepts 1–500).
pub const MAX_PAGE_SIZE: u32 = 500;
/// Pages read at most for one invoice, a guard against an API that never
/// says it is done.
const MAX_PAGES: u32 = 1000;

/// Settings of [`NowPaymentsClient`]. `Debug` does not show the key.
#[derive(Debug, Clone)]
pub struct NowPaymentsConfig {
    pub api_key: SecretString,
    /// [`PRODUCTION_URL`], [`SANDBOX_URL`], or a fake's URL in tests.
    pub base_url: String,
    /// Where NOWPayments sends IPN callbacks (our public webhook URL).
    pub ipn_callback_url: String,
    /// Fraction digits of the order currency's minor units (2 for USD).
    pub decimals: u32,
    /// The dashboard login, for the endpoints that need a JWT (the payment
    /// list); set together with `password` or not at all.
    pub email: Option<String>,
    pub password: Option<SecretString>,
}

/// A NOWPayments payment as `GET /payment/{id}` or the payment list report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpPayment {
    /// `payment_id`, as text even when the API gives a number.
    pub payment_id: String,
    /// `invoice_id`, when the payment was made through an invoice.
    pub invoice_id: Option<String>,
    /// `payment_status` as given: `waiting`, `confirming`, `confirmed`,
    /// `sending`, `partially_paid`, `finished`, `failed`, `refunded`, `expired`.
    pub status: String,
    /// `order_id`, when it parses as an [`OrderId`].
    pub order: Option<OrderId>,
    /// `price_amount` in `price_currency` (uppercased), exact with the
    /// client's decimals. `None` when either is missing, or when the amount
    /// is not exactly representable with those decimals (a re-deposit
    /// converted at another rate, say): it is never rounded.
    pub price: Option<Money>,
}

/// Creates NOWPayments invoices. Cheap to clone (the HTTP client is shared).
#[derive(Clone)]
pub struct NowPaymentsClient {
    http: reqwest::Client,
    /// `{base_url}/invoice`.
    invoice_url: String,
    /// `{base_url}/payment`.
    payment_url: String,
    /// `{base_url}/auth`.
    auth_url: String,
    auth: HeaderValue,
    api_key: SecretString,
    /// The dashboard login, when configured.
    login: Option<(String, SecretString)>,
    /// The last JWT and when it was obtained (shared by clones).
    jwt: Arc<Mutex<Option<Jwt>>>,
    page_size: u32,
    ipn_callback_url: String,
    success_url: Option<String>,
    cancel_url: Option<String>,
    decimals: u32,
}

impl fmt::Debug for NowPaymentsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NowPaymentsClient")
            .field("invoice_url", &self.invoice_url)
            .field("api_key", &"[REDACTED]")
            .field(
                "login",
                &self.login.as_ref().map(|(email, _)| (email, "[REDACTED]")),
            )
            .field("ipn_callback_url", &self.ipn_callback_url)
            .field("success_url", &self.success_url)
            .field("cancel_url", &self.cancel_url)
            .field("decimals", &self.decimals)
            .finish()
    }
}

/// A JWT from `POST /auth`.
#[derive(Clone)]
struct Jwt {
    /// `Bearer <token>`, flagged sensitive.
    header: HeaderValue,
    /// The token, to scrub it from anything quoted from an answer.
    token: SecretString,
    obtained: Instant,
}

/// A payment object as it arrives: ids and amounts kept as raw JSON text.
#[derive(Deserialize)]
struct RawPayment<'a> {
    #[serde(borrow)]
    payment_id: Option<&'a RawValue>,
    #[serde(borrow)]
    invoice_id: Option<&'a RawValue>,
    #[serde(borrow)]
    payment_status: Option<&'a RawValue>,
    #[serde(borrow)]
    order_id: Option<&'a RawValue>,
    #[serde(borrow)]
    price_amount: Option<&'a RawValue>,
    #[serde(borrow)]
    price_currency: Option<&'a RawValue>,
}

/// One page of `GET /payment/`.
#[derive(Deserialize)]
struct RawPage<'a> {
    #[serde(borrow)]
    data: Vec<RawPayment<'a>>,
    #[serde(rename = "pagesCount")]
    pages_count: Option<Value>,
}

/// The `POST /invoice` body we send.
#[derive(Debug, Serialize)]
struct CreateInvoice<'a> {
    price_amount: Number,
    price_currency: String,
    order_id: String,
    order_description: &'a str,
    ipn_callback_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    success_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancel_url: Option<&'a str>,
}

impl NowPaymentsClient {
    /// Checks the settings and builds the client (no request is made).
    pub fn new(cfg: NowPaymentsConfig) -> Result<Self> {
        let base = parse_base_url("nowpayments.base_url", &cfg.base_url)?;
        let auth = secret_header("nowpayments.api_key", cfg.api_key.expose_secret())?;
        let ipn_callback_url = check_url("nowpayments.ipn_callback_url", &cfg.ipn_callback_url)?;
        check_decimals(cfg.decimals)?;
        let email = cfg.email.filter(|e| !e.trim().is_empty());
        let password = cfg.password.filter(|p| !p.expose_secret().is_empty());
        let login = match (email, password) {
            (Some(email), Some(password)) => Some((email, password)),
            (None, None) => None,
            _ => {
                return Err(Error::invalid(
                    "nowpayments.email",
                    "email and password must be set together (both or neither)",
                ));
            }
        };
        Ok(Self {
            http: http_client()?,
            invoice_url: format!("{base}/invoice"),
            payment_url: format!("{base}/payment"),
            auth_url: format!("{base}/auth"),
            auth,
            api_key: cfg.api_key,
            login,
            jwt: Arc::new(Mutex::new(None)),
            page_size: MAX_PAGE_SIZE,
            ipn_callback_url,
            success_url: None,
            cancel_url: None,
            decimals: cfg.decimals,
        })
    }

    /// Payments per page of [`invoice_payments`](Self::invoice_payments)
    /// (1–[`MAX_PAGE_SIZE`], the default).
    pub fn with_page_size(mut self, page_size: u32) -> Result<Self> {
        if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
            return Err(Error::invalid(
                "nowpayments.page_size",
                format!("{page_size} is outside 1..={MAX_PAGE_SIZE}"),
            ));
        }
        self.page_size = page_size;
        Ok(self)
    }

    /// The decimals of amounts.
    pub fn decimals(&self) -> u32 {
        self.decimals
    }

    /// Whether email and password are configured (needed by the list endpoint).
    pub fn can_list_payments(&self) -> bool {
        self.login.is_some()
    }

    /// Where the invoice page sends the user after paying (`success_url`) or
    /// giving up (`cancel_url`), e.g. back to the bot (`https://t.me/…`).
    pub fn with_redirect_urls(
        mut self,
        success_url: Option<String>,
        cancel_url: Option<String>,
    ) -> Result<Self> {
        self.success_url = success_url
            .map(|u| check_url("nowpayments.success_url", &u))
            .transpose()?;
        self.cancel_url = cancel_url
            .map(|u| check_url("nowpayments.cancel_url", &u))
            .transpose()?;
        Ok(self)
    }

    /// Creates an invoice of `amount` for `order` (sent as `order_id`),
    /// described as `description` (the plan title).
    pub async fn create_invoice(
        &self,
        order: OrderId,
        amount: &Money,
        description: &str,
    ) -> Result<Invoice> {
        let body = CreateInvoice {
            price_amount: json_amount(&invoice_amount(amount, self.decimals)?)?,
            price_currency: amount.currency.as_str().to_ascii_lowercase(),
            order_id: order.to_string(),
            order_description: description,
            ipn_callback_url: &self.ipn_callback_url,
            success_url: self.success_url.as_deref(),
            cancel_url: self.cancel_url.as_deref(),
        };
        let (status, bytes) = post_json(
            &self.http,
            &self.invoice_url,
            (API_KEY_HEADER, &self.auth),
            &body,
            PROVIDER,
            "POST /invoice",
        )
        .await?;
        let invoice = self.parse_answer(status, &bytes)?;
        tracing::debug!(
            %order,
            invoice_id = %invoice.provider_invoice_id,
            "NOWPayments invoice created"
        );
        Ok(invoice)
    }

    /// `GET {base}/payment/{payment_id}` with the API key.
    pub async fn payment(&self, payment_id: &str) -> Result<NpPayment> {
        let id = payment_id.trim();
        if id.is_empty() {
            return Err(Error::invalid("payment_id", "must not be empty"));
        }
        let url = format!(
            "{}/{}",
            self.payment_url,
            utf8_percent_encode(id, NON_ALPHANUMERIC)
        );
        let (status, bytes) = self.get(&url, None, "GET /payment/{id}").await?;
        self.check_answer("GET /payment/{id}", status, &bytes, None)?;
        let raw: RawPayment = serde_json::from_slice(&bytes).map_err(|_| {
            provider_error(
                PROVIDER,
                format!(
                    "GET /payment/{{id}} answered something that is not a payment ({})",
                    snippet(&bytes, self.api_key.expose_secret())
                ),
            )
        })?;
        self.payment_from(&raw)
    }

    /// Every payment made against one invoice: `GET {base}/payment/` with
    /// `invoiceId`, `limit`, `page` (from 0), `sortBy=created_at` and
    /// `orderBy=asc`, the API key and a JWT, page after page until the last.
    /// The JWT comes from `POST {base}/auth` and is reused for [`JWT_REUSE`];
    /// a 401 gets one fresh login and one retry. A payment listed twice
    /// (the list moved between pages) is kept once; one naming another
    /// invoice is dropped.
    ///
    /// [`Error::Provider`] when email and password are not configured.
    pub async fn invoice_payments(&self, invoice_id: &str) -> Result<Vec<NpPayment>> {
        if self.login.is_none() {
            return Err(provider_error(
                PROVIDER,
                "listing payments needs the dashboard email and password \
                 (nowpayments.email, nowpayments.password)",
            ));
        }
        let invoice_id = invoice_id.trim();
        if invoice_id.is_empty() {
            return Err(Error::invalid("invoice_id", "must not be empty"));
        }
        let mut retried = false;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut page = 0;
        loop {
            if page >= MAX_PAGES {
                return Err(provider_error(
                    PROVIDER,
                    format!("GET /payment/ still had more after {MAX_PAGES} pages"),
                ));
            }
            let url = reqwest::Url::parse_with_params(
                &format!("{}/", self.payment_url),
                [
                    ("invoiceId", invoice_id.to_owned()),
                    ("limit", self.page_size.to_string()),
                    ("page", page.to_string()),
                    ("sortBy", "created_at".to_owned()),
                    ("orderBy", "asc".to_owned()),
                ],
            )
            .map_err(|e| provider_error(PROVIDER, format!("cannot build the list URL: {e}")))?;
            let jwt = self.jwt().await?;
            let (status, bytes) = self
                .get(url.as_str(), Some(&jwt.header), "GET /payment/")
                .await?;
            if status == StatusCode::UNAUTHORIZED && !retried {
                // Expired or revoked: log in again, once per call.
                retried = true;
                self.forget_jwt();
                continue;
            }
            self.check_answer("GET /payment/", status, &bytes, Some(&jwt.token))?;
            let parsed: RawPage = serde_json::from_slice(&bytes).map_err(|_| {
                provider_error(
                    PROVIDER,
                    format!(
                        "GET /payment/ answered something that is not a page of payments ({})",
                        self.scrubbed_snippet(&bytes, Some(&jwt.token))
                    ),
                )
            })?;
            let count = parsed.data.len();
            for raw in &parsed.data {
                let payment = self.payment_from(raw)?;
                if payment
                    .invoice_id
                    .as_deref()
                    .is_some_and(|id| id != invoice_id)
                {
                    continue;
                }
                if seen.insert(payment.payment_id.clone()) {
                    out.push(payment);
                }
            }
            page += 1;
            let pages_count = parsed
                .pages_count
                .as_ref()
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()));
            let more = match pages_count {
                Some(pages) => u64::from(page) < pages,
                None => count >= self.page_size as usize,
            };
            if !more || count == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// A JWT younger than [`JWT_REUSE`], logging in when there is none.
    async fn jwt(&self) -> Result<Jwt> {
        if let Some(jwt) = self.cached_jwt()
            && jwt.obtained.elapsed() < JWT_REUSE
        {
            return Ok(jwt);
        }
        let jwt = self.log_in().await?;
        *self.jwt.lock().unwrap_or_else(|e| e.into_inner()) = Some(jwt.clone());
        Ok(jwt)
    }

    fn cached_jwt(&self) -> Option<Jwt> {
        self.jwt.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn forget_jwt(&self) {
        *self.jwt.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// `POST {base}/auth` with the dashboard login.
    async fn log_in(&self) -> Result<Jwt> {
        let Some((email, password)) = &self.login else {
            return Err(provider_error(
                PROVIDER,
                "no dashboard email and password configured",
            ));
        };
        let body = serde_json::json!({
            "email": email,
            "password": password.expose_secret(),
        });
        let (status, bytes) = post_json(
            &self.http,
            &self.auth_url,
            (API_KEY_HEADER, &self.auth),
            &body,
            PROVIDER,
            "POST /auth",
        )
        .await?;
        self.check_answer("POST /auth", status, &bytes, None)?;
        let token = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| provider_error(PROVIDER, "POST /auth answered without a token"))?;
        let mut header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            provider_error(
                PROVIDER,
                "POST /auth answered a token that cannot go in a header (not shown)",
            )
        })?;
        header.set_sensitive(true);
        tracing::debug!("NOWPayments JWT obtained");
        Ok(Jwt {
            header,
            token: SecretString::from(token),
            obtained: Instant::now(),
        })
    }

    /// GETs `url` with the API key (and the JWT when given); transport
    /// failures become [`Error::Provider`] naming `what`.
    async fn get(
        &self,
        url: &str,
        bearer: Option<&HeaderValue>,
        what: &str,
    ) -> Result<(StatusCode, bytes::Bytes)> {
        let mut request = self.http.get(url).header(API_KEY_HEADER, self.auth.clone());
        if let Some(bearer) = bearer {
            request = request.header(AUTHORIZATION, bearer.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| provider_error(PROVIDER, transport_message(what, e)))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            provider_error(
                PROVIDER,
                transport_message(&format!("reading the {what} answer"), e),
            )
        })?;
        Ok((status, bytes))
    }

    /// An [`NpPayment`] from the raw fields; amounts from their JSON text.
    fn payment_from(&self, raw: &RawPayment) -> Result<NpPayment> {
        let fail = |message: String| provider_error(PROVIDER, message);
        let payment_id = raw_scalar(raw.payment_id)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| fail("a payment in the answer has no payment_id".to_owned()))?;
        let payment_id: String = payment_id
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        let status = raw
            .payment_status
            .and_then(|r| serde_json::from_str::<String>(r.get()).ok())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| fail(format!("payment {payment_id} has no payment_status")))?;
        let order = raw_scalar(raw.order_id).and_then(|o| o.parse::<OrderId>().ok());
        let invoice_id = raw_scalar(raw.invoice_id).filter(|id| !id.is_empty());
        let currency = raw
            .price_currency
            .and_then(|r| serde_json::from_str::<String>(r.get()).ok())
            .and_then(|code| Currency::new(code.trim().to_ascii_uppercase()).ok());
        let amount = raw.price_amount.and_then(|r| {
            let text = r.get();
            match text.strip_prefix('"') {
                Some(_) => serde_json::from_str::<String>(text).ok(),
                None => Some(text.to_owned()),
            }
        });
        let price = match (amount, currency) {
            (Some(amount), Some(currency)) => {
                let price = plain_decimal(amount.trim())
                    .and_then(|plain| Money::parse_decimal(&plain, self.decimals, currency));
                if price.is_none() {
                    tracing::warn!(
                        payment_id = %payment_id,
                        "NOWPayments price_amount is not exact with {} decimals; left out",
                        self.decimals
                    );
                }
                price
            }
            _ => None,
        };
        Ok(NpPayment {
            payment_id,
            invoice_id,
            status: status
                .chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect(),
            order,
            price,
        })
    }

    /// `Err(Error::Provider)` for a non-2xx answer or `"status": false`,
    /// naming the API's `code` and `message`; anything quoted is scrubbed of
    /// the API key, the password and `jwt`.
    fn check_answer(
        &self,
        what: &str,
        status: StatusCode,
        body: &[u8],
        jwt: Option<&SecretString>,
    ) -> Result<()> {
        let fail = |message: String| provider_error(PROVIDER, message);
        let Ok(answer) = serde_json::from_slice::<Value>(body) else {
            return Err(fail(format!(
                "{what} answered HTTP {status} without JSON ({})",
                self.scrubbed_snippet(body, jwt)
            )));
        };
        if status.is_success() && answer.get("status") != Some(&Value::Bool(false)) {
            return Ok(());
        }
        let code = answer.get("code").and_then(Value::as_str);
        let message = answer.get("message").and_then(Value::as_str);
        let detail = match (code, message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(text), None) | (None, Some(text)) => text.to_owned(),
            (None, None) => self.scrubbed_snippet(body, jwt),
        };
        let detail = self.scrub(&detail, jwt);
        let detail: String = detail
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        Err(fail(format!("{what} failed: {detail} (HTTP {status})")))
    }

    fn scrub(&self, text: &str, jwt: Option<&SecretString>) -> String {
        let mut out = text.replace(self.api_key.expose_secret(), "[REDACTED]");
        let password = self.login.as_ref().map(|(_, p)| p.expose_secret());
        for secret in [password, jwt.map(|j| j.expose_secret())]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
        {
            out = out.replace(secret, "[REDACTED]");
        }
        out
    }

    fn scrubbed_snippet(&self, body: &[u8], jwt: Option<&SecretString>) -> String {
        let text = self.scrub(&String::from_utf8_lossy(body), jwt);
        snippet(text.as_bytes(), self.api_key.expose_secret())
    }

    fn parse_answer(&self, status: reqwest::StatusCode, body: &[u8]) -> Result<Invoice> {
        let fail = |message: String| provider_error(PROVIDER, message);
        self.check_answer("POST /invoice", status, body, None)?;
        let answer: Value = serde_json::from_slice(body)
            .map_err(|_| fail("POST /invoice answered without JSON".to_owned()))?;
        let id = match answer.get("id") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(fail("POST /invoice answer has no id".to_owned())),
        };
        let url = answer
            .get("invoice_url")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                fail(format!(
                    "POST /invoice answer for invoice {id} has no invoice_url"
                ))
            })?;
        Ok(Invoice {
            provider_invoice_id: id,
            pay_url: url.to_owned(),
        })
    }
}

/// The decimal string `text` (`"2.99"`, `"2.90"`, `"7"`) as a JSON number
/// that serializes to the same decimal value (`2.99`, `2.9`, `7`), or an
/// error when `serde_json` (no `arbitrary_precision`) cannot carry it exactly.
pub fn json_amount(text: &str) -> Result<Number> {
    let refuse = || {
        Error::invalid(
            "amount",
            format!("{text} cannot be sent as an exact JSON number (too many significant digits)"),
        )
    };
    let wanted = canonical_decimal(text).ok_or_else(refuse)?;
    // "2.90" → "2.9", "3.00" → "3" (an integer stays an integer in JSON).
    let short = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    };
    let number = Number::from_str(short).map_err(|_| refuse())?;
    let written = serde_json::to_string(&number).map_err(|_| refuse())?;
    if canonical_decimal(&written) != Some(wanted) {
        return Err(refuse());
    }
    Ok(number)
}

/// The value of a plain or scientific decimal literal (`-`, digits, optional
/// `.digits`, optional `e±digits`) as significant digits without leading or
/// trailing zeros and a power of ten: `"2.990"` and `"299e-2"` both give
/// `("299", -2)`; zero is `("0", 0)`.
fn canonical_decimal(text: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => {
            let exp = &rest[i + 1..];
            let exp = exp.strip_prefix('+').unwrap_or(exp);
            (&rest[..i], exp.parse::<i64>().ok()?)
        }
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !(int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: String = format!("{int}{frac}").trim_start_matches('0').to_owned();
    let mut exponent = exponent.checked_sub(i64::try_from(frac.len()).ok()?)?;
    while digits.ends_with('0') {
        digits.pop();
        exponent += 1;
    }
    if digits.is_empty() {
        return Some((false, "0".to_owned(), 0));
    }
    Some((negative, digits, exponent))
}

/// An id or text field as text: a JSON string decoded, a number as written,
/// `null` or anything else as `None`.
fn raw_scalar(raw: Option<&RawValue>) -> Option<String> {
    let text = raw?.get();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text)
            .ok()
            .map(|s| s.trim().to_owned())
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(text.to_owned())
    } else {
        None
    }
}

/// The decimal literal `text` (`"2.990"`, `"299e-2"`, `"1e-6"`) written
/// without an exponent (`"2.99"`, `"2.99"`, `"0.000001"`); negative values,
/// garbage and exponents beyond ±60 are `None`.
fn plain_decimal(text: &str) -> Option<String> {
    let (negative, digits, exponent) = canonical_decimal(text)?;
    if negative {
        return None;
    }
    if !(-60..=60).contains(&exponent) {
        return None;
    }
    if exponent >= 0 {
        return Some(format!("{digits}{}", "0".repeat(exponent as usize)));
    }
    let shift = exponent.unsigned_abs() as usize;
    Some(if digits.len() > shift {
        let (int, frac) = digits.split_at(digits.len() - shift);
        format!("{int}.{frac}")
    } else {
        format!("0.{}{digits}", "0".repeat(shift - digits.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_canonical() {
        let c = canonical_decimal;
        assert_eq!(c("2.99"), Some((false, "299".into(), -2)));
        assert_eq!(c("2.990"), c("299e-2"));
        assert_eq!(c("0.000001"), c("1e-6"));
        assert_eq!(c("100"), Some((false, "1".into(), 2)));
        assert_eq!(c("1e+20"), c("100000000000000000000"));
        assert_eq!(c("0.00"), Some((false, "0".into(), 0)));
        assert_eq!(c("-0.5"), Some((true, "5".into(), -1)));
        assert_eq!(c(".5"), None);
        assert_eq!(c("1.2.3"), None);
        assert_eq!(c("abc"), None);
    }

    #[test]
    fn plain_decimals_have_no_exponent() {
        let p = |s: &str| plain_decimal(s);
        assert_eq!(p("2.99").as_deref(), Some("2.99"));
        assert_eq!(p("2.990").as_deref(), Some("2.99"));
        assert_eq!(p("299e-2").as_deref(), Some("2.99"));
        assert_eq!(p("1e-6").as_deref(), Some("0.000001"));
        assert_eq!(p("0.000001").as_deref(), Some("0.000001"));
        assert_eq!(p("5").as_deref(), Some("5"));
        assert_eq!(p("1.5E+2").as_deref(), Some("150"));
        assert_eq!(p("0").as_deref(), Some("0"));
        assert_eq!(p("-1"), None);
        assert_eq!(p("1e999"), None);
        assert_eq!(p("abc"), None);
    }

    #[test]
    fn raw_scalars() {
        let raw = |s: &str| serde_json::from_str::<Box<RawValue>>(s).unwrap();
        assert_eq!(
            raw_scalar(Some(&raw("5077125051"))).as_deref(),
            Some("5077125051")
        );
        assert_eq!(raw_scalar(Some(&raw(r#"" 42 ""#))).as_deref(), Some("42"));
        assert_eq!(raw_scalar(Some(&raw("null"))), None);
        assert_eq!(raw_scalar(Some(&raw("{}"))), None);
        assert_eq!(raw_scalar(None), None);
    }

    #[test]
    fn json_amounts_are_exact_or_refused() {
        let j = |s: &str| json_amount(s).map(|n| serde_json::to_string(&n).unwrap());
        assert_eq!(j("2.99").unwrap(), "2.99");
        assert_eq!(j("2.90").unwrap(), "2.9");
        assert_eq!(j("3.00").unwrap(), "3");
        assert_eq!(j("0.00").unwrap(), "0");
        assert_eq!(j("500").unwrap(), "500");
        assert_eq!(j("0.000001").unwrap(), "1e-6");
        assert_eq!(j("1234567890123.45").unwrap(), "1234567890123.45");
        assert!(j("1234567890123456.78").is_err());
        assert!(j("92233720368547758.07").is_err());
    }
}
