//! Signature checks for payment-provider webhooks. Each one runs over the
//! request body as received, before the handler parses or trusts anything in
//! it. The MAC is compared in constant time (`Mac::verify_slice`) on the
//! decoded bytes, so the hex case of the header does not matter.
//!
//! Sources followed:
//! - Crypto Pay (@CryptoBot): "Crypto Pay API", section "Verifying webhook
//!   updates", <https://help.send.tg/en/articles/10279948-crypto-pay-api>
//!   (formerly help.crypt.bot/crypto-pay-api). The `crypto-pay-api-signature`
//!   header is the hex HMAC-SHA-256 of the request body. The key is the
//!   SHA-256 digest (raw bytes, not hex) of the app's API token.
//! - NOWPayments: "NOWPayments API" documentation, section "Instant Payments
//!   Notifications" (Postman documenter,
//!   <https://documenter.getpostman.com/view/7907941/S1a32n38>), and the help
//!   centre article "IPN and how to setup"
//!   (<https://nowpayments.zendesk.com/hc/en-us/articles/21395546303389-IPN-and-how-to-setup>).
//!   The `x-nowpayments-sig` header is the hex HMAC-SHA-512, keyed by the IPN
//!   secret, of the body with its keys sorted recursively and serialized
//!   compactly. Their Node example is
//!   `JSON.stringify(sortObject(params))` with a recursive `sortObject`. Their
//!   PHP example is a recursive `ksort` (`tksort`) followed by
//!   `json_encode(..., JSON_UNESCAPED_SLASHES)`.
//!
//! # How the NOWPayments canonical form is built
//!
//! The signed string is JavaScript's `JSON.stringify` output, so the
//! canonical form follows `JSON.stringify` (ECMA-262 `SerializeJSONProperty`):
//! - Object keys are sorted the way `Array.prototype.sort` sorts them without
//!   a comparator: by UTF-16 code units, not by UTF-8 bytes. Nested objects
//!   are sorted too.
//! - Arrays keep their order. This matches their PHP and Python examples.
//!   Their Node `sortObject` would turn an array into an index-keyed object,
//!   but IPN bodies carry no arrays in practice.
//! - Strings are escaped as `JSON.stringify` escapes them: `"` and `\`, the
//!   short escapes `\b \f \n \r \t`, other control characters below U+0020 as
//!   `\u00xx` in lowercase hex, and nothing else. `/`, U+007F, U+2028/U+2029
//!   and non-ASCII characters are written as they are.
//! - Output is compact, with no whitespace.
//!
//! Numbers are the subtle part. `serde_json` would print `1.0` as `1.0` and
//! `1e-7` as `1e-7`, but Python prints `1.2e-06` where JS prints `0.0000012`.
//! Two renderings are provided:
//! - [`verify_nowpayments`] canonicalizes the raw body and keeps each number
//!   token exactly as it was sent. It normalizes only whitespace, key order
//!   and string escapes. NOWPayments sends the very JSON it signed (the body
//!   arrives already key-sorted, with JS-style numbers such as `1e-7`), so the
//!   number text it sends is the text it signed. Keeping it also means the
//!   signature covers exactly the digits the handler will parse. Re-rendering
//!   through `f64` would let `10.5000000000000000001` or
//!   `9007199254740993` pass as the signed `10.5` or `9007199254740992`. For
//!   the same reason, duplicate keys are rejected. Going through a `Value`
//!   fails in a second way too. Without the `float_roundtrip` feature,
//!   `serde_json` parses some 17-digit decimals one ULP off. NOWPayments'
//!   own documented webhook example has `"depositFee":0.09853637216235617`,
//!   which `serde_json` reads as `...615`, so a `Value`-based verifier would
//!   reject a genuine IPN. Enabling that feature would change every crate in
//!   the workspace.
//! - [`nowpayments_canonical`] works from a parsed [`serde_json::Value`], where
//!   the original text is gone. It renders numbers the way JS's
//!   `Number.prototype.toString` does (`1.0` gives `1`, `1e21` gives `1e+21`,
//!   `1.2e-6` gives `0.0000012`; integers above 2^53 are rounded through
//!   `f64` as JS would round them). Its output is exactly as accurate as the
//!   `f64`s that `serde_json` parsed. For a body that JS produced, the two
//!   renderings agree whenever those `f64`s are exact, and a test checks this.
//!
//! `serde_json`'s `preserve_order` and `arbitrary_precision` features are not
//! needed and not enabled. Features are unified across the workspace, so
//! enabling either would change other crates.

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

