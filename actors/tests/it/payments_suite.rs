//! Money paths in the store and the actors, on SQLite and PostgreSQL.

use chrono::Duration;
use futures_util::future::join_all;
use subvisor_actors::Error;
use subvisor_actors::domain::{
    Currency, Money, NewOrder, OrderId, OrderStatus, PlanId, Principal, Provider, UserId,
};
use subvisor_actors::messages::{AdjustBalance, ApplyPayment, CreateOrder, RefundOrder};
use subvisor_actors::store::{Backend, Store, WebhookEvent};

use crate::helpers::{System, both_backends, ctx, fresh_store, nodes, plans, settings, t0};

fn uid(n: i64) -> UserId {
    UserId::new(n).expect("valid user id")
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::new("USD").expect("valid"))
}

async fn order(
    store: &dyn Store,
    user: UserId,
    provider: Provider,
) -> subvisor_actors::domain::Order {
    let plan = plans()
        .get(&PlanId::new("month").expect("valid"))
        .cloned()
        .expect("plan");
    let new = NewOrder {
        id: OrderId::random(),
        user,
        kind: subvisor_actors::domain::OrderKind::Plan,
        plan: plan.id.clone(),
        days: plan.days,
        provider,
        amount: plan.price_for(provider).expect("price"),
    };
    store
        .create_order(&ctx(t0(), &nodes()), &new)
        .await
        .expect("order")
}

both_backends!(
    a_wrong_amount_flags_the_order_and_grants_nothing,
    balance_purchases_debit_the_ledger_in_the_same_transaction,
    refunds_reverse_days_and_ledger,
    webhook_events_are_stored_once,
    stale_orders_expire_but_late_payments_are_honoured,
    ledger_equals_balance_after_a_random_run,
);

async fn a_wrong_amount_flags_the_order_and_grants_nothing(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let user = uid(50);
    let o = order(db.store.as_ref(), user, Provider::Cryptobot).await;
    for paid in [
        usd(298),
        Money::new(299, Currency::new("EUR").expect("valid")),
    ] {
        let result = db
            .store
            .apply_payment(&ctx(t0(), &nodes()), user, o.id, "cb-1", Some(&paid))
            .await;
        assert!(
            matches!(result, Err(Error::AmountMismatch { .. })),
            "{result:?}"
        );
    }
    let stored = db.store.order(o.id).await.expect("read").expect("exists");
    assert_eq!(stored.status, OrderStatus::Pending);
    let snap = db.store.user(user).await.expect("read").expect("exists");
    assert!(snap.subscription.is_none(), "no grant on a mismatch");
    let audit = db.store.recent_audit(user, 10).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "flag_order" && a.details["flag"] == "amount_mismatch")
    );
    // The exact amount is then accepted.
    let ok = db
        .store
        .apply_payment(&ctx(t0(), &nodes()), user, o.id, "cb-1", Some(&usd(299)))
        .await
        .expect("pay");
    assert!(ok.applied);
}

async fn balance_purchases_debit_the_ledger_in_the_same_transaction(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let user = uid(51);
    let o = order(db.store.as_ref(), user, Provider::Balance).await;
    let short = db
        .store
        .apply_payment(
            &ctx(t0(), &nodes()),
            user,
            o.id,
            &format!("balance:{}", o.id),
            None,
        )
        .await;
    assert!(
        matches!(short, Err(Error::InsufficientFunds { .. })),
        "{short:?}"
    );
    assert!(
        db.store
            .user(user)
            .await
            .expect("read")
            .expect("exists")
            .subscription
            .is_none()
    );

    db.store
        .adjust_balance(
            &ctx(t0(), &nodes()),
            user,
            subvisor_actors::domain::LedgerKind::Admin,
            &usd(500),
            "gift",
        )
        .await
        .expect("credit");
    let paid = db
        .store
        .apply_payment(
            &ctx(t0(), &nodes()),
            user,
            o.id,
            &format!("balance:{}", o.id),
            None,
        )
        .await
        .expect("pay");
    assert!(paid.applied);
    assert_eq!(paid.snapshot.balance_minor, 201);
    assert_eq!(db.store.ledger_sum(user).await.expect("sum"), 201);
    assert_eq!(
        paid.snapshot.subscription.expect("sub").expires_at,
        t0() + Duration::days(30)
    );
    let ledger = db.store.ledger(user).await.expect("ledger");
    assert_eq!(
        ledger.iter().map(|e| e.amount.minor).collect::<Vec<_>>(),
        vec![500, -299]
    );
    assert_eq!(ledger[1].order, Some(o.id));
    // Debits below zero are refused.
    let overdraw = db
        .store
        .adjust_balance(
            &ctx(t0(), &nodes()),
            user,
            subvisor_actors::domain::LedgerKind::Admin,
            &usd(-202),
            "x",
        )
        .await;
    assert!(matches!(overdraw, Err(Error::InsufficientFunds { .. })));
}

