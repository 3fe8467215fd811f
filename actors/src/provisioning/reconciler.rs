//! The Reconciler: converges each node's users with the desired set (active
//! keys of active subscriptions).
//!
//! It runs every `interval`, at once for a node whose gateway reports a restart
//! or recovery, and on demand (ops API / `subvisor reconcile`). Per node, under
//! the node's lock (so op application never interleaves): re-drive the due
//! outbox rows, list the node's users, add what is missing, remove what is in
//! our namespace but not desired (an operator's own users are never touched),
//! and replace keys whose UUID differs. Nodes that cannot list (v2ray, older
//! Xray) get every desired user re-added after a restart/recovery, at start and
//! on demand ("already exists" is success); their removals come from the outbox.
//! A dry run reports the diff and changes nothing.
//!
//! In the service every node has its own [`NodeWorker`] (supervised as
//! `provisioning-outbox:<node>`): it drains that node's outbox, reconciles that
//! node on its timer, on its gateway's events and on demand, so a dead or
//! hanging node never delays another. [`Reconciler`] drives every node from
//! one task (tests, benches).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::gateway::NodeEvent;
use super::{NodeClient, OutboxDriver};
use crate::domain::{NodeName, parse_key_email};
use crate::metrics as m;
use crate::workers::Worker;

/// What to reconcile.
#[derive(Debug, Clone, Default)]
pub struct ReconcileRequest {
    /// One node, or all.
    pub node: Option<NodeName>,
    pub dry_run: bool,
}

/// The outcome for one node.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct NodeDiff {
    pub node: String,
    /// Whether the node could list its users (else: re-add only).
    pub listing: bool,
    pub desired: usize,
    /// Users the node listed (all of them, ours or not).
    pub actual: Option<usize>,
    /// Desired keys the node lacks (to add).
    pub missing: usize,
    /// Users in our namespace the node has but should not (to remove).
    pub extra: usize,
    /// Keys present with a different UUID (removed, then added).
    pub mismatched: usize,
    pub fixed: usize,
    pub failed: usize,
    pub dry_run: bool,
    /// Up to 20 emails of each kind, for people.
    pub sample_missing: Vec<String>,
    pub sample_extra: Vec<String>,
    pub duration_ms: u64,
    pub error: Option<String>,
}

type Reply = oneshot::Sender<crate::Result<Vec<NodeDiff>>>;

type Requests = mpsc::Sender<(ReconcileRequest, Reply)>;

/// Asks the running Reconciler (or the nodes' workers) for a pass.
#[derive(Clone)]
pub struct ReconcilerHandle {
    routes: std::sync::Arc<Routes>,
    last: LastReconciles,
}

/// A node's last reconcile that could change it (dry runs are not kept).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LastReconcile {
    pub at: chrono::DateTime<chrono::Utc>,
    pub diff: NodeDiff,
}

/// Each node's [`LastReconcile`], shared by the nodes' reconcilers and the handle.
#[derive(Debug, Clone, Default)]
struct LastReconciles(std::sync::Arc<std::sync::RwLock<HashMap<String, LastReconcile>>>);

impl LastReconciles {
    fn record(&self, diff: &NodeDiff) {
        let mut book = self.0.write().unwrap_or_else(|p| p.into_inner());
        book.insert(
            diff.node.clone(),
            LastReconcile {
                at: chrono::Utc::now(),
                diff: diff.clone(),
            },
        );
    }

    fn get(&self, node: &str) -> Option<LastReconcile> {
        let book = self.0.read().unwrap_or_else(|p| p.into_inner());
        book.get(node).cloned()
    }
}

enum Routes {
    /// One Reconciler for every node.
    One(Requests),
    /// One worker per node, in configuration order.
    PerNode(Vec<(NodeName, Requests)>),
}

async fn ask(tx: &Requests, req: ReconcileRequest) -> crate::Result<Vec<NodeDiff>> {
    let (reply, answer) = oneshot::channel();
    tx.send((req, reply))
        .await
        .map_err(|_| crate::Error::ShuttingDown)?;
    answer.await.map_err(|_| crate::Error::ShuttingDown)?
}

