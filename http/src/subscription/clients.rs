//! Which format a client reads, by its `User-Agent`: the table below, first
//! match wins, anything else gets [`Format::Base64`]. The same table is in the
//! README ("Subscription formats"); `/sub/{token}/{format}` overrides it.

use super::formats::Format;

/// (pattern, format): a User-Agent that contains `pattern` (ASCII case
/// ignored) reads `format`. Order matters: apps that read everything but say
/// "like ClashMeta … sing-box" in their User-Agent (Hiddify, NekoBox) are
/// named first so they keep the base64 list they handle best.
///
/// | Pattern           | Clients                                   | Format    |
/// |-------------------|-------------------------------------------|-----------|
/// | `hiddify` `nekobox` `v2rayn` `happ` `streisand` `shadowrocket` | Hiddify, NekoBox, v2rayN, v2rayNG, Happ, Streisand, Shadowrocket | `base64` |
/// | `clash-verge`     | Clash Verge Rev                           | `clash`   |
/// | `clashmeta`       | ClashMetaForAndroid                       | `clash`   |
/// | `flclash`         | FlClash                                   | `clash`   |
/// | `mihomo`          | Mihomo Party (`mihomo.party`), mihomo     | `clash`   |
/// | `stash`           | Stash                                     | `clash`   |
/// | `clash`           | other Clash Meta cores                    | `clash`   |
/// | `sfa/` `sfi/` `sfm/` `sft/` | sing-box for Android/iOS/macOS/tvOS | `singbox` |
/// | `sing-box`        | sing-box                                  | `singbox` |
/// | `karing`          | Karing                                    | `singbox` |
/// | (anything else)   | browsers, curl, unknown apps              | `base64`  |
pub const CLIENTS: &[(&str, Format)] = &[
    ("hiddify", Format::Base64),
    ("nekobox", Format::Base64),
    ("v2rayn", Format::Base64),
    ("happ", Format::Base64),
    ("streisand", Format::Base64),
    ("shadowrocket", Format::Base64),
    ("clash-verge", Format::Clash),
    ("clashmeta", Format::Clash),
    ("flclash", Format::Clash),
    ("mihomo", Format::Clash),
    ("stash", Format::Clash),
    ("clash", Format::Clash),
    ("sfa/", Format::Singbox),
    ("sfi/", Format::Singbox),
    ("sfm/", Format::Singbox),
    ("sft/", Format::Singbox),
    ("sing-box", Format::Singbox),
    ("karing", Format::Singbox),
];

/// The format a client with this `User-Agent` reads (none sent: base64).
pub fn format_for(user_agent: &str) -> Format {
    CLIENTS
        .iter()
        .find(|(pattern, _)| contains_ignore_ascii_case(user_agent, pattern))
        .map_or(Format::Base64, |(_, format)| *format)
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Realistic User-Agents as the apps send them.
    const SEEN: &[(&str, Format)] = &[
        ("clash-verge/v2.2.3", Format::Clash),
        ("ClashMetaForAndroid/2.11.5.Meta", Format::Clash),
        (
            "FlClash/v0.8.80 clash-verge Platform/android",
            Format::Clash,
        ),
        ("FlClash/v0.8.80", Format::Clash),
        ("mihomo.party/v1.7.5 (clash.meta)", Format::Clash),
        ("mihomo.party/v1.7.5", Format::Clash),
        ("Stash/3.1.1 Clash/1.9.0", Format::Clash),
        ("mihomo/1.19.2", Format::Clash),
        (
            "SFA/1.11.4 (4; sing-box 1.11.4; language zh_CN)",
            Format::Singbox,
        ),
        ("SFA/1.11.4", Format::Singbox),
        ("SFI/1.11.4", Format::Singbox),
        ("SFM/1.11.4", Format::Singbox),
        ("sing-box 1.11.4", Format::Singbox),
        ("Karing/1.1.2.606 android", Format::Singbox),
        ("Karing/1.1.2.606", Format::Singbox),
        ("v2rayN/7.10.5", Format::Base64),
        ("v2rayNG/1.9.40", Format::Base64),
        (
            "HiddifyNext/2.5.7 (android) like ClashMeta v2ray sing-box",
            Format::Base64,
        ),
        ("HiddifyNext/2.5.7", Format::Base64),
        ("Happ/3.5.0", Format::Base64),
        (
            "Streisand/1.6.45 CFNetwork/1568.200.51 Darwin/24.1.0",
            Format::Base64,
        ),
        (
            "Shadowrocket/2070 CFNetwork/1568.200.51 Darwin/24.1.0",
            Format::Base64,
        ),
        (
            "NekoBox/Android/1.3.4 (Prefer ClashMeta Format)",
            Format::Base64,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
            Format::Base64,
        ),
        ("curl/8.11.1", Format::Base64),
        ("", Format::Base64),
    ];

    #[test]
    fn every_listed_client_gets_its_format() {
        for (ua, format) in SEEN {
            assert_eq!(format_for(ua), *format, "{ua:?}");
        }
    }
}
