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

mod answers;
mod auth;

pub use answers::json_amount;

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
}
