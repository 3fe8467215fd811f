//! Traffic on both backends: usage from un-reset node counters against stored
//! baselines, notices once per period, and the guarded moves into and out of
//! `limited`.

use chrono::Duration;
use subvisor_actors::domain::{
    NewOrder, NodeName, NotificationKind, OpKind, OrderId, OrderKind, PlanId, Provider,
    TrafficReset, TrafficState, UserId,
};
use subvisor_actors::store::{Backend, Store};

use crate::helpers::{both_backends, ctx, fresh_store_with, nodes, paid, t0, uid, xtr};

both_backends!(
    usage_counts_growth_and_everything_after_a_node_restart,
    a_failed_write_counts_nothing_and_the_next_reading_counts_once,
    racing_collectors_count_each_reading_once,
    notices_at_80_and_100_percent_once_per_period,
    limited_and_active_transitions_are_guarded,
    a_period_rolls_over_only_when_due,
    a_reading_older_than_the_stored_baseline_is_stale_not_a_restart,
);

fn node(name: &str) -> NodeName {
    NodeName::new(name).expect("valid node name")
}

async fn store(backend: Backend) -> crate::helpers::TestStore {
    fresh_store_with(backend, 8, |opts| {
        opts.plan_traffic_resets
            .insert("daily".into(), TrafficReset::Day);
    })
    .await
}

/// Pays an order of `kind` (plan `plan_id` of 30 days, or a pack) bringing
/// `bytes`, through Stars, at `at`.
async fn pay(
    store: &dyn Store,
    user: UserId,
    kind: OrderKind,
    plan_id: &str,
    bytes: u64,
    at: chrono::DateTime<chrono::Utc>,
) -> subvisor_actors::store::Settled {
    let nodes = nodes();
    let new = NewOrder {
        id: OrderId::random(),
        user,
        kind,
        plan: PlanId::new(plan_id).expect("valid"),
        days: if kind == OrderKind::Pack { 0 } else { 30 },
        traffic_bytes: bytes,
        provider: Provider::Stars,
        amount: xtr(100),
        idempotency_key: None,
        reuse_since: None,
    };
    let order = store
        .create_order(&ctx(at, &nodes), &new)
        .await
        .expect("order")
        .order;
    store
        .apply_payment(
            &ctx(at, &nodes),
            user,
            order.id,
            &paid(Provider::Stars, &format!("charge-{}", order.id), xtr(100)),
        )
        .await
        .expect("payment")
}

async fn state(store: &dyn Store, user: UserId) -> TrafficState {
    store
        .traffic_state(user)
        .await
        .expect("read")
        .expect("a subscription")
}

async fn notices(store: &dyn Store, user: UserId) -> Vec<NotificationKind> {
    store
        .due_notifications(t0() + Duration::days(400), 1000)
        .await
        .expect("notifications")
        .into_iter()
        .filter(|n| n.user == user)
        .map(|n| n.kind)
        .filter(|k| k.as_str().starts_with("traffic"))
        .collect()
}

async fn desired(store: &dyn Store, prefix: &str) -> usize {
    store
        .desired_keys()
        .await
        .expect("desired")
        .into_iter()
        .filter(|(e, _)| e.starts_with(prefix))
        .count()
}

fn reading(email: &str, up: u64, down: u64) -> Vec<(String, u64, u64)> {
    vec![(email.to_owned(), up, down)]
}

async fn usage_counts_growth_and_everything_after_a_node_restart(backend: Backend) {
    let db = store(backend).await;
    let s = db.store.as_ref();
    let user = uid(501);
    pay(s, user, OrderKind::Plan, "month", 1_000_000, t0()).await;
    let (a, b) = (node("a"), node("b"));
    let email = "sv.501.1";

    let r = s
        .record_traffic(&a, &reading(email, 100, 200), t0())
        .await
        .expect("record");
    assert_eq!(r.bytes, 300, "a first reading counts everything it shows");
    s.record_traffic(&a, &reading(email, 150, 260), t0())
        .await
        .expect("record");
    assert_eq!(state(s, user).await.used(), 410);
    // The node restarted: its counters began again at zero.
    s.record_traffic(&a, &reading(email, 10, 5), t0())
        .await
        .expect("record");
    assert_eq!(state(s, user).await.used(), 425);
    // The same counters again: nothing new.
    let again = s
        .record_traffic(&a, &reading(email, 10, 5), t0())
        .await
        .expect("record");
    assert_eq!(again.bytes, 0);
    // Another node keeps its own baseline.
    s.record_traffic(&b, &reading(email, 30, 0), t0())
        .await
        .expect("record");
    let st = state(s, user).await;
    assert_eq!((st.upload_bytes, st.download_bytes), (190, 265));
    // Lifetime counters of the key keep working.
    let snap = s.user(user).await.expect("read").expect("user");
    assert_eq!(snap.keys[0].upload_bytes, 190);
    assert_eq!(snap.keys[0].download_bytes, 265);
    // Unknown emails (an operator's own users) are ignored.
    let r = s
        .record_traffic(&a, &reading("someone@else", 999, 999), t0())
        .await
        .expect("record");
    assert_eq!(r.bytes, 0);
}

