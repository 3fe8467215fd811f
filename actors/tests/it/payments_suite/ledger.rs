//! A randomized run keeping every balance equal to its ledger.

use super::*;

both_backends!(ledger_equals_balance_after_a_random_run);

/// The month plan's price in `plans()`: 2.99 USD.
const PRICE: i64 = 299;

/// Random top-ups, balance purchases and refunds through the actors, many
/// concurrently: afterwards every user's balance is what the test's own
/// arithmetic says (each operation's amount, as far as it was accepted), equals
/// their ledger sum and never went negative; each refund credits exactly the
/// plan's price, once.
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
        // Each operation answers what it did to the balance, from this test's
        // own numbers: (user, change, the order a purchase paid).
        work.push(async move {
            let short = |e: &Error| matches!(e, Error::InsufficientFunds { .. });
            let (change, order) = match roll {
                0 => {
                    registry
                        .send(
                            user,
                            AdjustBalance {
                                amount: usd(amount),
                                note: "top-up".into(),
                                by: Principal::Ops,
                            },
                        )
                        .await?;
                    (amount, None)
                }
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
                    match registry
                        .send(
                            user,
                            ApplyPayment {
                                order: o.id,
                                payment: from_balance(o.id),
                            },
                        )
                        .await
                    {
                        Ok(settled) => {
                            assert!(
                                matches!(settled.settlement, Settlement::Apply { .. }),
                                "{:?}",
                                settled.settlement
                            );
                            (-PRICE, Some(o.id))
                        }
                        Err(e) if short(&e) => (0, None),
                        Err(e) => return Err(e),
                    }
                }
                _ => match registry
                    .send(
                        user,
                        AdjustBalance {
                            amount: usd(-amount),
                            note: "debit".into(),
                            by: Principal::Ops,
                        },
                    )
                    .await
                {
                    Ok(_) => (-amount, None),
                    Err(e) if short(&e) => (0, None),
                    Err(e) => return Err(e),
                },
            };
            Ok::<_, Error>((user, change, order))
        });
    }
    let mut expected: std::collections::HashMap<UserId, i64> = Default::default();
    let mut bought: std::collections::HashMap<UserId, Vec<OrderId>> = Default::default();
    for result in join_all(work).await {
        let (user, change, order) = result.expect("money operation");
        *expected.entry(user).or_default() += change;
        bought.entry(user).or_default().extend(order);
    }
    assert!(
        bought.values().map(Vec::len).sum::<usize>() > 0,
        "the run paid some purchases from the balance"
    );
    let store = sys.store().clone();
    for &user in &users {
        let want = expected.get(&user).copied().unwrap_or(0);
        let snap = store.user(user).await.expect("read");
        let Some(snap) = snap else {
            assert_eq!(want, 0, "user {user}: money moved but no user stored");
            continue;
        };
        assert_eq!(
            snap.balance_minor, want,
            "user {user}: the balance is the sum of what the operations moved"
        );
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
        // Refund every paid balance purchase: each gives back exactly the
        // price, as one refund entry naming its order, and only once.
        let orders = bought.get(&user).cloned().unwrap_or_default();
        for (n, &order) in orders.iter().enumerate() {
            for attempt in 0..2 {
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
                assert_eq!(
                    refunded.change.applied,
                    attempt == 0,
                    "user {user}: only the first refund of order {order} applies"
                );
                assert_eq!(
                    refunded.change.snapshot.balance_minor,
                    want + PRICE * (n as i64 + 1),
                    "user {user}: refund {attempt} of order {order}"
                );
            }
            let entries: Vec<(LedgerKind, i64)> = store
                .ledger(user)
                .await
                .expect("ledger")
                .iter()
                .filter(|e| e.order == Some(order))
                .map(|e| (e.kind, e.amount.minor))
                .collect();
            assert_eq!(
                entries,
                vec![(LedgerKind::Purchase, -PRICE), (LedgerKind::Refund, PRICE)],
                "user {user}: order {order}"
            );
        }
        let after = store.user(user).await.expect("read").expect("exists");
        assert_eq!(after.balance_minor, want + PRICE * orders.len() as i64);
        assert_eq!(
            after.balance_minor,
            store.ledger_sum(user).await.expect("sum")
        );
    }
}
