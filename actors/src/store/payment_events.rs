//! The payment event log the intake stores every event in before processing it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Result;
use crate::domain::OrderId;

/// A payment event as stored by the intake (dedup, recovery and audit): a
/// provider callback, a Telegram payment update, a reconciler finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookEvent {
    pub provider: String,
    pub event_id: String,
    pub order: Option<OrderId>,
    pub received_at: DateTime<Utc>,
    /// `received` until the event is finished, then its outcome.
    pub outcome: String,
    /// The raw body as received.
    pub payload: String,
    /// The provider-neutral event (JSON) the intake processes.
    #[serde(skip)]
    pub event: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A payment event to store before anything else happens to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPaymentEvent {
    pub provider: String,
    pub event_id: String,
    pub order: Option<OrderId>,
    pub received_at: DateTime<Utc>,
    pub payload: String,
    /// The provider-neutral event (JSON).
    pub event: String,
}

/// What [`PaymentEventLog::record_payment_event`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventRecord {
    /// Stored now.
    New,
    /// Stored before and still unfinished (a redelivery while it is processed,
    /// or an event whose processing died): process it (idempotent).
    Unfinished,
    /// Stored and finished before, with this outcome: a plain duplicate.
    Finished(String),
}

/// The payment event log the intake stores every event in before processing it.
#[async_trait]
pub trait PaymentEventLog: Send + Sync {
    /// Stores a payment event once by (provider, event id), before anything
    /// else happens to it.
    async fn record_payment_event(&self, event: &NewPaymentEvent) -> Result<EventRecord>;

    /// Finishes an event with its outcome; `false` if it was finished already
    /// (by a concurrent delivery or the recovery).
    async fn finish_payment_event(
        &self,
        provider: &str,
        event_id: &str,
        outcome: &str,
        now: DateTime<Utc>,
    ) -> Result<bool>;

    /// Counts a failed attempt at an event (it stays unfinished).
    async fn payment_event_failed(&self, provider: &str, event_id: &str, error: &str)
    -> Result<()>;

    /// Unfinished events received at or before `received_before`, oldest first.
    async fn unfinished_payment_events(
        &self,
        received_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<WebhookEvent>>;

    async fn webhook_events_for_order(&self, order: OrderId) -> Result<Vec<WebhookEvent>>;

    async fn webhook_event(&self, provider: &str, event_id: &str) -> Result<Option<WebhookEvent>>;

    /// The most recent events, newest first (ops).
    async fn recent_payment_events(&self, limit: u32) -> Result<Vec<WebhookEvent>>;
}
