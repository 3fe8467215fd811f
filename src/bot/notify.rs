//! The Bot API side of the Notifier: renders each outbox notification in the
//! user's language (links and QR for an activation, a Renew button for
//! reminders and expiry) and maps Telegram's answers to [`Delivery`].

use std::sync::Arc;

use async_trait::async_trait;
use subvisor_actors::Registry;
use subvisor_actors::domain::{AlertKind, Money, NotificationKind, UserId};
use subvisor_actors::links::LinkBook;
use subvisor_actors::notifier::{Delivery, Messenger, Throttle};
use subvisor_actors::store::{PendingAlert, PendingNotification};
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{ChatId, ParseMode};
use teloxide::{ApiError, Bot, RequestError};

use super::card;
use super::i18n::{Lang, html_escape, tr};
use super::locale::Locale;
use super::screens::{self, Screen};
use crate::t;

pub struct TelegramMessenger {
    bot: Bot,
    registry: Registry,
    links: LinkBook,
    /// Where admin alerts go: the alerts chat, or each admin.
    alert_chats: Vec<i64>,
    /// `subscription.default_devices`, for the card's device line.
    default_devices: u32,
    /// `telegram.support`: the Support button of expiry, revocation and
    /// payment-problem notices.
    support: Option<String>,
    /// `[telegram] purchase_alerts`: purchase alerts are sent (else dropped).
    purchase_alerts: bool,
    /// Time zone, language map and plan texts.
    locale: Arc<Locale>,
    /// The bot's `@username` for gift links (`getMe`, asked once).
    username: std::sync::OnceLock<String>,
}

