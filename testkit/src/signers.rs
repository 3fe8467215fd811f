//! Signatures of payment providers' webhooks, computed from the providers'
//! documented formulas (independently of the code under test), for tests and
//! benchmarks that post signed callbacks.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// The `crypto-pay-api-signature` header of a Crypto Pay callback: hex of
/// HMAC-SHA-256 of the body, keyed with SHA-256 of the app token.
pub fn cryptobot_signature(token: &str, body: &str) -> String {
    let key = Sha256::digest(token.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length works");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `x-nowpayments-sig` header of a NOWPayments IPN: hex of HMAC-SHA-512
/// of the body (the key-sorted compact JSON), keyed with the IPN secret.
pub fn nowpayments_signature(ipn_secret: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha512>::new_from_slice(ipn_secret.as_bytes()).expect("any key length works");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
