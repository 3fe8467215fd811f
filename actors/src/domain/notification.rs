//! Kinds of messages queued for the user in the notification outbox.

use serde::{Deserialize, Serialize};

use super::text_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Access started (first grant, trial, or re-activation after expiry/revoke).
    Activated,
    /// An active subscription got more days.
    Extended,
    Expired,
    Revoked,
    Reissued,
}

text_enum!(NotificationKind, "notification kind" {
    Activated => "activated",
    Extended => "extended",
    Expired => "expired",
    Revoked => "revoked",
    Reissued => "reissued",
});
