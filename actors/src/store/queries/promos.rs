//! Read-only promo code and gift lookups for the front ends.

use super::Queries;
use crate::Result;
use crate::domain::{Gift, OrderId, PlanId, Promo, PromoRefusal, UserId};

impl Queries {
    /// Every promo code, newest first.
    pub async fn promos(&self) -> Result<Vec<Promo>> {
        self.0.promos().await
    }

    /// A promo code by its text (any case).
    pub async fn promo(&self, code: &str) -> Result<Option<Promo>> {
        self.0.promo(code).await
    }

    /// Whether `user` may use `code` for `plan` now, or why not (the order checks again).
    pub async fn promo_quote(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        user: UserId,
        code: &str,
        plan: &PlanId,
    ) -> Result<std::result::Result<Promo, PromoRefusal>> {
        self.0.promo_quote(now, user, code, plan).await
    }

    /// The gift a paid gift order yielded.
    pub async fn gift_of_order(&self, order: OrderId) -> Result<Option<Gift>> {
        self.0.gift_of_order(order).await
    }

    /// A gift by its code.
    pub async fn gift(&self, code: &str) -> Result<Option<Gift>> {
        self.0.gift(code).await
    }
}
