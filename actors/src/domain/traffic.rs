//! Traffic allowances, their periods, packs, and the rules of counting usage
//! from a node's ever-growing counters. Pure: no I/O here.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::{Currency, Money, PlanId, Provider, text_enum};
use crate::{Error, Result};

/// When a subscription's used traffic starts again from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TrafficReset {
    /// Never: the allowance is for the subscription's whole life.
    #[default]
    None,
    /// At 00:00 UTC.
    Day,
    /// At Monday 00:00 UTC.
    Week,
    /// On the 1st at 00:00 UTC.
    Month,
    /// With each renewal (each application of a plan).
    Period,
}

text_enum!(TrafficReset, "traffic reset" {
    None => "none",
    Day => "day",
    Week => "week",
    Month => "month",
    Period => "period",
});

/// A plan's traffic: `bytes` per period, reset by `reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficAllowance {
    pub bytes: u64,
    pub reset: TrafficReset,
}

/// The first reset boundary strictly after `at` (UTC), for the calendar rules;
/// `None` for `none` and `period` (no calendar reset).
pub fn next_reset(reset: TrafficReset, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let midnight = |d: chrono::NaiveDate| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN));
    let today = at.date_naive();
    match reset {
        TrafficReset::None | TrafficReset::Period => None,
        TrafficReset::Day => Some(midnight(today) + Duration::days(1)),
        TrafficReset::Week => {
            let since_monday = i64::from(today.weekday().num_days_from_monday());
            Some(midnight(today) + Duration::days(7 - since_monday))
        }
        TrafficReset::Month => {
            let (y, m) = if today.month() == 12 {
                (today.year() + 1, 1)
            } else {
                (today.year(), today.month() + 1)
            };
            chrono::NaiveDate::from_ymd_opt(y, m, 1).map(midnight)
        }
    }
}

/// Shares of the allowance the user is told about, once each per period.
pub const NOTICE_LEVELS: [u8; 2] = [80, 100];

/// The highest notice level `used` of `allowance` bytes has reached (0, 80 or
/// 100); 0 for an unlimited allowance.
pub fn level(used: u64, allowance: u64) -> u8 {
    if allowance == 0 {
        return 0;
    }
    let used = u128::from(used) * 100;
    let allowance = u128::from(allowance);
    NOTICE_LEVELS
        .iter()
        .rev()
        .copied()
        .find(|l| used >= u128::from(*l) * allowance)
        .unwrap_or(0)
}

/// Bytes to count from a node's counters `now` (uplink, downlink) given the
/// `last` ones read from the same node and key. Counters only grow while the
/// node runs: when either is lower than before, the node restarted and began
/// again at zero, so everything it shows now is new.
pub fn counter_delta(last: Option<(u64, u64)>, now: (u64, u64)) -> (u64, u64) {
    match last {
        Some((up, down)) if now.0 >= up && now.1 >= down => (now.0 - up, now.1 - down),
        _ => now,
    }
}

/// Parses a configured amount of gigabytes (integer or decimal, `1 GB = 10^9
/// bytes`) into bytes.
pub fn gb_to_bytes(gb: f64) -> Option<u64> {
    if !gb.is_finite() || gb <= 0.0 {
        return None;
    }
    let bytes = (gb * 1e9).round();
    // An f64 holds every integer up to 2^53 exactly; more than that is no plan.
    (1.0..9.0e15).contains(&bytes).then_some(bytes as u64)
}

/// Bytes as gigabytes with one decimal ("3.1").
pub fn format_gb(bytes: u64) -> String {
    let tenths = (u128::from(bytes) + 50_000_000) / 100_000_000;
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// A bar of `width` cells, filled in proportion to `used` of `total`.
pub fn usage_bar(used: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        0
    } else {
        let f = u128::from(used.min(total)) * width as u128 / u128::from(total);
        usize::try_from(f).unwrap_or(width)
    };
    let mut bar = "▰".repeat(filled);
    bar.push_str(&"▱".repeat(width - filled));
    bar
}

