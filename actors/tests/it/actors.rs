//! UserActor and Registry under concurrency and faults.

use std::sync::atomic::Ordering;

use chrono::Duration;
use futures_util::future::join_all;
use subvisor_actors::Error;
use subvisor_actors::RegistrySettings;
use subvisor_actors::clock::Clock;
use subvisor_actors::domain::{KeyState, PlanId, Principal, Provider, SubscriptionStatus, UserId};
use subvisor_actors::messages::{ApplyPayment, CreateOrder, Expire, GrantDays, View};
use subvisor_actors::scheduler::Scheduler;
use subvisor_actors::store::Backend;

use crate::helpers::{System, both_backends, settings, t0, uid};

fn grant(days: u32) -> GrantDays {
    GrantDays {
        days,
        by: Principal::Ops,
    }
}

both_backends!(
    hundred_concurrent_grants_give_exactly_hundred_days,
    hundred_concurrent_deliveries_of_one_payment_extend_once,
    expiry_racing_renewals_never_takes_access_from_a_paid_user,
    a_panicking_handler_leaves_other_users_alone,
    a_full_mailbox_rejects_without_losing_accepted_work,
);

async fn hundred_concurrent_grants_give_exactly_hundred_days(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let user = uid(1);
    let sends = (0..100).map(|_| sys.registry.send(user, grant(1)));
    let results = join_all(sends).await;
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    let snap = sys.store().user(user).await.expect("read").expect("exists");
    let sub = snap.subscription.expect("subscription");
    assert_eq!(sub.expires_at, t0() + Duration::days(100));
    assert_eq!(sub.version, 99, "one insert and 99 guarded updates");
    assert_eq!(snap.keys.len(), 1, "one key, however many grants");
}

async fn hundred_concurrent_deliveries_of_one_payment_extend_once(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let user = uid(2);
    let order = sys
        .registry
        .send(
            user,
            CreateOrder {
                plan: PlanId::new("month").expect("valid"),
                provider: Provider::Stars,
                by: Principal::User(user),
                idempotency_key: None,
            },
        )
        .await
        .expect("order")
        .order;
    let sends = (0..100).map(|_| {
        sys.registry.send(
            user,
            ApplyPayment {
                order: order.id,
                payment: crate::helpers::paid(Provider::Stars, "tg-charge-1", order.amount.clone()),
            },
        )
    });
    let results = join_all(sends).await;
    let applied = results
        .iter()
        .filter(|r| matches!(r, Ok(settled) if settled.change.applied))
        .count();
    assert_eq!(applied, 1);
    assert!(results.iter().all(Result::is_ok));
    let snap = sys.store().user(user).await.expect("read").expect("exists");
    assert_eq!(
        snap.subscription.expect("subscription").expires_at,
        t0() + Duration::days(30)
    );
    let audit = sys.store().recent_audit(user, 100).await.expect("audit");
    assert_eq!(
        audit.iter().filter(|a| a.action == "apply_payment").count(),
        1
    );
}

