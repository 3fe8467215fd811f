//! Talking to the API and reading its answers: authenticated GETs, error
//! answers, payments and invoices parsed (secrets scrubbed from anything
//! logged), and amounts taken from the raw JSON text, never through an `f64`.

use super::*;

impl NowPaymentsClient {
    /// GETs `url` with the API key (and the JWT when given); transport
    /// failures become [`Error::Provider`] naming `what`.
    pub(super) async fn get(
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
    pub(super) fn payment_from(&self, raw: &RawPayment) -> Result<NpPayment> {
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
    pub(super) fn check_answer(
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

    pub(super) fn scrub(&self, text: &str, jwt: Option<&SecretString>) -> String {
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

    pub(super) fn scrubbed_snippet(&self, body: &[u8], jwt: Option<&SecretString>) -> String {
        let text = self.scrub(&String::from_utf8_lossy(body), jwt);
        snippet(text.as_bytes(), self.api_key.expose_secret())
    }

    pub(super) fn parse_answer(&self, status: reqwest::StatusCode, body: &[u8]) -> Result<Invoice> {
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
