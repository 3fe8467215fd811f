//! Auto-renewal from the balance: exactly one purchase per period, whatever
//! ticks, restarts or instances; a short balance gets one reminder and no
//! debit; opted-out and banned users get nothing.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures_util::future::join_all;
use subvisor_actors::clock::Clock;
use subvisor_actors::domain::{
    NotificationKind, Order, OrderStatus, PlanId, Principal, Provider, RenewalOutcome,
    SubscriptionStatus, UserId,
};
use subvisor_actors::messages::{AdjustBalance, AutoRenew, GrantDays, SetAutoRenew, SetBanned};
use subvisor_actors::provisioning::{NodeClient, Provisioner, SandboxNode};
use subvisor_actors::scheduler::Scheduler;
use subvisor_actors::store::{self, Backend, Store, StoreOptions, auto_renew_key};
use subvisor_actors::{Error, Registry};

use crate::helpers::{System, TestClock, both_backends, ctx, plans, settings, t0, uid, usd};

both_backends!(
    two_ticks_renew_once_per_period,
    a_scheduler_restarted_mid_renewal_pays_the_same_order,
    a_short_balance_is_reminded_once_and_never_debited,
    opted_out_and_banned_users_get_nothing,
    a_plan_the_balance_cannot_pay_is_reminded_once,
);

const BEFORE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn month() -> PlanId {
    PlanId::new("month").expect("plan id")
}

fn scheduler(registry: &Registry) -> Scheduler {
    Scheduler::new(registry.clone(), std::time::Duration::from_secs(60), 50).with_auto_renew(BEFORE)
}

/// A user with 30 days from t0, `balance` cents and auto-renewal on.
async fn opted_in(registry: &Registry, user: UserId, balance: i64) {
    registry
        .send(
            user,
            GrantDays {
                days: 30,
                by: Principal::Ops,
            },
        )
        .await
        .expect("grant");
    if balance > 0 {
        registry
            .send(
                user,
                AdjustBalance {
                    amount: usd(balance),
                    note: "test".into(),
                    by: Principal::Ops,
                },
            )
            .await
            .expect("credit");
    }
    let on = registry
        .send(
            user,
            SetAutoRenew {
                plan: Some(month()),
                by: Principal::User(user),
            },
        )
        .await
        .expect("opt in");
    assert!(on.applied);
}

/// Inside the renewal window of the period ending at `end` (an hour into it).
fn in_window(end: DateTime<Utc>) -> DateTime<Utc> {
    end - Duration::hours(23)
}

async fn renewal_orders(store: &dyn Store, user: UserId) -> Vec<Order> {
    store
        .orders_of(user, 100)
        .await
        .expect("orders")
        .into_iter()
        .filter(|o| o.provider == Provider::Balance)
        .collect()
}

async fn notifications(store: &dyn Store, user: UserId, kind: NotificationKind) -> usize {
    let far = t0() + Duration::days(3650);
    store
        .due_notifications(far, 10_000)
        .await
        .expect("notifications")
        .iter()
        .filter(|n| n.user == user && n.kind == kind)
        .count()
}

/// The balance equals the ledger, and is what we expect.
async fn assert_balance(store: &dyn Store, user: UserId, expected: i64) {
    let snap = store.user(user).await.expect("read").expect("user");
    assert_eq!(snap.balance_minor, expected, "balance");
    assert_eq!(
        store.ledger_sum(user).await.expect("ledger"),
        expected,
        "balance = ledger"
    );
}

async fn expires_at(store: &dyn Store, user: UserId) -> DateTime<Utc> {
    store
        .user(user)
        .await
        .expect("read")
        .and_then(|s| s.subscription)
        .expect("subscription")
        .expires_at
}

async fn two_ticks_renew_once_per_period(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let user = uid(501);
    opted_in(&sys.registry, user, 1000).await;
    let end = t0() + Duration::days(30);
    let sched = scheduler(&sys.registry);

    // Before the window: nothing.
    sys.clock.inner.set(end - Duration::days(2));
    assert_eq!(sched.tick().await.expect("tick").renewed, 0);
    assert!(renewal_orders(sys.store().as_ref(), user).await.is_empty());

    sys.clock.inner.set(in_window(end));
    let first = sched.tick().await.expect("tick");
    assert_eq!(first.renewed, 1);
    let second = sched.tick().await.expect("tick");
    assert_eq!(second.renewed, 0, "the period is renewed already");
    // The actor asked again for the same period answers the first order.
    let again = sys
        .registry
        .send(user, AutoRenew { period_end: end })
        .await
        .expect("auto renew");
    assert_ne!(again.outcome, RenewalOutcome::Renewed);

    let orders = renewal_orders(sys.store().as_ref(), user).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].status, OrderStatus::Paid);
    assert_balance(sys.store().as_ref(), user, 1000 - 299).await;
    let next_end = end + Duration::days(30);
    assert_eq!(expires_at(sys.store().as_ref(), user).await, next_end);
    assert_eq!(
        notifications(sys.store().as_ref(), user, NotificationKind::AutoRenewed).await,
        1
    );

    // The next period has its own key: renewed once more.
    sys.clock.inner.set(in_window(next_end));
    assert_eq!(sched.tick().await.expect("tick").renewed, 1);
    assert_eq!(sched.tick().await.expect("tick").renewed, 0);
    assert_eq!(renewal_orders(sys.store().as_ref(), user).await.len(), 2);
    assert_balance(sys.store().as_ref(), user, 1000 - 2 * 299).await;
    assert_eq!(
        expires_at(sys.store().as_ref(), user).await,
        next_end + Duration::days(30)
    );
    assert_eq!(
        notifications(sys.store().as_ref(), user, NotificationKind::AutoRenewed).await,
        2
    );
}

