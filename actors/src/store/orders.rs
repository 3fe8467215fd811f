//! Orders: created (idempotently), given an invoice, closed, expired, flagged.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::WriteCtx;
use crate::Result;
use crate::domain::{NewOrder, Order, OrderId, OrderStatus, UserId};

/// The result of [`Orders::create_order`].
#[derive(Debug, Clone)]
pub struct OpenedOrder {
    pub order: Order,
    /// An existing order was returned (same idempotency key, or the same
    /// purchase still pending within the order TTL).
    pub reused: bool,
}

/// Orders: created (idempotently), given an invoice, closed, expired, flagged.
#[async_trait]
pub trait Orders: Send + Sync {
    async fn order(&self, id: OrderId) -> Result<Option<Order>>;

    /// A pending order; an existing one is returned instead when the
    /// idempotency key was used before or the same purchase is still pending
    /// (created at or after `order.reuse_since`).
    async fn create_order(&self, ctx: &WriteCtx<'_>, order: &NewOrder) -> Result<OpenedOrder>;

    /// Remembers the provider's invoice of a pending order (asked about by the
    /// reconciler, shown again on a second press of Pay).
    async fn attach_invoice(
        &self,
        ctx: &WriteCtx<'_>,
        order: OrderId,
        provider_invoice_id: &str,
        pay_url: &str,
    ) -> Result<()>;

    /// Makes `invoice` the one invoice of a pending order that may be paid, if
    /// its current invoice is still `expected` (compare and set: of two
    /// concurrent claims one wins); `false` if it was not (or the order is no
    /// longer pending). A superseded invoice's pre-checkout is then refused.
    async fn claim_invoice(
        &self,
        ctx: &WriteCtx<'_>,
        order: OrderId,
        invoice: &str,
        expected: Option<&str>,
    ) -> Result<bool>;

    /// `pending → failed|expired` (guarded); `false` if the order was not pending.
    async fn close_order(
        &self,
        ctx: &WriteCtx<'_>,
        order: OrderId,
        status: OrderStatus,
    ) -> Result<bool>;

    /// Expires pending orders created at or before `cutoff`.
    async fn expire_stale_orders(&self, ctx: &WriteCtx<'_>, cutoff: DateTime<Utc>) -> Result<u64>;

    /// Marks an order for review (partial payment…), tells the user and the
    /// admins, and audits it; `false` if it already carried this flag.
    async fn flag_order(&self, ctx: &WriteCtx<'_>, order: OrderId, flag: &str) -> Result<bool>;

    /// Orders to ask their provider about: unpaid (pending, expired, failed),
    /// paid through a provider, created at or after `since`; oldest first.
    async fn orders_to_reconcile(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<Order>>;

    /// The user's orders, newest first.
    async fn orders_of(&self, user: UserId, limit: u32) -> Result<Vec<Order>>;
}
