//! The update loop: updates come in by long polling ([`Poller`]) or from the
//! webhook ([`WebhookSink`]) and are admitted to the [`Inbox`], which runs
//! them concurrently across users and in order per user, each through
//! [`router::handle`](super::router::handle).
//!
//! The inbox is bounded: `max_pending_updates` taken and not yet handled in
//! all, `max_pending_per_user` for one user. Past a cap the webhook answers
//! 429 (Telegram redelivers later); the poller fetches no more than there is
//! room for, and waits (fetching nothing) while a user's queue or the whole
//! inbox is full. Updates that carry a payment are stored by the payment
//! intake first and never refused. A user's queue leaves the map as soon as
//! it is empty.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use actix_web::web::Bytes;
use futures_util::FutureExt;
use subvisor_actors::payments::Intake;
use subvisor_actors::workers::Worker;
use subvisor_http::{BotIntakeView, BotState, Refusal, UpdateSink};
use teloxide::payloads::GetUpdatesSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{MessageKind, Update, UpdateKind};
use tokio::runtime::Handle;
use tokio::sync::{Notify, Semaphore, watch};

use super::connect::{self, WebhookTarget};
use super::{ALLOWED_UPDATES, BotContext, router};

/// Long-poll timeout of `getUpdates`, seconds.
const POLL_TIMEOUT: u32 = 25;
/// Most updates one `getUpdates` returns (Telegram's limit).
const POLL_LIMIT: usize = 100;
/// Updates handled at the same time (across users).
const CONCURRENCY: usize = 256;
/// How often idle per-user entries (rate limits, warnings) are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Updates taken and not yet handled, per user, with the caps.
pub(super) struct Inbox {
    queues: Mutex<Queues>,
    max_pending: usize,
    max_per_user: usize,
    /// Woken whenever an update was handled (room for the poller).
    room: Notify,
    refused_user: AtomicU64,
    refused_full: AtomicU64,
    slots: Arc<Semaphore>,
    /// Where users' drain tasks run (the webhook admits on HTTP threads).
    runtime: Handle,
    stopped: watch::Receiver<bool>,
}

#[derive(Default)]
struct Queues {
    users: HashMap<i64, UserQueue>,
    /// Sum of the users' `pending`.
    pending: usize,
}

#[derive(Default)]
struct UserQueue {
    waiting: VecDeque<Update>,
    /// Waiting plus the one being handled.
    pending: usize,
}

