//! What the ops console (and its JSON twins) read that no other concern
//! needs: flagged payments, each outbox's age and failures, each node's
//! oldest pending op, the audit rows of ops actions; and the one write they
//! make, an audit row for an ops action (reached through
//! [`Registry::record_audit`](crate::Registry::record_audit), never through
//! [`Queries`](super::Queries)).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AuditEntry, WriteCtx};
use crate::Result;
use crate::domain::{Money, OrderId, UserId};

/// A payment (or an order) that needs a person: an amount that did not match,
/// a payment nobody expected, a refund that fell short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlaggedPayment {
    pub provider: String,
    /// The provider's id of the payment (`None`: the order itself carries the flag).
    pub provider_payment_id: Option<String>,
    pub order: Option<OrderId>,
    pub user: UserId,
    pub amount: Money,
    /// Why it was flagged (the settlement's reason or the order's flag).
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// One outbox: pending rows, the oldest one, and rows that gave up or are failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxStats {
    /// `provisioning`, `notifications`, `alerts` or `payment_events`.
    pub outbox: &'static str,
    pub depth: i64,
    /// When the oldest pending row was written.
    pub oldest_at: Option<DateTime<Utc>>,
    /// Pending rows that failed at least once (retrying).
    pub retrying: i64,
    /// Rows given up on (`failed`); provisioning ops never give up.
    pub failed: i64,
    /// The last error of the most recently failing row.
    pub last_error: Option<String>,
}

/// A node's pending provisioning ops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeBacklog {
    pub node: String,
    pub pending: i64,
    pub oldest_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// A provisioning op of one user still waiting to be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingKeyOp {
    pub node: String,
    pub email: String,
    /// `add` or `remove`.
    pub op: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// Who holds a singleton role's lease (PostgreSQL; one SQLite instance always leads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseHolder {
    pub role: String,
    /// `<hostname> pid <pid>` of the instance.
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

/// Reads for the ops console, and its audit write.
#[async_trait]
pub trait OpsViews: Send + Sync {
    /// Flagged payments and flagged orders, newest first.
    async fn flagged_payments(&self, limit: u32) -> Result<Vec<FlaggedPayment>>;

    /// Every outbox, in a fixed order.
    async fn outbox_stats(&self) -> Result<Vec<OutboxStats>>;

    /// Nodes with pending ops (a node with none is absent).
    async fn node_backlogs(&self) -> Result<Vec<NodeBacklog>>;

    /// Every role's lease row, by role (empty on SQLite).
    async fn lease_holders(&self) -> Result<Vec<LeaseHolder>>;

    /// The user's pending provisioning ops, oldest first.
    async fn pending_ops_of(&self, user: UserId) -> Result<Vec<PendingKeyOp>>;

    /// Audit rows written by ops (`actor` = `ops`) or about no user, newest first.
    async fn recent_ops_audit(&self, limit: u32) -> Result<Vec<AuditEntry>>;

    /// An audit row for an ops action (`user`: the user it was about, if any).
    async fn record_audit(
        &self,
        ctx: &WriteCtx<'_>,
        user: Option<UserId>,
        action: &str,
        details: serde_json::Value,
    ) -> Result<()>;
}
