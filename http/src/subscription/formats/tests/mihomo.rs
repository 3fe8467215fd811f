//! Strict mirrors of Mihomo's option types, as far as a subscription uses
//! them: `VlessOption` with `BasicOption` (`adapter/outbound/vless.go`,
//! `base.go`), `RealityOptions` (`adapter/outbound/reality.go`),
//! `GroupCommonOption` (`adapter/outboundgroup/parser.go`) and the top-level
//! keys of `RawConfig` (`config/config.go`) at MetaCubeX/mihomo v1.19.2
//! (commit ccc3f84da22dad5210ce2f7986c34198cc75a3dc). Field names are the
//! `proxy:"…"` / `group:"…"` tags; unknown keys are refused.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::Seen;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct RawConfig {
    mixed_port: Option<u16>,
    mode: Option<String>,
    log_level: Option<String>,
    proxies: Vec<VlessOption>,
    proxy_groups: Vec<GroupCommonOption>,
    rules: Vec<String>,
}

/// `VlessOption` + `BasicOption`, and the `type` key the parser switches on.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct VlessOption {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    server: String,
    port: u16,
    uuid: String,
    flow: Option<String>,
    tls: Option<bool>,
    alpn: Option<IgnoredAny>,
    udp: Option<bool>,
    packet_addr: Option<bool>,
    xudp: Option<bool>,
    packet_encoding: Option<String>,
    network: Option<String>,
    reality_opts: Option<RealityOptions>,
    http_opts: Option<IgnoredAny>,
    h2_opts: Option<IgnoredAny>,
    grpc_opts: Option<IgnoredAny>,
    ws_opts: Option<IgnoredAny>,
    ws_path: Option<String>,
    ws_headers: Option<IgnoredAny>,
    skip_cert_verify: Option<bool>,
    fingerprint: Option<String>,
    servername: Option<String>,
    client_fingerprint: Option<String>,
    // BasicOption
    tfo: Option<bool>,
    mptcp: Option<bool>,
    interface_name: Option<String>,
    routing_mark: Option<i64>,
    ip_version: Option<String>,
    dialer_proxy: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RealityOptions {
    public_key: String,
    short_id: String,
}

/// `GroupCommonOption` (the fields used).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct GroupCommonOption {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    proxies: Option<Vec<String>>,
    #[serde(rename = "use")]
    providers: Option<Vec<String>>,
    url: Option<String>,
    interval: Option<u32>,
    timeout: Option<u32>,
    lazy: Option<bool>,
    tolerance: Option<u32>,
}

/// The VLESS proxies of a Mihomo profile; checks the groups cover every
/// proxy and the last rule sends everything to the select group.
pub(super) fn parse(body: &str) -> Vec<Seen> {
    assert!(
        !body.contains('{') && !body.contains('['),
        "block YAML:\n{body}"
    );
    let config: RawConfig = serde_saphyr::from_str(body).expect("Mihomo reads the profile");
    let seen: Vec<Seen> = config
        .proxies
        .into_iter()
        .map(|p| {
            assert_eq!(p.kind, "vless");
            assert_eq!(p.tls, Some(true));
            assert_eq!(p.udp, Some(true));
            assert_eq!(p.network.as_deref(), Some("tcp"));
            assert!(p.alpn.is_none() && p.skip_cert_verify.is_none() && p.fingerprint.is_none());
            assert!(p.packet_addr.is_none() && p.xudp.is_none() && p.packet_encoding.is_none());
            assert!(p.ws_opts.is_none() && p.ws_path.is_none() && p.ws_headers.is_none());
            assert!(p.http_opts.is_none() && p.h2_opts.is_none() && p.grpc_opts.is_none());
            assert!(p.tfo.is_none() && p.mptcp.is_none() && p.interface_name.is_none());
            assert!(p.routing_mark.is_none() && p.ip_version.is_none() && p.dialer_proxy.is_none());
            let reality = p.reality_opts.expect("reality-opts");
            Seen {
                name: p.name,
                uuid: p.uuid,
                host: p.server,
                port: p.port,
                sni: p.servername.unwrap_or_default(),
                public_key: reality.public_key,
                short_id: reality.short_id,
                fingerprint: p.client_fingerprint.unwrap_or_default(),
                flow: p.flow.unwrap_or_default(),
            }
        })
        .collect();
    let names: Vec<&str> = seen.iter().map(|s| s.name.as_str()).collect();
    let [select, auto] = &config.proxy_groups[..] else {
        panic!("two groups");
    };
    assert_eq!(select.kind, "select");
    assert_eq!(auto.kind, "url-test");
    assert_eq!(
        auto.proxies.as_deref(),
        Some(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>()[..])
    );
    let choices = select.proxies.as_ref().expect("select proxies");
    assert_eq!(choices[0], auto.name);
    assert_eq!(
        choices[1..],
        names.iter().map(|n| n.to_string()).collect::<Vec<_>>()[..]
    );
    assert_eq!(config.rules, [format!("MATCH,{}", select.name)]);
    seen
}

#[test]
fn the_mirror_refuses_unknown_keys() {
    let proxy = "proxies:\n  - type: vless\n    name: a\n    server: h\n    port: 1\n    uuid: u\n    KEY: x\nproxy-groups: []\nrules: []\n";
    assert!(serde_saphyr::from_str::<RawConfig>(&proxy.replace("KEY", "sni")).is_err());
    assert!(serde_saphyr::from_str::<RawConfig>(&proxy.replace("KEY", "servername")).is_ok());
}
