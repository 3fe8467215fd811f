//! The subscription page: what a person sees when they open their
//! subscription URL in a browser instead of a VPN app.
//!
//! Rendered on the server from the request's [`SubscriptionView`] (askama,
//! `templates/subscription/page.html`): status, expiry, traffic, the
//! subscription URL and every key with copy buttons and QR codes (inline SVG),
//! one-tap import links for the common apps grouped by OS, in English or
//! Russian. Self-contained: the CSS and the copy script are inline, allowed by
//! a per-response nonce under a Content-Security-Policy that allows nothing
//! else; no request leaves the page, and the token in its URL is never sent
//! as a referrer.

pub mod apps;
mod texts;

pub use self::texts::LanguageMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use chrono::{DateTime, Utc};
use qrcode::QrCode;
use qrcode::render::svg;

use self::apps::Platform;
use self::texts::{Lang, Texts};
use super::view::{SubscriptionView, ViewStatus};
use crate::public::PublicState;

/// Whether the request comes from a browser that wants a page: its `Accept`
/// names `text/html` (or XHTML) with a q-value above zero and not below that
/// of `*/*`. VPN apps send `*/*`, a list without HTML, or nothing.
pub fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_html)
}

fn accepts_html(accept: &str) -> bool {
    let mut html: Option<f32> = None;
    let mut any = 0.0_f32;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").map(str::trim))
            .map_or(Some(1.0), |q| q.parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q));
        let Some(q) = q else { continue };
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => {
                html = Some(html.map_or(q, |h| h.max(q)));
            }
            "*/*" => any = any.max(q),
            _ => {}
        }
    }
    html.is_some_and(|h| h > 0.0 && h >= any)
}

/// The page for `view`, with its security headers.
pub fn respond(state: &PublicState, view: &SubscriptionView, req: &HttpRequest) -> HttpResponse {
    let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let lang = Lang::choose(
        header_str(header::ACCEPT_LANGUAGE),
        view.language.as_deref(),
        &state.subscription.language_map,
    );
    let platform = header_str(header::USER_AGENT).and_then(Platform::from_user_agent);
    // 122 random bits from the OS, hex: a valid nonce and header value.
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let now = state.registry.clock().now();
    // With `hwid_required`, single keys go only to apps that name their device
    // (a key copied from here would bypass the limit): the page keeps the
    // subscription link and the import buttons.
    let keys_hidden;
    let view = if state.devices.hwid_required {
        keys_hidden = SubscriptionView {
            entries: Vec::new(),
            ..view.clone()
        };
        &keys_hidden
    } else {
        view
    };
    // Where to renew: `subscription.renew_url`, else the bot, else support.
    let renew_url = state.subscription.renew_url();
    let page = Page::new(
        view,
        lang,
        platform,
        &state.title,
        renew_url.as_deref(),
        &nonce,
        now,
    );
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let (body, csp) = match (page.render(), HeaderValue::from_str(&csp)) {
        (Ok(body), Ok(csp)) => (body, csp),
        (Err(e), _) => return internal_error(&e),
        (_, Err(e)) => return internal_error(&e),
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((
            header::VARY,
            HeaderValue::from_static("Accept, Accept-Language, User-Agent"),
        ))
        .body(body)
}

/// Rendering fails only if a value's `Display` does: logged, answered 500.
fn internal_error(e: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "subscription page not rendered");
    HttpResponse::InternalServerError()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish()
}

/// Whole days left until `expires_at`, a started day counted (> 0), or
/// minus the whole days since it passed (0: less than a day ago).
fn days_left(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    const DAY: i64 = 86_400;
    let secs = (expires_at - now).num_seconds();
    if secs > 0 {
        (secs + DAY - 1) / DAY
    } else {
        secs / DAY
    }
}

