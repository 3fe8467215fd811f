//! [`BotContext`]: what every handler needs (the Bot API client, the actors,
//! settings, per-user rate limits and admin dialogue state), and the user
//! lookups every update starts with ([`BotContext::load_user`], [`BotContext::lang_of`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use subvisor_actors::Registry;
use subvisor_actors::domain::{Currency, Money, OrderId, UserId};
use subvisor_actors::links::LinkBook;
use subvisor_actors::messages::{Touch, View};
use subvisor_actors::payments::{Intake, PaymentClients};
use subvisor_actors::store::{Profile, UserSnapshot};
use subvisor_http::{BotProbe, BotView};
use teloxide::Bot;
use teloxide::types::User;
use tokio::sync::Notify;

use super::PURCHASES_PAUSED;
use super::admin::AdminState;
use super::connect::Link;
use super::error::BotError;
use super::i18n::Lang;
use super::limits::UserLimits;
use super::updates::Inbox;

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
    pub terms: Option<crate::config::LocalizedText>,
    pub paysupport: Option<crate::config::LocalizedText>,
    pub topups: Vec<i64>,
    pub balance_currency: Currency,
    pub trial_days: u32,
    /// `trial.only_new_users`.
    pub trial_only_new_users: bool,
    /// `subscription.default_devices`: the device limit no plan set.
    pub default_devices: u32,
    pub referral_bonus: Option<Money>,
    /// `[referral] bonus_days` (0: none).
    pub referral_bonus_days: u32,
    pub order_ttl: Duration,
    /// `[auto_renew] before` when auto-renewal is on (the toggle is offered).
    pub auto_renew: Option<Duration>,
    /// Time zone, language map and plan texts (`[bot]`, `[[plans]]`).
    pub locale: Arc<super::locale::Locale>,
    /// `@username` of the bot (for referral links), from `getMe` once the
    /// bot has connected.
    pub(super) username: subvisor_http::BotName,
    /// Per-user budgets of messages and button presses.
    pub limits: UserLimits,
    /// Wakes the Notifier after something was queued.
    pub notifier: Arc<Notify>,
    /// Admin dialogue state: a broadcast waiting for confirmation, a user search.
    pub admin_state: DashMap<i64, AdminState>,
    /// The payment screen above each Stars invoice sent, by order: edited to
    /// "paid ✓" when the payment is applied (in memory: after a restart the
    /// screen just stays as it was).
    pub invoice_screens: DashMap<OrderId, InvoiceScreen>,
    /// Promo codes being entered or entered, per user (see `user::promo`).
    pub promo_entries: DashMap<i64, super::user::promo::PromoEntry>,
    /// Updates taken and not yet handled, per user: a user's updates run in order.
    pub(super) inbox: Inbox,
    /// The connection to the Bot API.
    pub(super) link: Link,
}

/// Where the payment screen of an invoice is, and in which language.
#[derive(Debug, Clone, Copy)]
pub struct InvoiceScreen {
    pub chat: teloxide::types::ChatId,
    pub message: teloxide::types::MessageId,
    pub lang: Lang,
}

impl BotProbe for BotContext {
    fn view(&self) -> BotView {
        let link = self.link.view();
        let mut intake = self.inbox.view();
        intake.limiter_keys = self.limits.limiter_keys();
        intake.warned_users = self.limits.warned_users();
        BotView {
            state: link.state,
            since: link.since,
            last_error: link.last_error,
            last_error_at: link.last_error_at,
            intake,
        }
    }
}

impl BotContext {
    pub fn is_admin(&self, user: i64) -> bool {
        self.admins.contains(&user)
    }

    /// `@username` of the bot; empty until the bot has connected.
    pub fn username(&self) -> &str {
        self.username.get()
    }

    /// The bot's username as `/sub` reads it (set once `getMe` answered).
    pub fn username_handle(&self) -> subvisor_http::BotName {
        self.username.clone()
    }

    /// False (and the user is told once) when the user is over their budget.
    pub fn admit(&self, user: i64) -> bool {
        if self.limits.admit(user) {
            return true;
        }
        metrics::counter!("subvisor_bot_rate_limited_total").increment(1);
        false
    }

    /// Whether to tell a rate-limited user (at most once per 10 s).
    pub fn should_warn(&self, user: i64) -> bool {
        self.limits.should_warn(user)
    }

    /// Whether an admin paused purchases (`/maintenance on`).
    pub async fn purchases_paused(&self) -> Result<bool, BotError> {
        let value = self.registry.queries().setting(PURCHASES_PAUSED).await?;
        Ok(value.as_deref() == Some("true"))
    }

    /// The user's state, creating them on first contact (`None` for an id
    /// that is not a Telegram user id).
    ///
    /// With `always_touch` (`/start`) the profile is refreshed even for a
    /// known user.
    pub async fn load_user(
        &self,
        user: &User,
        referrer: Option<UserId>,
        always_touch: bool,
    ) -> Result<Option<UserSnapshot>, BotError> {
        let Some(id) = user_id(user) else {
            return Ok(None);
        };
        // A user marked as having blocked the bot is talking to us again: touch
        // them, which clears the mark (or their notifications stay dropped).
        if !always_touch
            && let Ok(Some(s)) = self.registry.send(id, View).await
            && !s.bot_blocked
        {
            return Ok(Some(s));
        }
        let profile = Profile {
            username: user.username.clone(),
            display_name: Some(user.full_name()).filter(|n| !n.trim().is_empty()),
            language_code: user.language_code.clone(),
            referrer,
        };
        let (_, snapshot) = self.registry.send(id, Touch { profile }).await?;
        Ok(Some(snapshot))
    }

    /// The user's stored state without creating them (admins, pre-checkout).
    pub async fn stored_user(&self, user: &User) -> Result<Option<UserSnapshot>, BotError> {
        match user_id(user) {
            Some(id) => Ok(self.registry.queries().user(id).await?),
            None => Ok(None),
        }
    }
}

impl BotContext {
    /// The user's language: their choice, else Telegram's `language_code`
    /// (through `[bot] language_map`).
    pub fn lang_of(&self, snapshot: Option<&UserSnapshot>, user: &User) -> Lang {
        match snapshot.and_then(|s| s.language.as_deref()) {
            Some(code) => self.locale.lang(Some(code)),
            None => self.locale.lang(user.language_code.as_deref()),
        }
    }

    /// The language Telegram reports for `user` (before their state is read).
    pub fn telegram_lang(&self, user: &User) -> Lang {
        self.locale.lang(user.language_code.as_deref())
    }

    /// A moment for people, in `[bot] timezone`.
    pub fn date(&self, lang: Lang, at: chrono::DateTime<chrono::Utc>) -> String {
        self.locale.date(lang, at)
    }
}

/// The domain id of a Telegram user, if it is a valid one.
pub fn user_id(user: &User) -> Option<UserId> {
    i64::try_from(user.id.0)
        .ok()
        .and_then(|id| UserId::new(id).ok())
}
