//! The Notifier: drains the notification outbox to Telegram after commit.
//!
//! Budgets (Telegram's flood limits): a global rate (30 messages/s by default)
//! as a GCRA limiter from `governor` with a burst of one, so no sliding
//! one-second window ever holds more than the budget, and one message per
//! second per chat, measured from when the chat's previous message left.
//! Notifications of one chat go out in commit order; chats run concurrently.
//! A 429 pauses every send for its `retry_after` and the
//! notification is retried; a 403 (the user blocked the bot) marks the user
//! `bot_blocked`, which gives up their pending notifications; other failures
//! back off exponentially and are given up after `max_attempts`. A
//! notification is marked sent right after Telegram accepted it, so it is
//! never sent twice unless the process dies between those two steps.
//!
//! Rendering and the Bot API calls live in the bot front, behind [`Messenger`].

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use futures_util::stream::{self, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::domain::UserId;
use crate::leader::LeaderFlag;
use crate::store::{BLOCKED, PendingAlert, PendingNotification, Store};
use crate::workers::Worker;

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Telegram said 429: wait this long, then try again.
    RetryAfter(Duration),
    /// 403: the user blocked the bot (or deleted their account).
    Blocked,
    /// Anything else; `permanent` failures (a 400 for this message) are not retried.
    Failed {
        permanent: bool,
        error: String,
    },
}

/// Sends one notification to its user (rendering it in their language). Must
/// call [`Throttle::wait`] before every Bot API call it makes.
#[async_trait]
pub trait Messenger: Send + Sync + 'static {
    async fn deliver(&self, notification: &PendingNotification, throttle: &Throttle) -> Delivery;
    /// Sends an alert to the admins (`Delivery::Blocked` counts as failed:
    /// there is no user to mark).
    async fn deliver_alert(&self, alert: &PendingAlert, throttle: &Throttle) -> Delivery;
}

/// How much slower than the limits the Notifier sends (tests derive their
/// tolerances from it).
pub const JITTER_MARGIN: f64 = 1.10;

/// The rate budgets shared by every send of the Notifier.
pub struct Throttle {
    global: DefaultDirectRateLimiter,
    /// When the last message to each chat left (was let through by `wait`).
    last_sent: DashMap<i64, Instant>,
    chat_spacing: Duration,
    paused_until: Mutex<Option<Instant>>,
}