type HmacSha256 = Hmac<Sha256>;
type HmacSha512 = Hmac<Sha512>;

/// Crypto Pay (@CryptoBot): header `crypto-pay-api-signature` =
/// hex(HMAC-SHA256(key = SHA-256(app_token), msg = raw body)).
///
/// Follows "Verifying webhook updates" in the Crypto Pay API docs
/// (<https://help.send.tg/en/articles/10279948-crypto-pay-api>). The MAC
/// covers the raw body bytes as received and nothing is re-serialized. Hex is
/// accepted in either case. A malformed, empty or wrong-length signature, or
/// an empty token (an unconfigured app), gives `false`.
pub fn verify_cryptobot(app_token: &str, raw_body: &[u8], signature_hex: &str) -> bool {
    if app_token.is_empty() {
        return false;
    }
    let Some(tag) = decode_signature(signature_hex) else {
        return false;
    };
    let key = Sha256::digest(app_token.as_bytes());
    let Ok(mut mac) = <HmacSha256 as Mac>::new_from_slice(&key) else {
        return false;
    };
    mac.update(raw_body);
    mac.verify_slice(&tag).is_ok()
}

/// NOWPayments IPN: header `x-nowpayments-sig` = hex(HMAC-SHA512(key =
/// ipn_secret, msg = JSON.stringify of the body with object keys sorted
/// recursively, compact, no spaces)).
///
/// Follows "Instant Payments Notifications" in the NOWPayments API docs. The
/// body may arrive with any whitespace and key order, because the MAC covers
/// the canonical form. Number tokens are kept exactly as sent (see the module
/// docs for why). `false` if the body is not valid UTF-8 JSON with an object at
/// the top level, if it has a duplicate key or nests deeper than 128 levels,
/// if the signature is malformed or empty, or if the secret is empty.
pub fn verify_nowpayments(ipn_secret: &str, raw_body: &[u8], signature_hex: &str) -> bool {
    if ipn_secret.is_empty() {
        return false;
    }
    let Some(tag) = decode_signature(signature_hex) else {
        return false;
    };
    let Some(canonical) = canonical_from_raw(raw_body) else {
        return false;
    };
    let Ok(mut mac) = <HmacSha512 as Mac>::new_from_slice(ipn_secret.as_bytes()) else {
        return false;
    };
    mac.update(canonical.as_bytes());
    mac.verify_slice(&tag).is_ok()
}

/// The canonical form NOWPayments signs: keys sorted recursively (nested
/// objects too; arrays keep order), compact.
///
/// Numbers are rendered as JavaScript's `JSON.stringify` renders them (for
/// example `1.0` gives `1`), because a `Value` no longer holds the original
/// text. The result can only be as exact as the `f64`s that `serde_json`
/// parsed, and those can be one ULP off (see the module docs).
/// [`verify_nowpayments`] therefore does not call this: it works from the raw
/// text and keeps the number tokens as sent.
pub fn nowpayments_canonical(value: &Value) -> String {
    let mut out = String::new();
    Json::from_value(value).write_canonical(&mut out);
    out
}

/// Decodes the hex signature header (either case, surrounding whitespace
/// ignored). Returns `None` when it is empty or not hex.
fn decode_signature(signature_hex: &str) -> Option<Vec<u8>> {
    let trimmed = signature_hex.trim_ascii();
    if trimmed.is_empty() {
        return None;
    }
    hex::decode(trimmed).ok()
}

/// Canonical form of a raw IPN body with each number token kept exactly as
/// sent. `None` if the body is not a JSON object, or breaks a rule listed on
/// [`verify_nowpayments`].
fn canonical_from_raw(raw_body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw_body).ok()?;
    let doc = Parser::parse_document(text)?;
    if !matches!(doc, Json::Object(_)) {
        return None;
    }
    let mut out = String::new();
    doc.write_canonical(&mut out);
    Some(out)
}

/// A JSON tree in which a number is kept as its canonical text: the raw
/// token when it comes from the body, or the JS rendering when it comes from
/// a `Value`.
enum Json<'a> {
    Null,
    Bool(bool),
    Number(Cow<'a, str>),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
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

    fn write_canonical(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Number(text) => out.push_str(text),
            Json::String(s) => write_js_string(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_canonical(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                let mut sorted: Vec<&(Cow<'a, str>, Json<'a>)> = members.iter().collect();
                sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
                out.push('{');
                for (i, (key, value)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_js_string(key, out);
                    out.push(':');
                    value.write_canonical(out);
                }
                out.push('}');
            }
        }
    }
}

