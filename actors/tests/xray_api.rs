//! `XrayApi` against a real v2ray 4.34 node (Debian package `v2ray`), with a
//! real VLESS client fetching a loopback HTTP target through the node.

use std::time::{Duration, Instant};

use prost::Message as _;
use subvisor_actors::provisioning::xray_api::proto::{
    Account, AddUserOperation, AlterInboundRequest,
};
use subvisor_actors::provisioning::xray_api::{ApiFlavor, XrayApi, XrayError, add_user_operation};
use subvisor_testkit::v2ray::{HttpTarget, V2rayNode, VlessClient};
use uuid::Uuid;

const CALL_TIMEOUT: Duration = Duration::from_secs(3);
const BODY: &str = "hello through vless";

/// The testkit is blocking (process start, std sockets).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn start_node() -> V2rayNode {
    blocking(V2rayNode::start).unwrap_or_else(|e| panic!("cannot start v2ray: {e}"))
}

fn client_for(node: &V2rayNode, uuid: Uuid) -> VlessClient {
    blocking(|| VlessClient::start(node.vless_port(), &uuid.to_string()))
        .unwrap_or_else(|e| panic!("cannot start the VLESS client: {e}"))
}

fn api_for(node: &V2rayNode) -> XrayApi {
    XrayApi::new(
        &node.api_addr(),
        ApiFlavor::V2ray,
        node.inbound_tag(),
        CALL_TIMEOUT,
    )
    .expect("valid address")
}

