//! The read-only view of the store that front ends (HTTP, the bot) get: they
//! can look anything up, but every write goes through a user's actor or a named
//! core service (the payment intake, broadcasts, settings).

mod promos;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{
    AuditEntry, Backend, BroadcastReport, FlaggedPayment, LeaseHolder, NodeBacklog, OutboxDepth,
    OutboxStats, PaymentRecord, PendingKeyOp, Stats, Store, UserPage, UserSnapshot, WebhookEvent,
};
use crate::Result;
use crate::domain::{DeviceList, LedgerEntry, Order, OrderId, UserId};

/// Read-only access to the store.
#[derive(Clone)]
pub struct Queries(Arc<dyn Store>);

impl Queries {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self(store)
    }

    pub fn backend(&self) -> Backend {
        self.0.backend()
    }

    /// A trivial query: is the database reachable?
    pub async fn ping(&self) -> Result<()> {
        self.0.ping().await
    }

    pub async fn user(&self, user: UserId) -> Result<Option<UserSnapshot>> {
        self.0.user(user).await
    }

    /// The user whose subscription URL token this is.
    pub async fn user_by_sub_token(&self, token: &str) -> Result<Option<UserSnapshot>> {
        self.0.user_by_sub_token(token).await
    }

    /// The user's devices (`x-hwid`) and the limit the last plan set.
    /// The subscription's traffic (allowance, period usage, limit).
    pub async fn traffic(&self, user: UserId) -> Result<Option<crate::domain::TrafficState>> {
        self.0.traffic_state(user).await
    }

    /// Subscriptions limited and bytes counted today / this month.
    pub async fn traffic_totals(&self, now: DateTime<Utc>) -> Result<super::TrafficTotals> {
        self.0.traffic_totals(now).await
    }

    pub async fn devices(&self, user: UserId) -> Result<DeviceList> {
        self.0.devices(user).await
    }

    /// The plan the user renews from the balance (`None`: auto-renewal off).
    pub async fn auto_renew_plan(&self, user: UserId) -> Result<Option<String>> {
        self.0.auto_renew_plan(user).await
    }

    pub async fn order(&self, id: OrderId) -> Result<Option<Order>> {
        self.0.order(id).await
    }

    /// The user's orders, newest first.
    pub async fn orders_of(&self, user: UserId, limit: u32) -> Result<Vec<Order>> {
        self.0.orders_of(user, limit).await
    }

    pub async fn payments_of_order(&self, order: OrderId) -> Result<Vec<PaymentRecord>> {
        self.0.payments_of_order(order).await
    }

    pub async fn webhook_events_for_order(&self, order: OrderId) -> Result<Vec<WebhookEvent>> {
        self.0.webhook_events_for_order(order).await
    }

    pub async fn recent_payment_events(&self, limit: u32) -> Result<Vec<WebhookEvent>> {
        self.0.recent_payment_events(limit).await
    }

    pub async fn ledger(&self, user: UserId) -> Result<Vec<LedgerEntry>> {
        self.0.ledger(user).await
    }

    pub async fn ledger_sum(&self, user: UserId) -> Result<i64> {
        self.0.ledger_sum(user).await
    }

    pub async fn recent_audit(&self, user: UserId, limit: u32) -> Result<Vec<AuditEntry>> {
        self.0.recent_audit(user, limit).await
    }

    pub async fn referral_count(&self, user: UserId) -> Result<i64> {
        self.0.referral_count(user).await
    }

    /// Whether `user` could start the trial now (see `AdminQueries::trial_open`).
    pub async fn trial_open(&self, user: UserId, only_new: bool) -> Result<bool> {
        self.0.trial_open(user, only_new).await
    }

    pub async fn stats(&self, now: DateTime<Utc>, since: DateTime<Utc>) -> Result<Stats> {
        self.0.stats(now, since).await
    }

    /// Newest first; `search` matches an exact id or a username substring.
    pub async fn list_users(
        &self,
        search: Option<&str>,
        offset: u32,
        limit: u32,
    ) -> Result<UserPage> {
        self.0.list_users(search, offset, limit).await
    }

    pub async fn outbox_depth(&self) -> Result<OutboxDepth> {
        self.0.outbox_depth().await
    }

    pub async fn pending_ops_by_node(&self) -> Result<Vec<(String, i64)>> {
        self.0.pending_ops_by_node().await
    }

    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        self.0.setting(key).await
    }

    pub async fn broadcast_report(&self, id: i64) -> Result<Option<BroadcastReport>> {
        self.0.broadcast_report(id).await
    }

    /// Flagged payments and orders, newest first.
    pub async fn flagged_payments(&self, limit: u32) -> Result<Vec<FlaggedPayment>> {
        self.0.flagged_payments(limit).await
    }

    /// Every outbox: depth, oldest pending row, retrying and failed rows.
    pub async fn outbox_stats(&self) -> Result<Vec<OutboxStats>> {
        self.0.outbox_stats().await
    }

    /// Nodes with pending provisioning ops: how many, the oldest, the last error.
    pub async fn node_backlogs(&self) -> Result<Vec<NodeBacklog>> {
        self.0.node_backlogs().await
    }

    /// Every role's lease row: which instance holds it, until when (empty on SQLite).
    pub async fn lease_holders(&self) -> Result<Vec<LeaseHolder>> {
        self.0.lease_holders().await
    }

    /// The user's pending provisioning ops, oldest first.
    pub async fn pending_ops_of(&self, user: UserId) -> Result<Vec<PendingKeyOp>> {
        self.0.pending_ops_of(user).await
    }

    /// Audit rows of ops actions and of no user, newest first.
    pub async fn recent_ops_audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        self.0.recent_ops_audit(limit).await
    }
}
