//! [`FakeXrayNode`] driven by the real client, `XrayApi` (flavor Xray).

use std::time::{Duration, Instant};

use subvisor_actors::provisioning::xray_api::{ApiFlavor, XrayApi, XrayError};
use subvisor_testkit::fake_xray::FakeXrayNode;
use uuid::Uuid;

const TAG: &str = "vless-in";
const CALL_TIMEOUT: Duration = Duration::from_secs(3);

fn start() -> FakeXrayNode {
    FakeXrayNode::start(TAG).unwrap_or_else(|e| panic!("cannot start the fake Xray node: {e}"))
}

fn client(node: &FakeXrayNode, tag: &str, timeout: Duration) -> XrayApi {
    XrayApi::new(&node.api_addr(), ApiFlavor::Xray, tag, timeout).expect("valid address")
}

#[tokio::test]
async fn add_list_remove_and_failures() {
    let node = start();
    assert!(
        node.api_addr().starts_with("127.0.0.1:"),
        "{}",
        node.api_addr()
    );
    let api = client(&node, TAG, CALL_TIMEOUT);
    let uuid = Uuid::new_v4();

    assert_eq!(api.list_users().await.expect("list"), Some(vec![]));
    api.add_user("sv.1.1", uuid, "xtls-rprx-vision")
        .await
        .expect("add");
    // "User … already exists." is success, in any case of the email; the node keeps the first uuid.
    api.add_user("sv.1.1", uuid, "").await.expect("add again");
    api.add_user("SV.1.1", Uuid::new_v4(), "")
        .await
        .expect("add again, other case");
    assert_eq!(node.users(), vec![("sv.1.1".to_owned(), uuid)]);
    assert_eq!(
        api.list_users().await.expect("list"),
        Some(vec![("sv.1.1".to_owned(), uuid)])
    );

    // A user added by hand is listed too.
    let by_hand = Uuid::new_v4();
    node.insert_user("Hand.2", by_hand);
    let mut listed = api.list_users().await.expect("list").expect("Xray lists");
    listed.sort();
    assert_eq!(
        listed,
        vec![("Hand.2".to_owned(), by_hand), ("sv.1.1".to_owned(), uuid)]
    );

    // "User … not found." is success too; emails compare case-insensitively.
    api.remove_user("SV.1.1").await.expect("remove");
    api.remove_user("sv.1.1").await.expect("remove again");
    assert_eq!(node.users(), vec![("Hand.2".to_owned(), by_hand)]);

    // An unknown inbound tag is no success, for any call.
    let wrong_tag = client(&node, "nope", CALL_TIMEOUT);
    for result in [
        wrong_tag.add_user("sv.3.1", uuid, "").await,
        wrong_tag.remove_user("hand.2").await,
        wrong_tag.list_users().await.map(drop),
    ] {
        match result {
            Err(XrayError::Rejected(message)) => {
                assert!(message.contains("handler not found: nope"), "{message}");
            }
            other => panic!("call on an unknown inbound: {other:?}"),
        }
    }
    assert_eq!(node.users(), vec![("Hand.2".to_owned(), by_hand)]);

    // Stats: no counters on a fake, but the call works.
    assert!(api.user_traffic(true).await.expect("traffic").is_empty());

    // Down: every call fails as unreachable and changes nothing.
    node.set_unavailable(true);
    let calls = node.calls();
    for result in [
        api.add_user("sv.4.1", uuid, "").await,
        api.remove_user("hand.2").await,
        api.list_users().await.map(drop),
        api.uptime().await.map(drop),
    ] {
        assert!(
            matches!(result, Err(XrayError::Unreachable(_))),
            "call while down: {result:?}"
        );
    }
    assert_eq!(node.calls(), calls + 4);
    assert_eq!(node.users(), vec![("Hand.2".to_owned(), by_hand)]);
    node.set_unavailable(false);
    api.add_user("sv.4.1", uuid, "")
        .await
        .expect("add when up again");
}

#[tokio::test]
async fn restart_clears_users_and_uptime() {
    let node = start();
    let api = client(&node, TAG, CALL_TIMEOUT);
    api.add_user("sv.5.1", Uuid::new_v4(), "")
        .await
        .expect("add");

    let deadline = Instant::now() + Duration::from_secs(5);
    let before = loop {
        let uptime = api.uptime().await.expect("uptime");
        if uptime >= 1 || Instant::now() >= deadline {
            break uptime;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(before >= 1, "uptime does not grow: {before}");

    node.restart();
    assert!(node.users().is_empty());
    assert_eq!(api.list_users().await.expect("list"), Some(vec![]));
    let after = api.uptime().await.expect("uptime after restart");
    assert!(after < before, "uptime {before} → {after} after restart");
}

/// Works from a plain (non-async) test too: the fake has its own runtime.
#[test]
fn starts_and_stops_outside_a_runtime() {
    let node = start();
    let addr = node.api_addr();
    node.insert_user("sv.6.1", Uuid::new_v4());
    assert_eq!(node.users().len(), 1);
    drop(node);
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "{addr} still accepts connections after drop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_100k_users() {
    const USERS: usize = 100_000;
    let node = start();
    let started = Instant::now();
    let mut expected: Vec<(String, Uuid)> = (0..USERS)
        .map(|i| (format!("sv.{i}.1"), Uuid::new_v4()))
        .collect();
    for (email, uuid) in &expected {
        node.insert_user(email, *uuid);
    }
    eprintln!(
        "inserting {USERS} users by hand took {:?}",
        started.elapsed()
    );

    let api = client(&node, TAG, Duration::from_secs(60));
    let started = Instant::now();
    let mut listed = api
        .list_users()
        .await
        .expect("list")
        .expect("Xray lists users");
    eprintln!("list_users() of {USERS} users took {:?}", started.elapsed());
    assert_eq!(listed.len(), USERS);
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
}
