//! A randomized run over everything the market sells — plans, a
//! traffic-limited plan, traffic packs, promo codes, gifts, auto-renewals,
//! top-ups and debits, then refunds of every paid order — keeping every
//! balance equal to its ledger and to the test's own arithmetic.

use std::sync::Arc;
use subvisor_actors::domain::{
    NewPromo, Plan, Plans, PromoKind, RenewalOutcome, TrafficAllowance, TrafficPack, TrafficPacks,
    TrafficReset,
};
use subvisor_actors::messages::{ActivateGift, AutoRenew, CreatePlanOrder, SetAutoRenew};

use subvisor_actors::{Registry, RegistrySettings};

use super::*;

both_backends!(balance_equals_ledger_across_plans_packs_promos_renewals_gifts_and_refunds);

const GB: u64 = 1_000_000_000;

fn id(s: &str) -> PlanId {
    PlanId::new(s).expect("valid")
}

fn market() -> (Plans, TrafficPacks) {
    let plan = |name: &str, minor: i64, traffic: Option<TrafficAllowance>| Plan {
        id: id(name),
        title: name.into(),
        days: 30,
        stars: Some(100),
        fiat: Some(usd(minor)),
        traffic,
    };
    let plans = Plans::new(vec![
        plan("month", 299, None),
        plan(
            "lite",
            199,
            Some(TrafficAllowance {
                bytes: 10 * GB,
                reset: TrafficReset::None,
            }),
        ),
    ])
    .expect("plans");
    let packs = TrafficPacks::new(vec![TrafficPack {
        id: id("gb5"),
        title: "5 GB".into(),
        bytes: 5 * GB,
        stars: Some(50),
        fiat: Some(usd(99)),
    }])
    .expect("packs");
    (plans, packs)
}

/// What one operation did: the balance change by this test's own numbers
/// (the amount of the order it paid), and the gift order it paid, if any.
struct Done {
    user: UserId,
    change: i64,
    gift: Option<OrderId>,
    /// An auto-renewal bought the plan.
    renewed: bool,
}

fn short(e: &Error) -> bool {
    matches!(e, Error::InsufficientFunds { .. })
}

/// Orders `plan` from the balance (maybe with `promo`, maybe as a gift) and
/// pays it: the amount paid, or 0 when the balance was short.
async fn buy(
    registry: &Registry,
    user: UserId,
    plan: &str,
    promo: Option<&str>,
    gift: bool,
) -> Result<(i64, Option<OrderId>), Error> {
    let order = registry
        .send(
            user,
            CreatePlanOrder {
                plan: id(plan),
                provider: Provider::Balance,
                by: Principal::User(user),
                idempotency_key: None,
                promo: promo.map(str::to_owned),
                gift,
            },
        )
        .await?
        .order;
    if promo.is_some() {
        let list = if plan == "lite" { 199 } else { 299 };
        assert!(order.amount.minor < list, "the code discounted the order");
    }
    pay_from_balance(registry, user, &order, gift).await
}

async fn pay_from_balance(
    registry: &Registry,
    user: UserId,
    order: &Order,
    gift: bool,
) -> Result<(i64, Option<OrderId>), Error> {
    let paid = registry
        .send(
            user,
            ApplyPayment {
                order: order.id,
                payment: from_balance(order.id),
            },
        )
        .await;
    match paid {
        Ok(settled) => {
            assert!(
                matches!(settled.settlement, Settlement::Apply { .. }),
                "{:?}",
                settled.settlement
            );
            Ok((-order.amount.minor, gift.then_some(order.id)))
        }
        Err(e) if short(&e) => Ok((0, None)),
        Err(e) => Err(e),
    }
}

/// Half the users buy the traffic-limited plan (and packs on top), the
/// others the unlimited one (a pack is refused to them).
fn plan_of(user: UserId) -> (&'static str, i64) {
    if user.get() % 2 == 0 {
        ("lite", 199)
    } else {
        ("month", 299)
    }
}

