//! Nodes under faults (issue 10): a node that restarts within seconds of its
//! own start is still refilled, and a node whose connections hang is never on
//! another node's path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use subvisor_actors::clock::SystemClock;
use subvisor_testkit::fake_xray::FakeXrayNode;
use subvisor_testkit::v2ray::{HttpTarget, V2rayNode};

use crate::helpers::eventually;
use crate::helpers::{Db, spawn_app_with};
use crate::provisioning::{PAGE, client_for, fast, node_settings, served, until_key};

/// A crash-looping node: v2ray (which cannot list its users) restarted 1 s
/// after its own start, twice in a row. Its uptime reads 0 s before and after
/// each of those restarts and the node is down only for an instant, so
/// neither an uptime drop nor a failed health check need show anything; the
/// canary (and the wall-clock rule) must. No periodic reconcile runs here.
#[actix_rt::test]
async fn a_node_restarting_within_seconds_of_its_start_is_refilled() {
    let mut node = V2rayNode::start().expect("v2ray node");
    let target = HttpTarget::start(PAGE).expect("target");
    let api = node.api_addr();
    let port = node.vless_port();
    let health = Duration::from_secs(1);
    let app = spawn_app_with(Db::Sqlite, Arc::new(SystemClock), |s| {
        fast(s);
        s.gateway.health_interval = health;
        s.reconcile.interval = Duration::from_secs(3600);
        s.nodes = vec![node_settings("v2-flap", api, "v2ray", port)];
    })
    .await;
    let (status, granted) = app
        .post("/ops/users/610/grant", json!({ "days": 30 }))
        .await;
    assert_eq!(status, 200, "{granted}");
    let client = client_for(&node, &granted);
    let wait = Duration::from_secs(20);
    until_key("the key connects", wait, &node, &client, &target, served).await;

    for round in 1..=2 {
        node.restart().expect("restart");
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            node.restart().expect("restart");
        }
        let back = Instant::now();
        until_key(
            &format!("the key works again after quick restarts, round {round}"),
            wait,
            &node,
            &client,
            &target,
            served,
        )
        .await;
        eprintln!(
            "round {round}: key served {:?} after the last restart (health interval {health:?})",
            back.elapsed()
        );
    }
    app.stop().await;
}

/// Two nodes, one of them a black hole (the kernel accepts TCP, nobody ever
/// answers, so every call hangs for the whole 3 s call timeout; the breaker
/// never opens). Once the black hole's start-up reconcile has timed out, its
/// ops are applied (and hang) one after another; grants still reach the
/// healthy node within 1 s of being acknowledged, by the fake's own clock.
#[actix_rt::test]
async fn a_hanging_node_never_delays_another_node() {
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hole_api = blackhole.local_addr().expect("addr").to_string();
    let healthy = FakeXrayNode::start("vless-in").expect("fake node");
    let healthy_api = healthy.api_addr();
    let app = spawn_app_with(Db::Sqlite, Arc::new(SystemClock), |s| {
        fast(s);
        s.gateway.call_timeout = Duration::from_secs(3);
        s.gateway.retries = 0;
        s.gateway.failure_threshold = 1_000;
        s.reconcile.interval = Duration::from_secs(3600);
        // The black hole first: nothing may wait for it in config order either.
        s.nodes = vec![
            node_settings("hole", hole_api, "xray", 443),
            node_settings("fine", healthy_api, "xray", 443),
        ];
    })
    .await;
    let grant = async |user: i64| {
        let (status, view) = app
            .post(&format!("/ops/users/{user}/grant"), json!({ "days": 30 }))
            .await;
        let acked = Instant::now();
        assert_eq!(status, 200, "{view}");
        let email = view["keys"][0]["email"].as_str().expect("email").to_owned();
        (email, acked)
    };
    let hole_idle = async || {
        let (_, nodes) = app.get("/ops/nodes").await;
        let hole = &nodes["nodes"][0];
        hole["name"] == "hole" && hole["in_flight"] == 0 && !hole["last_error"].is_null()
    };
    eventually(
        "the black hole's start-up reconcile timed out",
        Duration::from_secs(15),
        async || hole_idle().await,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(hole_idle().await, "nothing in flight on the black hole");

    let (first, _) = grant(700).await;
    eventually(
        "the first key is on the healthy node and the hole has a call hanging",
        Duration::from_secs(15),
        async || {
            let (_, nodes) = app.get("/ops/nodes").await;
            healthy.added_at(&first).is_some() && nodes["nodes"][0]["in_flight"].as_u64() >= Some(1)
        },
    )
    .await;

    let mut worst = Duration::ZERO;
    for user in 701..=705 {
        let (email, acked) = grant(user).await;
        let mut added = None;
        eventually(
            "the key is on the healthy node",
            Duration::from_secs(15),
            async || {
                added = healthy.added_at(&email);
                added.is_some()
            },
        )
        .await;
        let lag = added.expect("added").saturating_duration_since(acked);
        worst = worst.max(lag);
        assert!(
            lag < Duration::from_secs(1),
            "user {user} reached the healthy node {lag:?} after the grant was acknowledged"
        );
    }
    eprintln!("worst grant → healthy node lag: {worst:?}");

    // On-demand reconcile of the healthy node is answered by its own worker.
    let (status, report) = app
        .post("/ops/reconcile", json!({ "node": "fine", "dry_run": true }))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["nodes"][0]["missing"], 0, "{report}");
    let (_, nodes) = app.get("/ops/nodes").await;
    assert!(
        nodes["nodes"][0]["pending_ops"].as_i64() >= Some(6),
        "the hole's ops wait in the outbox: {nodes}"
    );
    assert_eq!(nodes["nodes"][1]["pending_ops"], 0, "{nodes}");
    // Each node has its own worker.
    let (_, workers) = app.get("/ops/workers").await;
    let names: Vec<&str> = workers["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["name"].as_str())
        .filter(|n| n.starts_with("provisioning-outbox"))
        .collect();
    assert_eq!(names.len(), 2, "{workers}");
    for node in ["hole", "fine"] {
        assert!(
            names.contains(&format!("provisioning-outbox:{node}").as_str()),
            "{names:?}"
        );
    }

    drop(blackhole);
    app.stop().await;
}