/// Writes `s` as `JSON.stringify` writes a string (ECMA-262
/// `QuoteJSONString`). A Rust `str` cannot hold lone surrogates, so that case
/// of the spec does not arise.
fn write_js_string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let b = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[b >> 4]));
                out.push(char::from(HEX[b & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
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
fn js_f64(x: f64) -> String {
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

/// The same nesting limit as `serde_json`'s default recursion limit.
const MAX_DEPTH: usize = 128;

/// A strict RFC 8259 parser that keeps number tokens as they appear in the
/// text. Strings are unescaped with `serde_json`, which also rejects invalid
/// escapes and lone surrogates.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn parse_document(text: &'a str) -> Option<Json<'a>> {
        let mut parser = Parser { text, pos: 0 };
        parser.skip_ws();
        let value = parser.value(0)?;
        parser.skip_ws();
        (parser.pos == text.len()).then_some(value)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<Json<'a>> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(Json::String),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn object(&mut self, depth: usize) -> Option<Json<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1; // '{'
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Some(Json::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return None;
            }
            let key = self.string()?;
            self.skip_ws();
            if self.bump()? != b':' {
                return None;
            }
            self.skip_ws();
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_ws();
            match self.bump()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
        // A duplicate key makes the document ambiguous: JSON.parse keeps the
        // last value, while other parsers keep the first or reject it.
        let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_ref()).collect();
        keys.sort_unstable();
        if keys.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        Some(Json::Object(members))
    }

    fn array(&mut self, depth: usize) -> Option<Json<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Some(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.bump()? {
                b',' => {}
                b']' => return Some(Json::Array(items)),
                _ => return None,
            }
        }
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.pos;
        self.pos += 1; // opening quote
        let mut escaped = false;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.pos += 2; // the escape itself is validated by serde_json below
                }
                b if b < 0x20 => return None, // raw control characters are not allowed
                _ => self.pos += 1,
            }
        }
        self.pos += 1; // closing quote
        // Both ends of the slice are ASCII quotes, so they fall on char boundaries.
        let token = &self.text[start..self.pos];
        if escaped {
            serde_json::from_str::<String>(token).ok().map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&token[1..token.len() - 1]))
        }
    }

    fn literal(&mut self, word: &str, value: Json<'a>) -> Option<Json<'a>> {
        if self.text.as_bytes()[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Some(value)
        } else {
            None
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, returned as it appears in the text.
    fn number(&mut self) -> Option<Json<'a>> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.bump()? {
            b'0' => {}
            b'1'..=b'9' => self.skip_digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.require_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.require_digits()?;
        }
        Some(Json::Number(Cow::Borrowed(&self.text[start..self.pos])))
    }

    fn skip_digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn require_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.skip_digits();
        (self.pos > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- Crypto Pay fixture ------------------------------------------------
    //
    // Neither provider publishes a test vector, so the expected signatures
    // were computed outside this code, over the exact bytes of the literals
    // below (920 bytes for CP_BODY, with no trailing newline):
    // - Python 3.11:
    //   `hmac.new(hashlib.sha256(token).digest(), body, hashlib.sha256).hexdigest()`
    // - Node 18, following the Crypto Pay docs:
    //   `createHmac('sha256', createHash('sha256').update(token).digest()).update(body).digest('hex')`
    // Both printed the value in CP_SIG. The body is a realistic `invoice_paid`
    // Update (fields as listed in the docs' Update and Invoice classes), in the
    // compact form Crypto Pay sends, including non-ASCII text and `/` in URLs.
    const CP_TOKEN: &str = "7711:AAa3bQp0Zr9xXcYw1uVvTtSsRrQqPpOoNn";
    const CP_BODY: &str = r#"{"update_id":39104882,"update_type":"invoice_paid","request_date":"2025-06-18T09:42:17.531Z","payload":{"invoice_id":28417563,"hash":"IVkT3yQb8Vw1","currency_type":"crypto","asset":"USDT","amount":"2.99","paid_asset":"USDT","paid_amount":"2.99","fee_asset":"USDT","fee_amount":"0.0299","fee":"0.0299","fee_in_usd":"0.0299","pay_url":"https://t.me/CryptoBot?start=IVkT3yQb8Vw1","bot_invoice_url":"https://t.me/CryptoBot?start=IVkT3yQb8Vw1","mini_app_invoice_url":"https://t.me/CryptoBot/app?startapp=invoice-IVkT3yQb8Vw1&mode=compact","web_app_invoice_url":"https://app.send.tg/invoices/IVkT3yQb8Vw1","description":"Подписка VPN — 30 дней","status":"paid","created_at":"2025-06-18T09:40:02.114Z","allow_comments":true,"allow_anonymous":false,"paid_usd_rate":"1.00000000","usd_rate":"1.00000000","paid_at":"2025-06-18T09:42:16.902Z","paid_anonymously":false,"payload":"5b0c7d2e-8f41-4a6b-9c3d-2e1f0a9b8c7d"}}"#;
    const CP_SIG: &str = "8db7ba2914fbccec0975eb4a93eaa4add62fea1b91cf9e3578db3a59ca44af01";

    // ---- NOWPayments fixture -----------------------------------------------
    //
    // A realistic IPN ("waiting" status) with a nested `fee` object and the
    // numbers 0, 0.00025, 10.5, 0.0000012, 1.25e-7 and null, in the
    // sorted compact form NOWPayments sends. The signature was computed in
    // Node 18 with the docs' own Node example:
    // `createHmac('sha512', secret).update(JSON.stringify(sortObject(JSON.parse(body)))).digest('hex')`.
    // Node also confirmed that `JSON.stringify(sortObject(JSON.parse(body)))`
    // is byte-identical to NP_BODY. Python's `hmac` over the same text printed
    // the same hex. Python's `json.dumps(sort_keys=True, separators=(',', ':'))`
    // cannot regenerate this text, because it renders 0.0000012 as `1.2e-06`
    // and 1.25e-7 as `1.25e-07`. That is the number-rendering trap described in
    // the module docs.
    const NP_SECRET: &str = "np-ipn-secret-4f1c2a9e7b";
    const NP_BODY: &str = r#"{"actually_paid":0,"actually_paid_at_fiat":0,"fee":{"currency":"btc","depositFee":0.0000012,"serviceFee":1.25e-7,"withdrawalFee":0},"invoice_id":null,"order_description":"VPN 30 дней / plan \"pro\"","order_id":"5b0c7d2e-8f41-4a6b-9c3d-2e1f0a9b8c7d","outcome_amount":null,"outcome_currency":"usdttrc20","parent_payment_id":null,"pay_address":"bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh","pay_amount":0.00025,"pay_currency":"btc","payin_extra_id":null,"payment_extra_ids":null,"payment_id":5629793529,"payment_status":"waiting","price_amount":10.5,"price_currency":"usd","purchase_id":"5395052836","updated_at":1718703737531}"#;
    const NP_SIG: &str = "9e719a559635e7e025874702136297f0862d3e9ec9701d4bd6b6d13e8274877739797f73c7588c8f463f4e1ab89897ebf6cf4f4b05465f8e632637e14302f68c";

    /// The same IPN, pretty-printed with its keys (nested ones too) shuffled.
    const NP_BODY_REORDERED: &str = r#"
    {
        "payment_status" : "waiting",
        "payment_id": 5629793529,
        "fee": { "withdrawalFee": 0, "serviceFee": 1.25e-7,
                 "depositFee": 0.0000012, "currency": "btc" },
        "price_amount": 10.5,	"price_currency": "usd",
        "pay_amount": 0.00025, "pay_currency": "btc",
        "actually_paid": 0, "actually_paid_at_fiat": 0,
        "outcome_amount": null, "outcome_currency": "usdttrc20",
        "order_id": "5b0c7d2e-8f41-4a6b-9c3d-2e1f0a9b8c7d",
        "order_description": "VPN 30 \u0434\u043d\u0435\u0439 \/ plan \"pro\"",
        "invoice_id": null, "parent_payment_id": null,
        "pay_address": "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
        "payin_extra_id": null, "payment_extra_ids": null,
        "purchase_id": "5395052836", "updated_at": 1718703737531
    }
    "#;

    /// NOWPayments' own "Webhooks Examples" payment body, as printed in the
    /// IPN section of their API docs, with one fix: the docs omit the comma
    /// after `"payment_extra_ids":null`. NP_DOC_SIG was computed in Node 18
    /// with the docs' `JSON.stringify(sortObject(params))` over this text,
    /// and Python's `hmac` over Node's canonical string printed the same hex.
    /// `serde_json` without `float_roundtrip` parses its depositFee one ULP
    /// off, so only the raw-text canonical form verifies it.
    const NP_DOC_BODY: &str = r#"{
"payment_id":123456789,
"parent_payment_id":987654321,
"invoice_id":null,
"payment_status":"finished",
"pay_address":"address",
"payin_extra_id":null,
"price_amount":1,
"price_currency":"usd",
"pay_amount":15,
"actually_paid":15,
"actually_paid_at_fiat":0,
"pay_currency":"trx",
"order_id":null,
"order_description":null,
"purchase_id":"123456789",
"outcome_amount":14.8106,
"outcome_currency":"trx",
"payment_extra_ids":null,
"fee": {
"currency":"btc",
"depositFee":0.09853637216235617,
"withdrawalFee":0,
"serviceFee":0
}
}
"#;
    const NP_DOC_CANONICAL: &str = r#"{"actually_paid":15,"actually_paid_at_fiat":0,"fee":{"currency":"btc","depositFee":0.09853637216235617,"serviceFee":0,"withdrawalFee":0},"invoice_id":null,"order_description":null,"order_id":null,"outcome_amount":14.8106,"outcome_currency":"trx","parent_payment_id":987654321,"pay_address":"address","pay_amount":15,"pay_currency":"trx","payin_extra_id":null,"payment_extra_ids":null,"payment_id":123456789,"payment_status":"finished","price_amount":1,"price_currency":"usd","purchase_id":"123456789"}"#;
    const NP_DOC_SIG: &str = "4af4212c1716ef3f08250f73bce7ed81c11a8e23fd3d76036b0931a6a2a7ffecd88e9e2c87fe52fcb7e3922dbca2270e3d797181af2ac23e92451c9c53296b93";

    fn flip_each_byte(body: &[u8]) -> impl Iterator<Item = (usize, Vec<u8>)> + '_ {
        (0..body.len()).map(move |i| {
            let mut tampered = body.to_vec();
            tampered[i] ^= 0x01;
            (i, tampered)
        })
    }

    fn malformed_signatures(good: &str) -> Vec<String> {
        vec![
            String::new(),
            "   ".to_owned(),
            good[..good.len() - 1].to_owned(),        // odd length
            good[..good.len() - 2].to_owned(),        // valid hex, one byte short
            format!("{good}00"),                      // valid hex, one byte long
            format!("sha256={good}"),                 // a prefix the providers do not send
            format!("{}zz", &good[..good.len() - 2]), // not hex
            "0".repeat(good.len()),                   // right length, wrong value
        ]
    }

    // ---- Crypto Pay --------------------------------------------------------

    #[test]
    fn cryptobot_accepts_documented_fixture() {
        assert!(verify_cryptobot(CP_TOKEN, CP_BODY.as_bytes(), CP_SIG));
    }

    #[test]
    fn cryptobot_accepts_uppercase_and_padded_hex() {
        assert!(verify_cryptobot(
            CP_TOKEN,
            CP_BODY.as_bytes(),
            &CP_SIG.to_ascii_uppercase()
        ));
        assert!(verify_cryptobot(
            CP_TOKEN,
            CP_BODY.as_bytes(),
            &format!(" {CP_SIG}\t")
        ));
    }

    #[test]
    fn cryptobot_rejects_any_single_byte_change() {
        for (i, tampered) in flip_each_byte(CP_BODY.as_bytes()) {
            assert!(
                !verify_cryptobot(CP_TOKEN, &tampered, CP_SIG),
                "byte {i} flipped but still accepted"
            );
        }
        // Whitespace is covered too: Crypto Pay signs the raw bytes.
        let spaced = CP_BODY.replacen(',', ", ", 1);
        assert!(!verify_cryptobot(CP_TOKEN, spaced.as_bytes(), CP_SIG));
    }

    #[test]
    fn cryptobot_rejects_wrong_token() {
        assert!(!verify_cryptobot(
            "7711:AAa3bQp0Zr9xXcYw1uVvTtSsRrQqPpOoNm",
            CP_BODY.as_bytes(),
            CP_SIG
        ));
        assert!(!verify_cryptobot("", CP_BODY.as_bytes(), CP_SIG));
    }

    #[test]
    fn cryptobot_key_is_sha256_digest_bytes_of_token() {
        // The key must be SHA-256(token) as raw bytes. Keying with the token
        // itself or with the hex text of the digest must not verify.
        let with_raw_token = {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(CP_TOKEN.as_bytes()).unwrap();
            mac.update(CP_BODY.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        };
        let with_hex_digest = {
            let hex_key = hex::encode(Sha256::digest(CP_TOKEN.as_bytes()));
            let mut mac = <HmacSha256 as Mac>::new_from_slice(hex_key.as_bytes()).unwrap();
            mac.update(CP_BODY.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        };
        assert_ne!(with_raw_token, CP_SIG);
        assert!(!verify_cryptobot(
            CP_TOKEN,
            CP_BODY.as_bytes(),
            &with_raw_token
        ));
        assert!(!verify_cryptobot(
            CP_TOKEN,
            CP_BODY.as_bytes(),
            &with_hex_digest
        ));
    }

    #[test]
    fn cryptobot_rejects_empty_token_even_with_matching_mac() {
        // An unconfigured (empty) token must never authenticate, even though
        // HMAC keyed with SHA-256("") is well defined.
        let sig = {
            let mut mac = <HmacSha256 as Mac>::new_from_slice(&Sha256::digest(b"")).unwrap();
            mac.update(CP_BODY.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        };
        assert!(!verify_cryptobot("", CP_BODY.as_bytes(), &sig));
    }

    #[test]
    fn cryptobot_rejects_malformed_signatures() {
        for bad in malformed_signatures(CP_SIG) {
            assert!(
                !verify_cryptobot(CP_TOKEN, CP_BODY.as_bytes(), &bad),
                "accepted malformed signature {bad:?}"
            );
        }
    }

    // ---- NOWPayments -------------------------------------------------------

    #[test]
    fn nowpayments_accepts_fixture() {
        assert!(verify_nowpayments(NP_SECRET, NP_BODY.as_bytes(), NP_SIG));
        assert!(verify_nowpayments(
            NP_SECRET,
            NP_BODY.as_bytes(),
            &NP_SIG.to_ascii_uppercase()
        ));
    }

    #[test]
    fn nowpayments_accepts_reordered_and_spaced_body() {
        assert_eq!(
            canonical_from_raw(NP_BODY_REORDERED.as_bytes()).as_deref(),
            Some(NP_BODY)
        );
        assert!(verify_nowpayments(
            NP_SECRET,
            NP_BODY_REORDERED.as_bytes(),
            NP_SIG
        ));
    }

    #[test]
    fn nowpayments_accepts_documented_example_with_17_digit_fee() {
        assert_eq!(
            canonical_from_raw(NP_DOC_BODY.as_bytes()).as_deref(),
            Some(NP_DOC_CANONICAL)
        );
        assert!(verify_nowpayments(
            NP_SECRET,
            NP_DOC_BODY.as_bytes(),
            NP_DOC_SIG
        ));
        let tampered = NP_DOC_BODY.replacen("0.09853637216235617", "0.09853637216235615", 1);
        assert!(!verify_nowpayments(
            NP_SECRET,
            tampered.as_bytes(),
            NP_DOC_SIG
        ));
    }

    #[test]
    fn nowpayments_raw_and_value_canonical_forms_agree_on_js_output() {
        // For a JS-produced body, keeping the number tokens and re-rendering
        // them JS-style give the same string, and both equal the signed text.
        let value: Value = serde_json::from_str(NP_BODY_REORDERED).unwrap();
        assert_eq!(nowpayments_canonical(&value), NP_BODY);
        assert_eq!(
            canonical_from_raw(NP_BODY.as_bytes()).as_deref(),
            Some(NP_BODY)
        );
    }

    #[test]
    fn nowpayments_rejects_any_single_byte_change() {
        for (i, tampered) in flip_each_byte(NP_BODY.as_bytes()) {
            assert!(
                !verify_nowpayments(NP_SECRET, &tampered, NP_SIG),
                "byte {i} flipped but still accepted"
            );
        }
    }

    #[test]
    fn nowpayments_rejects_changed_values() {
        for (from, to) in [
            (
                r#""payment_status":"waiting""#,
                r#""payment_status":"finished""#,
            ),
            (r#""depositFee":0.0000012"#, r#""depositFee":0.0000013"#),
            (r#""outcome_amount":null"#, r#""outcome_amount":0"#),
            // The same value spelled differently: the signature covers the
            // number text the handler will parse, so this is rejected.
            (r#""price_amount":10.5"#, r#""price_amount":10.50"#),
        ] {
            let tampered = NP_BODY.replacen(from, to, 1);
            assert_ne!(tampered, NP_BODY);
            assert!(
                !verify_nowpayments(NP_SECRET, tampered.as_bytes(), NP_SIG),
                "{to} accepted"
            );
        }
        // A key added inside the nested object is covered by the signature too.
        let extra = NP_BODY.replacen(r#""withdrawalFee":0}"#, r#""withdrawalFee":0,"x":1}"#, 1);
        assert!(!verify_nowpayments(NP_SECRET, extra.as_bytes(), NP_SIG));
    }

    #[test]
    fn nowpayments_rejects_wrong_secret() {
        assert!(!verify_nowpayments(
            "np-ipn-secret-4f1c2a9e7c",
            NP_BODY.as_bytes(),
            NP_SIG
        ));
        assert!(!verify_nowpayments("", NP_BODY.as_bytes(), NP_SIG));
    }

    #[test]
    fn nowpayments_rejects_malformed_signatures() {
        for bad in malformed_signatures(NP_SIG) {
            assert!(
                !verify_nowpayments(NP_SECRET, NP_BODY.as_bytes(), &bad),
                "accepted malformed signature {bad:?}"
            );
        }
    }

    #[test]
    fn nowpayments_rejects_ambiguous_or_invalid_bodies() {
        for body in [
            // A duplicate key, which parsers resolve differently.
            r#"{"payment_status":"waiting","payment_status":"finished"}"#,
            r#"{"a":1} trailing"#,
            r#"{"a":1}{"a":1}"#,
            r#"[{"a":1}]"#, // the top level must be an object
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\ud800"}"#,     // a lone surrogate
            "{\"a\":\"tab\there\"}", // a raw control character inside a string
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":tru}"#,
            "",
            "\u{feff}{}",
        ] {
            assert!(canonical_from_raw(body.as_bytes()).is_none(), "{body:?}");
        }
        assert!(canonical_from_raw(b"{\"a\":\"\xff\"}").is_none()); // not UTF-8
        // Deep nesting is refused instead of overflowing the stack.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(canonical_from_raw(deep.as_bytes()).is_none());
        let ok_depth = format!("{{\"a\":{}{}}}", "[".repeat(127), "]".repeat(127));
        assert!(canonical_from_raw(ok_depth.as_bytes()).is_some());
    }

    #[test]
    fn canonical_sorts_nested_objects_and_keeps_arrays() {
        let input = r#"{"b":{"z":1,"a":[3,{"d":null,"c":"x/y"}]},"a":true}"#;
        let expected = r#"{"a":true,"b":{"a":[3,{"c":"x/y","d":null}],"z":1}}"#;
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(nowpayments_canonical(&value), expected);
        assert_eq!(
            canonical_from_raw(input.as_bytes()).as_deref(),
            Some(expected)
        );

        let list = r#"{ "list" : [3, 1, 2, {"b":0,"a":0}] }"#;
        let expected = r#"{"list":[3,1,2,{"a":0,"b":0}]}"#;
        let value: Value = serde_json::from_str(list).unwrap();
        assert_eq!(nowpayments_canonical(&value), expected);
        assert_eq!(
            canonical_from_raw(list.as_bytes()).as_deref(),
            Some(expected)
        );
    }

    #[test]
    fn canonical_sorts_keys_by_utf16_code_units_like_js() {
        // Expected output from Node 18:
        // JSON.stringify(sortObject(JSON.parse('{"\uff61":1,"\ud83d\ude00":2,"b":3,"B":4,"a_b":5,"ab":6}'))).
        // By UTF-8 bytes U+FF61 would sort before U+1F600, but JS compares
        // UTF-16 code units, and 0xD83D < 0xFF61.
        let input = r#"{"\uff61":1,"\ud83d\ude00":2,"b":3,"B":4,"a_b":5,"ab":6}"#;
        let expected = "{\"B\":4,\"a_b\":5,\"ab\":6,\"b\":3,\"\u{1F600}\":2,\"\u{FF61}\":1}";
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(nowpayments_canonical(&value), expected);
        assert_eq!(
            canonical_from_raw(input.as_bytes()).as_deref(),
            Some(expected)
        );
    }

    #[test]
    fn canonical_escapes_strings_like_json_stringify() {
        // Expected output from Node 18: JSON.stringify(JSON.parse(input)).
        // `\/` and `\u0041` are unescaped; control characters below U+0020 use
        // lowercase `\u00xx`; DEL, U+2028, U+2029 and non-ASCII are written as
        // they are.
        let input =
            r#"{"s":"a\/b \u0041 \u0001\u001f\u007f \n\t\r\b\f \"q\" \\ \u2028\u2029 é 😀"}"#;
        let expected = "{\"s\":\"a/b A \\u0001\\u001f\u{7f} \\n\\t\\r\\b\\f \\\"q\\\" \\\\ \u{2028}\u{2029} é 😀\"}";
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(nowpayments_canonical(&value), expected);
        assert_eq!(
            canonical_from_raw(input.as_bytes()).as_deref(),
            Some(expected)
        );
    }

    /// (input text, what Node 18 prints for `JSON.stringify(JSON.parse(input))`).
    const JS_NUMBERS: &[(&str, &str)] = &[
        ("1.0", "1"),
        ("10.50", "10.5"),
        ("1e-7", "1e-7"),
        ("0.0000012", "0.0000012"),
        ("0.000001", "0.000001"),
        ("1e21", "1e+21"),
        ("1e20", "100000000000000000000"),
        ("123456789012345680000", "123456789012345680000"),
        ("-0", "0"),
        ("0.1", "0.1"),
        ("5e-324", "5e-324"),
        ("9007199254740993", "9007199254740992"),
        ("-2.5E+3", "-2500"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("100", "100"),
        ("1e300", "1e+300"),
        ("-0.00025", "-0.00025"),
        ("0.09853637216235617", "0.09853637216235617"),
        ("4.35", "4.35"),
        ("-1.5e-10", "-1.5e-10"),
        // Exact ties between two shortest digit strings: JS takes the even one.
        ("1612474435906006.25", "1612474435906006.2"),
        ("-2195140926816803.25", "-2195140926816803.2"),
        ("95279580923047.625", "95279580923047.62"),
        ("1368535313361254.25", "1368535313361254.2"),
    ];

    #[test]
    fn js_f64_matches_node_number_to_string() {
        for (input, node) in JS_NUMBERS {
            // std's parser rounds correctly, as JS's does.
            let x: f64 = input.parse().unwrap();
            assert_eq!(js_f64(x), *node, "{input}");
        }
    }

    #[test]
    fn value_canonical_renders_numbers_like_js() {
        // Values that serde_json's default float parser reads exactly, plus
        // integers, which it keeps as i64/u64 and which are rounded through
        // f64 above 2^53.
        let input = r#"{"a":1.0,"b":10.50,"c":1e-7,"d":0.0000012,"e":1e21,"g":-0,"h":0.1,"i":5e-324,"j":9007199254740993,"k":-2.5E+3,"l":1.7976931348623157e308,"m":0.000001,"n":100,"o":1e300,"p":-0.00025,"r":4.35,"s":1e20,"t":-9007199254740993}"#;
        // Node 18: JSON.stringify(sortObject(JSON.parse(input))).
        let expected = r#"{"a":1,"b":10.5,"c":1e-7,"d":0.0000012,"e":1e+21,"g":0,"h":0.1,"i":5e-324,"j":9007199254740992,"k":-2500,"l":1.7976931348623157e+308,"m":0.000001,"n":100,"o":1e+300,"p":-0.00025,"r":4.35,"s":100000000000000000000,"t":-9007199254740992}"#;
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(nowpayments_canonical(&value), expected);
        // serde_json's own printer differs from JS here (for example `1.0` and
        // `1e21`), which is why it is not used.
        assert_ne!(serde_json::to_string(&value).unwrap(), expected);
    }

    #[test]
    fn raw_canonical_keeps_number_text_verbatim() {
        let input = r#"{ "b" : 1.0, "a" : [1e-7, -0, 10.50, 9007199254740993] }"#;
        assert_eq!(
            canonical_from_raw(input.as_bytes()).as_deref(),
            Some(r#"{"a":[1e-7,-0,10.50,9007199254740993],"b":1.0}"#)
        );
    }
}
