//! Settlement: what becomes of a payment a provider reports for one of our
//! orders. Every payment is accounted for: applied to its order, credited to
//! the user's balance, sent back through the provider, or flagged for ops —
//! never silently kept.
//!
//! [`settle`] is a pure function of the order as stored, the payment as
//! reported and the operator's [`SettlementPolicy`]; the store runs it inside
//! the transaction that records the payment, so its answer and the write that
//! follows see the same order row.

use serde::{Deserialize, Serialize};

use super::{Currency, Money, Order, OrderStatus, Provider, UserId, text_enum};

/// What the operator decided about payments that cannot pay their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementPolicy {
    /// The currency the balance is held in: unexpected money in this currency
    /// is credited to it; in any other currency it is flagged for ops.
    pub balance_currency: Currency,
    /// Send a second Stars charge for an already paid order back to the payer
    /// (`refundStarPayment`) instead of flagging it. Stars cannot be credited
    /// to a balance held in another currency.
    pub refund_unexpected_stars: bool,
}

/// A payment as the provider reported it.
#[derive(Debug, Clone, Copy)]
pub struct ReportedPayment<'a> {
    pub provider: Provider,
    /// The provider's own id of this payment (a Stars charge, `cryptobot:<invoice>`…).
    pub provider_payment_id: &'a str,
    /// The amount received; `None` for a balance purchase (the order's amount
    /// is taken from the balance).
    pub amount: Option<&'a Money>,
    /// Who paid, when the provider says (Stars); `None`: the order's user.
    pub payer: Option<UserId>,
}

/// Why a payment could not simply pay its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unexpected {
    /// The order was already paid by another payment.
    AlreadyPaid,
    /// The order was refunded before this payment arrived.
    OrderRefunded,
    /// Less than the order's amount.
    Underpaid,
    /// More than the order's amount (the order is paid; this is the rest).
    Overpaid,
    /// Another currency than the order's.
    CurrencyMismatch,
    /// Someone else paid for the user's order (a shared invoice link).
    ForeignPayer,
    /// The payment names no order of ours.
    UnknownOrder,
}

text_enum!(Unexpected, "unexpected payment reason" {
    AlreadyPaid => "already_paid",
    OrderRefunded => "order_refunded",
    Underpaid => "underpaid",
    Overpaid => "overpaid",
    CurrencyMismatch => "currency_mismatch",
    ForeignPayer => "foreign_payer",
    UnknownOrder => "unknown_order",
});

/// What is done with money beyond an order's price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Excess {
    /// In the balance currency: credited to the balance.
    Credit(Money),
    /// In another currency: recorded on the order for ops.
    Flag(Money),
}

/// The decision about one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// This very payment was settled before (a redelivery): nothing to do.
    Duplicate,
    /// Pays the order.
    Apply { excess: Option<Excess> },
    /// The order cannot take it; the whole amount goes to the balance.
    Credit { amount: Money, reason: Unexpected },
    /// The order cannot take it; it goes back to the payer through the provider.
    Refund { amount: Money, reason: Unexpected },
    /// Nothing can be done automatically: the order is flagged for ops.
    Flag { reason: Unexpected },
}

/// How a payment ended, as stored on the `payments` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentSettlement {
    Applied,
    Credited,
    /// To be sent back through the provider; the intake finishes it.
    RefundPending,
    Refunded,
    Flagged,
}

text_enum!(PaymentSettlement, "payment settlement" {
    Applied => "applied",
    Credited => "credited",
    RefundPending => "refund_pending",
    Refunded => "refunded",
    Flagged => "flagged",
});

impl Settlement {
    /// The state the payment row is written with (`None` for a duplicate: it
    /// already has one).
    pub fn recorded_as(&self) -> Option<PaymentSettlement> {
        match self {
            Settlement::Duplicate => None,
            Settlement::Apply { .. } => Some(PaymentSettlement::Applied),
            Settlement::Credit { .. } => Some(PaymentSettlement::Credited),
            Settlement::Refund { .. } => Some(PaymentSettlement::RefundPending),
            Settlement::Flag { .. } => Some(PaymentSettlement::Flagged),
        }
    }

    /// Why the payment did not simply pay its order, if it did not.
    pub fn reason(&self) -> Option<Unexpected> {
        match self {
            Settlement::Credit { reason, .. }
            | Settlement::Refund { reason, .. }
            | Settlement::Flag { reason } => Some(*reason),
            Settlement::Apply { excess: Some(_) } => Some(Unexpected::Overpaid),
            Settlement::Apply { excess: None } | Settlement::Duplicate => None,
        }
    }
}