/// A QR code of `text` as inline SVG (black on white, with its quiet zone);
/// `None` if the text is too long for a QR code.
fn qr_svg(text: &str, label: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<svg::Color>()
        .module_dimensions(1, 1)
        .quiet_zone(true)
        .build();
    // Drop the XML declaration; name the image for screen readers.
    let start = svg.find("<svg")?;
    let label = askama::filters::escape(label, askama::filters::Html)
        .map(|l| l.to_string())
        .unwrap_or_default();
    Some(svg[start..].replacen(
        "<svg ",
        &format!(r#"<svg class="qr" role="img" aria-label="{label}" "#),
        1,
    ))
}

struct StatusView {
    /// CSS modifier: `ok`, `bad`, `warn`.
    tone: &'static str,
    label: &'static str,
    /// Why there are no keys, for every status but `Active`.
    body: Option<String>,
}

fn status_view(status: ViewStatus, lang: Lang) -> StatusView {
    let t = lang.texts();
    match status {
        ViewStatus::Active => StatusView {
            tone: "ok",
            label: t.active,
            body: None,
        },
        ViewStatus::Expired => StatusView {
            tone: "bad",
            label: t.expired,
            body: Some(t.expired_body.into()),
        },
        ViewStatus::Revoked => StatusView {
            tone: "bad",
            label: t.revoked,
            body: Some(t.revoked_body.into()),
        },
        ViewStatus::DeviceLimit { limit } => StatusView {
            tone: "warn",
            label: t.device_limit,
            body: Some(lang.device_limit(limit)),
        },
        ViewStatus::HwidRequired => StatusView {
            tone: "warn",
            label: t.hwid_required,
            body: Some(t.hwid_required_body.into()),
        },
        ViewStatus::Limited => StatusView {
            tone: "warn",
            label: t.limited,
            body: Some(t.limited_body.into()),
        },
    }
}

struct EntryView {
    label: String,
    link: String,
    qr: Option<String>,
}

struct AppView {
    name: &'static str,
    /// The import deep link; `None`: copy the URL and import from the clipboard.
    href: Option<String>,
    get: &'static [apps::Source],
}

struct GroupView {
    name: &'static str,
    open: bool,
    apps: Vec<AppView>,
}

#[derive(Template)]
#[template(path = "subscription/page.html")]
struct Page<'a> {
    t: &'static Texts,
    lang: &'static str,
    nonce: &'a str,
    title: &'a str,
    status: StatusView,
    active: bool,
    expires_label: &'static str,
    expires_date: String,
    expires_iso: String,
    days_left: String,
    traffic_used: String,
    /// `Some` when the subscription has a traffic cap.
    traffic_total: Option<String>,
    /// Used and total in MiB, for the `<meter>` (0 without a cap).
    meter_value: u64,
    meter_max: u64,
    url: &'a str,
    url_qr: Option<String>,
    entries: Vec<EntryView>,
    groups: Vec<GroupView>,
    renew_url: Option<&'a str>,
}

