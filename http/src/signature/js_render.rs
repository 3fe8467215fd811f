//! Tests only: the canonical form NOWPayments signs, rendered from a parsed
//! [`serde_json::Value`] with numbers printed as JavaScript prints them. The
//! service verifies from the raw text instead (see `canonical.rs`); the tests
//! use this rendering to check that both agree on JS-produced bodies.

use std::borrow::Cow;

use serde_json::Value;

use super::canonical::Json;

/// The canonical form NOWPayments signs: keys sorted recursively (nested
/// objects too; arrays keep order), compact.
///
/// Numbers are rendered as JavaScript's `JSON.stringify` renders them (for
/// example `1.0` gives `1`), because a `Value` no longer holds the original
/// text. The result can only be as exact as the `f64`s that `serde_json`
/// parsed, and those can be one ULP off (see `canonical.rs`).
/// [`verify_nowpayments`](super::verify_nowpayments) therefore does not call
/// this: it works from the raw text and keeps the number tokens as sent.
pub(super) fn nowpayments_canonical(value: &Value) -> String {
    let mut out = String::new();
    Json::from_value(value).write_canonical(&mut out);
    out
}

impl<'a> Json<'a> {
    fn from_value(value: &'a Value) -> Self {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(Cow::Owned(js_number(n))),
            Value::String(s) => Json::String(Cow::Borrowed(s)),
            Value::Array(items) => Json::Array(items.iter().map(Json::from_value).collect()),
            Value::Object(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Json::from_value(v)))
                    .collect(),
            ),
        }
    }
}

/// A JSON number as JS renders it. JS numbers are IEEE doubles, so an integer
/// above 2^53 is first rounded to `f64`, exactly as `JSON.parse` would round
/// it.
fn js_number(n: &serde_json::Number) -> String {
    const MAX_SAFE: u64 = 1 << 53;
    if let Some(u) = n.as_u64() {
        if u <= MAX_SAFE {
            return u.to_string();
        }
    } else if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= MAX_SAFE
    {
        return i.to_string();
    }
    js_f64(n.as_f64().unwrap_or(f64::NAN))
}

/// ECMA-262 `Number::toString(x, 10)` for a double. Rust's `{:e}` gives the
/// shortest round-trip digit count k. When two k-digit strings both
/// round-trip and sit at the same distance from x (x lies exactly halfway,
/// e.g. `1612474435906006.25`), `{:e}` rounds half up, while JS takes the
/// closest one and, on a tie, the even one (ECMA-262 Number::toString, Note 2,
/// which V8 follows). Rust's fixed-precision `{:.N e}` rounds the exact value
/// half-to-even, so the correctly rounded k-digit form is used whenever it
/// round-trips. This function then only places the decimal point and the
/// exponent by the spec's rules.
pub(super) fn js_f64(x: f64) -> String {
    if !x.is_finite() {
        // JSON.stringify renders NaN and the infinities as null. A Value
        // cannot hold them; this arm is here only so the function is total.
        return "null".to_owned();
    }
    if x == 0.0 {
        return "0".to_owned(); // covers -0, which JSON.stringify prints as "0"
    }
    let magnitude = x.abs();
    let shortest = format!("{magnitude:e}"); // e.g. "1.25e-7", "1e21"
    let Some((digits, exponent)) = scientific_parts(&shortest) else {
        return shortest;
    };
    let rounded = format!("{:.*e}", digits.len() - 1, magnitude);
    let (digits, exponent) = match scientific_parts(&rounded) {
        Some(parts) if rounded.parse::<f64>() == Ok(magnitude) => parts,
        _ => (digits, exponent),
    };
    let k = digits.len() as i32; // number of significant digits
    let n = exponent + 1; // x = 0.d1d2..dk × 10^n
    let mut out = String::with_capacity(32);
    if x < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        out.push('e');
        out.push(if e >= 0 { '+' } else { '-' });
        out.push_str(&e.abs().to_string());
    }
    out
}

/// Splits Rust's `{:e}` output ("1.25e-7") into significant digits without
/// trailing zeros ("125") and the decimal exponent (-7).
fn scientific_parts(sci: &str) -> Option<(String, i32)> {
    let (mantissa, exponent) = sci.split_once('e')?;
    let exponent = exponent.parse::<i32>().ok()?;
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = digits.trim_end_matches('0');
    (!digits.is_empty()).then(|| (digits.to_owned(), exponent))
}
