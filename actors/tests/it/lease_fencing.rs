//! A provisioning leader whose lease runs out in the middle of a pass (frozen,
//! cut off from the database) makes no further call to the node: another
//! instance may lead by then.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use subvisor_actors::domain::{NodeName, Principal};
use subvisor_actors::leader::LeaderFlag;
use subvisor_actors::messages::GrantDays;
use subvisor_actors::provisioning::{
    NodeClient, NodeError, NodeStatus, OutboxDriver, Provisioner, SandboxNode,
};
use subvisor_actors::store::Backend;
use uuid::Uuid;

use crate::helpers::{System, settings, uid};

/// The sandbox node, 100 ms a call, counting calls.
struct SlowNode {
    inner: SandboxNode,
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl NodeClient for SlowNode {
    fn name(&self) -> &NodeName {
        self.inner.name()
    }
    async fn add_user(&self, _: &str, _: Uuid) -> Result<(), NodeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    }
    async fn remove_user(&self, _: &str) -> Result<(), NodeError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(())
    }
    async fn list_users(&self) -> Result<Option<Vec<(String, Uuid)>>, NodeError> {
        Ok(None)
    }
    async fn read_traffic(
        &self,
    ) -> Result<Option<std::collections::HashMap<String, (u64, u64)>>, NodeError> {
        Ok(None)
    }
    fn status(&self) -> NodeStatus {
        self.inner.status()
    }
}

#[actix_rt::test]
async fn a_lapsed_lease_stops_the_outbox_pass_between_two_calls() {
    let sys = System::start(Backend::Sqlite, settings()).await;
    for user in 720..740 {
        sys.registry
            .send(
                uid(user),
                GrantDays {
                    days: 1,
                    by: Principal::Ops,
                },
            )
            .await
            .expect("grant");
    }
    let node = Arc::new(SlowNode {
        inner: SandboxNode::new(),
        calls: AtomicUsize::new(0),
    });
    let provisioner = Provisioner::new(vec![node.clone() as Arc<dyn NodeClient>]);
    // Twenty ops of 100 ms each; the lease lapses after about three.
    let driver = OutboxDriver::new(
        sys.store().clone(),
        provisioner,
        sys.clock.clone(),
        Duration::from_secs(3600),
    )
    .with_leader(LeaderFlag::leading_for(Duration::from_millis(250)));
    let done = driver.drain_once().await.expect("pass");
    let calls = node.calls.load(Ordering::SeqCst);
    assert!(
        (1..10).contains(&calls),
        "{calls} calls: the pass went on after the lease lapsed"
    );
    assert_eq!(done, calls, "what was applied is recorded, nothing more");
    let pending = sys.store().pending_ops(100).await.expect("pending");
    assert_eq!(
        pending.len(),
        20 - calls,
        "the rest waits for the next leader"
    );
}
