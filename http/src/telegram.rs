//! `POST /telegram/webhook`: updates from Telegram in webhook mode. The
//! `X-Telegram-Bot-Api-Secret-Token` header is compared in constant time
//! before the body is looked at (401 otherwise). An update that carries a
//! payment (`successful_payment`, `refunded_payment`) is stored by the payment
//! intake before the answer (503 if that fails: Telegram redelivers), so a
//! crash after the 200 cannot lose it. The raw update is then handed to the
//! bot through a bounded channel (full → 429, and Telegram redelivers).
//! No per-IP limit here: every update comes from Telegram's few addresses.

use actix_web::{HttpRequest, HttpResponse, web};
use subtle::ConstantTimeEq;
use subvisor_actors::payments::{Intake, stars};
use tokio::sync::mpsc;

use crate::error::ApiError;

/// Largest update body accepted.
pub const MAX_UPDATE_BODY: usize = 1024 * 1024;
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Where webhook updates go.
#[derive(Clone)]
pub struct TelegramWebhook {
    pub secret: String,
    pub updates: mpsc::Sender<web::Bytes>,
    /// Stores payment-bearing updates before they are acknowledged.
    pub intake: Intake,
}

#[tracing::instrument(
    name = "telegram_webhook",
    skip_all,
    fields(provider = "telegram", order = tracing::field::Empty)
)]
pub(crate) async fn webhook(
    hook: web::Data<Option<TelegramWebhook>>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some(hook) = hook.get_ref() else {
        return Err(ApiError::NotFound("not found".into()));
    };
    let given = req
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(hook.secret.as_bytes())) {
        metrics::counter!("subvisor_telegram_webhook_rejected_total").increment(1);
        return Err(ApiError::Unauthorized);
    }
    if stars::may_carry_payment(&body)
        && let Ok(update) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(event) = stars::event_from_update(&update)
    {
        if let Some(order) = &event.order {
            tracing::Span::current().record("order", tracing::field::display(order));
        }
        // Money: stored before Telegram hears "200" and forgets the update.
        hook.intake
            .record(&event, &String::from_utf8_lossy(&body))
            .await
            .map_err(ApiError::RetryLater)?;
    }
    match hook.updates.try_send(body) {
        Ok(()) => Ok(HttpResponse::Ok().finish()),
        // Telegram redelivers on any non-2xx answer.
        Err(mpsc::error::TrySendError::Full(_)) => Err(ApiError::RateLimited),
        Err(mpsc::error::TrySendError::Closed(_)) => {
            Err(ApiError::Core(subvisor_actors::Error::ShuttingDown))
        }
    }
}