/// A subscription's traffic as stored: what `/sub`, the bot and ops show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficState {
    /// Bytes per period from the plan (0 = unlimited).
    pub allowance_bytes: u64,
    /// Bytes packs added to the current period.
    pub extra_bytes: u64,
    pub reset: TrafficReset,
    pub period_started_at: Option<DateTime<Utc>>,
    /// The next calendar reset, if any.
    pub period_ends_at: Option<DateTime<Utc>>,
    pub upload_bytes: u64,
    pub download_bytes: u64,
    /// Access is off for traffic since then.
    pub limited_at: Option<DateTime<Utc>>,
}

impl TrafficState {
    /// The whole allowance of this period (0 = unlimited).
    pub fn total(&self) -> u64 {
        if self.allowance_bytes == 0 {
            0
        } else {
            self.allowance_bytes.saturating_add(self.extra_bytes)
        }
    }
    pub fn used(&self) -> u64 {
        self.upload_bytes.saturating_add(self.download_bytes)
    }
    pub fn is_limited_plan(&self) -> bool {
        self.allowance_bytes > 0
    }
    pub fn is_limited(&self) -> bool {
        self.limited_at.is_some()
    }
}

/// A purchasable traffic pack. Prices as for plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficPack {
    /// In the plans' id space (a pack and a plan never share an id).
    pub id: PlanId,
    pub title: String,
    pub bytes: u64,
    pub stars: Option<i64>,
    pub fiat: Option<Money>,
}

impl TrafficPack {
    /// The pack priced and ordered like a plan of no days.
    pub fn as_plan(&self) -> super::Plan {
        super::Plan {
            id: self.id.clone(),
            title: self.title.clone(),
            days: 0,
            stars: self.stars,
            fiat: self.fiat.clone(),
            traffic: Some(TrafficAllowance {
                bytes: self.bytes,
                reset: TrafficReset::None,
            }),
        }
    }

    /// The price charged through `provider`: Stars in `XTR`, everything else in fiat.
    pub fn price_for(&self, provider: Provider) -> Option<Money> {
        match provider {
            Provider::Stars => self.stars.map(|n| Money::new(n, Currency::stars())),
            Provider::Cryptobot | Provider::Nowpayments | Provider::Balance => self.fiat.clone(),
        }
    }
}

/// The validated list of packs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficPacks(Vec<TrafficPack>);