/// The process died after the renewal order was made and before it was
/// paid; a new Scheduler pays that same order, once.
async fn a_scheduler_restarted_mid_renewal_pays_the_same_order(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let user = uid(502);
    opted_in(&sys.registry, user, 1000).await;
    let end = t0() + Duration::days(30);
    sys.clock.inner.set(in_window(end));

    let first = scheduler(&sys.registry);
    // What the first one got to before it died: the period's order.
    let plan = plans().get(&month()).cloned().expect("plan");
    let pending = sys
        .store()
        .create_order(
            &ctx(sys.clock.inner.now(), &[]),
            &subvisor_actors::domain::NewOrder {
                id: subvisor_actors::domain::OrderId::random(),
                user,
                kind: subvisor_actors::domain::OrderKind::Plan,
                plan: plan.id.clone(),
                days: plan.days,
                traffic_bytes: 0,
                provider: Provider::Balance,
                amount: usd(299),
                idempotency_key: Some(auto_renew_key(end)),
                reuse_since: None,
            },
        )
        .await
        .expect("order")
        .order;
    drop(first);

    let second = scheduler(&sys.registry);
    assert_eq!(second.tick().await.expect("tick").renewed, 1);
    drop(second);
    let third = scheduler(&sys.registry);
    assert_eq!(third.tick().await.expect("tick").renewed, 0);

    let orders = renewal_orders(sys.store().as_ref(), user).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].id, pending.id, "the pending order was paid");
    assert_eq!(orders[0].status, OrderStatus::Paid);
    assert_balance(sys.store().as_ref(), user, 1000 - 299).await;
    assert_eq!(
        expires_at(sys.store().as_ref(), user).await,
        end + Duration::days(30)
    );
}

async fn a_short_balance_is_reminded_once_and_never_debited(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let user = uid(503);
    opted_in(&sys.registry, user, 100).await;
    let end = t0() + Duration::days(30);
    sys.clock.inner.set(in_window(end));
    let sched = scheduler(&sys.registry);

    assert_eq!(sched.tick().await.expect("tick").renewed, 1, "reminded");
    assert_eq!(sched.tick().await.expect("tick").renewed, 0);
    let again = sys
        .registry
        .send(user, AutoRenew { period_end: end })
        .await
        .expect("auto renew");
    assert_eq!(again.outcome, RenewalOutcome::Skipped);
    assert_eq!(
        notifications(
            sys.store().as_ref(),
            user,
            NotificationKind::AutoRenewFailed
        )
        .await,
        1
    );
    assert_eq!(
        notifications(sys.store().as_ref(), user, NotificationKind::AutoRenewed).await,
        0
    );
    assert!(
        renewal_orders(sys.store().as_ref(), user)
            .await
            .iter()
            .all(|o| o.status != OrderStatus::Paid)
    );
    assert_balance(sys.store().as_ref(), user, 100).await;
    assert_eq!(expires_at(sys.store().as_ref(), user).await, end);

    // Topped up within the window: the next pass renews, and says so once.
    sys.registry
        .send(
            user,
            AdjustBalance {
                amount: usd(200),
                note: "top-up".into(),
                by: Principal::Ops,
            },
        )
        .await
        .expect("credit");
    assert_eq!(sched.tick().await.expect("tick").renewed, 1);
    assert_eq!(sched.tick().await.expect("tick").renewed, 0);
    assert_balance(sys.store().as_ref(), user, 300 - 299).await;
    assert_eq!(
        expires_at(sys.store().as_ref(), user).await,
        end + Duration::days(30)
    );
    assert_eq!(
        notifications(
            sys.store().as_ref(),
            user,
            NotificationKind::AutoRenewFailed
        )
        .await,
        1
    );
}