/// Money the order (if any) cannot take: credited when it is in the balance
/// currency, sent back when it is Stars and the policy says so, flagged otherwise.
fn unexpected(
    provider: Provider,
    amount: &Money,
    reason: Unexpected,
    policy: &SettlementPolicy,
) -> Settlement {
    if provider == Provider::Stars {
        if policy.refund_unexpected_stars {
            Settlement::Refund {
                amount: amount.clone(),
                reason,
            }
        } else {
            Settlement::Flag { reason }
        }
    } else if amount.currency == policy.balance_currency {
        Settlement::Credit {
            amount: amount.clone(),
            reason,
        }
    } else {
        Settlement::Flag { reason }
    }
}

/// A payment that names no order of ours (a Stars payer is known).
pub fn settle_without_order(
    provider: Provider,
    amount: &Money,
    policy: &SettlementPolicy,
) -> Settlement {
    unexpected(provider, amount, Unexpected::UnknownOrder, policy)
}

/// Decides what happens to `payment`, reported for `order`.
///
/// * The payment that already paid the order (same provider id) is a duplicate.
/// * A pending, expired or failed order is paid by an exact amount; an
///   overpayment pays it too and the rest is credited (balance currency) or
///   flagged; an underpayment or another currency never pays it.
/// * Money the order cannot take (paid already, refunded, underpaid, another
///   payer's) is credited when it is in the balance currency, sent back when it
///   is Stars and the policy says so, and flagged otherwise.
pub fn settle(
    order: &Order,
    payment: ReportedPayment<'_>,
    policy: &SettlementPolicy,
) -> Settlement {
    if order.provider_payment_id.as_deref() == Some(payment.provider_payment_id) {
        return Settlement::Duplicate;
    }
    // A balance purchase: the order's own amount, taken from the balance.
    let Some(paid) = payment.amount else {
        return match order.status {
            OrderStatus::Pending | OrderStatus::Expired | OrderStatus::Failed => {
                Settlement::Apply { excess: None }
            }
            OrderStatus::Paid | OrderStatus::Refunded => Settlement::Duplicate,
        };
    };
    let unexpected =
        |reason: Unexpected, amount: &Money| unexpected(payment.provider, amount, reason, policy);
    if payment.payer.is_some_and(|payer| payer != order.user) {
        return unexpected(Unexpected::ForeignPayer, paid);
    }
    match order.status {
        OrderStatus::Paid => return unexpected(Unexpected::AlreadyPaid, paid),
        OrderStatus::Refunded => return unexpected(Unexpected::OrderRefunded, paid),
        OrderStatus::Pending | OrderStatus::Expired | OrderStatus::Failed => {}
    }
    if paid.currency != order.amount.currency {
        return Settlement::Flag {
            reason: Unexpected::CurrencyMismatch,
        };
    }
    match paid.minor.cmp(&order.amount.minor) {
        std::cmp::Ordering::Equal => Settlement::Apply { excess: None },
        std::cmp::Ordering::Less => unexpected(Unexpected::Underpaid, paid),
        std::cmp::Ordering::Greater => {
            let rest = Money::new(paid.minor - order.amount.minor, paid.currency.clone());
            let excess = if rest.currency == policy.balance_currency {
                Excess::Credit(rest)
            } else {
                Excess::Flag(rest)
            };
            Settlement::Apply {
                excess: Some(excess),
            }
        }
    }
}

