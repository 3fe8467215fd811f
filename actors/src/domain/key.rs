//! VPN keys: a UUID (the VLESS id) and an email in our namespace on every node.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{UserId, text_enum};

/// Every Xray client we create has an email starting with this prefix; the
/// Reconciler never touches emails outside it (operators keep their own users).
pub const EMAIL_NAMESPACE: &str = "sv.";

/// The Xray email of a user's key number `seq`: `sv.<user>.<seq>`.
pub fn key_email(user: UserId, seq: i64) -> String {
    format!("{EMAIL_NAMESPACE}{user}.{seq}")
}

/// Parses an email of our namespace back into (user, seq); `None` for any
/// other email. Xray compares emails case-insensitively, so we do too.
pub fn parse_key_email(email: &str) -> Option<(UserId, i64)> {
    let lower = email.to_ascii_lowercase();
    let rest = lower.strip_prefix(EMAIL_NAMESPACE)?;
    let (user, seq) = rest.split_once('.')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(user) || !all_digits(seq) {
        return None;
    }
    Some((UserId::new(user.parse().ok()?).ok()?, seq.parse().ok()?))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Active,
    Retired,
}

text_enum!(KeyState, "key state" {
    Active => "active",
    Retired => "retired",
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub uuid: Uuid,
    pub email: String,
    pub seq: i64,
    pub state: KeyState,
    pub created_at: DateTime<Utc>,
    /// Bytes sent and received with this key, summed over all nodes.
    pub upload_bytes: i64,
    pub download_bytes: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_round_trip_and_foreign_ones_are_not_ours() {
        let user = UserId::new(12345).unwrap();
        let email = key_email(user, 3);
        assert_eq!(email, "sv.12345.3");
        assert_eq!(parse_key_email(&email), Some((user, 3)));
        assert_eq!(parse_key_email("SV.12345.3"), Some((user, 3)));
        for foreign in [
            "admin@example.com",
            "sv.",
            "sv.12.x",
            "sv.-1.2",
            "sv.0.1",
            "xsv.1.1",
            "sv.1.2.3",
        ] {
            assert_eq!(parse_key_email(foreign), None, "{foreign}");
        }
    }
}
