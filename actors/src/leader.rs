//! Leader election for the singletons (Scheduler; outbox driver + Reconciler,
//! which share one "provisioning" role so a node's ops and its reconcile never
//! run on two instances at once). On PostgreSQL a role is a session advisory
//! lock plus a lease row (`leader_leases`) the leader renews on the lock's own
//! session; on SQLite the one instance always leads.
//!
//! Leadership is bounded in time on both sides:
//!
//! - The leader's [`LeaderFlag`] is valid until the instant its last successful
//!   renewal was *sent* plus the lease term, on this process's monotonic clock.
//!   A leader that was frozen (SIGSTOP, a long GC-like stall, a partition) reads
//!   "not leader" as soon as it resumes, before any singleton work, whatever
//!   its election task has done yet.
//! - The server holds the lease until `expires_at` (renewal time + term on the
//!   server's clock, which is never earlier than the leader's own deadline). A
//!   standby that finds the lease expired while the lock is still held ends the
//!   holder's session (`pg_terminate_backend`) and takes the lock. Whoever takes
//!   the lock starts acting only once the previous lease has expired, so two
//!   instances never act at once even when a session was ended by the server
//!   (keepalive, `tcp_user_timeout`) while its leader still believed it led.
//!
//! Worst-case failover after the leader freezes or is cut off:
//! `leader_lease + leader_interval` (plus a query's time): the lease runs out
//! at most `leader_lease` after its last renewal, and a standby looks at most
//! `leader_interval` later.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

use crate::store::{Lease, Store};
use crate::workers::Worker;

/// `until` of a flag that always leads.
const ALWAYS: u64 = u64::MAX;

/// Whether this instance currently leads a role: true until the lease's
/// deadline on the monotonic clock. Cheap to clone and read.
#[derive(Debug, Clone)]
pub struct LeaderFlag(Arc<FlagState>);

#[derive(Debug)]
struct FlagState {
    origin: Instant,
    /// Nanoseconds after `origin` until which this instance leads; 0: it does not.
    until: AtomicU64,
}

impl LeaderFlag {
    fn new(until: u64) -> Self {
        Self(Arc::new(FlagState {
            origin: Instant::now(),
            until: AtomicU64::new(until),
        }))
    }

    /// A flag that always leads (a single instance, tests).
    pub fn always() -> Self {
        Self::new(ALWAYS)
    }

    /// A flag that does not lead (until an election makes it).
    pub fn standby() -> Self {
        Self::new(0)
    }

    /// A flag that leads for `term` from now, then lapses (tests of what a
    /// leader does when its lease runs out mid-pass).
    #[cfg(feature = "testing")]
    pub fn leading_for(term: Duration) -> Self {
        let flag = Self::standby();
        flag.lead_until(Instant::now() + term);
        flag
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.0.origin).as_nanos()).unwrap_or(ALWAYS - 1)
    }

    /// True while the lease is valid: false after its deadline even if
    /// nothing has run since (a process resumed after a freeze).
    pub fn is_leader(&self) -> bool {
        self.nanos(Instant::now()) < self.0.until.load(Ordering::SeqCst)
    }

    /// How long the lead lasts without another renewal; `None`: not leading.
    /// (`Duration::MAX` for a flag that always leads.)
    pub fn valid_for(&self) -> Option<Duration> {
        let until = self.0.until.load(Ordering::SeqCst);
        if until == ALWAYS {
            return Some(Duration::MAX);
        }
        let now = self.nanos(Instant::now());
        (now < until).then(|| Duration::from_nanos(until - now))
    }

    fn lead_until(&self, deadline: Instant) {
        let until = self.nanos(deadline).max(1);
        self.0.until.store(until, Ordering::SeqCst);
    }

    fn step_down(&self) {
        self.0.until.store(0, Ordering::SeqCst);
    }
}

/// How leases are kept: renewed every `every`, each renewal valid for `term`.
#[derive(Debug, Clone, Copy)]
pub struct LeasePolicy {
    pub every: Duration,
    pub term: Duration,
}

impl LeasePolicy {
    /// How long a renewal may take before this instance gives up on it (and
    /// the lead): one interval, and at most half the term.
    fn deadline(&self) -> Duration {
        self.every.min(self.term / 2)
    }

    /// The longest time from a leader freezing to a standby leading:
    /// the term (since the last renewal) plus one interval (the standby's look).
    pub fn worst_failover(&self) -> Duration {
        self.term + self.every
    }
}

/// One role as the ops API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    pub role: &'static str,
    /// This instance leads the role now.
    pub leader: bool,
    /// How long the lead lasts without another renewal (absent: not leading,
    /// or leading for good as the one SQLite instance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_for_ms: Option<u64>,
}

/// The elections of this instance: starts them and shows their roles.
#[derive(Clone)]
pub struct Leadership {
    store: Arc<dyn Store>,
    policy: LeasePolicy,
    roles: Arc<Mutex<Vec<(&'static str, LeaderFlag)>>>,
}

impl Leadership {
    pub fn new(store: Arc<dyn Store>, policy: LeasePolicy) -> Self {
        Self {
            store,
            policy,
            roles: Arc::default(),
        }
    }

