//! The notification outbox (personal messages, reminders, broadcasts) the Notifier drains.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Change, WriteCtx};
use crate::Result;
use crate::domain::{NotificationKind, ReminderKind, UserId};

/// A notification waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingNotification {
    pub id: i64,
    pub user: UserId,
    pub kind: NotificationKind,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub broadcast: Option<i64>,
    /// The recipient's language, for rendering.
    pub language: Option<String>,
    /// The recipient has blocked the bot (queued after they did).
    pub user_blocked_bot: bool,
}

/// A subscription due for a reminder now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueReminder {
    pub user: UserId,
    pub kind: ReminderKind,
    pub expires_at: DateTime<Utc>,
}

/// Where a broadcast stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BroadcastReport {
    pub id: i64,
    pub total: i64,
    pub delivered: i64,
    pub blocked: i64,
    pub failed: i64,
    pub pending: i64,
}

impl BroadcastReport {
    pub fn done(&self) -> bool {
        self.pending == 0
    }
}

/// Why a notification was given up (recorded as `last_error`).
pub const BLOCKED: &str = "blocked";

/// The notification outbox (personal messages, reminders, broadcasts) the Notifier drains.
#[async_trait]
pub trait NotificationOutbox: Send + Sync {
    /// Pending notifications due at `now`: personal ones before broadcasts,
    /// then in commit order, skipping any whose user has an earlier one still
    /// waiting for a retry (a chat's messages never overtake each other).
    async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingNotification>>;

    async fn notification_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()>;

    async fn notification_retry(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()>;

    /// Gives a notification up (`error` = [`BLOCKED`] when the user blocked the bot).
    async fn notification_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<()>;

    /// Active subscriptions inside a reminder's window that did not get it for
    /// this expiry yet.
    async fn due_reminders(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueReminder>>;

    /// Queues the reminder once per (user, kind, expiry), only while the
    /// subscription is still active with that expiry; `applied = false` otherwise.
    async fn remind(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        kind: ReminderKind,
        expires_at: DateTime<Utc>,
    ) -> Result<Change>;

    /// Queues `text` for every user who has not blocked the bot, except
    /// `exclude` (the admins), in one transaction.
    async fn create_broadcast(
        &self,
        ctx: &WriteCtx<'_>,
        text: &str,
        exclude: &[UserId],
    ) -> Result<BroadcastReport>;

    async fn broadcast_report(&self, id: i64) -> Result<Option<BroadcastReport>>;
}