/// Polls `f` every 50 ms until it is true or `within` passed.
async fn eventually(within: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_fetch_remove_and_stats_against_v2ray() {
    let node = start_node();
    let api = api_for(&node);
    let target = blocking(|| HttpTarget::start(BODY)).expect("HTTP target");
    let uuid = Uuid::new_v4();
    let email = "sv.7.1";
    let client = client_for(&node, uuid);

    // Unknown user: the node drops the connection.
    let err = blocking(|| client.fetch(target.port())).expect_err("fetch before add");
    assert!(err.contains("no HTTP response"), "{err}");

    api.add_user(email, uuid, "").await.expect("add");
    assert_eq!(
        blocking(|| client.fetch(target.port())).expect("fetch after add"),
        BODY
    );
    // Idempotent: "already exists" (emails compare case-insensitively).
    api.add_user(email, uuid, "").await.expect("add again");
    api.add_user("SV.7.1", uuid, "")
        .await
        .expect("add again, other case");

    // v2ray has no GetInboundUsers.
    assert!(
        matches!(api.list_users().await, Ok(None)),
        "list_users on v2ray"
    );

    // Per-user counters move while data flows.
    let mut last = None;
    let counted = eventually(Duration::from_secs(3), async || {
        let traffic = api.user_traffic(false).await.expect("user_traffic");
        let seen = traffic.get(email).copied();
        last = Some(traffic);
        seen.is_some_and(|(up, down)| up > 0 && down > BODY.len() as u64)
    })
    .await;
    assert!(counted, "no traffic counted for {email}: {last:?}");
    // Reset returns the counters and zeroes them.
    let before = api.user_traffic(true).await.expect("user_traffic reset");
    assert!(
        before.get(email).is_some_and(|&(up, _)| up > 0),
        "{before:?}"
    );
    let after = api.user_traffic(false).await.expect("user_traffic");
    assert_eq!(after.get(email).copied().unwrap_or_default(), (0, 0));

    api.remove_user(email).await.expect("remove");
    let err = blocking(|| client.fetch(target.port())).expect_err("fetch after remove");
    assert!(err.contains("no HTTP response"), "{err}");
    // Idempotent: "not found".
    api.remove_user(email).await.expect("remove again");

    // A wrong inbound tag ("handler not found") is no success, for either call.
    let wrong_tag =
        XrayApi::new(&node.api_addr(), ApiFlavor::V2ray, "nope", CALL_TIMEOUT).expect("address");
    assert!(
        matches!(
            wrong_tag.add_user(email, uuid, "").await,
            Err(XrayError::Rejected(_))
        ),
        "add on an unknown inbound"
    );
    assert!(
        matches!(
            wrong_tag.remove_user(email).await,
            Err(XrayError::Rejected(_))
        ),
        "remove on an unknown inbound"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_fails_fast_and_restarted_node_forgot_its_users() {
    let mut node = start_node();
    let api = api_for(&node);
    let target = blocking(|| HttpTarget::start(BODY)).expect("HTTP target");
    let uuid = Uuid::new_v4();
    let email = "sv.8.1";
    let client = client_for(&node, uuid);

    api.add_user(email, uuid, "").await.expect("add");
    assert_eq!(
        blocking(|| client.fetch(target.port())).expect("fetch"),
        BODY
    );

    // Let the uptime grow so that a restart is visible.
    let mut uptime_before = 0;
    let grown = eventually(Duration::from_secs(5), async || {
        uptime_before = api.uptime().await.expect("uptime");
        uptime_before >= 2
    })
    .await;
    assert!(grown, "uptime stuck at {uptime_before}");

    blocking(|| node.kill());
    assert!(!node.is_running());
    for call in 0..2 {
        let started = Instant::now();
        let result = api.uptime().await;
        let took = started.elapsed();
        assert!(
            matches!(result, Err(XrayError::Unreachable(_) | XrayError::Timeout)),
            "call {call} on a killed node: {result:?}"
        );
        assert!(took < CALL_TIMEOUT / 2, "call {call} took {took:?}");
    }
    assert!(matches!(
        api.add_user(email, uuid, "").await,
        Err(XrayError::Unreachable(_) | XrayError::Timeout)
    ));

    blocking(|| node.restart()).unwrap_or_else(|e| panic!("cannot restart v2ray: {e}"));
    assert!(node.is_running());
    // The same XrayApi reconnects.
    let uptime_after = api.uptime().await.expect("uptime after restart");
    assert!(
        uptime_after < uptime_before,
        "uptime {uptime_after} after restart, {uptime_before} before"
    );
    // API-added users lived in memory only.
    let err = blocking(|| client.fetch(target.port())).expect_err("fetch after restart");
    assert!(err.contains("no HTTP response"), "{err}");
    assert!(
        api.user_traffic(false).await.expect("traffic").is_empty(),
        "counters survived the restart"
    );

    api.add_user(email, uuid, "")
        .await
        .expect("add after restart");
    assert_eq!(
        blocking(|| client.fetch(target.port())).expect("fetch after re-add"),
        BODY
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_flavor_is_rejected_and_not_mistaken_for_no_listing() {
    let node = start_node();
    let api = XrayApi::new(
        &node.api_addr(),
        ApiFlavor::Xray,
        node.inbound_tag(),
        CALL_TIMEOUT,
    )
    .expect("address");
    match api.uptime().await {
        Err(XrayError::Rejected(message)) => {
            assert!(message.contains("unknown service"), "{message}")
        }
        other => panic!("uptime with the xray flavor on v2ray: {other:?}"),
    }
    assert!(
        matches!(api.list_users().await, Err(XrayError::Rejected(_))),
        "list_users with the wrong flavor must not look like Ok(None)"
    );
    assert!(matches!(
        api.add_user("sv.9.1", Uuid::new_v4(), "").await,
        Err(XrayError::Rejected(_))
    ));
}

/// v2ray has no `HandlerService.ListInbounds`: drift cannot be checked there
/// (`Ok(None)`, "unsupported"), while a wrong flavor stays an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2ray_cannot_list_inbounds() {
    let node = start_node();
    assert!(matches!(api_for(&node).list_inbounds().await, Ok(None)));
    let wrong = XrayApi::new(
        &node.api_addr(),
        ApiFlavor::Xray,
        node.inbound_tag(),
        CALL_TIMEOUT,
    )
    .expect("address");
    assert!(matches!(
        wrong.list_inbounds().await,
        Err(XrayError::Rejected(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_unreachable() {
    let port = subvisor_testkit::free_port();
    let api = XrayApi::new(
        &format!("127.0.0.1:{port}"),
        ApiFlavor::Xray,
        "in",
        CALL_TIMEOUT,
    )
    .expect("address");
    let started = Instant::now();
    let result = api.remove_user("sv.1.1").await;
    assert!(
        matches!(result, Err(XrayError::Unreachable(_))),
        "{result:?}"
    );
    assert!(started.elapsed() < CALL_TIMEOUT / 2);
}

#[test]
fn add_user_operation_round_trips_through_prost() {
    let uuid = Uuid::new_v4();
    let typed = add_user_operation(ApiFlavor::V2ray, "sv.1.2", uuid, "");
    assert_eq!(
        typed.r#type,
        "v2ray.core.app.proxyman.command.AddUserOperation"
    );
    let request = AlterInboundRequest {
        tag: "vless-in".to_owned(),
        operation: Some(typed.clone()),
    };
    let wire = request.encode_to_vec();
    assert_eq!(
        AlterInboundRequest::decode(wire.as_slice()).unwrap(),
        request
    );

    let user = AddUserOperation::decode(typed.value.as_slice())
        .unwrap()
        .user
        .expect("user");
    assert_eq!((user.level, user.email.as_str()), (0, "sv.1.2"));
    let account = user.account.expect("account");
    assert_eq!(account.r#type, "v2ray.core.proxy.vless.Account");
    assert_eq!(
        Account::decode(account.value.as_slice()).unwrap(),
        Account {
            id: uuid.to_string(),
            flow: String::new(),
            encryption: "none".to_owned(),
        }
    );
}
