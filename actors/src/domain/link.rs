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

impl LinkParams {
    /// Checks what `check-config` promises: public key is base64url of 32 bytes,
    /// short id is even-length hex of at most 16 characters, port in range, SNI,
    /// host, fingerprint and label non-empty. Errors name the field.
    pub fn validate(&self) -> crate::Result<()> {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let bad = |field: &'static str, reason: &str| {
            Err(crate::Error::invalid(field, reason.to_owned()))
        };
        if self.host.trim().is_empty() {
            return bad("host", "must not be empty");
        }
        if self.port == 0 {
            return bad("port", "must be 1-65535");
        }
        if self.sni.trim().is_empty() {
            return bad("sni", "must not be empty");
        }
        match URL_SAFE_NO_PAD.decode(self.public_key.trim_end_matches('=')) {
            Ok(bytes) if bytes.len() == 32 => {}
            Ok(bytes) => {
                return bad(
                    "public_key",
                    &format!("decodes to {} bytes, expected 32", bytes.len()),
                );
            }
            Err(_) => return bad("public_key", "must be base64url (Xray's `x25519` output)"),
        }
        if self.short_id.len() > 16
            || !self.short_id.len().is_multiple_of(2)
            || !self.short_id.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return bad(
                "short_id",
                "must be hex of even length, at most 16 characters",
            );
        }
        if self.fingerprint.trim().is_empty() {
            return bad("fingerprint", "must not be empty");
        }
        if self.label.trim().is_empty() {
            return bad("label", "must not be empty");
        }
        Ok(())
    }
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
    fn parameters_are_validated() {
        assert!(params("x").validate().is_ok());
        let field = |p: LinkParams| match p.validate() {
            Err(crate::Error::InvalidInput { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        };
        let mut p = params("x");
        p.public_key = "tooshort".into();
        assert_eq!(field(p), "public_key");
        let mut p = params("x");
        p.public_key = "not base64 !!".into();
        assert_eq!(field(p), "public_key");
        for sid in ["abc", "zz", "0123456789abcdef01"] {
            let mut p = params("x");
            p.short_id = sid.into();
            assert_eq!(field(p), "short_id", "{sid}");
        }
        let mut p = params("x");
        p.short_id = String::new();
        assert!(p.validate().is_ok(), "an empty short id is allowed");
        let mut p = params("x");
        p.port = 0;
        assert_eq!(field(p), "port");
        let mut p = params("x");
        p.sni = " ".into();
        assert_eq!(field(p), "sni");
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        let mut p = params("x");
        p.host = "2001:db8::1".into();
        assert!(vless_link(Uuid::nil(), &p).contains("@[2001:db8::1]:443?"));
    }
}
