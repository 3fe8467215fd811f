//! The outbox driver: applies pending provisioning ops in commit order.
//!
//! In the service each node has its own driver ([`OutboxDriver::for_node`],
//! run by that node's worker, see [`NodeWorker`](super::NodeWorker)): it reads
//! only that node's due ops and is woken by that node's wake-up, so a dead,
//! slow or hanging node never delays another node's ops. A node's ops run one
//! after another under that node's lock, which the Reconciler takes too, so a
//! reconcile never interleaves with op application on the same node. An
//! unscoped driver (tests, benches) drives every node in one pass.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use tokio::sync::{Mutex, Notify, watch};

use super::{NodeClient, NodeStatus};
use crate::clock::Clock;
use crate::domain::{NodeName, OpKind, ProvisioningOp};
use crate::leader::LeaderFlag;
use crate::metrics as m;
use crate::store::{PendingOp, Store};
use crate::workers::Worker;

/// Back-off before the next attempt of an op that failed `attempts` times:
/// 1 s, 2 s, 4 s … capped at 5 minutes, plus up to 25% jitter.
pub fn retry_delay(attempts: i32) -> Duration {
    let base =
        Duration::from_secs(1u64 << attempts.clamp(0, 8) as u32).min(Duration::from_secs(300));
    let jitter = base.mul_f64(rand_fraction() * 0.25);
    base + jitter
}

fn rand_fraction() -> f64 {
    // The low bits of a v4 UUID are random; good enough for jitter.
    (uuid::Uuid::new_v4().as_u128() & 0xFFFF) as f64 / 65536.0
}

/// The seam actors hand committed ops to. Cheap and non-blocking: it only wakes
/// the driver, which reads the ops from the store.
#[derive(Clone)]
pub struct Provisioner {
    inner: Arc<Inner>,
}

struct Inner {
    nodes: Vec<Arc<dyn NodeClient>>,
    node_names: Arc<[NodeName]>,
    locks: HashMap<NodeName, Mutex<()>>,
    /// Wakes an unscoped driver.
    wake: Notify,
    /// Wakes one node's driver.
    node_wakes: HashMap<NodeName, Notify>,
}

impl Provisioner {
    pub fn new(nodes: Vec<Arc<dyn NodeClient>>) -> Self {
        let node_names: Arc<[NodeName]> = nodes.iter().map(|n| n.name().clone()).collect();
        let locks = node_names
            .iter()
            .map(|n| (n.clone(), Mutex::new(())))
            .collect();
        let node_wakes = node_names
            .iter()
            .map(|n| (n.clone(), Notify::new()))
            .collect();
        Self {
            inner: Arc::new(Inner {
                nodes,
                node_names,
                locks,
                wake: Notify::new(),
                node_wakes,
            }),
        }
    }

    /// Names of every node; each grant writes one op per node.
    pub fn node_names(&self) -> &[NodeName] {
        &self.inner.node_names
    }

    pub fn nodes(&self) -> &[Arc<dyn NodeClient>] {
        &self.inner.nodes
    }

    /// Called after commit with the ops that commit wrote: wakes the driver
    /// of every node they name.
    pub fn submit(&self, ops: &[ProvisioningOp]) {
        let mut woken: HashSet<&NodeName> = HashSet::new();
        for op in ops {
            if woken.insert(&op.node) {
                self.wake_node(&op.node);
            }
        }
    }

    /// Wakes every driver.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
        for wake in self.inner.node_wakes.values() {
            wake.notify_one();
        }
    }

    /// Wakes one node's driver (a wake-up while it works is kept for after),
    /// and an unscoped driver, which drives that node too.
    pub fn wake_node(&self, node: &NodeName) {
        self.inner.wake.notify_one();
        if let Some(wake) = self.inner.node_wakes.get(node) {
            wake.notify_one();
        }
    }

    fn wake_signal(&self, node: Option<&NodeName>) -> &Notify {
        node.and_then(|n| self.inner.node_wakes.get(n))
            .unwrap_or(&self.inner.wake)
    }

    pub fn statuses(&self) -> Vec<NodeStatus> {
        self.inner.nodes.iter().map(|n| n.status()).collect()
    }

    pub fn node(&self, name: &NodeName) -> Option<&Arc<dyn NodeClient>> {
        self.inner.nodes.iter().find(|n| n.name() == name)
    }

    /// The lock that serializes op application and reconciliation on one node.
    pub(crate) fn node_lock(&self, name: &NodeName) -> Option<&Mutex<()>> {
        self.inner.locks.get(name)
    }
}

