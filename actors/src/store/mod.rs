//! Persistence: one [`Store`] trait, a SQLite and a PostgreSQL implementation.
//!
//! Every write method is one transaction that commits the state change together
//! with its outbox rows (provisioning ops, notifications, audit) and returns
//! before any network call is made: callers hand the returned ops to the
//! provisioner only after commit (transactional outbox). Writes are guarded in
//! SQL (`version` or expected state), so several instances sharing one
//! PostgreSQL database cannot lose updates either.

mod db_time;
mod postgres;
mod sql;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use self::postgres::PgStore;
pub use self::sqlite::SqliteStore;
use crate::domain::{
    AlertKind, Currency, Key, KeyState, LedgerEntry, LedgerKind, Money, NewOrder, NodeName,
    NotificationKind, OpKind, Order, OrderId, OrderStatus, PaymentSettlement, Principal, Provider,
    ProvisioningOp, ReminderKind, Settlement, SettlementPolicy, Subscription, SubscriptionStatus,
    UserId,
};
use crate::{Error, Result};

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connection settings for [`connect`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub url: String,
    pub max_connections: u32,
    /// How long to wait for a pooled connection (and SQLite's busy timeout).
    pub acquire_timeout: Duration,
    /// Credited to the referrer when a referred user's first plan order is paid
    /// (in the same transaction); `None`: no referral bonus.
    pub referral_bonus: Option<Money>,
    /// What becomes of payments their order cannot take.
    pub settlement: SettlementPolicy,
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            referral_bonus: None,
            settlement: SettlementPolicy {
                balance_currency: Currency::new("USD").unwrap_or_else(|_| Currency::stars()),
                refund_unexpected_stars: true,
            },
        }
    }
}

/// Leadership of one singleton role; dropping it gives the role up.
#[async_trait]
pub trait Lease: Send + Sync {
    /// False once the lease is lost (e.g. its database session died).
    async fn still_held(&mut self) -> bool;
}

/// A stable advisory-lock key for a role name (FNV-1a, 64 bit).
pub(crate) fn lock_key(role: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "subvisor:".bytes().chain(role.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Which engine a database URL names, if it is one we support.
pub fn backend_of(url: &str) -> Option<Backend> {
    if url.starts_with("sqlite:") {
        Some(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(Backend::Postgres)
    } else {
        None
    }
}

/// Opens the store named by `opts.url` (does not migrate).
pub async fn connect(opts: &StoreOptions) -> Result<Arc<dyn Store>> {
    match backend_of(&opts.url) {
        Some(Backend::Sqlite) => Ok(Arc::new(SqliteStore::connect(opts).await?)),
        Some(Backend::Postgres) => Ok(Arc::new(PgStore::connect(opts).await?)),
        None => Err(Error::UnsupportedDatabase),
    }
}

/// Context of one write: when, by whom, and the nodes that provisioning ops target.
#[derive(Debug, Clone, Copy)]
pub struct WriteCtx<'a> {
    pub now: DateTime<Utc>,
    pub by: Principal,
    pub nodes: &'a [NodeName],
}

/// Everything the system knows about one user, read in one go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserSnapshot {
    pub user: UserId,
    pub subscription: Option<Subscription>,
    /// All keys, oldest first (retired ones included).
    pub keys: Vec<Key>,
    /// Balance in minor units of the balance currency (equals the ledger sum).
    pub balance_minor: i64,
    pub trial_used: bool,
    pub bot_blocked: bool,
    pub created_at: DateTime<Utc>,
    /// Telegram username (without `@`), as last seen.
    pub username: Option<String>,
    /// The language the user chose (or Telegram's `language_code` at first contact).
    pub language: Option<String>,
    /// Who invited this user (referral deep link), if anyone.
    pub referrer: Option<UserId>,
}

impl UserSnapshot {
    pub fn active_keys(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter().filter(|k| k.state == KeyState::Active)
    }

    /// (uploaded, downloaded) bytes over all of the user's keys.
    pub fn traffic(&self) -> (i64, i64) {
        self.keys.iter().fold((0, 0), |(u, d), k| {
            (
                u.saturating_add(k.upload_bytes),
                d.saturating_add(k.download_bytes),
            )
        })
    }
}

/// The result of one committed write.
#[derive(Debug, Clone)]
pub struct Change {
    /// False when the write was a no-op by its guard (already applied, not due…).
    pub applied: bool,
    /// The user's state as committed.
    pub snapshot: UserSnapshot,
    /// Provisioning ops committed with the change, to hand to the provisioner.
    pub ops: Vec<ProvisioningOp>,
}

/// What the bot learns about a user on contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub username: Option<String>,
    /// Telegram's `language_code`, stored at first contact only (the user's own
    /// choice later wins).
    pub language_code: Option<String>,
    /// From a referral deep link; recorded only for a brand-new user and never
    /// the user themself.
    pub referrer: Option<UserId>,
}

