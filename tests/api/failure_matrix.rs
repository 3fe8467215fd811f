//! The failure matrix: one test per failure a VPN seller meets at the seams
//! between the database, the nodes and the process, named after the failure.
//! Each runs the whole application in-process against fake Xray nodes (which
//! list their users, so "what the node holds" is exact) with fast timings.
//!
//! | failure                                          | test (this file unless named)                                   |
//! |--------------------------------------------------|-----------------------------------------------------------------|
//! | node down during an add                          | `node_down_during_add`                                          |
//! | node restart right after an add                  | `node_restart_after_add`                                        |
//! | node restarted within seconds of its own start   | `node_restart_within_seconds_of_its_start` (+ real v2ray: `node_faults`) |
//! | a remove fails (node down during a revoke)       | `remove_fails_while_the_node_is_down`                           |
//! | reissue during an outage (old key must go)       | `reissue_during_an_outage`                                      |
//! | expiry racing a renewal                          | `expiry_racing_renewal`                                         |
//! | one node hanging, the others must not wait       | `node_faults::a_blackholed_node_delays_no_other_node`           |
//! | a hanging node holding a database connection     | `provisioning::a_hanging_node_holds_no_database_connection`     |
//! | strays in our namespace, operators' users kept   | `provisioning::reconcile_removes_strays_in_our_namespace_only`  |
//! | process killed mid-transaction                   | `binary::killed_mid_flow_loses_no_acknowledged_grant`           |
//! | process killed after a payment was acknowledged  | `payment_crash::*`                                              |
//! | duplicate / concurrent / forged webhooks         | `payments::*`, `payment_intake::*`, `webhook_mutants::*`        |
//! | all of it at random, node and process killed     | `soak::random_changes_while_nodes_and_the_server_die`           |

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde_json::{Value, json};
use subvisor_actors::clock::{ManualClock, SystemClock};
use subvisor_testkit::fake_xray::FakeXrayNode;
use uuid::Uuid;

use crate::helpers::{TestApp, eventually};
use crate::provisioning::app_on_fake_node;

/// The user's active keys as the node should hold them: (email, uuid).
fn active_keys(view: &Value) -> Vec<(String, Uuid)> {
    let mut keys: Vec<(String, Uuid)> = view["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["state"] == "active")
        .map(|k| {
            (
                k["email"].as_str().expect("email").to_owned(),
                Uuid::parse_str(k["uuid"].as_str().expect("uuid")).expect("uuid"),
            )
        })
        .collect();
    keys.sort();
    keys
}

async fn post_ok(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, view) = app.post(path, body).await;
    assert_eq!(status, 200, "{path}: {view}");
    view
}

async fn node_holds(node: &FakeXrayNode, what: &str, wanted: &[(String, Uuid)]) {
    eventually(what, Duration::from_secs(15), async || {
        node.users() == wanted
    })
    .await;
}

async fn pending_ops(app: &TestApp) -> i64 {
    let (_, nodes) = app.get("/ops/nodes").await;
    nodes["nodes"][0]["pending_ops"].as_i64().unwrap_or(-1)
}

/// A grant acknowledged while the node refuses every call is kept in the
/// outbox (visible as pending) and lands when the node answers again.
#[actix_rt::test]
async fn node_down_during_add() {
    let node = FakeXrayNode::start("vless-in").expect("fake node");
    let app = app_on_fake_node("fm-down-add", &node, Arc::new(SystemClock)).await;
    node.set_unavailable(true);
    let view = post_ok(&app, "/ops/users/801/grant", json!({ "days": 30 })).await;
    let wanted = active_keys(&view);
    assert_eq!(wanted.len(), 1, "{view}");
    eventually(
        "the add waits in the outbox",
        Duration::from_secs(10),
        async || pending_ops(&app).await >= 1,
    )
    .await;
    assert!(node.users().is_empty());
    node.set_unavailable(false);
    node_holds(&node, "the key lands after the outage", &wanted).await;
    eventually("the outbox drains", Duration::from_secs(10), async || {
        pending_ops(&app).await == 0
    })
    .await;
    app.stop().await;
}

/// The add landed, then the node restarted (after an hour up) and forgot
/// every API-added user: the key is put back without anyone asking.
#[actix_rt::test]
async fn node_restart_after_add() {
    let node = FakeXrayNode::start("vless-in").expect("fake node");
    node.set_uptime(Duration::from_secs(3600));
    let app = app_on_fake_node("fm-restart-add", &node, Arc::new(SystemClock)).await;
    let view = post_ok(&app, "/ops/users/802/grant", json!({ "days": 30 })).await;
    let wanted = active_keys(&view);
    node_holds(&node, "the key is added", &wanted).await;
    node.restart();
    assert!(node.users().is_empty());
    node_holds(&node, "the key is back after the restart", &wanted).await;
    app.stop().await;
}

