//! The status card: what "My subscription" and the post-payment message
//! show — status, expiry, traffic and devices in a few lines, a "🚀 Connect"
//! button that opens the subscription URL (a browser gets the page with the
//! one-tap imports there), and the rest on request: the link to copy, its QR
//! code, the raw keys, the apps per OS with their store links.
//!
//! Pure functions of their inputs, shared by the handlers and the Notifier.

use chrono::{DateTime, Utc};
use subvisor_actors::domain::{SubscriptionStatus, TrafficState};
use subvisor_actors::store::UserSnapshot;
use subvisor_http::vpn_apps::{self, Platform};
use teloxide::types::InlineKeyboardButton;

use super::callback::Callback;
use super::i18n::{Lang, format_bytes, html_escape, tr};
use super::locale::Locale;
use super::screens::{Screen, back_to_menu, is_live, row};
use crate::t;

/// Devices registered under the subscription and the limit in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCount {
    pub count: usize,
    pub limit: Option<u32>,
}

/// How many apps per OS get a button (the page lists them all).
const APPS_PER_PLATFORM: usize = 2;

fn days_left(expires: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let secs = (expires - now).num_seconds().max(0);
    (secs + 86_399) / 86_400
}

/// A URL button, if `url` is one Telegram takes (http or https).
pub fn url_button(label: String, url: &str) -> Option<InlineKeyboardButton> {
    let parsed = reqwest::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| InlineKeyboardButton::url(label, parsed))
}

/// A subscription's traffic on the card, and whether packs are on sale.
#[derive(Debug, Clone, Copy)]
pub struct TrafficCard<'a> {
    pub state: &'a TrafficState,
    pub packs: bool,
}

/// What the card shows besides the subscription: devices and traffic.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage<'a> {
    pub devices: Option<DeviceCount>,
    pub traffic: Option<TrafficCard<'a>>,
}

/// The card's lines: status (and expiry), traffic, devices.
pub fn card_text(
    locale: &Locale,
    lang: Lang,
    s: Option<&UserSnapshot>,
    devices: Option<DeviceCount>,
    traffic: Option<TrafficCard<'_>>,
    now: DateTime<Utc>,
) -> String {
    let mut text = tr(lang, "sub-title");
    text.push('\n');
    let sub = s.and_then(|s| s.subscription.as_ref());
    text.push_str(&match sub {
        Some(sub) if sub.is_live(now) => t!(
            lang,
            "sub-active",
            expires = locale.date(lang, sub.expires_at),
            days_left = days_left(sub.expires_at, now)
        ),
        Some(sub) if sub.status == SubscriptionStatus::Revoked => tr(lang, "sub-revoked"),
        Some(sub) => t!(
            lang,
            "sub-expired",
            expired_at = locale.date(lang, sub.expires_at)
        ),
        None => tr(lang, "sub-none"),
    });
    let Some(s) = s.filter(|_| sub.is_some()) else {
        return text;
    };
    let (up, down) = s.traffic();
    let used = u64::try_from(up.saturating_add(down)).unwrap_or(0);
    text.push('\n');
    match traffic.and_then(|t| super::traffic::card_line(locale, lang, t.state)) {
        // A traffic allowance: this period's usage against it.
        Some(line) => text.push_str(&line),
        None => text.push_str(&t!(lang, "traffic-used", used = format_bytes(lang, used))),
    }
    if let Some(d) = devices.filter(|_| is_live(Some(s), now)) {
        text.push('\n');
        text.push_str(&match d.limit {
            Some(limit) => t!(lang, "card-devices-limit", count = d.count, limit = limit),
            None => t!(lang, "card-devices", count = d.count),
        });
    }
    if is_live(Some(s), now) {
        text.push_str("\n\n");
        text.push_str(&tr(lang, "card-connect-hint"));
    }
    text
}

/// The card's keyboard: Connect first while the subscription is live.
pub fn card_keyboard(
    lang: Lang,
    s: Option<&UserSnapshot>,
    traffic: Option<TrafficCard<'_>>,
    sub_url: Option<&str>,
    now: DateTime<Utc>,
) -> Vec<Vec<InlineKeyboardButton>> {
    let mut rows = Vec::new();
    if traffic.is_some_and(|t| t.packs && t.state.is_limited_plan()) {
        rows.push(row([(tr(lang, "btn-buy-traffic"), Callback::BuyTraffic)]));
    }
    if is_live(s, now) {
        if let Some(connect) = sub_url.and_then(|u| url_button(tr(lang, "btn-connect"), u)) {
            rows.push(vec![connect]);
        }
        rows.push(row([
            (tr(lang, "btn-copy-link"), Callback::Links),
            (tr(lang, "btn-apps"), Callback::Apps),
        ]));
        rows.push(row([
            (tr(lang, "btn-qr"), Callback::Qr),
            (tr(lang, "btn-keys"), Callback::Keys),
        ]));
        rows.push(row([
            (tr(lang, "btn-reissue"), Callback::ReissueAsk),
            (tr(lang, "btn-reset-link"), Callback::ResetLinkAsk),
        ]));
        rows.push(row([(tr(lang, "btn-devices"), Callback::Devices)]));
    }
    let has_sub = s.and_then(|s| s.subscription.as_ref()).is_some();
    let buy = if has_sub { "btn-renew" } else { "btn-buy" };
    rows.push(row([(tr(lang, buy), Callback::Buy)]));
    rows.push(back_to_menu(lang));
    rows
}

