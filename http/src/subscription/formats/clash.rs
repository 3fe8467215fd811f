//! `clash`: a Mihomo (Clash Meta) profile in YAML, what Clash Verge Rev,
//! FlClash, Mihomo Party, ClashMetaForAndroid and Stash import: the VLESS +
//! REALITY proxies, a `select` group over a `url-test` group and the proxies,
//! and one rule sending everything to the select group.
//!
//! Field names follow Mihomo's `VlessOption` (`adapter/outbound/vless.go`)
//! and `RealityOptions` (`adapter/outbound/reality.go`) and the group options
//! (`adapter/outboundgroup/parser.go`).
//!
//! YAML writer: `serde-saphyr` rather than a `serde_yaml` fork
//! (`serde_norway`): it is pure safe Rust (the forks wrap `unsafe-libyaml`,
//! libyaml machine-translated to unsafe Rust), actively released, and writes
//! plain block YAML with strings that would read as numbers, booleans or null
//! quoted, which is what Mihomo's parser needs (a short id like `1234` or
//! `1e10` must stay a string).

use serde::Serialize;

use super::super::view::Entry;
use subvisor_actors::domain::VISION_FLOW;

/// The select group: what the user picks in the app; the only rule's target.
pub const SELECT_GROUP: &str = "Proxy";
/// The url-test group: the fastest entry, picked automatically.
pub const AUTO_GROUP: &str = "Auto";
const TEST_URL: &str = "https://www.gstatic.com/generate_204";

#[derive(Serialize)]
struct Profile<'a> {
    #[serde(rename = "mixed-port")]
    mixed_port: u16,
    mode: &'static str,
    #[serde(rename = "log-level")]
    log_level: &'static str,
    proxies: Vec<Proxy<'a>>,
    #[serde(rename = "proxy-groups")]
    proxy_groups: Vec<Group<'a>>,
    rules: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Proxy<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    server: &'a str,
    port: u16,
    uuid: String,
    network: &'static str,
    tls: bool,
    udp: bool,
    flow: &'static str,
    servername: &'a str,
    client_fingerprint: &'a str,
    reality_opts: RealityOpts<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RealityOpts<'a> {
    public_key: &'a str,
    short_id: &'a str,
}

#[derive(Serialize)]
struct Group<'a> {
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    proxies: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<u32>,
}

pub(super) fn render(entries: &[Entry]) -> String {
    let proxies: Vec<Proxy> = entries
        .iter()
        .map(|e| Proxy {
            name: &e.node.label,
            kind: "vless",
            server: &e.node.host,
            port: e.node.port,
            uuid: e.uuid.to_string(),
            network: "tcp",
            tls: true,
            udp: true,
            flow: VISION_FLOW,
            servername: &e.node.sni,
            client_fingerprint: &e.node.fingerprint,
            reality_opts: RealityOpts {
                public_key: &e.node.public_key,
                short_id: &e.node.short_id,
            },
        })
        .collect();
    let names: Vec<&str> = entries.iter().map(|e| e.node.label.as_str()).collect();
    let mut choices = Vec::with_capacity(names.len() + 1);
    choices.push(AUTO_GROUP);
    choices.extend(&names);
    let profile = Profile {
        mixed_port: 7890,
        mode: "rule",
        log_level: "warning",
        proxies,
        proxy_groups: vec![
            Group {
                name: SELECT_GROUP,
                kind: "select",
                proxies: choices,
                url: None,
                interval: None,
            },
            Group {
                name: AUTO_GROUP,
                kind: "url-test",
                proxies: names,
                url: Some(TEST_URL),
                interval: Some(300),
            },
        ],
        rules: vec![format!("MATCH,{SELECT_GROUP}")],
    };
    // Plain structs of strings, numbers and booleans: the writer cannot fail.
    serde_saphyr::to_string(&profile).expect("a Mihomo profile serializes")
}
