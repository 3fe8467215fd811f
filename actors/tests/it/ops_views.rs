//! The ops console's reads (flagged payments, outbox stats, node backlogs, a
//! user's pending ops, the ops audit) and its audit write, on both backends.

use chrono::Duration;
use serde_json::json;
use subvisor_actors::domain::{NewOrder, OrderId, OrderKind, Provider};
use subvisor_actors::store::Backend;

use crate::helpers::{both_backends, ctx, fresh_store, nodes, plans, t0, uid};

both_backends!(ops_views_show_what_needs_a_hand);

async fn ops_views_show_what_needs_a_hand(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let nodes = nodes();
    let s = &db.store;
    assert!(s.flagged_payments(10).await.expect("flagged").is_empty());
    assert!(s.node_backlogs().await.expect("backlogs").is_empty());
    let empty = s.outbox_stats().await.expect("stats");
    assert_eq!(
        empty
            .iter()
            .map(|o| (o.outbox, o.depth))
            .collect::<Vec<_>>(),
        vec![
            ("provisioning", 0),
            ("notifications", 0),
            ("alerts", 0),
            ("payment_events", 0)
        ]
    );

    // Two users granted a minute apart: two pending adds on the node.
    s.grant_days(&ctx(t0(), &nodes), uid(70), 30)
        .await
        .expect("grant");
    s.grant_days(&ctx(t0() + Duration::minutes(1), &nodes), uid(71), 30)
        .await
        .expect("grant");
    let backlogs = s.node_backlogs().await.expect("backlogs");
    assert_eq!(backlogs.len(), 1);
    assert_eq!(
        (backlogs[0].node.as_str(), backlogs[0].pending),
        ("sandbox", 2)
    );
    assert_eq!(backlogs[0].oldest_at, t0(), "the oldest op, not the newest");
    let first = s.pending_ops(10).await.expect("pending")[0].op.id;
    s.retry_op_later(first, "connection refused", t0() + Duration::hours(1))
        .await
        .expect("retry");
    let mine = s.pending_ops_of(uid(70)).await.expect("of user");
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].op.as_str(), mine[0].attempts), ("add", 1));
    assert_eq!(mine[0].last_error.as_deref(), Some("connection refused"));
    let stats = s.outbox_stats().await.expect("stats");
    let prov = &stats[0];
    assert_eq!((prov.depth, prov.retrying), (2, 1));
    assert_eq!(prov.oldest_at, Some(t0()));
    assert_eq!(prov.last_error.as_deref(), Some("connection refused"));
    assert_eq!(
        s.node_backlogs().await.expect("backlogs")[0]
            .last_error
            .as_deref(),
        Some("connection refused")
    );

    // A flagged order shows, with its reason and user.
    let plan = plans()
        .get(&subvisor_actors::domain::PlanId::new("month").expect("id"))
        .cloned()
        .expect("plan");
    let order = NewOrder {
        id: OrderId::random(),
        user: uid(70),
        kind: OrderKind::Plan,
        plan: plan.id.clone(),
        days: plan.days,
        traffic_bytes: 0,
        provider: Provider::Nowpayments,
        amount: plan.price_for(Provider::Nowpayments).expect("price"),
        idempotency_key: None,
        reuse_since: None,
    };
    s.create_order(&ctx(t0(), &nodes), &order)
        .await
        .expect("order");
    assert!(
        s.flag_order(&ctx(t0(), &nodes), order.id, "partially_paid")
            .await
            .expect("flag")
    );
    let flagged = s.flagged_payments(10).await.expect("flagged");
    assert_eq!(flagged.len(), 1);
    assert_eq!(
        (flagged[0].order, flagged[0].reason.as_str()),
        (Some(order.id), "partially_paid")
    );
    assert_eq!(flagged[0].user, uid(70));

    // Who holds each role: this instance, on PostgreSQL (SQLite keeps no leases).
    assert!(s.lease_holders().await.expect("leases").is_empty());
    let lease = s
        .lead("scheduler", std::time::Duration::from_secs(30))
        .await
        .expect("lead")
        .expect("leads");
    let holders = s.lease_holders().await.expect("leases");
    match backend {
        Backend::Sqlite => assert!(holders.is_empty()),
        Backend::Postgres => {
            assert_eq!(holders.len(), 1);
            assert_eq!(holders[0].role, "scheduler");
            assert_eq!(holders[0].holder, subvisor_actors::store::instance_name());
        }
    }
    drop(lease);

    // An ops action's audit row, with no user, is in the ops audit.
    s.record_audit(
        &ctx(t0(), &nodes),
        None,
        "console_reconcile",
        json!({ "operator": "alice" }),
    )
    .await
    .expect("audit");
    let audit = s.recent_ops_audit(5).await.expect("audit");
    assert_eq!(audit[0].action, "console_reconcile");
    assert_eq!(audit[0].actor, "ops");
    assert_eq!(audit[0].details["operator"], "alice");
}
