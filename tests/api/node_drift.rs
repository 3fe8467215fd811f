//! Drift between what nodes serve and `[[nodes]]`, on `/ops/nodes`: fake
//! Xray nodes report their inbound (`ListInbounds`); one matches its entry,
//! one serves another port and SNI, one cannot list (like v2ray).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use subvisor::config::NodeSettings;
use subvisor_testkit::fake_xray::{FakeInbound, FakeXrayNode};

use crate::helpers::{Db, spawn_app_with};

const SNI: &str = "www.example.com";
const SHORT_ID: &str = "6ba85179";

fn entry(name: &str, node: &FakeXrayNode, public_key: &str) -> NodeSettings {
    serde_json::from_value(json!({
        "name": name, "api": node.api_addr(), "inbound_tag": node.inbound_tag(),
        "host": "127.0.0.1", "port": 443, "sni": SNI,
        "public_key": public_key, "short_id": SHORT_ID, "label": name,
    }))
    .expect("node settings")
}

#[actix_rt::test]
async fn ops_nodes_shows_drift_per_node() {
    let private = [0x42u8; 32];
    let public = URL_SAFE_NO_PAD.encode(x25519(private));
    let matching = FakeXrayNode::start("vless-in").expect("fake node");
    let drifted = FakeXrayNode::start("vless-in").expect("fake node");
    let silent = FakeXrayNode::start("vless-in").expect("fake node");
    matching.set_inbound(FakeInbound {
        port: 443,
        server_names: vec!["cdn.example.net".into(), SNI.into()],
        private_key: private,
        short_ids: vec![String::new(), SHORT_ID.into()],
    });
    drifted.set_inbound(FakeInbound {
        port: 8443,
        server_names: vec!["www.other.example".into()],
        private_key: private,
        short_ids: vec![SHORT_ID.into()],
    });
    let nodes = vec![
        entry("drift-ok", &matching, &public),
        entry("drift-off", &drifted, &public),
        entry("drift-unknown", &silent, &public),
    ];
    let app = spawn_app_with(
        Db::Sqlite,
        Arc::new(subvisor_actors::clock::SystemClock),
        |s| {
            s.nodes = nodes;
            s.reconcile.interval = Duration::from_millis(300);
        },
    )
    .await;

    let node = |nodes: &Value, name: &str| {
        nodes["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let nodes = loop {
        let (status, nodes) = app.get("/ops/nodes").await;
        assert_eq!(status, 200, "{nodes}");
        if !node(&nodes, "drift-ok")["drift"].is_null()
            && !node(&nodes, "drift-off")["drift"].is_null()
        {
            break nodes;
        }
        assert!(Instant::now() < deadline, "no drift check shown: {nodes}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(node(&nodes, "drift-ok")["drift"], json!([]), "{nodes}");
    assert_eq!(
        node(&nodes, "drift-off")["drift"],
        json!([
            {"field": "port", "expected": "443", "actual": "8443"},
            {"field": "sni", "expected": SNI, "actual": "www.other.example"},
        ]),
        "{nodes}"
    );
    assert!(
        node(&nodes, "drift-unknown").get("drift") == Some(&Value::Null),
        "a node that cannot list inbounds: drift null: {nodes}"
    );

    // The node is fixed: the next check clears the drift.
    drifted.set_inbound(FakeInbound {
        port: 443,
        server_names: vec![SNI.into()],
        private_key: private,
        short_ids: vec![SHORT_ID.into()],
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, nodes) = app.get("/ops/nodes").await;
        if node(&nodes, "drift-off")["drift"] == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "drift not cleared: {nodes}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

fn x25519(private: [u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(private, x25519_dalek::X25519_BASEPOINT_BYTES)
}
