//! VLESS share links (`vless://…`) per the share-link proposal of
//! XTLS/Xray-core discussion 716: one link per node, named by the node label.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every value is percent-encoded except the unreserved `A-Z a-z 0-9 - _ . ~`
/// (so a space becomes `%20`, never `+`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Every client gets this flow (XTLS Vision).
pub const VISION_FLOW: &str = "xtls-rprx-vision";

/// The client-side parameters of one node's VLESS + REALITY inbound, from config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkParams {
    /// Address clients connect to (DNS name or IP).
    pub host: String,
    pub port: u16,
    /// REALITY server name (a real site the node imitates).
    pub sni: String,
    /// REALITY public key: base64url (no padding) of 32 bytes.
    pub public_key: String,
    /// REALITY short id: even-length hex, at most 16 characters (may be empty).
    pub short_id: String,
    /// uTLS fingerprint, e.g. `chrome`.
    pub fingerprint: String,
    /// Name shown in clients.
    pub label: String,
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// `vless://UUID@host:port?encryption=none&security=reality&type=tcp&flow=…&sni=…&fp=…&pbk=…&sid=…#label`
pub fn vless_link(uuid: Uuid, node: &LinkParams) -> String {
    let host = if node.host.contains(':') && !node.host.starts_with('[') {
        format!("[{}]", node.host) // IPv6 literal
    } else {
        enc(&node.host)
    };
    format!(
        "vless://{uuid}@{host}:{port}?encryption=none&security=reality&type=tcp&flow={flow}&sni={sni}&fp={fp}&pbk={pbk}&sid={sid}#{label}",
        port = node.port,
        flow = enc(VISION_FLOW),
        sni = enc(&node.sni),
        fp = enc(&node.fingerprint),
        pbk = enc(&node.public_key),
        sid = enc(&node.short_id),
        label = enc(&node.label),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::percent_decode_str;

    fn params(label: &str) -> LinkParams {
        LinkParams {
            host: "vpn.example.com".into(),
            port: 443,
            sni: "www.microsoft.com".into(),
            public_key: "Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw".into(),
            short_id: "6ba85179e30d4fc2".into(),
            fingerprint: "chrome".into(),
            label: label.into(),
        }
    }

    /// Splits a link back into (uuid, host, port, query pairs decoded, fragment decoded).
    fn parse(link: &str) -> (String, String, u16, Vec<(String, String)>, String) {
        let rest = link.strip_prefix("vless://").expect("scheme");
        let (before_frag, frag) = rest.split_once('#').expect("fragment");
        let (authority, query) = before_frag.split_once('?').expect("query");
        let (uuid, hostport) = authority.split_once('@').expect("userinfo");
        let (host, port) = hostport.rsplit_once(':').expect("port");
        let dec = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .expect("utf-8")
                .into_owned()
        };
        let pairs = query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("pair");
                (k.to_owned(), dec(v))
            })
            .collect();
        (
            uuid.into(),
            dec(host),
            port.parse().expect("port"),
            pairs,
            dec(frag),
        )
    }

    #[test]
    fn link_has_every_parameter_in_order() {
        let uuid = Uuid::parse_str("b831381d-6324-4d53-ad4f-8cda48b30811").expect("uuid");
        assert_eq!(
            vless_link(uuid, &params("DE Frankfurt")),
            "vless://b831381d-6324-4d53-ad4f-8cda48b30811@vpn.example.com:443?encryption=none&security=reality&type=tcp&flow=xtls-rprx-vision&sni=www.microsoft.com&fp=chrome&pbk=Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw&sid=6ba85179e30d4fc2#DE%20Frankfurt"
        );
    }

    #[test]
    fn special_characters_round_trip() {
        let uuid = Uuid::new_v4();
        let mut p = params("Ünïcode & spaces #1 / ?=+ 🇩🇪 100%");
        p.sni = "a b&c=d".into();
        p.fingerprint = "random?x".into();
        let link = vless_link(uuid, &p);
        let query_and_frag = link.split_once('?').expect("query").1;
        assert!(!query_and_frag.contains(' ') && !query_and_frag.contains('+'));
        assert_eq!(
            query_and_frag.matches('#').count(),
            1,
            "only the fragment separator"
        );
        let (u, host, port, pairs, label) = parse(&link);
        assert_eq!(u, uuid.to_string());
        assert_eq!((host.as_str(), port), ("vpn.example.com", 443));
        assert_eq!(label, p.label);
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("sni"), Some(p.sni.clone()));
        assert_eq!(get("fp"), Some(p.fingerprint.clone()));
        assert_eq!(get("flow").as_deref(), Some(VISION_FLOW));
        assert_eq!(get("pbk"), Some(p.public_key.clone()));
        assert_eq!(get("sid"), Some(p.short_id.clone()));
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let mut p = params("x");
        p.host = "2001:db8::1".into();
        assert!(vless_link(Uuid::nil(), &p).contains("@[2001:db8::1]:443?"));
    }
}