    /// Starts the election of `role`: tries once right away, so a lone
    /// instance leads from its first tick; run the [`Election`] as a worker.
    pub async fn elect(&self, role: &'static str) -> (Election, LeaderFlag) {
        let (election, flag) = Election::start(self.store.clone(), role, self.policy).await;
        if let Ok(mut roles) = self.roles.lock() {
            roles.push((role, flag.clone()));
        }
        (election, flag)
    }

    /// Every role this instance runs an election for, in start order.
    pub fn views(&self) -> Vec<RoleView> {
        let Ok(roles) = self.roles.lock() else {
            return Vec::new();
        };
        roles
            .iter()
            .map(|(role, flag)| {
                let valid = flag.valid_for();
                RoleView {
                    role,
                    leader: valid.is_some(),
                    valid_for_ms: valid
                        .filter(|d| *d != Duration::MAX)
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                }
            })
            .collect()
    }
}

/// Holds (or keeps trying to take) the lease of one role.
pub struct Election {
    store: Arc<dyn Store>,
    role: &'static str,
    lease: Option<Box<dyn Lease>>,
    /// Taken the lock, but the previous holder's lease runs until then.
    acting_from: Option<Instant>,
    flag: LeaderFlag,
    policy: LeasePolicy,
}

impl Election {
    /// Tries once right away, so a lone instance leads from its first tick;
    /// run as a [`Worker`], renews every `policy.every`.
    pub async fn start(
        store: Arc<dyn Store>,
        role: &'static str,
        policy: LeasePolicy,
    ) -> (Self, LeaderFlag) {
        let flag = LeaderFlag::standby();
        let mut election = Self {
            store,
            role,
            lease: None,
            acting_from: None,
            flag: flag.clone(),
            policy,
        };
        election.refresh().await;
        (election, flag)
    }

    /// The flag this election sets.
    pub fn flag(&self) -> &LeaderFlag {
        &self.flag
    }

    /// Renews the lease, or takes it when it is free (or its holder went
    /// silent past its term). Returns whether we lead.
    pub async fn refresh(&mut self) -> bool {
        let deadline = self.policy.deadline();
        if let Some(lease) = &mut self.lease {
            let sent = Instant::now();
            match tokio::time::timeout(deadline, lease.renew(self.policy.term)).await {
                Ok(true) => {
                    self.lead_from(sent);
                    return self.flag.is_leader();
                }
                Ok(false) => tracing::warn!(role = self.role, "lost the lead (lease gone)"),
                Err(_) => tracing::warn!(
                    role = self.role,
                    "lost the lead (could not renew the lease in time)"
                ),
            }
            // Stop acting first, then drop the session (and the lock with it).
            self.flag.step_down();
            self.lease = None;
            self.acting_from = None;
        }
        // Taking over may wait for an ended session to let go of the lock;
        // a lead taken later than its term is simply not acted on.
        let sent = Instant::now();
        let attempt = self.store.lead(self.role, self.policy.term);
        match tokio::time::timeout(self.policy.term, attempt).await {
            Ok(Ok(Some(acquired))) => {
                let now = Instant::now();
                self.lease = Some(acquired.lease);
                if acquired.previous_expires_in.is_zero() {
                    tracing::info!(role = self.role, "this instance leads");
                } else {
                    tracing::info!(
                        role = self.role,
                        wait_ms = acquired.previous_expires_in.as_millis() as u64,
                        "took the lock; leading once the previous lease has run out"
                    );
                }
                let wait = acquired.previous_expires_in;
                self.acting_from = (!wait.is_zero()).then(|| now + wait);
                self.lead_from(sent);
                self.flag.is_leader()
            }
            Ok(Ok(None)) => {
                tracing::debug!(role = self.role, "another instance leads; standing by");
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(role = self.role, error = %e, "leader election failed");
                false
            }
            Err(_) => {
                tracing::warn!(role = self.role, "leader election timed out");
                false
            }
        }
    }

    /// The lease was confirmed by a query sent at `sent`: lead until
    /// `sent + term`, once the previous holder's lease has run out.
    fn lead_from(&mut self, sent: Instant) {
        match self.acting_from {
            Some(from) if sent < from => {}
            _ => {
                self.acting_from = None;
                self.flag.lead_until(sent + self.policy.term);
            }
        }
    }

    /// Until the next refresh: one interval, or less when the previous
    /// holder's lease runs out sooner.
    fn next_refresh(&self) -> Duration {
        match self.acting_from {
            Some(from) => from
                .saturating_duration_since(Instant::now())
                .min(self.policy.every),
            None => self.policy.every,
        }
    }
}

impl Worker for Election {
    /// Renews every interval until shutdown, then gives the role up.
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.next_refresh()) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
            self.refresh().await;
        }
        self.flag.step_down();
        if let Some(lease) = self.lease.take() {
            // Marks the lease expired so a standby need not wait it out.
            let _ = tokio::time::timeout(self.policy.deadline(), lease.release()).await;
        }
    }
}
