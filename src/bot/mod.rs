//! The Telegram front: updates in (long polling or webhook), screens out.
//!
//! Updates from both sources go through one channel to [`dispatch`], which
//! handles them concurrently across users and in order per user. Handlers
//! talk to the system only through the user actors (and read-only store
//! queries); everything the user is *told* after a state change (activation,
//! links, reminders, expiry) goes through the notification outbox and the
//! Notifier ([`notify`]), written in the same transaction as the change.
//!
//! teloxide provides the Bot API client and types; its `Dispatcher` is not
//! used: the loop here is small, works the same for polling and webhooks, and
//! keeps per-user ordering explicit.

pub mod admin;
pub mod callback;
pub mod handlers;
pub mod i18n;
pub mod notify;
pub mod qr;
pub mod screens;
pub mod stars;

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use subvisor_actors::Registry;
use subvisor_actors::domain::{Currency, Money};
use subvisor_actors::payments::{Intake, PaymentClients};
use subvisor_http::LinkBook;
use teloxide::Bot;
use teloxide::payloads::{GetUpdatesSetters, SetWebhookSetters};
use teloxide::requests::{Request, Requester};
use teloxide::types::{AllowedUpdate, BotCommand, Update};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use self::i18n::Lang;

/// Update kinds the bot asks Telegram for.
pub const ALLOWED_UPDATES: [AllowedUpdate; 3] = [
    AllowedUpdate::Message,
    AllowedUpdate::CallbackQuery,
    AllowedUpdate::PreCheckoutQuery,
];
/// Long-poll timeout of `getUpdates`, seconds.
const POLL_TIMEOUT: u32 = 25;
/// Updates handled at the same time (across users).
const CONCURRENCY: usize = 256;
/// The setting that pauses purchases (`/maintenance on`).
pub const PURCHASES_PAUSED: &str = "purchases_paused";

/// What the handlers need, shared by every update.
pub struct BotContext {
    pub bot: Bot,
    pub registry: Registry,
    pub links: LinkBook,
    pub payments: PaymentClients,
    /// Where Stars payments (and refunds) go.
    pub intake: Intake,
    pub admins: HashSet<i64>,
    pub support: Option<String>,
    pub topups: Vec<i64>,
    pub balance_currency: Currency,
    pub trial_days: u32,
    pub referral_bonus: Option<Money>,
    pub order_ttl: Duration,
    /// `@username` of the bot (for referral links), from `getMe`.
    pub username: String,
    pub user_limit: DefaultKeyedRateLimiter<i64>,
    /// When a user was last told to slow down (one reminder per burst).
    pub warned: DashMap<i64, std::time::Instant>,
    /// Wakes the Notifier after something was queued.
    pub notifier: Arc<Notify>,
    /// Admin dialogue state: a broadcast waiting for confirmation, a user search.
    pub admin_state: DashMap<i64, admin::AdminState>,
    /// Updates waiting, per user being handled: a user's updates run in order.
    queues: DashMap<i64, mpsc::UnboundedSender<Update>>,
}

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

impl BotContext {
    pub fn is_admin(&self, user: i64) -> bool {
        self.admins.contains(&user)
    }

    /// False (and the user is told once) when the user is over their budget.
    pub fn admit(&self, user: i64) -> bool {
        if self.user_limit.check_key(&user).is_ok() {
            return true;
        }
        metrics::counter!("subvisor_bot_rate_limited_total").increment(1);
        false
    }

    /// Whether to tell a rate-limited user (at most once per 10 s).
    pub fn should_warn(&self, user: i64) -> bool {
        let now = std::time::Instant::now();
        let mut warn = false;
        self.warned
            .entry(user)
            .and_modify(|at| {
                if now.duration_since(*at) > Duration::from_secs(10) {
                    *at = now;
                    warn = true;
                }
            })
            .or_insert_with(|| {
                warn = true;
                now
            });
        warn
    }

    pub async fn purchases_paused(&self) -> bool {
        matches!(
            self.registry.store().setting(PURCHASES_PAUSED).await,
            Ok(Some(v)) if v == "true"
        )
    }
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
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(Vec<JoinHandle<()>>, Arc<BotContext>)> {
    let me =
        bot.get_me().send().await.map_err(|e| {
            anyhow::anyhow!("telegram.token: getMe failed ({e}); is the token right?")
        })?;
    let username = me.username.clone().unwrap_or_default();
    tracing::info!(bot = %username, "Telegram bot on");
    set_commands(&bot).await;
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
            tasks.push(tokio::spawn(parse_webhook_updates(hook.updates, tx)));
        }
        None => {
            if let Err(e) = bot.delete_webhook().send().await {
                tracing::warn!(error = %e, "deleteWebhook failed; getUpdates may be refused");
            }
            tasks.push(tokio::spawn(poll(
                bot.clone(),
                intake,
                tx,
                shutdown.clone(),
            )));
        }
    }
    tasks.push(tokio::spawn(dispatch(ctx.clone(), rx, shutdown)));
    Ok((tasks, ctx))
}

