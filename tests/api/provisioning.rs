//! Provisioning on real nodes: Debian's v2ray (speaks Xray's API) with a real
//! VLESS client fetching a page through it, and a fake Xray node for listing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::{Value, json};
use subvisor::config::{NodeSettings, Settings};
use subvisor_actors::clock::ManualClock;
use subvisor_testkit::fake_xray::FakeXrayNode;
use subvisor_testkit::v2ray::{HttpTarget, KeyProbe, V2rayNode, VlessClient};

use crate::helpers::{Db, TestApp, eventually, spawn_app_with};

pub(crate) const PAGE: &str = "hello through the node";

pub(crate) fn node_settings(name: &str, api: String, flavor: &str, port: u16) -> NodeSettings {
    let (_, public_key) = subvisor::keys::generate().expect("keys");
    let node: NodeSettings = serde_json::from_value(json!({
        "name": name, "api": api, "api_flavor": flavor, "inbound_tag": "vless-in",
        "host": "127.0.0.1", "port": port, "sni": "www.example.com",
        "public_key": public_key, "short_id": "", "label": format!("Test {name} №1"),
    }))
    .expect("node settings");
    node
}

/// Fast timings so failures and recoveries show within seconds. (Node names
/// are unique per test: the metrics recorder is shared by the whole process.)
pub(crate) fn fast(s: &mut Settings) {
    s.gateway.call_timeout = Duration::from_secs(2);
    s.gateway.retries = 1;
    s.gateway.failure_threshold = 2;
    s.gateway.cooldown = Duration::from_millis(500);
    s.gateway.health_interval = Duration::from_millis(200);
    s.reconcile.interval = Duration::from_secs(2);
    s.outbox.poll_interval = Duration::from_millis(200);
    s.scheduler.interval = Duration::from_millis(200);
}

/// The application on SQLite with one fake Xray node (`name`, unique per
/// test), fast timings and no periodic reconcile (an hour): only the
/// mechanism under test can put a key back.
pub(crate) async fn app_on_fake_node(
    name: &str,
    node: &FakeXrayNode,
    clock: Arc<dyn subvisor_actors::clock::Clock>,
) -> TestApp {
    let entry = node_settings(name, node.api_addr(), "xray", 443);
    spawn_app_with(Db::Sqlite, clock, |s| {
        fast(s);
        s.reconcile.interval = Duration::from_secs(3600);
        s.nodes = vec![entry];
    })
    .await
}

pub(crate) fn client_for(node: &V2rayNode, view: &Value) -> Arc<VlessClient> {
    let uuid = view["keys"]
        .as_array()
        .and_then(|keys| keys.iter().rev().find(|k| k["state"] == "active"))
        .and_then(|k| k["uuid"].as_str())
        .expect("active key");
    Arc::new(VlessClient::start(node.vless_port(), uuid).expect("vless client"))
}

/// What becomes of this client's key on `node` now: the page, the node
/// rejecting the user id, or another failure (off the runtime thread: the
/// probe is blocking I/O).
pub(crate) async fn probe(
    node: &V2rayNode,
    client: &Arc<VlessClient>,
    target: &HttpTarget,
) -> KeyProbe {
    let (client, port, log) = (client.clone(), target.port(), node.log());
    tokio::task::spawn_blocking(move || client.probe(&log, port))
        .await
        .expect("join")
}

pub(crate) fn served(probe: &KeyProbe) -> bool {
    matches!(probe, KeyProbe::Served(body) if body.contains(PAGE))
}

fn unknown_user(probe: &KeyProbe) -> bool {
    *probe == KeyProbe::UnknownUser
}