impl Inbox {
    /// Must be called inside the tokio runtime the drain tasks should run on.
    pub(super) fn new(
        max_pending: usize,
        max_per_user: usize,
        stopped: watch::Receiver<bool>,
    ) -> Self {
        Self {
            queues: Mutex::new(Queues::default()),
            max_pending: max_pending.max(1),
            max_per_user: max_per_user.max(1),
            room: Notify::new(),
            refused_user: AtomicU64::new(0),
            refused_full: AtomicU64::new(0),
            slots: Arc::new(Semaphore::new(CONCURRENCY)),
            runtime: Handle::current(),
            stopped,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Room left under the global cap.
    fn room_left(&self) -> usize {
        self.max_pending.saturating_sub(self.lock().pending)
    }

    /// Waits until at least one more update may be taken, or the service stops.
    async fn wait_for_room(&self, shutdown: &mut watch::Receiver<bool>) -> usize {
        loop {
            let handled = self.room.notified();
            let room = self.room_left();
            if room > 0 {
                return room;
            }
            tokio::select! {
                _ = handled => {}
                _ = shutdown.wait_for(|stopped| *stopped) => return 0,
            }
        }
    }

    /// The next update of `user`, or `None` (and `user` leaves the map).
    fn next(&self, user: i64) -> Option<Update> {
        let mut q = self.lock();
        let queue = q.users.get_mut(&user)?;
        let next = queue.waiting.pop_front();
        if next.is_none() {
            q.users.remove(&user);
        }
        next
    }

    /// One update of `user` was handled.
    fn done(&self, user: i64) {
        let mut q = self.lock();
        q.pending = q.pending.saturating_sub(1);
        if let Some(queue) = q.users.get_mut(&user) {
            queue.pending = queue.pending.saturating_sub(1);
        }
        metrics::gauge!("subvisor_bot_pending_updates").set(q.pending as f64);
        drop(q);
        self.room.notify_waiters();
    }

    pub(super) fn view(&self) -> BotIntakeView {
        let q = self.lock();
        BotIntakeView {
            pending: q.pending,
            users: q.users.len(),
            largest_user_queue: q.users.values().map(|u| u.pending).max().unwrap_or(0),
            max_pending: self.max_pending,
            max_pending_per_user: self.max_per_user,
            refused_user_full: self.refused_user.load(Ordering::Relaxed),
            refused_full: self.refused_full.load(Ordering::Relaxed),
            ..BotIntakeView::default()
        }
    }

    /// Counts a refusal the webhook answers 429 to.
    fn refuse(&self, why: Refusal) -> Refusal {
        let (counter, reason) = match why {
            Refusal::UserFull => (&self.refused_user, "user_full"),
            Refusal::Full => (&self.refused_full, "full"),
            Refusal::Stopping => return why,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("subvisor_bot_updates_refused_total", "reason" => reason).increment(1);
        why
    }
}

/// Takes `update` into the inbox (or refuses it) and starts its user's
/// drain task when the user had nothing pending. Updates without a sender
/// are taken and ignored.
pub(super) fn admit(ctx: &Arc<BotContext>, update: Update) -> Result<(), Refusal> {
    let inbox = &ctx.inbox;
    if *inbox.stopped.borrow() {
        return Err(Refusal::Stopping);
    }
    let Some(user) = update.from().map(|u| u.id.0 as i64) else {
        return Ok(());
    };
    // Money is never refused: it was stored before it got here, and Telegram
    // sends few of them.
    let exempt = carries_payment(&update);
    let fresh = {
        let mut q = inbox.lock();
        if !exempt {
            let mine = q.users.get(&user).map_or(0, |u| u.pending);
            if mine >= inbox.max_per_user {
                return Err(Refusal::UserFull);
            }
            if q.pending >= inbox.max_pending {
                return Err(Refusal::Full);
            }
        }
        q.pending += 1;
        metrics::gauge!("subvisor_bot_pending_updates").set(q.pending as f64);
        let fresh = !q.users.contains_key(&user);
        let queue = q.users.entry(user).or_default();
        queue.pending += 1;
        queue.waiting.push_back(update);
        fresh
    };
    if fresh {
        inbox.runtime.spawn(drain_user(ctx.clone(), user));
    }
    Ok(())
}

fn carries_payment(update: &Update) -> bool {
    matches!(&update.kind, UpdateKind::Message(m)
        if m.successful_payment().is_some() || matches!(m.kind, MessageKind::RefundedPayment(_)))
}

/// Handles `user`'s updates one after another until their queue is empty.
async fn drain_user(ctx: Arc<BotContext>, user: i64) {
    while let Some(update) = ctx.inbox.next(user) {
        let permit = ctx.inbox.slots.clone().acquire_owned().await;
        let started = std::time::Instant::now();
        // A panic in one update's handler must not end the user's queue
        // (it stays in the map: their later updates would be lost).
        if let Err(panic) = AssertUnwindSafe(router::handle(&ctx, update))
            .catch_unwind()
            .await
        {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(user, panic = %what, "an update handler panicked");
        }
        metrics::histogram!("subvisor_bot_update_seconds").record(started.elapsed().as_secs_f64());
        drop(permit);
        ctx.inbox.done(user);
    }
}

/// Webhook mode: what `POST /telegram/webhook` hands its bodies to.
pub(super) struct WebhookSink(pub Arc<BotContext>);

impl UpdateSink for WebhookSink {
    fn offer(&self, body: Bytes) -> Result<(), Refusal> {
        match serde_json::from_slice::<Update>(&body) {
            Ok(update) => admit(&self.0, update).map_err(|why| self.0.inbox.refuse(why)),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an update that does not parse");
                Ok(())
            }
        }
    }
}

/// Webhook mode: connects (with back-off) and then just stays; updates come
/// through the [`WebhookSink`] meanwhile.
pub(super) struct Connector {
    pub ctx: Arc<BotContext>,
    pub target: WebhookTarget,
    pub connected: bool,
}

impl Worker for Connector {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        if !self.connected {
            self.connected = connect::connect(&self.ctx, Some(&self.target), &mut shutdown).await;
        }
        until_stopped(shutdown).await;
    }
}

/// `getUpdates` long polling, after connecting (with back-off). An update is
/// confirmed (next offset) only after it was admitted — and one that carries
/// a payment only after the payment intake stored it, so a crash cannot lose
/// it. The offset lives in the worker, so a restarted poller goes on where it
/// stopped.
pub(super) struct Poller {
    pub ctx: Arc<BotContext>,
    pub intake: Intake,
    pub offset: i32,
    pub connected: bool,
}

impl Worker for Poller {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        if !self.connected {
            self.connected = connect::connect(&self.ctx, None, &mut shutdown).await;
            if !self.connected {
                return until_stopped(shutdown).await;
            }
        }
        loop {
            // Fetch no more than there is room for; none while full.
            let room = self.ctx.inbox.wait_for_room(&mut shutdown).await;
            if room == 0 {
                return;
            }
            let request = self
                .ctx
                .bot
                .get_updates()
                .offset(self.offset)
                .limit(room.min(POLL_LIMIT) as u8)
                .timeout(POLL_TIMEOUT)
                .allowed_updates(ALLOWED_UPDATES)
                .send();
            let result = tokio::select! {
                r = request => r,
                _ = shutdown.changed() => return,
            };
            match result {
                Ok(updates) => {
                    self.ctx.link.set(BotState::Ok);
                    for update in updates {
                        if let Err(e) = store_payment(&self.intake, &update).await {
                            // Not confirmed: Telegram hands it (and what follows) out again.
                            tracing::warn!(error = %e, update = update.id.0, "cannot store a payment update yet; retrying");
                            tokio::select! {
                                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                                _ = shutdown.changed() => return,
                            }
                            break;
                        }
                        let next = (update.id.0 as i32).saturating_add(1);
                        if !self.admit_when_room(update, &mut shutdown).await {
                            return until_stopped(shutdown).await;
                        }
                        self.offset = next;
                    }
                }
                Err(teloxide::RequestError::RetryAfter(s)) => {
                    tokio::select! {
                        _ = tokio::time::sleep(s.duration()) => {}
                        _ = shutdown.changed() => return,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "getUpdates failed; retrying");
                    self.ctx
                        .link
                        .failed(BotState::Error, format!("getUpdates failed: {e}"));
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }
}

impl Poller {
    /// Admits `update`, waiting while its sender (or everyone) has too many
    /// pending: polling slows down instead of refusing. False once stopping.
    async fn admit_when_room(&self, update: Update, shutdown: &mut watch::Receiver<bool>) -> bool {
        loop {
            let handled = self.ctx.inbox.room.notified();
            match admit(&self.ctx, update.clone()) {
                Ok(()) => return true,
                Err(Refusal::Stopping) => return false,
                Err(_) => {}
            }
            tokio::select! {
                _ = handled => {}
                _ = shutdown.wait_for(|stopped| *stopped) => return false,
            }
        }
    }
}

/// Drops idle per-user entries (rate limits, warnings) now and then.
pub(super) struct Pruner {
    pub ctx: Arc<BotContext>,
}

impl Worker for Pruner {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(PRUNE_EVERY) => self.ctx.limits.prune(),
                _ = shutdown.wait_for(|stopped| *stopped) => return,
            }
        }
    }
}

/// Waits for the stop: returning earlier would be a failure to restart from.
async fn until_stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopped| *stopped).await;
}

/// Stores the payment an update carries (if any) in the payment intake.
async fn store_payment(intake: &Intake, update: &Update) -> subvisor_actors::Result<()> {
    if !carries_payment(update) {
        return Ok(());
    }
    let raw = match serde_json::to_value(update) {
        Ok(raw) => raw,
        Err(e) => {
            // Never seen; the bot still applies it (unstored), and says so.
            tracing::error!(error = %e, update = update.id.0, "a payment update cannot be stored as JSON");
            return Ok(());
        }
    };
    if let Some(event) = subvisor_actors::payments::stars::event_from_update(&raw) {
        intake.record(&event, &raw.to_string()).await?;
    }
    Ok(())
}
