//! The Telegram front: updates in (long polling or webhook), screens out.
//!
//! Updates from both sources go through one channel to the dispatcher
//! (`updates.rs`), which handles them concurrently across users and in order
//! per user; [`router`] sends each to its handler. Handlers talk to the
//! system only through the user actors (and read-only store queries);
//! everything the user is *told* after a state change (activation, links,
//! reminders, expiry) goes through the notification outbox and the Notifier
//! ([`notify`]), written in the same transaction as the change.
//!
//! Layout:
//! * plumbing: [`context`] (what handlers share), [`commands`] (the typed
//!   slash commands and the command menu), [`callback`] (the inline-button
//!   codec), [`screens`] (texts and keyboards), [`reply`] (showing them),
//!   [`error`] (the handlers' error and its one renderer), [`i18n`], [`qr`];
//! * features: [`user`] (menu, checkout, balance, subscription, referral,
//!   language), [`admin`] (stats, users, access, refunds, broadcast,
//!   maintenance), [`stars`] (Telegram Stars checkout and refunds);
//! * outside the update flow: [`notify`] (the Notifier's Telegram side).
//!
//! Handlers return `Result<Screen, BotError>` (or a [`reply::Reply`] when
//! they send more than one screen); the router shows the screen or reports
//! the error.
//!
//! teloxide provides the Bot API client and types; its `Dispatcher` is not
//! used: the loop here is small, works the same for polling and webhooks, and
//! keeps per-user ordering explicit.

pub mod admin;
pub mod callback;
pub mod commands;
pub mod context;
pub mod error;
pub mod i18n;
pub mod notify;
pub mod qr;
pub mod reply;
pub mod router;
pub mod screens;
pub mod stars;
mod updates;
pub mod user;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use governor::{Quota, RateLimiter};
use subvisor_actors::Registry;
use subvisor_actors::domain::{Currency, Money};
use subvisor_actors::links::LinkBook;
use subvisor_actors::payments::{Intake, PaymentClients};
use subvisor_actors::workers::Supervisor;
use teloxide::Bot;
use teloxide::payloads::SetWebhookSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{AllowedUpdate, Update};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

pub use self::context::BotContext;

/// Update kinds the bot asks Telegram for.
pub const ALLOWED_UPDATES: [AllowedUpdate; 3] = [
    AllowedUpdate::Message,
    AllowedUpdate::CallbackQuery,
    AllowedUpdate::PreCheckoutQuery,
];
/// The setting that pauses purchases (`/maintenance on`).
pub const PURCHASES_PAUSED: &str = "purchases_paused";

/// Settings of the bot front (from `[telegram]` and friends).
pub struct BotSettings {
    pub webhook: Option<WebhookMode>,
    pub admins: Vec<i64>,
    pub support: Option<String>,
    pub topups: Vec<i64>,
    pub balance_currency: Currency,
    pub trial_days: u32,
    pub referral_bonus: Option<Money>,
    pub order_ttl: Duration,
    pub stars: bool,
    pub user_rate_per_minute: u32,
    pub user_rate_burst: u32,
}

/// Webhook mode: Telegram posts updates to `url`, the public listener checks `secret`.
pub struct WebhookMode {
    pub url: String,
    pub secret: String,
    /// Raw update bodies from `POST /telegram/webhook`.
    pub updates: mpsc::Receiver<actix_web::web::Bytes>,
}

/// Builds the Bot API client.
pub fn client(token: &str, api_url: Option<&str>) -> anyhow::Result<Bot> {
    let bot = Bot::new(token);
    Ok(match api_url {
        Some(url) => bot.set_api_url(url.parse()?),
        None => bot,
    })
}

/// Starts the bot: checks the token (`getMe`), sets the command menu, sets or
/// deletes the webhook, and runs the update loop until `shutdown`.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    settings: BotSettings,
    bot: Bot,
    registry: Registry,
    links: LinkBook,
    payments: PaymentClients,
    intake: Intake,
    notifier: Arc<Notify>,
    workers: &Supervisor,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Vec<JoinHandle<()>>, Arc<BotContext>)> {
    let me =
        bot.get_me().send().await.map_err(|e| {
            anyhow::anyhow!("telegram.token: getMe failed ({e}); is the token right?")
        })?;
    let username = me.username.clone().unwrap_or_default();
    tracing::info!(bot = %username, "Telegram bot on");
    commands::set_menu(&bot).await;
    let per_minute =
        NonZeroU32::new(settings.user_rate_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(settings.user_rate_burst.max(1)).unwrap_or(NonZeroU32::MIN);
    let ctx = Arc::new(BotContext {
        bot: bot.clone(),
        registry,
        links,
        payments,
        intake: intake.clone(),
        admins: settings.admins.iter().copied().collect(),
        support: settings.support.clone(),
        topups: settings.topups.clone(),
        balance_currency: settings.balance_currency.clone(),
        trial_days: settings.trial_days,
        referral_bonus: settings.referral_bonus.clone(),
        order_ttl: settings.order_ttl,
        username,
        user_limit: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
        warned: DashMap::new(),
        notifier,
        admin_state: DashMap::new(),
        queues: DashMap::new(),
    });
    let (tx, rx) = mpsc::channel::<Update>(1024);
    let mut tasks = Vec::new();
    match settings.webhook {
        Some(hook) => {
            let url = hook.url.parse()?;
            bot.set_webhook(url)
                .secret_token(hook.secret.clone())
                .allowed_updates(ALLOWED_UPDATES)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("setWebhook failed: {e}"))?;
            tracing::info!(url = %hook.url, "Telegram webhook set");
            let parser = updates::WebhookUpdates {
                bodies: hook.updates,
                tx,
            };
            tasks.push(workers.spawn("bot-updates", parser, shutdown.clone()));
        }
        None => {
            if let Err(e) = bot.delete_webhook().send().await {
                tracing::warn!(error = %e, "deleteWebhook failed; getUpdates may be refused");
            }
            let poller = updates::Poller {
                bot: bot.clone(),
                intake,
                tx,
                offset: 0,
            };
            tasks.push(workers.spawn("bot-updates", poller, shutdown.clone()));
        }
    }
    let dispatcher = updates::Dispatcher::new(ctx.clone(), rx);
    tasks.push(workers.spawn("bot-dispatch", dispatcher, shutdown));
    Ok((tasks, ctx))
}
