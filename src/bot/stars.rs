//! Telegram Stars: the pre-checkout answer (Telegram waits at most 10 s, so it
//! is two indexed reads), the confirmed payment, and the Bot API side of
//! invoices links and refunds ([`TelegramStars`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use subvisor_actors::domain::{Currency, Money, Order, OrderId, OrderStatus, Provider, UserId};
use subvisor_actors::messages::ApplyPayment;
use subvisor_actors::store::WebhookEvent;
use subvisor_actors::{Error as CoreError, payments::StarsGateway};
use teloxide::Bot;
use teloxide::payloads::AnswerPreCheckoutQuerySetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{LabeledPrice, PreCheckoutQuery, SuccessfulPayment, User};

use super::BotContext;
use super::handlers::lang_of;
use super::i18n::tr;

/// Stars' currency code.
pub const XTR: &str = "XTR";
/// `webhook_events.provider` of Stars payments.
const EVENT_PROVIDER: &str = "stars";

/// Why a pre-checkout is refused (the text key shown to the user), if it is.
pub fn refusal(
    order: Option<&Order>,
    payer: i64,
    currency: &str,
    total: u32,
    paused: bool,
) -> Option<&'static str> {
    let Some(order) = order else {
        return Some("precheckout-unknown");
    };
    if order.user.get() != payer || order.provider != Provider::Stars {
        return Some("precheckout-unknown");
    }
    match order.status {
        OrderStatus::Pending => {}
        OrderStatus::Paid | OrderStatus::Refunded => return Some("precheckout-paid"),
        OrderStatus::Expired | OrderStatus::Failed => return Some("precheckout-expired"),
    }
    if currency != XTR
        || order.amount.currency.as_str() != XTR
        || i64::from(total) != order.amount.minor
    {
        return Some("precheckout-mismatch");
    }
    if paused {
        return Some("precheckout-paused");
    }
    None
}

pub async fn pre_checkout(ctx: &Arc<BotContext>, q: PreCheckoutQuery) {
    let known = match UserId::new(q.from.id.0 as i64) {
        Ok(id) => ctx.registry.store().user(id).await.ok().flatten(),
        Err(_) => None,
    };
    // The reason is shown by Telegram: in the language the user chose.
    let lang = lang_of(known.as_ref(), &q.from);
    let order = match q.invoice_payload.parse::<OrderId>() {
        Ok(id) => ctx.registry.store().order(id).await,
        Err(_) => Ok(None),
    };
    let answer = match order {
        Ok(order) => {
            let paused = ctx.purchases_paused().await;
            refusal(
                order.as_ref(),
                q.from.id.0 as i64,
                &q.currency,
                q.total_amount,
                paused,
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "pre-checkout: cannot read the order");
            Some("error-generic")
        }
    };
    metrics::counter!("subvisor_stars_pre_checkouts_total", "ok" => if answer.is_none() { "true" } else { "false" })
        .increment(1);
    let mut req = ctx
        .bot
        .answer_pre_checkout_query(q.id.clone(), answer.is_none());
    if let Some(key) = answer {
        req = req.error_message(tr(lang, key));
    }
    if let Err(e) = req.send().await {
        tracing::warn!(error = %e, "answerPreCheckoutQuery failed");
    }
}

