//! The append-only ledger of balance movements.

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
}

text_enum!(LedgerKind, "ledger kind" {
    TopUp => "top_up",
    Purchase => "purchase",
    Refund => "refund",
    ReferralBonus => "referral_bonus",
    Admin => "admin",
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
