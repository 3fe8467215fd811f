//! Drift between a node and its `[[nodes]]` entry: links are built from the
//! entry (port, SNI, public key, short id), so a node serving anything else
//! hands users links that do not connect.
//!
//! Where the node can list its inbounds (Xray-core's
//! `HandlerService.ListInbounds`), the [`DriftChecker`] worker compares the
//! entry's inbound (by tag) with it: the port, the SNI (REALITY `serverNames`
//! must contain ours), the key (the X25519 public key derived from the
//! node's REALITY private key must be the links' `public_key`; so the private
//! key never has to be in our config) and the short id (`shortIds` must
//! contain ours). The result per node is kept in a [`DriftBook`] that
//! `/ops/nodes` shows: `None` while unknown (not checked yet, node
//! unreachable) or unsupported (v2ray has no `ListInbounds`), else the list
//! of mismatches (empty: no drift).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashmap::DashMap;
use serde::Serialize;
use tokio::sync::watch;

use super::NodeConfig;
use super::xray_api::{InboundInfo, XrayApi, XrayError};
use crate::domain::LinkParams;
use crate::workers::Worker;

/// One field where the node differs from its `[[nodes]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// `inbound`, `port`, `sni`, `public_key`, `short_id` or `security`.
    pub field: &'static str,
    /// What `[[nodes]]` (and so every link) says.
    pub expected: String,
    /// What the node serves.
    pub actual: String,
}

/// What a drift check found about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftCheck {
    /// The node cannot list its inbounds (v2ray, Xray before `ListInbounds`).
    Unsupported,
    /// The mismatches; empty when the node serves what the links say.
    Checked(Vec<Mismatch>),
}

/// Compares the inbound tagged `inbound_tag` among `inbounds` with `link`.
pub fn compare(link: &LinkParams, inbound_tag: &str, inbounds: &[InboundInfo]) -> Vec<Mismatch> {
    let Some(inbound) = inbounds.iter().find(|i| i.tag == inbound_tag) else {
        let tags: Vec<&str> = inbounds.iter().map(|i| i.tag.as_str()).collect();
        return vec![Mismatch {
            field: "inbound",
            expected: inbound_tag.to_owned(),
            actual: format!("no such inbound (tags: {})", tags.join(", ")),
        }];
    };
    let mut out = Vec::new();
    let port = u32::from(link.port);
    if !inbound
        .ports
        .iter()
        .any(|&(from, to)| from <= port && port <= to)
    {
        out.push(Mismatch {
            field: "port",
            expected: link.port.to_string(),
            actual: inbound
                .ports
                .iter()
                .map(|&(from, to)| {
                    if from == to {
                        from.to_string()
                    } else {
                        format!("{from}-{to}")
                    }
                })
                .collect::<Vec<_>>()
                .join(","),
        });
    }
    let Some(reality) = &inbound.reality else {
        out.push(Mismatch {
            field: "security",
            expected: "reality".into(),
            actual: if inbound.other_security.is_empty() {
                "none".into()
            } else {
                inbound.other_security.clone()
            },
        });
        return out;
    };
    if !reality.server_names.iter().any(|n| n == &link.sni) {
        out.push(Mismatch {
            field: "sni",
            expected: link.sni.clone(),
            actual: reality.server_names.join(","),
        });
    }
    let public = public_key_of(&reality.private_key);
    if public.as_deref() != Some(link.public_key.trim_end_matches('=')) {
        out.push(Mismatch {
            field: "public_key",
            expected: link.public_key.clone(),
            actual: public.unwrap_or_else(|| "(no valid private key)".into()),
        });
    }
    let ours = short_id_bytes(&link.short_id);
    if !reality.short_ids.iter().any(|id| Some(id) == ours.as_ref()) {
        out.push(Mismatch {
            field: "short_id",
            expected: link.short_id.clone(),
            actual: reality
                .short_ids
                .iter()
                .map(|id| hex_trimmed(id))
                .collect::<Vec<_>>()
                .join(","),
        });
    }
    out
}

/// Asks the node for its inbounds and compares them with `node`'s entry.
pub async fn check(api: &XrayApi, node: &NodeConfig) -> Result<DriftCheck, XrayError> {
    Ok(match api.list_inbounds().await? {
        None => DriftCheck::Unsupported,
        Some(inbounds) => DriftCheck::Checked(compare(&node.link, &node.inbound_tag, &inbounds)),
    })
}

/// The X25519 public key (Xray's base64url) of a raw REALITY private key.
fn public_key_of(private: &[u8]) -> Option<String> {
    let key: [u8; 32] = private.try_into().ok()?;
    let public = x25519_dalek::x25519(key, x25519_dalek::X25519_BASEPOINT_BYTES);
    Some(URL_SAFE_NO_PAD.encode(public))
}

/// A short id as Xray holds it: the hex decoded into 8 zero-padded bytes.
fn short_id_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() > 16 || !hex.len().is_multiple_of(2) {
        return None;
    }
    let mut out = vec![0u8; 8];
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// A short id's bytes as hex, trailing zero bytes dropped (Xray pads to 8).
fn hex_trimmed(id: &[u8]) -> String {
    let end = id.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    id[..end].iter().map(|b| format!("{b:02x}")).collect()
}

/// The latest drift check per node, shared by the checker and `/ops/nodes`.
#[derive(Debug, Clone, Default)]
pub struct DriftBook {
    checks: Arc<DashMap<String, DriftCheck>>,
}