/// Drains the provisioning outbox. Run it with [`OutboxDriver::run`].
#[derive(Clone)]
pub struct OutboxDriver {
    store: Arc<dyn Store>,
    provisioner: Provisioner,
    clock: Arc<dyn Clock>,
    poll_interval: Duration,
    batch: u32,
    leader: LeaderFlag,
    /// Drive only this node (`None`: every node).
    node: Option<NodeName>,
}

impl OutboxDriver {
    pub fn new(
        store: Arc<dyn Store>,
        provisioner: Provisioner,
        clock: Arc<dyn Clock>,
        poll_interval: Duration,
    ) -> Self {
        Self {
            store,
            provisioner,
            clock,
            poll_interval,
            batch: 5000,
            leader: LeaderFlag::always(),
            node: None,
        }
    }

    /// The same driver for one node only: its own ops, its own wake-up.
    pub fn for_node(&self, node: NodeName) -> Self {
        Self {
            node: Some(node),
            ..self.clone()
        }
    }

    /// The node this driver is scoped to, if any.
    pub fn node(&self) -> Option<&NodeName> {
        self.node.as_ref()
    }

    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// Only apply ops while this instance leads the "provisioning" role (one
    /// driver cluster-wide keeps each key's ops in order).
    pub fn with_leader(mut self, leader: LeaderFlag) -> Self {
        self.leader = leader;
        self
    }

    pub fn leader(&self) -> &LeaderFlag {
        &self.leader
    }

