//! The balance ledger: every movement of a user's balance.

use async_trait::async_trait;

use super::{Change, WriteCtx};
use crate::Result;
use crate::domain::{LedgerEntry, LedgerKind, Money, UserId};

/// The balance ledger: every movement of a user's balance.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Credits (or debits, if negative) the balance with a ledger entry.
    async fn adjust_balance(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        kind: LedgerKind,
        amount: &Money,
        note: &str,
    ) -> Result<Change>;

    async fn ledger(&self, user: UserId) -> Result<Vec<LedgerEntry>>;

    async fn ledger_sum(&self, user: UserId) -> Result<i64>;
}
