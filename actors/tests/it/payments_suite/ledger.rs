//! A randomized run keeping every balance equal to its ledger.

use super::*;

both_backends!(ledger_equals_balance_after_a_random_run);

/// Random top-ups, balance purchases and refunds through the actors, many
/// concurrently: afterwards every user's balance equals their ledger sum and
/// never went negative, and each refund credited exactly what was paid.
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
            let tolerate_short = |e: Error| {
                if matches!(e, Error::InsufficientFunds { .. }) {
                    Ok(())
                } else {
                    Err(e)
                }
            };
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
                                idempotency_key: None,
                            },
                        )
                        .await?
                        .order;
                    registry
                        .send(
                            user,
                            ApplyPayment {
                                order: o.id,
                                payment: from_balance(o.id),
                            },
                        )
                        .await
                        .map(|_| ())
                        .or_else(tolerate_short)
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
                    .or_else(tolerate_short),
            }
        });
    }
    for result in join_all(work).await {
        result.expect("money operation");
    }
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
        // Refund every paid balance purchase: each gives back exactly its price.
        for e in ledger
            .iter()
            .filter(|e| e.amount.minor < 0 && e.order.is_some())
        {
            let order = e.order.expect("order");
            let before = store.ledger_sum(user).await.expect("sum");
            let refunded = sys
                .registry
                .send(
                    user,
                    RefundOrder {
                        order,
                        by: Principal::Ops,
                    },
                )
                .await
                .expect("refund");
            assert!(refunded.change.applied);
            assert_eq!(
                store.ledger_sum(user).await.expect("sum"),
                before - e.amount.minor,
                "user {user}: the refund credits exactly the price"
            );
        }
        let after = store.user(user).await.expect("read").expect("exists");
        assert_eq!(
            after.balance_minor,
            store.ledger_sum(user).await.expect("sum")
        );
    }
}
