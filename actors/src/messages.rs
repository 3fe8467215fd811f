//! The messages a [`UserActor`](crate::UserActor) handles. Each write is one
//! store transaction; the mailbox stays closed while it runs.

use actix::Message;
use chrono::{DateTime, Utc};

mod commerce;
pub use commerce::*;

use crate::Result;
use crate::domain::{
    Admission, DeviceInfo, Money, OrderId, OrderStatus, PlanId, Principal, Provider, ReminderKind,
};
use crate::store::{
    Change, IncomingPayment, OpenedOrder, Profile, Refunded, Settled, UserSnapshot,
};

/// Extend (or start) the subscription by `days`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct GrantDays {
    pub days: u32,
    pub by: Principal,
}

/// [`GrantDays`] once per `key` (an admin's Confirm pressed twice grants
/// once): `applied = false` when the key was used before.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct GrantDaysOnce {
    pub days: u32,
    pub by: Principal,
    /// Drawn with the button; kept (`grant_keys`) with the grant it made.
    pub key: String,
}

/// Take access away now.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct Revoke {
    pub by: Principal,
}

/// Ban (`banned: true`) or unban: a banned user can neither buy nor start
/// the trial (admin `/ban`, `/unban`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct SetBanned {
    pub banned: bool,
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

/// A pending order for `plan`, priced from config for `provider`. The same
/// `idempotency_key` (a button press) answers the order it made the first
/// time; the same purchase still pending within the order TTL is reused (one
/// open invoice per purchase).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<OpenedOrder>")]
pub struct CreateOrder {
    pub plan: PlanId,
    pub provider: Provider,
    pub by: Principal,
    pub idempotency_key: Option<String>,
}

/// A pending top-up of the balance by `amount` (in the balance currency),
/// paid through `provider` (not `balance`); reused like [`CreateOrder`].
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<OpenedOrder>")]
pub struct CreateTopUp {
    pub amount: Money,
    pub provider: Provider,
    pub by: Principal,
    pub idempotency_key: Option<String>,
}

/// The provider's invoice for a pending order was made.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<()>")]
pub struct AttachInvoice {
    pub order: OrderId,
    pub provider_invoice_id: String,
    pub pay_url: String,
}

/// The bot sends a Stars invoice for a pending order: `invoice` (its payload)
/// becomes the one that may be paid if the current one is still `expected`
/// (see [`Orders::claim_invoice`](crate::store::Orders::claim_invoice)).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<bool>")]
pub struct ClaimInvoice {
    pub order: OrderId,
    pub invoice: String,
    pub expected: Option<String>,
}

/// A provider confirmed a payment for `order` (or the user pays it from the
/// balance). Settled once per provider payment id: applied, credited to the
/// balance, queued to be sent back, or flagged (see
/// [`settle`](crate::domain::settle)).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Settled>")]
pub struct ApplyPayment {
    pub order: OrderId,
    pub payment: IncomingPayment,
}

/// A payment for no order we know, made by this user (Stars).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Settled>")]
pub struct StrayPayment {
    pub payment: IncomingPayment,
}

/// The provider sent a payment queued for return back to this user.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct PaymentReturned {
    pub provider: Provider,
    pub provider_payment_id: String,
}

/// The provider gave up on a pending order (`failed` / `expired`); `false` if
/// it was not pending.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<bool>")]
pub struct CloseOrder {
    pub order: OrderId,
    pub status: OrderStatus,
}

/// Ops must look at this order (a partial payment…); `false` if already flagged so.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<bool>")]
pub struct FlagOrder {
    pub order: OrderId,
    pub reason: String,
}

/// Reverse a paid order: the days come off, a balance purchase is credited
/// back, a top-up taken back as far as the balance allows.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Refunded>")]
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

/// A client with a hardware id (`x-hwid`) fetched the subscription: known →
/// refreshed; new → registered while the user has fewer devices than the
/// limit in force (the last applied plan's, else `default_limit`; 0: none).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Admission>")]
pub struct RegisterDevice {
    pub device: DeviceInfo,
    pub default_limit: u32,
}

/// Forget one device (by our id): its slot is free for another. Answers
/// false if the user has no such device.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<bool>")]
pub struct RemoveDevice {
    pub id: i64,
    pub by: Principal,
}

/// Forget every device of the user; answers how many there were.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<u64>")]
pub struct ResetDevices {
    pub by: Principal,
}

/// Sent by the Scheduler: renew the period ending at `period_end` from the
/// balance (the plan the user opted in with), or remind once if the balance
/// cannot. The actor re-checks the opt-in and the period; the order's
/// idempotency key names the period, so a repeat debits nothing.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<crate::store::AutoRenewal>")]
pub struct AutoRenew {
    pub period_end: DateTime<Utc>,
}

/// Auto-renewal from the balance on (`Some(plan)`: a plan the balance can
/// pay) or off (`None`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct SetAutoRenew {
    pub plan: Option<PlanId>,
    pub by: Principal,
}

/// The collector found the subscription at or past its traffic allowance:
/// limit it (the store re-checks in the statement) and take its keys off.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct LimitTraffic;

/// Sent by the Scheduler for a subscription whose calendar traffic period
/// ended: start the next one (re-checked in the statement).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct RollTrafficPeriod;

/// An admin's reset of the period's traffic (audited with `reason`).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Change>")]
pub struct ResetTraffic {
    pub by: Principal,
    pub reason: String,
}