/// Expire messages (from the scheduler and directly) race renewals of many
/// users. Whatever the interleaving, nobody whose expiry lies in the future
/// ends `expired` or without their key on the node.
async fn expiry_racing_renewals_never_takes_access_from_a_paid_user(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let users: Vec<UserId> = (100..160).map(uid).collect();
    for &u in &users {
        sys.registry.send(u, grant(1)).await.expect("grant");
    }
    sys.drain_outbox().await;
    assert_eq!(sys.sandbox.user_count(), users.len());

    // Everyone is exactly due now.
    sys.clock.inner.advance(Duration::days(1));
    let due = t0() + Duration::days(1);
    let scheduler = Scheduler::new(sys.registry.clone(), std::time::Duration::from_secs(60), 7);
    let mut work = Vec::new();
    for (i, &u) in users.iter().enumerate() {
        let registry = sys.registry.clone();
        work.push(tokio::spawn(async move {
            let mut results = Vec::new();
            for round in 0..3 {
                // Even users renew, in the middle of their expiries.
                if i % 2 == 0 && round == 1 {
                    results.push(registry.send(u, grant(5)).await.map(|_| ()));
                }
                results.push(registry.send(u, Expire { due }).await.map(|_| ()));
                tokio::task::yield_now().await;
            }
            results
        }));
    }
    let (ticked, joined) = tokio::join!(scheduler.tick(), join_all(work));
    ticked.expect("scheduler tick");
    for results in joined {
        assert!(results.expect("task").iter().all(Result::is_ok));
    }
    sys.drain_outbox().await;

    let now = sys.clock.inner.now();
    for (i, &u) in users.iter().enumerate() {
        let snap = sys.store().user(u).await.expect("read").expect("exists");
        let sub = snap.subscription.clone().expect("subscription");
        let key = snap
            .keys
            .iter()
            .find(|k| k.state == KeyState::Active)
            .expect("active key");
        if i % 2 == 0 {
            assert_eq!(sub.expires_at, due + Duration::days(5), "user {u}");
            assert!(sub.expires_at > now);
            assert_eq!(
                sub.status,
                SubscriptionStatus::Active,
                "paid user {u} expired"
            );
            assert_eq!(
                sys.sandbox.user(&key.email),
                Some(key.uuid),
                "paid user {u} lost the key"
            );
        } else {
            assert_eq!(sub.status, SubscriptionStatus::Expired, "user {u}");
            assert_eq!(
                sys.sandbox.user(&key.email),
                None,
                "expired user {u} kept the key"
            );
        }
    }
    assert_eq!(sys.sandbox.user_count(), users.len() / 2);
}

async fn a_panicking_handler_leaves_other_users_alone(backend: Backend) {
    let sys = System::start(
        backend,
        RegistrySettings {
            max_restarts: 2,
            ..settings()
        },
    )
    .await;
    let (victim, bystander) = (uid(7), uid(8));
    sys.registry.send(victim, grant(10)).await.expect("grant");
    sys.registry
        .send(bystander, grant(10))
        .await
        .expect("grant");

    sys.clock.panic_next.store(true, Ordering::SeqCst);
    let crashed = sys.registry.send(victim, grant(1)).await;
    assert!(
        matches!(crashed, Err(Error::ActorDied(u)) if u == victim),
        "{crashed:?}"
    );

    // Others are unaffected, and the victim is served from the stored state.
    sys.registry
        .send(bystander, grant(1))
        .await
        .expect("bystander still served");
    let view = sys.registry.send(victim, View).await.expect("re-activated");
    let sub = view
        .expect("known user")
        .subscription
        .expect("subscription");
    assert_eq!(
        sub.expires_at,
        t0() + Duration::days(10),
        "the crashed grant committed nothing"
    );
    sys.registry
        .send(victim, grant(1))
        .await
        .expect("works again");
    assert_eq!(sys.registry.stats().restarts, 1);

    // Crashing again and again hits the restart limit instead of looping.
    for _ in 0..2 {
        sys.clock.panic_next.store(true, Ordering::SeqCst);
        assert!(sys.registry.send(victim, grant(1)).await.is_err());
    }
    assert!(matches!(
        sys.registry.send(victim, View).await,
        Err(Error::RestartLimit(u)) if u == victim
    ));
    sys.registry
        .send(bystander, View)
        .await
        .expect("bystander still served");
}

async fn a_full_mailbox_rejects_without_losing_accepted_work(backend: Backend) {
    let sys = System::start(
        backend,
        RegistrySettings {
            mailbox_capacity: 2,
            ..settings()
        },
    )
    .await;
    let user = uid(9);
    let results = join_all((0..50).map(|_| sys.registry.send(user, grant(1)))).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(Error::Busy(_))))
        .count();
    assert_eq!(ok + busy, 50, "only Busy rejections: {results:?}");
    assert!(
        busy > 0,
        "capacity 2 must reject some of 50 concurrent sends"
    );
    let snap = sys.store().user(user).await.expect("read").expect("exists");
    assert_eq!(
        snap.subscription.expect("sub").expires_at,
        t0() + Duration::days(ok as i64),
        "every accepted grant applied exactly once"
    );
}
