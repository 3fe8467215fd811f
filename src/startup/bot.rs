//! Startup step: the Telegram bot. [`connect_bot`] builds the Bot API client
//! when `telegram.token` is set (and adds Telegram Stars to the payment
//! clients); [`start_bot`] starts the bot's intake and its tasks, which
//! connect to the Bot API in the background: an unreachable Telegram does
//! not stop the service from starting.

use std::sync::Arc;

use subvisor_actors::Registry;
use subvisor_actors::domain::Currency;
use subvisor_actors::links::LinkBook;
use subvisor_actors::notifier::Notifier;
use subvisor_actors::payments::{Intake, PaymentClients};
use subvisor_actors::workers::Supervisor;
use subvisor_http::{BotProbe, TelegramWebhook};
use teloxide::Bot;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Settings, TelegramMode};

/// The Bot API client, or `None` (with a log line) when no token is set.
/// With the bot on and `telegram.stars`, Stars joins the payment clients.
pub(super) fn connect_bot(
    settings: &Settings,
    payments: &mut PaymentClients,
) -> anyhow::Result<Option<Bot>> {
    let bot = match settings.telegram_token() {
        Some(token) => Some(crate::bot::client(
            &token,
            settings.telegram.api_url.as_deref(),
        )?),
        None => {
            tracing::info!(
                "telegram.token is not set: the Telegram bot is off (notifications stay queued)"
            );
            None
        }
    };
    if let Some(bot) = &bot
        && settings.telegram.stars
    {
        payments.stars = Some(Arc::new(crate::bot::stars::TelegramStars::new(bot.clone())));
    }
    Ok(bot)
}

/// What the running bot gives the rest of the program.
#[derive(Default)]
pub(super) struct BotHandle {
    /// The update loop's tasks (stopped with the other workers).
    pub tasks: Vec<JoinHandle<()>>,
    /// Webhook mode: where the public listener posts Telegram's updates.
    pub webhook: Option<TelegramWebhook>,
    /// What the ops listener shows of the bot.
    pub probe: Option<Arc<dyn BotProbe>>,
    /// The bot's username once it connected (`/sub` links stub entries to it).
    pub username: subvisor_http::BotName,
}

/// Starts the bot when there is one (the notifier exists exactly when the bot
/// does). It connects in the background: nothing here waits for Telegram.
#[allow(clippy::too_many_arguments)]
pub(super) fn start_bot(
    settings: &Settings,
    bot: Option<Bot>,
    notifier: Option<&Notifier>,
    registry: &Registry,
    links: &LinkBook,
    payments: &PaymentClients,
    intake: &Intake,
    workers: &Supervisor,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<BotHandle> {
    let (Some(bot), Some(notifier)) = (bot, notifier) else {
        return Ok(BotHandle::default());
    };
    let secret = settings.telegram_webhook_secret().unwrap_or_default();
    let webhook = match settings.telegram.mode {
        TelegramMode::Polling => None,
        TelegramMode::Webhook => Some(crate::bot::WebhookMode {
            url: settings.telegram.webhook_url.clone().unwrap_or_default(),
            secret: secret.clone(),
        }),
    };
    let bot_settings = crate::bot::BotSettings {
        webhook,
        admins: settings.telegram.admins.clone(),
        support: settings.telegram.support.clone(),
        terms: settings.telegram.terms.clone(),
        paysupport: settings.telegram.paysupport.clone(),
        topups: settings.telegram.topup_amounts_minor.clone(),
        balance_currency: Currency::new(settings.payments.balance_currency.clone())?,
        trial_days: settings.trial.days,
        trial_only_new_users: settings.trial.only_new_users,
        default_devices: settings.subscription.default_devices,
        referral_bonus: settings.referral_bonus(),
        referral_bonus_days: settings.referral.bonus_days,
        order_ttl: settings.payments.order_ttl,
        auto_renew: settings
            .auto_renew
            .enabled
            .then_some(settings.auto_renew.before),
        locale: std::sync::Arc::new(settings.bot_locale()?),
        stars: settings.telegram.stars,
        user_rate_per_minute: settings.telegram.user_rate_per_minute,
        user_rate_burst: settings.telegram.user_rate_burst,
        max_pending_updates: settings.telegram.max_pending_updates,
        max_pending_per_user: settings.telegram.max_pending_per_user,
    };
    let started = crate::bot::start(
        bot_settings,
        bot,
        registry.clone(),
        links.clone(),
        payments.clone(),
        intake.clone(),
        notifier.waker(),
        workers,
        stopped,
    )?;
    let webhook = started.sink.map(|updates| TelegramWebhook {
        secret,
        updates,
        intake: intake.clone(),
    });
    Ok(BotHandle {
        tasks: started.tasks,
        webhook,
        username: started.ctx.username_handle(),
        probe: Some(started.ctx),
    })
}