async fn refunds_reverse_days_and_ledger(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let user = uid(52);
    let first = order(db.store.as_ref(), user, Provider::Stars).await;
    let second = order(db.store.as_ref(), user, Provider::Stars).await;
    for (o, charge) in [(&first, "tg-1"), (&second, "tg-2")] {
        db.store
            .apply_payment(&ctx(t0(), &nodes()), user, o.id, charge, None)
            .await
            .expect("pay");
    }
    let refunded = db
        .store
        .refund_order(&ctx(t0() + Duration::days(1), &nodes()), user, second.id)
        .await
        .expect("refund");
    assert!(refunded.applied);
    let sub = refunded.snapshot.subscription.clone().expect("sub");
    assert_eq!(
        sub.expires_at,
        t0() + Duration::days(30),
        "60 days minus the refunded 30"
    );
    assert_eq!(
        sub.status,
        subvisor_actors::domain::SubscriptionStatus::Active
    );
    assert!(refunded.ops.is_empty(), "still active: the key stays");
    assert_eq!(
        db.store
            .order(second.id)
            .await
            .expect("read")
            .expect("exists")
            .status,
        OrderStatus::Refunded
    );
    // Twice is a no-op.
    assert!(
        !db.store
            .refund_order(&ctx(t0() + Duration::days(1), &nodes()), user, second.id)
            .await
            .expect("refund")
            .applied
    );

    // Refunding the rest ends access now and removes the key.
    let now = t0() + Duration::days(2);
    let ended = db
        .store
        .refund_order(&ctx(now, &nodes()), user, first.id)
        .await
        .expect("refund");
    let sub = ended.snapshot.subscription.clone().expect("sub");
    assert_eq!(
        sub.status,
        subvisor_actors::domain::SubscriptionStatus::Expired
    );
    assert_eq!(sub.expires_at, now);
    assert_eq!(ended.ops.len(), 1);
    assert_eq!(ended.ops[0].kind, subvisor_actors::domain::OpKind::Remove);
}

async fn webhook_events_are_stored_once(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let o = order(db.store.as_ref(), uid(53), Provider::Nowpayments).await;
    let event = |id: &str| WebhookEvent {
        provider: "nowpayments".into(),
        event_id: id.into(),
        order: Some(o.id),
        received_at: t0(),
        outcome: "received".into(),
        payload: "{}".into(),
    };
    assert!(
        db.store
            .record_webhook_event(&event("p1:finished"))
            .await
            .expect("record")
    );
    assert!(
        !db.store
            .record_webhook_event(&event("p1:finished"))
            .await
            .expect("record"),
        "duplicate"
    );
    assert!(
        db.store
            .record_webhook_event(&event("p1:waiting"))
            .await
            .expect("record")
    );
    db.store
        .set_webhook_outcome("nowpayments", "p1:finished", "applied")
        .await
        .expect("outcome");
    let events = db
        .store
        .webhook_events_for_order(o.id)
        .await
        .expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].event_id.as_str(), events[0].outcome.as_str()),
        ("p1:finished", "applied")
    );
}

