//! Payments: settled once per provider payment id, credited, returned, refunded.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Change, WriteCtx};
use crate::Result;
use crate::domain::{Money, OrderId, PaymentSettlement, Provider, Settlement, UserId};

/// A payment as a provider (or the balance) confirmed it, for
/// [`Payments::apply_payment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingPayment {
    pub provider: Provider,
    /// The provider's own id of this payment.
    pub provider_payment_id: String,
    /// What the provider says was paid; `None` for a balance purchase.
    pub amount: Option<Money>,
    /// Who paid, when the provider tells (Stars).
    pub payer: Option<UserId>,
}

/// The result of [`Payments::apply_payment`].
#[derive(Debug, Clone)]
pub struct Settled {
    pub change: Change,
    /// What was decided (and done, in the same transaction).
    pub settlement: Settlement,
    /// For a [`Settlement::Duplicate`]: how the payment was settled the first time.
    pub previously: Option<PaymentSettlement>,
}

/// The result of [`Payments::refund_order`].
#[derive(Debug, Clone)]
pub struct Refunded {
    pub change: Change,
    /// What could not be taken back (a spent top-up); the order is flagged and
    /// admins told.
    pub shortfall: Option<Money>,
}

/// One payment as recorded in `payments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentRecord {
    pub provider: Provider,
    pub provider_payment_id: String,
    pub order: Option<OrderId>,
    pub user: UserId,
    pub amount: Money,
    pub settlement: PaymentSettlement,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Payments: settled once per provider payment id, credited, returned, refunded.
#[async_trait]
pub trait Payments: Send + Sync {
    /// Settles one payment for `order` in one transaction (see
    /// [`settle`](crate::domain::settle)): applied (`pending|expired|failed →
    /// paid`, guarded, extended by its days or credited as a top-up), credited
    /// to the balance, queued to be sent back, or flagged — recorded once by
    /// (provider, provider payment id), so a redelivery is a duplicate. Orders
    /// of the `balance` provider are paid from the balance in the same
    /// transaction ([`Error::InsufficientFunds`](crate::Error::InsufficientFunds) if it is short).
    async fn apply_payment(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        order: OrderId,
        payment: &IncomingPayment,
    ) -> Result<Settled>;

    /// A payment for no order we know (Stars: the payer is known): credited,
    /// queued to be sent back or flagged, like a payment its order cannot take.
    async fn record_stray_payment(
        &self,
        ctx: &WriteCtx<'_>,
        payer: UserId,
        payment: &IncomingPayment,
    ) -> Result<Settled>;

    /// How a payment was settled, if it was.
    async fn payment(
        &self,
        provider: Provider,
        provider_payment_id: &str,
    ) -> Result<Option<PaymentRecord>>;

    async fn payments_of_order(&self, order: OrderId) -> Result<Vec<PaymentRecord>>;

    /// Payments waiting to be sent back through their provider, oldest first.
    async fn payments_to_return(&self, limit: u32) -> Result<Vec<PaymentRecord>>;

    /// The provider sent the payment back: `refund_pending → refunded`, the
    /// user told; `applied = false` if it was not pending.
    async fn payment_returned(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        provider: Provider,
        provider_payment_id: &str,
    ) -> Result<Change>;

    /// `paid → refunded` (guarded) and reverses the extension: expiry moves back
    /// by the order's days (access ends now if that is in the past), a balance
    /// purchase is credited back, a top-up is taken back as far as the balance
    /// allows (the rest is a flagged shortfall), and a referral bonus the order
    /// earned is reversed. `applied = false` if not paid.
    async fn refund_order(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        order: OrderId,
    ) -> Result<Refunded>;
}