async fn a_failed_write_counts_nothing_and_the_next_reading_counts_once(backend: Backend) {
    let db = store(backend).await;
    let s = db.store.as_ref();
    let user = uid(502);
    pay(s, user, OrderKind::Plan, "month", 1_000_000, t0()).await;
    let a = node("a");
    s.record_traffic(&a, &reading("sv.502.1", 100, 100), t0())
        .await
        .expect("record");
    // The write fails after the first key's rows were written (a counter no
    // database column holds): the whole reading is rolled back.
    let failed = s
        .record_traffic(
            &a,
            &[
                ("sv.502.1".to_owned(), 400, 100),
                ("sv.502.2".to_owned(), u64::MAX, 0),
            ],
            t0(),
        )
        .await;
    assert!(failed.is_err(), "the write must fail");
    assert_eq!(state(s, user).await.used(), 200, "nothing of it was kept");
    // The next reading (counters grew a little more) counts those bytes once.
    s.record_traffic(&a, &reading("sv.502.1", 450, 100), t0())
        .await
        .expect("record");
    assert_eq!(state(s, user).await.used(), 550);
}

async fn racing_collectors_count_each_reading_once(backend: Backend) {
    let db = store(backend).await;
    let s = db.store.clone();
    let user = uid(503);
    pay(s.as_ref(), user, OrderKind::Plan, "month", 10_000_000, t0()).await;
    let a = node("a");
    let mut last = 0;
    for round in 1..=8u64 {
        // Two instances read the same counters and write at once.
        let up = round * 1000;
        let (s1, s2) = (s.clone(), s.clone());
        let (n1, n2) = (a.clone(), a.clone());
        let one = tokio::spawn(async move {
            s1.record_traffic(&n1, &reading("sv.503.1", up, 7 * round), t0())
                .await
        });
        let two = tokio::spawn(async move {
            s2.record_traffic(&n2, &reading("sv.503.1", up, 7 * round), t0())
                .await
        });
        let (one, two) = (one.await.expect("join"), two.await.expect("join"));
        let counted = one.map_or(0, |r| r.bytes) + two.map_or(0, |r| r.bytes);
        assert_eq!(
            counted,
            up + 7 * round - last,
            "round {round}: counted once"
        );
        last = up + 7 * round;
        assert_eq!(state(s.as_ref(), user).await.used(), last);
    }
}

async fn notices_at_80_and_100_percent_once_per_period(backend: Backend) {
    let db = store(backend).await;
    let s = db.store.as_ref();
    let user = uid(504);
    pay(s, user, OrderKind::Plan, "daily", 1000, t0()).await;
    let a = node("a");
    let email = "sv.504.1";
    s.record_traffic(&a, &reading(email, 500, 0), t0())
        .await
        .expect("record");
    assert!(notices(s, user).await.is_empty());
    s.record_traffic(&a, &reading(email, 800, 0), t0())
        .await
        .expect("record");
    s.record_traffic(&a, &reading(email, 850, 0), t0())
        .await
        .expect("record");
    assert_eq!(notices(s, user).await, vec![NotificationKind::TrafficLow]);
    s.record_traffic(&a, &reading(email, 1000, 0), t0())
        .await
        .expect("record");
    s.record_traffic(&a, &reading(email, 1200, 0), t0())
        .await
        .expect("record");
    assert_eq!(
        notices(s, user).await,
        vec![
            NotificationKind::TrafficLow,
            NotificationKind::TrafficExhausted
        ]
    );
    // The next day is a new period: told again when it fills again.
    let tomorrow = t0() + Duration::days(1);
    let rolled = s
        .roll_traffic_period(&ctx(tomorrow, &nodes()), user)
        .await
        .expect("roll");
    assert!(rolled.applied);
    s.record_traffic(&a, &reading(email, 2100, 0), tomorrow)
        .await
        .expect("record");
    assert_eq!(
        notices(s, user).await,
        vec![
            NotificationKind::TrafficLow,
            NotificationKind::TrafficExhausted,
            NotificationKind::TrafficLow
        ]
    );
}

