//! The Registry: virtual actors, Orleans-style.
//!
//! A user's actor is activated on the first message, spread over one Arbiter per
//! core by `hash(user)`, and passivates itself after `idle_timeout` without
//! messages, so memory tracks active users rather than all users. A dead actor
//! (a panic) is noticed by its closed mailbox and re-activated from the store on
//! the next message; more than `max_restarts` deaths of one user within
//! `restart_window` are reported and answered with an error instead of a loop.
//!
//! Each slot counts the messages in flight to its actor. That count is raised
//! while holding the map's shard lock and checked under the same lock when an
//! idle actor removes itself, so a message is never sent to an actor that is
//! passivating; it also bounds the mailbox (`mailbox_capacity`): past it the
//! caller gets [`Error::Busy`] rather than unbounded queueing.

mod promos;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Arbiter, ArbiterHandle, Handler, MailboxError, Message};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use serde::Serialize;

use crate::clock::Clock;
use crate::domain::{DeviceInfo, NodeName, Plans, Principal, UserId};
use crate::metrics as m;
use crate::provisioning::Provisioner;
use crate::store::{BroadcastReport, Queries, Store, WriteCtx};
use crate::user_actor::UserActor;
use crate::{Error, Result};

/// Tunables of the actor system (`[actors]` and `[trial]` in config).
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub idle_timeout: Duration,
    pub mailbox_capacity: usize,
    pub max_restarts: u32,
    pub restart_window: Duration,
    pub trial_days: u32,
    /// The trial only for users who never paid for a plan.
    pub trial_only_new_users: bool,
    /// Arbiter threads; 0 = one per core.
    pub arbiters: usize,
    /// The currency the balance is held in (balance purchases must be priced in it).
    pub balance_currency: crate::domain::Currency,
    /// How long an unpaid order stays open; the same purchase within it
    /// reuses the order and its invoice.
    pub order_ttl: Duration,
    /// Traffic packs on sale (`[[traffic_packs]]`), in the plans' id space.
    pub traffic_packs: crate::domain::TrafficPacks,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(600),
            mailbox_capacity: 64,
            max_restarts: 5,
            restart_window: Duration::from_secs(60),
            trial_days: 3,
            trial_only_new_users: true,
            arbiters: 0,
            balance_currency: crate::domain::Currency::new("USD")
                .unwrap_or_else(|_| crate::domain::Currency::stars()),
            order_ttl: Duration::from_secs(3600),
            traffic_packs: crate::domain::TrafficPacks::default(),
        }
    }
}

/// What every actor shares. Built by [`Registry::start`].
pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub provisioner: Provisioner,
    pub clock: Arc<dyn Clock>,
    pub plans: Plans,
    pub settings: RegistrySettings,
    pub node_names: Arc<[NodeName]>,
    /// The runtime that runs store work (the main multi-threaded one).
    pub rt: tokio::runtime::Handle,
    pub slots: DashMap<UserId, Slot>,
    pub live: AtomicI64,
    pub passivations: AtomicU64,
    arbiters: Vec<ArbiterHandle>,
    next_generation: AtomicU64,
    restarts: DashMap<UserId, RestartWindow>,
    activations: AtomicU64,
    restart_count: AtomicU64,
    restart_limit_hits: AtomicU64,
    accepting: AtomicBool,
}

#[derive(Clone)]
pub(crate) struct Slot {
    pub addr: Addr<UserActor>,
    pub generation: u64,
    pub inflight: Arc<AtomicUsize>,
}

struct RestartWindow {
    started: Instant,
    deaths: u32,
}