/// A notification waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingNotification {
    pub id: i64,
    pub user: UserId,
    pub kind: NotificationKind,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub broadcast: Option<i64>,
    /// The recipient's language, for rendering.
    pub language: Option<String>,
    /// The recipient has blocked the bot (queued after they did).
    pub user_blocked_bot: bool,
}

/// A subscription due for a reminder now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueReminder {
    pub user: UserId,
    pub kind: ReminderKind,
    pub expires_at: DateTime<Utc>,
}

/// Money taken per day and provider (paid orders, refunds excluded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revenue {
    pub day: chrono::NaiveDate,
    pub provider: Provider,
    pub amount: Money,
}

/// Numbers for the admin `/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub users: i64,
    pub active: i64,
    pub blocked: i64,
    /// Newest day first.
    pub revenue: Vec<Revenue>,
}

/// One row of the admin user list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserListItem {
    pub user: UserId,
    pub username: Option<String>,
    pub created_at: DateTime<Utc>,
    pub status: Option<SubscriptionStatus>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A page of users, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserPage {
    pub users: Vec<UserListItem>,
    pub total: i64,
}

/// Where a broadcast stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BroadcastReport {
    pub id: i64,
    pub total: i64,
    pub delivered: i64,
    pub blocked: i64,
    pub failed: i64,
    pub pending: i64,
}

impl BroadcastReport {
    pub fn done(&self) -> bool {
        self.pending == 0
    }
}

/// Why a notification was given up (recorded as `last_error`).
pub const BLOCKED: &str = "blocked";

/// A subscription whose expiry has passed while still `active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueExpiry {
    pub user: UserId,
    pub expires_at: DateTime<Utc>,
}

/// A pending provisioning op with its schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOp {
    pub op: ProvisioningOp,
    pub next_attempt_at: DateTime<Utc>,
}

/// Pending rows in each outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxDepth {
    pub provisioning: i64,
    pub notifications: i64,
    pub alerts: i64,
    /// Payment events stored but not finished yet.
    pub payment_events: i64,
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// A payment event as stored by the intake (dedup, recovery and audit): a
/// provider callback, a Telegram payment update, a reconciler finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookEvent {
    pub provider: String,
    pub event_id: String,
    pub order: Option<OrderId>,
    pub received_at: DateTime<Utc>,
    /// `received` until the event is finished, then its outcome.
    pub outcome: String,
    /// The raw body as received.
    pub payload: String,
    /// The provider-neutral event (JSON) the intake processes.
    #[serde(skip)]
    pub event: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A payment event to store before anything else happens to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPaymentEvent {
    pub provider: String,
    pub event_id: String,
    pub order: Option<OrderId>,
    pub received_at: DateTime<Utc>,
    pub payload: String,
    /// The provider-neutral event (JSON).
    pub event: String,
}

/// What [`Store::record_payment_event`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRecord {
    /// Stored now.
    New,
    /// Stored before and still unfinished (a redelivery while it is processed,
    /// or an event whose processing died): process it (idempotent).
    Unfinished,
    /// Stored and finished before, with this outcome: a plain duplicate.
    Finished(String),
}

/// A payment as a provider (or the balance) confirmed it, for
/// [`Store::apply_payment`].
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

/// The result of [`Store::apply_payment`].
#[derive(Debug, Clone)]
pub struct Settled {
    pub change: Change,
    /// What was decided (and done, in the same transaction).
    pub settlement: Settlement,
    /// For a [`Settlement::Duplicate`]: how the payment was settled the first time.
    pub previously: Option<PaymentSettlement>,
}

/// The result of [`Store::refund_order`].
#[derive(Debug, Clone)]
pub struct Refunded {
    pub change: Change,
    /// What could not be taken back (a spent top-up); the order is flagged and
    /// admins told.
    pub shortfall: Option<Money>,
}

/// The result of [`Store::create_order`].
#[derive(Debug, Clone)]
pub struct OpenedOrder {
    pub order: Order,
    /// An existing order was returned (same idempotency key, or the same
    /// purchase still pending within the order TTL).
    pub reused: bool,
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

/// An alert waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAlert {
    pub id: i64,
    pub kind: AlertKind,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// One key the nodes should (or, with `kind = Remove`, should no longer) carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpTarget {
    pub user: UserId,
    pub key_uuid: uuid::Uuid,
    pub email: String,
    pub kind: OpKind,
}