async fn limited_and_active_transitions_are_guarded(backend: Backend) {
    let db = store(backend).await;
    let s = db.store.as_ref();
    let nodes = nodes();
    let user = uid(505);
    pay(s, user, OrderKind::Plan, "month", 1000, t0()).await;
    let a = node("a");
    s.record_traffic(&a, &reading("sv.505.1", 600, 0), t0())
        .await
        .expect("record");
    // Under the allowance: the guard refuses.
    let early = s
        .limit_traffic(&ctx(t0(), &nodes), user)
        .await
        .expect("limit");
    assert!(!early.applied);
    assert!(s.over_allowance(10).await.expect("over").is_empty());

    s.record_traffic(&a, &reading("sv.505.1", 600, 400), t0())
        .await
        .expect("record");
    assert_eq!(s.over_allowance(10).await.expect("over"), vec![user]);
    let limited = s
        .limit_traffic(&ctx(t0(), &nodes), user)
        .await
        .expect("limit");
    assert!(limited.applied);
    assert_eq!(limited.ops.len(), 1);
    assert_eq!(limited.ops[0].kind, OpKind::Remove);
    assert!(state(s, user).await.is_limited());
    assert_eq!(
        desired(s, "sv.505.").await,
        0,
        "a limited subscription is not desired"
    );
    assert!(s.over_allowance(10).await.expect("over").is_empty());
    let twice = s
        .limit_traffic(&ctx(t0(), &nodes), user)
        .await
        .expect("limit");
    assert!(!twice.applied, "limited once");
    assert!(twice.ops.is_empty());

    // Reissue while limited: the new key stays off the nodes.
    let reissued = s.reissue(&ctx(t0(), &nodes), user).await.expect("reissue");
    assert!(reissued.ops.iter().all(|op| op.kind == OpKind::Remove));
    // An admin grant of days does not lift the limit either.
    let granted = s
        .grant_days(&ctx(t0(), &nodes), user, 3)
        .await
        .expect("grant");
    assert!(granted.ops.is_empty());
    assert!(state(s, user).await.is_limited());

    // A pack that makes room lifts it: the (new) key goes back on the nodes.
    let settled = pay(s, user, OrderKind::Pack, "pack1", 500, t0()).await;
    assert!(settled.change.applied);
    assert_eq!(settled.change.ops.len(), 1);
    assert_eq!(settled.change.ops[0].kind, OpKind::Add);
    assert_eq!(settled.change.ops[0].email, "sv.505.2");
    let st = state(s, user).await;
    assert!(!st.is_limited());
    assert_eq!(st.total(), 1500);
    assert_eq!(desired(s, "sv.505.").await, 1);

    // Used up again, limited again; an admin reset lifts it and starts over.
    s.record_traffic(&a, &reading("sv.505.2", 0, 600), t0())
        .await
        .expect("record");
    assert!(
        s.limit_traffic(&ctx(t0(), &nodes), user)
            .await
            .expect("limit")
            .applied
    );
    let reset = s
        .reset_traffic(&ctx(t0(), &nodes), user, "support ticket 7")
        .await
        .expect("reset");
    assert_eq!(reset.ops.len(), 1);
    assert_eq!(reset.ops[0].kind, OpKind::Add);
    let st = state(s, user).await;
    assert_eq!((st.used(), st.is_limited()), (0, false));
    let audit = s.recent_audit(user, 1).await.expect("audit");
    assert_eq!(audit[0].action, "reset_traffic");
    assert_eq!(audit[0].details["reason"], "support ticket 7");

    // Limited, then expired: a renewal with a plan brings access back once.
    s.record_traffic(&a, &reading("sv.505.2", 0, 2200), t0())
        .await
        .expect("record");
    assert!(
        s.limit_traffic(&ctx(t0(), &nodes), user)
            .await
            .expect("limit")
            .applied
    );
    let later = t0() + Duration::days(40);
    assert!(
        s.expire(&ctx(later, &nodes), user)
            .await
            .expect("expire")
            .applied
    );
    let renewed = pay(s, user, OrderKind::Plan, "month", 1000, later).await;
    let adds = renewed
        .change
        .ops
        .iter()
        .filter(|op| op.kind == OpKind::Add)
        .count();
    assert_eq!(adds, 1, "one add for the key, not two");
    let st = state(s, user).await;
    assert!(!st.is_limited());
    assert_eq!(
        (st.used(), st.total()),
        (1600, 2500),
        "`none`: the renewal's bytes are added to the allowance"
    );
}

