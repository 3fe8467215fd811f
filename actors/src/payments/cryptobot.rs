//! Crypto Pay API (@CryptoBot) client: creates invoices.
//!
//! Source: "Crypto Pay API", <https://help.send.tg/en/articles/10279948-crypto-pay-api>
//! (formerly <https://help.crypt.bot/crypto-pay-api>), method `createInvoice`
//! and section "Authorizing your app":
//!
//! * requests go to `https://pay.crypt.bot/api/{method}` (testnet:
//!   `https://testnet-pay.crypt.bot/api/{method}`) with the app's token in the
//!   `Crypto-Pay-API-Token` header; parameters may be a JSON body;
//! * every answer is `{"ok": true, "result": …}` or
//!   `{"ok": false, "error": {"code": 401, "name": "UNAUTHORIZED"}}` (the HTTP
//!   status matches `code`);
//! * `createInvoice` takes `currency_type` (`"crypto"`, the default, or
//!   `"fiat"`), `asset` (crypto) or `fiat` plus optional `accepted_assets`
//!   (comma-separated), `amount` as a decimal string, `description` (≤ 1024
//!   characters), `payload` (≤ 4 KB; ours is the order UUID) and `expires_in`
//!   (1–2678400 s); it returns an `Invoice` with `invoice_id`, `hash`,
//!   `status`, `bot_invoice_url` (`pay_url` before API 1.2, now deprecated),
//!   `mini_app_invoice_url` and `web_app_invoice_url` (API 1.4).

use std::fmt;

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
        let Ok(answer) = serde_json::from_slice::<Value>(body) else {
            return Err(fail(format!(
                "createInvoice answered HTTP {status} without JSON ({})",
                snippet(body, self.token.expose_secret())
            )));
        };
        match answer.get("ok").and_then(Value::as_bool) {
            Some(true) if status.is_success() => {}
            Some(false) => {
                return Err(fail(format!(
                    "createInvoice failed: {} (HTTP {status})",
                    api_error(answer.get("error"))
                )));
            }
            _ => {
                return Err(fail(format!(
                    "createInvoice answered HTTP {status} without the Crypto Pay envelope ({})",
                    snippet(body, self.token.expose_secret())
                )));
            }
        }
        let result = answer.get("result").unwrap_or(&Value::Null);
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