async fn set_commands(bot: &Bot) {
    use teloxide::payloads::SetMyCommandsSetters;
    for lang in Lang::ALL.iter().copied() {
        let commands = [
            ("start", "cmd-start"),
            ("sub", "cmd-sub"),
            ("menu", "cmd-menu"),
            ("help", "cmd-help"),
        ]
        .map(|(c, key)| BotCommand::new(c, i18n::tr(lang, key)));
        let mut req = bot.set_my_commands(commands);
        if lang != Lang::En {
            req = req.language_code(lang.code());
        }
        if let Err(e) = req.send().await {
            tracing::warn!(error = %e, lang = lang.code(), "setMyCommands failed");
        }
    }
}

/// `getUpdates` long polling; an update is confirmed (next offset) only after
/// it was handed to the dispatcher — and one that carries a payment only after
/// the payment intake stored it, so a crash cannot lose it.
async fn poll(
    bot: Bot,
    intake: Intake,
    tx: mpsc::Sender<Update>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut offset: i32 = 0;
    loop {
        let request = bot
            .get_updates()
            .offset(offset)
            .timeout(POLL_TIMEOUT)
            .allowed_updates(ALLOWED_UPDATES)
            .send();
        let result = tokio::select! {
            r = request => r,
            _ = shutdown.changed() => return,
        };
        match result {
            Ok(updates) => {
                for update in updates {
                    if let Err(e) = store_payment(&intake, &update).await {
                        // Not confirmed: Telegram hands it (and what follows) out again.
                        tracing::warn!(error = %e, update = update.id.0, "cannot store a payment update yet; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = shutdown.changed() => return,
                        }
                        break;
                    }
                    offset = (update.id.0 as i32).saturating_add(1);
                    if tx.send(update).await.is_err() {
                        return;
                    }
                }
            }
            Err(teloxide::RequestError::RetryAfter(s)) => {
                tokio::time::sleep(s.duration()).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "getUpdates failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}

/// Stores the payment an update carries (if any) in the payment intake.
async fn store_payment(intake: &Intake, update: &Update) -> subvisor_actors::Result<()> {
    use teloxide::types::{MessageKind, UpdateKind};
    let pays = matches!(&update.kind, UpdateKind::Message(m)
        if m.successful_payment().is_some() || matches!(m.kind, MessageKind::RefundedPayment(_)));
    if !pays {
        return Ok(());
    }
    let raw = match serde_json::to_value(update) {
        Ok(raw) => raw,
        Err(e) => {
            // Never seen; the bot still applies it (unstored), and says so.
            tracing::error!(error = %e, update = update.id.0, "a payment update cannot be stored as JSON");
            return Ok(());
        }
    };
    if let Some(event) = subvisor_actors::payments::stars::event_from_update(&raw) {
        intake.record(&event, &raw.to_string()).await?;
    }
    Ok(())
}

async fn parse_webhook_updates(
    mut bodies: mpsc::Receiver<actix_web::web::Bytes>,
    tx: mpsc::Sender<Update>,
) {
    while let Some(body) = bodies.recv().await {
        match serde_json::from_slice::<Update>(&body) {
            Ok(update) => {
                if tx.send(update).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "ignoring an update that does not parse"),
        }
    }
}

/// Handles updates concurrently across users, in order per user: each user
/// with updates waiting has one worker draining their queue.
async fn dispatch(
    ctx: Arc<BotContext>,
    mut rx: mpsc::Receiver<Update>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    loop {
        let update = tokio::select! {
            u = rx.recv() => match u { Some(u) => u, None => return },
            _ = shutdown.changed() => return,
        };
        let Some(user) = update.from().map(|u| u.id.0 as i64) else {
            continue;
        };
        let mut fresh = None;
        match ctx.queues.entry(user) {
            Entry::Occupied(queue) => {
                let _ = queue.get().send(update);
            }
            Entry::Vacant(slot) => {
                let (tx, rx) = mpsc::unbounded_channel();
                let _ = tx.send(update);
                slot.insert(tx);
                fresh = Some(rx);
            }
        }
        if let Some(queue) = fresh {
            tokio::spawn(drain_user(ctx.clone(), user, queue, slots.clone()));
        }
    }
}

async fn drain_user(
    ctx: Arc<BotContext>,
    user: i64,
    mut queue: mpsc::UnboundedReceiver<Update>,
    slots: Arc<Semaphore>,
) {
    loop {
        match queue.try_recv() {
            Ok(update) => {
                let Ok(_permit) = slots.acquire().await else {
                    return;
                };
                let started = std::time::Instant::now();
                handlers::handle(&ctx, update).await;
                metrics::histogram!("subvisor_bot_update_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
            Err(_) => {
                // Leave only if nothing arrived meanwhile (checked under the map's lock).
                if ctx
                    .queues
                    .remove_if(&user, |_, _| queue.is_empty())
                    .is_some()
                {
                    return;
                }
            }
        }
    }
}
