//! One store test suite, run against SQLite and PostgreSQL.

use chrono::Duration;
use subvisor_actors::Error;
use subvisor_actors::domain::{
    KeyState, NewOrder, OpKind, OrderId, OrderStatus, PlanId, Provider, SubscriptionStatus, UserId,
};
use subvisor_actors::store::Backend;

use crate::helpers::{both_backends, ctx, fresh_store, nodes, plans, t0, uid};

both_backends!(
    grant_starts_then_extends,
    expire_is_guarded_and_regrant_reprovisions_the_same_key,
    revoke_removes_access_once,
    reissue_adds_new_key_before_removing_old,
    trial_is_granted_once,
    payments_apply_once_and_provider_ids_are_unique,
    outbox_rows_are_ordered_and_retried,
    due_ops_never_overtake_a_waiting_op_of_the_same_key,
    one_lease_per_role,
    due_expirations_are_oldest_first_and_limited,
);

async fn grant_starts_then_extends(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let nodes = nodes();
    let user = uid(10);
    assert!(db.store.user(user).await.expect("read").is_none());

    let first = db
        .store
        .grant_days(&ctx(t0(), &nodes), user, 30)
        .await
        .expect("grant");
    let sub = first.snapshot.subscription.clone().expect("subscription");
    assert_eq!(sub.status, SubscriptionStatus::Active);
    assert_eq!(sub.expires_at, t0() + Duration::days(30));
    assert_eq!(first.snapshot.keys.len(), 1);
    assert_eq!(first.snapshot.keys[0].email, "sv.10.1");
    assert_eq!(first.ops.len(), 1, "one add op per node");
    assert_eq!(first.ops[0].kind, OpKind::Add);

    // Granting again while active extends from the current expiry, same key, no op.
    let later = t0() + Duration::days(10);
    let second = db
        .store
        .grant_days(&ctx(later, &nodes), user, 5)
        .await
        .expect("grant");
    let sub2 = second.snapshot.subscription.clone().expect("subscription");
    assert_eq!(sub2.expires_at, t0() + Duration::days(35));
    assert_eq!(
        sub2.sub_token, sub.sub_token,
        "the subscription URL never changes on renewal"
    );
    assert!(sub2.version > sub.version);
    assert_eq!(second.snapshot.keys, first.snapshot.keys);
    assert!(second.ops.is_empty());

    let audit = db.store.recent_audit(user, 10).await.expect("audit");
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].action, "grant_days");
    assert_eq!(audit[0].details["days"], 5);
    assert_eq!(audit[0].actor, "ops");
    let depth = db.store.outbox_depth().await.expect("depth");
    assert_eq!(depth.provisioning, 1);
    assert_eq!(depth.notifications, 2);
}

async fn expire_is_guarded_and_regrant_reprovisions_the_same_key(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let nodes = nodes();
    let user = uid(11);
    let granted = db
        .store
        .grant_days(&ctx(t0(), &nodes), user, 1)
        .await
        .expect("grant");
    let key = granted.snapshot.keys[0].clone();

    // Not due yet: nothing happens.
    let early = db
        .store
        .expire(&ctx(t0() + Duration::hours(23), &nodes), user)
        .await
        .expect("expire");
    assert!(!early.applied);
    assert_eq!(
        early.snapshot.subscription.as_ref().map(|s| s.status),
        Some(SubscriptionStatus::Active)
    );
    assert!(early.ops.is_empty());

    // Due: expired, and the key is removed from every node.
    let due = t0() + Duration::days(1);
    let expired = db
        .store
        .expire(&ctx(due, &nodes), user)
        .await
        .expect("expire");
    assert!(expired.applied);
    assert_eq!(
        expired.snapshot.subscription.as_ref().map(|s| s.status),
        Some(SubscriptionStatus::Expired)
    );
    assert_eq!(expired.ops.len(), 1);
    assert_eq!(expired.ops[0].kind, OpKind::Remove);
    assert_eq!(expired.ops[0].email, key.email);

    // Twice is a no-op.
    assert!(
        !db.store
            .expire(&ctx(due, &nodes), user)
            .await
            .expect("expire")
            .applied
    );

    // Renewal after expiry counts from now and re-adds the same key.
    let now = due + Duration::days(3);
    let renewed = db
        .store
        .grant_days(&ctx(now, &nodes), user, 30)
        .await
        .expect("grant");
    let sub = renewed.snapshot.subscription.expect("subscription");
    assert_eq!(sub.status, SubscriptionStatus::Active);
    assert_eq!(sub.expires_at, now + Duration::days(30));
    assert_eq!(renewed.snapshot.keys, vec![key.clone()]);
    assert_eq!(renewed.ops.len(), 1);
    assert_eq!(
        (renewed.ops[0].kind, renewed.ops[0].email.as_str()),
        (OpKind::Add, key.email.as_str())
    );
}

