//! Messages for promo codes and gifts.

use actix::Message;

use crate::Result;
use crate::domain::{PlanId, Principal, Provider};
use crate::store::{Change, GiftActivated, OpenedOrder};

/// A pending order for `plan` like [`CreateOrder`](super::CreateOrder), with
/// a discount code (`promo`: the order's amount is the discounted price, a
/// use is reserved) and/or as a gift (`gift`: the paid order yields a
/// one-time gift link instead of days for the buyer).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<OpenedOrder>")]
pub struct CreatePlanOrder {
    pub plan: PlanId,
    pub provider: Provider,
    pub by: Principal,
    pub idempotency_key: Option<String>,
    pub promo: Option<String>,
    pub gift: bool,
}

/// Redeem a free-days promo code now (counted at once).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct RedeemPromoDays {
    pub code: String,
    pub by: Principal,
}

/// Activate a gift (`/start gift<code>`): once, whoever the receiver is.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<GiftActivated>")]
pub struct ActivateGift {
    pub code: String,
}
