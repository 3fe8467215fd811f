//! The canonical form NOWPayments signs, built from the raw IPN body by a
//! hand-written parser that keeps every number token exactly as sent.
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
//! - [`canonical_from_raw`] (what [`verify_nowpayments`] signs over)
//!   canonicalizes the raw body and keeps each number
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
//! - `nowpayments_canonical` (tests only, in `js_render.rs`) works from a
//!   parsed [`serde_json::Value`], where
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

#[cfg(doc)]
use super::verify_nowpayments;

/// Canonical form of a raw IPN body with each number token kept exactly as
/// sent. `None` if the body is not a JSON object, or breaks a rule listed on
/// [`verify_nowpayments`].
pub(super) fn canonical_from_raw(raw_body: &[u8]) -> Option<String> {
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
pub(super) enum Json<'a> {
    Null,
    Bool(bool),
    Number(Cow<'a, str>),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    pub(super) fn write_canonical(&self, out: &mut String) {
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
