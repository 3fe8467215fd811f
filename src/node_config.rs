//! `subvisor node-config <name>`: the Xray server configuration of one node,
//! built from the same `[[nodes]]` entry the links come from, so a node's port,
//! SNI, keys and short id cannot drift from what users' clients are told.
//!
//! The JSON is serialized from typed structs (Xray's config schema, only what
//! a subvisor node needs): an API inbound (`dokodemo-door` on the node's `api`
//! address) with `HandlerService` and `StatsService`, `stats` and `policy`
//! for per-user traffic counters (levels `statsUserUplink`/`Downlink`) and
//! system counters, a routing rule sending the API inbound to the API, the
//! VLESS + REALITY inbound (tag, port, `serverNames`, private key, short ids,
//! `dest`; TCP, no clients: the service adds them with `xtls-rprx-vision`),
//! and a `freedom` outbound.

use std::collections::BTreeMap;
use std::net::IpAddr;

use secrecy::ExposeSecret;
use serde::Serialize;

use crate::config::NodeSettings;

/// The tag of the API inbound and of the API's routing target.
pub const API_TAG: &str = "api";

/// What `node-config` needs beyond the `[[nodes]]` entry.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// REALITY private key when the entry has no `private_key`.
    pub private_key: Option<String>,
    /// REALITY `dest` (the site REALITY borrows the handshake of); default `<sni>:443`.
    pub dest: Option<String>,
    /// Address the VLESS inbound listens on; default `0.0.0.0`.
    pub listen: Option<String>,
}

/// Why no configuration could be built.
#[derive(Debug, thiserror::Error)]
pub enum NodeConfigError {
    #[error("no [[nodes]] entry named {0:?}")]
    UnknownNode(String),
    #[error(
        "node {0}: no REALITY private key: set nodes[].private_key, or pass --private-key / --private-key-file"
    )]
    NoPrivateKey(String),
    #[error("node {node}: the private key {reason}")]
    BadPrivateKey { node: String, reason: String },
    #[error("node {0}: the private key does not belong to public_key (links would not connect)")]
    KeyMismatch(String),
    #[error("node {node}: api {api:?} is not host:port")]
    BadApi { node: String, api: String },
}

/// Xray's top-level configuration.
#[derive(Debug, Serialize)]
pub struct XrayConfig {
    pub log: Log,
    pub api: Api,
    pub stats: Stats,
    pub policy: Policy,
    pub inbounds: Vec<Inbound>,
    pub outbounds: Vec<Outbound>,
    pub routing: Routing,
}