async fn revoke_removes_access_once(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let nodes = nodes();
    let user = uid(12);
    assert!(matches!(
        db.store.revoke(&ctx(t0(), &nodes), user).await,
        Err(Error::NoSubscription(_))
    ));
    db.store
        .grant_days(&ctx(t0(), &nodes), user, 30)
        .await
        .expect("grant");
    let revoked = db
        .store
        .revoke(&ctx(t0() + Duration::days(1), &nodes), user)
        .await
        .expect("revoke");
    assert!(revoked.applied);
    let sub = revoked.snapshot.subscription.expect("subscription");
    assert_eq!(sub.status, SubscriptionStatus::Revoked);
    assert_eq!(
        sub.expires_at,
        t0() + Duration::days(1),
        "expiry cut to the revocation time"
    );
    assert_eq!(revoked.ops.len(), 1);
    assert_eq!(revoked.ops[0].kind, OpKind::Remove);

    let again = db
        .store
        .revoke(&ctx(t0() + Duration::days(2), &nodes), user)
        .await
        .expect("revoke");
    assert!(!again.applied);
    assert!(again.ops.is_empty());
    assert!(matches!(
        db.store
            .reissue(&ctx(t0() + Duration::days(2), &nodes), user)
            .await,
        Err(Error::NotActive(_))
    ));
    // Expiry never touches a revoked subscription.
    assert!(
        !db.store
            .expire(&ctx(t0() + Duration::days(60), &nodes), user)
            .await
            .expect("expire")
            .applied
    );
}

async fn reissue_adds_new_key_before_removing_old(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let nodes = nodes();
    let user = uid(13);
    let granted = db
        .store
        .grant_days(&ctx(t0(), &nodes), user, 30)
        .await
        .expect("grant");
    let old = granted.snapshot.keys[0].clone();
    let token = granted
        .snapshot
        .subscription
        .clone()
        .expect("sub")
        .sub_token;

    let reissued = db
        .store
        .reissue(&ctx(t0() + Duration::days(1), &nodes), user)
        .await
        .expect("reissue");
    let keys = &reissued.snapshot.keys;
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].uuid, old.uuid);
    assert_eq!(keys[0].state, KeyState::Retired);
    assert_eq!(keys[1].state, KeyState::Active);
    assert_ne!(keys[1].uuid, old.uuid);
    assert_eq!(keys[1].email, "sv.13.2");
    assert_eq!(
        reissued.snapshot.subscription.expect("sub").sub_token,
        token
    );

    let kinds: Vec<_> = reissued
        .ops
        .iter()
        .map(|o| (o.kind, o.email.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (OpKind::Add, "sv.13.2".to_string()),
            (OpKind::Remove, "sv.13.1".to_string())
        ]
    );
    assert!(
        reissued.ops[0].id < reissued.ops[1].id,
        "the add is committed (and applied) first"
    );
}

async fn trial_is_granted_once(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let nodes = nodes();
    let user = uid(14);
    let trial = db
        .store
        .start_trial(&ctx(t0(), &nodes), user, 3, true)
        .await
        .expect("trial");
    assert!(trial.snapshot.trial_used);
    assert_eq!(
        trial.snapshot.subscription.expect("sub").expires_at,
        t0() + Duration::days(3)
    );
    assert!(matches!(
        db.store
            .start_trial(&ctx(t0(), &nodes), user, 3, true)
            .await,
        Err(Error::TrialAlreadyUsed(_))
    ));
    let snap = db.store.user(user).await.expect("read").expect("exists");
    assert_eq!(
        snap.subscription.expect("sub").expires_at,
        t0() + Duration::days(3),
        "refused trial changed nothing"
    );
}

