//! REALITY key pairs in Xray's format (base64url without padding, like `xray x25519`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use x25519_dalek::{X25519_BASEPOINT_BYTES, x25519};

/// A fresh (private, public) pair; the private key is clamped as Xray prints it.
pub fn generate() -> anyhow::Result<(String, String)> {
    let mut private = [0u8; 32];
    getrandom::fill(&mut private).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    clamp(&mut private);
    let public = x25519(private, X25519_BASEPOINT_BYTES);
    Ok((
        URL_SAFE_NO_PAD.encode(private),
        URL_SAFE_NO_PAD.encode(public),
    ))
}

/// The public key of a private key given in Xray's format.
pub fn public_from_private(private: &str) -> Result<String, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(private.trim().trim_end_matches('='))
        .map_err(|_| "must be base64url (Xray's `x25519` output)".to_owned())?;
    let mut key: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("decodes to {} bytes, expected 32", b.len()))?;
    clamp(&mut key);
    Ok(URL_SAFE_NO_PAD.encode(x25519(key, X25519_BASEPOINT_BYTES)))
}

fn clamp(k: &mut [u8; 32]) {
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pairs_match_and_differ() {
        let (private, public) = generate().expect("keys");
        assert_eq!(
            public_from_private(&private).as_deref(),
            Ok(public.as_str())
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&public).map(|b| b.len()), Ok(32));
        assert_ne!(generate().expect("keys").0, private);
    }

    /// RFC 7748 §6.1: Alice's private key and public key.
    #[test]
    fn matches_the_rfc_7748_vector() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
                .collect()
        };
        let private = URL_SAFE_NO_PAD.encode(hex(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let public = URL_SAFE_NO_PAD.encode(hex(
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
        ));
        assert_eq!(public_from_private(&private), Ok(public));
        assert!(public_from_private("short").is_err());
    }
}
