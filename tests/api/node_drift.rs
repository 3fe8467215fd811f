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

/// `check-config --online` asks the nodes too: one line per node, the
/// mismatches listed, exit non-zero on drift.
#[test]
fn check_config_online_lists_the_drift() {
    let private = [0x17u8; 32];
    let public = URL_SAFE_NO_PAD.encode(x25519(private));
    let matching = FakeXrayNode::start("vless-in").expect("fake node");
    let drifted = FakeXrayNode::start("vless-in").expect("fake node");
    let silent = FakeXrayNode::start("vless-in").expect("fake node");
    let inbound = FakeInbound {
        port: 443,
        server_names: vec![SNI.into()],
        private_key: private,
        short_ids: vec![SHORT_ID.into()],
    };
    matching.set_inbound(inbound.clone());
    drifted.set_inbound(FakeInbound {
        private_key: [0x18; 32],
        ..inbound
    });
    let toml = |name: &str, node: &FakeXrayNode| {
        format!(
            "[[nodes]]\nname = \"{name}\"\napi = \"{}\"\ninbound_tag = \"vless-in\"\nhost = \"127.0.0.1\"\nport = 443\nsni = \"{SNI}\"\npublic_key = \"{public}\"\nshort_id = \"{SHORT_ID}\"\nlabel = \"{name}\"\n",
            node.api_addr()
        )
    };
    let cwd = tempfile::tempdir().expect("temp dir");
    let run = |config: String| {
        std::fs::write(cwd.path().join("default.toml"), config).expect("write");
        let out = crate::helpers::bin()
            .args(["check-config", "--online", "--config"])
            .arg(cwd.path())
            .current_dir(cwd.path())
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = run(toml("ok-1", &matching) + &toml("quiet-1", &silent));
    assert!(ok, "{text}");
    assert!(text.contains("ok-1: serves what its links say"), "{text}");
    assert!(text.contains("quiet-1: drift unknown"), "{text}");
    let (ok, text) = run(toml("ok-1", &matching) + &toml("off-1", &drifted));
    assert!(!ok, "drift fails the check: {text}");
    assert!(text.contains("off-1: DRIFT"), "{text}");
    assert!(
        text.contains(&format!("public_key: [[nodes]] says {public:?}")),
        "{text}"
    );
    assert!(
        !text.contains("  port:") && !text.contains("  sni:"),
        "{text}"
    );
}