impl<'a> Page<'a> {
    fn new(
        view: &'a SubscriptionView,
        lang: Lang,
        platform: Option<Platform>,
        title: &'a str,
        renew_url: Option<&'a str>,
        nonce: &'a str,
        now: DateTime<Utc>,
    ) -> Self {
        let t = lang.texts();
        let status = status_view(view.status, lang);
        let active = view.status == ViewStatus::Active;
        let used = view.upload.saturating_add(view.download);
        let days = days_left(view.expires_at, now);
        let entries = if active {
            view.entries
                .iter()
                .map(|e| {
                    let link = e.vless_link();
                    EntryView {
                        label: e.node.label.clone(),
                        qr: qr_svg(&link, &e.node.label),
                        link,
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let groups = if active {
            // The visitor's own platform first, open; the others closed.
            let mut platforms = Platform::ALL.to_vec();
            platforms.sort_by_key(|&p| Some(p) != platform);
            platforms
                .into_iter()
                .map(|p| GroupView {
                    name: p.name(),
                    open: platform.is_none_or(|mine| mine == p),
                    apps: apps::apps(p)
                        .iter()
                        .map(|a| AppView {
                            name: a.name,
                            href: a.import.link(&view.url, title),
                            get: a.get,
                        })
                        .collect(),
                })
                .collect()
        } else {
            Vec::new()
        };
        Page {
            t,
            lang: lang.code(),
            nonce,
            title,
            active,
            expires_label: if view.expires_at > now {
                t.valid_until
            } else {
                t.ended_on
            },
            expires_date: lang.date(view.expires_at),
            expires_iso: view.expires_at.to_rfc3339(),
            days_left: lang.days_left(days),
            traffic_used: lang.bytes(used),
            traffic_total: (view.total > 0).then(|| lang.bytes(view.total)),
            meter_value: used / (1 << 20),
            meter_max: view.total / (1 << 20),
            url: &view.url,
            url_qr: if active {
                qr_svg(&view.url, t.subscription_link)
            } else {
                None
            },
            entries,
            groups,
            renew_url,
            status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_want_html_vpn_apps_do_not() {
        // Chrome/Firefox/Safari navigations.
        assert!(accepts_html(
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,\
             image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
        ));
        assert!(accepts_html(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(accepts_html("application/xhtml+xml"));
        assert!(accepts_html("TEXT/HTML"));
        // What VPN apps and tools send.
        assert!(!accepts_html("*/*"));
        assert!(!accepts_html(""));
        assert!(!accepts_html("application/json, text/plain, */*"));
        assert!(!accepts_html("text/plain"));
        assert!(!accepts_html("text/*"));
        // HTML refused, or preferred less than anything.
        assert!(!accepts_html("text/html;q=0"));
        assert!(!accepts_html("text/html;q=0.5, */*"));
        assert!(!accepts_html("text/html;q=abc"));
        assert!(accepts_html("text/html;q=0.5, */*;q=0.5"));
    }

    use super::super::view::Entry;
    use subvisor_actors::domain::{LinkParams, UserId};

    const URL: &str = "https://vpn.example.com/sub/0123abcd";

    fn view(status: ViewStatus, now: DateTime<Utc>) -> SubscriptionView {
        let node = LinkParams {
            host: "node.example.com".into(),
            port: 443,
            sni: "www.example.com".into(),
            public_key: "k".repeat(43),
            short_id: "ab".into(),
            fingerprint: "chrome".into(),
            label: "Frankfurt <1>".into(),
        };
        let mut view = SubscriptionView {
            user: UserId::new(7).expect("user"),
            status: ViewStatus::Active,
            expires_at: now + chrono::Duration::days(10),
            upload: 1 << 30,
            download: 1 << 30,
            total: 10 << 30,
            entries: vec![Entry {
                uuid: uuid::Uuid::nil(),
                node,
            }],
            url: URL.into(),
            language: None,
        };
        if status != ViewStatus::Active {
            view.refuse(status);
        }
        view
    }

    fn render(status: ViewStatus, lang: Lang) -> String {
        let now = DateTime::parse_from_rfc3339("2026-12-02T00:00:00Z")
            .expect("time")
            .to_utc();
        let view = view(status, now);
        Page::new(&view, lang, None, "My VPN", None, "n0nce", now)
            .render()
            .expect("renders")
    }

    #[test]
    fn an_active_page_has_the_keys_the_links_and_the_traffic() {
        let html = render(ViewStatus::Active, Lang::En);
        assert!(html.contains("vless://00000000-0000-0000-0000-000000000000@node.example.com:443"));
        assert!(html.contains(&format!("happ://add/{URL}")));
        assert!(html.contains("Frankfurt &#60;1&#62;"), "labels are escaped");
        assert!(!html.contains("Frankfurt <1>"));
        assert!(
            html.contains("2.0 GB") && html.contains("10.0 GB"),
            "used of total"
        );
        assert!(html.contains("10 days left"));
        assert_eq!(
            html.matches(r#"nonce="n0nce""#).count(),
            2,
            "style and script"
        );
        assert_eq!(html.matches("<svg class=\"qr\"").count(), 2);
    }

    #[test]
    fn pages_without_keys_say_why() {
        let cases = [
            (ViewStatus::Expired, "Expired", "has ended"),
            (ViewStatus::Revoked, "Cancelled", "cancelled"),
            (
                ViewStatus::DeviceLimit { limit: 3 },
                "Device limit reached",
                "already in use on 3 devices",
            ),
            (
                ViewStatus::HwidRequired,
                "App not supported",
                "identifies the device",
            ),
        ];
        for (status, label, why) in cases {
            let html = render(status, Lang::En);
            assert!(
                html.contains(label) && html.contains(why),
                "{status:?}: {html}"
            );
            assert!(html.contains("Renew it in our Telegram bot."), "{status:?}");
            for absent in ["vless://", URL, "happ://", "<svg", "data-copy=\""] {
                assert!(!html.contains(absent), "{status:?} shows {absent}");
            }
        }
        let html = render(ViewStatus::DeviceLimit { limit: 1 }, Lang::Ru);
        assert!(html.contains("Достигнут предел устройств"));
        assert!(html.contains("на 1 устройстве"), "{html}");
    }

    #[test]
    fn days_left_count_a_started_day() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T00:00:00Z")
            .expect("time")
            .to_utc();
        let at = |secs: i64| now + chrono::Duration::seconds(secs);
        assert_eq!(days_left(at(30 * 86_400), now), 30);
        assert_eq!(days_left(at(30 * 86_400 - 60), now), 30);
        assert_eq!(days_left(at(86_400 + 1), now), 2);
        assert_eq!(days_left(at(1), now), 1);
        assert_eq!(days_left(at(0), now), 0);
        assert_eq!(days_left(at(-86_399), now), 0);
        assert_eq!(days_left(at(-2 * 86_400), now), -2);
    }

    #[test]
    fn qr_codes_are_inline_svg_without_an_xml_declaration() {
        let svg = qr_svg("https://vpn.example.com/sub/abc", "a \"label\"").expect("svg");
        assert!(
            svg.starts_with(r#"<svg class="qr" role="img" aria-label="a &#34;label&#34;" "#),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
        assert!(qr_svg(&"x".repeat(8000), "too long").is_none());
    }
}
