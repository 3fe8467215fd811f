//! The Scheduler: finds subscriptions due to expire and reminders due (3 days,
//! 1 day before expiry) and sends `Expire` / `Remind` to each user's actor;
//! with auto-renewal on, `AutoRenew` to opted-in users whose period ends
//! within `[auto_renew] before`, and subscriptions past their traffic
//! allowance or at the end of a traffic period (`LimitTraffic` /
//! `RollTrafficPeriod`). It never changes a subscription itself.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::domain::Principal;
use crate::leader::LeaderFlag;
use crate::messages::{AutoRenew, Expire, Remind};
use crate::metrics as m;
use crate::registry::Registry;
use crate::store::{Store, WriteCtx};
use crate::workers::Worker;

mod traffic;

pub struct Scheduler {
    store: Arc<dyn Store>,
    registry: Registry,
    clock: Arc<dyn Clock>,
    interval: Duration,
    batch: u32,
    order_ttl: Option<Duration>,
    /// `[auto_renew] before`: renew this long before expiry (`None`: off).
    auto_renew_before: Option<Duration>,
    leader: LeaderFlag,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    pub due: usize,
    pub expired: usize,
    pub reminded: usize,
    /// Auto-renewals bought or reminded about now.
    pub renewed: usize,
    pub failed: usize,
    /// Subscriptions limited for traffic / given a new traffic period.
    pub limited: usize,
    pub rolled: usize,
}

impl Scheduler {
    pub fn new(registry: Registry, interval: Duration, batch: u32) -> Self {
        Self {
            store: registry.store().clone(),
            clock: registry.clock().clone(),
            registry,
            interval,
            batch: batch.max(1),
            order_ttl: None,
            auto_renew_before: None,
            leader: LeaderFlag::always(),
        }
    }

    /// Only tick while this instance leads the "scheduler" role.
    pub fn with_leader(mut self, leader: LeaderFlag) -> Self {
        self.leader = leader;
        self
    }

    /// Also expire pending orders older than `ttl` on every pass.
    pub fn with_order_ttl(mut self, ttl: Duration) -> Self {
        self.order_ttl = Some(ttl);
        self
    }

    /// Also renew opted-in subscriptions from the balance `before` their expiry.
    pub fn with_auto_renew(mut self, before: Duration) -> Self {
        self.auto_renew_before = Some(before);
        self
    }

    /// One pass: expire everything due now.
    #[tracing::instrument(name = "scheduler_tick", level = "debug", skip_all)]
    pub async fn tick(&self) -> crate::Result<TickReport> {
        metrics::counter!(m::SCHEDULER_RUNS).increment(1);
        let mut report = TickReport::default();
        if let Some(ttl) = self.order_ttl {
            let now = self.clock.now();
            let cutoff = now - chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1));
            let ctx = WriteCtx {
                now,
                by: Principal::System,
                nodes: &[],
            };
            match self.store.expire_stale_orders(&ctx, cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(orders = n, "unpaid orders expired"),
                Err(e) => tracing::warn!(error = %e, "could not expire stale orders"),
            }
        }
        loop {
            let due = self
                .store
                .due_expirations(self.clock.now(), self.batch)
                .await?;
            let full_batch = due.len() == self.batch as usize;
            report.due += due.len();
            let results: Vec<_> = stream::iter(due)
                .map(|d| {
                    let registry = self.registry.clone();
                    async move {
                        (
                            d.user,
                            registry.send(d.user, Expire { due: d.expires_at }).await,
                        )
                    }
                })
                .buffer_unordered(32)
                .collect()
                .await;
            let mut progressed = 0;
            for (user, result) in results {
                match result {
                    Ok(change) if change.applied => progressed += 1,
                    Ok(_) => {}
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(%user, error = %e, "expire failed; will retry next pass");
                    }
                }
            }
            report.expired += progressed;
            if !full_batch || progressed == 0 {
                break;
            }
        }
        self.remind(&mut report).await?;
        self.auto_renew(&mut report).await?;
        self.traffic(&mut report).await?;
        Ok(report)
    }

    /// Sends `AutoRenew` to every opted-in user whose period ends within
    /// `before` (each renewed or reminded once per period, guarded in the
    /// store and by the order's period key).
    async fn auto_renew(&self, report: &mut TickReport) -> crate::Result<()> {
        let Some(before) = self.auto_renew_before else {
            return Ok(());
        };
        let before = chrono::Duration::from_std(before).unwrap_or(chrono::Duration::days(1));
        loop {
            let now = self.clock.now();
            let due = self
                .store
                .due_auto_renewals(now, now + before, self.batch)
                .await?;
            let full_batch = due.len() >= self.batch as usize;
            let results: Vec<_> = stream::iter(due)
                .map(|d| {
                    let registry = self.registry.clone();
                    async move {
                        let msg = AutoRenew {
                            period_end: d.period_end,
                        };
                        (d.user, registry.send(d.user, msg).await)
                    }
                })
                .buffer_unordered(32)
                .collect()
                .await;
            let mut progressed = 0;
            for (user, result) in results {
                match result {
                    Ok(renewal) if renewal.applied() => progressed += 1,
                    Ok(_) => {}
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(%user, error = %e, "auto-renewal failed; will retry next pass");
                    }
                }
            }
            report.renewed += progressed;
            if !full_batch || progressed == 0 {
                return Ok(());
            }
        }
    }

    /// Queues every reminder due now through the users' actors (each once per
    /// subscription period, guarded in the store).
    async fn remind(&self, report: &mut TickReport) -> crate::Result<()> {
        loop {
            let due = self
                .store
                .due_reminders(self.clock.now(), self.batch)
                .await?;
            let full_batch = due.len() >= self.batch as usize;
            let results: Vec<_> = stream::iter(due)
                .map(|d| {
                    let registry = self.registry.clone();
                    async move {
                        let msg = Remind {
                            kind: d.kind,
                            expires_at: d.expires_at,
                        };
                        (d.user, registry.send(d.user, msg).await)
                    }
                })
                .buffer_unordered(32)
                .collect()
                .await;
            let mut progressed = 0;
            for (user, result) in results {
                match result {
                    Ok(change) if change.applied => progressed += 1,
                    Ok(_) => {}
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(%user, error = %e, "reminder failed; will retry next pass");
                    }
                }
            }
            report.reminded += progressed;
            if !full_batch || progressed == 0 {
                return Ok(());
            }
        }
    }
}

impl Worker for Scheduler {
    /// Ticks every `interval` until `shutdown` becomes true.
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if self.leader.is_leader()
                && let Err(e) = self.tick().await
            {
                tracing::warn!(error = %e, "scheduler pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
