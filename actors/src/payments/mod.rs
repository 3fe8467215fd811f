//! Payments: the clients of the providers that sell through an invoice page
//! (Crypto Pay (@CryptoBot) and NOWPayments), Telegram Stars through the bot's
//! [`StarsGateway`], checkout over every provider, and the [`Intake`] every
//! payment event goes through.
//!
//! Both turn an order into an invoice on the provider's side and return the
//! URL the user pays at. Amounts go out as decimals built exactly from our
//! integer minor units ([`minor_to_decimal`]); no float ever touches them.
//! Every failure on the provider's side (transport, timeout, HTTP 5xx, an API
//! error) is an [`Error::Provider`] whose message names what went wrong but
//! never carries a token or key. Webhook signatures are checked elsewhere
//! (`subvisor-http`).

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::HeaderValue;

use crate::domain::Money;
use crate::{Error, Result};

pub mod checkout;
pub mod cryptobot;
pub mod events;
pub mod intake;
pub mod nowpayments;
pub mod reconciler;
pub mod stars;
pub mod worker;

pub use checkout::{Checkout, PaymentClients, Purchase};
pub use cryptobot::{CryptoBotClient, CryptoBotConfig, CryptoBotPricing};
pub use intake::{Intake, Outcome, PaymentAction, PaymentEvent, Receipt};
pub use nowpayments::{NowPaymentsClient, NowPaymentsConfig};
pub use reconciler::{PaymentReconciler, ReconcileReport};
pub use stars::{StarDirection, StarTransaction, StarsGateway};
pub use worker::PaymentWorker;

/// Time limit of one request to a provider, connecting included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time limit of the TCP/TLS connect, within [`REQUEST_TIMEOUT`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most fraction digits an amount may have (10^18 still fits an `i64`).
pub const MAX_DECIMALS: u32 = 18;
/// How much of a provider's non-JSON answer goes into an error message.
const SNIPPET_CHARS: usize = 160;

/// An invoice created on the provider's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// The provider's id of the invoice (Crypto Pay `invoice_id`, NOWPayments `id`).
    pub provider_invoice_id: String,
    /// Where the user pays.
    pub pay_url: String,
}

/// `minor` integer minor units as a decimal string with exactly `decimals`
/// fraction digits: `(299, 2)` → `"2.99"`, `(5, 2)` → `"0.05"`, `(7, 0)` → `"7"`.
///
/// Negative amounts and more than [`MAX_DECIMALS`] digits are refused.
pub fn minor_to_decimal(minor: i64, decimals: u32) -> Result<String> {
    if minor < 0 {
        return Err(Error::invalid(
            "amount",
            format!("{minor} minor units: amounts must not be negative"),
        ));
    }
    check_decimals(decimals)?;
    let digits = minor.to_string();
    let decimals = decimals as usize;
    if decimals == 0 {
        return Ok(digits);
    }
    // Left-pad so there is at least one digit before the point.
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (int, frac) = padded.split_at(padded.len() - decimals);
    Ok(format!("{int}.{frac}"))
}

pub(crate) fn check_decimals(decimals: u32) -> Result<()> {
    if decimals > MAX_DECIMALS {
        return Err(Error::invalid(
            "decimals",
            format!("{decimals} is more than {MAX_DECIMALS} fraction digits"),
        ));
    }
    Ok(())
}

/// The amount of an invoice: positive, as an exact decimal string.
pub(crate) fn invoice_amount(amount: &Money, decimals: u32) -> Result<String> {
    if amount.minor <= 0 {
        return Err(Error::invalid(
            "amount",
            format!("{amount}: an invoice amount must be positive"),
        ));
    }
    minor_to_decimal(amount.minor, decimals)
}

