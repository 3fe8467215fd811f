//! Telegram Stars in the core: the [`StarsGateway`] the bot front implements
//! (invoice links, refunds, the bot's Star transactions), and the one reading
//! of a Telegram update that carries a payment ([`event_from_update`]), shared
//! by the webhook (which stores it before answering Telegram) and the polling
//! loop (which stores it before confirming the update).
//!
//! Source: Telegram Bot API, "Payments" and "Telegram Stars":
//! `Message.successful_payment` (`currency`, `total_amount`, `invoice_payload`,
//! `telegram_payment_charge_id`), `Message.refunded_payment` (same fields, the
//! charge id of the refunded payment), `getStarTransactions` (a
//! `StarTransaction`'s `id` is the `telegram_payment_charge_id` of an incoming
//! payment and, for a refund, the id of the refunded transaction).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::intake::{PaymentAction, PaymentEvent};
use crate::Result;
use crate::domain::{Currency, Money, Order, OrderId, Provider, UserId};

/// Stars' currency code.
pub const XTR: &str = "XTR";

/// The payload of a Stars invoice for `order`: its id, and `:` and `tag`
/// (the bot's button press) when there is one, so each invoice of the order
/// is told apart (only the order's current one passes pre-checkout) while a
/// payment of any of them still names the order.
pub fn invoice_payload(order: OrderId, tag: Option<u32>) -> String {
    match tag {
        None => order.to_string(),
        Some(tag) => format!("{order}:{tag:08x}"),
    }
}

/// The order an invoice payload names (see [`invoice_payload`]).
pub fn order_of_payload(payload: &str) -> Option<OrderId> {
    let id = payload.split_once(':').map_or(payload, |(id, _)| id);
    id.parse().ok()
}

/// One Star transaction of the bot, as far as reconciliation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarTransaction {
    /// The charge id (for a refund: the id of the refunded charge).
    pub id: String,
    pub amount: i64,
    pub date: DateTime<Utc>,
    pub direction: StarDirection,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StarDirection {
    /// A user paid one of the bot's invoices.
    Payment {
        payer: UserId,
        invoice_payload: Option<String>,
    },
    /// The bot sent Stars back to a user.
    Refund { to: UserId },
    /// Anything else (withdrawals, ads, gifts…): not ours to reconcile.
    Other,
}

/// Telegram Stars, spoken through the bot (implemented by the bot front).
#[async_trait]
pub trait StarsGateway: Send + Sync + 'static {
    /// A payment link for `order` (`createInvoiceLink`, currency XTR).
    async fn invoice_link(&self, order: &Order, title: &str, description: &str) -> Result<String>;
    /// Sends the Stars of a payment back to `user` (`refundStarPayment`); a
    /// charge that was already refunded counts as done.
    async fn refund(&self, user: UserId, telegram_payment_charge_id: &str) -> Result<()>;
    /// The bot's Star transactions, newest first (`getStarTransactions`).
    async fn transactions(&self, offset: u32, limit: u32) -> Result<Vec<StarTransaction>>;
}

/// The payment event a Telegram update carries (`successful_payment` or
/// `refunded_payment` in a message), if any. Works on the raw JSON so the
/// webhook can store it before anything else looks at the update. A payment
/// whose fields cannot be read is still an event (an unknown status, logged as
/// an error and kept for ops), never dropped.
pub fn event_from_update(update: &Value) -> Option<PaymentEvent> {
    let message = update.get("message")?;
    let payer = message
        .pointer("/from/id")
        .and_then(Value::as_i64)
        .and_then(|id| UserId::new(id).ok());
    let (refund, fields) = if let Some(paid) = message.get("successful_payment") {
        (false, paid)
    } else if let Some(refunded) = message.get("refunded_payment") {
        (true, refunded)
    } else {
        return None;
    };
    let Some((charge, order, amount)) = payment_fields(fields) else {
        let update_id = update.get("update_id").and_then(Value::as_i64).unwrap_or(0);
        return Some(PaymentEvent {
            provider: Provider::Stars,
            event_id: format!("update:{update_id}"),
            order: None,
            payer,
            by: None,
            action: PaymentAction::Unknown {
                status: if refund {
                    "unreadable refunded_payment"
                } else {
                    "unreadable successful_payment"
                }
                .to_owned(),
            },
        });
    };
    Some(if refund {
        refund_event(&charge, order, payer)
    } else {
        PaymentEvent {
            provider: Provider::Stars,
            event_id: charge.clone(),
            order,
            payer,
            by: None,
            action: PaymentAction::Paid {
                payment_id: charge,
                amount,
            },
        }
    })
}

