//! Errors as HTTP responses with stable, machine-readable codes:
//! `{"error": {"code": "busy", "message": "…"}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use subvisor_actors::Error as CoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("too many requests, slow down")]
    RateLimited,
    /// Stored, but not finished yet: deliver it again (the service also
    /// finishes it by itself).
    #[error("accepted but not processed yet; deliver it again later")]
    RetryLater(#[source] CoreError),
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl ApiError {
    /// The stable code clients can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::RateLimited => "rate_limited",
            ApiError::RetryLater(_) => "retry_later",
            ApiError::Core(e) => match e {
                CoreError::InvalidInput { .. } => "invalid_input",
                CoreError::NoSubscription(_) => "no_subscription",
                CoreError::NotActive(_) => "not_active",
                CoreError::TrialAlreadyUsed(_) => "trial_already_used",
                CoreError::TrialAfterPayment(_) => "trial_after_payment",
                CoreError::Banned(_) => "banned",
                CoreError::OrderNotFound(_) => "order_not_found",
                CoreError::OrderOfAnotherUser { .. } => "order_of_another_user",
                CoreError::OrderNotPayable { .. } => "order_not_payable",
                CoreError::DuplicateProviderPayment(_) => "duplicate_provider_payment",
                CoreError::UnknownPlan(_) => "unknown_plan",
                CoreError::PromoRefused(_) => "promo_refused",
                CoreError::GiftRefused(_) => "gift_refused",
                CoreError::AmountMismatch { .. } => "amount_mismatch",
                CoreError::InsufficientFunds { .. } => "insufficient_funds",
                CoreError::Conflict(_) => "conflict",
                CoreError::NotLeader(_) => "not_leader",
                CoreError::Busy(_) => "busy",
                CoreError::ActorDied(_) => "actor_died",
                CoreError::RestartLimit(_) => "actor_restart_limit",
                CoreError::ShuttingDown => "shutting_down",
                CoreError::Database(_) | CoreError::Migrate(_) | CoreError::UnsupportedDatabase => {
                    "store_unavailable"
                }
                CoreError::Corrupt(_) => "internal",
                CoreError::Provider { .. } => "provider_unavailable",
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiError::RetryLater(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Core(e) => match e {
                CoreError::InvalidInput { .. } | CoreError::UnknownPlan(_) => {
                    StatusCode::BAD_REQUEST
                }
                CoreError::OrderNotFound(_) => StatusCode::NOT_FOUND,
                CoreError::NoSubscription(_)
                | CoreError::NotActive(_)
                | CoreError::TrialAlreadyUsed(_)
                | CoreError::TrialAfterPayment(_)
                | CoreError::Banned(_)
                | CoreError::OrderOfAnotherUser { .. }
                | CoreError::OrderNotPayable { .. }
                | CoreError::DuplicateProviderPayment(_)
                | CoreError::AmountMismatch { .. }
                | CoreError::InsufficientFunds { .. }
                | CoreError::NotLeader(_)
                | CoreError::PromoRefused(_)
                | CoreError::GiftRefused(_)
                | CoreError::Conflict(_) => StatusCode::CONFLICT,
                CoreError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
                CoreError::ActorDied(_)
                | CoreError::RestartLimit(_)
                | CoreError::ShuttingDown
                | CoreError::Database(_)
                | CoreError::Migrate(_)
                | CoreError::UnsupportedDatabase => StatusCode::SERVICE_UNAVAILABLE,
                CoreError::Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
                CoreError::Provider { .. } => StatusCode::BAD_GATEWAY,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        // Internal details (SQL errors…) go to the log, not to the client.
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            match self {
                ApiError::Core(
                    CoreError::Busy(_) | CoreError::RestartLimit(_) | CoreError::ShuttingDown,
                )
                | ApiError::RetryLater(_) => self.to_string(),
                _ => "temporarily unavailable, try again".to_owned(),
            }
        } else {
            self.to_string()
        };
        let mut resp = HttpResponse::build(status);
        match self {
            ApiError::Unauthorized => {
                resp.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            ApiError::Core(CoreError::Busy(_))
            | ApiError::RateLimited
            | ApiError::RetryLater(_) => {
                resp.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            _ => {}
        }
        resp.json(json!({ "error": { "code": self.code(), "message": message } }))
    }
}