/// The persistence API. Implemented for SQLite and PostgreSQL with the same SQL
/// (see `sql.rs`); both pass one shared test suite.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// Applies the embedded migrations of this backend.
    async fn migrate(&self) -> Result<()>;
    /// A trivial query: is the database reachable?
    async fn ping(&self) -> Result<()>;
    /// Closes the pool, waiting for checked-out connections to come back.
    async fn close(&self);

    // ---- reads ----
    async fn user(&self, user: UserId) -> Result<Option<UserSnapshot>>;
    async fn order(&self, id: OrderId) -> Result<Option<Order>>;
    /// Active subscriptions with `expires_at <= now`, oldest first.
    async fn due_expirations(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueExpiry>>;
    /// Pending provisioning ops in commit order (due or not: the caller keeps
    /// per-key order and skips the ones not due yet).
    async fn pending_ops(&self, limit: u32) -> Result<Vec<PendingOp>>;
    /// Pending ops due at `now` whose key (node, email) has no earlier op still
    /// waiting for a later attempt, in commit order: what can be applied now
    /// without overtaking anything. Cheap while a node is down.
    async fn due_ops(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PendingOp>>;
    async fn pending_ops_by_node(&self) -> Result<Vec<(String, i64)>>;
    async fn outbox_depth(&self) -> Result<OutboxDepth>;
    async fn ledger_sum(&self, user: UserId) -> Result<i64>;
    async fn recent_audit(&self, user: UserId, limit: u32) -> Result<Vec<AuditEntry>>;
    /// Every key nodes should carry: active keys of active subscriptions (email, uuid).
    async fn desired_keys(&self) -> Result<Vec<(String, uuid::Uuid)>>;
    /// The user whose subscription URL token this is.
    async fn user_by_sub_token(&self, token: &str) -> Result<Option<UserSnapshot>>;

    // ---- writes: one transaction each ----
    /// Extends (or starts) the subscription by `days` from `max(now, expires_at)`.
    async fn grant_days(&self, ctx: &WriteCtx<'_>, user: UserId, days: u32) -> Result<Change>;
    /// Takes access away now; `applied = false` if already revoked.
    async fn revoke(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change>;
    /// New key (added first), old key retired (removed after); same subscription URL.
    async fn reissue(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change>;
    /// Expires the subscription only if `status = 'active' AND expires_at <= now`
    /// (checked in the same statement); `applied = false` otherwise.
    async fn expire(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change>;
    /// Grants `days` once per user.
    async fn start_trial(&self, ctx: &WriteCtx<'_>, user: UserId, days: u32) -> Result<Change>;
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
    /// Settles one payment for `order` in one transaction (see
    /// [`settle`](crate::domain::settle)): applied (`pending|expired|failed →
    /// paid`, guarded, extended by its days or credited as a top-up), credited
    /// to the balance, queued to be sent back, or flagged — recorded once by
    /// (provider, provider payment id), so a redelivery is a duplicate. Orders
    /// of the `balance` provider are paid from the balance in the same
    /// transaction ([`Error::InsufficientFunds`] if it is short).
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
    /// Orders to ask their provider about: unpaid (pending, expired, failed),
    /// paid through a provider, created at or after `since`; oldest first.
    async fn orders_to_reconcile(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<Order>>;

    // ---- provisioning outbox ----
    async fn complete_ops(&self, ids: &[i64], now: DateTime<Utc>) -> Result<()>;
    async fn retry_op_later(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()>;
    async fn cancel_op(&self, id: i64, reason: &str, now: DateTime<Utc>) -> Result<()>;
    /// Adds per-key traffic deltas (email, uplink bytes, downlink bytes) read from a node.
    async fn add_traffic(&self, deltas: &[(String, u64, u64)]) -> Result<()>;
    // ---- payment events (the intake) ----
    /// Stores a payment event once by (provider, event id), before anything
    /// else happens to it.
    async fn record_payment_event(&self, event: &NewPaymentEvent) -> Result<EventRecord>;
    /// Finishes an event with its outcome; `false` if it was finished already
    /// (by a concurrent delivery or the recovery).
    async fn finish_payment_event(
        &self,
        provider: &str,
        event_id: &str,
        outcome: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Counts a failed attempt at an event (it stays unfinished).
    async fn payment_event_failed(&self, provider: &str, event_id: &str, error: &str)
    -> Result<()>;
    /// Unfinished events received at or before `received_before`, oldest first.
    async fn unfinished_payment_events(
        &self,
        received_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<WebhookEvent>>;
    async fn webhook_events_for_order(&self, order: OrderId) -> Result<Vec<WebhookEvent>>;
    async fn webhook_event(&self, provider: &str, event_id: &str) -> Result<Option<WebhookEvent>>;
    /// The most recent events, newest first (ops).
    async fn recent_payment_events(&self, limit: u32) -> Result<Vec<WebhookEvent>>;
    /// Marks an order for review (partial payment…), tells the user and the
    /// admins, and audits it; `false` if it already carried this flag.
    async fn flag_order(&self, ctx: &WriteCtx<'_>, order: OrderId, flag: &str) -> Result<bool>;
    /// Queues an alert for the admins that concerns no particular user.
    async fn raise_alert(
        &self,
        ctx: &WriteCtx<'_>,
        kind: AlertKind,
        payload: serde_json::Value,
    ) -> Result<()>;
    /// `pending → failed|expired` (guarded); `false` if the order was not pending.
    async fn close_order(
        &self,
        ctx: &WriteCtx<'_>,
        order: OrderId,
        status: OrderStatus,
    ) -> Result<bool>;
    /// Expires pending orders created at or before `cutoff`.
    async fn expire_stale_orders(&self, ctx: &WriteCtx<'_>, cutoff: DateTime<Utc>) -> Result<u64>;
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
    /// Tries to become the one instance that runs `role` (a singleton such as
    /// the Scheduler). `None`: another instance leads. The lease lasts while the
    /// returned handle lives and [`Lease::still_held`] says so.
    async fn lead(&self, role: &str) -> Result<Option<Box<dyn Lease>>>;
    /// Makes a node's pending ops due now (the node came back).
    async fn reschedule_node_ops(&self, node: &NodeName, now: DateTime<Utc>) -> Result<u64>;
    /// A new subscription URL token; the old URL stops working.
    async fn rotate_sub_token(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change>;

    // ---- the Telegram front ----
    /// Creates the user on first contact (with `language_code` and `referrer`),
    /// refreshes the username after; returns whether the user is new.
    async fn touch_user(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        profile: &Profile,
    ) -> Result<(bool, UserSnapshot)>;
    async fn set_language(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        language: &str,
    ) -> Result<Change>;
    /// Marks (or clears) that the user blocked the bot; their pending
    /// notifications are given up when marked.
    async fn set_bot_blocked(&self, user: UserId, blocked: bool, now: DateTime<Utc>) -> Result<()>;
    /// Pending notifications due at `now`: personal ones before broadcasts,
    /// then in commit order, skipping any whose user has an earlier one still
    /// waiting for a retry (a chat's messages never overtake each other).
    async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingNotification>>;
    async fn notification_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()>;
    /// Alerts for the admins due at `now`, oldest first.
    async fn due_alerts(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PendingAlert>>;
    async fn alert_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()>;
    async fn alert_retry(&self, id: i64, error: &str, next_attempt_at: DateTime<Utc>)
    -> Result<()>;
    async fn alert_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<()>;
    async fn notification_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Gives a notification up (`error` = [`BLOCKED`] when the user blocked the bot).
    async fn notification_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<()>;
    /// Active subscriptions inside a reminder's window that did not get it for
    /// this expiry yet.
    async fn due_reminders(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueReminder>>;
    /// Queues the reminder once per (user, kind, expiry), only while the
    /// subscription is still active with that expiry; `applied = false` otherwise.
    async fn remind(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        kind: ReminderKind,
        expires_at: DateTime<Utc>,
    ) -> Result<Change>;
    async fn setting(&self, key: &str) -> Result<Option<String>>;
    async fn set_setting(&self, ctx: &WriteCtx<'_>, key: &str, value: &str) -> Result<()>;
    /// Users, active subscriptions, blocked users, revenue per day since `since`
    /// (money taken by providers: balance purchases were counted at top-up).
    async fn stats(&self, now: DateTime<Utc>, since: DateTime<Utc>) -> Result<Stats>;
    /// Newest first; `search` matches an exact id or a username substring.
    async fn list_users(&self, search: Option<&str>, offset: u32, limit: u32) -> Result<UserPage>;
    /// The user's orders, newest first.
    async fn orders_of(&self, user: UserId, limit: u32) -> Result<Vec<Order>>;
    async fn referral_count(&self, user: UserId) -> Result<i64>;
    /// Queues `text` for every user who has not blocked the bot, in one transaction.
    async fn create_broadcast(&self, ctx: &WriteCtx<'_>, text: &str) -> Result<BroadcastReport>;
    async fn broadcast_report(&self, id: i64) -> Result<Option<BroadcastReport>>;
}