async fn stale_orders_expire_but_late_payments_are_honoured(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let user = uid(54);
    let o = order(db.store.as_ref(), user, Provider::Cryptobot).await;
    let n = db
        .store
        .expire_stale_orders(
            &ctx(t0() + Duration::hours(2), &nodes()),
            t0() + Duration::hours(1),
        )
        .await
        .expect("expire");
    assert_eq!(n, 1);
    assert_eq!(
        db.store
            .order(o.id)
            .await
            .expect("read")
            .expect("exists")
            .status,
        OrderStatus::Expired
    );
    let paid = db
        .store
        .apply_payment(
            &ctx(t0() + Duration::hours(3), &nodes()),
            user,
            o.id,
            "cb-late",
            Some(&usd(299)),
        )
        .await
        .expect("pay");
    assert!(
        paid.applied,
        "the money was taken: a late payment is honoured"
    );
    let audit = db.store.recent_audit(user, 5).await.expect("audit");
    assert_eq!(audit[0].details["order_was_expired"], true);

    let o2 = order(db.store.as_ref(), user, Provider::Nowpayments).await;
    assert!(
        db.store
            .close_order(&ctx(t0(), &nodes()), o2.id, OrderStatus::Failed)
            .await
            .expect("close")
    );
    assert!(
        !db.store
            .close_order(&ctx(t0(), &nodes()), o2.id, OrderStatus::Expired)
            .await
            .expect("close")
    );
    assert!(matches!(
        db.store
            .apply_payment(&ctx(t0(), &nodes()), user, o2.id, "np-1", None)
            .await,
        Err(Error::OrderNotPayable { .. })
    ));
}

/// Random top-ups, balance purchases and refunds through the actors, many
/// concurrently: afterwards every user's balance equals their ledger sum and
/// never went negative.
async fn ledger_equals_balance_after_a_random_run(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let users: Vec<UserId> = (60..70).map(uid).collect();
    let mut seed: u64 = 0x5eed_1234;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut work = Vec::new();
    for _ in 0..120 {
        let user = users[(next() % users.len() as u64) as usize];
        let roll = next() % 3;
        let amount = (next() % 400) as i64 + 1;
        let registry = sys.registry.clone();
        work.push(async move {
            match roll {
                0 => registry
                    .send(
                        user,
                        AdjustBalance {
                            amount: usd(amount),
                            note: "top-up".into(),
                            by: Principal::Ops,
                        },
                    )
                    .await
                    .map(|_| ()),
                1 => {
                    let o = registry
                        .send(
                            user,
                            CreateOrder {
                                plan: PlanId::new("month").expect("valid"),
                                provider: Provider::Balance,
                                by: Principal::User(user),
                            },
                        )
                        .await?;
                    registry
                        .send(
                            user,
                            ApplyPayment {
                                order: o.id,
                                provider_payment_id: format!("balance:{}", o.id),
                                paid: None,
                            },
                        )
                        .await
                        .map(|_| ())
                        .or_else(|e| {
                            if matches!(e, Error::InsufficientFunds { .. }) {
                                Ok(())
                            } else {
                                Err(e)
                            }
                        })
                }
                _ => registry
                    .send(
                        user,
                        AdjustBalance {
                            amount: usd(-amount),
                            note: "debit".into(),
                            by: Principal::Ops,
                        },
                    )
                    .await
                    .map(|_| ())
                    .or_else(|e| {
                        if matches!(e, Error::InsufficientFunds { .. }) {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    }),
            }
        });
    }
    for result in join_all(work).await {
        result.expect("money operation");
    }
    // Refund every paid balance order of the first user.
    let store = sys.store().clone();
    for &user in &users {
        let snap = store.user(user).await.expect("read");
        let Some(snap) = snap else { continue };
        let ledger = store.ledger(user).await.expect("ledger");
        let sum: i64 = ledger.iter().map(|e| e.amount.minor).sum();
        assert_eq!(
            snap.balance_minor, sum,
            "user {user}: balance equals the ledger"
        );
        assert_eq!(store.ledger_sum(user).await.expect("sum"), sum);
        let mut running = 0;
        for e in &ledger {
            running += e.amount.minor;
            assert!(running >= 0, "user {user}: balance went negative");
        }
        for e in ledger
            .iter()
            .filter(|e| e.amount.minor < 0 && e.order.is_some())
        {
            let order = e.order.expect("order");
            sys.registry
                .send(
                    user,
                    RefundOrder {
                        order,
                        by: Principal::Ops,
                    },
                )
                .await
                .expect("refund");
        }
        let after = store.user(user).await.expect("read").expect("exists");
        assert_eq!(
            after.balance_minor,
            store.ledger_sum(user).await.expect("sum")
        );
    }
}
