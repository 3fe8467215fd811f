//! The payments worker (a singleton, under the `payments` leader role):
//! finishes what the intake left unfinished — at start, then every
//! `recovery_interval` — and asks the providers for the truth every
//! `reconcile_interval` (the first time one interval after it starts).

use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::intake::{Intake, RECOVERY_GRACE};
use super::reconciler::PaymentReconciler;
use crate::leader::LeaderFlag;
use crate::workers::Worker;

pub struct PaymentWorker {
    intake: Intake,
    reconciler: PaymentReconciler,
    recovery_interval: Duration,
    reconcile_interval: Duration,
    leader: LeaderFlag,
}

impl PaymentWorker {
    pub fn new(
        intake: Intake,
        reconciler: PaymentReconciler,
        recovery_interval: Duration,
        reconcile_interval: Duration,
    ) -> Self {
        Self {
            intake,
            reconciler,
            recovery_interval,
            reconcile_interval,
            leader: LeaderFlag::always(),
        }
    }

    /// Only work while this instance leads the role the flag stands for.
    pub fn with_leader(mut self, leader: LeaderFlag) -> Self {
        self.leader = leader;
        self
    }
}

impl Worker for PaymentWorker {
    /// Runs until `shutdown` becomes true.
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        // The first pass finishes everything left unfinished, however young:
        // whatever this instance was doing with it died with the last process.
        let mut started = false;
        // Providers retry their callbacks and recovery finishes what was
        // stored: the first reconciliation can wait one interval (and does not
        // race whatever a fresh start is doing).
        let mut last_reconcile = Instant::now();
        loop {
            if self.leader.is_leader() {
                let now = self.intake.registry().clock().now();
                let grace = if started {
                    chrono::Duration::from_std(RECOVERY_GRACE).unwrap_or_default()
                } else {
                    chrono::Duration::zero()
                };
                match self.intake.recover(now - grace).await {
                    Ok(report) => {
                        started = true;
                        if report != Default::default() {
                            tracing::info!(?report, "payment intake recovery");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "payment intake recovery failed"),
                }
                if last_reconcile.elapsed() >= self.reconcile_interval {
                    last_reconcile = Instant::now();
                    if let Err(e) = self.reconciler.pass(false).await {
                        tracing::warn!(error = %e, "payment reconciliation failed");
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.recovery_interval) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
