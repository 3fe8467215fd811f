//! The device limit at `/sub`: clients that send `x-hwid` (Happ, v2RayTun,
//! FlClash, …) are registered per user; one past the limit gets the stub and
//! the headers those apps read.
//!
//! Request headers (what the apps send): `x-hwid` (the device), `x-device-os`,
//! `x-ver-os`, `x-device-model`, `user-agent`.
//!
//! Response headers (as Remnawave sends them, read by Happ, v2RayTun,
//! FlClash(X) and others):
//! - `x-hwid-active: true` — the device limit is on and this device is
//!   registered (informational);
//! - `x-hwid-limit: true` — this answer is refused by the device limit
//!   (v2RayTun reads this one);
//! - `x-hwid-max-devices-reached: true` — refused: the limit is reached;
//! - `x-hwid-not-supported: true` — refused: a device id is required and the
//!   client sent none (or garbage);
//! - `announce: base64:…` — the text the app shows with the refusal.

use actix_web::http::header::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subvisor_actors::domain::{Admission, DeviceInfo, Hwid, device_field};
use subvisor_actors::messages::RegisterDevice;

use super::view::{SubscriptionView, ViewStatus};
use crate::error::ApiError;
use crate::public::PublicState;

/// Counter of answers refused by the device check, by `reason`
/// (`limit`, `missing_hwid`, `invalid_hwid`).
pub const DEVICES_REFUSED: &str = "subvisor_devices_refused_total";

/// `[subscription] hwid_required` and `default_devices`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevicePolicy {
    /// A request without a (valid) `x-hwid` gets the stub.
    pub hwid_required: bool,
    /// The limit of a subscription no plan set one for (grants, trials); 0: none.
    pub default_limit: u32,
}

/// Who the client says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientDevice {
    /// No `x-hwid` (or an empty one).
    Anonymous,
    /// An `x-hwid` that is not 1–128 printable ASCII characters.
    Invalid,
    Device(DeviceInfo),
}

/// Reads the device headers; never fails (garbage is [`ClientDevice::Invalid`]).
pub fn client_device(headers: &HeaderMap) -> ClientDevice {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let Some(raw) = text("x-hwid") else {
        return ClientDevice::Anonymous;
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return ClientDevice::Anonymous;
    }
    let Ok(hwid) = Hwid::new(raw) else {
        return ClientDevice::Invalid;
    };
    let os = match (
        text("x-device-os").and_then(|s| device_field(&s)),
        text("x-ver-os").and_then(|s| device_field(&s)),
    ) {
        (Some(os), Some(ver)) => device_field(&format!("{os} {ver}")),
        (os, None) => os,
        (None, Some(ver)) => Some(ver),
    };
    ClientDevice::Device(DeviceInfo {
        hwid,
        os,
        model: text("x-device-model").and_then(|s| device_field(&s)),
        app: text("user-agent").and_then(|s| device_field(&s)),
    })
}

/// What the device check decided: the headers to add to the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceVerdict {
    pub headers: Vec<(&'static str, String)>,
}

impl DeviceVerdict {
    fn served() -> Self {
        Self {
            headers: vec![("x-hwid-active", "true".into())],
        }
    }