async fn a_period_rolls_over_only_when_due(backend: Backend) {
    let db = store(backend).await;
    let s = db.store.as_ref();
    let nodes = nodes();
    let user = uid(506);
    // t0 is 2026-03-01 12:00 UTC: the daily period ends at midnight.
    pay(s, user, OrderKind::Plan, "daily", 1000, t0()).await;
    let midnight = t0() + Duration::hours(12);
    assert_eq!(state(s, user).await.period_ends_at, Some(midnight));
    s.record_traffic(&node("a"), &reading("sv.506.1", 1000, 0), t0())
        .await
        .expect("record");
    assert!(
        s.limit_traffic(&ctx(t0(), &nodes), user)
            .await
            .expect("limit")
            .applied
    );
    let before = midnight - Duration::seconds(1);
    assert!(
        s.due_traffic_periods(before, 10)
            .await
            .expect("due")
            .is_empty()
    );
    let early = s
        .roll_traffic_period(&ctx(before, &nodes), user)
        .await
        .expect("roll");
    assert!(!early.applied, "not before the period ends");
    assert!(state(s, user).await.is_limited());

    assert_eq!(
        s.due_traffic_periods(midnight, 10).await.expect("due"),
        vec![user]
    );
    let rolled = s
        .roll_traffic_period(&ctx(midnight, &nodes), user)
        .await
        .expect("roll");
    assert!(rolled.applied);
    assert_eq!(rolled.ops.len(), 1);
    assert_eq!(rolled.ops[0].kind, OpKind::Add);
    let st = state(s, user).await;
    assert_eq!((st.used(), st.is_limited()), (0, false));
    assert_eq!(st.period_ends_at, Some(midnight + Duration::days(1)));
    // A second roll at the same moment is refused by the guard.
    let again = s
        .roll_traffic_period(&ctx(midnight, &nodes), user)
        .await
        .expect("roll");
    assert!(!again.applied);
}

/// Around a leadership handover two collectors read one node: the one whose
/// reading was taken earlier but arrives later finds a baseline from a later
/// reading. Its lower counters are stale, not a node restart: it counts
/// nothing and leaves the baseline where it is.
async fn a_reading_older_than_the_stored_baseline_is_stale_not_a_restart(backend: Backend) {
    let db = store(backend).await;
    let s = db.store.as_ref();
    let user = uid(506);
    pay(s, user, OrderKind::Plan, "month", 1_000_000, t0()).await;
    let a = node("a");
    let email = "sv.506.1";
    let (early, late) = (t0() + Duration::seconds(10), t0() + Duration::seconds(20));
    s.record_traffic(&a, &reading(email, 100, 0), t0())
        .await
        .expect("record");
    // Collector B read 160 at `late` and stored it first.
    s.record_traffic(&a, &reading(email, 160, 0), late)
        .await
        .expect("record");
    // Collector A's reading of 150 at `early` arrives after it.
    let stale = s
        .record_traffic(&a, &reading(email, 150, 0), early)
        .await
        .expect("record");
    assert_eq!(stale.bytes, 0, "a stale reading counts nothing");
    assert_eq!(state(s, user).await.used(), 160);
    // The baseline stayed at B's reading: the next one counts from there.
    s.record_traffic(&a, &reading(email, 170, 0), late + Duration::seconds(10))
        .await
        .expect("record");
    assert_eq!(state(s, user).await.used(), 170);
}
