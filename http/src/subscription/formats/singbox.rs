//! `singbox`: a sing-box profile in JSON, what SFA, SFI, SFM and Karing
//! import: a TUN inbound, the VLESS + REALITY outbounds, a `selector` over a
//! `urltest` and the entries, a `direct` outbound, and a route whose final
//! outbound is the selector.
//!
//! Field names follow sing-box's option types (`option/*.go`: outbound,
//! vless, tls, group, tun, route); the tests decode the output into strict
//! mirrors of them.

use serde::Serialize;

use super::super::view::Entry;
use subvisor_actors::domain::VISION_FLOW;

/// The selector: what the user picks in the app; the route's final outbound.
pub const SELECTOR: &str = "Proxy";
/// The urltest group: the fastest entry, picked automatically.
pub const URLTEST: &str = "Auto";
const TEST_URL: &str = "https://www.gstatic.com/generate_204";

#[derive(Serialize)]
struct Profile<'a> {
    log: Log,
    inbounds: [Tun; 1],
    outbounds: Vec<Outbound<'a>>,
    route: Route,
}

#[derive(Serialize)]
struct Log {
    level: &'static str,
}

#[derive(Serialize)]
struct Tun {
    #[serde(rename = "type")]
    kind: &'static str,
    tag: &'static str,
    address: [&'static str; 1],
    auto_route: bool,
    strict_route: bool,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Outbound<'a> {
    Selector {
        tag: &'static str,
        outbounds: Vec<&'a str>,
        default: &'static str,
    },
    Urltest {
        tag: &'static str,
        outbounds: Vec<&'a str>,
        url: &'static str,
        interval: &'static str,
    },
    Vless {
        tag: &'a str,
        server: &'a str,
        server_port: u16,
        uuid: String,
        flow: &'static str,
        tls: Tls<'a>,
    },
    Direct {
        tag: &'static str,
    },
}

#[derive(Serialize)]
struct Tls<'a> {
    enabled: bool,
    server_name: &'a str,
    utls: Utls<'a>,
    reality: Reality<'a>,
}

#[derive(Serialize)]
struct Utls<'a> {
    enabled: bool,
    fingerprint: &'a str,
}

#[derive(Serialize)]
struct Reality<'a> {
    enabled: bool,
    public_key: &'a str,
    short_id: &'a str,
}

#[derive(Serialize)]
struct Route {
    auto_detect_interface: bool,
    #[serde(rename = "final")]
    final_outbound: &'static str,
}

pub(super) fn render(entries: &[Entry]) -> String {
    let names: Vec<&str> = entries.iter().map(|e| e.node.label.as_str()).collect();
    let mut choices = Vec::with_capacity(names.len() + 1);
    choices.push(URLTEST);
    choices.extend(&names);
    let mut outbounds = Vec::with_capacity(entries.len() + 3);
    outbounds.push(Outbound::Selector {
        tag: SELECTOR,
        outbounds: choices,
        default: URLTEST,
    });
    outbounds.push(Outbound::Urltest {
        tag: URLTEST,
        outbounds: names,
        url: TEST_URL,
        interval: "5m",
    });
    outbounds.extend(entries.iter().map(|e| Outbound::Vless {
        tag: &e.node.label,
        server: &e.node.host,
        server_port: e.node.port,
        uuid: e.uuid.to_string(),
        flow: VISION_FLOW,
        tls: Tls {
            enabled: true,
            server_name: &e.node.sni,
            utls: Utls {
                enabled: true,
                fingerprint: &e.node.fingerprint,
            },
            reality: Reality {
                enabled: true,
                public_key: &e.node.public_key,
                short_id: &e.node.short_id,
            },
        },
    }));
    outbounds.push(Outbound::Direct { tag: "direct" });
    let profile = Profile {
        log: Log { level: "warn" },
        inbounds: [Tun {
            kind: "tun",
            tag: "tun-in",
            address: ["172.19.0.1/30"],
            auto_route: true,
            strict_route: true,
        }],
        outbounds,
        route: Route {
            auto_detect_interface: true,
            final_outbound: SELECTOR,
        },
    };
    // Plain structs of strings, numbers and booleans: cannot fail.
    serde_json::to_string_pretty(&profile).expect("a sing-box profile serializes")
}
