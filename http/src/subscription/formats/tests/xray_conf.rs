//! Strict mirrors of the parts of Xray-core's JSON config (`infra/conf`:
//! `Config`, `InboundDetourConfig`, `OutboundDetourConfig`, `VLessOutboundConfig`,
//! `StreamConfig`, `REALITYConfig`, `RouterConfig`) a subscription writes,
//! plus `remarks`, the name v2rayN and Happ show; unknown keys are refused.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::Seen;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    remarks: String,
    log: Option<IgnoredAny>,
    inbounds: Vec<Inbound>,
    outbounds: Vec<Outbound>,
    routing: Option<Routing>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Inbound {
    tag: String,
    listen: String,
    port: u16,
    protocol: String,
    settings: Option<IgnoredAny>,
    sniffing: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Outbound {
    tag: String,
    protocol: String,
    settings: Option<VlessSettings>,
    stream_settings: Option<StreamSettings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VlessSettings {
    vnext: Vec<Server>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Server {
    address: String,
    port: u16,
    users: Vec<User>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    id: String,
    encryption: String,
    flow: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StreamSettings {
    network: String,
    security: String,
    reality_settings: RealitySettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct RealitySettings {
    server_name: String,
    public_key: String,
    short_id: String,
    fingerprint: String,
    spider_x: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct Routing {
    domain_strategy: Option<String>,
    rules: Vec<IgnoredAny>,
}

/// One entry per config: its `proxy` outbound, named by `remarks`.
pub(super) fn parse(body: &str) -> Vec<Seen> {
    let configs: Vec<Config> = serde_json::from_str(body).expect("Xray configs");
    configs
        .into_iter()
        .map(|c| {
            let protocols: Vec<&str> = c.inbounds.iter().map(|i| i.protocol.as_str()).collect();
            assert_eq!(protocols, ["socks", "http"]);
            assert!(c.inbounds.iter().all(|i| i.listen == "127.0.0.1"));
            assert!(c.routing.is_some() && c.log.is_some());
            let tags: Vec<&str> = c.outbounds.iter().map(|o| o.tag.as_str()).collect();
            assert_eq!(
                tags,
                ["proxy", "direct", "block"],
                "the proxy is the default outbound"
            );
            let proxy = c.outbounds.into_iter().next().expect("proxy");
            assert_eq!(proxy.protocol, "vless");
            let mut vnext = proxy.settings.expect("settings").vnext;
            assert_eq!(vnext.len(), 1);
            let server = vnext.remove(0);
            let [user] = &server.users[..] else {
                panic!("one user")
            };
            assert_eq!(user.encryption, "none");
            let stream = proxy.stream_settings.expect("streamSettings");
            assert_eq!(
                (stream.network.as_str(), stream.security.as_str()),
                ("tcp", "reality")
            );
            let r = stream.reality_settings;
            Seen {
                name: c.remarks,
                uuid: user.id.clone(),
                host: server.address,
                port: server.port,
                sni: r.server_name,
                public_key: r.public_key,
                short_id: r.short_id,
                fingerprint: r.fingerprint,
                flow: user.flow.clone(),
            }
        })
        .collect()
}
