//! Every format carries the same entries as the `vless://` links, parsed
//! back (links with a URL parser, YAML and JSON into strict mirrors of the
//! clients' own option types), stub and info entries, and golden files
//! (`UPDATE_GOLDEN=1 cargo test -p subvisor-http golden` rewrites them).

use std::collections::BTreeMap;
use std::path::PathBuf;

use ::base64::Engine;
use ::base64::engine::general_purpose::STANDARD;
use chrono::{TimeZone, Utc};
use percent_encoding::percent_decode_str;
use subvisor_actors::domain::{LinkParams, UserId, VISION_FLOW};
use uuid::Uuid;

use super::*;
use crate::subscription::view::{Entry, SubscriptionView, ViewStatus};

mod mihomo;
mod singbox_options;
mod xray_conf;

/// What a client connects with, as every format must say it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Seen {
    pub name: String,
    pub uuid: String,
    pub host: String,
    pub port: u16,
    pub sni: String,
    pub public_key: String,
    pub short_id: String,
    pub fingerprint: String,
    pub flow: String,
}

const UUID: Uuid = Uuid::from_u128(0x6f1c_2a8e_5b3d_4e7f_9a10_c2d4_e6f8_1a3b);

fn node(label: &str, host: &str, sid: &str, fp: &str) -> LinkParams {
    LinkParams {
        host: host.into(),
        port: 443,
        sni: "www.microsoft.com".into(),
        public_key: "Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw".into(),
        short_id: sid.into(),
        fingerprint: fp.into(),
        label: label.into(),
    }
}

/// Three nodes, one key; short ids that read as numbers in YAML, an IPv6 host.
fn three_nodes() -> SubscriptionView {
    let nodes = [
        node(
            "Amsterdam №1",
            "nl.vpn.example.com",
            "6ba85179e30d4fc2",
            "chrome",
        ),
        node("Frankfurt №1", "203.0.113.7", "1234", "firefox"),
        node("Helsinki №1", "2001:db8::7", "1e10", "safari"),
    ];
    SubscriptionView {
        user: UserId::new(42).expect("id"),
        status: ViewStatus::Active,
        expires_at: Utc
            .with_ymd_and_hms(2026, 12, 13, 12, 0, 0)
            .single()
            .expect("time"),
        upload: 1_200_000_000,
        download: 2_000_000_000,
        total: 0,
        entries: nodes
            .into_iter()
            .map(|node| Entry { uuid: UUID, node })
            .collect(),
        url: "https://vpn.example.com/sub/0123".into(),
        language: None,
    }
}

fn options(info_entries: bool) -> RenderOptions {
    RenderOptions {
        now: Utc
            .with_ymd_and_hms(2026, 12, 1, 12, 0, 0)
            .single()
            .expect("time"),
        info_entries,
        renew_url: Some("https://t.me/vpn_bot".into()),
    }
}

/// The entries of a rendered answer, parsed back the way the clients would.
fn parse(format: Format, body: &str) -> Vec<Seen> {
    match format {
        Format::Base64 => parse_links(body),
        Format::Clash => mihomo::parse(body),
        Format::Singbox => singbox_options::parse(body),
        Format::Xray => xray_conf::parse(body),
    }
}

fn parse_links(body: &str) -> Vec<Seen> {
    let text = String::from_utf8(STANDARD.decode(body).expect("base64")).expect("utf-8");
    text.lines().map(parse_link).collect()
}

fn parse_link(link: &str) -> Seen {
    let url = url::Url::parse(link).expect("a vless URL");
    assert_eq!(url.scheme(), "vless");
    let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let q = |k: &str| query.get(k).cloned().unwrap_or_default();
    assert_eq!(q("security"), "reality");
    assert_eq!(q("type"), "tcp");
    assert_eq!(q("encryption"), "none");
    let host = url.host_str().expect("host");
    Seen {
        name: percent_decode_str(url.fragment().expect("label"))
            .decode_utf8()
            .expect("utf-8")
            .into_owned(),
        uuid: url.username().to_owned(),
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: url.port().expect("port"),
        sni: q("sni"),
        public_key: q("pbk"),
        short_id: q("sid"),
        fingerprint: q("fp"),
        flow: q("flow"),
    }
}

#[test]
fn every_format_carries_the_entries_of_the_links() {
    let view = three_nodes();
    let links: Vec<Seen> = view.vless_links().iter().map(|l| parse_link(l)).collect();
    assert_eq!(links.len(), 3);
    assert!(
        links
            .iter()
            .all(|s| s.uuid == UUID.to_string() && s.flow == VISION_FLOW)
    );
    for format in Format::ALL {
        let body = render(format, &view, &options(false));
        assert_eq!(parse(format, &body), links, "{format:?}");
    }
}