#[derive(Debug, Serialize)]
pub struct Log {
    pub loglevel: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Api {
    pub tag: &'static str,
    pub services: Vec<&'static str>,
}

/// Enables the stats manager (an empty object).
#[derive(Debug, Serialize)]
pub struct Stats {}

#[derive(Debug, Serialize)]
pub struct Policy {
    /// By user level; the service adds every user at level 0.
    pub levels: BTreeMap<String, LevelPolicy>,
    pub system: SystemPolicy,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LevelPolicy {
    pub stats_user_uplink: bool,
    pub stats_user_downlink: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemPolicy {
    pub stats_inbound_uplink: bool,
    pub stats_inbound_downlink: bool,
    pub stats_outbound_uplink: bool,
    pub stats_outbound_downlink: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inbound {
    pub tag: String,
    pub listen: String,
    pub port: u16,
    pub protocol: &'static str,
    pub settings: InboundSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_settings: Option<StreamSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sniffing: Option<Sniffing>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum InboundSettings {
    /// `dokodemo-door`: where the API inbound forwards to.
    Dokodemo { address: String },
    /// `vless`: clients come over the API.
    Vless {
        clients: Vec<serde_json::Value>,
        decryption: &'static str,
    },
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamSettings {
    /// `tcp` (RAW): XTLS Vision needs it.
    pub network: &'static str,
    pub security: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reality_settings: Option<RealitySettings>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RealitySettings {
    pub show: bool,
    pub dest: String,
    pub xver: u32,
    pub server_names: Vec<String>,
    pub private_key: String,
    pub short_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sniffing {
    pub enabled: bool,
    pub dest_override: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct Outbound {
    pub tag: &'static str,
    pub protocol: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Routing {
    pub rules: Vec<RoutingRule>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingRule {
    pub r#type: &'static str,
    pub inbound_tag: Vec<String>,
    pub outbound_tag: String,
}

/// The Xray server configuration of `node` (an entry that has passed
/// validation: name, link parameters, keys).
pub fn build(node: &NodeSettings, options: &Options) -> Result<XrayConfig, NodeConfigError> {
    let private_key = match (&node.private_key, &options.private_key) {
        (_, Some(given)) => given.trim().to_owned(),
        (Some(configured), None) => configured.expose_secret().trim().to_owned(),
        (None, None) => return Err(NodeConfigError::NoPrivateKey(node.name.clone())),
    };
    let public = crate::keys::public_from_private(&private_key).map_err(|reason| {
        NodeConfigError::BadPrivateKey {
            node: node.name.clone(),
            reason,
        }
    })?;
    if public != node.public_key.trim_end_matches('=') {
        return Err(NodeConfigError::KeyMismatch(node.name.clone()));
    }
    let (api_host, api_port) = node
        .api
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)))
        .ok_or_else(|| NodeConfigError::BadApi {
            node: node.name.clone(),
            api: node.api.clone(),
        })?;
    let api_host = api_host.trim_start_matches('[').trim_end_matches(']');
    // Xray listens on an IP; a DNS name reaching the node means "any address".
    let api_listen = match api_host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => "0.0.0.0".to_owned(),
    };
    Ok(XrayConfig {
        log: Log {
            loglevel: "warning",
        },
        api: Api {
            tag: API_TAG,
            services: vec!["HandlerService", "StatsService"],
        },
        stats: Stats {},
        policy: Policy {
            levels: BTreeMap::from([(
                "0".to_owned(),
                LevelPolicy {
                    stats_user_uplink: true,
                    stats_user_downlink: true,
                },
            )]),
            system: SystemPolicy {
                stats_inbound_uplink: true,
                stats_inbound_downlink: true,
                stats_outbound_uplink: true,
                stats_outbound_downlink: true,
            },
        },
        inbounds: vec![
            Inbound {
                tag: API_TAG.to_owned(),
                listen: api_listen,
                port: api_port,
                protocol: "dokodemo-door",
                settings: InboundSettings::Dokodemo {
                    address: "127.0.0.1".to_owned(),
                },
                stream_settings: None,
                sniffing: None,
            },
            Inbound {
                tag: node.inbound_tag.clone(),
                listen: options.listen.clone().unwrap_or_else(|| "0.0.0.0".into()),
                port: node.port,
                protocol: "vless",
                settings: InboundSettings::Vless {
                    clients: Vec::new(),
                    decryption: "none",
                },
                stream_settings: Some(StreamSettings {
                    network: "tcp",
                    security: "reality",
                    reality_settings: Some(RealitySettings {
                        show: false,
                        dest: options
                            .dest
                            .clone()
                            .unwrap_or_else(|| format!("{}:443", node.sni)),
                        xver: 0,
                        server_names: vec![node.sni.clone()],
                        private_key,
                        short_ids: vec![node.short_id.clone()],
                    }),
                }),
                sniffing: Some(Sniffing {
                    enabled: true,
                    dest_override: vec!["http", "tls"],
                }),
            },
        ],
        outbounds: vec![
            Outbound {
                tag: "direct",
                protocol: "freedom",
            },
            Outbound {
                tag: "block",
                protocol: "blackhole",
            },
        ],
        routing: Routing {
            rules: vec![RoutingRule {
                r#type: "field",
                inbound_tag: vec![API_TAG.to_owned()],
                outbound_tag: API_TAG.to_owned(),
            }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(private: Option<&str>, public: &str) -> NodeSettings {
        NodeSettings {
            name: "de-1".into(),
            api: "10.0.0.5:10085".into(),
            api_flavor: Default::default(),
            inbound_tag: "vless-in".into(),
            host: "vpn.example.com".into(),
            port: 8443,
            sni: "www.example.com".into(),
            public_key: public.into(),
            short_id: "6ba85179e30d4fc2".into(),
            fingerprint: "chrome".into(),
            label: "DE".into(),
            private_key: private.map(|p| secrecy::SecretString::from(p.to_owned())),
        }
    }

    #[test]
    fn the_config_carries_the_entry() {
        let (private, public) = crate::keys::generate().expect("keys");
        let config = build(&node(Some(&private), &public), &Options::default()).expect("config");
        let json = serde_json::to_value(&config).expect("json");
        let vless = &json["inbounds"][1];
        assert_eq!(vless["tag"], "vless-in");
        assert_eq!(vless["port"], 8443);
        assert_eq!(vless["protocol"], "vless");
        assert_eq!(vless["settings"]["decryption"], "none");
        assert_eq!(vless["streamSettings"]["network"], "tcp");
        assert_eq!(vless["streamSettings"]["security"], "reality");
        let reality = &vless["streamSettings"]["realitySettings"];
        assert_eq!(reality["serverNames"][0], "www.example.com");
        assert_eq!(reality["privateKey"], private.as_str());
        assert_eq!(reality["shortIds"][0], "6ba85179e30d4fc2");
        assert_eq!(reality["dest"], "www.example.com:443");
        let api = &json["inbounds"][0];
        assert_eq!(
            (&api["listen"], &api["port"], &api["protocol"]),
            (&"10.0.0.5".into(), &10085.into(), &"dokodemo-door".into())
        );
        assert_eq!(json["routing"]["rules"][0]["inboundTag"][0], "api");
        assert_eq!(json["routing"]["rules"][0]["outboundTag"], "api");
        assert_eq!(json["policy"]["levels"]["0"]["statsUserUplink"], true);
        assert_eq!(json["outbounds"][0]["protocol"], "freedom");
    }

    #[test]
    fn the_private_key_must_exist_and_match() {
        let (private, public) = crate::keys::generate().expect("keys");
        let (other, _) = crate::keys::generate().expect("keys");
        assert!(matches!(
            build(&node(None, &public), &Options::default()),
            Err(NodeConfigError::NoPrivateKey(_))
        ));
        let given = Options {
            private_key: Some(private.clone()),
            ..Options::default()
        };
        assert!(build(&node(None, &public), &given).is_ok());
        let wrong = Options {
            private_key: Some(other),
            ..Options::default()
        };
        assert!(matches!(
            build(&node(None, &public), &wrong),
            Err(NodeConfigError::KeyMismatch(_))
        ));
    }
}
