//! Traffic-limited plans end to end, on a real v2ray node with a real VLESS
//! client: usage counted from the node's counters (across a node restart,
//! neither lost nor doubled), the key refused once the allowance is used up,
//! and back after a pack bought through the fake provider and after an admin
//! reset.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use subvisor::config::{PlanSettings, Settings};
use subvisor_actors::provisioning::xray_api::{ApiFlavor, XrayApi};
use subvisor_testkit::fake_payments::invoice_paid;
use subvisor_testkit::v2ray::{HttpTarget, KeyProbe, V2rayNode, VlessClient};

use crate::helpers::{Db, eventually};
use crate::payments::{Payments, cryptobot_sig, start_with};
use crate::provisioning::{PAGE, fast, node_settings, probe, served, until_key};

const USER: i64 = 7100;
/// The tiny plan's allowance and the pack's size (bytes).
const ALLOWANCE: u64 = 600_000;
const PACK: u64 = 200_000;

fn refused(probe: &KeyProbe) -> bool {
    *probe == KeyProbe::UnknownUser
}

fn configure(s: &mut Settings, node: &V2rayNode) {
    fast(s);
    s.reconcile.interval = Duration::from_millis(500);
    s.nodes = vec![node_settings(
        "v2-traffic",
        node.api_addr(),
        "v2ray",
        node.vless_port(),
    )];
    let plan: PlanSettings = serde_json::from_value(json!({
        "id": "tiny", "title": "Tiny", "days": 30,
        "fiat": { "amount_minor": 299, "currency": "USD" },
        "traffic_bytes": ALLOWANCE, "traffic_reset": "month",
    }))
    .expect("plan");
    s.plans.push(plan);
    s.traffic_packs = vec![
        serde_json::from_value(json!({
            "id": "more", "title": "More", "bytes": PACK,
            "fiat": { "amount_minor": 99, "currency": "USD" },
        }))
        .expect("pack"),
    ];
}

/// Orders `plan` through Crypto Pay and delivers its paid callback.
async fn buy(p: &Payments, plan: &str, amount: &str, payment: i64) {
    let (status, created) = p
        .app
        .post(
            &format!("/ops/users/{USER}/orders"),
            json!({ "plan": plan, "provider": "cryptobot" }),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let order = created["order_id"].as_str().expect("order id");
    let body = invoice_paid(payment, payment, order, amount);
    let (status, out) = p.cryptobot(&body, Some(&cryptobot_sig(&body))).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["outcome"], "applied", "{out}");
}

async fn traffic(p: &Payments) -> Value {
    let (status, view) = p.app.get(&format!("/ops/users/{USER}")).await;
    assert_eq!(status, 200, "{view}");
    view["traffic"].clone()
}

fn used(t: &Value) -> u64 {
    t["upload_bytes"].as_u64().unwrap_or(0) + t["download_bytes"].as_u64().unwrap_or(0)
}

/// What the node itself counted for `email` since it (re)started.
async fn node_counted(api: &XrayApi, email: &str) -> u64 {
    let counters = api.user_traffic(false).await.expect("QueryStats");
    counters.get(email).map_or(0, |(up, down)| up + down)
}

async fn fetch(client: &Arc<VlessClient>, target: &HttpTarget) {
    let (client, port) = (client.clone(), target.port());
    let body = tokio::task::spawn_blocking(move || client.fetch(port))
        .await
        .expect("join")
        .expect("fetched through the node");
    assert!(body.contains(PAGE));
}

