//! Crypto Pay API (@CryptoBot) client: creates invoices and reads them back.
//!
//! Source: "Crypto Pay API", <https://help.send.tg/en/articles/10279948-crypto-pay-api>
//! (formerly <https://help.crypt.bot/crypto-pay-api>), methods `createInvoice`
//! and `getInvoices`, class `Invoice`, and section "Authorizing your app":
//!
//! * requests go to `https://pay.crypt.bot/api/{method}` (testnet:
//!   `https://testnet-pay.crypt.bot/api/{method}`) with the app's token in the
//!   `Crypto-Pay-API-Token` header; parameters may be the URL query string or
//!   a JSON, form-urlencoded or multipart body (GET or POST);
//! * every answer is `{"ok": true, "result": …}` or
//!   `{"ok": false, "error": {"code": 401, "name": "UNAUTHORIZED"}}` (the HTTP
//!   status matches `code`);
//! * `createInvoice` takes `currency_type` (`"crypto"`, the default, or
//!   `"fiat"`), `asset` (crypto) or `fiat` plus optional `accepted_assets`
//!   (comma-separated), `amount` as a decimal string, `description` (≤ 1024
//!   characters), `payload` (≤ 4 KB; ours is the order UUID) and `expires_in`
//!   (1–2678400 s); it returns an `Invoice` with `invoice_id`, `hash`,
//!   `status`, `bot_invoice_url` (`pay_url` before API 1.2, now deprecated),
//!   `mini_app_invoice_url` and `web_app_invoice_url` (API 1.4);
//! * `getInvoices` takes optional `asset` and `fiat` (codes separated by
//!   commas), `invoice_ids` (invoice ids separated by commas), `status`
//!   (`active` or `paid`; all by default), `offset` (default 0) and `count`
//!   (1–1000, default 100). The documentation says it "returns array of
//!   Invoice"; the answer actually wraps the array as `{"items": […]}` (what
//!   the client libraries read, e.g. `response_data_key=["items"]` in
//!   py-stollen/milkpay-cryptopay); both shapes are accepted. Ids the app
//!   does not know are simply absent;
//! * an `Invoice` has `invoice_id` (number), `status` (`active`, `paid` or
//!   `expired`), `currency_type` (`crypto` or `fiat`), `asset` or `fiat`,
//!   `amount` (a decimal string), `payload`, `created_at` and, once paid,
//!   `paid_at` (ISO 8601), `paid_asset`, `paid_amount`, `paid_usd_rate`, ….
//!
//! Amounts read back are parsed exactly like the webhook does
//! ([`Money::parse_decimal`] with the configured decimals, the code
//! uppercased); an amount that does not fit is an error, never rounded.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

use super::{
    Invoice, check_decimals, http_client, invoice_amount, parse_base_url, post_json,
    provider_error, secret_header, snippet,
};
use crate::domain::{Currency, Money, OrderId};
use crate::{Error, Result};

/// The name in [`Error::Provider`].
pub const PROVIDER: &str = "cryptobot";
/// Mainnet API (@CryptoBot).
pub const MAINNET_URL: &str = "https://pay.crypt.bot/api";
/// Testnet API (@CryptoTestnetBot); its tokens do not work on mainnet.
pub const TESTNET_URL: &str = "https://testnet-pay.crypt.bot/api";
/// The header carrying the app token.
pub const TOKEN_HEADER: &str = "Crypto-Pay-API-Token";
/// Longest `expires_in` the API accepts (31 days).
pub const MAX_EXPIRES_IN: u32 = 2_678_400;
/// Longest `description` the API accepts, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Most invoices one `getInvoices` call returns (`count` is 1–1000); longer
/// id lists are asked for in batches of this size.
pub const MAX_INVOICES_PER_CALL: usize = 1000;

/// The `status` of a Crypto Pay invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoInvoiceStatus {
    /// Waiting for payment.
    Active,
    Paid,
    /// Not paid in time (`expires_in`).
    Expired,
    /// A status the documentation does not list, as given.
    Other(String),
}

impl CryptoInvoiceStatus {
    fn parse(status: &str) -> Self {
        match status {
            "active" => Self::Active,
            "paid" => Self::Paid,
            "expired" => Self::Expired,
            other => Self::Other(printable(other)),
        }
    }
}

/// A Crypto Pay invoice as `getInvoices` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoInvoice {
    pub invoice_id: i64,
    pub status: CryptoInvoiceStatus,
    /// The invoice amount in its fiat (`currency_type` `"fiat"`) or asset,
    /// parsed exactly with the client's configured decimals (the webhook's
    /// rule: `Money::parse_decimal(amount, decimals, code uppercased)`).
    pub amount: Money,
    /// The order id from the invoice `payload`, if it parses as an [`OrderId`].
    pub order: Option<OrderId>,
    /// When it was paid (`paid_at`), for paid invoices.
    pub paid_at: Option<DateTime<Utc>>,
}