/// The event of Stars sent back for `charge` (by us or by Telegram); the same
/// id whoever notices it first, so the others are duplicates.
pub fn refund_event(charge: &str, order: Option<OrderId>, payer: Option<UserId>) -> PaymentEvent {
    PaymentEvent {
        provider: Provider::Stars,
        event_id: format!("refund:{charge}"),
        order,
        payer,
        by: None,
        action: PaymentAction::Refunded {
            payment_id: Some(charge.to_owned()),
        },
    }
}

/// A cheap look at a raw update before parsing it: `false` means it carries
/// no payment for sure (most updates); `true` means parse and look closer.
pub fn may_carry_payment(raw: &[u8]) -> bool {
    let has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    has(b"\"successful_payment\"") || has(b"\"refunded_payment\"")
}

/// Whether an update carries a payment (and must be stored before it is acknowledged).
pub fn carries_payment(update: &Value) -> bool {
    update.get("message").is_some_and(|m| {
        m.get("successful_payment").is_some() || m.get("refunded_payment").is_some()
    })
}

fn payment_fields(p: &Value) -> Option<(String, Option<OrderId>, Money)> {
    let charge = p
        .get("telegram_payment_charge_id")?
        .as_str()
        .filter(|c| !c.is_empty())?
        .to_owned();
    let order = p
        .get("invoice_payload")
        .and_then(Value::as_str)
        .and_then(order_of_payload);
    let currency = Currency::new(p.get("currency")?.as_str()?.to_owned()).ok()?;
    let total = p.get("total_amount")?.as_i64()?;
    Some((charge, order, Money::new(total, currency)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn update(kind: &str, payload: &str) -> Value {
        json!({
            "update_id": 5,
            "message": {
                "message_id": 9, "date": 1, "chat": {"id": 42, "type": "private"},
                "from": {"id": 42, "is_bot": false, "first_name": "A"},
                kind: {
                    "currency": "XTR", "total_amount": 150, "invoice_payload": payload,
                    "telegram_payment_charge_id": "ch-1", "provider_payment_charge_id": ""
                }
            }
        })
    }

    #[test]
    fn payments_and_refunds_are_read_from_raw_updates() {
        let order = OrderId::random();
        let paid = event_from_update(&update("successful_payment", &order.to_string()))
            .expect("a payment");
        assert_eq!(paid.event_id, "ch-1");
        assert_eq!(paid.order, Some(order));
        assert_eq!(paid.payer, UserId::new(42).ok());
        assert_eq!(
            paid.action,
            PaymentAction::Paid {
                payment_id: "ch-1".into(),
                amount: Money::new(150, Currency::stars())
            }
        );
        let refund = event_from_update(&update("refunded_payment", "garbage")).expect("a refund");
        assert_eq!(refund.event_id, "refund:ch-1");
        assert_eq!(refund.order, None, "an unreadable payload is no order");
        assert!(carries_payment(&update("successful_payment", "x")));
        let raw = update("refunded_payment", "x").to_string();
        assert!(may_carry_payment(raw.as_bytes()));
        assert!(!may_carry_payment(
            br#"{"update_id":1,"message":{"text":"a successful_payment"}}"#
        ));
    }

    #[test]
    fn every_invoice_of_an_order_names_it() {
        let order = OrderId::random();
        let first = invoice_payload(order, None);
        let second = invoice_payload(order, Some(u32::MAX));
        assert_ne!(first, second);
        assert!(second.len() <= 128, "Telegram's payload limit");
        assert_eq!(order_of_payload(&first), Some(order));
        assert_eq!(order_of_payload(&second), Some(order));
        let paid = event_from_update(&update("successful_payment", &second)).expect("a payment");
        assert_eq!(
            paid.order,
            Some(order),
            "a superseded invoice still names its order"
        );
        assert_eq!(order_of_payload("garbage:1"), None);
    }

    #[test]
    fn other_updates_carry_no_payment() {
        let text = json!({"update_id": 1, "message": {"text": "hi", "from": {"id": 1}}});
        assert_eq!(event_from_update(&text), None);
        assert!(!carries_payment(&text));
        assert!(!carries_payment(
            &json!({"update_id": 2, "callback_query": {}})
        ));
        let broken =
            json!({"update_id": 3, "message": {"successful_payment": {"currency": "XTR"}}});
        let event = event_from_update(&broken).expect("kept even when it cannot be read");
        assert_eq!(event.event_id, "update:3");
        assert!(matches!(event.action, PaymentAction::Unknown { .. }));
        assert!(carries_payment(&broken));
    }
}
