//! Setup of the reconcile bench: the desired set in the store, with its
//! provisioning ops marked done, and the node's link parameters.

use std::sync::Arc;

use chrono::Utc;
use subvisor_actors::domain::{LinkParams, NodeName, Principal, UserId};
use subvisor_actors::store::{Store, WriteCtx};

/// Gives every user 1..=users 30 days from `writers` concurrent tasks.
pub(crate) async fn grant_all(
    store: &Arc<dyn Store>,
    node: &NodeName,
    users: usize,
    writers: usize,
) {
    let mut tasks = Vec::with_capacity(writers);
    for w in 0..writers {
        let store = store.clone();
        let nodes = vec![node.clone()];
        tasks.push(tokio::spawn(async move {
            for u in (w + 1..=users).step_by(writers) {
                let ctx = WriteCtx {
                    now: Utc::now(),
                    by: Principal::System,
                    nodes: &nodes,
                };
                let user = UserId::new(u as i64).expect("user id");
                store.grant_days(&ctx, user, 30).await.expect("grant_days");
            }
        }));
    }
    for task in tasks {
        task.await.expect("grant task");
    }
}

/// Marks every pending provisioning op done; returns how many.
pub(crate) async fn complete_all_ops(store: &Arc<dyn Store>) -> usize {
    let mut total = 0;
    loop {
        let ids: Vec<i64> = store
            .pending_ops(20_000)
            .await
            .expect("pending ops")
            .into_iter()
            .map(|p| p.op.id)
            .collect();
        if ids.is_empty() {
            return total;
        }
        total += ids.len();
        store
            .complete_ops(&ids, Utc::now())
            .await
            .expect("complete ops");
    }
}

pub(crate) fn link_params() -> LinkParams {
    LinkParams {
        host: "vpn.example.com".into(),
        port: 443,
        sni: "www.example.com".into(),
        public_key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        short_id: String::new(),
        fingerprint: "chrome".into(),
        label: "bench".into(),
    }
}