/// How invoices are priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoBotPricing {
    /// The amount is in a crypto asset (`currency_type: "crypto"`): the order's
    /// currency must be this asset (`USDT`, `TON`, …), its minor units having
    /// `decimals` fraction digits.
    Asset { asset: String, decimals: u32 },
    /// The amount is in the order's fiat currency (`currency_type: "fiat"`,
    /// `fiat: "USD"`), its minor units having `decimals` fraction digits; the
    /// user pays in one of `accepted_assets` (`"USDT,TON"`), or in any asset
    /// when `None`.
    Fiat {
        accepted_assets: Option<String>,
        decimals: u32,
    },
}

/// Settings of [`CryptoBotClient`]. `Debug` does not show the token.
#[derive(Debug, Clone)]
pub struct CryptoBotConfig {
    /// The app's API token from @CryptoBot (or @CryptoTestnetBot).
    pub token: SecretString,
    /// [`MAINNET_URL`], [`TESTNET_URL`], or a fake's URL in tests.
    pub base_url: String,
    pub pricing: CryptoBotPricing,
    /// Payment time limit of new invoices, in seconds (1–2678400).
    pub expires_in: Option<u32>,
}

/// Creates Crypto Pay invoices. Cheap to clone (the HTTP client is shared).
#[derive(Clone)]
pub struct CryptoBotClient {
    http: reqwest::Client,
    /// `{base_url}/createInvoice`.
    create_invoice_url: String,
    /// `{base_url}/getInvoices`.
    get_invoices_url: String,
    /// The token as a sensitive header value.
    auth: HeaderValue,
    /// The token, to scrub it from anything quoted from an answer.
    token: SecretString,
    pricing: CryptoBotPricing,
    expires_in: Option<u32>,
}

impl fmt::Debug for CryptoBotClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoBotClient")
            .field("create_invoice_url", &self.create_invoice_url)
            .field("token", &"[REDACTED]")
            .field("pricing", &self.pricing)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The `getInvoices` parameters we send.
#[derive(Serialize)]
struct GetInvoices {
    /// Ids separated by commas.
    invoice_ids: String,
    offset: usize,
    count: usize,
}

/// The `createInvoice` parameters we send.
#[derive(Serialize)]
struct CreateInvoice<'a> {
    currency_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fiat: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    accepted_assets: Option<&'a str>,
    amount: String,
    description: &'a str,
    payload: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<u32>,
}

impl CryptoBotClient {
    /// Checks the settings and builds the client (no request is made).
    pub fn new(cfg: CryptoBotConfig) -> Result<Self> {
        let base = parse_base_url("cryptobot.base_url", &cfg.base_url)?;
        let auth = secret_header("cryptobot.token", cfg.token.expose_secret())?;
        match &cfg.pricing {
            CryptoBotPricing::Asset { asset, decimals } => {
                Currency::new(asset.as_str())
                    .map_err(|e| Error::invalid("cryptobot.asset", e.to_string()))?;
                check_decimals(*decimals)?;
            }
            CryptoBotPricing::Fiat {
                accepted_assets,
                decimals,
            } => {
                if let Some(list) = accepted_assets {
                    let ok = list
                        .split(',')
                        .all(|code| Currency::new(code.to_owned()).is_ok());
                    if !ok {
                        return Err(Error::invalid(
                            "cryptobot.accepted_assets",
                            format!(
                                "{list:?} must be asset codes separated by commas, e.g. \"USDT,TON\""
                            ),
                        ));
                    }
                }
                check_decimals(*decimals)?;
            }
        }
        if let Some(secs) = cfg.expires_in
            && !(1..=MAX_EXPIRES_IN).contains(&secs)
        {
            return Err(Error::invalid(
                "cryptobot.expires_in",
                format!("{secs} s is outside 1..={MAX_EXPIRES_IN}"),
            ));
        }
        Ok(Self {
            http: http_client()?,
            create_invoice_url: format!("{base}/createInvoice"),
            get_invoices_url: format!("{base}/getInvoices"),
            auth,
            token: cfg.token,
            pricing: cfg.pricing,
            expires_in: cfg.expires_in,
        })
    }