/// Probes the key until `wanted` holds; any other outcome (a transient
/// failure included) is retried until `limit`, then the last one is reported.
pub(crate) async fn until_key(
    what: &str,
    limit: Duration,
    node: &V2rayNode,
    client: &Arc<VlessClient>,
    target: &HttpTarget,
    wanted: fn(&KeyProbe) -> bool,
) {
    let deadline = Instant::now() + limit;
    loop {
        let last = probe(node, client, target).await;
        if wanted(&last) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}; the last probe: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One link, the stub entry (nowhere, a placeholder UUID): no key served.
fn is_stub(body: &str) -> bool {
    body.lines().count() == 1
        && body.starts_with("vless://00000000-0000-4000-8000-000000000000@0.0.0.0:1?")
}

async fn sub(app: &TestApp, url: &str) -> (u16, Option<String>, String) {
    let path = url
        .split_once("/sub/")
        .map(|(_, t)| format!("{}/sub/{t}", app.public))
        .expect("sub url");
    let resp = app.http.get(path).send().await.expect("sub");
    let status = resp.status().as_u16();
    let info = resp
        .headers()
        .get("subscription-userinfo")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.text().await.expect("body");
    let decoded = String::from_utf8(STANDARD.decode(body.trim()).expect("base64")).expect("utf-8");
    (status, info, decoded)
}

#[actix_rt::test]
async fn keys_connect_and_stop_connecting_as_the_subscription_changes() {
    let node = V2rayNode::start().expect("v2ray node");
    let target = HttpTarget::start(PAGE).expect("target");
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let api = node.api_addr();
    let port = node.vless_port();
    let app = spawn_app_with(Db::Sqlite, clock.clone(), |s| {
        fast(s);
        s.nodes = vec![node_settings("v2-1", api, "v2ray", port)];
    })
    .await;

    // Grant: the key connects.
    let (status, granted) = app.post("/ops/users/100/grant", json!({ "days": 1 })).await;
    assert_eq!(status, 200, "{granted}");
    let first = client_for(&node, &granted);
    let wait = Duration::from_secs(15);
    until_key(
        "the granted key connects",
        wait,
        &node,
        &first,
        &target,
        served,
    )
    .await;
    let links = granted["links"].as_array().expect("links");
    assert_eq!(links.len(), 1, "one link per node");
    assert!(
        links[0]
            .as_str()
            .expect("link")
            .contains("#Test%20v2-1%20%E2%84%961")
    );
    let sub_url = granted["subscription_url"]
        .as_str()
        .expect("subscription url")
        .to_owned();
    let (status, info, body) = sub(&app, &sub_url).await;
    assert_eq!(status, 200);
    assert_eq!(body, links[0].as_str().expect("link"));
    assert!(info.expect("userinfo").contains("expire="));
    // Traffic through the node shows up in the subscription headers.
    eventually("traffic is counted", wait, async || {
        probe(&node, &first, &target).await;
        let info = sub(&app, &sub_url).await.1.unwrap_or_default();
        let num = |k: &str| {
            info.split("; ")
                .find_map(|kv| kv.strip_prefix(k))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        num("upload=") > 0 && num("download=") > 0
    })
    .await;

    // Reissue: the new key connects, the old one is refused, the URL stays.
    let (status, reissued) = app.post("/ops/users/100/reissue", json!({})).await;
    assert_eq!(status, 200, "{reissued}");
    let second = client_for(&node, &reissued);
    until_key(
        "the new key connects",
        wait,
        &node,
        &second,
        &target,
        served,
    )
    .await;
    until_key(
        "the node rejects the old key",
        wait,
        &node,
        &first,
        &target,
        unknown_user,
    )
    .await;
    assert_eq!(reissued["subscription_url"], sub_url.as_str());
    let (_, _, body) = sub(&app, &sub_url).await;
    assert_eq!(
        body,
        reissued["links"][0].as_str().expect("link"),
        "the URL serves the current key"
    );
    assert_ne!(reissued["links"][0], granted["links"][0]);

    // A separate action rotates the URL: the old one is gone.
    let (status, rotated) = app.post("/ops/users/100/rotate-sub-token", json!({})).await;
    assert_eq!(status, 200);
    let new_url = rotated["subscription_url"]
        .as_str()
        .expect("url")
        .to_owned();
    assert_ne!(new_url, sub_url);
    let old = sub_url
        .split_once("/sub/")
        .map(|(_, t)| format!("{}/sub/{t}", app.public))
        .expect("url");
    assert_eq!(
        app.http.get(old).send().await.expect("old url").status(),
        404
    );
    assert_eq!(sub(&app, &new_url).await.0, 200);

    // Expiry: refused; the URL answers 200 with the expiry and no links.
    clock.advance(chrono::Duration::days(2));
    until_key(
        "the node rejects the expired key",
        wait,
        &node,
        &second,
        &target,
        unknown_user,
    )
    .await;
    let (_, view) = app.get("/ops/users/100").await;
    assert_eq!(view["status"], "expired");
    assert_eq!(view["links"], json!([]));
    let (status, info, body) = sub(&app, &new_url).await;
    assert_eq!(status, 200);
    assert!(is_stub(&body), "only the stub entry: {body}");
    let expire = chrono::DateTime::parse_from_rfc3339(view["expires_at"].as_str().expect("expiry"))
        .expect("time");
    assert!(
        info.expect("userinfo")
            .ends_with(&format!("expire={}", expire.timestamp()))
    );

    // Renewal brings the same key back; revoke takes it away.
    let (status, renewed) = app
        .post("/ops/users/100/grant", json!({ "days": 30 }))
        .await;
    assert_eq!(status, 200, "{renewed}");
    until_key(
        "the renewed key connects",
        wait,
        &node,
        &second,
        &target,
        served,
    )
    .await;
    let link = renewed["links"][0].as_str().expect("link").to_owned();
    assert_eq!(sub(&app, &new_url).await.2, link, "the URL serves the key");

    let (status, revoked) = app.post("/ops/users/100/revoke", json!({})).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(
        (&revoked["status"], &revoked["links"]),
        (&json!("revoked"), &json!([])),
        "{revoked}"
    );
    let (status, view) = app.get("/ops/users/100").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "revoked", "{view}");
    assert_eq!(view["links"], json!([]), "{view}");
    let (status, _, body) = sub(&app, &new_url).await;
    assert_eq!(status, 200);
    assert!(is_stub(&body), "the URL no longer serves the key: {body}");
    until_key(
        "the node rejects the revoked key",
        wait,
        &node,
        &second,
        &target,
        unknown_user,
    )
    .await;
    app.stop().await;
}

#[actix_rt::test]
async fn a_dead_node_opens_the_breaker_and_a_restarted_node_is_refilled() {
    let mut node = V2rayNode::start().expect("v2ray node");
    let target = HttpTarget::start(PAGE).expect("target");
    let api = node.api_addr();
    let port = node.vless_port();
    let app = spawn_app_with(
        Db::Postgres,
        Arc::new(subvisor_actors::clock::SystemClock),
        |s| {
            fast(s);
            s.nodes = vec![node_settings("v2-dead", api, "v2ray", port)];
        },
    )
    .await;
    let (_, a) = app
        .post("/ops/users/201/grant", json!({ "days": 30 }))
        .await;
    let client_a = client_for(&node, &a);
    until_key(
        "user A connects",
        Duration::from_secs(15),
        &node,
        &client_a,
        &target,
        served,
    )
    .await;

    // Node down: grants still succeed; ops wait in the outbox; the breaker opens.
    node.kill();
    let (status, b) = app
        .post("/ops/users/202/grant", json!({ "days": 30 }))
        .await;
    assert_eq!(status, 200, "a grant does not depend on the node: {b}");
    eventually("the breaker opens", Duration::from_secs(15), async || {
        let (_, nodes) = app.get("/ops/nodes").await;
        let n = &nodes["nodes"][0];
        n["breaker"] == "open" && n["state"] == "down" && n["pending_ops"].as_i64() >= Some(1)
    })
    .await;
    let metrics = app.metrics().await;
    let breaker = metrics
        .lines()
        .find_map(|l| l.strip_prefix("subvisor_node_breaker_state{node=\"v2-dead\"} "))
        .expect("breaker gauge");
    assert_ne!(
        breaker, "0",
        "open (2) or probing (1) while the node is down"
    );

    // Back, empty (API-added users live in memory): everyone works again, no operator action.
    node.restart().expect("restart");
    let client_b = client_for(&node, &b);
    let wait = Duration::from_secs(20);
    until_key(
        "user A works again",
        wait,
        &node,
        &client_a,
        &target,
        served,
    )
    .await;
    until_key("user B works", wait, &node, &client_b, &target, served).await;
    eventually("the outbox drains", Duration::from_secs(20), async || {
        let (_, nodes) = app.get("/ops/nodes").await;
        nodes["nodes"][0]["pending_ops"] == 0 && nodes["nodes"][0]["breaker"] == "closed"
    })
    .await;

    // A quick restart is noticed too. v2ray is back within one health
    // interval here, so the gateway usually sees only its uptime drop, but a
    // check may also catch it down (then it is "recovered"): which path ran
    // is not controlled. `an_uptime_drop_alone_refills_the_node` tests the
    // uptime-only path alone.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.kill();
    node.restart().expect("restart");
    until_key(
        "user A is re-added after a quick restart",
        wait,
        &node,
        &client_a,
        &target,
        served,
    )
    .await;
    until_key(
        "user B is re-added after a quick restart",
        wait,
        &node,
        &client_b,
        &target,
        served,
    )
    .await;
    app.stop().await;
}

/// A node that restarts between two health checks answers both: the only
/// sign is its uptime going down. That alone must make the gateway report a
/// restart and the node be refilled (no periodic reconcile here, and the node
/// never fails a call, so neither the "recovered" path nor a timer can do it).
#[actix_rt::test]
async fn an_uptime_drop_alone_refills_the_node() {
    let node = FakeXrayNode::start("vless-in").expect("fake node");
    let app = app_on_fake_node(
        "fake-uptime",
        &node,
        Arc::new(subvisor_actors::clock::SystemClock),
    )
    .await;
    let mut wanted = Vec::new();
    for user in [500, 501] {
        let (status, view) = app
            .post(&format!("/ops/users/{user}/grant"), json!({ "days": 30 }))
            .await;
        assert_eq!(status, 200, "{view}");
        let key = &view["keys"][0];
        wanted.push((
            key["email"].as_str().expect("email").to_owned(),
            uuid::Uuid::parse_str(key["uuid"].as_str().expect("uuid")).expect("uuid"),
        ));
    }
    wanted.sort();
    eventually(
        "both keys are on the node",
        Duration::from_secs(10),
        async || node.users() == wanted,
    )
    .await;

    // The gateway has seen the node up for an hour...
    node.set_uptime(Duration::from_secs(3600));
    let uptime_seen = async || {
        let (_, nodes) = app.get("/ops/nodes").await;
        nodes["nodes"][0]["note"]
            .as_str()
            .and_then(|n| n.strip_prefix("uptime "))
            .and_then(|n| n.strip_suffix('s'))
            .and_then(|n| n.parse::<u64>().ok())
    };
    eventually(
        "the gateway reads the uptime",
        Duration::from_secs(10),
        async || uptime_seen().await >= Some(3600),
    )
    .await;
    // ...then it restarts in a blink: empty, uptime 0, never unreachable.
    node.restart();
    assert!(node.users().is_empty());
    eventually(
        "the users are re-added after the uptime drop",
        Duration::from_secs(10),
        async || node.users() == wanted,
    )
    .await;
    assert!(uptime_seen().await < Some(3600), "the gateway saw the drop");
    let (_, nodes) = app.get("/ops/nodes").await;
    let seen = &nodes["nodes"][0];
    assert_eq!(
        (&seen["state"], &seen["breaker"], &seen["last_error"]),
        (&json!("up"), &json!("closed"), &Value::Null),
        "no call or health check ever failed: {seen}"
    );
    app.stop().await;
}

/// With a pool of ONE connection, a node call that hangs must not hold it:
/// other users' grants go through while the call is stuck.
#[actix_rt::test]
async fn a_hanging_node_holds_no_database_connection() {
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let api = blackhole.local_addr().expect("addr").to_string();
    let app = spawn_app_with(
        Db::Sqlite,
        Arc::new(subvisor_actors::clock::SystemClock),
        |s| {
            fast(s);
            s.database.max_connections = 1;
            s.gateway.call_timeout = Duration::from_secs(60);
            s.gateway.retries = 0;
            s.nodes = vec![node_settings("stuck", api, "xray", 443)];
        },
    )
    .await;
    let (status, _) = app
        .post("/ops/users/300/grant", json!({ "days": 30 }))
        .await;
    assert_eq!(status, 200);
    eventually(
        "a node call is in flight",
        Duration::from_secs(10),
        async || {
            let (_, nodes) = app.get("/ops/nodes").await;
            nodes["nodes"][0]["in_flight"].as_u64() >= Some(1)
        },
    )
    .await;
    for user in 301..311 {
        let (status, view) = app
            .post(&format!("/ops/users/{user}/grant"), json!({ "days": 1 }))
            .await;
        assert_eq!(status, 200, "{view}");
    }
    let (_, nodes) = app.get("/ops/nodes").await;
    assert!(
        nodes["nodes"][0]["in_flight"].as_u64() >= Some(1),
        "the node call was still hanging: {nodes}"
    );
    assert!(nodes["nodes"][0]["pending_ops"].as_i64() >= Some(11));
    drop(blackhole);
    app.stop().await;
}

#[actix_rt::test]
async fn reconcile_removes_strays_in_our_namespace_only() {
    let node = FakeXrayNode::start("vless-in").expect("fake node");
    let app = app_on_fake_node(
        "fake-1",
        &node,
        Arc::new(subvisor_actors::clock::SystemClock),
    )
    .await;
    let (_, granted) = app
        .post("/ops/users/400/grant", json!({ "days": 30 }))
        .await;
    let key = granted["keys"][0]["email"]
        .as_str()
        .expect("email")
        .to_owned();
    eventually(
        "the key is on the node",
        Duration::from_secs(10),
        async || node.users().iter().any(|(e, _)| *e == key),
    )
    .await;
    node.insert_user("sv.999.1", uuid::Uuid::new_v4());
    node.insert_user("admin@example.com", uuid::Uuid::new_v4());

    let (status, report) = app
        .post(
            "/ops/reconcile",
            json!({ "node": "fake-1", "dry_run": true }),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let diff = &report["nodes"][0];
    assert_eq!(
        (
            diff["extra"].as_u64(),
            diff["missing"].as_u64(),
            diff["dry_run"].as_bool()
        ),
        (Some(1), Some(0), Some(true))
    );
    assert_eq!(diff["sample_extra"], json!(["sv.999.1"]));
    assert_eq!(node.users().len(), 3, "a dry run changes nothing");

    let (status, report) = app.post("/ops/reconcile", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(report["nodes"][0]["fixed"], 1);
    let mut emails: Vec<String> = node.users().into_iter().map(|(e, _)| e).collect();
    emails.sort();
    assert_eq!(emails, vec!["admin@example.com".to_string(), key]);

    let (status, body) = app.post("/ops/reconcile", json!({ "node": "nope" })).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_input"))
    );
    app.stop().await;
}
