//! Persistence: small traits, one per aggregate or outbox, implemented for
//! SQLite and PostgreSQL by the same SQL (`sql/`, compiled once per backend).
//!
//! Every write method is one transaction that commits the state change together
//! with its outbox rows (provisioning ops, notifications, audit) and returns
//! before any network call is made: callers hand the returned ops to the
//! provisioner only after commit (transactional outbox). Writes are guarded in
//! SQL (`version` or expected state), so several instances sharing one
//! PostgreSQL database cannot lose updates either.
//!
//! [`Store`] is all of the traits together (what the actors hold);
//! [`Queries`] is the read-only view the front ends get.

mod admin;
mod alerts;
mod db_time;
mod devices;
mod ledger;
mod lifecycle;
mod notifications;
mod ops_views;
mod orders;
mod payment_events;
mod payments;
mod postgres;
mod promos;
mod provisioning;
mod queries;
mod renewals;
mod rows;
mod settings;
mod sqlite;
mod subscriptions;
mod traffic;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use self::admin::*;
pub use self::alerts::*;
pub use self::devices::*;
pub use self::ledger::*;
pub use self::lifecycle::*;
pub use self::notifications::*;
pub use self::ops_views::*;
pub use self::orders::*;
pub use self::payment_events::*;
pub use self::payments::*;
pub use self::postgres::PgStore;
pub use self::promos::*;
pub use self::provisioning::*;
pub use self::queries::Queries;
pub use self::renewals::*;
pub use self::settings::*;
pub use self::sqlite::SqliteStore;
pub use self::subscriptions::*;
pub use self::traffic::*;
use crate::domain::{
    Currency, Key, KeyState, Money, NodeName, Principal, ProvisioningOp, SettlementPolicy,
    Subscription, UserId,
};
use crate::{Error, Result};

/// The whole persistence API: every concern's trait. Implemented (by the
/// blanket impl below) for [`SqliteStore`] and [`PgStore`]; both pass one shared
/// test suite. Bring the traits into scope with `use crate::store::prelude::*`.
pub trait Store:
    Lifecycle
    + Subscriptions
    + Orders
    + Payments
    + Ledger
    + ProvisioningOutbox
    + NotificationOutbox
    + AlertOutbox
    + PaymentEventLog
    + AdminQueries
    + OpsViews
    + Settings
    + Devices
    + Renewals
    + Traffic
    + Promos
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: Lifecycle
        + Subscriptions
        + Orders
        + Payments
        + Ledger
        + ProvisioningOutbox
        + NotificationOutbox
        + AlertOutbox
        + PaymentEventLog
        + AdminQueries
        + OpsViews
        + Settings
        + Devices
        + Renewals
        + Traffic
        + Promos
        + Send
        + Sync
        + 'static
{
}

/// The store's traits, imported anonymously: `use subvisor_actors::store::prelude::*`
/// makes every store method callable on an `Arc<dyn Store>`.
pub mod prelude {
    pub use super::{
        AdminQueries as _, AlertOutbox as _, Devices as _, Ledger as _, Lifecycle as _,
        NotificationOutbox as _, OpsViews as _, Orders as _, PaymentEventLog as _, Payments as _,
        Promos as _, ProvisioningOutbox as _, Renewals as _, Settings as _, Subscriptions as _,
        Traffic as _,
    };
}

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
    /// Days of access given to the referrer instead (0: none); reversed with
    /// the order like the money bonus.
    pub referral_bonus_days: u32,
    /// What becomes of payments their order cannot take.
    pub settlement: SettlementPolicy,
    /// Server-side TCP keepalive of the sessions that hold leadership locks
    /// (PostgreSQL).
    pub lock_keepalive: SessionKeepalive,
    /// The device limit of each plan (`[[plans]] devices`), written to the
    /// subscription when the plan is applied; a plan not named here sets none.
    pub plan_devices: PlanDevices,
    /// The traffic reset rule of each plan with a traffic allowance
    /// (`[[plans]] traffic_reset`), applied with the order's `traffic_bytes`.
    pub plan_traffic_resets: PlanTrafficResets,
}

/// The traffic reset rule of each plan, by plan id (absent: `none`).
pub type PlanTrafficResets = std::collections::HashMap<String, crate::domain::TrafficReset>;

/// The device limit of each plan, by plan id (0: no limit).
pub type PlanDevices = std::collections::HashMap<String, u32>;

/// PostgreSQL's per-session TCP settings, set on each session that holds a
/// leadership lock, so the server ends a session whose client is gone (and
/// the lock with it) in seconds rather than the kernel's two hours. A zero
/// leaves the server's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKeepalive {
    /// `tcp_keepalives_idle`: silence before the first probe.
    pub idle: Duration,
    /// `tcp_keepalives_interval`: between unanswered probes.
    pub interval: Duration,
    /// `tcp_keepalives_count`: unanswered probes before the server gives up.
    pub count: u32,
    /// `tcp_user_timeout`: how long sent data may stay unacknowledged (Linux).
    pub user_timeout: Duration,
}

impl Default for SessionKeepalive {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(5),
            interval: Duration::from_secs(2),
            count: 3,
            user_timeout: Duration::from_secs(10),
        }
    }
}

impl StoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            referral_bonus: None,
            referral_bonus_days: 0,
            settlement: SettlementPolicy {
                balance_currency: Currency::new("USD").unwrap_or_else(|_| Currency::stars()),
                refund_unexpected_stars: true,
            },
            lock_keepalive: SessionKeepalive::default(),
            plan_devices: PlanDevices::new(),
            plan_traffic_resets: PlanTrafficResets::new(),
        }
    }
}

/// Leadership of one singleton role; dropping it gives the role up (the
/// lock goes with the session; the lease runs out at its term).
#[async_trait]
pub trait Lease: Send + Sync {
    /// Confirms the lease on the lock's own session and extends it to `term`
    /// from now (the server's clock). False once it is lost (the session
    /// died, was ended by a standby, or the lease row is another's).
    async fn renew(&mut self, term: Duration) -> bool;

    /// Gives the role up in order: the lease marked expired (a standby need
    /// not wait it out), the lock released, the session closed.
    async fn release(self: Box<Self>);
}

/// A lease just taken.
pub struct Acquired {
    pub lease: Box<dyn Lease>,
    /// How long the previous holder's lease still runs: act only after it.
    pub previous_expires_in: Duration,
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

/// This instance as people and lease rows name it: `<hostname> pid <pid>`.
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host} pid {}", std::process::id())
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
    /// Telegram first and last name, as last seen.
    pub display_name: Option<String>,
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
