//! What admins are told about (the `alerts` outbox): money that needed a
//! decision, and anything ops must look at.

use serde::{Deserialize, Serialize};

use super::text_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A payment its order could not take was credited to the user's balance.
    PaymentCredited,
    /// A payment its order could not take is being sent back (Stars).
    PaymentReturned,
    /// A payment (or an order) needs a person: amounts, currencies, partial payments.
    PaymentFlagged,
    /// A payment arrived for an order we do not know.
    UnknownOrder,
    /// A refund could not take back everything (the balance was spent).
    RefundShortfall,
    /// A background worker keeps failing (see `/ops/workers`).
    WorkerCrashLoop,
    /// A payment paid its order (sent only with `[telegram] purchase_alerts`).
    Purchase,
}

text_enum!(AlertKind, "alert kind" {
    PaymentCredited => "payment_credited",
    PaymentReturned => "payment_returned",
    PaymentFlagged => "payment_flagged",
    UnknownOrder => "unknown_order",
    RefundShortfall => "refund_shortfall",
    WorkerCrashLoop => "worker_crash_loop",
    Purchase => "purchase",
});
