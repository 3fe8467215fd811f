//! Leader election for the singletons (Scheduler; outbox driver + Reconciler,
//! which share one "provisioning" role so a node's ops and its reconcile never
//! run on two instances at once). On PostgreSQL a role is a session advisory
//! lock; on SQLite the one instance always leads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::store::{Lease, Store};
use crate::workers::Worker;

/// Whether this instance currently leads a role. Cheap to clone and read.
#[derive(Debug, Clone)]
pub struct LeaderFlag(Arc<AtomicBool>);

impl LeaderFlag {
    /// A flag that always leads (a single instance, tests).
    pub fn always() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    pub fn is_leader(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Holds (or keeps trying to take) the lease of one role.
pub struct Election {
    store: Arc<dyn Store>,
    role: &'static str,
    lease: Option<Box<dyn Lease>>,
    flag: LeaderFlag,
    every: Duration,
}

impl Election {
    /// Tries once right away, so a lone instance leads from its first tick;
    /// run as a [`Worker`], refreshes every `every`.
    pub async fn start(
        store: Arc<dyn Store>,
        role: &'static str,
        every: Duration,
    ) -> (Self, LeaderFlag) {
        let flag = LeaderFlag(Arc::new(AtomicBool::new(false)));
        let mut election = Self {
            store,
            role,
            lease: None,
            flag: flag.clone(),
            every,
        };
        election.refresh().await;
        (election, flag)
    }

    /// Keeps the lease alive, or takes it when it is free. Returns whether we lead.
    pub async fn refresh(&mut self) -> bool {
        if let Some(lease) = &mut self.lease {
            if lease.still_held().await {
                return true;
            }
            tracing::warn!(role = self.role, "lost the lead (database session gone)");
            self.lease = None;
            self.flag.0.store(false, Ordering::SeqCst);
        }
        match self.store.lead(self.role).await {
            Ok(Some(lease)) => {
                tracing::info!(role = self.role, "this instance leads");
                self.lease = Some(lease);
                self.flag.0.store(true, Ordering::SeqCst);
                true
            }
            Ok(None) => {
                tracing::debug!(role = self.role, "another instance leads; standing by");
                false
            }
            Err(e) => {
                tracing::warn!(role = self.role, error = %e, "leader election failed");
                false
            }
        }
    }
}

impl Worker for Election {
    /// Refreshes every `every` until shutdown, then gives the role up.
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
            self.refresh().await;
        }
        self.flag.0.store(false, Ordering::SeqCst);
        self.lease = None;
    }
}
