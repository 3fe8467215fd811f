//! The provider-neutral events of the invoice-page providers, built the same
//! way whether a callback brought the news or the reconciler asked for it: the
//! same fact gets the same event id, so whichever comes second is a duplicate.

use super::intake::{PaymentAction, PaymentEvent};
use crate::domain::{Money, OrderId, OrderStatus, Provider};

/// A Crypto Pay invoice was paid (`invoice_paid`, or `getInvoices` said `paid`).
pub fn cryptobot_paid(invoice_id: i64, order: Option<OrderId>, amount: Money) -> PaymentEvent {
    PaymentEvent {
        provider: Provider::Cryptobot,
        event_id: format!("{invoice_id}:paid"),
        order,
        payer: None,
        by: None,
        action: PaymentAction::Paid {
            payment_id: format!("cryptobot:{invoice_id}"),
            amount,
        },
    }
}

/// Any other Crypto Pay update: stored only.
pub fn cryptobot_other(update_id: i64, order: Option<OrderId>, kind: &str) -> PaymentEvent {
    PaymentEvent {
        provider: Provider::Cryptobot,
        event_id: format!("update:{update_id}"),
        order,
        payer: None,
        by: None,
        action: PaymentAction::Progress {
            status: kind.to_owned(),
        },
    }
}

/// The provider payment id of a NOWPayments payment.
pub fn nowpayments_payment_id(payment_id: &str) -> String {
    format!("nowpayments:{payment_id}")
}

/// A NOWPayments payment in `status` (an IPN, or `GET /payment/{id}`). Each
/// (payment, status) is one event: statuses arrive repeated and out of order.
/// `finished` needs the price (`price_amount` in `price_currency`); `None`
/// when it is missing.
pub fn nowpayments_status(
    payment_id: &str,
    status: &str,
    order: Option<OrderId>,
    price: Option<Money>,
) -> Option<PaymentEvent> {
    let action = match status {
        "finished" => PaymentAction::Paid {
            payment_id: nowpayments_payment_id(payment_id),
            amount: price?,
        },
        "partially_paid" => PaymentAction::PartiallyPaid,
        "failed" => PaymentAction::Closed {
            status: OrderStatus::Failed,
        },
        "expired" => PaymentAction::Closed {
            status: OrderStatus::Expired,
        },
        "refunded" => PaymentAction::Refunded {
            payment_id: Some(nowpayments_payment_id(payment_id)),
        },
        "waiting" | "confirming" | "confirmed" | "sending" => PaymentAction::Progress {
            status: status.to_owned(),
        },
        other => PaymentAction::Unknown {
            status: other.to_owned(),
        },
    };
    Some(PaymentEvent {
        provider: Provider::Nowpayments,
        event_id: format!("{payment_id}:{status}"),
        order,
        payer: None,
        by: None,
        action,
    })
}

/// The NOWPayments payment id an event id of [`nowpayments_status`] names.
pub fn nowpayments_payment_of_event(event_id: &str) -> Option<&str> {
    event_id
        .rsplit_once(':')
        .map(|(id, _)| id)
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    #[test]
    fn the_same_fact_gets_the_same_id() {
        let usd = Money::new(299, Currency::new("USD").unwrap());
        let a = cryptobot_paid(7, None, usd.clone());
        assert_eq!(a.event_id, "7:paid");
        let finished = nowpayments_status("55", "finished", None, Some(usd)).unwrap();
        assert_eq!(finished.event_id, "55:finished");
        assert_eq!(nowpayments_payment_of_event(&finished.event_id), Some("55"));
        assert!(matches!(
            finished.action,
            PaymentAction::Paid { ref payment_id, .. } if payment_id == "nowpayments:55"
        ));
        assert!(nowpayments_status("55", "finished", None, None).is_none());
        assert!(matches!(
            nowpayments_status("55", "failed", None, None)
                .unwrap()
                .action,
            PaymentAction::Closed {
                status: OrderStatus::Failed
            }
        ));
        assert!(matches!(
            nowpayments_status("55", "weird", None, None)
                .unwrap()
                .action,
            PaymentAction::Unknown { .. }
        ));
    }
}
