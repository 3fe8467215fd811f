//! Users, their subscriptions and keys: the writes behind grant, trial, renewal, revoke, reissue
//! and expiry.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Change, UserSnapshot, WriteCtx};
use crate::Result;
use crate::domain::UserId;

/// What the bot learns about a user on contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub username: Option<String>,
    /// Telegram's first and last name, as last seen.
    pub display_name: Option<String>,
    /// Telegram's `language_code`, stored at first contact only (the user's own
    /// choice later wins).
    pub language_code: Option<String>,
    /// From a referral deep link; recorded only for a brand-new user and never
    /// the user themself.
    pub referrer: Option<UserId>,
}

/// A subscription whose expiry has passed while still `active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueExpiry {
    pub user: UserId,
    pub expires_at: DateTime<Utc>,
}

/// Users, their subscriptions and keys: the writes behind grant, trial, renewal, revoke, reissue
/// and expiry.
#[async_trait]
pub trait Subscriptions: Send + Sync {
    async fn user(&self, user: UserId) -> Result<Option<UserSnapshot>>;

    /// The user whose subscription URL token this is.
    async fn user_by_sub_token(&self, token: &str) -> Result<Option<UserSnapshot>>;

    /// Active subscriptions with `expires_at <= now`, oldest first.
    async fn due_expirations(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DueExpiry>>;

    /// Extends (or starts) the subscription by `days` from `max(now, expires_at)`.
    async fn grant_days(&self, ctx: &WriteCtx<'_>, user: UserId, days: u32) -> Result<Change>;

    /// [`grant_days`](Self::grant_days) once per `key`: the key is kept in
    /// the same transaction; `applied = false` (nothing changed) when it was
    /// used before.
    async fn grant_days_once(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        days: u32,
        key: &str,
    ) -> Result<Change>;

    /// Takes access away now; `applied = false` if already revoked.
    async fn revoke(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change>;

    /// New key (added first), old key retired (removed after); same subscription URL.
    async fn reissue(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change>;

    /// Expires the subscription only if `status = 'active' AND expires_at <= now`
    /// (checked in the same statement); `applied = false` otherwise.
    async fn expire(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change>;

    /// Grants `days` once per user; refused for a banned user and, with
    /// `only_new`, for one who ever paid for a plan.
    async fn start_trial(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        days: u32,
        only_new: bool,
    ) -> Result<Change>;

    /// Bans (`true`) or unbans the user: a banned user can neither create an
    /// order nor start the trial. Audited; `applied = false` if unchanged.
    async fn set_banned(&self, ctx: &WriteCtx<'_>, user: UserId, banned: bool) -> Result<Change>;

    /// A new subscription URL token; the old URL stops working.
    async fn rotate_sub_token(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<Change>;

    /// Creates the user on first contact (with `language_code` and `referrer`),
    /// refreshes the username after; returns whether the user is new.
    async fn touch_user(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        profile: &Profile,
    ) -> Result<(bool, UserSnapshot)>;

    async fn set_language(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        language: &str,
    ) -> Result<Change>;

    /// Marks (or clears) that the user blocked the bot; their pending
    /// notifications are given up when marked.
    async fn set_bot_blocked(&self, user: UserId, blocked: bool, now: DateTime<Utc>) -> Result<()>;
}