/// A crash-looping Xray: the node restarts within a second of its own
/// start, twice. Its uptime reads 0 s before and after each restart (no
/// drop), it never refuses a call, and no periodic reconcile runs: only
/// uptime that advanced less than the wall clock can reveal the restarts.
#[actix_rt::test]
async fn node_restart_within_seconds_of_its_start() {
    let node = FakeXrayNode::start("vless-in").expect("fake node");
    let app = app_on_fake_node("fm-quick-restart", &node, Arc::new(SystemClock)).await;
    let view = post_ok(&app, "/ops/users/803/grant", json!({ "days": 30 })).await;
    let wanted = active_keys(&view);
    for round in 1..=2 {
        node.restart();
        node_holds(&node, "the key is added", &wanted).await;
        // Up less than a second: still "uptime 0 s" when it restarts again.
        node.restart();
        assert!(node.users().is_empty());
        node_holds(
            &node,
            &format!("the key is back after quick restart {round}"),
            &wanted,
        )
        .await;
    }
    app.stop().await;
}

/// A revoke acknowledged while the node refuses calls: the remove waits in
/// the outbox and lands when the node answers, leaving no orphan key.
#[actix_rt::test]
async fn remove_fails_while_the_node_is_down() {
    let node = FakeXrayNode::start("vless-in").expect("fake node");
    let app = app_on_fake_node("fm-remove-fails", &node, Arc::new(SystemClock)).await;
    let view = post_ok(&app, "/ops/users/804/grant", json!({ "days": 30 })).await;
    node_holds(&node, "the key is added", &active_keys(&view)).await;
    node.set_unavailable(true);
    let revoked = post_ok(&app, "/ops/users/804/revoke", json!({})).await;
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    eventually(
        "the remove waits in the outbox",
        Duration::from_secs(10),
        async || pending_ops(&app).await >= 1,
    )
    .await;
    assert_eq!(
        node.users().len(),
        1,
        "the node still has the key while down"
    );
    node.set_unavailable(false);
    node_holds(&node, "the key is removed after the outage", &[]).await;
    app.stop().await;
}

/// A reissue during an outage: when the node is back it holds the new key
/// only (the new one added, the old one removed, in that order per user).
#[actix_rt::test]
async fn reissue_during_an_outage() {
    let node = FakeXrayNode::start("vless-in").expect("fake node");
    let app = app_on_fake_node("fm-reissue-outage", &node, Arc::new(SystemClock)).await;
    let view = post_ok(&app, "/ops/users/805/grant", json!({ "days": 30 })).await;
    let old = active_keys(&view);
    node_holds(&node, "the first key is added", &old).await;
    node.set_unavailable(true);
    let reissued = post_ok(&app, "/ops/users/805/reissue", json!({})).await;
    let new = active_keys(&reissued);
    assert_eq!(new.len(), 1, "{reissued}");
    assert_ne!(new, old, "a reissue makes a new key");
    node.set_unavailable(false);
    node_holds(&node, "only the new key after the outage", &new).await;
    app.stop().await;
}

fn expires_at(view: &Value) -> DateTime<Utc> {
    view["expires_at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("expires_at in {view}"))
}

/// A hundred subscriptions fall due the moment the clock moves, and their
/// renewals arrive at that same moment: the Scheduler (every 200 ms) reads
/// the due ones and sends each an expiry while the renewals commit, so some
/// renewals land between its read and its expiry. Three rounds. Whatever the
/// order, every renewed user ends active with 30 days counted from no
/// earlier than its previous expiry, and holds a key on the node.
#[actix_rt::test]
async fn expiry_racing_renewal() {
    let node = FakeXrayNode::start("vless-in").expect("fake node");
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = app_on_fake_node("fm-expiry-race", &node, clock.clone()).await;
    let users: Vec<i64> = (810..910).collect();
    let mut until = BTreeMap::new();
    for user in &users {
        let view = post_ok(
            &app,
            &format!("/ops/users/{user}/grant"),
            json!({ "days": 1 }),
        )
        .await;
        until.insert(*user, expires_at(&view));
    }
    for round in 1..=3 {
        let last = until.values().max().copied().expect("users");
        clock.set(last + chrono::Duration::seconds(1));
        let renewals = users.iter().map(|user| {
            let app = &app;
            async move {
                post_ok(
                    app,
                    &format!("/ops/users/{user}/grant"),
                    json!({ "days": 30 }),
                )
                .await
            }
        });
        join_all(renewals).await;
        // Let the Scheduler run over all of them a few more times.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut wanted = Vec::new();
        for user in &users {
            let (status, view) = app.get(&format!("/ops/users/{user}")).await;
            assert_eq!(status, 200, "{view}");
            assert_eq!(
                view["status"], "active",
                "round {round}: user {user} lost a paid renewal: {view}"
            );
            let before = until[user];
            let now = expires_at(&view);
            assert!(
                now >= before + chrono::Duration::days(30),
                "round {round}: user {user}: the renewal is counted ({now} vs {before})"
            );
            until.insert(*user, now);
            wanted.extend(active_keys(&view));
        }
        wanted.sort();
        node_holds(&node, "every renewed user holds a key", &wanted).await;
    }
    app.stop().await;
}
