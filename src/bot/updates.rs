//! The update loop: updates come in by long polling ([`poll`]) or from the
//! webhook ([`parse_webhook_updates`]), go through one channel to
//! [`dispatch`], which runs them concurrently across users and in order per
//! user, each through [`router::handle`](super::router::handle).

use std::sync::Arc;
use std::time::Duration;

use dashmap::mapref::entry::Entry;
use subvisor_actors::payments::Intake;
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
/// the payment intake stored it, so a crash cannot lose it.
pub(super) async fn poll(
    bot: Bot,
    intake: Intake,
    tx: mpsc::Sender<Update>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut offset: i32 = 0;
    loop {
        let request = bot
            .get_updates()
            .offset(offset)
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
                    if let Err(e) = store_payment(&intake, &update).await {
                        // Not confirmed: Telegram hands it (and what follows) out again.
                        tracing::warn!(error = %e, update = update.id.0, "cannot store a payment update yet; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = shutdown.changed() => return,
                        }
                        break;
                    }
                    offset = (update.id.0 as i32).saturating_add(1);
                    if tx.send(update).await.is_err() {
                        return;
                    }
                }
            }
            Err(teloxide::RequestError::RetryAfter(s)) => {
                tokio::time::sleep(s.duration()).await;
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

pub(super) async fn parse_webhook_updates(
    mut bodies: mpsc::Receiver<actix_web::web::Bytes>,
    tx: mpsc::Sender<Update>,
) {
    while let Some(body) = bodies.recv().await {
        match serde_json::from_slice::<Update>(&body) {
            Ok(update) => {
                if tx.send(update).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(error = %e, "ignoring an update that does not parse"),
        }
    }
}

/// Handles updates concurrently across users, in order per user: each user
/// with updates waiting has one worker draining their queue.
pub(super) async fn dispatch(
    ctx: Arc<BotContext>,
    mut rx: mpsc::Receiver<Update>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    loop {
        let update = tokio::select! {
            u = rx.recv() => match u { Some(u) => u, None => return },
            _ = shutdown.changed() => return,
        };
        let Some(user) = update.from().map(|u| u.id.0 as i64) else {
            continue;
        };
        let mut fresh = None;
        match ctx.queues.entry(user) {
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
            tokio::spawn(drain_user(ctx.clone(), user, queue, slots.clone()));
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
                router::handle(&ctx, update).await;
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