    fn refused(flag: &'static str, language: Option<&str>, text: Announce) -> Self {
        let announce = format!("base64:{}", STANDARD.encode(text.in_language(language)));
        Self {
            headers: vec![
                ("x-hwid-active", "true".into()),
                ("x-hwid-limit", "true".into()),
                (flag, "true".into()),
                ("announce", announce),
            ],
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Announce {
    Limit,
    HwidRequired,
}

impl Announce {
    fn in_language(self, language: Option<&str>) -> &'static str {
        let ru = language.is_some_and(|l| l.starts_with("ru"));
        match (self, ru) {
            (Announce::Limit, false) => {
                "Device limit reached: remove a device in the bot (My subscription → Devices)"
            }
            (Announce::Limit, true) => {
                "Достигнут лимит устройств: удалите устройство в боте (Моя подписка → Устройства)"
            }
            (Announce::HwidRequired, false) => {
                "This subscription needs an app that sends a device id (Happ, v2RayTun, FlClash)"
            }
            (Announce::HwidRequired, true) => {
                "Для подписки нужно приложение, передающее id устройства (Happ, v2RayTun, FlClash)"
            }
        }
    }
}

fn refused(reason: &'static str) {
    metrics::counter!(DEVICES_REFUSED, "reason" => reason).increment(1);
}

/// Admits the client of this request under the device limit; on refusal the
/// view serves the stub (`view.refuse`). A view that is not active already
/// (expired, revoked) registers nothing.
pub async fn admit(
    headers: &HeaderMap,
    state: &PublicState,
    view: &mut SubscriptionView,
) -> Result<DeviceVerdict, ApiError> {
    if view.status != ViewStatus::Active {
        return Ok(DeviceVerdict::default());
    }
    let policy = state.devices;
    let language = view.language.clone();
    let refuse_missing = |view: &mut SubscriptionView, reason| {
        refused(reason);
        view.refuse(ViewStatus::HwidRequired);
        DeviceVerdict::refused(
            "x-hwid-not-supported",
            language.as_deref(),
            Announce::HwidRequired,
        )
    };
    let device = match client_device(headers) {
        ClientDevice::Anonymous if policy.hwid_required => {
            return Ok(refuse_missing(view, "missing_hwid"));
        }
        ClientDevice::Anonymous => return Ok(DeviceVerdict::default()),
        ClientDevice::Invalid => return Ok(refuse_missing(view, "invalid_hwid")),
        ClientDevice::Device(device) => device,
    };
    // A known device costs one statement and no actor.
    if state.registry.device_seen(view.user, &device).await? {
        return Ok(DeviceVerdict::served());
    }
    let register = RegisterDevice {
        device,
        default_limit: policy.default_limit,
    };
    match state.registry.send(view.user, register).await? {
        Admission::Known | Admission::Registered { .. } | Admission::Untracked => {
            Ok(DeviceVerdict::served())
        }
        Admission::Refused { limit, .. } => {
            refused("limit");
            view.refuse(ViewStatus::DeviceLimit { limit });
            Ok(DeviceVerdict::refused(
                "x-hwid-max-devices-reached",
                view.language.as_deref(),
                Announce::Limit,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn device(pairs: &[(&'static str, &[u8])]) -> DeviceInfo {
        match client_device(&headers(pairs)) {
            ClientDevice::Device(d) => d,
            other => panic!("not a device: {other:?}"),
        }
    }

    #[test]
    fn a_happ_request_is_a_device_with_its_description() {
        let d = device(&[
            ("x-hwid", b"a1b2c3d4e5f60718"),
            ("x-device-os", b"Android"),
            ("x-ver-os", b"14"),
            ("x-device-model", b"Pixel 8"),
            ("user-agent", b"Happ/3.5.0"),
        ]);
        assert_eq!(d.hwid.as_str(), "a1b2c3d4e5f60718");
        assert_eq!(d.os.as_deref(), Some("Android 14"));
        assert_eq!(d.model.as_deref(), Some("Pixel 8"));
        assert_eq!(d.app.as_deref(), Some("Happ/3.5.0"));
    }

    #[test]
    fn only_the_hwid_is_required() {
        let d = device(&[("x-hwid", b" id-1 ")]);
        assert_eq!(d.hwid.as_str(), "id-1");
        assert_eq!((d.os, d.model, d.app), (None, None, None));
        let d = device(&[("x-hwid", b"id"), ("x-ver-os", b"17.4")]);
        assert_eq!(d.os.as_deref(), Some("17.4"));
    }

    #[test]
    fn no_or_empty_hwid_is_anonymous() {
        assert_eq!(client_device(&headers(&[])), ClientDevice::Anonymous);
        assert_eq!(
            client_device(&headers(&[("x-hwid", b"   ")])),
            ClientDevice::Anonymous
        );
        assert_eq!(
            client_device(&headers(&[("user-agent", b"v2rayNG/1.9")])),
            ClientDevice::Anonymous
        );
    }

    #[test]
    fn garbage_hwids_are_invalid_not_errors() {
        let long = "x".repeat(129);
        for bad in [
            long.as_bytes(),
            b"two words".as_slice(),
            "ключ".as_bytes(),
            b"\xff\xfe".as_slice(),
        ] {
            assert_eq!(
                client_device(&headers(&[("x-hwid", bad)])),
                ClientDevice::Invalid,
                "{bad:?}"
            );
        }
        assert!(matches!(
            client_device(&headers(&[("x-hwid", "x".repeat(128).as_bytes())])),
            ClientDevice::Device(_)
        ));
    }

    #[test]
    fn descriptions_are_cut_and_cleaned() {
        let long = "M".repeat(500);
        let d = device(&[
            ("x-hwid", b"id"),
            ("x-device-model", long.as_bytes()),
            ("x-device-os", b"  iOS  "),
        ]);
        assert_eq!(d.model.map(|m| m.len()), Some(128));
        assert_eq!(d.os.as_deref(), Some("iOS"));
    }

    #[test]
    fn refusals_carry_the_flags_the_apps_read() {
        let v = DeviceVerdict::refused("x-hwid-max-devices-reached", Some("ru"), Announce::Limit);
        let names: Vec<_> = v.headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "x-hwid-active",
                "x-hwid-limit",
                "x-hwid-max-devices-reached",
                "announce"
            ]
        );
        let announce = &v.headers[3].1;
        let text = STANDARD
            .decode(announce.strip_prefix("base64:").unwrap())
            .unwrap();
        assert!(String::from_utf8(text).unwrap().contains("лимит"));
    }
}