/// How far a reversal of `wanted` can go when only `available` is there to
/// take back (a spent top-up, a spent referral bonus): (taken, shortfall).
pub fn take_back(wanted: i64, available: i64) -> (i64, i64) {
    let taken = wanted.min(available.max(0)).max(0);
    (taken, wanted - taken)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{OrderId, OrderKind, PlanId};

    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::new("USD").unwrap())
    }

    fn order(status: OrderStatus, provider: Provider, amount: Money) -> Order {
        Order {
            id: OrderId::random(),
            user: UserId::new(7).unwrap(),
            kind: OrderKind::Plan,
            plan: PlanId::new("month").unwrap(),
            days: 30,
            traffic_bytes: 0,
            provider,
            amount,
            status,
            provider_payment_id: (status == OrderStatus::Paid).then(|| "first".to_owned()),
            flag: None,
            created_at: Utc::now(),
            paid_at: None,
            provider_invoice_id: None,
            pay_url: None,
        }
    }

    fn policy(refund_stars: bool) -> SettlementPolicy {
        SettlementPolicy {
            balance_currency: Currency::new("USD").unwrap(),
            refund_unexpected_stars: refund_stars,
        }
    }

    fn pay<'a>(provider: Provider, id: &'a str, amount: &'a Money) -> ReportedPayment<'a> {
        ReportedPayment {
            provider,
            provider_payment_id: id,
            amount: Some(amount),
            payer: None,
        }
    }

    #[test]
    fn exact_payments_apply_to_open_orders() {
        for status in [
            OrderStatus::Pending,
            OrderStatus::Expired,
            OrderStatus::Failed,
        ] {
            let o = order(status, Provider::Cryptobot, usd(299));
            let s = settle(&o, pay(Provider::Cryptobot, "x", &usd(299)), &policy(true));
            assert_eq!(s, Settlement::Apply { excess: None }, "{status}");
        }
    }

    #[test]
    fn the_payment_that_paid_is_a_duplicate() {
        let o = order(OrderStatus::Paid, Provider::Cryptobot, usd(299));
        let s = settle(
            &o,
            pay(Provider::Cryptobot, "first", &usd(299)),
            &policy(true),
        );
        assert_eq!(s, Settlement::Duplicate);
    }

    #[test]
    fn a_second_payment_is_credited_in_the_balance_currency() {
        let o = order(OrderStatus::Paid, Provider::Cryptobot, usd(299));
        let s = settle(
            &o,
            pay(Provider::Cryptobot, "second", &usd(299)),
            &policy(true),
        );
        assert_eq!(
            s,
            Settlement::Credit {
                amount: usd(299),
                reason: Unexpected::AlreadyPaid
            }
        );
        let refunded = order(OrderStatus::Refunded, Provider::Nowpayments, usd(299));
        let s = settle(
            &refunded,
            pay(Provider::Nowpayments, "n", &usd(299)),
            &policy(true),
        );
        assert!(matches!(
            s,
            Settlement::Credit {
                reason: Unexpected::OrderRefunded,
                ..
            }
        ));
    }

    #[test]
    fn a_second_stars_charge_goes_back_or_is_flagged() {
        let xtr = Money::new(150, Currency::stars());
        let o = order(OrderStatus::Paid, Provider::Stars, xtr.clone());
        let s = settle(&o, pay(Provider::Stars, "charge-2", &xtr), &policy(true));
        assert_eq!(
            s,
            Settlement::Refund {
                amount: xtr.clone(),
                reason: Unexpected::AlreadyPaid
            }
        );
        let s = settle(&o, pay(Provider::Stars, "charge-2", &xtr), &policy(false));
        assert_eq!(
            s,
            Settlement::Flag {
                reason: Unexpected::AlreadyPaid
            }
        );
    }

    #[test]
    fn stars_are_never_credited_even_when_the_balance_is_in_stars() {
        let xtr = Money::new(150, Currency::stars());
        let o = order(OrderStatus::Paid, Provider::Stars, xtr.clone());
        let stars_balance = SettlementPolicy {
            balance_currency: Currency::stars(),
            refund_unexpected_stars: true,
        };
        let s = settle(&o, pay(Provider::Stars, "c2", &xtr), &stars_balance);
        assert!(matches!(s, Settlement::Refund { .. }), "{s:?}");
    }

    #[test]
    fn overpayments_pay_and_credit_the_rest() {
        let o = order(OrderStatus::Pending, Provider::Nowpayments, usd(299));
        let s = settle(
            &o,
            pay(Provider::Nowpayments, "p", &usd(500)),
            &policy(true),
        );
        assert_eq!(
            s,
            Settlement::Apply {
                excess: Some(Excess::Credit(usd(201)))
            }
        );
        let usdt = |m| Money::new(m, Currency::new("USDT").unwrap());
        let o = order(OrderStatus::Pending, Provider::Cryptobot, usdt(299));
        let s = settle(&o, pay(Provider::Cryptobot, "p", &usdt(300)), &policy(true));
        assert_eq!(
            s,
            Settlement::Apply {
                excess: Some(Excess::Flag(usdt(1)))
            }
        );
    }

    #[test]
    fn underpayments_never_pay() {
        let o = order(OrderStatus::Pending, Provider::Cryptobot, usd(299));
        let s = settle(&o, pay(Provider::Cryptobot, "p", &usd(298)), &policy(true));
        assert_eq!(
            s,
            Settlement::Credit {
                amount: usd(298),
                reason: Unexpected::Underpaid
            }
        );
        let usdt = Money::new(100, Currency::new("USDT").unwrap());
        let o = order(OrderStatus::Pending, Provider::Cryptobot, usdt.clone());
        let less = Money::new(99, usdt.currency.clone());
        let s = settle(&o, pay(Provider::Cryptobot, "p", &less), &policy(true));
        assert_eq!(
            s,
            Settlement::Flag {
                reason: Unexpected::Underpaid
            }
        );
    }

    #[test]
    fn another_currency_is_flagged() {
        let o = order(OrderStatus::Pending, Provider::Cryptobot, usd(299));
        let eur = Money::new(299, Currency::new("EUR").unwrap());
        let s = settle(&o, pay(Provider::Cryptobot, "p", &eur), &policy(true));
        assert_eq!(
            s,
            Settlement::Flag {
                reason: Unexpected::CurrencyMismatch
            }
        );
    }

    #[test]
    fn a_foreign_payer_never_pays_someone_elses_order() {
        let xtr = Money::new(150, Currency::stars());
        let o = order(OrderStatus::Pending, Provider::Stars, xtr.clone());
        let mut p = pay(Provider::Stars, "c", &xtr);
        p.payer = Some(UserId::new(8).unwrap());
        assert!(matches!(
            settle(&o, p, &policy(true)),
            Settlement::Refund {
                reason: Unexpected::ForeignPayer,
                ..
            }
        ));
        p.payer = Some(o.user);
        assert_eq!(
            settle(&o, p, &policy(true)),
            Settlement::Apply { excess: None }
        );
    }

    #[test]
    fn balance_purchases_apply_once() {
        let o = order(OrderStatus::Pending, Provider::Balance, usd(299));
        let p = ReportedPayment {
            provider: Provider::Balance,
            provider_payment_id: "balance:x",
            amount: None,
            payer: None,
        };
        assert_eq!(
            settle(&o, p, &policy(true)),
            Settlement::Apply { excess: None }
        );
        let paid = order(OrderStatus::Paid, Provider::Balance, usd(299));
        assert_eq!(settle(&paid, p, &policy(true)), Settlement::Duplicate);
    }

    #[test]
    fn money_for_no_order_is_kept_for_the_payer_or_sent_back() {
        let s = settle_without_order(
            Provider::Stars,
            &Money::new(9, Currency::stars()),
            &policy(true),
        );
        assert!(matches!(
            s,
            Settlement::Refund {
                reason: Unexpected::UnknownOrder,
                ..
            }
        ));
        let s = settle_without_order(Provider::Cryptobot, &usd(100), &policy(true));
        assert_eq!(
            s,
            Settlement::Credit {
                amount: usd(100),
                reason: Unexpected::UnknownOrder
            }
        );
        assert_eq!(s.reason(), Some(Unexpected::UnknownOrder));
        assert_eq!(
            Settlement::Apply {
                excess: Some(Excess::Credit(usd(1)))
            }
            .reason(),
            Some(Unexpected::Overpaid)
        );
    }

    #[test]
    fn take_back_stops_at_what_is_there() {
        assert_eq!(take_back(500, 800), (500, 0));
        assert_eq!(take_back(500, 200), (200, 300));
        assert_eq!(take_back(500, 0), (0, 500));
        assert_eq!(take_back(500, -3), (0, 500));
    }

    #[test]
    fn each_decision_is_stored_with_its_state_and_reason() {
        let cases = [
            (Settlement::Duplicate, None, None),
            (
                Settlement::Apply { excess: None },
                Some(PaymentSettlement::Applied),
                None,
            ),
            (
                Settlement::Apply {
                    excess: Some(Excess::Flag(usd(1))),
                },
                Some(PaymentSettlement::Applied),
                Some(Unexpected::Overpaid),
            ),
            (
                Settlement::Credit {
                    amount: usd(5),
                    reason: Unexpected::Underpaid,
                },
                Some(PaymentSettlement::Credited),
                Some(Unexpected::Underpaid),
            ),
            (
                Settlement::Refund {
                    amount: usd(5),
                    reason: Unexpected::ForeignPayer,
                },
                Some(PaymentSettlement::RefundPending),
                Some(Unexpected::ForeignPayer),
            ),
            (
                Settlement::Flag {
                    reason: Unexpected::CurrencyMismatch,
                },
                Some(PaymentSettlement::Flagged),
                Some(Unexpected::CurrencyMismatch),
            ),
        ];
        for (settlement, stored, reason) in cases {
            assert_eq!(settlement.recorded_as(), stored, "{settlement:?}");
            assert_eq!(settlement.reason(), reason, "{settlement:?}");
        }
    }
}