async fn payments_apply_once_and_provider_ids_are_unique(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let nodes = nodes();
    let user = uid(15);
    let other = uid(16);
    let plan = plans()
        .get(&PlanId::new("month").expect("valid"))
        .cloned()
        .expect("plan");
    let new_order = |u: UserId| NewOrder {
        id: OrderId::random(),
        user: u,
        kind: subvisor_actors::domain::OrderKind::Plan,
        plan: plan.id.clone(),
        days: plan.days,
        traffic_bytes: 0,
        provider: Provider::Stars,
        amount: plan.price_for(Provider::Stars).expect("price"),
        idempotency_key: None,
        reuse_since: None,
    };
    let charge = |id: &str| crate::helpers::paid(Provider::Stars, id, crate::helpers::xtr(150));
    let a = db
        .store
        .create_order(&ctx(t0(), &nodes), &new_order(user))
        .await
        .expect("order")
        .order;
    assert_eq!(a.status, OrderStatus::Pending);
    assert_eq!(a.amount.minor, 150);
    assert_eq!(db.store.order(a.id).await.expect("read"), Some(a.clone()));

    let paid = db
        .store
        .apply_payment(&ctx(t0(), &nodes), user, a.id, &charge("charge-1"))
        .await
        .expect("pay")
        .change;
    assert!(paid.applied);
    assert_eq!(
        paid.snapshot.subscription.as_ref().expect("sub").expires_at,
        t0() + Duration::days(30)
    );
    let stored = db.store.order(a.id).await.expect("read").expect("exists");
    assert_eq!(stored.status, OrderStatus::Paid);
    assert_eq!(stored.provider_payment_id.as_deref(), Some("charge-1"));

    // The same confirmation again: no second extension.
    let dup = db
        .store
        .apply_payment(&ctx(t0(), &nodes), user, a.id, &charge("charge-1"))
        .await
        .expect("pay")
        .change;
    assert!(!dup.applied);
    assert_eq!(
        dup.snapshot.subscription.expect("sub").expires_at,
        t0() + Duration::days(30)
    );

    // A payment already settled (for another order) does not pay a second one.
    let b = db
        .store
        .create_order(&ctx(t0(), &nodes), &new_order(user))
        .await
        .expect("order")
        .order;
    let again = db
        .store
        .apply_payment(&ctx(t0(), &nodes), user, b.id, &charge("charge-1"))
        .await
        .expect("settled");
    assert_eq!(
        again.settlement,
        subvisor_actors::domain::Settlement::Duplicate
    );
    assert!(!again.change.applied);
    assert_eq!(
        db.store
            .order(b.id)
            .await
            .expect("read")
            .expect("exists")
            .status,
        OrderStatus::Pending
    );

    // Orders of other users and unknown orders are refused.
    let c = db
        .store
        .create_order(&ctx(t0(), &nodes), &new_order(other))
        .await
        .expect("order")
        .order;
    assert!(matches!(
        db.store
            .apply_payment(&ctx(t0(), &nodes), user, c.id, &charge("charge-2"))
            .await,
        Err(Error::OrderOfAnotherUser { .. })
    ));
    assert!(matches!(
        db.store
            .apply_payment(
                &ctx(t0(), &nodes),
                user,
                OrderId::random(),
                &charge("charge-3")
            )
            .await,
        Err(Error::OrderNotFound(_))
    ));
    let audit = db.store.recent_audit(user, 50).await.expect("audit");
    let payments: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "apply_payment")
        .collect();
    assert_eq!(payments.len(), 1, "refused payments leave no audit entry");
    assert_eq!(payments[0].details["provider_payment_id"], "charge-1");
    assert_eq!(db.store.ledger_sum(user).await.expect("ledger"), 0);
}