    pub fn provisioner(&self) -> &Provisioner {
        &self.provisioner
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// One pass over the pending ops of every node (or of this driver's node);
    /// returns how many completed. A node whose lock is held (being reconciled
    /// or drained) is skipped.
    pub async fn drain_once(&self) -> crate::Result<usize> {
        if !self.leader.is_leader() {
            return Ok(0);
        }
        if let Some(node) = &self.node {
            let Some(lock) = self.provisioner.node_lock(node) else {
                return Ok(0);
            };
            let Ok(_guard) = lock.try_lock() else {
                return Ok(0);
            };
            return self.drain_node_locked(node).await;
        }
        let pending = self.store.due_ops(self.clock.now(), self.batch).await?;
        let mut by_node: HashMap<NodeName, Vec<PendingOp>> = HashMap::new();
        for p in pending {
            by_node.entry(p.op.node.clone()).or_default().push(p);
        }
        let passes = by_node.into_iter().map(|(node, ops)| async move {
            let Some(lock) = self.provisioner.node_lock(&node) else {
                return self.cancel_orphans(&node, ops).await;
            };
            let Ok(_guard) = lock.try_lock() else {
                return Ok(0);
            };
            self.drain_node(&node, ops).await
        });
        let mut done = 0;
        for result in join_all(passes).await {
            done += result?;
        }
        Ok(done)
    }

    /// Drains one node's due ops; the caller holds the node's lock.
    pub(crate) async fn drain_node_locked(&self, node: &NodeName) -> crate::Result<usize> {
        let pending: Vec<PendingOp> = self
            .store
            .due_node_ops(node, self.clock.now(), self.batch)
            .await?
            .into_iter()
            // Belt and braces: an op is only ever applied to its own node.
            .filter(|p| &p.op.node == node)
            .collect();
        self.drain_node(node, pending).await
    }

    async fn drain_node(&self, node: &NodeName, pending: Vec<PendingOp>) -> crate::Result<usize> {
        let Some(client) = self.provisioner.node(node).cloned() else {
            return Ok(0);
        };
        let now = self.clock.now();
        let mut blocked: HashSet<String> = HashSet::new();
        let mut done = Vec::new();
        for PendingOp {
            op,
            next_attempt_at,
        } in pending
        {
            if !self.leader.is_leader() {
                // The lease lapsed mid-pass (frozen, cut off): another
                // instance may lead now; not one more call to the node.
                break;
            }
            let email = op.email.to_ascii_lowercase();
            if blocked.contains(&email) {
                continue;
            }
            if next_attempt_at > now {
                // Not due (the store only returns due ops; the clock moved):
                // later ops of this key wait for this one.
                blocked.insert(email);
                continue;
            }
            if self.apply(client.as_ref(), &op, now).await? {
                done.push(op.id);
            } else {
                blocked.insert(email);
            }
        }
        self.store.complete_ops(&done, self.clock.now()).await?;
        Ok(done.len())
    }

    /// Cancels pending ops of nodes no longer configured (no node's driver
    /// reads them); returns how many.
    pub async fn cancel_unconfigured(&self) -> crate::Result<usize> {
        let mut cancelled = 0;
        for (node, count) in self.store.pending_ops_by_node().await? {
            let Ok(name) = NodeName::new(&node) else {
                continue;
            };
            if count == 0 || self.provisioner.node_lock(&name).is_some() {
                continue;
            }
            let ops: Vec<PendingOp> = self
                .store
                .pending_ops(self.batch)
                .await?
                .into_iter()
                .filter(|p| p.op.node == name)
                .collect();
            cancelled += ops.len();
            self.cancel_orphans(&name, ops).await?;
        }
        Ok(cancelled)
    }

    async fn cancel_orphans(&self, node: &NodeName, ops: Vec<PendingOp>) -> crate::Result<usize> {
        tracing::warn!(%node, count = ops.len(), "ops for a node that is no longer configured: cancelled");
        let now = self.clock.now();
        for p in ops {
            self.store
                .cancel_op(p.op.id, "node not configured", now)
                .await?;
        }
        Ok(0)
    }

    /// Applies one op. `Ok(true)`: done; `Ok(false)`: failed and rescheduled.
    async fn apply(
        &self,
        node: &dyn NodeClient,
        op: &ProvisioningOp,
        now: DateTime<Utc>,
    ) -> crate::Result<bool> {
        let result = match op.kind {
            OpKind::Add => node.add_user(&op.email, op.key_uuid).await,
            OpKind::Remove => node.remove_user(&op.email).await,
        };
        let outcome = if result.is_ok() { "done" } else { "retry" };
        metrics::counter!(m::PROVISIONING_OPS, "node" => op.node.to_string(), "op" => op.kind.as_str(), "outcome" => outcome)
            .increment(1);
        match result {
            Ok(()) => Ok(true),
            Err(e) => {
                let delay = retry_delay(op.attempts);
                let next = now
                    + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(300));
                tracing::info!(node = %op.node, email = %op.email, op = %op.kind, error = %e, retry_in = ?delay, "provisioning op failed; will retry");
                self.store
                    .retry_op_later(op.id, &e.to_string(), next)
                    .await?;
                Ok(false)
            }
        }
    }
}

impl OutboxDriver {
    /// Drains until a pass completes nothing (or fails).
    pub async fn drain(&self) {
        loop {
            match self.drain_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(node = ?self.node, error = %e, "provisioning outbox pass failed");
                    return;
                }
            }
        }
    }

    /// Resolves when this driver is woken (see [`Provisioner::wake`]).
    pub async fn woken(&self) {
        self.provisioner
            .wake_signal(self.node.as_ref())
            .notified()
            .await;
    }
}

impl Worker for OutboxDriver {
    /// Runs until `shutdown` becomes true: drains at start (ops left by a
    /// previous process), then whenever woken or every `poll_interval`.
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.drain().await;
            tokio::select! {
                _ = self.woken() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
