//! Who did something, for the audit log.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::UserId;

/// The author of a change, written to `audit_log.actor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    /// The user themself (bot actions, payments).
    User(UserId),
    /// A bot admin, by Telegram id.
    Admin(i64),
    /// The ops API or CLI.
    Ops,
    /// Scheduler, reconciler and other internal work.
    System,
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(u) => write!(f, "user:{u}"),
            Principal::Admin(a) => write!(f, "admin:{a}"),
            Principal::Ops => f.write_str("ops"),
            Principal::System => f.write_str("system"),
        }
    }
}