async fn opted_out_and_banned_users_get_nothing(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let out = uid(504);
    let banned = uid(505);
    opted_in(&sys.registry, out, 1000).await;
    opted_in(&sys.registry, banned, 1000).await;
    let end = t0() + Duration::days(30);
    sys.clock.inner.set(in_window(end));

    let off = sys
        .registry
        .send(
            out,
            SetAutoRenew {
                plan: None,
                by: Principal::User(out),
            },
        )
        .await
        .expect("opt out");
    assert!(off.applied);
    sys.registry
        .send(
            banned,
            SetBanned {
                banned: true,
                by: Principal::Ops,
            },
        )
        .await
        .expect("ban");

    let report = scheduler(&sys.registry).tick().await.expect("tick");
    assert_eq!(report.renewed, 0);
    // A message already on its way (read before the opt-out / the ban) does nothing.
    for user in [out, banned] {
        let late = sys
            .registry
            .send(user, AutoRenew { period_end: end })
            .await
            .expect("auto renew");
        assert_eq!(late.outcome, RenewalOutcome::Skipped);
        assert!(renewal_orders(sys.store().as_ref(), user).await.is_empty());
        assert_balance(sys.store().as_ref(), user, 1000).await;
        assert_eq!(expires_at(sys.store().as_ref(), user).await, end);
        for kind in [
            NotificationKind::AutoRenewed,
            NotificationKind::AutoRenewFailed,
        ] {
            assert_eq!(notifications(sys.store().as_ref(), user, kind).await, 0);
        }
    }
    assert_eq!(sys.store().auto_renew_plan(out).await.expect("read"), None);
}

/// A plan gone from the config (or one the balance cannot pay): one
/// reminder, and the period is not looked at again.
async fn a_plan_the_balance_cannot_pay_is_reminded_once(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let user = uid(506);
    opted_in(&sys.registry, user, 1000).await;
    // The toggle refuses a plan the balance cannot pay.
    let refused = sys
        .registry
        .send(
            user,
            SetAutoRenew {
                plan: Some(PlanId::new("gone").expect("id")),
                by: Principal::User(user),
            },
        )
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidInput { .. })),
        "{refused:?}"
    );
    // It was set when the plan still existed.
    sys.store()
        .set_auto_renew(&ctx(t0(), &[]), user, Some("gone"))
        .await
        .expect("set");
    let end = t0() + Duration::days(30);
    sys.clock.inner.set(in_window(end));
    let sched = scheduler(&sys.registry);
    assert_eq!(sched.tick().await.expect("tick").renewed, 1);
    let later = sched.tick().await.expect("tick");
    assert_eq!(later.renewed + later.failed, 0);
    let due = sys
        .store()
        .due_auto_renewals(sys.clock.inner.now(), end, 10)
        .await
        .expect("due");
    assert!(due.is_empty(), "{due:?}");
    assert_eq!(
        notifications(
            sys.store().as_ref(),
            user,
            NotificationKind::AutoRenewFailed
        )
        .await,
        1
    );
    assert!(renewal_orders(sys.store().as_ref(), user).await.is_empty());
    assert_balance(sys.store().as_ref(), user, 1000).await;
}

/// Two instances on one PostgreSQL, each with its own Registry and
/// Scheduler, both ticking at once (no leadership: they race on purpose)
/// and their actors asked again directly: one purchase per user and period.
#[actix_rt::test]
async fn two_instances_renew_each_period_once() {
    let url = subvisor_testkit::shared_pg()
        .fresh_database()
        .expect("create database");
    let first = store::connect(&StoreOptions::new(url.clone()))
        .await
        .expect("connect");
    first.migrate().await.expect("migrate");
    let second = store::connect(&StoreOptions::new(url))
        .await
        .expect("connect");
    let clock = TestClock::new(t0());
    let instance = |store: Arc<dyn Store>| {
        let node = Arc::new(SandboxNode::new()) as Arc<dyn NodeClient>;
        Registry::start(
            store,
            Provisioner::new(vec![node]),
            clock.clone(),
            plans(),
            settings(),
        )
    };
    let (a, b) = (instance(first.clone()), instance(second));
    let users: Vec<UserId> = (600..620).map(uid).collect();
    for &u in &users {
        opted_in(&a, u, 1000).await;
    }
    let end = t0() + Duration::days(30);
    clock.inner.set(in_window(end));

    for _ in 0..3 {
        let (sa, sb) = (scheduler(&a), scheduler(&b));
        let direct = users.iter().flat_map(|&u| {
            [a.clone(), b.clone()]
                .map(|r| async move { r.send(u, AutoRenew { period_end: end }).await })
        });
        let (ra, rb, direct) = tokio::join!(sa.tick(), sb.tick(), join_all(direct));
        ra.expect("tick a");
        rb.expect("tick b");
        for r in direct {
            r.expect("auto renew");
        }
    }

    for &u in &users {
        let orders = renewal_orders(first.as_ref(), u).await;
        assert_eq!(orders.len(), 1, "user {u}: {orders:?}");
        assert_eq!(orders[0].status, OrderStatus::Paid);
        assert_balance(first.as_ref(), u, 1000 - 299).await;
        let snap = first.user(u).await.expect("read").expect("user");
        let sub = snap.subscription.expect("subscription");
        assert_eq!(sub.status, SubscriptionStatus::Active);
        assert_eq!(sub.expires_at, end + Duration::days(30));
        assert_eq!(
            notifications(first.as_ref(), u, NotificationKind::AutoRenewed).await,
            1
        );
    }
}