/// A Stars payment went through: apply it to the order (retrying transient
/// failures; Telegram will not tell us again), recorded like a provider webhook.
pub async fn paid(ctx: &Arc<BotContext>, from: &User, payment: &SuccessfulPayment) {
    let charge = payment.telegram_payment_charge_id.0.clone();
    let order = payment.invoice_payload.parse::<OrderId>().ok();
    let event = WebhookEvent {
        provider: EVENT_PROVIDER.into(),
        event_id: charge.clone(),
        order,
        received_at: ctx.registry.clock().now(),
        outcome: "received".into(),
        payload: serde_json::to_string(payment).unwrap_or_default(),
    };
    let store = ctx.registry.store();
    match store.record_webhook_event(&event).await {
        Ok(false) => {
            tracing::info!(%charge, "Stars payment seen before; ignored");
            return;
        }
        Ok(true) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot record the Stars payment event; applying anyway")
        }
    }
    let (Some(order), Ok(user)) = (order, UserId::new(from.id.0 as i64)) else {
        tracing::error!(%charge, payload = %payment.invoice_payload, "Stars payment for an order we cannot read; needs a refund by hand");
        let _ = store
            .set_webhook_outcome(EVENT_PROVIDER, &charge, "unknown_order")
            .await;
        return;
    };
    let Ok(currency) = Currency::new(payment.currency.clone()) else {
        return;
    };
    // Whoever pays has not blocked the bot: clear a stale mark before the
    // activation is queued (a marked user's notifications are dropped).
    super::handlers::load(ctx, from, None, false).await;
    let msg = ApplyPayment {
        order,
        provider_payment_id: charge.clone(),
        paid: Some(Money::new(i64::from(payment.total_amount), currency)),
    };
    let mut outcome = "failed".to_owned();
    for attempt in 0..5u32 {
        match ctx.registry.send(user, msg.clone()).await {
            Ok(change) => {
                outcome = if change.applied {
                    "applied"
                } else {
                    "duplicate"
                }
                .into();
                metrics::counter!("subvisor_payments_total", "provider" => EVENT_PROVIDER, "outcome" => "applied").increment(1);
                break;
            }
            Err(
                e @ (CoreError::AmountMismatch { .. }
                | CoreError::OrderNotFound(_)
                | CoreError::OrderOfAnotherUser { .. }
                | CoreError::OrderNotPayable { .. }
                | CoreError::DuplicateProviderPayment(_)),
            ) => {
                tracing::error!(error = %e, %charge, "Stars payment not applied; the order needs a look");
                outcome = format!("rejected: {e}");
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "applying a Stars payment failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
            }
        }
    }
    if outcome == "failed" {
        tracing::error!(%charge, %order, "Stars payment could not be applied; ops must apply it (see webhook_events)");
        let s = ctx.registry.store().user(user).await.ok().flatten();
        let lang = lang_of(s.as_ref(), from);
        let _ = ctx
            .bot
            .send_message(
                teloxide::types::ChatId(from.id.0 as i64),
                tr(lang, "error-generic"),
            )
            .send()
            .await;
    }
    if let Err(e) = store
        .set_webhook_outcome(EVENT_PROVIDER, &charge, &outcome)
        .await
    {
        tracing::warn!(error = %e, "cannot record the Stars payment outcome");
    }
    ctx.notifier.notify_one();
}

/// The Bot API side of Stars for checkout and refunds.
pub struct TelegramStars {
    bot: Bot,
}

impl TelegramStars {
    pub fn new(bot: Bot) -> Self {
        Self { bot }
    }
}

#[async_trait]
impl StarsGateway for TelegramStars {
    async fn invoice_link(
        &self,
        order: &Order,
        title: &str,
        description: &str,
    ) -> subvisor_actors::Result<String> {
        let amount = u32::try_from(order.amount.minor)
            .map_err(|_| CoreError::invalid("amount", "too large for Stars"))?;
        self.bot
            .create_invoice_link(
                title,
                description,
                order.id.to_string(),
                XTR,
                [LabeledPrice::new(title, amount)],
            )
            .send()
            .await
            .map_err(|e| CoreError::Provider {
                provider: "stars",
                message: format!("createInvoiceLink failed: {e}"),
            })
    }

    async fn refund(&self, user: UserId, charge: &str) -> subvisor_actors::Result<()> {
        let tg_user = teloxide::types::UserId(user.get() as u64);
        match self
            .bot
            .refund_star_payment(tg_user, charge.to_owned().into())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(teloxide::RequestError::Api(e))
                if e.to_string().contains("CHARGE_ALREADY_REFUNDED") =>
            {
                Ok(())
            }
            Err(e) => Err(CoreError::Provider {
                provider: "stars",
                message: format!("refundStarPayment failed: {e}"),
            }),
        }
    }
}
