//! Connecting to the Bot API without holding up the service: `getMe`, the
//! command menu, then `setWebhook` (webhook mode) or `deleteWebhook`
//! (polling), each retried with back-off until it works or the service stops.
//! Meanwhile webhooks, `/sub`, provisioning and the ops API serve, and
//! [`Link`] tells ops where the bot stands (`/readyz`, `/ops/bot`).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, SecondsFormat, Utc};
use subvisor_http::BotState;
use teloxide::payloads::SetWebhookSetters;
use teloxide::requests::{Request, Requester};
use teloxide::{ApiError, RequestError};
use tokio::sync::watch;

use super::{ALLOWED_UPDATES, BotContext, commands};

/// The first retry's delay; each failure doubles it (with jitter) up to
/// [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where the bot's connection stands, since when, and the last failure.
pub(super) struct Link {
    inner: Mutex<Record>,
}

struct Record {
    state: BotState,
    since: DateTime<Utc>,
    last_error: Option<(String, DateTime<Utc>)>,
}

/// The link as ops see it: state, since, last error and when.
pub(super) struct LinkView {
    pub state: BotState,
    pub since: String,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Link {
    pub(super) fn new() -> Self {
        metrics::gauge!("subvisor_bot_connected").set(0.0);
        Self {
            inner: Mutex::new(Record {
                state: BotState::Connecting,
                since: Utc::now(),
                last_error: None,
            }),
        }
    }

    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A call worked (`Ok`), or the bot is in `state` again.
    pub(super) fn set(&self, state: BotState) {
        let mut r = self.record();
        if r.state != state {
            r.state = state;
            r.since = Utc::now();
            metrics::gauge!("subvisor_bot_connected").set(if state == BotState::Ok {
                1.0
            } else {
                0.0
            });
        }
    }

    /// A call failed: `state` (still `Connecting`, or `Error`) and why.
    pub(super) fn failed(&self, state: BotState, error: String) {
        self.set(state);
        self.record().last_error = Some((error, Utc::now()));
    }

    pub(super) fn view(&self) -> LinkView {
        let r = self.record();
        LinkView {
            state: r.state,
            since: rfc3339(r.since),
            last_error: r.last_error.as_ref().map(|(e, _)| e.clone()),
            last_error_at: r.last_error.as_ref().map(|(_, at)| rfc3339(*at)),
        }
    }
}

/// Where Telegram should post updates (webhook mode).
#[derive(Clone)]
pub(super) struct WebhookTarget {
    pub url: reqwest::Url,
    pub secret: String,
}

/// Runs the start sequence until it succeeded (`true`) or the service
/// stops (`false`). Every failure is logged, shown on the link, and retried
/// after a back-off.
pub(super) async fn connect(
    ctx: &BotContext,
    webhook: Option<&WebhookTarget>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let attempt = || async {
        let me = ctx.bot.get_me().send().await.map_err(Step::GetMe)?;
        let name = me.username.clone().unwrap_or_default();
        if ctx.username.set(name.clone()) {
            tracing::info!(bot = %name, "Telegram bot on");
        }
        commands::set_menu(&ctx.bot).await;
        match webhook {
            Some(hook) => {
                ctx.bot
                    .set_webhook(hook.url.clone())
                    .secret_token(hook.secret.clone())
                    .allowed_updates(ALLOWED_UPDATES)
                    .send()
                    .await
                    .map_err(Step::SetWebhook)?;
                tracing::info!(url = %hook.url, "Telegram webhook set");
            }
            None => {
                ctx.bot
                    .delete_webhook()
                    .send()
                    .await
                    .map_err(Step::DeleteWebhook)?;
            }
        }
        Ok::<(), Step>(())
    };
    let backoff = ExponentialBuilder::new()
        .with_min_delay(MIN_BACKOFF)
        .with_max_delay(MAX_BACKOFF)
        .with_jitter()
        .without_max_times();
    let retried = attempt.retry(backoff).notify(|e: &Step, after: Duration| {
        let state = if e.token_refused() {
            BotState::Error
        } else {
            BotState::Connecting
        };
        tracing::warn!(error = %e, retry_in = ?after, "cannot reach the Telegram Bot API; the service runs on, retrying");
        ctx.link.failed(state, e.to_string());
    });
    tokio::select! {
        done = retried => {
            if done.is_ok() {
                ctx.link.set(BotState::Ok);
            }
            done.is_ok()
        }
        _ = shutdown.wait_for(|stopped| *stopped) => false,
    }
}

/// A failed step of the start sequence.
#[derive(Debug, thiserror::Error)]
enum Step {
    #[error("getMe failed: {0}")]
    GetMe(RequestError),
    #[error("setWebhook failed: {0}")]
    SetWebhook(RequestError),
    #[error("deleteWebhook failed: {0}")]
    DeleteWebhook(RequestError),
}

impl Step {
    /// Telegram refused the token: no retry will fix that, ops must.
    fn token_refused(&self) -> bool {
        let (Step::GetMe(e) | Step::SetWebhook(e) | Step::DeleteWebhook(e)) = self;
        matches!(e, RequestError::Api(ApiError::InvalidToken))
    }
}
