//! Kinds of messages queued for the user in the notification outbox, and the
//! reminders the Scheduler sends before and at expiry.

use chrono::{DateTime, Duration, Utc};
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
    /// Three days left.
    RemindThreeDays,
    /// One day left.
    RemindOneDay,
    /// A paid order was refunded.
    Refunded,
    /// The balance was topped up.
    TopUp,
    /// A referred user paid: the referrer got the bonus.
    ReferralBonus,
    /// A payment arrived but does not match its order (amount, partial): support looks.
    PaymentFlagged,
    /// An admin's message to everyone.
    Broadcast,
    /// A payment the order could not take was credited to the balance.
    PaymentCredited,
    /// A payment the order could not take was sent back (Stars).
    PaymentReturned,
    /// The subscription was renewed from the balance (auto-renewal).
    AutoRenewed,
    /// Auto-renewal could not pay this period from the balance (once per period).
    AutoRenewFailed,
    /// 80 % of the period's traffic used.
    TrafficLow,
    /// The period's traffic is used up: access pauses.
    TrafficExhausted,
    /// A traffic pack was applied.
    TrafficAdded,
    /// Access is back after a traffic limit (new period, pack, renewal, reset).
    TrafficRestored,
    /// A paid gift order yielded its gift: the buyer gets the link.
    GiftReady,
    /// Someone activated the buyer's gift.
    GiftRedeemed,
}

text_enum!(NotificationKind, "notification kind" {
    Activated => "activated",
    Extended => "extended",
    Expired => "expired",
    Revoked => "revoked",
    Reissued => "reissued",
    RemindThreeDays => "remind_3d",
    RemindOneDay => "remind_1d",
    Refunded => "refunded",
    TopUp => "topup",
    ReferralBonus => "referral_bonus",
    PaymentFlagged => "payment_flagged",
    Broadcast => "broadcast",
    PaymentCredited => "payment_credited",
    PaymentReturned => "payment_returned",
    AutoRenewed => "auto_renewed",
    AutoRenewFailed => "auto_renew_failed",
    TrafficLow => "traffic_low",
    TrafficExhausted => "traffic_exhausted",
    TrafficAdded => "traffic_added",
    TrafficRestored => "traffic_restored",
    GiftReady => "gift_ready",
    GiftRedeemed => "gift_redeemed",
});

/// A reminder before expiry, sent once per subscription period (a renewal
/// moves the expiry and so starts a new period). The one at expiry is the
/// `expired` notification itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    ThreeDays,
    OneDay,
}

text_enum!(ReminderKind, "reminder kind" {
    ThreeDays => "3d",
    OneDay => "1d",
});

impl ReminderKind {
    pub const BOTH: [ReminderKind; 2] = [ReminderKind::ThreeDays, ReminderKind::OneDay];

    /// How long before expiry this reminder is due.
    pub fn lead(self) -> Duration {
        match self {
            ReminderKind::ThreeDays => Duration::days(3),
            ReminderKind::OneDay => Duration::days(1),
        }
    }

    /// The window `[from, until)` in which this reminder makes sense for a
    /// subscription expiring at `expires_at`: the 3-day one stops once the
    /// 1-day one is due, so a short trial gets only the reminder that fits.
    pub fn window(self, expires_at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            ReminderKind::ThreeDays => (
                expires_at - ReminderKind::ThreeDays.lead(),
                expires_at - ReminderKind::OneDay.lead(),
            ),
            ReminderKind::OneDay => (expires_at - ReminderKind::OneDay.lead(), expires_at),
        }
    }

    /// The expiries for which this reminder is due at `now`: `(low, high]`
    /// (the same windows as [`window`](Self::window), seen from `now`).
    pub fn due_expiries(self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        match self {
            ReminderKind::ThreeDays => (
                now + ReminderKind::OneDay.lead(),
                now + ReminderKind::ThreeDays.lead(),
            ),
            ReminderKind::OneDay => (now, now + ReminderKind::OneDay.lead()),
        }
    }

    pub fn notification(self) -> NotificationKind {
        match self {
            ReminderKind::ThreeDays => NotificationKind::RemindThreeDays,
            ReminderKind::OneDay => NotificationKind::RemindOneDay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_windows_do_not_overlap() {
        let exp = DateTime::from_timestamp(2_000_000_000, 0).unwrap_or_default();
        let (a, b) = ReminderKind::ThreeDays.window(exp);
        let (c, d) = ReminderKind::OneDay.window(exp);
        assert_eq!(b, c);
        assert!(a < b && c < d && d == exp);
        for kind in ReminderKind::BOTH {
            assert_eq!(kind.as_str().parse::<ReminderKind>().ok(), Some(kind));
            // Seen from `now` at the window's edges: due from `from`, not at `until`.
            let (from, until) = kind.window(exp);
            let (low, high) = kind.due_expiries(from);
            assert!(low < exp && exp <= high);
            let (low, _) = kind.due_expiries(until);
            assert!(exp <= low);
        }
    }
}
