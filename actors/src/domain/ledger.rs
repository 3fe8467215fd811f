//! The append-only ledger of balance movements. Plan orders paid through a
//! provider pass through it too (payment in, purchase out; on refund, refund in,
//! payout out), so a user's ledger tells every money movement while the balance
//! (the ledger sum) only holds what is really theirs to spend.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Money, OrderId, text_enum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    TopUp,
    Purchase,
    Refund,
    ReferralBonus,
    Admin,
    /// Money received from a provider for a plan order (passes through: the
    /// purchase entry right after takes it off again).
    Payment,
    /// Money sent back through the provider on a refund (the refund entry
    /// right before credited it).
    Payout,
    /// A payment its order could not take (a second payment, an overpayment,
    /// an underpayment, a payment for a refunded order), kept for the user.
    PaymentCredit,
    /// A referral bonus taken back because its qualifying order was refunded.
    ReferralReversal,
}

text_enum!(LedgerKind, "ledger kind" {
    TopUp => "top_up",
    Purchase => "purchase",
    Refund => "refund",
    ReferralBonus => "referral_bonus",
    Admin => "admin",
    Payment => "payment",
    Payout => "payout",
    PaymentCredit => "payment_credit",
    ReferralReversal => "referral_reversal",
});

/// One movement; `amount.minor` is signed (credits positive, debits negative).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub kind: LedgerKind,
    pub amount: Money,
    pub order: Option<OrderId>,
    pub note: String,
    pub created_at: DateTime<Utc>,
}
