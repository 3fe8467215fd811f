//! Subscriptions and the rule for extending them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{NotificationKind, ReminderKind, text_enum};

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

/// What to do with the user's keys when a subscription is extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPlan {
    /// No active key yet: create one and add it to every node.
    Create,
    /// Keys exist but access was off (expired, revoked): add them back.
    Restore,
    /// Access is live already: nothing to provision.
    Keep,
}

/// The rule behind grant, trial, renewal and payment: everything extending a
/// subscription decides, before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub expires_at: DateTime<Utc>,
    /// The subscription was active before: the user gets "extended", not "activated".
    pub was_active: bool,
    pub keys: KeyPlan,
    /// Reminders whose window is already open as the new period starts (a
    /// 2-day trial and "3 days left"): recorded as done, they would only repeat
    /// the "activated" notice.
    pub reminders_done: Vec<ReminderKind>,
}

impl Extension {
    pub fn notification(&self) -> NotificationKind {
        if self.was_active {
            NotificationKind::Extended
        } else {
            NotificationKind::Activated
        }
    }
}

/// Extends `current` (status and expiry, if there is a subscription) by
/// `days` at `now`, for a user who has `active_keys` keys.
pub fn extend(
    now: DateTime<Utc>,
    current: Option<(SubscriptionStatus, DateTime<Utc>)>,
    days: u32,
    active_keys: usize,
) -> Extension {
    let was_active = matches!(current, Some((SubscriptionStatus::Active, _)));
    let expires_at = extended_expiry(now, current.map(|(_, at)| at), days);
    let keys = if active_keys == 0 {
        KeyPlan::Create
    } else if was_active {
        KeyPlan::Keep
    } else {
        KeyPlan::Restore
    };
    let reminders_done = ReminderKind::BOTH
        .into_iter()
        .filter(|r| {
            let (from, until) = r.window(expires_at);
            from <= now && now < until
        })
        .collect();
    Extension {
        expires_at,
        was_active,
        keys,
        reminders_done,
    }
}

/// A subscription after a refunded order's `days` are taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortened {
    pub status: SubscriptionStatus,
    pub expires_at: DateTime<Utc>,
    /// It was active and the refund ends it now: access must be removed.
    pub ends_access: bool,
}