impl TelegramMessenger {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        bot: Bot,
        registry: Registry,
        links: LinkBook,
        alert_chats: Vec<i64>,
        default_devices: u32,
        support: Option<String>,
        purchase_alerts: bool,
        locale: Arc<Locale>,
    ) -> Arc<Self> {
        Arc::new(Self {
            bot,
            registry,
            links,
            alert_chats,
            default_devices,
            support,
            purchase_alerts,
            locale,
            username: std::sync::OnceLock::new(),
        })
    }

    /// Notices the bot already showed on the screen the user tapped (their
    /// own trial, their own reissue), and an expiry that a refund caused
    /// (the refund notice says it): not sent again.
    fn shown_elsewhere(n: &PendingNotification) -> bool {
        let p = &n.payload;
        match n.kind {
            // A renewal from the balance says it in its own notice.
            NotificationKind::Activated | NotificationKind::Extended => matches!(
                p.get("origin").and_then(|o| o.as_str()),
                Some("trial" | "auto_renew")
            ),
            NotificationKind::Reissued => p.get("by_user").and_then(|b| b.as_bool()) == Some(true),
            NotificationKind::Expired => p.get("reason").and_then(|r| r.as_str()) == Some("refund"),
            _ => false,
        }
    }

    /// "1 month" for a plan order, "balance top-up" for a top-up.
    fn purchase_what(&self, alert: &PendingAlert, lang: Lang) -> String {
        let p = &alert.payload;
        if p.get("kind").and_then(|k| k.as_str()) == Some("topup") {
            return tr(lang, "admin-order-topup");
        }
        let plan = p.get("plan").and_then(|k| k.as_str()).unwrap_or_default();
        let title = subvisor_actors::domain::PlanId::new(plan)
            .ok()
            .and_then(|id| {
                let plans = self.registry.plans();
                plans.get(&id).map(|p| self.locale.plan_title(lang, p))
            })
            .unwrap_or_else(|| plan.to_owned());
        html_escape(&title)
    }

    /// An alert's text in `lang`, with a purchase's plan by its title.
    fn alert_text(&self, alert: &PendingAlert, lang: Lang) -> String {
        if alert.kind != AlertKind::Purchase {
            return Self::render_alert(alert, lang);
        }
        let p = &alert.payload;
        let paid = p
            .get("paid")
            .and_then(|v| serde_json::from_value::<Money>(v.clone()).ok())
            .map(|m| screens::money(lang, &m))
            .unwrap_or_default();
        let provider = p
            .get("provider")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let provider = match provider.parse() {
            Ok(known) => super::admin::users::provider_name(lang, known),
            Err(_) => html_escape(provider),
        };
        t!(
            lang,
            "alert-purchase",
            user = p.get("user").map(|u| u.to_string()).unwrap_or_default(),
            what = self.purchase_what(alert, lang),
            amount = paid,
            provider = provider
        )
    }

    /// An alert's text in `lang` (HTML; every value escaped).
    fn render_alert(alert: &PendingAlert, lang: Lang) -> String {
        let p = &alert.payload;
        let text = |key: &str| match p.get(key) {
            Some(serde_json::Value::String(s)) => html_escape(s),
            Some(serde_json::Value::Null) | None => "—".to_owned(),
            Some(v) => match serde_json::from_value::<Money>(v.clone()) {
                Ok(m) => screens::money(lang, &m),
                Err(_) => html_escape(&v.to_string()),
            },
        };
        match alert.kind {
            AlertKind::PaymentCredited => t!(
                lang,
                "alert-payment-credited",
                user = text("user"),
                amount = text("amount"),
                reason = text("reason"),
                order = text("order")
            ),
            AlertKind::PaymentReturned => t!(
                lang,
                "alert-payment-returned",
                user = text("user"),
                amount = text("amount"),
                reason = text("reason"),
                charge = text("provider_payment_id")
            ),
            AlertKind::PaymentFlagged => {
                let flag = match p.get("error") {
                    Some(_) => text("error"),
                    None => text("flag"),
                };
                t!(
                    lang,
                    "alert-payment-flagged",
                    order = text("order"),
                    user = text("user"),
                    flag = flag
                )
            }
            AlertKind::UnknownOrder => t!(
                lang,
                "alert-unknown-order",
                provider = text("provider"),
                payment = text("provider_payment_id"),
                amount = text("paid")
            ),
            AlertKind::RefundShortfall => t!(
                lang,
                "alert-refund-shortfall",
                user = text("user"),
                order = text("order"),
                what = text("what"),
                shortfall = text("shortfall")
            ),
            AlertKind::WorkerCrashLoop => t!(
                lang,
                "alert-worker-crash-loop",
                worker = text("worker"),
                restarts = text("restarts"),
                failure = text("failure")
            ),
            // Rendered by `alert_text` (it needs the plans).
            AlertKind::Purchase => t!(
                lang,
                "alert-purchase",
                user = text("user"),
                what = text("plan"),
                amount = text("paid"),
                provider = text("provider")
            ),
        }
    }

    /// The message for a notification, and whether its text is HTML.
    async fn render(&self, n: &PendingNotification, lang: Lang) -> (Screen, bool) {
        let p = &n.payload;
        let date = |key: &str| {
            p.get(key)
                .and_then(|v| {
                    serde_json::from_value::<chrono::DateTime<chrono::Utc>>(v.clone()).ok()
                })
                .map(|d| self.locale.date(lang, d))
                .unwrap_or_default()
        };
        let amount = |key: &str| {
            p.get(key)
                .and_then(|v| serde_json::from_value::<Money>(v.clone()).ok())
                .map(|m| screens::money(lang, &m))
                .unwrap_or_default()
        };
        let days = p.get("days").and_then(|d| d.as_i64()).unwrap_or(0);
        match n.kind {
            NotificationKind::Activated
            | NotificationKind::Extended
            | NotificationKind::Reissued => {
                // Trials and admin grants queue these too: the neutral
                // texts, not the notify-* ones that say a payment arrived.
                // The card leads, with Connect; keys and QR on request.
                let referral = p.get("origin").and_then(|o| o.as_str()) == Some("referral");
                let head = match n.kind {
                    NotificationKind::Activated | NotificationKind::Extended if referral => t!(
                        lang,
                        "notify-referral-days",
                        days = days,
                        expires = date("expires_at")
                    ),
                    NotificationKind::Activated => {
                        t!(lang, "activated", expires = date("expires_at"), days = days)
                    }
                    NotificationKind::Extended => {
                        t!(lang, "extended", expires = date("expires_at"), days = days)
                    }
                    _ => tr(lang, "notify-reissued"),
                };
                let snapshot = self.registry.queries().user(n.user).await.ok().flatten();
                let now = self.registry.clock().now();
                let url = snapshot
                    .as_ref()
                    .and_then(|s| self.links.subscription_url(s));
                let devices = match self.registry.queries().devices(n.user).await {
                    Ok(list) => Some(card::DeviceCount {
                        count: list.devices.len(),
                        limit: list.limit(self.default_devices),
                    }),
                    Err(_) => None,
                };
                let traffic = self.registry.queries().traffic(n.user).await.ok().flatten();
                let traffic = traffic.as_ref().map(|state| card::TrafficCard {
                    state,
                    packs: !self.registry.traffic_packs().is_empty(),
                });
                let screen = card::card(
                    &self.locale,
                    lang,
                    Some(head),
                    snapshot.as_ref(),
                    card::Usage { devices, traffic },
                    url.as_deref(),
                    now,
                );
                (screen, true)
            }
            NotificationKind::Expired => (
                Screen::with(tr(lang, "notify-expired"), screens::renew_keyboard(lang)),
                true,
            ),
            NotificationKind::Revoked => (
                Screen::with(
                    tr(lang, "notify-revoked"),
                    vec![screens::back_to_menu(lang)],
                ),
                true,
            ),
            NotificationKind::RemindThreeDays => (
                Screen::with(
                    t!(lang, "notify-remind-3d", expires = date("expires_at")),
                    screens::renew_keyboard(lang),
                ),
                true,
            ),
            NotificationKind::RemindOneDay => (
                Screen::with(
                    t!(lang, "notify-remind-1d", expires = date("expires_at")),
                    screens::renew_keyboard(lang),
                ),
                true,
            ),
            NotificationKind::Refunded => (
                Screen::with(
                    t!(lang, "notify-refunded", amount = amount("amount")),
                    screens::renew_keyboard(lang),
                ),
                true,
            ),
            NotificationKind::TopUp => (
                Screen::with(
                    t!(
                        lang,
                        "notify-topup",
                        amount = amount("amount"),
                        balance = amount("balance")
                    ),
                    vec![screens::back_to_menu(lang)],
                ),
                true,
            ),
            NotificationKind::ReferralBonus => (
                Screen::with(
                    t!(lang, "notify-referral-bonus", amount = amount("amount")),
                    vec![screens::back_to_menu(lang)],
                ),
                true,
            ),
            NotificationKind::PaymentFlagged => {
                let key = match p.get("flag").and_then(|f| f.as_str()) {
                    Some("partially_paid") => "notify-partially-paid",
                    Some("promo_used_up") => "notify-promo-used-up",
                    Some("gift_redeemed") => "notify-gift-refund-refused",
                    _ => "notify-payment-flagged",
                };
                (
                    Screen::with(tr(lang, key), vec![screens::back_to_menu(lang)]),
                    true,
                )
            }
            NotificationKind::PaymentCredited => {
                let key = if p.get("reason").and_then(|r| r.as_str()) == Some("underpaid") {
                    "notify-payment-credited-underpaid"
                } else {
                    "notify-payment-credited"
                };
                (
                    Screen::with(
                        t!(
                            lang,
                            key,
                            amount = amount("amount"),
                            balance = amount("balance")
                        ),
                        vec![screens::back_to_menu(lang)],
                    ),
                    true,
                )
            }
            NotificationKind::PaymentReturned => (
                Screen::with(
                    t!(lang, "notify-payment-returned", amount = amount("amount")),
                    vec![screens::back_to_menu(lang)],
                ),
                true,
            ),
            NotificationKind::AutoRenewed | NotificationKind::AutoRenewFailed => (
                super::user::auto_renew::notice(&self.locale, lang, n.kind, p),
                true,
            ),
            NotificationKind::TrafficLow
            | NotificationKind::TrafficExhausted
            | NotificationKind::TrafficAdded
            | NotificationKind::TrafficRestored => {
                (super::traffic::notice(&self.locale, lang, n.kind, p), true)
            }
            NotificationKind::GiftReady => {
                let code = p.get("code").and_then(|c| c.as_str()).unwrap_or_default();
                let name = self.bot_username().await;
                (super::user::gift::ready(lang, &name, code, days), true)
            }
            NotificationKind::GiftRedeemed => (super::user::gift::redeemed(lang, days), true),
            // An admin's text, sent as plain text: nothing in it is markup.
            NotificationKind::Broadcast => (
                Screen::text(
                    p.get("text")
                        .and_then(|t| t.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                ),
                false,
            ),
        }
    }
}