#[test]
fn stub_entries_say_why_and_where_to_renew_in_every_format() {
    let statuses = [
        (
            ViewStatus::Expired,
            "Subscription expired · renew: https://t.me/vpn_bot",
        ),
        (
            ViewStatus::Revoked,
            "Subscription revoked · help: https://t.me/vpn_bot",
        ),
        (
            ViewStatus::DeviceLimit { limit: 3 },
            "Device limit reached (3): remove a device in the bot · help: https://t.me/vpn_bot",
        ),
        (
            ViewStatus::HwidRequired,
            "This app does not identify the device: use another app · help: https://t.me/vpn_bot",
        ),
    ];
    for (status, text) in statuses {
        let mut view = three_nodes();
        view.refuse(status);
        for format in Format::ALL {
            let seen = parse(format, &render(format, &view, &options(true)));
            assert_eq!(seen.len(), 1, "{format:?} {status:?}: {seen:?}");
            assert_eq!(seen[0].name, text, "{format:?}");
            assert_eq!(seen[0].host, PLACEHOLDER_HOST, "{format:?}");
            assert_eq!(seen[0].port, PLACEHOLDER_PORT, "{format:?}");
            assert_eq!(seen[0].uuid, PLACEHOLDER_UUID.to_string(), "{format:?}");
        }
    }
}

#[test]
fn stub_entries_speak_the_users_language() {
    let mut view = three_nodes();
    view.language = Some("ru".into());
    view.refuse(ViewStatus::Expired);
    let seen = parse(
        Format::Clash,
        &render(Format::Clash, &view, &options(false)),
    );
    assert_eq!(
        seen[0].name,
        "Подписка истекла · продлить: https://t.me/vpn_bot"
    );
}

#[test]
fn info_entries_lead_the_headerless_formats_only() {
    let view = three_nodes();
    for format in Format::ALL {
        let seen = parse(format, &render(format, &view, &options(true)));
        if matches!(format, Format::Base64 | Format::Xray) {
            assert_eq!(seen.len(), 4, "{format:?}");
            assert_eq!(seen[0].name, "12 days left · 3.2 GB used", "{format:?}");
            assert_eq!(seen[0].host, PLACEHOLDER_HOST);
            assert_eq!(seen[0].port, PLACEHOLDER_PORT);
        } else {
            assert_eq!(seen.len(), 3, "{format:?}");
        }
    }
    let mut ru = three_nodes();
    ru.language = Some("ru".into());
    let seen = parse(Format::Base64, &render(Format::Base64, &ru, &options(true)));
    assert_eq!(seen[0].name, "Осталось 12 дн. · использовано 3.2 ГБ");
}

#[test]
fn names_stay_unique_with_two_keys() {
    let mut view = three_nodes();
    let again = view.entries.clone();
    view.entries.extend(again);
    for format in [Format::Clash, Format::Singbox] {
        let seen = parse(format, &render(format, &view, &options(false)));
        let mut names: Vec<&str> = seen.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 6);
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 6, "{format:?}: {seen:?}");
    }
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/subscription/formats/golden")
        .join(name)
}

#[test]
fn golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut expired = three_nodes();
    expired.language = Some("ru".into());
    expired.refuse(ViewStatus::Expired);
    let cases = [
        ("active", three_nodes(), true),
        ("expired-ru", expired, false),
    ];
    for (case, view, info) in cases {
        for format in Format::ALL {
            let body = render(format, &view, &options(info));
            let path = golden_path(&format!("{case}.{}.{}", format.name(), format.extension()));
            if update {
                std::fs::create_dir_all(path.parent().expect("dir")).expect("golden dir");
                std::fs::write(&path, &body).expect("write golden");
                continue;
            }
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
            assert_eq!(
                body,
                want,
                "{} differs (UPDATE_GOLDEN=1 rewrites it)",
                path.display()
            );
        }
    }
}

/// The status decides, even if a view kept its entries (set without `refuse`).
#[test]
fn a_refused_status_serves_the_stub_even_with_entries() {
    let mut view = three_nodes();
    view.status = ViewStatus::DeviceLimit { limit: 2 };
    for format in Format::ALL {
        let seen = parse(format, &render(format, &view, &options(false)));
        assert_eq!(seen.len(), 1, "{format:?}");
        assert_eq!(seen[0].uuid, PLACEHOLDER_UUID.to_string(), "{format:?}");
    }
}
