//! Telegram Stars: the pre-checkout answer (Telegram waits at most 10 s, so it
//! is two indexed reads), the confirmed payment, and the Bot API side of
//! invoices links and refunds ([`TelegramStars`]).

use std::sync::Arc;

use async_trait::async_trait;
use subvisor_actors::Error as CoreError;
use subvisor_actors::domain::{Order, OrderStatus, Provider, UserId};
use subvisor_actors::payments::stars::{event_from_update, order_of_payload};
use subvisor_actors::payments::{
    Outcome, PaymentAction, StarDirection, StarTransaction, StarsGateway,
};
use teloxide::Bot;
use teloxide::payloads::{AnswerPreCheckoutQuerySetters, GetStarTransactionsSetters};
use teloxide::requests::{Request, Requester};
use teloxide::types::{ChatId, LabeledPrice, Message, PreCheckoutQuery, TransactionPartner};

use super::BotContext;
use super::error::BotError;
use super::i18n::tr;
use super::reply::{self, Target};
use super::user::checkout::invoice_paid;

/// Stars' currency code.
pub const XTR: &str = subvisor_actors::payments::stars::XTR;

/// Why a pre-checkout is refused (the text key shown to the user), if it is.
pub fn refusal(
    order: Option<&Order>,
    payload: &str,
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
    // A newer invoice for the same purchase was sent: only that one is paid.
    if order
        .provider_invoice_id
        .as_deref()
        .is_some_and(|current| current != payload)
    {
        return Some("precheckout-superseded");
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

/// Answers a pre-checkout: accepted only for the payer's own pending Stars
/// order at its exact amount, while purchases are not paused.
#[tracing::instrument(name = "pre_checkout", skip_all, fields(user = q.from.id.0))]
pub async fn pre_checkout(ctx: &Arc<BotContext>, q: PreCheckoutQuery) {
    // The reason is shown by Telegram: in the language the user chose (their
    // Telegram language if that cannot be read: the answer must not wait).
    let known = ctx.stored_user(&q.from).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "pre-checkout: cannot read the user");
        None
    });
    let lang = ctx.lang_of(known.as_ref(), &q.from);
    let answer = match checkout_refusal(ctx, &q).await {
        Ok(refusal) => refusal,
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

/// The [`refusal`] for a pre-checkout, from the order and the settings.
async fn checkout_refusal(
    ctx: &BotContext,
    q: &PreCheckoutQuery,
) -> Result<Option<&'static str>, BotError> {
    let order = match order_of_payload(&q.invoice_payload) {
        Some(id) => ctx.registry.queries().order(id).await?,
        None => None,
    };
    let paused = ctx.purchases_paused().await?;
    Ok(refusal(
        order.as_ref(),
        &q.invoice_payload,
        q.from.id.0 as i64,
        &q.currency,
        q.total_amount,
        paused,
    ))
}

/// A message carrying a Stars payment (`successful_payment`) or a refund
/// (`refunded_payment`): the update was stored by the payment intake before it
/// was acknowledged (webhook) or confirmed (polling); here it is applied
/// (`resume`: a finished one is a duplicate). If that keeps failing, the user
/// hears that the payment is safe and the service finishes it by itself.
#[tracing::instrument(name = "payment", skip_all, fields(user = msg.from.as_ref().map(|u| u.id.0)))]
pub async fn payment_message(ctx: &Arc<BotContext>, msg: Message) {
    let Some(from) = msg.from.as_ref() else {
        return;
    };
    let update = serde_json::json!({ "message": msg });
    let Some(event) = event_from_update(&update) else {
        return;
    };
    if matches!(event.action, PaymentAction::Paid { .. }) {
        // Whoever pays has not blocked the bot: clear a stale mark before the
        // activation is queued (a marked user's notifications are dropped).
        if let Err(e) = ctx.load_user(from, None, false).await {
            tracing::warn!(error = %e, "cannot load the payer");
        }
    }
    let order = event.order;
    match ctx.intake.resume(event).await {
        Ok(receipt) => {
            tracing::info!(outcome = %receipt.outcome, duplicate = receipt.duplicate, "Stars payment event");
            if receipt.outcome == Outcome::Applied
                && let Some((_, screen)) = order.and_then(|o| ctx.invoice_screens.remove(&o))
            {
                let target = Target {
                    chat: screen.chat,
                    edit: Some(screen.message),
                };
                reply::show(ctx, target, invoice_paid(screen.lang)).await;
            }
        }
        // Going down: the next start finishes it (and tells the user then).
        Err(CoreError::ShuttingDown) => {
            tracing::warn!("a Stars payment is stored but not applied: the service is stopping");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "a Stars payment is stored but not applied yet; the service will finish it");
            // The payment is safe either way: tell the user in their language
            // if it can be read, else in Telegram's.
            let known = ctx.stored_user(from).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the payer's language");
                None
            });
            let lang = ctx.lang_of(known.as_ref(), from);
            let _ = ctx
                .bot
                .send_message(ChatId(from.id.0 as i64), tr(lang, "payment-delayed"))
                .send()
                .await;
        }
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

    async fn transactions(
        &self,
        offset: u32,
        limit: u32,
    ) -> subvisor_actors::Result<Vec<StarTransaction>> {
        let limit = u8::try_from(limit.clamp(1, 100)).unwrap_or(100);
        let page = self
            .bot
            .get_star_transactions()
            .offset(offset)
            .limit(limit)
            .send()
            .await
            .map_err(|e| CoreError::Provider {
                provider: "stars",
                message: format!("getStarTransactions failed: {e}"),
            })?;
        Ok(page
            .transactions
            .into_iter()
            .map(|tx| {
                let user_of = |partner: &Option<TransactionPartner>| match partner {
                    Some(TransactionPartner::User(u)) => Some(u.clone()),
                    _ => None,
                };
                let direction = if let Some(u) = user_of(&tx.source) {
                    match (UserId::new(u.user.id.0 as i64), u.kind.invoice_payment()) {
                        (Ok(payer), Some(invoice)) => StarDirection::Payment {
                            payer,
                            invoice_payload: invoice.invoice_payload,
                        },
                        _ => StarDirection::Other,
                    }
                } else if let Some(u) = user_of(&tx.receiver) {
                    match UserId::new(u.user.id.0 as i64) {
                        Ok(to) => StarDirection::Refund { to },
                        Err(_) => StarDirection::Other,
                    }
                } else {
                    StarDirection::Other
                };
                StarTransaction {
                    id: tx.id.0,
                    amount: i64::from(tx.amount),
                    date: tx.date,
                    direction,
                }
            })
            .collect())
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