impl TelegramMessenger {
    /// The bot's `@username` (without `@`), asked of Telegram once; empty
    /// while it cannot be asked.
    async fn bot_username(&self) -> String {
        if let Some(name) = self.username.get() {
            return name.clone();
        }
        match self.bot.get_me().send().await {
            Ok(me) => {
                let name = me.username.clone().unwrap_or_default();
                let _ = self.username.set(name.clone());
                name
            }
            Err(e) => {
                tracing::warn!(error = %e, "getMe failed; a gift link goes out without the bot's name");
                String::new()
            }
        }
    }
}

/// Telegram's answer as a delivery outcome.
pub fn outcome(error: &RequestError) -> Delivery {
    match error {
        RequestError::RetryAfter(s) => Delivery::RetryAfter(s.duration()),
        RequestError::Api(
            ApiError::BotBlocked
            | ApiError::UserDeactivated
            | ApiError::BotKicked
            | ApiError::CantInitiateConversation,
        ) => Delivery::Blocked,
        RequestError::Api(e) => Delivery::Failed {
            permanent: true,
            error: e.to_string(),
        },
        other => Delivery::Failed {
            permanent: false,
            error: other.to_string(),
        },
    }
}

#[async_trait]
impl Messenger for TelegramMessenger {
    async fn deliver_alert(&self, alert: &PendingAlert, throttle: &Throttle) -> Delivery {
        if alert.kind == AlertKind::Purchase && !self.purchase_alerts {
            // Not asked for: done without a message.
            return Delivery::Sent;
        }
        if self.alert_chats.is_empty() {
            return Delivery::Failed {
                permanent: true,
                error: "no telegram.alerts_chat and no telegram.admins to tell".into(),
            };
        }
        for chat in &self.alert_chats {
            let lang = match UserId::new(*chat) {
                Ok(id) => self
                    .registry
                    .queries()
                    .user(id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|u| u.language),
                Err(_) => None,
            };
            let lang = self.locale.lang(lang.as_deref());
            throttle.wait(*chat).await;
            let sent = self
                .bot
                .send_message(ChatId(*chat), self.alert_text(alert, lang))
                .parse_mode(ParseMode::Html)
                .send()
                .await;
            if let Err(e) = sent {
                return outcome(&e);
            }
        }
        Delivery::Sent
    }

    async fn deliver(&self, n: &PendingNotification, throttle: &Throttle) -> Delivery {
        if Self::shown_elsewhere(n) {
            return Delivery::Sent;
        }
        let lang = self.locale.lang(n.language.as_deref());
        let chat = ChatId(n.user.get());
        let (mut screen, html) = self.render(n, lang).await;
        if matches!(
            n.kind,
            NotificationKind::Expired
                | NotificationKind::Revoked
                | NotificationKind::PaymentFlagged
                | NotificationKind::PaymentReturned
        ) {
            screen = super::support::with_support(screen, lang, self.support.as_deref());
        }
        let mut req = self.bot.send_message(chat, screen.text);
        if html {
            req = req.parse_mode(ParseMode::Html);
        }
        if let Some(kb) = screen.keyboard {
            req = req.reply_markup(kb);
        }
        throttle.wait(chat.0).await;
        if let Err(e) = req.send().await {
            return outcome(&e);
        }
        Delivery::Sent
    }
}
