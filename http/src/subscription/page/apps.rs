//! The VPN apps the page offers, grouped by OS: how each imports a
//! subscription in one tap (its URL scheme) and where to get it.
//!
//! Schemes checked against the app's own docs or maintainers (see each
//! [`Import`] variant); the ones marked "unconfirmed" are what the apps'
//! panels (Marzban, Remnawave and others) use, not found in the app's own docs.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// An OS group on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Android,
    /// iOS, iPadOS and macOS (the same App Store apps).
    Apple,
    Windows,
    Linux,
}

impl Platform {
    pub const ALL: [Platform; 4] = [
        Platform::Android,
        Platform::Apple,
        Platform::Windows,
        Platform::Linux,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Platform::Android => "Android",
            Platform::Apple => "iOS / macOS",
            Platform::Windows => "Windows",
            Platform::Linux => "Linux",
        }
    }

    /// The platform a browser's `User-Agent` runs on, if it says.
    pub fn from_user_agent(ua: &str) -> Option<Platform> {
        let ua = ua.to_ascii_lowercase();
        if ua.contains("android") {
            Some(Platform::Android)
        } else if ["iphone", "ipad", "ipod", "macintosh", "mac os"]
            .iter()
            .any(|p| ua.contains(p))
        {
            Some(Platform::Apple)
        } else if ua.contains("windows") {
            Some(Platform::Windows)
        } else if ua.contains("linux") || ua.contains("x11") {
            Some(Platform::Linux)
        } else {
            None
        }
    }
}

/// How an app imports the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Import {
    /// `happ://add/{url}` (unconfirmed: Happ's docs list only `happ://routing/…`).
    Happ,
    /// `v2raytun://import/{url}` (unconfirmed).
    V2rayTun,
    /// `v2rayng://install-config/?url={enc}`: the form v2rayNG's maintainer
    /// gives since 1.8.28 (2dust/v2rayNG#3299).
    V2rayNg,
    /// `clash://install-config?url={enc(url/clash)}`: Clash Verge Rev's docs;
    /// FlClash, Mihomo Party and Clash Meta for Android take the same scheme
    /// (unconfirmed in their own docs).
    Clash,
    /// `hiddify://import/{url}#{name}`: Hiddify's "URL Scheme" docs.
    Hiddify,
    /// `sing-box://import-remote-profile?url={enc(url/singbox)}#{enc(name)}`:
    /// sing-box's "clients/general" docs.
    SingBox,
    /// `streisand://import/{url}#{name}` (unconfirmed).
    Streisand,
    /// No import link (v2rayN): copy the URL, then "Import from clipboard".
    Clipboard,
}

impl Import {
    /// The deep link that imports `url` (the subscription URL, no query) named
    /// `name`; `None` for apps imported through the clipboard.
    pub fn link(self, url: &str, name: &str) -> Option<String> {
        let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        Some(match self {
            Import::Happ => format!("happ://add/{url}"),
            Import::V2rayTun => format!("v2raytun://import/{url}"),
            Import::V2rayNg => format!("v2rayng://install-config/?url={}", enc(url)),
            Import::Clash => format!(
                "clash://install-config?url={}",
                enc(&format!("{url}/clash"))
            ),
            Import::Hiddify => format!("hiddify://import/{url}#{}", enc(name)),
            Import::SingBox => format!(
                "sing-box://import-remote-profile?url={}#{}",
                enc(&format!("{url}/singbox")),
                enc(name)
            ),
            Import::Streisand => format!("streisand://import/{url}#{}", enc(name)),
            Import::Clipboard => return None,
        })
    }
}

/// Where to get an app.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub label: &'static str,
    pub url: &'static str,
}

/// One app on one platform.
#[derive(Debug, Clone, Copy)]
pub struct App {
    pub name: &'static str,
    pub import: Import,
    pub get: &'static [Source],
}

const GOOGLE_PLAY: &str = "Google Play";
const APP_STORE: &str = "App Store";
const GITHUB: &str = "GitHub";

const fn src(label: &'static str, url: &'static str) -> Source {
    Source { label, url }
}

const HAPP_PLAY: Source = src(
    GOOGLE_PLAY,
    "https://play.google.com/store/apps/details?id=com.happproxy",
);
const HAPP_APPLE: Source = src(APP_STORE, "https://apps.apple.com/app/id6504287215");
const HAPP_DESKTOP: Source = src(
    GITHUB,
    "https://github.com/Happ-proxy/happ-desktop/releases",
);
const V2RAYTUN_PLAY: Source = src(
    GOOGLE_PLAY,
    "https://play.google.com/store/apps/details?id=com.v2raytun.android",
);
const V2RAYTUN_APPLE: Source = src(APP_STORE, "https://apps.apple.com/app/id6476628951");
const HIDDIFY_GH: Source = src(GITHUB, "https://github.com/hiddify/hiddify-app/releases");
const HIDDIFY_PLAY: Source = src(
    GOOGLE_PLAY,
    "https://play.google.com/store/apps/details?id=app.hiddify.com",
);
const HIDDIFY_APPLE: Source = src(APP_STORE, "https://apps.apple.com/app/id6596777532");
const SINGBOX_PLAY: Source = src(
    GOOGLE_PLAY,
    "https://play.google.com/store/apps/details?id=io.nekohasekai.sfa",
);
const SINGBOX_APPLE: Source = src(APP_STORE, "https://apps.apple.com/app/id6673731168");
const CLASH_VERGE_GH: Source = src(
    GITHUB,
    "https://github.com/clash-verge-rev/clash-verge-rev/releases",
);
const FLCLASH_GH: Source = src(GITHUB, "https://github.com/chen08209/FlClash/releases");
const MIHOMO_PARTY_GH: Source = src(
    GITHUB,
    "https://github.com/mihomo-party-org/mihomo-party/releases",
);
const V2RAYN_GH: Source = src(GITHUB, "https://github.com/2dust/v2rayN/releases");

