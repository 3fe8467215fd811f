//! Signature checks for payment-provider webhooks. Each one runs over the
//! request body as received, before the handler parses or trusts anything in
//! it. The MAC is compared in constant time (`Mac::verify_slice`) on the
//! decoded bytes, so the hex case of the header does not matter.
//!
//! - `mod.rs` (here): the verifiers, [`verify_cryptobot`] and [`verify_nowpayments`].
//! - `canonical.rs`: the canonical form NOWPayments signs, built from the raw
//!   body with every number token kept as sent (why, and how it follows
//!   `JSON.stringify`, is documented there).
//! - `js_render.rs` (tests only): the same canonical form rendered from a parsed
//!   `serde_json::Value` with JS number formatting, which the tests use to
//!   cross-check the raw-text form.
//! - `tests.rs`: fixtures signed outside this code, and the tests.
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

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use canonical::canonical_from_raw;

mod canonical;
#[cfg(test)]
mod js_render;
#[cfg(test)]
mod tests;

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

/// Decodes the hex signature header (either case, surrounding whitespace
/// ignored). Returns `None` when it is empty or not hex.
fn decode_signature(signature_hex: &str) -> Option<Vec<u8>> {
    let trimmed = signature_hex.trim_ascii();
    if trimmed.is_empty() {
        return None;
    }
    hex::decode(trimmed).ok()
}
