//! Provisioning: applying committed outbox ops to VPN nodes.
//!
//! Actors commit ops and then call [`Provisioner::submit`], which only wakes the
//! [`OutboxDriver`]; the driver reads pending ops from the store in commit order
//! and applies them through each node's [`NodeClient`]. Per key and node, ops run
//! strictly in order: an op waits while an earlier one for the same email on the
//! same node is still pending (so a reissue's add precedes its remove, and a
//! failed add is never overtaken by a later remove). Failed ops stay pending with
//! a growing back-off; nothing is lost if the process dies, since the rows are
//! the source of truth and are re-driven at start.

mod breaker;
pub mod drift;
mod driver;
mod gateway;
mod reconciler;
mod sandbox;
pub mod xray_api;

use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

pub use breaker::{Breaker, BreakerState};
pub use drift::{DriftBook, DriftCheck, DriftChecker, Mismatch};
pub use driver::{OutboxDriver, Provisioner, retry_delay};
pub use gateway::{
    CANARY_EMAIL, GatewayHandle, GatewaySettings, NodeConfig, NodeEvent, RESTART_TOLERANCE,
    XrayGateway,
};
pub use reconciler::{
    LastReconcile, NodeDiff, NodeWorker, ReconcileRequest, Reconciler, ReconcilerHandle,
};
pub use sandbox::SandboxNode;

use crate::domain::NodeName;

/// Why a node call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeError {
    /// Worth retrying later (timeout, connection refused, circuit open…).
    #[error("{0}")]
    Transient(String),
}

/// How a node is doing, for `/ops/nodes`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub name: String,
    /// `sandbox` or `xray`.
    pub kind: &'static str,
    /// `up`, `down`, …
    pub state: String,
    /// Users currently on the node, when the node can tell.
    pub users: Option<usize>,
    pub note: Option<String>,
    /// Circuit breaker state (real nodes only).
    pub breaker: Option<BreakerState>,
    /// Calls to the node in flight right now.
    pub in_flight: usize,
    pub last_error: Option<String>,
}

/// The only way the system talks to a VPN node. Add and remove are idempotent:
/// adding an existing user or removing a missing one succeeds.
#[async_trait]
pub trait NodeClient: Send + Sync + 'static {
    fn name(&self) -> &NodeName;
    async fn add_user(&self, email: &str, uuid: Uuid) -> Result<(), NodeError>;
    async fn remove_user(&self, email: &str) -> Result<(), NodeError>;
    /// Every user of the inbound, or `None` when the node cannot list (v2ray,
    /// Xray before v24.11.5): the Reconciler then re-adds all desired users.
    async fn list_users(&self) -> Result<Option<Vec<(String, Uuid)>>, NodeError>;
    /// Per-user traffic counters as the node shows them, never reset by us
    /// (email → (uplink, downlink) bytes; they start again at zero when the
    /// node restarts), or `None` when the node keeps no counters.
    async fn read_traffic(
        &self,
    ) -> Result<Option<std::collections::HashMap<String, (u64, u64)>>, NodeError>;
    fn status(&self) -> NodeStatus;
}