#[actix_rt::test]
async fn a_tiny_plan_is_cut_off_at_its_allowance_and_back_with_a_pack_and_a_reset() {
    let mut node = V2rayNode::start().expect("v2ray node");
    // ~50 kB a fetch: a handful of fetches use the allowance up.
    let page = format!("{PAGE}{}", "x".repeat(50_000));
    let target = HttpTarget::start(&page).expect("target");
    let p = {
        let node = &node;
        start_with(Db::Sqlite, move |s| configure(s, node)).await
    };
    let api = XrayApi::new(
        &node.api_addr(),
        ApiFlavor::V2ray,
        node.inbound_tag(),
        Duration::from_secs(5),
    )
    .expect("api");
    let wait = Duration::from_secs(30);

    buy(&p, "tiny", "2.99", 1).await;
    let t = traffic(&p).await;
    assert_eq!(t["allowance_bytes"], ALLOWANCE, "{t}");
    assert_eq!(t["reset"], "month");
    let (_, view) = p.app.get(&format!("/ops/users/{USER}")).await;
    let client = crate::provisioning::client_for(&node, &view);
    let email = view["keys"][0]["email"]
        .as_str()
        .expect("key email")
        .to_owned();
    until_key("the key connects", wait, &node, &client, &target, served).await;

    // What the node counts is what is stored: exactly, once.
    for _ in 0..3 {
        fetch(&client, &target).await;
    }
    let before_restart = node_counted(&api, &email).await;
    assert!(before_restart > 50_000, "the node counted the page");
    eventually("the usage is collected", wait, async || {
        used(&traffic(&p).await) == before_restart
    })
    .await;

    // The node restarts: its counters begin again at zero. The key comes
    // back (the reconciler re-adds it), and the next bytes are added to
    // what was counted before — not lost, not counted twice.
    node.restart().expect("restart");
    until_key(
        "the key connects after the restart",
        wait,
        &node,
        &client,
        &target,
        served,
    )
    .await;
    fetch(&client, &target).await;
    let after_restart = node_counted(&api, &email).await;
    assert!(after_restart > 50_000);
    assert!(
        after_restart < before_restart,
        "the node's counters started again at zero (fewer bytes moved than before)"
    );
    eventually(
        "the usage after the restart is collected",
        wait,
        async || used(&traffic(&p).await) == before_restart + after_restart,
    )
    .await;
    let t = traffic(&p).await;
    assert!(t["limited_at"].is_null(), "not limited yet: {t}");

    // Moving traffic until the allowance is used up: the key is refused.
    until_key(
        "the key is refused once the allowance is used up",
        wait,
        &node,
        &client,
        &target,
        refused,
    )
    .await;
    let t = traffic(&p).await;
    assert!(used(&t) >= ALLOWANCE, "{t}");
    assert!(!t["limited_at"].is_null(), "{t}");
    // The subscription URL says why, and shows the allowance.
    let sub_url = view["subscription_url"].as_str().expect("sub url");
    let token = sub_url.split_once("/sub/").expect("sub path").1;
    let resp = p
        .app
        .http
        .get(format!("{}/sub/{token}", p.app.public))
        .send()
        .await
        .expect("sub");
    let info = resp
        .headers()
        .get("subscription-userinfo")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(info.contains(&format!("total={ALLOWANCE}")), "{info}");

    // A pack bought through the provider: the key connects again.
    buy(&p, "more", "0.99", 2).await;
    let t = traffic(&p).await;
    assert_eq!(t["extra_bytes"], PACK, "{t}");
    until_key(
        "the key connects after the pack",
        wait,
        &node,
        &client,
        &target,
        served,
    )
    .await;
    until_key(
        "the key is refused once the pack is used up too",
        wait,
        &node,
        &client,
        &target,
        refused,
    )
    .await;

    // An admin reset: the period starts again and the key connects.
    let (status, reset) = p
        .app
        .post(
            &format!("/ops/users/{USER}/traffic/reset"),
            json!({ "reason": "support ticket" }),
        )
        .await;
    assert_eq!(status, 200, "{reset}");
    assert!(reset["traffic"]["limited_at"].is_null(), "{reset}");
    until_key(
        "the key connects after the reset",
        wait,
        &node,
        &client,
        &target,
        served,
    )
    .await;
    let last = probe(&node, &client, &target).await;
    assert!(served(&last), "{last:?}");
    p.app.stop().await;
}
