//! CSRF: every state-changing form carries the session's token (an HMAC of
//! the session id), checked in constant time before anything happens.

use actix_web::{HttpResponse, ResponseError};
use subtle::ConstantTimeEq;

use super::session::Session;

/// A form without the session's CSRF token.
#[derive(Debug, thiserror::Error)]
#[error("this form is stale or forged (CSRF token missing or wrong); reload the page")]
pub(crate) struct Forged;

impl ResponseError for Forged {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::FORBIDDEN
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::Forbidden()
            .content_type("text/plain; charset=utf-8")
            .body(self.to_string())
    }
}

/// Checks the form's token against the session's.
pub(crate) fn check(session: &Session, given: Option<&str>) -> Result<(), Forged> {
    let given = given.unwrap_or_default();
    if !given.is_empty() && bool::from(given.as_bytes().ct_eq(session.csrf.as_bytes())) {
        Ok(())
    } else {
        Err(Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sessions_token_passes() {
        let s = Session {
            csrf: "abc123".into(),
            operator: "ops".into(),
        };
        assert!(check(&s, Some("abc123")).is_ok());
        assert!(check(&s, Some("abc124")).is_err());
        assert!(check(&s, Some("")).is_err());
        assert!(check(&s, None).is_err());
    }
}
