//! `xray`: a JSON array of full Xray-core configs, one per entry, named by
//! `remarks`: the form v2rayN and Happ import as a subscription (as
//! Remnawave's and Marzban's "xray-json" answers). Each config has a local
//! SOCKS and HTTP inbound, the VLESS + REALITY outbound (`proxy`), `direct`
//! and `block`, and routing that keeps private addresses off the tunnel.
//!
//! Field names follow Xray-core's `infra/conf` JSON.

use serde::Serialize;

use super::super::view::Entry;
use subvisor_actors::domain::VISION_FLOW;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Config<'a> {
    remarks: &'a str,
    log: Log,
    inbounds: [Inbound; 2],
    outbounds: [Outbound<'a>; 3],
    routing: Routing,
}

#[derive(Serialize)]
struct Log {
    loglevel: &'static str,
}

#[derive(Serialize)]
struct Inbound {
    tag: &'static str,
    listen: &'static str,
    port: u16,
    protocol: &'static str,
    settings: InboundSettings,
    sniffing: Sniffing,
}

#[derive(Serialize)]
struct InboundSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    udp: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Sniffing {
    enabled: bool,
    dest_override: [&'static str; 3],
    route_only: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Outbound<'a> {
    tag: &'static str,
    protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<VlessSettings<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_settings: Option<StreamSettings<'a>>,
}

#[derive(Serialize)]
struct VlessSettings<'a> {
    vnext: [Server<'a>; 1],
}

#[derive(Serialize)]
struct Server<'a> {
    address: &'a str,
    port: u16,
    users: [User; 1],
}

#[derive(Serialize)]
struct User {
    id: String,
    encryption: &'static str,
    flow: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StreamSettings<'a> {
    network: &'static str,
    security: &'static str,
    reality_settings: RealitySettings<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RealitySettings<'a> {
    server_name: &'a str,
    public_key: &'a str,
    short_id: &'a str,
    fingerprint: &'a str,
    spider_x: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Routing {
    domain_strategy: &'static str,
    rules: [Rule; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(rename = "type")]
    kind: &'static str,
    ip: [&'static str; 1],
    outbound_tag: &'static str,
}

fn local(tag: &'static str, port: u16, protocol: &'static str) -> Inbound {
    Inbound {
        tag,
        listen: "127.0.0.1",
        port,
        protocol,
        settings: InboundSettings {
            udp: (protocol == "socks").then_some(true),
            auth: (protocol == "socks").then_some("noauth"),
        },
        sniffing: Sniffing {
            enabled: true,
            dest_override: ["http", "tls", "quic"],
            route_only: true,
        },
    }
}

fn config(e: &Entry) -> Config<'_> {
    let bare = |tag, protocol| Outbound {
        tag,
        protocol,
        settings: None,
        stream_settings: None,
    };
    Config {
        remarks: &e.node.label,
        log: Log {
            loglevel: "warning",
        },
        inbounds: [local("socks", 10808, "socks"), local("http", 10809, "http")],
        outbounds: [
            Outbound {
                tag: "proxy",
                protocol: "vless",
                settings: Some(VlessSettings {
                    vnext: [Server {
                        address: &e.node.host,
                        port: e.node.port,
                        users: [User {
                            id: e.uuid.to_string(),
                            encryption: "none",
                            flow: VISION_FLOW,
                        }],
                    }],
                }),
                stream_settings: Some(StreamSettings {
                    network: "tcp",
                    security: "reality",
                    reality_settings: RealitySettings {
                        server_name: &e.node.sni,
                        public_key: &e.node.public_key,
                        short_id: &e.node.short_id,
                        fingerprint: &e.node.fingerprint,
                        spider_x: "",
                    },
                }),
            },
            bare("direct", "freedom"),
            bare("block", "blackhole"),
        ],
        routing: Routing {
            domain_strategy: "AsIs",
            rules: [Rule {
                kind: "field",
                ip: ["geoip:private"],
                outbound_tag: "direct",
            }],
        },
    }
}

pub(super) fn render(entries: &[Entry]) -> String {
    let configs: Vec<Config> = entries.iter().map(config).collect();
    // Plain structs of strings, numbers and booleans: cannot fail.
    serde_json::to_string_pretty(&configs).expect("Xray configs serialize")
}
