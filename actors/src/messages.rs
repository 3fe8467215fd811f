//! The messages a [`UserActor`](crate::UserActor) handles. Each write is one
//! store transaction; the mailbox stays closed while it runs.

use actix::Message;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::domain::{Money, Order, OrderId, PlanId, Principal, Provider, ReminderKind};
use crate::store::{Change, Profile, UserSnapshot};

/// Extend (or start) the subscription by `days`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct GrantDays {
    pub days: u32,
    pub by: Principal,
}

/// Take access away now.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct Revoke {
    pub by: Principal,
}

/// New key, old key retired; the subscription URL stays.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct Reissue {
    pub by: Principal,
}

/// Sent by the Scheduler for a subscription it found due at `due`; the store
/// re-checks `expires_at <= now` in the same statement.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct Expire {
    pub due: DateTime<Utc>,
}

/// The free trial, once per user (`trial.days`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct StartTrial;

/// A pending order for `plan`, priced from config for `provider`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Order>")]
pub struct CreateOrder {
    pub plan: PlanId,
    pub provider: Provider,
    pub by: Principal,
}

/// A pending top-up of the balance by `amount` (in the balance currency),
/// paid through `provider` (not `balance`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Order>")]
pub struct CreateTopUp {
    pub amount: Money,
    pub provider: Provider,
    pub by: Principal,
}

/// A provider confirmed payment of `order`. Idempotent: applied once. When the
/// provider states the amount (`paid`), it must equal the order's exactly.
/// Orders of the `balance` provider are paid from the balance.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct ApplyPayment {
    pub order: OrderId,
    pub provider_payment_id: String,
    pub paid: Option<Money>,
}

/// Reverse a paid order: the days come off, a balance purchase is credited back.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct RefundOrder {
    pub order: OrderId,
    pub by: Principal,
}

/// An admin/ops balance movement (positive credits, negative debits).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct AdjustBalance {
    pub amount: Money,
    pub note: String,
    pub by: Principal,
}

/// The user's current state (`None` for a user we have never seen), read from
/// the store: another instance (or a referral bonus) may have changed it.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Option<UserSnapshot>>")]
pub struct View;

/// A new subscription URL token (the old URL answers 404 from now on).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct RotateSubToken {
    pub by: Principal,
}

/// The user talked to the bot: created on first contact (with language and
/// referrer), username refreshed after. Answers (new user?, state).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(bool, UserSnapshot)>")]
pub struct Touch {
    pub profile: Profile,
}

/// The user picked a language for the bot.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct SetLanguage {
    pub language: String,
}

/// Sent by the Scheduler: queue the `kind` reminder for the period ending at
/// `expires_at` (once; skipped if the subscription changed meanwhile).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct Remind {
    pub kind: ReminderKind,
    pub expires_at: DateTime<Utc>,
}
