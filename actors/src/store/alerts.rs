//! The alert outbox: messages for the admins.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::WriteCtx;
use crate::Result;
use crate::domain::AlertKind;

/// An alert waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAlert {
    pub id: i64,
    pub kind: AlertKind,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// The alert outbox: messages for the admins.
#[async_trait]
pub trait AlertOutbox: Send + Sync {
    /// Queues an alert for the admins that concerns no particular user.
    async fn raise_alert(
        &self,
        ctx: &WriteCtx<'_>,
        kind: AlertKind,
        payload: serde_json::Value,
    ) -> Result<()>;

    /// Alerts for the admins due at `now`, oldest first.
    async fn due_alerts(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PendingAlert>>;

    async fn alert_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()>;

    async fn alert_retry(&self, id: i64, error: &str, next_attempt_at: DateTime<Utc>)
    -> Result<()>;

    async fn alert_failed(&self, id: i64, error: &str, now: DateTime<Utc>) -> Result<()>;
}
