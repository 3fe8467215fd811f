//! Bearer-token check for `/ops/*` (constant-time comparison).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web;
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The expected token, when one is configured (`ops.token`).
#[derive(Clone)]
pub(crate) struct OpsToken(pub Option<String>);

impl std::fmt::Debug for OpsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpsToken(<redacted>)")
    }
}

fn authorized(expected: &str, header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    bool::from(given.trim().as_bytes().ct_eq(expected.as_bytes()))
}

pub(crate) async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(OpsToken(Some(expected))) =
        req.app_data::<web::Data<OpsToken>>().map(|d| d.get_ref())
    {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !authorized(expected, given) {
            return Err(ApiError::Unauthorized.into());
        }
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::authorized;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        assert!(authorized("s3cret", Some("Bearer s3cret")));
        assert!(!authorized("s3cret", Some("Bearer s3cre")));
        assert!(!authorized("s3cret", Some("Bearer s3cretX")));
        assert!(!authorized("s3cret", Some("Basic s3cret")));
        assert!(!authorized("s3cret", Some("s3cret")));
        assert!(!authorized("s3cret", None));
    }
}