/// The apps offered on `platform`, most recommended first.
pub fn apps(platform: Platform) -> &'static [App] {
    const fn app(name: &'static str, import: Import, get: &'static [Source]) -> App {
        App { name, import, get }
    }
    const ANDROID: &[App] = &[
        app("Happ", Import::Happ, &[HAPP_PLAY]),
        app("v2RayTun", Import::V2rayTun, &[V2RAYTUN_PLAY]),
        app(
            "v2rayNG",
            Import::V2rayNg,
            &[
                src(
                    GOOGLE_PLAY,
                    "https://play.google.com/store/apps/details?id=com.v2ray.ang",
                ),
                src(GITHUB, "https://github.com/2dust/v2rayNG/releases"),
            ],
        ),
        app("Hiddify", Import::Hiddify, &[HIDDIFY_PLAY, HIDDIFY_GH]),
        app("FlClash", Import::Clash, &[FLCLASH_GH]),
        app(
            "Clash Meta for Android",
            Import::Clash,
            &[src(
                GITHUB,
                "https://github.com/MetaCubeX/ClashMetaForAndroid/releases",
            )],
        ),
        app("sing-box", Import::SingBox, &[SINGBOX_PLAY]),
    ];
    const APPLE: &[App] = &[
        app("Happ", Import::Happ, &[HAPP_APPLE]),
        app("v2RayTun", Import::V2rayTun, &[V2RAYTUN_APPLE]),
        app(
            "Streisand",
            Import::Streisand,
            &[src(APP_STORE, "https://apps.apple.com/app/id6450534064")],
        ),
        app("Hiddify", Import::Hiddify, &[HIDDIFY_APPLE]),
        app("sing-box", Import::SingBox, &[SINGBOX_APPLE]),
        app("Clash Verge Rev (macOS)", Import::Clash, &[CLASH_VERGE_GH]),
    ];
    const WINDOWS: &[App] = &[
        app("Happ", Import::Happ, &[HAPP_DESKTOP]),
        app("Hiddify", Import::Hiddify, &[HIDDIFY_GH]),
        app("Clash Verge Rev", Import::Clash, &[CLASH_VERGE_GH]),
        app("FlClash", Import::Clash, &[FLCLASH_GH]),
        app("Mihomo Party", Import::Clash, &[MIHOMO_PARTY_GH]),
        app("v2rayN", Import::Clipboard, &[V2RAYN_GH]),
    ];
    const LINUX: &[App] = &[
        app("Hiddify", Import::Hiddify, &[HIDDIFY_GH]),
        app("Clash Verge Rev", Import::Clash, &[CLASH_VERGE_GH]),
        app("FlClash", Import::Clash, &[FLCLASH_GH]),
        app("Mihomo Party", Import::Clash, &[MIHOMO_PARTY_GH]),
        app("v2rayN", Import::Clipboard, &[V2RAYN_GH]),
    ];
    match platform {
        Platform::Android => ANDROID,
        Platform::Apple => APPLE,
        Platform::Windows => WINDOWS,
        Platform::Linux => LINUX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://vpn.example.com/sub/abc";

    #[test]
    fn deep_links_carry_the_subscription_url() {
        let link = |i: Import| i.link(URL, "My VPN").expect("a link");
        assert_eq!(
            link(Import::Happ),
            "happ://add/https://vpn.example.com/sub/abc"
        );
        assert_eq!(
            link(Import::V2rayTun),
            "v2raytun://import/https://vpn.example.com/sub/abc"
        );
        assert_eq!(
            link(Import::V2rayNg),
            "v2rayng://install-config/?url=https%3A%2F%2Fvpn%2Eexample%2Ecom%2Fsub%2Fabc"
        );
        assert_eq!(
            link(Import::Clash),
            "clash://install-config?url=https%3A%2F%2Fvpn%2Eexample%2Ecom%2Fsub%2Fabc%2Fclash"
        );
        assert_eq!(
            link(Import::Hiddify),
            "hiddify://import/https://vpn.example.com/sub/abc#My%20VPN"
        );
        assert_eq!(
            link(Import::SingBox),
            "sing-box://import-remote-profile?url=https%3A%2F%2Fvpn%2Eexample%2Ecom%2Fsub%2Fabc%2Fsingbox#My%20VPN"
        );
        assert_eq!(
            link(Import::Streisand),
            "streisand://import/https://vpn.example.com/sub/abc#My%20VPN"
        );
        assert_eq!(Import::Clipboard.link(URL, "x"), None);
    }

    #[test]
    fn platforms_from_user_agents() {
        let cases = [
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36",
                Some(Platform::Android),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)",
                Some(Platform::Apple),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)",
                Some(Platform::Apple),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
                Some(Platform::Windows),
            ),
            ("Mozilla/5.0 (X11; Linux x86_64)", Some(Platform::Linux)),
            ("curl/8.5.0", None),
        ];
        for (ua, want) in cases {
            assert_eq!(Platform::from_user_agent(ua), want, "{ua}");
        }
    }

    #[test]
    fn every_platform_offers_apps_with_a_source() {
        for p in Platform::ALL {
            assert!(!apps(p).is_empty(), "{p:?}");
            for app in apps(p) {
                assert!(!app.get.is_empty(), "{}", app.name);
                assert!(app.get.iter().all(|s| s.url.starts_with("https://")));
            }
        }
    }
}