impl ReconcilerHandle {
    /// The node's last reconcile that was not a dry run, if any since start.
    pub fn last(&self, node: &str) -> Option<LastReconcile> {
        self.last.get(node)
    }

    /// One node, or every node (each by its own worker, concurrently).
    #[tracing::instrument(name = "reconcile", skip_all)]
    pub async fn reconcile(&self, req: ReconcileRequest) -> crate::Result<Vec<NodeDiff>> {
        let nodes = match &*self.routes {
            Routes::One(tx) => return ask(tx, req).await,
            Routes::PerNode(nodes) => nodes,
        };
        let asked: Vec<_> = nodes
            .iter()
            .filter(|(name, _)| req.node.as_ref().is_none_or(|wanted| wanted == name))
            .map(|(name, tx)| {
                let req = ReconcileRequest {
                    node: Some(name.clone()),
                    dry_run: req.dry_run,
                };
                ask(tx, req)
            })
            .collect();
        if let Some(wanted) = &req.node
            && asked.is_empty()
        {
            return Err(crate::Error::invalid(
                "node",
                format!("no node named {wanted}"),
            ));
        }
        let mut out = Vec::with_capacity(asked.len());
        for diffs in join_all(asked).await {
            out.extend(diffs?);
        }
        Ok(out)
    }
}

pub struct Reconciler {
    driver: OutboxDriver,
    interval: Duration,
    events: mpsc::UnboundedReceiver<NodeEvent>,
    requests: mpsc::Receiver<(ReconcileRequest, Reply)>,
    last: LastReconciles,
}

const SAMPLE: usize = 20;
const CONCURRENCY: usize = 64;

impl Reconciler {
    pub fn new(
        driver: OutboxDriver,
        interval: Duration,
        events: mpsc::UnboundedReceiver<NodeEvent>,
    ) -> (Self, ReconcilerHandle) {
        let (tx, requests) = mpsc::channel(16);
        let last = LastReconciles::default();
        (
            Self {
                driver,
                interval,
                events,
                requests,
                last: last.clone(),
            },
            ReconcilerHandle {
                routes: std::sync::Arc::new(Routes::One(tx)),
                last,
            },
        )
    }

    /// One [`NodeWorker`] per node of `driver`'s provisioner, each with its
    /// gateway's events (a node missing from `events` gets none), and the
    /// handle that routes requests to them.
    pub fn per_node(
        driver: OutboxDriver,
        interval: Duration,
        mut events: HashMap<NodeName, mpsc::UnboundedReceiver<NodeEvent>>,
    ) -> (Vec<NodeWorker>, ReconcilerHandle) {
        let mut workers = Vec::new();
        let mut routes = Vec::new();
        let names: Vec<NodeName> = driver.provisioner().node_names().to_vec();
        let last = LastReconciles::default();
        for (i, name) in names.into_iter().enumerate() {
            let events = events
                .remove(&name)
                .unwrap_or_else(|| mpsc::unbounded_channel().1);
            let (mut reconciler, handle) =
                Reconciler::new(driver.for_node(name.clone()), interval, events);
            reconciler.last = last.clone();
            if let Routes::One(tx) = &*handle.routes {
                routes.push((name.clone(), tx.clone()));
            }
            workers.push(NodeWorker {
                node: name,
                reconciler,
                sweeps_orphans: i == 0,
            });
        }
        let handle = ReconcilerHandle {
            routes: std::sync::Arc::new(Routes::PerNode(routes)),
            last,
        };
        (workers, handle)
    }

