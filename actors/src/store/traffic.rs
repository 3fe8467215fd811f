//! Traffic: usage read from the nodes' counters, allowances and periods, and
//! the guarded moves of a subscription into and out of `limited`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Change, WriteCtx};
use crate::Result;
use crate::domain::{NodeName, TrafficState, UserId};

/// One key's counters as a node shows them (never reset by us): email,
/// uplink bytes, downlink bytes.
pub type CounterReading = (String, u64, u64);

/// What one reading of a node added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// Keys whose counters moved and were counted.
    pub keys: usize,
    /// Bytes counted (uplink + downlink).
    pub bytes: u64,
}

/// Traffic totals for `/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrafficTotals {
    /// Subscriptions whose access is off for traffic.
    pub limited: i64,
    pub today_bytes: u64,
    pub month_bytes: u64,
}

#[async_trait]
pub trait Traffic: Send + Sync {
    /// Counts one reading of `node`'s per-key counters, in ONE transaction:
    /// for each key, delta = current − last seen (everything, when a counter
    /// went down: the node restarted), added to the key's lifetime and the
    /// subscription's period usage, and the new baseline stored — guarded by
    /// the baseline read (`WHERE upload = old AND download = old`), so two
    /// collectors racing on one reading count it once. 80 % and 100 % notices
    /// are queued once per period in the same transaction. A failed write
    /// leaves every baseline as it was: the next reading counts it again.
    /// `now` is when the reading was taken: a key whose baseline came from a
    /// later reading (another collector) is skipped, its counters stale.
    async fn record_traffic(
        &self,
        node: &NodeName,
        readings: &[CounterReading],
        now: DateTime<Utc>,
    ) -> Result<Recorded>;

    /// Active subscriptions at or past their allowance and not yet limited:
    /// the collector asks each one's actor to limit it.
    async fn over_allowance(&self, limit: u32) -> Result<Vec<UserId>>;

    /// Subscriptions whose calendar period ended by `now`.
    async fn due_traffic_periods(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<UserId>>;

    /// The subscription's traffic, if it has a subscription.
    async fn traffic_state(&self, user: UserId) -> Result<Option<TrafficState>>;

    /// Moves an active subscription at or past its allowance to `limited` and
    /// takes its keys off the nodes (guarded in the statement); `applied =
    /// false` when it no longer qualifies.
    async fn limit_traffic(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change>;

    /// Starts the next calendar period if the current one ended (`period_ends_at
    /// <= now`, in the statement): usage and notices start again, a limited
    /// subscription gets its keys back.
    async fn roll_traffic_period(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change>;

    /// An admin's reset: the period's usage starts again now; a limited
    /// subscription gets its keys back. Audited with `reason`.
    async fn reset_traffic(&self, ctx: &WriteCtx<'_>, user: UserId, reason: &str)
    -> Result<Change>;

    /// Subscriptions limited and bytes counted today / this month (UTC).
    async fn traffic_totals(&self, now: DateTime<Utc>) -> Result<TrafficTotals>;
}
