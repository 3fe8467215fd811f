//! Read-only numbers and lists for operators.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Result;
use crate::domain::{Money, Provider, SubscriptionStatus, UserId};

/// Money taken per day and provider (paid orders, refunds excluded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revenue {
    pub day: chrono::NaiveDate,
    pub provider: Provider,
    pub amount: Money,
}

/// Numbers for the admin `/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub users: i64,
    pub active: i64,
    pub blocked: i64,
    /// Newest day first.
    pub revenue: Vec<Revenue>,
}

/// One row of the admin user list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserListItem {
    pub user: UserId,
    pub username: Option<String>,
    pub display_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub status: Option<SubscriptionStatus>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A page of users, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserPage {
    pub users: Vec<UserListItem>,
    pub total: i64,
}

/// Pending rows in each outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxDepth {
    pub provisioning: i64,
    pub notifications: i64,
    pub alerts: i64,
    /// Payment events stored but not finished yet.
    pub payment_events: i64,
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Read-only numbers and lists for operators.
#[async_trait]
pub trait AdminQueries: Send + Sync {
    /// Users, active subscriptions, blocked users, revenue per day since `since`
    /// (money taken by providers: balance purchases were counted at top-up).
    async fn stats(&self, now: DateTime<Utc>, since: DateTime<Utc>) -> Result<Stats>;

    /// Newest first; `search` matches an exact id or a username substring.
    async fn list_users(&self, search: Option<&str>, offset: u32, limit: u32) -> Result<UserPage>;

    async fn referral_count(&self, user: UserId) -> Result<i64>;

    /// Whether `user` could start the trial now (the menu offers it only
    /// then): not used, not banned and, with `only_new`, no plan paid.
    /// The start itself re-checks inside its write.
    async fn trial_open(&self, user: UserId, only_new: bool) -> Result<bool>;

    async fn recent_audit(&self, user: UserId, limit: u32) -> Result<Vec<AuditEntry>>;

    async fn outbox_depth(&self) -> Result<OutboxDepth>;
}