impl Throttle {
    /// `global_per_second` messages per second in total, one per `per_chat` per chat.
    pub fn new(global_per_second: u32, per_chat: Duration) -> Self {
        let per_second = NonZeroU32::new(global_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        // Spacing 10% above 1/rate: a send that leaves late (a busy runtime,
        // the network) lets the limiter release the next one at once, and up to
        // ~100 ms of such jitter must never put rate+1 messages into one second
        // at Telegram's end (3% was not enough on a loaded 2-core machine).
        let spacing = Duration::from_secs(1).mul_f64(JITTER_MARGIN) / per_second.get();
        let chat_spacing = per_chat
            .mul_f64(JITTER_MARGIN)
            .max(Duration::from_millis(1));
        Self {
            global: RateLimiter::direct(
                Quota::with_period(spacing)
                    .unwrap_or_else(|| Quota::per_second(per_second))
                    .allow_burst(NonZeroU32::MIN),
            ),
            last_sent: DashMap::new(),
            chat_spacing,
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until one more message to `chat` fits every budget. A chat's
    /// spacing is measured from when its previous message left (after its
    /// wait for the global budget), so time spent queueing for the global
    /// budget never shortens the gap Telegram sees.
    pub async fn wait(&self, chat: i64) {
        loop {
            // Wait out a pause and the chat's spacing before taking a slot of
            // the global budget (a slot taken and then not used is lost)…
            let last = self.last_sent.get(&chat).map(|last| *last);
            if let Some(until) = self.held_until(last, Instant::now()) {
                tokio::time::sleep_until(until).await;
                continue;
            }
            self.global.until_ready().await;
            // …and check both again when leaving: a 429 may have paused every
            // send, or another message to this chat may have left, meanwhile.
            // Checked and recorded under the chat's entry lock.
            let now = Instant::now();
            let entry = self.last_sent.entry(chat);
            let last = match &entry {
                Entry::Occupied(last) => Some(*last.get()),
                Entry::Vacant(_) => None,
            };
            if self.held_until(last, now).is_none() {
                entry.insert(now);
                return;
            }
        }
    }

    /// When a message to a chat whose previous message left at `last` may
    /// leave, if that is after `now`: the end of a pause, or of the spacing.
    fn held_until(&self, last: Option<Instant>, now: Instant) -> Option<Instant> {
        let paused = *self.paused();
        let chat_ready = last.map(|last| last + self.chat_spacing);
        paused.max(chat_ready).filter(|until| *until > now)
    }

    fn paused(&self) -> MutexGuard<'_, Option<Instant>> {
        // Nothing panics while holding it; a poisoned value is still whole.
        self.paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets chats whose last message left longer than a spacing ago (they
    /// may send at once anyway).
    pub fn forget_idle_chats(&self) {
        let now = Instant::now();
        self.last_sent
            .retain(|_, last| *last + self.chat_spacing > now);
    }

    /// Telegram asked us to slow down: no send at all for `pause`.
    pub async fn pause(&self, pause: Duration) {
        let until = Instant::now() + pause;
        let mut paused = self.paused();
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }
}

/// Notifier settings (`[notifier]` in the config).
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    pub global_per_second: u32,
    pub per_chat_interval: Duration,
    /// How often the outbox is polled when nothing wakes the Notifier.
    pub poll_interval: Duration,
    pub batch: u32,
    /// Concurrent chats.
    pub concurrency: usize,
    /// Attempts before a notification is given up (429s do not count).
    pub max_attempts: i32,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        Self {
            global_per_second: 30,
            per_chat_interval: Duration::from_secs(1),
            poll_interval: Duration::from_secs(1),
            batch: 500,
            concurrency: 64,
            max_attempts: 8,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub sent: usize,
    pub retried: usize,
    pub blocked: usize,
    pub failed: usize,
}

pub struct Notifier {
    store: Arc<dyn Store>,
    messenger: Arc<dyn Messenger>,
    clock: Arc<dyn Clock>,
    throttle: Arc<Throttle>,
    settings: NotifierSettings,
    leader: LeaderFlag,
    wake: Arc<Notify>,
}

impl Notifier {
    pub fn new(
        store: Arc<dyn Store>,
        messenger: Arc<dyn Messenger>,
        clock: Arc<dyn Clock>,
        settings: NotifierSettings,
    ) -> Self {
        Self {
            throttle: Arc::new(Throttle::new(
                settings.global_per_second,
                settings.per_chat_interval,
            )),
            store,
            messenger,
            clock,
            settings,
            leader: LeaderFlag::always(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Only send while this instance leads the role the flag stands for.
    pub fn with_leader(mut self, leader: LeaderFlag) -> Self {
        self.leader = leader;
        self
    }

    /// A handle that makes the Notifier poll now (after a commit that queued something).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Sends what is due now: chats concurrently, each chat in commit order.
    #[tracing::instrument(name = "notifier_pass", level = "debug", skip_all)]
    pub async fn pass(&self) -> crate::Result<PassReport> {
        let due = self
            .store
            .due_notifications(self.clock.now(), self.settings.batch)
            .await?;
        let mut chats: Vec<(UserId, Vec<PendingNotification>)> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for n in due {
            let slot = *index.entry(n.user).or_insert_with(|| {
                chats.push((n.user, Vec::new()));
                chats.len() - 1
            });
            chats[slot].1.push(n);
        }
        // Forget per-chat budgets nobody has used for a while.
        self.throttle.forget_idle_chats();
        let mut reports: Vec<PassReport> = stream::iter(chats)
            .map(|(_, queue)| self.drain_chat(queue))
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        reports.push(self.drain_alerts().await?);
        Ok(reports
            .into_iter()
            .fold(PassReport::default(), |a, b| PassReport {
                sent: a.sent + b.sent,
                retried: a.retried + b.retried,
                blocked: a.blocked + b.blocked,
                failed: a.failed + b.failed,
            }))
    }

    /// Sends the admins' alerts due now, in order; stops at the first that must wait.
    async fn drain_alerts(&self) -> crate::Result<PassReport> {
        let mut report = PassReport::default();
        for alert in self.store.due_alerts(self.clock.now(), 50).await? {
            let outcome = self.messenger.deliver_alert(&alert, &self.throttle).await;
            let now = self.clock.now();
            let label = match &outcome {
                Delivery::Sent => {
                    report.sent += 1;
                    self.log_store_error(self.store.alert_sent(alert.id, now).await);
                    "sent"
                }
                Delivery::RetryAfter(pause) => {
                    report.retried += 1;
                    self.throttle.pause(*pause).await;
                    let at = now + chrono::Duration::from_std(*pause).unwrap_or_default();
                    self.log_store_error(self.store.alert_retry(alert.id, "429", at).await);
                    metrics::counter!(crate::metrics::ALERTS, "outcome" => "retry_after")
                        .increment(1);
                    return Ok(report);
                }
                Delivery::Blocked | Delivery::Failed { .. } => {
                    let (permanent, error) = match &outcome {
                        Delivery::Failed { permanent, error } => (*permanent, error.clone()),
                        _ => (false, "the alerts chat refused the bot".to_owned()),
                    };
                    if permanent || alert.attempts + 1 >= self.settings.max_attempts {
                        report.failed += 1;
                        tracing::error!(id = alert.id, %error, "admin alert given up");
                        self.log_store_error(self.store.alert_failed(alert.id, &error, now).await);
                        "failed"
                    } else {
                        report.retried += 1;
                        let backoff = 2i64.saturating_pow(alert.attempts.clamp(0, 12) as u32);
                        let at = now + chrono::Duration::seconds(backoff);
                        self.log_store_error(self.store.alert_retry(alert.id, &error, at).await);
                        metrics::counter!(crate::metrics::ALERTS, "outcome" => "retry")
                            .increment(1);
                        return Ok(report);
                    }
                }
            };
            metrics::counter!(crate::metrics::ALERTS, "outcome" => label).increment(1);
        }
        Ok(report)
    }

    async fn drain_chat(&self, queue: Vec<PendingNotification>) -> PassReport {
        let mut report = PassReport::default();
        for n in queue {
            let outcome = if n.user_blocked_bot {
                // Queued after the user blocked us: nothing to try.
                let r = self
                    .store
                    .notification_failed(n.id, BLOCKED, self.clock.now())
                    .await;
                self.log_store_error(r);
                report.blocked += 1;
                continue;
            } else {
                self.messenger.deliver(&n, &self.throttle).await
            };
            let now = self.clock.now();
            let recorded = match &outcome {
                Delivery::Sent => {
                    report.sent += 1;
                    metrics::counter!(crate::metrics::NOTIFICATIONS, "outcome" => "sent")
                        .increment(1);
                    self.store.notification_sent(n.id, now).await
                }
                Delivery::RetryAfter(pause) => {
                    report.retried += 1;
                    metrics::counter!(crate::metrics::NOTIFICATIONS, "outcome" => "retry_after")
                        .increment(1);
                    tracing::info!(retry_after = ?pause, "Telegram asked to slow down");
                    self.throttle.pause(*pause).await;
                    let at = now + chrono::Duration::from_std(*pause).unwrap_or_default();
                    // Later ones of this chat must not overtake it: stop here.
                    let r = self.store.notification_retry(n.id, "429", at).await;
                    self.log_store_error(r);
                    return report;
                }
                Delivery::Blocked => {
                    report.blocked += 1;
                    metrics::counter!(crate::metrics::NOTIFICATIONS, "outcome" => "blocked")
                        .increment(1);
                    tracing::info!(user = %n.user, "user blocked the bot; their notifications stop");
                    let r = self.store.set_bot_blocked(n.user, true, now).await;
                    self.log_store_error(r);
                    return report;
                }
                Delivery::Failed { permanent, error } => {
                    let give_up = *permanent || n.attempts + 1 >= self.settings.max_attempts;
                    if give_up {
                        report.failed += 1;
                        metrics::counter!(crate::metrics::NOTIFICATIONS, "outcome" => "failed")
                            .increment(1);
                        tracing::warn!(user = %n.user, id = n.id, %error, "notification given up");
                        self.store.notification_failed(n.id, error, now).await
                    } else {
                        report.retried += 1;
                        metrics::counter!(crate::metrics::NOTIFICATIONS, "outcome" => "retry")
                            .increment(1);
                        let backoff = 2i64.saturating_pow(n.attempts.clamp(0, 12) as u32);
                        let at = now + chrono::Duration::seconds(backoff);
                        let r = self.store.notification_retry(n.id, error, at).await;
                        self.log_store_error(r);
                        return report;
                    }
                }
            };
            self.log_store_error(recorded);
        }
        report
    }

    fn log_store_error(&self, result: crate::Result<()>) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record a notification outcome");
        }
    }
}

impl Worker for Notifier {
    /// Runs passes until `shutdown` becomes true.
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let mut busy = false;
            if self.leader.is_leader() {
                match self.pass().await {
                    Ok(report) => busy = report != PassReport::default(),
                    Err(e) => tracing::warn!(error = %e, "notifier pass failed"),
                }
            }
            if *shutdown.borrow() {
                return;
            }
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(self.settings.poll_interval) => {}
                    _ = self.wake.notified() => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs `wait(chat)` (bounded: a broken throttle must fail, not hang)
    /// and returns how long it took. Upper bounds below are a whole second or
    /// more away from what they tell apart, so a loaded machine cannot break them.
    async fn timed_wait(throttle: &Throttle, chat: i64) -> Duration {
        let start = Instant::now();
        tokio::time::timeout(Duration::from_secs(30), throttle.wait(chat))
            .await
            .expect("wait() returns");
        start.elapsed()
    }

    #[tokio::test]
    async fn one_chat_waits_for_its_spacing_others_do_not() {
        // 2 s per chat (+10% margin); the global budget is no constraint.
        let throttle = Throttle::new(1000, 2000 * MS);
        assert!(
            timed_wait(&throttle, 1).await < 1000 * MS,
            "a fresh chat goes at once"
        );
        assert!(
            timed_wait(&throttle, 2).await < 1000 * MS,
            "another chat too"
        );
        assert!(
            timed_wait(&throttle, 1).await >= 2000 * MS,
            "the same chat waits for its spacing"
        );
    }

    #[tokio::test]
    async fn a_chat_is_spaced_from_when_its_message_left() {
        // Two sends a second, one per chat per second (each +10%).
        let throttle = Throttle::new(2, 1000 * MS);
        let start = Instant::now();
        throttle.wait(2).await;
        // Chat 1 queues ~550 ms for the global budget after chat 2's send…
        throttle.wait(1).await;
        let left = start.elapsed();
        assert!(left >= 500 * MS, "the global budget held it: {left:?}");
        // …so its next message may leave 1.1 s after that, not 1.1 s after
        // it started queueing.
        throttle.wait(1).await;
        let gap = start.elapsed() - left;
        assert!(gap >= 1100 * MS, "spaced from when it left: {gap:?}");
    }

    #[tokio::test]
    async fn two_messages_to_one_chat_queued_together_are_spaced() {
        // Two sends a second: chat 2 takes the first slot, then both
        // messages to chat 1 queue for the global budget at once.
        let throttle = Throttle::new(2, 1000 * MS);
        let start = Instant::now();
        throttle.wait(2).await;
        let (first, second) = tokio::join!(
            async {
                throttle.wait(1).await;
                start.elapsed()
            },
            async {
                throttle.wait(1).await;
                start.elapsed()
            }
        );
        let gap = first.max(second) - first.min(second);
        assert!(gap >= 1100 * MS, "the second waited for the chat: {gap:?}");
    }

    #[tokio::test]
    async fn a_pause_that_comes_while_queueing_holds_the_send() {
        // Two sends a second: chat 1 queues ~550 ms behind chat 2; a 429
        // pauses everything for 1 s meanwhile.
        let throttle = Throttle::new(2, 1000 * MS);
        let start = Instant::now();
        throttle.wait(2).await;
        let (left, ()) = tokio::join!(
            async {
                throttle.wait(1).await;
                start.elapsed()
            },
            async {
                tokio::time::sleep(100 * MS).await;
                throttle.pause(1000 * MS).await;
            }
        );
        assert!(left >= 1100 * MS, "held until the pause ended: {left:?}");
    }

    #[tokio::test]
    async fn a_pause_holds_the_next_send_until_it_ends() {
        // A per-chat spacing of 11 s: a send that took its chat's budget
        // during the pause and queued again would be held that long.
        let throttle = Throttle::new(1000, Duration::from_secs(10));
        throttle.pause(1000 * MS).await;
        let took = timed_wait(&throttle, 1).await;
        assert!(took >= 900 * MS, "held for the pause: {took:?}");
        assert!(took < 5000 * MS, "released when the pause ends: {took:?}");
    }

    #[tokio::test]
    async fn an_expired_pause_holds_nothing() {
        let throttle = Throttle::new(1000, Duration::from_secs(1));
        throttle.pause(10 * MS).await;
        tokio::time::sleep(50 * MS).await;
        let took = timed_wait(&throttle, 1).await;
        assert!(took < 1000 * MS, "{took:?}");
    }

    #[tokio::test]
    async fn a_longer_pause_extends_and_a_shorter_one_does_not_shorten() {
        let longer = Throttle::new(1000, Duration::from_secs(1));
        longer.pause(50 * MS).await;
        longer.pause(1000 * MS).await;
        let took = timed_wait(&longer, 1).await;
        assert!(took >= 900 * MS, "extended: {took:?}");

        let shorter = Throttle::new(1000, Duration::from_secs(1));
        shorter.pause(1000 * MS).await;
        shorter.pause(50 * MS).await;
        let took = timed_wait(&shorter, 1).await;
        assert!(took >= 900 * MS, "not shortened: {took:?}");
    }

    #[tokio::test]
    async fn idle_chats_are_forgotten_busy_ones_kept() {
        let throttle = Throttle::new(1000, 300 * MS);
        throttle.wait(1).await;
        tokio::time::sleep(400 * MS).await;
        throttle.wait(2).await;
        throttle.forget_idle_chats();
        assert!(
            !throttle.last_sent.contains_key(&1),
            "idle past its spacing"
        );
        assert!(throttle.last_sent.contains_key(&2), "just sent");
    }
}
