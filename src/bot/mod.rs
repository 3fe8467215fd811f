//! The Telegram front: updates in (long polling or webhook), screens out.
//!
//! Updates from both sources are admitted to one bounded inbox
//! (`updates.rs`), which handles them concurrently across users and in order
//! per user; [`router`] sends each to its handler. The bot connects to the
//! Bot API in the background (`connect.rs`): the service starts and serves
//! while Telegram is unreachable. Handlers talk to the
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
pub mod card;
pub mod commands;
mod connect;
pub mod context;
pub mod error;
pub mod i18n;
pub mod limits;
pub mod locale;
pub mod notify;
pub mod qr;
pub mod reply;
pub mod router;
pub mod screens;
pub mod stars;
pub mod support;
pub mod traffic;
mod updates;
pub mod user;

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use subvisor_actors::Registry;
use subvisor_actors::domain::{Currency, Money};
use subvisor_actors::links::LinkBook;
use subvisor_actors::payments::{Intake, PaymentClients};
use subvisor_actors::workers::Supervisor;
use subvisor_http::UpdateSink;
use teloxide::Bot;
use teloxide::types::AllowedUpdate;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use self::context::BotContext;
use self::limits::UserLimits;

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
    /// `telegram.terms` and `telegram.paysupport` (`/terms`, `/paysupport`).
    pub terms: Option<crate::config::LocalizedText>,
    pub paysupport: Option<crate::config::LocalizedText>,
    pub topups: Vec<i64>,
    pub balance_currency: Currency,
    pub trial_days: u32,
    /// `trial.only_new_users`: the menu hides the trial from paying users.
    pub trial_only_new_users: bool,
    /// `subscription.default_devices`: the device limit no plan set.
    pub default_devices: u32,
    pub referral_bonus: Option<Money>,
    /// `[referral] bonus_days` (0: none).
    pub referral_bonus_days: u32,
    pub order_ttl: Duration,
    /// `[auto_renew] before` when auto-renewal is on (the bot offers the toggle).
    pub auto_renew: Option<Duration>,
    /// Time zone, language map and plan texts.
    pub locale: Arc<locale::Locale>,
    pub stars: bool,
    pub user_rate_per_minute: u32,
    pub user_rate_burst: u32,
    /// Updates taken and not yet handled: in all, and per user.
    pub max_pending_updates: usize,
    pub max_pending_per_user: usize,
}

/// Webhook mode: Telegram posts updates to `url`, the public listener checks `secret`.
pub struct WebhookMode {
    pub url: String,
    pub secret: String,
}

/// Builds the Bot API client.
pub fn client(token: &str, api_url: Option<&str>) -> anyhow::Result<Bot> {
    let bot = Bot::new(token);
    Ok(match api_url {
        Some(url) => bot.set_api_url(url.parse()?),
        None => bot,
    })
}

/// What the started bot gives the rest of the program.
pub struct StartedBot {
    /// Its supervised tasks (connection, polling, pruning).
    pub tasks: Vec<JoinHandle<()>>,
    pub ctx: Arc<BotContext>,
    /// Webhook mode: where `POST /telegram/webhook` hands updates.
    pub sink: Option<Arc<dyn UpdateSink>>,
}

/// Starts the bot without waiting for Telegram: the update intake is ready at
/// once (webhook mode: the route takes updates), while a supervised task
/// checks the token (`getMe`), sets the command menu and sets or deletes the
/// webhook, retrying with back-off; polling starts once that worked. Must be
/// called inside the tokio runtime the bot should run on.
#[allow(clippy::too_many_arguments)]
pub fn start(
    settings: BotSettings,
    bot: Bot,
    registry: Registry,
    links: LinkBook,
    payments: PaymentClients,
    intake: Intake,
    notifier: Arc<Notify>,
    workers: &Supervisor,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<StartedBot> {
    let target = match &settings.webhook {
        Some(hook) => Some(connect::WebhookTarget {
            url: hook.url.parse()?,
            secret: hook.secret.clone(),
        }),
        None => None,
    };
    let ctx = Arc::new(BotContext {
        bot: bot.clone(),
        registry,
        links,
        payments,
        intake: intake.clone(),
        admins: settings.admins.iter().copied().collect(),
        support: settings.support.clone(),
        terms: settings.terms.clone(),
        paysupport: settings.paysupport.clone(),
        topups: settings.topups.clone(),
        balance_currency: settings.balance_currency.clone(),
        trial_days: settings.trial_days,
        trial_only_new_users: settings.trial_only_new_users,
        default_devices: settings.default_devices,
        referral_bonus: settings.referral_bonus.clone(),
        referral_bonus_days: settings.referral_bonus_days,
        order_ttl: settings.order_ttl,
        auto_renew: settings.auto_renew,
        locale: settings.locale.clone(),
        username: subvisor_http::BotName::default(),
        limits: UserLimits::new(settings.user_rate_per_minute, settings.user_rate_burst),
        notifier,
        admin_state: DashMap::new(),
        invoice_screens: DashMap::new(),
        promo_entries: DashMap::new(),
        inbox: updates::Inbox::new(
            settings.max_pending_updates,
            settings.max_pending_per_user,
            shutdown.clone(),
        ),
        link: connect::Link::new(),
    });
    let mut tasks = Vec::new();
    let sink: Option<Arc<dyn UpdateSink>> = match target {
        Some(target) => {
            let connector = updates::Connector {
                ctx: ctx.clone(),
                target,
                connected: false,
            };
            tasks.push(workers.spawn("bot-connect", connector, shutdown.clone()));
            Some(Arc::new(updates::WebhookSink(ctx.clone())))
        }
        None => {
            let poller = updates::Poller {
                ctx: ctx.clone(),
                intake,
                offset: 0,
                connected: false,
            };
            tasks.push(workers.spawn("bot-updates", poller, shutdown.clone()));
            None
        }
    };
    let pruner = updates::Pruner { ctx: ctx.clone() };
    tasks.push(workers.spawn("bot-prune", pruner, shutdown));
    Ok(StartedBot { tasks, ctx, sink })
}
