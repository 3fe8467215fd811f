//! Console sign-in: the ops token, entered once in a form, becomes a session
//! cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over TLS) holding an
//! HMAC-signed value — the expiry, a random session id and the operator's
//! name — never the token itself. The signing key is derived from the token,
//! so every instance accepts the same sessions and changing the token ends
//! them all; without a token (loopback only) it is random per process.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Name of the session cookie.
pub(crate) const COOKIE: &str = "subvisor_console";
/// How long a session lasts.
pub(crate) const LIFETIME_SECS: i64 = 12 * 3600;
/// Sign-in attempts one client address may make per minute.
pub(crate) const SIGN_IN_PER_MINUTE: u32 = 10;
/// Where the console lives.
pub(crate) const BASE: &str = "/console";

/// What the console needs to sign sessions and check tokens.
pub(crate) struct ConsoleKeys {
    key: [u8; 32],
    token: Option<String>,
    /// Sign-in attempts per client address (spent before the token is compared).
    pub attempts: crate::rate_limit::IpRateLimit,
    /// The ops listener is public and no token is set: the console is off.
    pub off: bool,
}

impl ConsoleKeys {
    pub fn new(token: Option<&str>, ops_public: bool) -> Self {
        let key = match token {
            Some(t) => {
                let mut h = Sha256::new();
                h.update(b"subvisor console session v1\0");
                h.update(t.as_bytes());
                h.finalize().into()
            }
            None => {
                let mut key = [0u8; 32];
                key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                key
            }
        };
        Self {
            key,
            token: token.map(str::to_owned),
            attempts: crate::rate_limit::IpRateLimit::per_minute(
                SIGN_IN_PER_MINUTE,
                SIGN_IN_PER_MINUTE,
            ),
            off: ops_public && token.is_none(),
        }
    }

    /// Whether `given` is the ops token (constant time); anything goes when
    /// none is configured (loopback only).
    pub fn token_matches(&self, given: &str) -> bool {
        match &self.token {
            Some(expected) => bool::from(given.trim().as_bytes().ct_eq(expected.as_bytes())),
            None => true,
        }
    }

    /// Whether sign-in asks for the token (one is configured).
    pub fn needs_token(&self) -> bool {
        self.token.is_some()
    }

    pub fn mac(&self, purpose: &str, data: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A new session's cookie value for `operator`, valid until `now + LIFETIME_SECS`.
    pub fn issue(&self, operator: &str, now: i64) -> String {
        let sid = uuid::Uuid::new_v4().simple().to_string();
        let body = format!("{}.{sid}.{operator}", now + LIFETIME_SECS);
        let mac = self.mac("session", &body);
        format!("{body}.{mac}")
    }

    /// The session a cookie value carries, if it is ours and not expired.
    pub fn verify(&self, value: &str, now: i64) -> Option<Session> {
        let (body, mac) = value.rsplit_once('.')?;
        let expected = self.mac("session", body);
        if !bool::from(mac.as_bytes().ct_eq(expected.as_bytes())) {
            return None;
        }
        let mut parts = body.splitn(3, '.');
        let expires: i64 = parts.next()?.parse().ok()?;
        let sid = parts.next()?.to_owned();
        let operator = parts.next()?.to_owned();
        (expires > now).then(|| Session {
            csrf: self.mac("csrf", &sid),
            operator,
        })
    }
}

/// The operator's name as typed at sign-in, reduced to what is safe in a
/// cookie and an audit row: letters, digits, `-`, `_`, `@`; at most 32.
pub(crate) fn operator_name(raw: &str) -> String {
    let name: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '@'))
        .take(32)
        .collect();
    if name.is_empty() {
        "ops".to_owned()
    } else {
        name
    }
}

/// A signed-in operator.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The CSRF token of this session (every state-changing form carries it).
    pub csrf: String,
    /// Who signed in (recorded in the audit log with every action).
    pub operator: String,
}

/// Why a request did not get a session: pages go to the sign-in form,
/// actions get 401; 404 when the console is off.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Denied {
    #[error("sign in first")]
    SignIn,
    #[error("sign in first")]
    Unauthorized,
    #[error("the console is off: the ops listener is public and ops.token is not set")]
    Off,
}

impl ResponseError for Denied {
    fn status_code(&self) -> actix_web::http::StatusCode {
        use actix_web::http::StatusCode;
        match self {
            Denied::SignIn => StatusCode::SEE_OTHER,
            Denied::Unauthorized => StatusCode::UNAUTHORIZED,
            Denied::Off => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Denied::SignIn => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("{BASE}/sign-in")))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish(),
            other => HttpResponse::build(other.status_code())
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .content_type("text/plain; charset=utf-8")
                .body(other.to_string()),
        }
    }
}

/// The value of the session cookie, if the request carries one.
pub(crate) fn cookie_value(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// `Set-Cookie` for a new session (empty value and zero age: sign-out).
pub(crate) fn set_cookie(req: &HttpRequest, value: &str, max_age: i64) -> String {
    let secure = if req.connection_info().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={value}; Path={BASE}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

pub(crate) fn keys(req: &HttpRequest) -> Option<&ConsoleKeys> {
    req.app_data::<web::Data<ConsoleKeys>>()
        .map(|k| k.get_ref())
}

fn session_of(req: &HttpRequest, denied: Denied) -> Result<Session, Denied> {
    let keys = keys(req).ok_or(Denied::Off)?;
    if keys.off {
        return Err(Denied::Off);
    }
    let now = chrono::Utc::now().timestamp();
    cookie_value(req)
        .and_then(|v| keys.verify(&v, now))
        .ok_or(denied)
}

impl FromRequest for Session {
    type Error = Denied;
    type Future = Ready<Result<Self, Denied>>;

    /// Pages (GET) without a session redirect to sign-in; anything else is 401.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let denied = if req.method() == actix_web::http::Method::GET {
            Denied::SignIn
        } else {
            Denied::Unauthorized
        };
        ready(session_of(req, denied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_signed_and_expires() {
        let keys = ConsoleKeys::new(Some("0123456789abcdef"), false);
        let value = keys.issue("alice", 1_000);
        assert!(!value.contains("0123456789abcdef"));
        let s = keys.verify(&value, 1_001).expect("valid");
        assert_eq!(s.operator, "alice");
        assert!(keys.verify(&value, 1_000 + LIFETIME_SECS).is_none());
        let forged = value.replacen("alice", "mallory", 1);
        assert!(keys.verify(&forged, 1_001).is_none());
        let other = ConsoleKeys::new(Some("fedcba9876543210"), false);
        assert!(other.verify(&value, 1_001).is_none());
    }

    #[test]
    fn the_token_must_match_exactly() {
        let keys = ConsoleKeys::new(Some("0123456789abcdef"), true);
        assert!(keys.token_matches("0123456789abcdef"));
        assert!(!keys.token_matches("0123456789abcde"));
        assert!(!keys.token_matches(""));
        assert!(!keys.off);
        assert!(ConsoleKeys::new(None, true).off);
    }

    #[test]
    fn operator_names_are_tamed() {
        assert_eq!(operator_name(" alice.b;x "), "alicebx");
        assert_eq!(operator_name("  "), "ops");
    }
}
