//! Orders and their status machine.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Money, OrderId, PlanId, UserId, text_enum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Paid,
    Failed,
    Expired,
    Refunded,
}

text_enum!(OrderStatus, "order status" {
    Pending => "pending",
    Paid => "paid",
    Failed => "failed",
    Expired => "expired",
    Refunded => "refunded",
});

impl OrderStatus {
    /// The allowed transitions. A confirmed payment for an expired or failed
    /// order is still honoured (the money was taken: a late deposit after the
    /// provider gave up), so `expired → paid` and `failed → paid` are allowed.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, Paid | Failed | Expired) | (Expired | Failed, Paid) | (Paid, Refunded)
        )
    }

    /// Statuses from which a confirmed payment may be applied.
    pub const PAYABLE: [OrderStatus; 3] = [
        OrderStatus::Pending,
        OrderStatus::Expired,
        OrderStatus::Failed,
    ];
}

/// What an order buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Days of a plan.
    Plan,
    /// Credit on the balance (no days).
    Topup,
    /// Traffic for the current period (no days, `traffic_bytes > 0`).
    Pack,
    /// Days of a plan for someone else: the paid order yields a one-time gift.
    Gift,
}

text_enum!(OrderKind, "order kind" {
    Plan => "plan",
    Topup => "topup",
    Pack => "pack",
    Gift => "gift",
});

/// The plan id recorded on top-up orders.
pub const TOPUP_PLAN: &str = "topup";

/// Who takes the money for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Stars,
    Cryptobot,
    Nowpayments,
    Balance,
}

text_enum!(Provider, "provider" {
    Stars => "stars",
    Cryptobot => "cryptobot",
    Nowpayments => "nowpayments",
    Balance => "balance",
});

/// An order to be created; the amount comes from the plan, never from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub id: OrderId,
    pub user: UserId,
    pub kind: OrderKind,
    pub plan: PlanId,
    pub days: u32,
    /// A pack's bytes, or a plan's allowance per period (0 = unlimited).
    pub traffic_bytes: u64,
    pub provider: Provider,
    pub amount: Money,
    /// The press that asked for it: a second order with the same key is the
    /// first one (a double tap never charges twice).
    pub idempotency_key: Option<String>,
    /// Reuse the same purchase (user, plan, provider, amount) still pending
    /// and created at or after this instant instead of making a new order.
    pub reuse_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub user: UserId,
    pub kind: OrderKind,
    pub plan: PlanId,
    /// Days bought, copied from the plan when the order was made (0 for top-ups).
    pub days: u32,
    /// A pack's bytes, or a plan's allowance per period (0 = unlimited),
    /// copied when the order was made.
    #[serde(default)]
    pub traffic_bytes: u64,
    pub provider: Provider,
    pub amount: Money,
    pub status: OrderStatus,
    pub provider_payment_id: Option<String>,
    /// Why ops should look at this order (`partially_paid`, `underpaid`,
    /// `refund_shortfall`…), if anything.
    pub flag: Option<String>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    /// The provider's invoice, once one was made.
    pub provider_invoice_id: Option<String>,
    /// Where the user pays that invoice.
    pub pay_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_machine() {
        use OrderStatus::*;
        assert!(Pending.can_become(Paid));
        assert!(Expired.can_become(Paid));
        assert!(Paid.can_become(Refunded));
        assert!(!Paid.can_become(Paid));
        assert!(!Refunded.can_become(Paid));
        assert!(Failed.can_become(Paid), "a late deposit is honoured");
        assert!(!Failed.can_become(Refunded));
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>().ok(), Some(*s));
        }
    }
}