impl TrafficPacks {
    pub fn new(packs: Vec<TrafficPack>) -> Result<Self> {
        for (i, p) in packs.iter().enumerate() {
            if p.title.trim().is_empty() {
                return Err(Error::invalid(
                    "traffic_packs.title",
                    format!("pack {} has an empty title", p.id),
                ));
            }
            if p.bytes == 0 {
                return Err(Error::invalid(
                    "traffic_packs.gb",
                    format!("pack {} brings no traffic", p.id),
                ));
            }
            if p.stars.is_none() && p.fiat.is_none() {
                return Err(Error::invalid(
                    "traffic_packs",
                    format!("pack {} has no price (set `stars` and/or `fiat`)", p.id),
                ));
            }
            if p.stars.is_some_and(|s| s <= 0) || p.fiat.as_ref().is_some_and(|m| m.minor <= 0) {
                return Err(Error::invalid(
                    "traffic_packs",
                    format!("pack {}: prices must be positive", p.id),
                ));
            }
            if packs[..i].iter().any(|o| o.id == p.id) {
                return Err(Error::invalid(
                    "traffic_packs.id",
                    format!("duplicate pack id {}", p.id),
                ));
            }
        }
        Ok(Self(packs))
    }
    pub fn get(&self, id: &PlanId) -> Option<&TrafficPack> {
        self.0.iter().find(|p| &p.id == id)
    }
    pub fn iter(&self) -> impl Iterator<Item = &TrafficPack> {
        self.0.iter()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn day_resets_at_the_next_utc_midnight() {
        let r = TrafficReset::Day;
        assert_eq!(
            next_reset(r, at("2026-12-02T23:59:59Z")),
            Some(at("2026-12-03T00:00:00Z"))
        );
        // Exactly at midnight: the boundary is the next one, never `at` itself.
        assert_eq!(
            next_reset(r, at("2026-12-03T00:00:00Z")),
            Some(at("2026-12-04T00:00:00Z"))
        );
        assert_eq!(
            next_reset(r, at("2026-12-31T12:00:00Z")),
            Some(at("2027-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn week_resets_on_monday() {
        let r = TrafficReset::Week;
        // 2026-12-02 is a Wednesday; 2026-12-07 a Monday.
        assert_eq!(
            next_reset(r, at("2026-12-02T10:00:00Z")),
            Some(at("2026-12-07T00:00:00Z"))
        );
        assert_eq!(
            next_reset(r, at("2026-12-06T23:59:59Z")),
            Some(at("2026-12-07T00:00:00Z"))
        );
        assert_eq!(
            next_reset(r, at("2026-12-07T00:00:00Z")),
            Some(at("2026-12-14T00:00:00Z"))
        );
        assert_eq!(
            next_reset(r, at("2026-12-28T08:00:00Z")),
            Some(at("2027-01-04T00:00:00Z"))
        );
    }

    #[test]
    fn month_resets_on_the_first() {
        let r = TrafficReset::Month;
        assert_eq!(
            next_reset(r, at("2026-12-02T10:00:00Z")),
            Some(at("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            next_reset(r, at("2027-01-31T23:59:59Z")),
            Some(at("2027-02-01T00:00:00Z"))
        );
        assert_eq!(
            next_reset(r, at("2028-02-29T12:00:00Z")),
            Some(at("2028-03-01T00:00:00Z"))
        );
        assert_eq!(
            next_reset(r, at("2027-03-01T00:00:00Z")),
            Some(at("2027-04-01T00:00:00Z"))
        );
    }

    #[test]
    fn none_and_period_have_no_calendar_reset() {
        assert_eq!(next_reset(TrafficReset::None, Utc::now()), None);
        assert_eq!(next_reset(TrafficReset::Period, Utc::now()), None);
    }

    #[test]
    fn delta_counts_growth_and_everything_after_a_restart() {
        assert_eq!(counter_delta(None, (10, 20)), (10, 20));
        assert_eq!(counter_delta(Some((10, 20)), (15, 20)), (5, 0));
        // Restart: counters began again at zero.
        assert_eq!(counter_delta(Some((10, 20)), (3, 25)), (3, 25));
        assert_eq!(counter_delta(Some((10, 20)), (0, 0)), (0, 0));
    }

    #[test]
    fn levels() {
        assert_eq!(level(0, 0), 0);
        assert_eq!(level(u64::MAX, 0), 0, "unlimited never warns");
        assert_eq!(level(79, 100), 0);
        assert_eq!(level(80, 100), 80);
        assert_eq!(level(99, 100), 80);
        assert_eq!(level(100, 100), 100);
        assert_eq!(level(u64::MAX, 1), 100);
    }

    #[test]
    fn gigabytes() {
        assert_eq!(gb_to_bytes(10.0), Some(10_000_000_000));
        assert_eq!(gb_to_bytes(0.0003), Some(300_000));
        assert_eq!(gb_to_bytes(0.0), None);
        assert_eq!(gb_to_bytes(-1.0), None);
        assert_eq!(gb_to_bytes(f64::NAN), None);
        assert_eq!(format_gb(3_140_000_000), "3.1");
        assert_eq!(format_gb(10_000_000_000), "10.0");
        assert_eq!(usage_bar(3, 10, 5), "▰▱▱▱▱");
        assert_eq!(usage_bar(10, 10, 5), "▰▰▰▰▰");
        assert_eq!(usage_bar(20, 10, 5), "▰▰▰▰▰");
        assert_eq!(usage_bar(0, 0, 5), "▱▱▱▱▱");
    }
}
