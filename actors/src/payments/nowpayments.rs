//! NOWPayments client: creates hosted invoices (`POST /v1/invoice`).
//!
//! Source: "NOWPayments API" (Postman documenter,
//! <https://documenter.getpostman.com/view/7907941/S1a32n38>), sections
//! "Authentication" and "Create invoice"; sandbox: "NOWPayments API Sandbox"
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
//!   not 401).
//!
//! `price_amount` is a JSON number. It is built from the exact decimal string
//! and sent only if `serde_json` writes it back as the same decimal value (it
//! always does for up to 15 significant digits); otherwise the amount is
//! refused rather than rounded.

use std::fmt;
use std::str::FromStr;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Number, Value};

use super::{
    Invoice, check_decimals, check_url, http_client, invoice_amount, parse_base_url, post_json,
    provider_error, secret_header, snippet,
};
use crate::domain::{Money, OrderId};
use crate::{Error, Result};

/// The name in [`Error::Provider`].
pub const PROVIDER: &str = "nowpayments";
/// Production API.
pub const PRODUCTION_URL: &str = "https://api.nowpayments.io/v1";
/// Sandbox API (separate account and keys).
pub const SANDBOX_URL: &str = "https://api-sandbox.nowpayments.io/v1";
/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "x-api-key";

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
}

/// Creates NOWPayments invoices. Cheap to clone (the HTTP client is shared).
#[derive(Clone)]
pub struct NowPaymentsClient {
    http: reqwest::Client,
    /// `{base_url}/invoice`.
    invoice_url: String,
    auth: HeaderValue,
    api_key: SecretString,
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
            .field("ipn_callback_url", &self.ipn_callback_url)
            .field("success_url", &self.success_url)
            .field("cancel_url", &self.cancel_url)
            .field("decimals", &self.decimals)
            .finish()
    }
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
        Ok(Self {
            http: http_client()?,
            invoice_url: format!("{base}/invoice"),
            auth,
            api_key: cfg.api_key,
            ipn_callback_url,
            success_url: None,
            cancel_url: None,
            decimals: cfg.decimals,
        })
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

    fn parse_answer(&self, status: reqwest::StatusCode, body: &[u8]) -> Result<Invoice> {
        let fail = |message: String| provider_error(PROVIDER, message);
        let secret = self.api_key.expose_secret();
        let Ok(answer) = serde_json::from_slice::<Value>(body) else {
            return Err(fail(format!(
                "POST /invoice answered HTTP {status} without JSON ({})",
                snippet(body, secret)
            )));
        };
        if !status.is_success() || answer.get("status") == Some(&Value::Bool(false)) {
            let code = answer.get("code").and_then(Value::as_str);
            let message = answer.get("message").and_then(Value::as_str);
            let detail = match (code, message) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(text), None) | (None, Some(text)) => text.to_owned(),
                (None, None) => snippet(body, secret),
            };
            let detail = detail.replace(secret, "[REDACTED]");
            let detail: String = detail
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            return Err(fail(format!(
                "POST /invoice failed: {detail} (HTTP {status})"
            )));
        }
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