async fn operation(
    registry: Registry,
    store: Arc<dyn Store>,
    user: UserId,
    roll: u64,
    amount: i64,
) -> Result<Done, Error> {
    let (plan, price) = plan_of(user);
    let done = |change: i64, gift: Option<OrderId>| Done {
        user,
        change,
        gift,
        renewed: false,
    };
    Ok(match roll {
        0 | 1 => {
            registry
                .send(
                    user,
                    AdjustBalance {
                        amount: usd(amount * 3),
                        note: "top-up".into(),
                        by: Principal::Ops,
                    },
                )
                .await?;
            done(amount * 3, None)
        }
        2 | 4 => {
            let (c, g) = buy(&registry, user, plan, None, false).await?;
            done(c, g)
        }
        3 => match buy(&registry, user, plan, Some("save20"), false).await {
            Ok((c, g)) => done(c, g),
            // Used up, or this user's uses taken: nothing moves.
            Err(Error::PromoRefused(_)) => done(0, None),
            Err(e) => return Err(e),
        },
        5 => {
            // A pack: refused unless the subscription has an allowance now.
            let order = registry
                .send(
                    user,
                    CreateOrder {
                        plan: id("gb5"),
                        provider: Provider::Balance,
                        by: Principal::User(user),
                        idempotency_key: None,
                    },
                )
                .await;
            match order {
                Ok(opened) => {
                    let (c, g) = pay_from_balance(&registry, user, &opened.order, false).await?;
                    done(c, g)
                }
                Err(Error::InvalidInput { .. }) => done(0, None),
                Err(e) => return Err(e),
            }
        }
        6 => {
            let (c, g) = buy(&registry, user, "month", None, true).await?;
            done(c, g)
        }
        7 => {
            // Auto-renewal of the period as it stands now (a period another
            // operation moved meanwhile is skipped: nothing moves then).
            let Some(end) = store
                .user(user)
                .await?
                .and_then(|s| s.subscription)
                .filter(|s| s.status == subvisor_actors::domain::SubscriptionStatus::Active)
                .map(|s| s.expires_at)
            else {
                return Ok(done(0, None));
            };
            let on = registry
                .send(
                    user,
                    SetAutoRenew {
                        plan: Some(id(plan)),
                        by: Principal::User(user),
                    },
                )
                .await;
            match on {
                Ok(_) => {}
                // The subscription ended meanwhile.
                Err(Error::InvalidInput { .. } | Error::NoSubscription(_)) => {
                    return Ok(done(0, None));
                }
                Err(e) => return Err(e),
            }
            let renewal = registry.send(user, AutoRenew { period_end: end }).await?;
            match renewal.outcome {
                RenewalOutcome::Renewed => Done {
                    renewed: true,
                    ..done(-price, None)
                },
                _ => done(0, None),
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
            Ok(_) => done(-amount, None),
            Err(e) if short(&e) => done(0, None),
            Err(e) => return Err(e),
        },
    })
}

/// Balance = ledger = `want`, and the ledger never went below zero.
async fn assert_money(store: &dyn Store, user: UserId, want: i64, when: &str) {
    let balance = store
        .user(user)
        .await
        .expect("read")
        .map_or(0, |s| s.balance_minor);
    assert_eq!(
        balance, want,
        "user {user} {when}: the test's own arithmetic"
    );
    let ledger = store.ledger(user).await.expect("ledger");
    let sum: i64 = ledger.iter().map(|e| e.amount.minor).sum();
    assert_eq!(
        balance, sum,
        "user {user} {when}: balance equals the ledger"
    );
    assert_eq!(store.ledger_sum(user).await.expect("sum"), sum);
    let mut running = 0;
    for e in &ledger {
        running += e.amount.minor;
        assert!(running >= 0, "user {user} {when}: balance went negative");
    }
}

async fn balance_equals_ledger_across_plans_packs_promos_renewals_gifts_and_refunds(
    backend: Backend,
) {
    let (plans, packs) = market();
    let sys = System::start_with_plans(
        backend,
        RegistrySettings {
            traffic_packs: packs,
            ..settings()
        },
        plans,
    )
    .await;
    let store = sys.store().clone();
    store
        .create_promo(
            &ctx(t0(), &[]),
            &NewPromo {
                code: "SAVE20".into(),
                kind: PromoKind::Percent,
                value: 20,
                currency: None,
                max_uses: Some(15),
                per_user: 3,
                valid_until: None,
                first_purchase_only: false,
                plans: vec![],
            },
        )
        .await
        .expect("promo");

    let users: Vec<UserId> = (80..88).map(uid).collect();
    // Everyone starts with money and their plan (so packs have an allowance
    // to add to).
    let mut expected: std::collections::HashMap<UserId, i64> = Default::default();
    for &user in &users {
        let done = operation(sys.registry.clone(), store.clone(), user, 0, 300)
            .await
            .expect("top-up");
        let (paid, _) = buy(&sys.registry, user, plan_of(user).0, None, false)
            .await
            .expect("first plan");
        assert!(paid < 0, "the first plan was paid");
        expected.insert(user, done.change + paid);
    }
    let mut seed: u64 = 0x0dd_ba11;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut work = Vec::new();
    for _ in 0..160 {
        let user = users[(next() % users.len() as u64) as usize];
        let roll = next() % 9;
        let amount = (next() % 300) as i64 + 1;
        work.push(operation(
            sys.registry.clone(),
            store.clone(),
            user,
            roll,
            amount,
        ));
    }
    let mut gifts = Vec::new();
    let mut renewals = 0;
    for result in join_all(work).await {
        let done = result.expect("market operation");
        renewals += usize::from(done.renewed);
        *expected.entry(done.user).or_default() += done.change;
        gifts.extend(done.gift.map(|g| (done.user, g)));
    }
    // Once the run is quiet, each user's period is renewed from the balance
    // (a second message for the same period debits nothing).
    for &user in &users {
        let end = store
            .user(user)
            .await
            .expect("read")
            .and_then(|s| s.subscription)
            .map(|s| s.expires_at)
            .expect("a subscription");
        let (plan, price) = plan_of(user);
        sys.registry
            .send(
                user,
                SetAutoRenew {
                    plan: Some(id(plan)),
                    by: Principal::User(user),
                },
            )
            .await
            .expect("opt in");
        let balance = store
            .user(user)
            .await
            .expect("read")
            .expect("user")
            .balance_minor;
        for attempt in 0..2 {
            let renewal = sys
                .registry
                .send(user, AutoRenew { period_end: end })
                .await
                .expect("renew");
            if balance < price {
                continue;
            }
            if attempt == 0 {
                assert_eq!(renewal.outcome, RenewalOutcome::Renewed, "user {user}");
                renewals += 1;
                *expected.entry(user).or_default() -= price;
            } else {
                // The period moved on: a repeat for the old one does nothing.
                assert!(
                    matches!(
                        renewal.outcome,
                        RenewalOutcome::AlreadyRenewed | RenewalOutcome::Skipped
                    ),
                    "user {user}: {:?}",
                    renewal.outcome
                );
            }
        }
    }
    for &user in &users {
        let want = expected.get(&user).copied().unwrap_or(0);
        assert_money(store.as_ref(), user, want, "after the run").await;
    }

    // Every other gift is activated by someone else before the refunds.
    let mut redeemed = std::collections::HashSet::new();
    for (n, (buyer, order)) in gifts.iter().enumerate() {
        if n % 2 == 0 {
            let gift = store
                .gift_of_order(*order)
                .await
                .expect("read")
                .expect("a paid gift order yields a gift");
            let receiver = users[(n + 1) % users.len()];
            let receiver = if receiver == *buyer {
                uid(99)
            } else {
                receiver
            };
            sys.registry
                .send(receiver, ActivateGift { code: gift.code })
                .await
                .expect("activate");
            redeemed.insert(*order);
        }
    }

    // Refund every paid order twice: the first gives back exactly what was
    // paid (discounts included), the second nothing.
    let mut kinds = std::collections::HashSet::new();
    for &user in &users {
        let mut want = expected.get(&user).copied().unwrap_or(0);
        let orders = store.orders_of(user, 1000).await.expect("orders");
        for order in orders.iter().filter(|o| o.status == OrderStatus::Paid) {
            kinds.insert((order.kind, order.amount.minor));
            for attempt in 0..2 {
                let refunded = sys
                    .registry
                    .send(
                        user,
                        RefundOrder {
                            order: order.id,
                            by: Principal::Ops,
                        },
                    )
                    .await;
                let r = refunded.unwrap_or_else(|e| panic!("refund of {}: {e}", order.id));
                assert_eq!(r.change.applied, attempt == 0, "order {}", order.id);
                if r.change.applied {
                    want += order.amount.minor;
                }
            }
        }
        assert_money(store.as_ref(), user, want, "after the refunds").await;
        // A gift refunded after its activation is flagged for ops (its
        // receiver keeps the days); voluntary refunds of those are refused
        // earlier, by the intake, before any money moves.
        for order in store.orders_of(user, 1000).await.expect("orders") {
            assert_eq!(
                order.flag.as_deref() == Some("gift_refunded_after_activation"),
                redeemed.contains(&order.id),
                "order {}",
                order.id
            );
        }
    }
    // The run bought each kind of thing, a discounted plan among them.
    for kind in [OrderKind::Plan, OrderKind::Pack, OrderKind::Gift] {
        assert!(
            kinds.iter().any(|(k, _)| *k == kind),
            "the run paid a {kind:?} order: {kinds:?}"
        );
    }
    assert!(
        kinds.contains(&(OrderKind::Plan, 240)),
        "a plan paid at the promo price: {kinds:?}"
    );
    assert!(renewals > 0, "auto-renewals bought plans in the run");
}