/// A parsed `http(s)://` base URL, without a trailing slash, query or fragment.
pub(crate) fn parse_base_url(field: &'static str, raw: &str) -> Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = parse_url(field, trimmed)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(
            field,
            format!("{trimmed:?} must not have a query or fragment"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// An `http(s)://` URL with a host, returned as given (callbacks, redirects).
pub(crate) fn check_url(field: &'static str, raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    parse_url(field, trimmed)?;
    Ok(trimmed.to_owned())
}

fn parse_url(field: &'static str, text: &str) -> Result<reqwest::Url> {
    let url = reqwest::Url::parse(text)
        .map_err(|e| Error::invalid(field, format!("{text:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::invalid(
            field,
            format!("{text:?} must be an http(s) URL with a host"),
        ));
    }
    Ok(url)
}

/// A header value for a credential, flagged sensitive (hidden from `Debug`).
pub(crate) fn secret_header(field: &'static str, secret: &str) -> Result<HeaderValue> {
    if secret.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    // The error of `from_str` does not echo the value.
    let mut value = HeaderValue::from_str(secret).map_err(|_| {
        Error::invalid(
            field,
            "contains characters not allowed in an HTTP header (not shown)",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The HTTP client both providers use: rustls, [`REQUEST_TIMEOUT`], no redirects
/// (an API call that redirects is misconfigured, and a redirect could carry the
/// credential header to another host).
pub(crate) fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("subvisor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::invalid("payments", format!("cannot build the HTTP client: {e}")))
}

/// POSTs `body` as JSON with the credential header and returns the answer's
/// status and bytes; transport failures become [`Error::Provider`] naming `what`.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &str,
    auth: (&'static str, &HeaderValue),
    body: &impl serde::Serialize,
    provider: &'static str,
    what: &str,
) -> Result<(reqwest::StatusCode, bytes::Bytes)> {
    let response = http
        .post(url)
        .header(auth.0, auth.1.clone())
        .json(body)
        .send()
        .await
        .map_err(|e| provider_error(provider, transport_message(what, e)))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| {
        provider_error(
            provider,
            transport_message(&format!("reading the {what} answer"), e),
        )
    })?;
    Ok((status, bytes))
}

pub(crate) fn provider_error(provider: &'static str, message: impl Into<String>) -> Error {
    Error::Provider {
        provider,
        message: message.into(),
    }
}

/// A transport failure (connect, TLS, timeout, reading the body) as a message:
/// what happened and the error chain, without the URL.
pub(crate) fn transport_message(what: &str, err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        format!("timed out after {}s", REQUEST_TIMEOUT.as_secs())
    } else if err.is_connect() {
        "cannot connect".to_owned()
    } else if err.is_body() || err.is_decode() {
        "failed reading the answer".to_owned()
    } else {
        "failed".to_owned()
    };
    let err = err.without_url();
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !chain.contains(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = cause.source();
    }
    format!("{what} {kind} ({chain})")
}

/// A short, printable excerpt of a provider's answer for an error message,
/// with `secret` blotted out should the answer echo it.
pub(crate) fn snippet(body: &[u8], secret: &str) -> String {
    let text = String::from_utf8_lossy(body);
    let text = if secret.is_empty() {
        text.into_owned()
    } else {
        text.replace(secret, "[REDACTED]")
    };
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(SNIPPET_CHARS)
        .collect();
    if text.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.is_empty() {
        "empty body".to_owned()
    } else {
        format!("body: {out}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_are_exact() {
        assert_eq!(minor_to_decimal(299, 2).unwrap(), "2.99");
        assert_eq!(minor_to_decimal(0, 2).unwrap(), "0.00");
        assert_eq!(minor_to_decimal(5, 2).unwrap(), "0.05");
        assert_eq!(minor_to_decimal(100, 2).unwrap(), "1.00");
        assert_eq!(minor_to_decimal(7, 0).unwrap(), "7");
        assert_eq!(minor_to_decimal(1, 6).unwrap(), "0.000001");
        assert_eq!(
            minor_to_decimal(i64::MAX, 18).unwrap(),
            "9.223372036854775807"
        );
        assert!(minor_to_decimal(-1, 2).is_err());
        assert!(minor_to_decimal(1, 19).is_err());
    }

    #[test]
    fn snippets_are_short_and_scrubbed() {
        assert_eq!(snippet(b"", "k"), "empty body");
        assert_eq!(
            snippet(b"<h1>bad\n gateway k3y</h1>", "k3y"),
            "body: <h1>bad gateway [REDACTED]</h1>"
        );
        let long = "x".repeat(1000);
        assert!(snippet(long.as_bytes(), "s").chars().count() < 200);
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            parse_base_url("u", "https://pay.crypt.bot/api/").unwrap(),
            "https://pay.crypt.bot/api"
        );
        assert!(parse_base_url("u", "ftp://x/api").is_err());
        assert!(parse_base_url("u", "not a url").is_err());
        assert!(parse_base_url("u", "https://x/api?a=1").is_err());
        assert_eq!(
            check_url("u", " https://x/hook/?a=1 ").unwrap(),
            "https://x/hook/?a=1"
        );
        assert!(check_url("u", "/relative").is_err());
    }
}