impl DriftBook {
    /// The mismatches found at the last check of `node`; `None` when unknown
    /// (never checked, or the node did not answer) or unsupported.
    pub fn drift(&self, node: &str) -> Option<Vec<Mismatch>> {
        match self.checks.get(node).as_deref() {
            Some(DriftCheck::Checked(mismatches)) => Some(mismatches.clone()),
            Some(DriftCheck::Unsupported) | None => None,
        }
    }

    /// The last check of `node`, if any.
    pub fn check(&self, node: &str) -> Option<DriftCheck> {
        self.checks.get(node).map(|c| c.clone())
    }

    /// Records a check; logs when what was found changes.
    pub fn record(&self, node: &str, check: DriftCheck) {
        let previous = self.checks.insert(node.to_owned(), check.clone());
        if previous.as_ref() == Some(&check) {
            return;
        }
        match &check {
            DriftCheck::Checked(m) if m.is_empty() => {
                tracing::info!(node, "the node serves what its links say (no drift)");
            }
            DriftCheck::Checked(m) => {
                tracing::warn!(node, drift = ?m, "the node differs from its [[nodes]] entry: links may not connect");
            }
            DriftCheck::Unsupported => {
                tracing::info!(
                    node,
                    "the node cannot list its inbounds (v2ray / old Xray): drift unknown"
                );
            }
        }
    }

    /// Forgets `node`'s result (it did not answer): drift is unknown again.
    pub fn forget(&self, node: &str) {
        self.checks.remove(node);
    }
}

/// A worker checking every node for drift at start and every `interval`.
pub struct DriftChecker {
    nodes: Vec<(NodeConfig, XrayApi)>,
    book: DriftBook,
    interval: Duration,
}

impl DriftChecker {
    /// A checker of `nodes` with their own API clients (calls bounded by `call_timeout`).
    pub fn new(
        nodes: &[NodeConfig],
        call_timeout: Duration,
        interval: Duration,
        book: DriftBook,
    ) -> Result<Self, XrayError> {
        let nodes = nodes
            .iter()
            .map(|n| {
                XrayApi::new(&n.api, n.api_flavor, &n.inbound_tag, call_timeout)
                    .map(|api| (n.clone(), api))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            nodes,
            book,
            interval,
        })
    }

    /// One pass over every node, all at once (a hanging node delays no
    /// other node's check).
    pub async fn check_all(&self) {
        let checks = self.nodes.iter().map(|(node, api)| async move {
            match check(api, node).await {
                Ok(found) => self.book.record(node.name.as_str(), found),
                Err(e) => {
                    tracing::debug!(node = %node.name, error = %e, "drift check failed");
                    self.book.forget(node.name.as_str());
                }
            }
        });
        futures_util::future::join_all(checks).await;
    }
}

impl Worker for DriftChecker {
    async fn run(&mut self, mut stopped: watch::Receiver<bool>) {
        loop {
            self.check_all().await;
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::xray_api::RealityInfo;
    use super::*;

    fn link(public_key: &str) -> LinkParams {
        LinkParams {
            host: "vpn.example.com".into(),
            port: 443,
            sni: "www.example.com".into(),
            public_key: public_key.into(),
            short_id: "6ba8".into(),
            fingerprint: "chrome".into(),
            label: "DE".into(),
        }
    }

    #[test]
    fn a_matching_inbound_has_no_drift_and_each_field_is_compared() {
        let private = [7u8; 32];
        let public = public_key_of(&private).expect("key");
        let inbound = InboundInfo {
            tag: "in".into(),
            ports: vec![(443, 443)],
            reality: Some(RealityInfo {
                server_names: vec!["a.example".into(), "www.example.com".into()],
                private_key: private.to_vec(),
                short_ids: vec![vec![0x6b, 0xa8, 0, 0, 0, 0, 0, 0]],
                dest: "www.example.com:443".into(),
            }),
            other_security: String::new(),
        };
        assert_eq!(
            compare(&link(&public), "in", std::slice::from_ref(&inbound)),
            []
        );
        let fields = |m: Vec<Mismatch>| m.into_iter().map(|m| m.field).collect::<Vec<_>>();
        assert_eq!(fields(compare(&link(&public), "other", &[])), ["inbound"]);
        let mut off = inbound.clone();
        off.ports = vec![(8443, 8443)];
        if let Some(r) = off.reality.as_mut() {
            r.server_names = vec!["b.example".into()];
            r.private_key = vec![8u8; 32];
            r.short_ids = vec![vec![0; 8]];
        }
        assert_eq!(
            fields(compare(&link(&public), "in", &[off])),
            ["port", "sni", "public_key", "short_id"]
        );
        let plain = InboundInfo {
            reality: None,
            ..inbound
        };
        assert_eq!(
            fields(compare(&link(&public), "in", &[plain])),
            ["security"]
        );
    }

    #[test]
    fn short_ids_are_compared_as_xray_holds_them() {
        assert_eq!(short_id_bytes(""), Some(vec![0; 8]));
        assert_eq!(
            short_id_bytes("6ba85179e30d4fc2"),
            Some(vec![0x6b, 0xa8, 0x51, 0x79, 0xe3, 0x0d, 0x4f, 0xc2])
        );
        assert_eq!(short_id_bytes("xyz"), None);
        assert_eq!(hex_trimmed(&[0x6b, 0xa8, 0, 0, 0, 0, 0, 0]), "6ba8");
    }
}
