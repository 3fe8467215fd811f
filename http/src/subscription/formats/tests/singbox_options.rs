//! Strict mirrors of sing-box's option types, as far as a subscription uses
//! them: field names exactly as in sing-box's `option/*.go` (`options.go`,
//! `outbound.go`, `vless.go`, `tls.go`, `group.go`, `direct.go`, `tun.go`,
//! `route.go`) at commit 7df171ff20cdcd5e79dd373198176811dabc7742
//! (v1.14.0-alpha.2; every field used here is unchanged since 1.11). sing-box
//! decodes with unknown fields disallowed, so these deny them too; fields we
//! never write but sing-box knows are `IgnoredAny` so the mirror stays exact.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::Seen;

/// `option.Options`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Options {
    #[serde(rename = "$schema")]
    _schema: Option<IgnoredAny>,
    log: Option<LogOptions>,
    dns: Option<IgnoredAny>,
    ntp: Option<IgnoredAny>,
    certificate: Option<IgnoredAny>,
    endpoints: Option<IgnoredAny>,
    inbounds: Option<Vec<Inbound>>,
    outbounds: Option<Vec<Outbound>>,
    route: Option<RouteOptions>,
    services: Option<IgnoredAny>,
    experimental: Option<IgnoredAny>,
}

/// `option.LogOptions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct LogOptions {
    disabled: Option<bool>,
    level: Option<String>,
    output: Option<String>,
    timestamp: Option<bool>,
}

/// `option.Inbound` with `option.TunInboundOptions` (the fields used).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[allow(dead_code)]
enum Inbound {
    Tun(TunInboundOptions),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TunInboundOptions {
    tag: Option<String>,
    interface_name: Option<String>,
    mtu: Option<u32>,
    address: Option<Vec<String>>,
    auto_route: Option<bool>,
    strict_route: Option<bool>,
    stack: Option<String>,
}

/// `option.Outbound`: `type`, `tag`, then the type's options.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[allow(dead_code)]
enum Outbound {
    Selector(SelectorOutboundOptions),
    Urltest(UrlTestOutboundOptions),
    Vless(VlessOutboundOptions),
    Direct(DirectOutboundOptions),
}

/// `option.SelectorOutboundOptions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SelectorOutboundOptions {
    tag: String,
    outbounds: Vec<String>,
    default: Option<String>,
    interrupt_exist_connections: Option<bool>,
}

/// `option.URLTestOutboundOptions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UrlTestOutboundOptions {
    tag: String,
    outbounds: Vec<String>,
    url: Option<String>,
    interval: Option<String>,
    tolerance: Option<u16>,
    idle_timeout: Option<String>,
    interrupt_exist_connections: Option<bool>,
}

/// `option.VLESSOutboundOptions` (with `ServerOptions` and the TLS container).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VlessOutboundOptions {
    tag: String,
    server: String,
    server_port: u16,
    uuid: String,
    flow: Option<String>,
    network: Option<IgnoredAny>,
    tls: Option<OutboundTlsOptions>,
    multiplex: Option<IgnoredAny>,
    transport: Option<IgnoredAny>,
    packet_encoding: Option<String>,
}

/// `option.OutboundTLSOptions` (the fields used).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundTlsOptions {
    enabled: Option<bool>,
    disable_sni: Option<bool>,
    server_name: Option<String>,
    insecure: Option<bool>,
    alpn: Option<IgnoredAny>,
    utls: Option<OutboundUtlsOptions>,
    reality: Option<OutboundRealityOptions>,
}

/// `option.OutboundUTLSOptions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundUtlsOptions {
    enabled: Option<bool>,
    fingerprint: Option<String>,
}

/// `option.OutboundRealityOptions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundRealityOptions {
    enabled: Option<bool>,
    public_key: Option<String>,
    short_id: Option<String>,
}

/// `option.DirectOutboundOptions` (the fields used).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DirectOutboundOptions {
    tag: String,
    override_address: Option<String>,
    override_port: Option<u16>,
}

/// `option.RouteOptions` (the fields used).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RouteOptions {
    rules: Option<IgnoredAny>,
    rule_set: Option<IgnoredAny>,
    #[serde(rename = "final")]
    final_outbound: Option<String>,
    auto_detect_interface: Option<bool>,
}

/// The VLESS outbounds of a sing-box profile; checks the groups and route
/// refer to outbounds that exist and cover every VLESS outbound.
pub(super) fn parse(body: &str) -> Vec<Seen> {
    let options: Options = serde_json::from_str(body).expect("sing-box decodes the profile");
    assert!(options.log.is_some());
    assert_eq!(
        options.inbounds.map(|i| i.len()),
        Some(1),
        "one tun inbound"
    );
    let outbounds = options.outbounds.expect("outbounds");
    let mut seen = Vec::new();
    let mut selector = None;
    let mut urltest = None;
    let mut direct = false;
    for outbound in outbounds {
        match outbound {
            Outbound::Vless(v) => {
                let tls = v.tls.expect("tls");
                assert_eq!(tls.enabled, Some(true));
                assert!(tls.disable_sni.is_none() && tls.insecure.is_none() && tls.alpn.is_none());
                let utls = tls.utls.expect("utls");
                assert_eq!(utls.enabled, Some(true));
                let reality = tls.reality.expect("reality");
                assert_eq!(reality.enabled, Some(true));
                assert!(v.network.is_none() && v.multiplex.is_none() && v.transport.is_none());
                assert!(v.packet_encoding.is_none());
                seen.push(Seen {
                    name: v.tag,
                    uuid: v.uuid,
                    host: v.server,
                    port: v.server_port,
                    sni: tls.server_name.unwrap_or_default(),
                    public_key: reality.public_key.unwrap_or_default(),
                    short_id: reality.short_id.unwrap_or_default(),
                    fingerprint: utls.fingerprint.unwrap_or_default(),
                    flow: v.flow.unwrap_or_default(),
                });
            }
            Outbound::Selector(s) => selector = Some(s),
            Outbound::Urltest(u) => urltest = Some(u),
            Outbound::Direct(_) => direct = true,
        }
    }
    assert!(direct, "a direct outbound");
    let names: Vec<&str> = seen.iter().map(|s| s.name.as_str()).collect();
    let urltest = urltest.expect("a urltest outbound");
    assert_eq!(urltest.outbounds, names, "urltest over every entry");
    let selector = selector.expect("a selector outbound");
    assert_eq!(selector.outbounds[0], urltest.tag);
    assert_eq!(
        selector.outbounds[1..],
        names[..],
        "selector over every entry"
    );
    let route = options.route.expect("route");
    assert_eq!(route.final_outbound.as_deref(), Some(selector.tag.as_str()));
    seen
}

#[test]
fn the_mirror_refuses_unknown_fields() {
    let bad = r#"{"outbounds":[{"type":"vless","tag":"a","server":"h","server_port":1,"uuid":"u","tls":{"enabled":true,"reality":{"enabled":true,"publickey":"x"}}}]}"#;
    assert!(serde_json::from_str::<Options>(bad).is_err());
    let good = bad.replace("publickey", "public_key");
    assert!(serde_json::from_str::<Options>(&good).is_ok());
}