async fn outbox_rows_are_ordered_and_retried(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let nodes = nodes();
    for n in 20..25 {
        db.store
            .grant_days(&ctx(t0(), &nodes), uid(n), 1)
            .await
            .expect("grant");
    }
    let pending = db.store.pending_ops(100).await.expect("pending");
    assert_eq!(pending.len(), 5);
    assert!(
        pending.windows(2).all(|w| w[0].op.id < w[1].op.id),
        "commit order"
    );
    assert_eq!(
        db.store.pending_ops_by_node().await.expect("by node"),
        vec![("sandbox".to_string(), 5)]
    );

    let first = pending[0].op.id;
    let retry_at = t0() + Duration::seconds(30);
    db.store
        .retry_op_later(first, "connection refused", retry_at)
        .await
        .expect("retry");
    let ids: Vec<i64> = pending[1..3].iter().map(|p| p.op.id).collect();
    db.store.complete_ops(&ids, t0()).await.expect("complete");
    db.store
        .cancel_op(pending[3].op.id, "node not configured", t0())
        .await
        .expect("cancel");

    let left = db.store.pending_ops(100).await.expect("pending");
    assert_eq!(left.len(), 2);
    assert_eq!(left[0].op.id, first);
    assert_eq!(left[0].op.attempts, 1);
    assert_eq!(left[0].next_attempt_at, retry_at);
    assert_eq!(
        db.store.outbox_depth().await.expect("depth").provisioning,
        2
    );
}

async fn due_expirations_are_oldest_first_and_limited(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let nodes = nodes();
    for (n, days) in [(30, 3), (31, 1), (32, 2), (33, 10)] {
        db.store
            .grant_days(&ctx(t0(), &nodes), uid(n), days)
            .await
            .expect("grant");
    }
    let now = t0() + Duration::days(5);
    let due = db.store.due_expirations(now, 10).await.expect("due");
    let users: Vec<i64> = due.iter().map(|d| d.user.get()).collect();
    assert_eq!(users, vec![31, 32, 30]);
    assert_eq!(due[0].expires_at, t0() + Duration::days(1));
    assert_eq!(
        db.store.due_expirations(now, 2).await.expect("due").len(),
        2
    );
    assert!(
        db.store
            .due_expirations(t0(), 10)
            .await
            .expect("due")
            .is_empty()
    );
}

async fn due_ops_never_overtake_a_waiting_op_of_the_same_key(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let nodes = nodes();
    let (a, b) = (uid(40), uid(41));
    db.store
        .grant_days(&ctx(t0(), &nodes), a, 30)
        .await
        .expect("grant");
    db.store
        .revoke(&ctx(t0(), &nodes), a)
        .await
        .expect("revoke");
    db.store
        .grant_days(&ctx(t0(), &nodes), b, 30)
        .await
        .expect("grant");
    let all = db.store.pending_ops(10).await.expect("pending");
    assert_eq!(all.len(), 3, "add a, remove a, add b");
    assert_eq!(
        db.store.due_ops(t0(), 10).await.expect("due").len(),
        3,
        "all due, in order"
    );

    // a's add failed and waits 30 s: a's remove must not overtake it; b is unaffected.
    db.store
        .retry_op_later(all[0].op.id, "refused", t0() + Duration::seconds(30))
        .await
        .expect("retry");
    let due: Vec<i64> = db
        .store
        .due_ops(t0(), 10)
        .await
        .expect("due")
        .iter()
        .map(|p| p.op.id)
        .collect();
    assert_eq!(due, vec![all[2].op.id]);
    let later: Vec<i64> = db
        .store
        .due_ops(t0() + Duration::seconds(31), 10)
        .await
        .expect("due")
        .iter()
        .map(|p| p.op.id)
        .collect();
    assert_eq!(
        later,
        vec![all[0].op.id, all[1].op.id, all[2].op.id],
        "once due, in commit order"
    );
}

async fn one_lease_per_role(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    const TERM: std::time::Duration = std::time::Duration::from_secs(30);
    let first = db.store.lead("scheduler", TERM).await.expect("lead");
    let mut first = first.expect("the first instance leads").lease;
    assert!(first.renew(TERM).await);
    let second = db.store.lead("scheduler", TERM).await.expect("lead");
    let other_role = db.store.lead("provisioning", TERM).await.expect("lead");
    assert!(other_role.is_some(), "roles are independent");
    match backend {
        // One SQLite file has one writer process: it always leads.
        Backend::Sqlite => assert!(second.is_some()),
        Backend::Postgres => {
            assert!(
                second.is_none(),
                "a second instance must not lead the same role"
            );
            drop(first);
            // The lock goes with the closed session; give the server a moment.
            let mut taken = None;
            for _ in 0..50 {
                taken = db.store.lead("scheduler", TERM).await.expect("lead");
                if taken.is_some() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            assert!(
                taken.is_some(),
                "the role is free again once the leader is gone"
            );
        }
    }
}