/// The card, optionally under a headline (`head`: "access is ready", …).
pub fn card(
    locale: &Locale,
    lang: Lang,
    head: Option<String>,
    s: Option<&UserSnapshot>,
    usage: Usage<'_>,
    sub_url: Option<&str>,
    now: DateTime<Utc>,
) -> Screen {
    let Usage { devices, traffic } = usage;
    let body = card_text(locale, lang, s, devices, traffic, now);
    let text = match head {
        Some(head) => format!("{head}\n\n{body}"),
        None => body,
    };
    Screen::with(text, card_keyboard(lang, s, traffic, sub_url, now))
}

/// Back to the card, or to the menu.
fn back_rows(lang: Lang) -> Vec<InlineKeyboardButton> {
    row([
        (tr(lang, "btn-back"), Callback::MySub),
        (tr(lang, "btn-menu"), Callback::Menu),
    ])
}

/// The subscription link to copy, with Connect and a QR code on request.
pub fn link_screen(lang: Lang, sub_url: &str) -> Screen {
    let mut rows = Vec::new();
    if let Some(connect) = url_button(tr(lang, "btn-connect"), sub_url) {
        rows.push(vec![connect]);
    }
    rows.push(row([
        (tr(lang, "btn-qr"), Callback::Qr),
        (tr(lang, "btn-apps"), Callback::Apps),
    ]));
    rows.push(back_rows(lang));
    Screen::with(t!(lang, "link-title", url = html_escape(sub_url)), rows)
}

/// The raw keys, for apps that take no subscription.
pub fn keys_screen(lang: Lang, keys: &[String]) -> Screen {
    let mut text = tr(lang, "keys-title");
    if keys.is_empty() {
        text.push('\n');
        text.push_str(&tr(lang, "keys-none"));
    }
    for key in keys {
        text.push_str("\n<code>");
        text.push_str(&html_escape(key));
        text.push_str("</code>");
    }
    Screen::with(text, vec![back_rows(lang)])
}

/// The apps per OS: the first few of each as store-link buttons (the page
/// at the subscription URL lists them all, with one-tap imports).
pub fn apps_screen(lang: Lang, sub_url: Option<&str>) -> Screen {
    let mut lines = vec![tr(lang, "apps-title")];
    let mut rows = Vec::new();
    for platform in Platform::ALL {
        let apps = vpn_apps::apps(platform);
        let names: Vec<&str> = apps.iter().map(|a| a.name).collect();
        lines.push(t!(
            lang,
            "apps-line",
            platform = platform.name(),
            apps = html_escape(&names.join(", "))
        ));
        let buttons: Vec<InlineKeyboardButton> = apps
            .iter()
            .take(APPS_PER_PLATFORM)
            .filter_map(|app| {
                let source = app.get.first()?;
                url_button(format!("{} · {}", platform.name(), app.name), source.url)
            })
            .collect();
        if !buttons.is_empty() {
            rows.push(buttons);
        }
    }
    if let Some(connect) = sub_url.and_then(|u| url_button(tr(lang, "btn-connect"), u)) {
        rows.push(vec![connect]);
    }
    rows.push(back_rows(lang));
    Screen::with(lines.join("\n"), rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_include_happ_and_v2raytun_with_store_links() {
        let screen = apps_screen(Lang::En, Some("https://vpn.example.com/sub/t"));
        let kb = screen.keyboard.expect("keyboard");
        let urls: Vec<(String, String)> = kb
            .inline_keyboard
            .iter()
            .flatten()
            .filter_map(|b| match &b.kind {
                teloxide::types::InlineKeyboardButtonKind::Url(u) => {
                    Some((b.text.clone(), u.to_string()))
                }
                _ => None,
            })
            .collect();
        for (label, host) in [
            ("Android · Happ", "play.google.com"),
            ("Android · v2RayTun", "play.google.com"),
            ("iOS / macOS · Happ", "apps.apple.com"),
            ("iOS / macOS · v2RayTun", "apps.apple.com"),
        ] {
            assert!(
                urls.iter().any(|(l, u)| l == label && u.contains(host)),
                "{label} → {host} missing in {urls:?}"
            );
        }
    }

    #[test]
    fn only_http_urls_become_buttons() {
        assert!(url_button("x".into(), "https://a.example/sub/t").is_some());
        assert!(url_button("x".into(), "happ://add/x").is_none());
        assert!(url_button("x".into(), "not a url").is_none());
    }
}
