//! Subscriptions and the rule for extending them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::text_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    Expired,
    Revoked,
}

text_enum!(SubscriptionStatus, "subscription status" {
    Active => "active",
    Expired => "expired",
    Revoked => "revoked",
});

/// One user's subscription (a user has at most one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub status: SubscriptionStatus,
    pub expires_at: DateTime<Utc>,
    /// Unguessable token of the subscription URL (`/sub/{token}`).
    #[serde(skip_serializing)]
    pub sub_token: String,
    /// Bumped by every change; guards writes from several instances.
    pub version: i64,
}

impl Subscription {
    /// Active and not past its expiry.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.status == SubscriptionStatus::Active && self.expires_at > now
    }
}

/// A paid or granted extension always starts from `max(now, expires_at)`:
/// days bought while active are added to the end, days bought after expiry start now.
pub fn extended_expiry(
    now: DateTime<Utc>,
    current: Option<DateTime<Utc>>,
    days: u32,
) -> DateTime<Utc> {
    let base = current.map_or(now, |c| c.max(now));
    base + Duration::days(i64::from(days))
}

/// A fresh subscription-URL token: 244 random bits from two v4 UUIDs, as 64 hex chars.
pub fn new_sub_token() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn extension_starts_from_the_later_of_now_and_expiry() {
        let now = Utc.with_ymd_and_hms(2026, 1, 10, 0, 0, 0).unwrap();
        let future = now + Duration::days(5);
        let past = now - Duration::days(5);
        assert_eq!(extended_expiry(now, None, 30), now + Duration::days(30));
        assert_eq!(
            extended_expiry(now, Some(future), 30),
            future + Duration::days(30)
        );
        assert_eq!(
            extended_expiry(now, Some(past), 30),
            now + Duration::days(30)
        );
    }

    #[test]
    fn tokens_are_unique_and_long() {
        let a = new_sub_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_sub_token());
    }
}
