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
    /// The allowed transitions. A confirmed payment for an expired order is
    /// still honoured (the money was taken), so `expired → paid` is allowed.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (Pending, Paid | Failed | Expired) | (Expired, Paid) | (Paid, Refunded)
        )
    }

    /// Statuses from which a confirmed payment may be applied.
    pub const PAYABLE: [OrderStatus; 2] = [OrderStatus::Pending, OrderStatus::Expired];
}

/// What an order buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Days of a plan.
    Plan,
    /// Credit on the balance (no days).
    Topup,
}

text_enum!(OrderKind, "order kind" {
    Plan => "plan",
    Topup => "topup",
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
    pub provider: Provider,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub user: UserId,
    pub kind: OrderKind,
    pub plan: PlanId,
    /// Days bought, copied from the plan when the order was made (0 for top-ups).
    pub days: u32,
    pub provider: Provider,
    pub amount: Money,
    pub status: OrderStatus,
    pub provider_payment_id: Option<String>,
    /// Why ops should look at this order (`amount_mismatch`, `partially_paid`), if anything.
    pub flag: Option<String>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
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
        assert!(!Failed.can_become(Paid));
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>().ok(), Some(*s));
        }
    }
}
