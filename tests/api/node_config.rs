//! `subvisor node-config`: the printed Xray configuration carries the
//! `[[nodes]]` entry, and — with only what Debian's v2ray (4.x) cannot run
//! taken out (REALITY) — runs on a real v2ray: a user is added through its API
//! inbound, fetches a page through the VLESS inbound, and shows up in the
//! per-user traffic counters.

use std::time::Duration;

use serde_json::Value;
use subvisor_actors::provisioning::xray_api::{ApiFlavor, XrayApi};
use subvisor_testkit::v2ray::{HttpTarget, V2rayNode, VlessClient};

use crate::helpers::bin;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[test]
fn node_config_runs_on_v2ray_and_matches_the_links() {
    let (private, public) = subvisor::keys::generate().expect("keys");
    let (api_port, vless_port) = (free_port(), free_port());
    let cwd = tempfile::tempdir().expect("temp dir");
    let conf = cwd.path().join("conf");
    std::fs::create_dir_all(&conf).expect("mkdir");
    std::fs::write(
        conf.join("default.toml"),
        format!(
            "[[nodes]]\nname = \"de-1\"\napi = \"127.0.0.1:{api_port}\"\napi_flavor = \"v2ray\"\ninbound_tag = \"vless-de\"\nhost = \"127.0.0.1\"\nport = {vless_port}\nsni = \"www.example.com\"\npublic_key = \"{public}\"\nshort_id = \"6ba85179e30d4fc2\"\nlabel = \"DE\"\n"
        ),
    )
    .expect("write");
    let key_file = cwd.path().join("reality.key");
    std::fs::write(&key_file, format!("{private}\n")).expect("write");
    let out = bin()
        .args(["node-config", "de-1", "--listen", "127.0.0.1", "--config"])
        .arg(&conf)
        .arg("--private-key-file")
        .arg(&key_file)
        .current_dir(cwd.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut config: Value = serde_json::from_slice(&out.stdout).expect("JSON");

    // The Xray parts v2ray cannot check: REALITY as the links expect it.
    let vless = config["inbounds"]
        .as_array()
        .and_then(|i| i.iter().find(|i| i["protocol"] == "vless"))
        .expect("a VLESS inbound")
        .clone();
    assert_eq!(vless["tag"], "vless-de");
    assert_eq!(vless["port"], vless_port);
    let stream = &vless["streamSettings"];
    assert_eq!(stream["security"], "reality");
    let reality = &stream["realitySettings"];
    assert_eq!(
        reality["serverNames"],
        serde_json::json!(["www.example.com"])
    );
    assert_eq!(reality["shortIds"], serde_json::json!(["6ba85179e30d4fc2"]));
    assert_eq!(reality["dest"], "www.example.com:443");
    let served_key = reality["privateKey"].as_str().expect("private key");
    assert_eq!(
        subvisor::keys::public_from_private(served_key).as_deref(),
        Ok(public.as_str()),
        "the node's key is the pair of the links' public key"
    );

    // Without the entry's key, and no key given, there is no config.
    let out = bin()
        .args(["node-config", "de-1", "--config"])
        .arg(&conf)
        .current_dir(cwd.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("private key"));

    // What v2ray 4 cannot run: REALITY. Everything else stays as printed.
    for inbound in config["inbounds"].as_array_mut().expect("inbounds") {
        if let Some(stream) = inbound
            .get_mut("streamSettings")
            .and_then(Value::as_object_mut)
        {
            stream.remove("realitySettings");
            stream.insert("security".into(), "none".into());
        }
    }
    let node = V2rayNode::start_with_config(&config, api_port, vless_port)
        .unwrap_or_else(|e| panic!("v2ray refused the node config: {e}"));

    let uuid = uuid::Uuid::new_v4();
    let email = "sv.1.1";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let api = XrayApi::new(
        &node.api_addr(),
        ApiFlavor::V2ray,
        "vless-de",
        Duration::from_secs(5),
    )
    .expect("api");
    runtime
        .block_on(api.add_user(email, uuid, "xtls-rprx-vision"))
        .expect("HandlerService through the API inbound adds a user");
    runtime
        .block_on(api.uptime())
        .expect("StatsService answers");

    let target = HttpTarget::start("through the node").expect("target");
    let client = VlessClient::start(vless_port, &uuid.to_string()).expect("client");
    assert_eq!(
        client.fetch(target.port()).as_deref(),
        Ok("through the node")
    );
    let traffic = runtime
        .block_on(api.user_traffic(false))
        .expect("QueryStats");
    let (up, down) = traffic.get(email).copied().unwrap_or_default();
    assert!(
        up > 0 && down > 0,
        "per-user counters (policy levels): {traffic:?}"
    );
}
