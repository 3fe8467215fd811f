//! Devices: the clients (by `x-hwid`) that fetch a user's subscription, and
//! the rule that admits them under the subscription's device limit.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Error, Result};

/// Longest hardware id accepted (clients send UUIDs or hex digests, ≤ 64).
pub const MAX_HWID_LEN: usize = 128;
/// Longest OS / model / app string kept (longer ones are cut, not refused).
pub const MAX_DEVICE_FIELD_LEN: usize = 128;
/// Devices kept per user when the subscription has no limit: past this a new
/// device is served but not recorded (a bound on what a client can make us store).
pub const UNLIMITED_DEVICES_TRACKED: u32 = 100;

/// A client's hardware id (`x-hwid`), as given: 1–128 printable ASCII
/// characters without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Hwid(String);

impl Hwid {
    pub fn new(raw: &str) -> Result<Self> {
        if raw.is_empty() || raw.len() > MAX_HWID_LEN {
            return Err(Error::invalid("x-hwid", "must be 1-128 characters"));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid("x-hwid", "must be printable ASCII"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Keeps the printable characters of a client-sent description, cut to
/// [`MAX_DEVICE_FIELD_LEN`] bytes; `None` when nothing is left.
pub fn device_field(raw: &str) -> Option<String> {
    let mut out = String::new();
    for c in raw.trim().chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_DEVICE_FIELD_LEN {
            break;
        }
        out.push(c);
    }
    (!out.is_empty()).then_some(out)
}

/// What a client tells about itself when it fetches the subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub hwid: Hwid,
    /// `x-device-os` (with `x-ver-os` when given), e.g. "Android 14".
    pub os: Option<String>,
    /// `x-device-model`, e.g. "Pixel 8".
    pub model: Option<String>,
    /// The client app (`User-Agent`), e.g. "Happ/3.5.0".
    pub app: Option<String>,
}

/// One registered device of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Our id (what the bot's buttons and the ops API name), not the hwid.
    pub id: i64,
    pub hwid: Hwid,
    pub os: Option<String>,
    pub model: Option<String>,
    pub app: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// A user's devices and the limit they are held to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceList {
    /// The limit the last applied plan set (`None`: no plan set one, the
    /// configured default applies; `Some(0)`: no limit).
    pub plan_limit: Option<u32>,
    /// Oldest first.
    pub devices: Vec<Device>,
}

impl DeviceList {
    /// The limit in force: the plan's, or `default` (0: none).
    pub fn limit(&self, default: u32) -> Option<u32> {
        effective_limit(self.plan_limit, default)
    }
}

/// The device limit in force: the last applied plan's, else the configured
/// default; 0 means no limit (`None`).
pub fn effective_limit(plan_limit: Option<u32>, default: u32) -> Option<u32> {
    Some(plan_limit.unwrap_or(default)).filter(|n| *n > 0)
}

/// What became of a device asking for the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "admission")]
pub enum Admission {
    /// Registered before: served (its last-seen was refreshed).
    Known,
    /// Registered now, `active` devices counting this one.
    Registered { active: u32 },
    /// One past the limit: refused, nothing stored.
    Refused { limit: u32, active: u32 },
    /// No limit and already [`UNLIMITED_DEVICES_TRACKED`] devices: served, not stored.
    Untracked,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwids_are_bounded_printable_ascii() {
        assert!(Hwid::new("4f1c2a9e-aaaa-bbbb-cccc-0123456789ab").is_ok());
        assert!(Hwid::new(&"a".repeat(MAX_HWID_LEN)).is_ok());
        assert!(Hwid::new(&"a".repeat(MAX_HWID_LEN + 1)).is_err());
        assert!(Hwid::new("").is_err());
        assert!(Hwid::new("has space").is_err());
        assert!(Hwid::new("tab\there").is_err());
        assert!(Hwid::new("ключ").is_err());
        assert!(Hwid::new("nul\0").is_err());
    }

    #[test]
    fn device_fields_are_cleaned_and_cut() {
        assert_eq!(device_field("  Pixel 8 "), Some("Pixel 8".into()));
        assert_eq!(device_field("a\u{0}b\nc"), Some("abc".into()));
        assert_eq!(device_field("   "), None);
        let long = "я".repeat(100); // 200 bytes
        let cut = device_field(&long).unwrap();
        assert!(cut.len() <= MAX_DEVICE_FIELD_LEN);
        assert_eq!(cut.chars().count(), MAX_DEVICE_FIELD_LEN / 2);
    }

    #[test]
    fn the_plan_limit_wins_and_zero_means_none() {
        assert_eq!(effective_limit(None, 0), None);
        assert_eq!(effective_limit(None, 3), Some(3));
        assert_eq!(effective_limit(Some(2), 3), Some(2));
        assert_eq!(effective_limit(Some(0), 3), None);
    }
}