/// Lowers the slot's in-flight count when the send completes (or is dropped).
struct InflightGuard(Arc<AtomicUsize>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A message counted in flight by [`Registry::hold`] (feature `testing`).
#[cfg(feature = "testing")]
pub struct InFlight(#[allow(dead_code)] InflightGuard);

/// Counters for `/ops/actors`.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryStats {
    /// Actor structs alive right now.
    pub live: i64,
    /// Users with a registered actor.
    pub registered: usize,
    pub in_flight: usize,
    pub activations: u64,
    pub passivations: u64,
    pub restarts: u64,
    /// Activations refused by the restart limit since start.
    pub restart_limit_hits: u64,
    pub arbiters: usize,
    pub mailbox_capacity: usize,
    pub idle_timeout_secs: u64,
    /// Up to 50 registered users with the most messages in flight.
    pub busiest: Vec<(UserId, usize)>,
}

/// Handle to the actor system. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

impl Registry {
    /// Starts the arbiters. Must run inside an actix `System`.
    pub fn start(
        store: Arc<dyn Store>,
        provisioner: Provisioner,
        clock: Arc<dyn Clock>,
        plans: Plans,
        settings: RegistrySettings,
    ) -> Self {
        let threads = if settings.arbiters == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            settings.arbiters
        };
        let arbiters = (0..threads).map(|_| Arbiter::new().handle()).collect();
        let node_names = provisioner.node_names().into();
        Self {
            shared: Arc::new(Shared {
                store,
                provisioner,
                clock,
                plans,
                settings,
                node_names,
                rt: tokio::runtime::Handle::current(),
                slots: DashMap::new(),
                live: AtomicI64::new(0),
                passivations: AtomicU64::new(0),
                arbiters,
                next_generation: AtomicU64::new(1),
                restarts: DashMap::new(),
                activations: AtomicU64::new(0),
                restart_count: AtomicU64::new(0),
                restart_limit_hits: AtomicU64::new(0),
                accepting: AtomicBool::new(true),
            }),
        }
    }

    /// The whole store: for the core's own services (and, with the `testing`
    /// feature, for tests). Front ends read through [`Registry::queries`] and
    /// write through an actor message or a named service.
    #[cfg(feature = "testing")]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    #[cfg(not(feature = "testing"))]
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// Read-only access to everything stored, for the front ends.
    pub fn queries(&self) -> Queries {
        Queries::new(self.shared.store.clone())
    }

    /// Queues `text` for every user who has not blocked the bot but those in
    /// `exclude` (one transaction); the Notifier delivers it.
    pub async fn broadcast(
        &self,
        by: Principal,
        text: &str,
        exclude: &[UserId],
    ) -> Result<BroadcastReport> {
        let ctx = self.write_ctx(by);
        self.shared
            .store
            .create_broadcast(&ctx, text, exclude)
            .await
    }

    /// Sets an operator setting (audited).
    pub async fn set_setting(&self, by: Principal, key: &str, value: &str) -> Result<()> {
        let ctx = self.write_ctx(by);
        self.shared.store.set_setting(&ctx, key, value).await
    }

    /// A known device fetched the subscription again: its last-seen is
    /// refreshed in one statement, without activating the user's actor (the
    /// count of devices does not change). False if the device is not
    /// registered: then admit it through the actor
    /// ([`RegisterDevice`](crate::messages::RegisterDevice)).
    pub async fn device_seen(&self, user: UserId, device: &DeviceInfo) -> Result<bool> {
        let now = self.shared.clock.now();
        self.shared.store.device_seen(user, device, now).await
    }

    /// Records an ops action in the audit log (who, what, why), e.g. a node
    /// reconciled from the console or the reason given for a grant.
    pub async fn record_audit(
        &self,
        by: Principal,
        user: Option<UserId>,
        action: &str,
        details: serde_json::Value,
    ) -> Result<()> {
        let ctx = self.write_ctx(by);
        self.shared
            .store
            .record_audit(&ctx, user, action, details)
            .await
    }

    /// Makes the node's pending ops due now and wakes its worker (audited,
    /// with the operator's name); how many ops were waiting for a later attempt.
    pub async fn retry_node_now(
        &self,
        by: Principal,
        operator: &str,
        node: &NodeName,
    ) -> Result<u64> {
        if !self.shared.node_names.contains(node) {
            return Err(Error::invalid("node", format!("no node named {node}")));
        }
        let now = self.shared.clock.now();
        let moved = self.shared.store.reschedule_node_ops(node, now).await?;
        self.record_audit(
            by,
            None,
            "retry_node",
            serde_json::json!({ "node": node.as_str(), "ops_made_due": moved, "operator": operator }),
        )
        .await?;
        self.shared.provisioner.wake_node(node);
        Ok(moved)
    }

    fn write_ctx(&self, by: Principal) -> WriteCtx<'_> {
        WriteCtx {
            now: self.shared.clock.now(),
            by,
            nodes: &self.shared.node_names,
        }
    }

    pub fn provisioner(&self) -> &Provisioner {
        &self.shared.provisioner
    }

    pub fn plans(&self) -> &Plans {
        &self.shared.plans
    }

    /// The traffic packs on sale.
    pub fn traffic_packs(&self) -> &crate::domain::TrafficPacks {
        &self.shared.settings.traffic_packs
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// Sends `msg` to `user`'s actor, activating it if needed, and waits for the reply.
    pub async fn send<M, R>(&self, user: UserId, msg: M) -> Result<R>
    where
        M: Message<Result = Result<R>> + Send + 'static,
        R: Send + 'static,
        UserActor: Handler<M>,
        <UserActor as Actor>::Context: ToEnvelope<UserActor, M>,
    {
        let (slot, guard) = self.acquire(user)?;
        let reply = slot.addr.send(msg).await;
        drop(guard);
        match reply {
            Ok(result) => result,
            Err(MailboxError::Closed) => {
                self.bury(user, slot.generation);
                Err(Error::ActorDied(user))
            }
            Err(MailboxError::Timeout) => Err(Error::Busy(user)),
        }
    }

    /// Test hook: counts a message in flight for `user`'s actor (activating
    /// it) without delivering one, as every caller does between taking the
    /// slot and its message reaching the mailbox. The count drops with the
    /// returned value.
    #[cfg(feature = "testing")]
    pub fn hold(&self, user: UserId) -> Result<InFlight> {
        let (_, guard) = self.acquire(user)?;
        Ok(InFlight(guard))
    }

    /// Test hook: the Registry forgets `user`'s actor (as after a shutdown
    /// or a burial) while the actor itself lives on. Returns whether one was
    /// registered.
    #[cfg(feature = "testing")]
    pub fn forget(&self, user: UserId) -> bool {
        self.shared.slots.remove(&user).is_some()
    }

    /// Live actors right now (actor structs not yet dropped).
    pub fn live(&self) -> i64 {
        self.shared.live.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> RegistryStats {
        let s = &self.shared;
        let mut in_flight = 0;
        let mut busiest = Vec::new();
        for slot in s.slots.iter() {
            let n = slot.inflight.load(Ordering::Relaxed);
            in_flight += n;
            if n > 0 {
                busiest.push((*slot.key(), n));
            }
        }
        busiest.sort_by_key(|b| std::cmp::Reverse(b.1));
        busiest.truncate(50);
        RegistryStats {
            live: self.live(),
            registered: s.slots.len(),
            in_flight,
            activations: s.activations.load(Ordering::Relaxed),
            passivations: s.passivations.load(Ordering::Relaxed),
            restarts: s.restart_count.load(Ordering::Relaxed),
            restart_limit_hits: s.restart_limit_hits.load(Ordering::Relaxed),
            arbiters: s.arbiters.len(),
            mailbox_capacity: s.settings.mailbox_capacity,
            idle_timeout_secs: s.settings.idle_timeout.as_secs(),
            busiest,
        }
    }

    /// Stops taking messages, waits up to `grace` for in-flight ones to finish,
    /// then stops the arbiters. Returns whether everything finished in time.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        self.shared.accepting.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        let drained = loop {
            let busy = self
                .shared
                .slots
                .iter()
                .any(|s| s.inflight.load(Ordering::SeqCst) > 0);
            if !busy {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.shared.slots.clear();
        for arbiter in &self.shared.arbiters {
            arbiter.stop();
        }
        drained
    }

    /// Gets the user's live actor (activating one if needed) and counts the
    /// message in flight while still holding the map's lock. Nothing called
    /// under that lock may touch the map again (DashMap would deadlock).
    fn acquire(&self, user: UserId) -> Result<(Slot, InflightGuard)> {
        let s = &self.shared;
        if !s.accepting.load(Ordering::SeqCst) {
            return Err(Error::ShuttingDown);
        }
        if let Some(slot) = s.slots.get(&user)
            && slot.addr.connected()
        {
            return self.admit(user, &slot);
        }
        match s.slots.entry(user) {
            Entry::Occupied(mut e) => {
                if e.get().addr.connected() {
                    return self.admit(user, e.get());
                }
                // Died without anyone seeing its mailbox close.
                self.note_death(user);
                self.check_restart_limit(user)?;
                let slot = self.activate(user);
                e.insert(slot.clone());
                self.admit(user, &slot)
            }
            Entry::Vacant(e) => {
                self.check_restart_limit(user)?;
                let slot = self.activate(user);
                let slot = e.insert(slot);
                self.admit(user, &slot)
            }
        }
    }

    fn admit(&self, user: UserId, slot: &Slot) -> Result<(Slot, InflightGuard)> {
        let before = slot.inflight.fetch_add(1, Ordering::SeqCst);
        let guard = InflightGuard(slot.inflight.clone());
        if before >= self.shared.settings.mailbox_capacity {
            metrics::counter!(m::MAILBOX_FULL_REJECTIONS).increment(1);
            return Err(Error::Busy(user));
        }
        Ok((slot.clone(), guard))
    }

    fn activate(&self, user: UserId) -> Slot {
        let s = &self.shared;
        let generation = s.next_generation.fetch_add(1, Ordering::Relaxed);
        let arbiter = &s.arbiters[arbiter_index(user, s.arbiters.len())];
        let shared = self.shared.clone();
        let addr =
            UserActor::start_in_arbiter(arbiter, move |_| UserActor::new(user, generation, shared));
        s.activations.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::ACTOR_ACTIVATIONS).increment(1);
        Slot {
            addr,
            generation,
            inflight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Forgets a dead actor (if it is still the registered one) and counts the death.
    /// A closed mailbox with a message in flight can only mean death: passivation
    /// waits for in-flight messages, so this is not an idle stop. (The dying
    /// actor's address may still look connected for a moment while it unwinds.)
    fn bury(&self, user: UserId, generation: u64) {
        let removed = self
            .shared
            .slots
            .remove_if(&user, |_, slot| slot.generation == generation);
        if removed.is_some() {
            self.note_death(user);
        }
    }

    fn note_death(&self, user: UserId) {
        let s = &self.shared;
        s.restart_count.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(m::ACTOR_RESTARTS).increment(1);
        let now = Instant::now();
        let mut window = s.restarts.entry(user).or_insert(RestartWindow {
            started: now,
            deaths: 0,
        });
        if now.duration_since(window.started) > s.settings.restart_window {
            window.started = now;
            window.deaths = 0;
        }
        window.deaths += 1;
        tracing::error!(%user, deaths = window.deaths, "user actor died; it will be re-activated from the store");
    }

    fn check_restart_limit(&self, user: UserId) -> Result<()> {
        let s = &self.shared;
        let Some(window) = s.restarts.get(&user) else {
            return Ok(());
        };
        if window.started.elapsed() > s.settings.restart_window {
            drop(window);
            s.restarts.remove(&user);
            return Ok(());
        }
        if window.deaths > s.settings.max_restarts {
            metrics::counter!(m::ACTOR_RESTART_LIMIT_HITS).increment(1);
            s.restart_limit_hits.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%user, deaths = window.deaths, "restart limit reached; refusing to re-activate for now");
            return Err(Error::RestartLimit(user));
        }
        Ok(())
    }
}

fn arbiter_index(user: UserId, arbiters: usize) -> usize {
    let mut h = DefaultHasher::new();
    user.hash(&mut h);
    (h.finish() % arbiters.max(1) as u64) as usize
}
