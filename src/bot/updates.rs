//! The update loop: updates come in by long polling ([`poll`]) or from the
//! webhook ([`parse_webhook_updates`]), go through one channel to
//! [`dispatch`], which runs them concurrently across users and in order per
//! user, each through [`router::handle`](super::router::handle).

use std::sync::Arc;
use std::time::Duration;

use std::panic::AssertUnwindSafe;

use dashmap::mapref::entry::Entry;
use futures_util::FutureExt;
use subvisor_actors::payments::Intake;
use subvisor_actors::workers::Worker;
use teloxide::Bot;
use teloxide::payloads::GetUpdatesSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::Update;
use tokio::sync::{Semaphore, mpsc, watch};

use super::{ALLOWED_UPDATES, BotContext, router};

/// Long-poll timeout of `getUpdates`, seconds.
const POLL_TIMEOUT: u32 = 25;
/// Updates handled at the same time (across users).
const CONCURRENCY: usize = 256;

/// `getUpdates` long polling; an update is confirmed (next offset) only after
/// it was handed to the dispatcher — and one that carries a payment only after
/// the payment intake stored it, so a crash cannot lose it. The offset lives
/// in the worker, so a restarted poller goes on where it stopped.
pub(super) struct Poller {
    pub bot: Bot,
    pub intake: Intake,
    pub tx: mpsc::Sender<Update>,
    pub offset: i32,
}

impl Worker for Poller {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let request = self
                .bot
                .get_updates()
                .offset(self.offset)
                .timeout(POLL_TIMEOUT)
                .allowed_updates(ALLOWED_UPDATES)
                .send();
            let result = tokio::select! {
                r = request => r,
                _ = shutdown.changed() => return,
            };
            match result {
                Ok(updates) => {
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
                        self.offset = (update.id.0 as i32).saturating_add(1);
                        if self.tx.send(update).await.is_err() {
                            return until_stopped(shutdown).await;
                        }
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
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }
}

/// Waits for the stop: the channel at the other end closed because the
/// service is stopping, which is no failure to restart from.
async fn until_stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopped| *stopped).await;
}

/// Stores the payment an update carries (if any) in the payment intake.
async fn store_payment(intake: &Intake, update: &Update) -> subvisor_actors::Result<()> {
    use teloxide::types::{MessageKind, UpdateKind};
    let pays = matches!(&update.kind, UpdateKind::Message(m)
        if m.successful_payment().is_some() || matches!(m.kind, MessageKind::RefundedPayment(_)));
    if !pays {
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

/// Webhook mode: parses the bodies the public listener received.
pub(super) struct WebhookUpdates {
    pub bodies: mpsc::Receiver<actix_web::web::Bytes>,
    pub tx: mpsc::Sender<Update>,
}

impl Worker for WebhookUpdates {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let body = tokio::select! {
                body = self.bodies.recv() => body,
                _ = shutdown.changed() => return,
            };
            let Some(body) = body else {
                return until_stopped(shutdown).await;
            };
            match serde_json::from_slice::<Update>(&body) {
                Ok(update) => {
                    if self.tx.send(update).await.is_err() {
                        return until_stopped(shutdown).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "ignoring an update that does not parse"),
            }
        }
    }
}

/// Handles updates concurrently across users, in order per user: each user
/// with updates waiting has one worker draining their queue.
pub(super) struct Dispatcher {
    pub ctx: Arc<BotContext>,
    pub rx: mpsc::Receiver<Update>,
    pub slots: Arc<Semaphore>,
}

impl Dispatcher {
    pub fn new(ctx: Arc<BotContext>, rx: mpsc::Receiver<Update>) -> Self {
        Self {
            ctx,
            rx,
            slots: Arc::new(Semaphore::new(CONCURRENCY)),
        }
    }
}

impl Worker for Dispatcher {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let update = tokio::select! {
                u = self.rx.recv() => match u {
                    Some(u) => u,
                    None => return until_stopped(shutdown).await,
                },
                _ = shutdown.changed() => return,
            };
            let Some(user) = update.from().map(|u| u.id.0 as i64) else {
                continue;
            };
            let mut fresh = None;
            match self.ctx.queues.entry(user) {
                Entry::Occupied(queue) => {
                    let _ = queue.get().send(update);
                }
                Entry::Vacant(slot) => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let _ = tx.send(update);
                    slot.insert(tx);
                    fresh = Some(rx);
                }
            }
            if let Some(queue) = fresh {
                tokio::spawn(drain_user(
                    self.ctx.clone(),
                    user,
                    queue,
                    self.slots.clone(),
                ));
            }
        }
    }
}

async fn drain_user(
    ctx: Arc<BotContext>,
    user: i64,
    mut queue: mpsc::UnboundedReceiver<Update>,
    slots: Arc<Semaphore>,
) {
    loop {
        match queue.try_recv() {
            Ok(update) => {
                let Ok(_permit) = slots.acquire().await else {
                    return;
                };
                let started = std::time::Instant::now();
                // A panic in one update's handler must not end the user's
                // queue (it stays in the map: their later updates would be lost).
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
                metrics::histogram!("subvisor_bot_update_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
            Err(_) => {
                // Leave only if nothing arrived meanwhile (checked under the map's lock).
                if ctx
                    .queues
                    .remove_if(&user, |_, _| queue.is_empty())
                    .is_some()
                {
                    return;
                }
            }
        }
    }
}
