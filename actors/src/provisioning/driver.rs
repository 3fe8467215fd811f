//! The outbox driver: applies pending provisioning ops in commit order.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

use super::{NodeClient, NodeStatus};
use crate::clock::Clock;
use crate::domain::{NodeName, OpKind, ProvisioningOp};
use crate::metrics as m;
use crate::store::{PendingOp, Store};

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
    wake: Notify,
}

impl Provisioner {
    pub fn new(nodes: Vec<Arc<dyn NodeClient>>) -> Self {
        let node_names = nodes.iter().map(|n| n.name().clone()).collect();
        Self {
            inner: Arc::new(Inner {
                nodes,
                node_names,
                wake: Notify::new(),
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

    /// Called after commit with the ops that commit wrote.
    pub fn submit(&self, ops: &[ProvisioningOp]) {
        if !ops.is_empty() {
            self.inner.wake.notify_one();
        }
    }

    pub fn statuses(&self) -> Vec<NodeStatus> {
        self.inner.nodes.iter().map(|n| n.status()).collect()
    }

    fn node(&self, name: &NodeName) -> Option<&Arc<dyn NodeClient>> {
        self.inner.nodes.iter().find(|n| n.name() == name)
    }
}

/// Drains the provisioning outbox. Run it with [`OutboxDriver::run`].
pub struct OutboxDriver {
    store: Arc<dyn Store>,
    provisioner: Provisioner,
    clock: Arc<dyn Clock>,
    poll_interval: Duration,
    batch: u32,
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
            batch: 1000,
        }
    }

    /// Runs until `shutdown` becomes true: drains at start (ops left by a
    /// previous process), then whenever woken or every `poll_interval`.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            match self.drain_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "provisioning outbox pass failed"),
            }
            tokio::select! {
                _ = self.provisioner.inner.wake.notified() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// One pass over the pending ops; returns how many were completed.
    pub async fn drain_once(&self) -> crate::Result<usize> {
        let pending = self.store.pending_ops(self.batch).await?;
        let now = self.clock.now();
        let mut blocked: HashSet<(NodeName, String)> = HashSet::new();
        let mut done = Vec::new();
        for PendingOp {
            op,
            next_attempt_at,
        } in pending
        {
            let key = (op.node.clone(), op.email.to_ascii_lowercase());
            if blocked.contains(&key) {
                continue;
            }
            if next_attempt_at > now {
                blocked.insert(key);
                continue;
            }
            match self.apply(&op, now).await {
                Ok(true) => done.push(op.id),
                Ok(false) => {
                    blocked.insert(key);
                }
                Err(e) => {
                    blocked.insert(key);
                    tracing::warn!(error = %e, op = op.id, "could not record provisioning result");
                }
            }
        }
        self.store.complete_ops(&done, self.clock.now()).await?;
        Ok(done.len())
    }

    /// Applies one op. `Ok(true)`: done; `Ok(false)`: failed and rescheduled.
    async fn apply(&self, op: &ProvisioningOp, now: DateTime<Utc>) -> crate::Result<bool> {
        let Some(node) = self.provisioner.node(&op.node) else {
            tracing::warn!(node = %op.node, op = op.id, "op for a node that is no longer configured: cancelled");
            self.store
                .cancel_op(op.id, "node not configured", now)
                .await?;
            return Ok(false);
        };
        let result = match op.kind {
            OpKind::Add => node.add_user(&op.email, op.key_uuid).await,
            OpKind::Remove => node.remove_user(&op.email).await,
        };
        let labels = [("node", op.node.to_string()), ("op", op.kind.to_string())];
        match result {
            Ok(()) => {
                metrics::counter!(
                    m::PROVISIONING_OPS,
                    &[&labels[..], &[("outcome", "done".to_string())]].concat()
                )
                .increment(1);
                Ok(true)
            }
            Err(e) => {
                metrics::counter!(
                    m::PROVISIONING_OPS,
                    &[&labels[..], &[("outcome", "retry".to_string())]].concat()
                )
                .increment(1);
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
