//! `POST /telegram/webhook`: updates from Telegram in webhook mode. The
//! `X-Telegram-Bot-Api-Secret-Token` header is compared in constant time
//! before the body is looked at (401 otherwise). An update that carries a
//! payment (`successful_payment`, `refunded_payment`) is stored by the payment
//! intake before the answer (503 if that fails: Telegram redelivers), so a
//! crash after the 200 cannot lose it. The raw update is then offered to the
//! bot ([`UpdateSink`]), which admits it or refuses it when its sender has
//! too many updates waiting or the bot as a whole has: 429, and Telegram
//! redelivers later. A 200 means the update will be handled.
//! No per-IP limit here: every update comes from Telegram's few addresses.
//!
//! Also here: what the ops listener shows of the bot ([`BotProbe`], [`BotView`]).

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use subtle::ConstantTimeEq;
use subvisor_actors::payments::{Intake, stars};

use crate::error::ApiError;

/// Largest update body accepted.
pub const MAX_UPDATE_BODY: usize = 1024 * 1024;
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Why the bot did not take an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The sender has `max_pending_per_user` updates waiting.
    UserFull,
    /// The bot has `max_pending_updates` updates waiting.
    Full,
    /// The service is stopping.
    Stopping,
}

/// The bot's intake: takes a raw update (admitted, or refused at once).
/// A body that is not an update is taken and ignored (Telegram must not retry it).
pub trait UpdateSink: Send + Sync + 'static {
    fn offer(&self, body: web::Bytes) -> Result<(), Refusal>;
}

/// Where webhook updates go.
#[derive(Clone)]
pub struct TelegramWebhook {
    pub secret: String,
    pub updates: Arc<dyn UpdateSink>,
    /// Stores payment-bearing updates before they are acknowledged.
    pub intake: Intake,
}

/// The bot's connection to the Bot API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BotState {
    /// Not yet through `getMe` and `setWebhook`/`deleteWebhook` (retrying with back-off).
    Connecting,
    /// Connected, and the last call to the Bot API worked.
    Ok,
    /// The last call failed (after connecting, or the token was refused).
    Error,
}

/// The bot's update intake: what is waiting now and the caps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BotIntakeView {
    /// Updates taken and not yet handled (waiting or being handled).
    pub pending: usize,
    /// Users with updates pending (the size of the per-user queue map).
    pub users: usize,
    /// The most updates pending for one user.
    pub largest_user_queue: usize,
    pub max_pending: usize,
    pub max_pending_per_user: usize,
    /// Entries of the per-user rate limiter (pruned once idle).
    pub limiter_keys: usize,
    /// Users remembered as recently told to slow down (pruned once idle).
    pub warned_users: usize,
    /// Updates refused (webhook 429; polling waits instead) since the start
    /// because their sender had `max_pending_per_user` pending …
    pub refused_user_full: u64,
    /// … or because `max_pending` were pending in all.
    pub refused_full: u64,
}

/// The bot as `/readyz` and `/ops/bot` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BotView {
    pub state: BotState,
    /// Since when it is in `state` (RFC 3339).
    pub since: String,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub intake: BotIntakeView,
}

/// Implemented by the bot; read by the ops listener.
pub trait BotProbe: Send + Sync + 'static {
    fn view(&self) -> BotView;
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
    match hook.updates.offer(body) {
        Ok(()) => Ok(HttpResponse::Ok().finish()),
        // Telegram redelivers on any non-2xx answer.
        Err(Refusal::UserFull | Refusal::Full) => Err(ApiError::RateLimited),
        Err(Refusal::Stopping) => Err(ApiError::Core(subvisor_actors::Error::ShuttingDown)),
    }
}