/// Moves the expiry back by `days`; an active subscription whose new expiry
/// is not in the future expires now. Never moves the expiry forward.
pub fn shorten(
    now: DateTime<Utc>,
    status: SubscriptionStatus,
    expires_at: DateTime<Utc>,
    days: u32,
) -> Shortened {
    let shortened = expires_at - Duration::days(i64::from(days));
    match status {
        SubscriptionStatus::Active if shortened <= now => Shortened {
            status: SubscriptionStatus::Expired,
            expires_at: now,
            ends_access: true,
        },
        other => Shortened {
            status: other,
            expires_at: shortened.max(now.min(expires_at)),
            ends_access: false,
        },
    }
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

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0).unwrap()
    }

    #[test]
    fn a_first_extension_creates_a_key_and_activates() {
        let e = extend(at(10), None, 30, 0);
        assert_eq!(e.expires_at, at(10) + Duration::days(30));
        assert!(!e.was_active);
        assert_eq!(e.keys, KeyPlan::Create);
        assert_eq!(e.notification(), NotificationKind::Activated);
        assert!(e.reminders_done.is_empty());
    }

    #[test]
    fn a_renewal_keeps_live_keys_and_a_comeback_restores_them() {
        let live = extend(at(10), Some((SubscriptionStatus::Active, at(12))), 30, 1);
        assert_eq!(live.keys, KeyPlan::Keep);
        assert_eq!(live.notification(), NotificationKind::Extended);
        assert_eq!(live.expires_at, at(12) + Duration::days(30));
        let back = extend(at(10), Some((SubscriptionStatus::Expired, at(2))), 30, 1);
        assert_eq!(back.keys, KeyPlan::Restore);
        assert_eq!(back.notification(), NotificationKind::Activated);
        assert_eq!(back.expires_at, at(10) + Duration::days(30));
        let revoked = extend(at(10), Some((SubscriptionStatus::Revoked, at(2))), 1, 0);
        assert_eq!(revoked.keys, KeyPlan::Create);
    }

    #[test]
    fn a_short_period_marks_the_reminders_already_open() {
        let trial = extend(at(10), None, 2, 0);
        assert!(!trial.reminders_done.is_empty());
        for r in &trial.reminders_done {
            let (from, until) = r.window(trial.expires_at);
            assert!(from <= at(10) && at(10) < until);
        }
    }

    #[test]
    fn a_refund_moves_the_expiry_back_or_ends_access_now() {
        let kept = shorten(at(10), SubscriptionStatus::Active, at(20), 5);
        assert_eq!(
            kept,
            Shortened {
                status: SubscriptionStatus::Active,
                expires_at: at(15),
                ends_access: false
            }
        );
        let ended = shorten(at(10), SubscriptionStatus::Active, at(20), 30);
        assert_eq!(
            ended,
            Shortened {
                status: SubscriptionStatus::Expired,
                expires_at: at(10),
                ends_access: true
            }
        );
        let expired = shorten(at(10), SubscriptionStatus::Expired, at(5), 30);
        assert_eq!(expired.status, SubscriptionStatus::Expired);
        assert_eq!(expired.expires_at, at(5));
        assert!(!expired.ends_access);
    }

    #[test]
    fn only_an_active_unexpired_subscription_is_live() {
        let now = at(10);
        let sub = |status, expires_at| Subscription {
            status,
            expires_at,
            sub_token: String::new(),
            version: 1,
        };
        let second = Duration::seconds(1);
        assert!(sub(SubscriptionStatus::Active, now + second).is_live(now));
        assert!(
            !sub(SubscriptionStatus::Active, now).is_live(now),
            "over at its expiry instant"
        );
        assert!(!sub(SubscriptionStatus::Active, now - second).is_live(now));
        for status in [SubscriptionStatus::Expired, SubscriptionStatus::Revoked] {
            assert!(
                !sub(status, now + Duration::days(1)).is_live(now),
                "{status}"
            );
            assert!(
                !sub(status, now - Duration::days(1)).is_live(now),
                "{status}"
            );
        }
    }

    #[test]
    fn exactly_the_reminders_whose_window_holds_now_are_done() {
        // Windows for an expiry E: 3-day [E-3d, E-1d), 1-day [E-1d, E).
        let done = |days| extend(at(10), None, days, 0).reminders_done;
        assert_eq!(done(0), Vec::<ReminderKind>::new(), "both windows closed");
        assert_eq!(
            done(1),
            vec![ReminderKind::OneDay],
            "the 3-day one closes now"
        );
        assert_eq!(done(2), vec![ReminderKind::ThreeDays]);
        assert_eq!(done(3), vec![ReminderKind::ThreeDays], "opens now");
        assert_eq!(done(4), Vec::<ReminderKind>::new());
        assert_eq!(done(30), Vec::<ReminderKind>::new());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn status() -> impl Strategy<Value = SubscriptionStatus> {
            prop_oneof![
                Just(SubscriptionStatus::Active),
                Just(SubscriptionStatus::Expired),
                Just(SubscriptionStatus::Revoked),
            ]
        }

        proptest! {
            #[test]
            fn extending_never_gives_less_than_the_days_bought(
                st in status(), offset in -400i64..400, days in 0u32..3700, keys in 0usize..3,
            ) {
                let now = at(10);
                let current = now + Duration::days(offset);
                let e = extend(now, Some((st, current)), days, keys);
                prop_assert!(e.expires_at >= now + Duration::days(i64::from(days)));
                prop_assert!(e.expires_at >= current);
                prop_assert_eq!(e.keys == KeyPlan::Create, keys == 0);
                prop_assert_eq!(e.keys == KeyPlan::Keep, keys > 0 && st == SubscriptionStatus::Active);
            }

            #[test]
            fn a_refund_never_extends_and_undoes_a_live_extension(
                st in status(), offset in -400i64..400, days in 0u32..3700,
            ) {
                let now = at(10);
                let current = now + Duration::days(offset);
                let s = shorten(now, st, current, days);
                prop_assert!(s.expires_at <= current.max(now));
                prop_assert_eq!(s.ends_access, st == SubscriptionStatus::Active && s.status == SubscriptionStatus::Expired);
                if st == SubscriptionStatus::Active {
                    // Extending live access by `days` and refunding it gives the old expiry back.
                    let e = extend(now, Some((st, current.max(now + Duration::days(1)))), days, 1);
                    let back = shorten(now, SubscriptionStatus::Active, e.expires_at, days);
                    prop_assert_eq!(back.expires_at, current.max(now + Duration::days(1)));
                    prop_assert!(!back.ends_access);
                }
            }
        }
    }
}