    /// Creates an invoice of `amount` for `order` (sent as the `payload`),
    /// described to the payer as `description` (the plan title).
    ///
    /// In asset pricing the amount's currency must be the configured asset;
    /// in fiat pricing it is the invoice's fiat currency.
    pub async fn create_invoice(
        &self,
        order: OrderId,
        amount: &Money,
        description: &str,
    ) -> Result<Invoice> {
        let body = self.invoice_request(order, amount, description)?;
        let (status, bytes) = post_json(
            &self.http,
            &self.create_invoice_url,
            (TOKEN_HEADER, &self.auth),
            &body,
            PROVIDER,
            "createInvoice",
        )
        .await?;
        let invoice = self.parse_answer(status, &bytes)?;
        tracing::debug!(
            %order,
            invoice_id = %invoice.provider_invoice_id,
            "Crypto Pay invoice created"
        );
        Ok(invoice)
    }

    /// The decimals of amounts (from the pricing).
    pub fn decimals(&self) -> u32 {
        match &self.pricing {
            CryptoBotPricing::Asset { decimals, .. } | CryptoBotPricing::Fiat { decimals, .. } => {
                *decimals
            }
        }
    }

    /// `getInvoices` for these ids, asked in batches of at most
    /// [`MAX_INVOICES_PER_CALL`] (`count` = the ids of the batch). Ids the
    /// API does not know are simply absent from the result; duplicates are
    /// asked once, and anything the API returns that was not asked for is
    /// dropped.
    pub async fn get_invoices(&self, invoice_ids: &[i64]) -> Result<Vec<CryptoInvoice>> {
        let mut seen = HashSet::new();
        let wanted: Vec<i64> = invoice_ids
            .iter()
            .copied()
            .filter(|id| seen.insert(*id))
            .collect();
        let mut out = Vec::with_capacity(wanted.len());
        for batch in wanted.chunks(MAX_INVOICES_PER_CALL) {
            let body = GetInvoices {
                invoice_ids: batch
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                offset: 0,
                count: batch.len(),
            };
            let (status, bytes) = post_json(
                &self.http,
                &self.get_invoices_url,
                (TOKEN_HEADER, &self.auth),
                &body,
                PROVIDER,
                "getInvoices",
            )
            .await?;
            let result = self.envelope("getInvoices", status, &bytes)?;
            let items = match result {
                Value::Array(items) => items,
                Value::Object(mut obj) => match obj.get_mut("items").map(Value::take) {
                    Some(Value::Array(items)) => items,
                    _ => {
                        return Err(provider_error(
                            PROVIDER,
                            "getInvoices result has no items array",
                        ));
                    }
                },
                _ => {
                    return Err(provider_error(
                        PROVIDER,
                        "getInvoices result is neither an object nor an array",
                    ));
                }
            };
            let asked: HashSet<i64> = batch.iter().copied().collect();
            for item in &items {
                let invoice = self.parse_invoice(item)?;
                if asked.contains(&invoice.invoice_id) {
                    out.push(invoice);
                }
            }
        }
        Ok(out)
    }

