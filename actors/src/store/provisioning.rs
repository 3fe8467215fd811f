//! The provisioning outbox: ops the nodes must apply, in commit order per key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::domain::{NodeName, OpKind, ProvisioningOp, UserId};

/// A pending provisioning op with its schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOp {
    pub op: ProvisioningOp,
    pub next_attempt_at: DateTime<Utc>,
}

/// One key the nodes should (or, with `kind = Remove`, should no longer) carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpTarget {
    pub user: UserId,
    pub key_uuid: uuid::Uuid,
    pub email: String,
    pub kind: OpKind,
}

/// The provisioning outbox: ops the nodes must apply, in commit order per key.
#[async_trait]
pub trait ProvisioningOutbox: Send + Sync {
    /// Pending provisioning ops in commit order (due or not: the caller keeps
    /// per-key order and skips the ones not due yet).
    async fn pending_ops(&self, limit: u32) -> Result<Vec<PendingOp>>;

    /// Pending ops due at `now` whose key (node, email) has no earlier op still
    /// waiting for a later attempt, in commit order: what can be applied now
    /// without overtaking anything. Cheap while a node is down.
    async fn due_ops(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PendingOp>>;

    /// [`due_ops`](Self::due_ops) of one node only (each node's driver reads
    /// its own: another node's backlog never fills its batch).
    async fn due_node_ops(
        &self,
        node: &NodeName,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingOp>>;

    async fn pending_ops_by_node(&self) -> Result<Vec<(String, i64)>>;

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

    /// Every key nodes should carry: active keys of active subscriptions not
    /// limited for traffic (email, uuid).
    async fn desired_keys(&self) -> Result<Vec<(String, uuid::Uuid)>>;

    /// Makes a node's pending ops due now (the node came back).
    async fn reschedule_node_ops(&self, node: &NodeName, now: DateTime<Utc>) -> Result<u64>;
}
