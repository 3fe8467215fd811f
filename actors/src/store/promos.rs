//! Promo codes and gifts (see `sql/promos.rs` for the rules in SQL).

use async_trait::async_trait;

use super::{Change, OpenedOrder, WriteCtx};
use crate::Result;
use crate::domain::{Gift, NewOrder, NewPromo, OrderId, PlanId, Promo, PromoRefusal, UserId};

/// A gift activated by its receiver.
#[derive(Debug, Clone)]
pub struct GiftActivated {
    pub gift: Gift,
    pub change: Change,
}

/// Promo codes and gifts.
///
/// A discount code's use is *reserved* when its order is made (inside the
/// order's write: `UPDATE promo_codes SET reserved = reserved + 1 WHERE … AND
/// used + reserved < max_uses`, plus one `promo_uses` row, UNIQUE per order),
/// *counted* when the order is paid (in the settlement transaction:
/// reserved → used), and *released* when the order expires or fails unpaid.
/// A late payment of an expired order takes a use again if one is left;
/// otherwise the order is still applied at the price paid (the money was
/// taken and the user was shown that price) and flagged `promo_used_up` for
/// ops. A refund does not give the use back.
#[async_trait]
pub trait Promos: Send + Sync {
    /// Makes a code (case-insensitive unique), audited.
    async fn create_promo(&self, ctx: &WriteCtx<'_>, promo: &NewPromo) -> Result<Promo>;

    /// Every code, newest first.
    async fn promos(&self) -> Result<Vec<Promo>>;

    /// A code by its text (any case).
    async fn promo(&self, code: &str) -> Result<Option<Promo>>;

    /// Disables a code (audited); `false` if unknown or already disabled.
    /// Pending orders that hold a use keep their price.
    async fn disable_promo(&self, ctx: &WriteCtx<'_>, code: &str) -> Result<bool>;

    /// Whether `user` may use `code` for `plan` at `now` (`Ok(promo)`), or
    /// why not. A read: the order's write checks again.
    async fn promo_quote(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        user: UserId,
        code: &str,
        plan: &PlanId,
    ) -> Result<std::result::Result<Promo, PromoRefusal>>;

    /// [`Orders::create_order`](super::Orders::create_order) with a discount
    /// code: the order's amount is the discounted price, the code and the
    /// list price are kept on it, a use is reserved.
    async fn create_promo_order(
        &self,
        ctx: &WriteCtx<'_>,
        order: &NewOrder,
        code: &str,
    ) -> Result<OpenedOrder>;

    /// Redeems a free-days code for `user` at once (counted at once).
    async fn redeem_promo_days(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        code: &str,
    ) -> Result<Change>;

    /// The gift a paid gift order yielded.
    async fn gift_of_order(&self, order: OrderId) -> Result<Option<Gift>>;

    /// The gift with this code.
    async fn gift(&self, code: &str) -> Result<Option<Gift>>;

    /// `user` activates a gift: once (`UPDATE … WHERE redeemed_by IS NULL`);
    /// its days are added like a plan's, the buyer is told.
    async fn activate_gift(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        code: &str,
    ) -> Result<GiftActivated>;
}