    /// Reads each node's per-user counters (without resetting them) and has
    /// the store count what grew since the last reading it kept, in one
    /// transaction: a failed write leaves the baselines as they were, so the
    /// next reading counts those bytes, once.
    pub async fn collect_traffic(&self) {
        let scope = self.driver.node();
        for node in self.driver.provisioner().nodes() {
            if scope.is_some_and(|only| only != node.name()) {
                continue;
            }
            // Taken before the reading: a baseline stored by a later reading
            // (another collector) makes this one stale.
            let read_at = self.driver.clock().now();
            match node.read_traffic().await {
                Ok(Some(traffic)) => {
                    let readings: Vec<(String, u64, u64)> = traffic
                        .into_iter()
                        .filter(|(email, _)| parse_key_email(email).is_some())
                        .map(|(email, (up, down))| (email, up, down))
                        .collect();
                    match self
                        .driver
                        .store()
                        .record_traffic(node.name(), &readings, read_at)
                        .await
                    {
                        Ok(r) if r.bytes > 0 => {
                            tracing::debug!(node = %node.name(), keys = r.keys, bytes = r.bytes, "traffic counted");
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(node = %node.name(), error = %e, "could not store traffic; the next reading counts it");
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(node = %node.name(), error = %e, "no traffic reading"),
            }
        }
    }

    /// Reconciles one node or all. `full`: re-add everything on nodes that cannot list.
    pub async fn pass(
        &self,
        node: Option<NodeName>,
        full: bool,
        dry_run: bool,
    ) -> crate::Result<Vec<NodeDiff>> {
        let nodes: Vec<_> = self
            .driver
            .provisioner()
            .nodes()
            .iter()
            .filter(|n| node.as_ref().is_none_or(|wanted| n.name() == wanted))
            .cloned()
            .collect();
        if let Some(wanted) = &node
            && nodes.is_empty()
        {
            return Err(crate::Error::invalid(
                "node",
                format!("no node named {wanted}"),
            ));
        }
        let mut out = Vec::with_capacity(nodes.len());
        for client in nodes {
            let diff = self.reconcile_node(client.as_ref(), full, dry_run).await;
            if let Some(e) = &diff.error {
                tracing::warn!(node = %diff.node, error = %e, "reconcile failed");
            } else if diff.missing + diff.extra + diff.mismatched > 0 {
                tracing::info!(node = %diff.node, missing = diff.missing, extra = diff.extra,
                    mismatched = diff.mismatched, fixed = diff.fixed, failed = diff.failed, dry_run, "reconciled");
            }
            out.push(diff);
        }
        Ok(out)
    }

    #[tracing::instrument(name = "reconcile_node", skip_all, fields(node = %node.name(), full = full, dry_run = dry_run))]
    async fn reconcile_node(&self, node: &dyn NodeClient, full: bool, dry_run: bool) -> NodeDiff {
        let started = Instant::now();
        let name = node.name().clone();
        let mut diff = NodeDiff {
            node: name.to_string(),
            dry_run,
            ..NodeDiff::default()
        };
        let lock = self.driver.provisioner().node_lock(&name);
        let _guard = match (dry_run, lock) {
            (false, Some(lock)) => Some(lock.lock().await),
            _ => None,
        };
        if let Err(e) = self.converge(node, full, dry_run, &mut diff).await {
            diff.error = Some(e);
        }
        drop(_guard);
        // Ops committed while we held the node's lock are applied now, not at the next poll.
        self.driver.provisioner().wake_node(&name);
        diff.duration_ms = started.elapsed().as_millis() as u64;
        if !dry_run {
            self.last.record(&diff);
        }
        let label = name.to_string();
        metrics::counter!(m::RECONCILE_DRIFT_FOUND, "node" => label.clone())
            .increment((diff.missing + diff.extra + diff.mismatched) as u64);
        metrics::counter!(m::RECONCILE_DRIFT_FIXED, "node" => label.clone())
            .increment(diff.fixed as u64);
        metrics::histogram!(m::RECONCILE_SECONDS, "node" => label.clone())
            .record(started.elapsed().as_secs_f64());
        metrics::gauge!(m::RECONCILE_LAST_RUN, "node" => label)
            .set(chrono::Utc::now().timestamp() as f64);
        diff
    }

    async fn converge(
        &self,
        node: &dyn NodeClient,
        full: bool,
        dry_run: bool,
        diff: &mut NodeDiff,
    ) -> Result<(), String> {
        if !dry_run {
            self.driver
                .drain_node_locked(node.name())
                .await
                .map_err(|e| e.to_string())?;
        }
        let desired: HashMap<String, (String, Uuid)> = self
            .driver
            .store()
            .desired_keys()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(email, uuid)| (email.to_ascii_lowercase(), (email, uuid)))
            .collect();
        diff.desired = desired.len();
        let listed = node.list_users().await.map_err(|e| e.to_string())?;
        diff.listing = listed.is_some();
        let (removes, adds) = match listed {
            Some(actual) => {
                diff.actual = Some(actual.len());
                plan(&desired, actual, diff)
            }
            None if full => {
                let adds: Vec<_> = desired.values().cloned().collect();
                diff.missing = adds.len();
                (Vec::new(), adds)
            }
            None => (Vec::new(), Vec::new()),
        };
        diff.sample_missing = adds.iter().take(SAMPLE).map(|(e, _)| e.clone()).collect();
        diff.sample_extra = removes.iter().take(SAMPLE).cloned().collect();
        if dry_run {
            return Ok(());
        }
        // Every call is fenced by the lease: a leader that froze mid-pass and
        // resumed after a standby took over must not touch the node again.
        let leader = self.driver.leader();
        // Removes first: a mismatched key is removed before its re-add.
        let removed = stream::iter(removes)
            .map(
                |email| async move { leader.is_leader() && node.remove_user(&email).await.is_ok() },
            )
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<bool>>()
            .await;
        let added = stream::iter(adds)
            .map(|(email, uuid)| async move {
                leader.is_leader() && node.add_user(&email, uuid).await.is_ok()
            })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<bool>>()
            .await;
        for ok in removed.into_iter().chain(added) {
            if ok {
                diff.fixed += 1;
            } else {
                diff.failed += 1;
            }
        }
        Ok(())
    }
}

/// Computes (emails to remove, keys to add) from desired and listed users.
/// Only emails in our namespace are ever removed.
fn plan(
    desired: &HashMap<String, (String, Uuid)>,
    actual: Vec<(String, Uuid)>,
    diff: &mut NodeDiff,
) -> (Vec<String>, Vec<(String, Uuid)>) {
    let mut removes = Vec::new();
    let mut adds = Vec::new();
    let mut present: HashMap<String, Uuid> = HashMap::with_capacity(actual.len());
    for (email, uuid) in actual {
        let lower = email.to_ascii_lowercase();
        match desired.get(&lower) {
            Some((_, want)) if *want == uuid => {
                present.insert(lower, uuid);
            }
            Some(_) => {
                diff.mismatched += 1;
                removes.push(email);
            }
            None if parse_key_email(&email).is_some() => {
                diff.extra += 1;
                removes.push(email);
            }
            None => {} // an operator's own user
        }
    }
    for (lower, (email, uuid)) in desired {
        if !present.contains_key(lower) {
            adds.push((email.clone(), *uuid));
        }
    }
    diff.missing = adds.len() - diff.mismatched.min(adds.len());
    (removes, adds)
}

impl Worker for Reconciler {
    /// Full pass at start (and whenever this instance becomes the leader), then
    /// every `interval`, on node events and on demand. Only the instance leading
    /// "provisioning" (the same role as the outbox driver's) does any of it.
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        let leader = self.driver.leader().clone();
        let mut led = leader.is_leader();
        if led {
            self.pass(None, true, false).await.ok();
        }
        let mut tick = tokio::time::interval(self.interval);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let leads = leader.is_leader();
                    if leads {
                        // Newly leading: converge everything, as at start.
                        self.pass(None, !led, false).await.ok();
                        self.collect_traffic().await;
                    }
                    led = leads;
                }
                Some((req, reply)) = self.requests.recv() => {
                    let answer = if leader.is_leader() {
                        self.pass(req.node, true, req.dry_run).await
                    } else {
                        Err(crate::Error::NotLeader("provisioning"))
                    };
                    let _ = reply.send(answer);
                }
                Some(event) = self.events.recv(), if leader.is_leader() => {
                    self.on_event(event).await;
                }
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

/// One node's worker: drains that node's outbox (woken by its ops' commits,
/// else every poll interval) and reconciles that node (at start, on its timer,
/// on its gateway's restart/recovery events, on demand), all in one task so
/// nothing of another node is ever on its path. Only the provisioning leader
/// does any of it.
pub struct NodeWorker {
    node: NodeName,
    reconciler: Reconciler,
    /// One worker also cancels ops of nodes no longer configured.
    sweeps_orphans: bool,
}

impl NodeWorker {
    pub fn node(&self) -> &NodeName {
        &self.node
    }

    async fn sweep(&self) {
        if !self.sweeps_orphans {
            return;
        }
        if let Err(e) = self.reconciler.driver.cancel_unconfigured().await {
            tracing::warn!(error = %e, "could not cancel ops of unconfigured nodes");
        }
    }
}

impl Worker for NodeWorker {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        let node = self.node.clone();
        let driver = self.reconciler.driver.clone();
        let leader = driver.leader().clone();
        let mut led = leader.is_leader();
        if led {
            self.sweep().await;
            self.reconciler
                .pass(Some(node.clone()), true, false)
                .await
                .ok();
        }
        let mut tick = tokio::time::interval(self.reconciler.interval);
        tick.tick().await;
        loop {
            driver.drain().await;
            tokio::select! {
                _ = driver.woken() => {}
                _ = tokio::time::sleep(driver.poll_interval()) => {}
                _ = tick.tick() => {
                    let leads = leader.is_leader();
                    if leads {
                        self.sweep().await;
                        // Newly leading: converge fully, as at start.
                        self.reconciler.pass(Some(node.clone()), !led, false).await.ok();
                        self.reconciler.collect_traffic().await;
                    }
                    led = leads;
                }
                Some((req, reply)) = self.reconciler.requests.recv() => {
                    let answer = if leader.is_leader() {
                        self.reconciler.pass(Some(node.clone()), true, req.dry_run).await
                    } else {
                        Err(crate::Error::NotLeader("provisioning"))
                    };
                    let _ = reply.send(answer);
                }
                Some(event) = self.reconciler.events.recv(), if leader.is_leader() => {
                    self.reconciler.on_event(event).await;
                }
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

impl Reconciler {
    /// A restart or recovery: the node's waiting ops are due now, and the
    /// node is converged fully.
    async fn on_event(&self, event: NodeEvent) {
        let node = match event {
            NodeEvent::Restarted(n) | NodeEvent::Recovered(n) => n,
        };
        if let Err(e) = self
            .driver
            .store()
            .reschedule_node_ops(&node, self.driver.clock().now())
            .await
        {
            tracing::warn!(%node, error = %e, "could not reschedule pending ops");
        }
        self.pass(Some(node), true, false).await.ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_adds_missing_removes_ours_and_leaves_others_alone() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let desired: HashMap<_, _> = [
            ("sv.1.1".to_string(), ("sv.1.1".to_string(), a)),
            ("sv.2.1".to_string(), ("sv.2.1".to_string(), b)),
            ("sv.3.1".to_string(), ("sv.3.1".to_string(), c)),
        ]
        .into_iter()
        .collect();
        let actual = vec![
            ("SV.1.1".to_string(), a),              // present (case-insensitive)
            ("sv.2.1".to_string(), Uuid::new_v4()), // wrong uuid
            ("sv.9.1".to_string(), Uuid::new_v4()), // ours, not desired
            ("admin@example.com".to_string(), Uuid::new_v4()),
        ];
        let mut diff = NodeDiff::default();
        let (mut removes, mut adds) = plan(&desired, actual, &mut diff);
        removes.sort();
        adds.sort();
        assert_eq!(removes, vec!["sv.2.1".to_string(), "sv.9.1".to_string()]);
        assert_eq!(
            adds,
            vec![("sv.2.1".to_string(), b), ("sv.3.1".to_string(), c)]
        );
        assert_eq!((diff.missing, diff.extra, diff.mismatched), (1, 1, 1));
    }
}
