//! Auto-renewal from the balance: the per-user opt-in, the subscriptions due
//! for it, and the once-per-period reminder when the balance cannot pay.
//!
//! The purchase itself is an ordinary balance order (`Orders::create_order`,
//! `Payments::apply_payment`) whose idempotency key names the period
//! ([`auto_renew_key`]): a second attempt for the same period — another tick,
//! a restarted Scheduler, another instance — answers the first order and its
//! payment, so the balance is debited at most once per period.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Change, WriteCtx};
use crate::Result;
use crate::domain::{Money, UserId};

/// The idempotency-key prefix of auto-renewal orders.
pub const AUTO_RENEW_KEY_PREFIX: &str = "auto-renew:";

/// The idempotency key of the auto-renewal of the period ending at `period_end`.
pub fn auto_renew_key(period_end: DateTime<Utc>) -> String {
    format!("{AUTO_RENEW_KEY_PREFIX}{}", period_end.timestamp_millis())
}

/// Whether an order's idempotency key marks it as an auto-renewal.
pub fn is_auto_renew_key(key: Option<&str>) -> bool {
    key.is_some_and(|k| k.starts_with(AUTO_RENEW_KEY_PREFIX))
}

/// An opted-in user whose active subscription ends within the renewal window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRenewal {
    pub user: UserId,
    /// The plan to buy (as stored: it may have left the config since).
    pub plan: String,
    /// The expiry of the period to renew.
    pub period_end: DateTime<Utc>,
}

/// Auto-renewal from the balance.
#[async_trait]
pub trait Renewals: Send + Sync {
    /// The plan the user renews from the balance; `None`: auto-renewal is off.
    async fn auto_renew_plan(&self, user: UserId) -> Result<Option<String>>;

    /// Turns auto-renewal on (`Some(plan)`) or off (`None`); audited.
    /// `applied = false` when it already was so.
    async fn set_auto_renew(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        plan: Option<&str>,
    ) -> Result<Change>;

    /// Opted-in, not banned users whose active subscription ends in
    /// `(now, horizon]`, soonest first; a period already reminded about is
    /// left out until the balance covers the price it fell short of.
    async fn due_auto_renewals(
        &self,
        now: DateTime<Utc>,
        horizon: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueRenewal>>;

    /// Tells the user, once for the period ending at `period_end`, that the
    /// balance could not renew it (`short`: the price it fell short of;
    /// `None`: the balance cannot pay this plan at all). Skipped (`applied =
    /// false`) if already told, opted out, banned, or the period has moved.
    async fn remind_auto_renew(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        period_end: DateTime<Utc>,
        short: Option<&Money>,
        reason: &str,
    ) -> Result<Change>;
}

/// What one [`AutoRenew`](crate::messages::AutoRenew) did, and the
/// provisioning ops a renewal committed.
#[derive(Debug, Clone)]
pub struct AutoRenewal {
    pub outcome: crate::domain::RenewalOutcome,
    pub ops: Vec<crate::domain::ProvisioningOp>,
}

impl AutoRenewal {
    /// Whether something was done now (renewed or reminded).
    pub fn applied(&self) -> bool {
        use crate::domain::RenewalOutcome::*;
        matches!(self.outcome, Renewed | Reminded)
    }
}