    /// One `Invoice` object of `getInvoices`.
    fn parse_invoice(&self, item: &Value) -> Result<CryptoInvoice> {
        let fail = |message: String| provider_error(PROVIDER, message);
        let invoice_id = match item.get("invoice_id") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            fail("getInvoices returned an invoice without a numeric invoice_id".into())
        })?;
        let text = |key: &str| item.get(key).and_then(Value::as_str);
        let status = text("status")
            .map(CryptoInvoiceStatus::parse)
            .ok_or_else(|| fail(format!("getInvoices: invoice {invoice_id} has no status")))?;
        let code = match text("currency_type") {
            Some("fiat") => text("fiat"),
            _ => text("asset"),
        }
        .ok_or_else(|| {
            fail(format!(
                "getInvoices: invoice {invoice_id} has no asset or fiat"
            ))
        })?;
        let currency = Currency::new(code.to_ascii_uppercase()).map_err(|_| {
            fail(format!(
                "getInvoices: invoice {invoice_id} has the currency code {:?}",
                printable(code)
            ))
        })?;
        let amount = match item.get("amount") {
            Some(Value::String(s)) => Money::parse_decimal(s, self.decimals(), currency),
            _ => None,
        }
        .ok_or_else(|| {
            fail(format!(
                "getInvoices: invoice {invoice_id} has the amount {} that is not a decimal \
                 with at most {} fraction digits",
                item.get("amount")
                    .map_or_else(|| "(none)".to_owned(), |a| printable(&a.to_string())),
                self.decimals()
            ))
        })?;
        let order = text("payload").and_then(|p| p.parse::<OrderId>().ok());
        let paid_at = match text("paid_at").filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => Some(
                DateTime::parse_from_rfc3339(raw)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        fail(format!(
                            "getInvoices: invoice {invoice_id} has paid_at {:?}, not ISO 8601",
                            printable(raw)
                        ))
                    })?,
            ),
        };
        Ok(CryptoInvoice {
            invoice_id,
            status,
            amount,
            order,
            paid_at,
        })
    }

    fn invoice_request<'a>(
        &'a self,
        order: OrderId,
        amount: &'a Money,
        description: &'a str,
    ) -> Result<CreateInvoice<'a>> {
        let description = truncate_chars(description, MAX_DESCRIPTION_CHARS);
        let payload = order.to_string();
        Ok(match &self.pricing {
            CryptoBotPricing::Asset { asset, decimals } => {
                if amount.currency.as_str() != asset {
                    return Err(Error::invalid(
                        "amount",
                        format!(
                            "{amount}: Crypto Pay is set to price invoices in {asset}, \
                             not {}",
                            amount.currency
                        ),
                    ));
                }
                CreateInvoice {
                    currency_type: "crypto",
                    asset: Some(asset),
                    fiat: None,
                    accepted_assets: None,
                    amount: invoice_amount(amount, *decimals)?,
                    description,
                    payload,
                    expires_in: self.expires_in,
                }
            }
            CryptoBotPricing::Fiat {
                accepted_assets,
                decimals,
            } => CreateInvoice {
                currency_type: "fiat",
                asset: None,
                fiat: Some(amount.currency.as_str()),
                accepted_assets: accepted_assets.as_deref(),
                amount: invoice_amount(amount, *decimals)?,
                description,
                payload,
                expires_in: self.expires_in,
            },
        })
    }

    fn parse_answer(&self, status: reqwest::StatusCode, body: &[u8]) -> Result<Invoice> {
        let fail = |message: String| provider_error(PROVIDER, message);
        let result = self.envelope("createInvoice", status, body)?;
        let id = match result.get("invoice_id") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(fail("createInvoice result has no invoice_id".to_owned())),
        };
        // `bot_invoice_url` since API 1.2; `pay_url` is its deprecated name.
        let url = [
            "bot_invoice_url",
            "pay_url",
            "mini_app_invoice_url",
            "web_app_invoice_url",
        ]
        .iter()
        .find_map(|key| {
            result
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .ok_or_else(|| fail(format!("createInvoice result for invoice {id} has no URL")))?;
        Ok(Invoice {
            provider_invoice_id: id,
            pay_url: url.to_owned(),
        })
    }

    /// The `result` of a Crypto Pay answer, or the API error as an
    /// [`Error::Provider`] (anything quoted from the body is scrubbed of the token).
    fn envelope(&self, method: &str, status: reqwest::StatusCode, body: &[u8]) -> Result<Value> {
        let fail = |message: String| provider_error(PROVIDER, message);
        let Ok(mut answer) = serde_json::from_slice::<Value>(body) else {
            return Err(fail(format!(
                "{method} answered HTTP {status} without JSON ({})",
                snippet(body, self.token.expose_secret())
            )));
        };
        match answer.get("ok").and_then(Value::as_bool) {
            Some(true) if status.is_success() => {}
            Some(false) => {
                return Err(fail(format!(
                    "{method} failed: {} (HTTP {status})",
                    api_error(answer.get("error"))
                )));
            }
            _ => {
                return Err(fail(format!(
                    "{method} answered HTTP {status} without the Crypto Pay envelope ({})",
                    snippet(body, self.token.expose_secret())
                )));
            }
        }
        Ok(answer
            .get_mut("result")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }
}

/// `{"code": 401, "name": "UNAUTHORIZED"}` → `UNAUTHORIZED (code 401)`.
fn api_error(error: Option<&Value>) -> String {
    match error {
        Some(Value::Object(obj)) => {
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("unnamed error");
            match obj.get("code") {
                Some(code) => format!("{} (code {code})", printable(name)),
                None => printable(name),
            }
        }
        Some(Value::String(s)) => printable(s),
        _ => "unspecified error".to_owned(),
    }
}

/// At most 100 characters, no control characters.
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect::<String>()
}

fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_are_named() {
        let e: Value = serde_json::json!({"code": 401, "name": "UNAUTHORIZED"});
        assert_eq!(api_error(Some(&e)), "UNAUTHORIZED (code 401)");
        assert_eq!(
            api_error(Some(&Value::String("AMOUNT_TOO_SMALL".into()))),
            "AMOUNT_TOO_SMALL"
        );
        assert_eq!(api_error(None), "unspecified error");
    }

    #[test]
    fn descriptions_are_cut_at_the_limit() {
        assert_eq!(truncate_chars("abc", 2), "ab");
        assert_eq!(truncate_chars("äöü", 5), "äöü");
        assert_eq!(truncate_chars("äöü", 1), "ä");
    }
}
