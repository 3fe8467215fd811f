//! Promo codes and gifts through the actors, on SQLite and PostgreSQL: the
//! total and per-user limits hold under concurrency, a use is counted once
//! when its order is paid, refusals are named, gifts activate once.

use chrono::Duration;
use futures_util::future::join_all;
use subvisor_actors::Error;
use subvisor_actors::domain::{
    GiftRefusal, NewPromo, NotificationKind, Order, OrderKind, OrderStatus, PlanId, Principal,
    PromoKind, PromoRefusal, Provider, Settlement, SubscriptionStatus, UserId,
};
use subvisor_actors::messages::{
    ActivateGift, AdjustBalance, ApplyPayment, CreatePlanOrder, RedeemPromoDays, RefundOrder,
};
use subvisor_actors::store::{Backend, Store};

use crate::helpers::{System, both_backends, from_balance, paid, settings, t0, uid, usd};

both_backends!(
    ten_use_code_gives_exactly_ten_paid_discounts_among_100_buyers,
    one_per_user_code_holds_under_twenty_concurrent_taps,
    refusals_are_named,
    a_late_payment_after_release_is_applied_at_the_price_paid,
    free_days_codes_are_redeemed_once,
    a_gift_activates_once_and_a_refund_after_is_recorded_and_flagged,
);

fn month() -> PlanId {
    PlanId::new("month").expect("valid")
}

fn percent(code: &str, value: i64, max_uses: Option<u32>, per_user: u32) -> NewPromo {
    NewPromo {
        code: code.into(),
        kind: PromoKind::Percent,
        value,
        currency: None,
        max_uses,
        per_user,
        valid_until: None,
        first_purchase_only: false,
        plans: vec![],
    }
}

fn buy(
    promo: Option<&str>,
    provider: Provider,
    key: Option<String>,
    gift: bool,
) -> CreatePlanOrder {
    CreatePlanOrder {
        plan: month(),
        provider,
        by: Principal::Ops,
        idempotency_key: key,
        promo: promo.map(str::to_owned),
        gift,
    }
}

async fn pay(sys: &System, order: &Order, charge: &str) -> Settlement {
    let payment = if order.provider == Provider::Balance {
        from_balance(order.id)
    } else {
        paid(order.provider, charge, order.amount.clone())
    };
    sys.registry
        .send(
            order.user,
            ApplyPayment {
                order: order.id,
                payment,
            },
        )
        .await
        .expect("pay")
        .settlement
}

async fn assert_ledger(store: &dyn Store, users: impl IntoIterator<Item = UserId>) {
    for u in users {
        let balance = store
            .user(u)
            .await
            .expect("read")
            .map_or(0, |s| s.balance_minor);
        assert_eq!(store.ledger_sum(u).await.expect("sum"), balance, "user {u}");
    }
}

/// 100 buyers at once, a 10-use code: 10 orders get the price (the rest are
/// refused when ordering), all 10 are paid through the settlement, the code
/// counts 10 uses and holds no reservation.
async fn ten_use_code_gives_exactly_ten_paid_discounts_among_100_buyers(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    sys.registry
        .create_promo(Principal::Ops, &percent("Spring", 20, Some(10), 1))
        .await
        .expect("promo");
    let users: Vec<UserId> = (1000..1100).map(uid).collect();
    let results = join_all(users.iter().map(|u| {
        let registry = sys.registry.clone();
        let u = *u;
        async move {
            registry
                .send(u, buy(Some("SPRING"), Provider::Nowpayments, None, false))
                .await
        }
    }))
    .await;
    let mut orders = Vec::new();
    let mut refused = 0;
    for r in results {
        match r {
            Ok(opened) => orders.push(opened.order),
            Err(Error::PromoRefused(PromoRefusal::UsedUp)) => refused += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(orders.len(), 10, "exactly ten orders hold a use");
    assert_eq!(refused, 90);
    for (i, o) in orders.iter().enumerate() {
        assert_eq!(
            o.amount,
            usd(240),
            "20 % off 2.99, rounded in the buyer's favour"
        );
        let settlement = pay(&sys, o, &format!("np-{i}")).await;
        assert!(
            matches!(settlement, Settlement::Apply { .. }),
            "{settlement:?}"
        );
    }
    let promo = sys
        .store()
        .promo("spring")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!((promo.used, promo.reserved), (10, 0));
    // Paying again (a redelivery) counts nothing more.
    let again = pay(&sys, &orders[0], "np-0").await;
    assert_eq!(again, Settlement::Duplicate);
    let promo = sys
        .store()
        .promo("spring")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(promo.used, 10);
    let mut paid_discounted = 0;
    for u in &users {
        for o in sys.store().orders_of(*u, 10).await.expect("orders") {
            if o.status == OrderStatus::Paid && o.amount == usd(240) {
                paid_discounted += 1;
            }
        }
    }
    assert_eq!(paid_discounted, 10);
    assert_ledger(sys.store().as_ref(), users).await;
}

/// One user taps Pay-from-balance with a once-per-user code 20 times at once:
/// one discounted order, one payment; the others are refused.
async fn one_per_user_code_holds_under_twenty_concurrent_taps(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let user = uid(2000);
    sys.registry
        .send(
            user,
            AdjustBalance {
                amount: usd(10_000),
                note: "test".into(),
                by: Principal::Ops,
            },
        )
        .await
        .expect("credit");
    sys.registry
        .create_promo(Principal::Ops, &percent("ONCE", 50, None, 1))
        .await
        .expect("promo");
    let results = join_all((0..20).map(|i| {
        let registry = sys.registry.clone();
        async move {
            let opened = registry
                .send(
                    user,
                    buy(
                        Some("once"),
                        Provider::Balance,
                        Some(format!("tap-{i}")),
                        false,
                    ),
                )
                .await?;
            let settled = registry
                .send(
                    user,
                    ApplyPayment {
                        order: opened.order.id,
                        payment: from_balance(opened.order.id),
                    },
                )
                .await?;
            Ok::<_, Error>((opened.order, settled.settlement))
        }
    }))
    .await;
    let mut ok = Vec::new();
    for r in results {
        match r {
            Ok(pair) => ok.push(pair),
            Err(Error::PromoRefused(PromoRefusal::AlreadyUsed)) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(ok.len(), 1, "one discounted order");
    assert_eq!(ok[0].0.amount, usd(150));
    assert!(matches!(ok[0].1, Settlement::Apply { .. }));
    let snapshot = sys.store().user(user).await.expect("read").expect("user");
    assert_eq!(
        snapshot.balance_minor,
        10_000 - 150,
        "paid the discounted price once"
    );
    let promo = sys
        .store()
        .promo("once")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!((promo.used, promo.reserved), (1, 0));
    // A refund gives back what was paid, not the list price.
    sys.registry
        .send(
            user,
            RefundOrder {
                order: ok[0].0.id,
                by: Principal::Ops,
            },
        )
        .await
        .expect("refund");
    let snapshot = sys.store().user(user).await.expect("read").expect("user");
    assert_eq!(snapshot.balance_minor, 10_000);
    assert_ledger(sys.store().as_ref(), [user]).await;
}

/// Unknown, expired, disabled, wrong-plan, first-purchase-only, wrong-kind
/// codes are refused by name, and nothing is reserved; 100 % and duplicate
/// codes cannot be made; making and disabling are audited.
async fn refusals_are_named(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let r = &sys.registry;
    let user = uid(3000);
    let order = |code: &'static str| {
        let r = r.clone();
        async move {
            r.send(user, buy(Some(code), Provider::Nowpayments, None, false))
                .await
                .map(|o| o.order)
        }
    };
    let refused = |res: Result<Order, Error>| match res {
        Err(Error::PromoRefused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(refused(order("nothing").await), PromoRefusal::Unknown);

    let expired = NewPromo {
        valid_until: Some(t0() - Duration::days(1)),
        ..percent("OLD", 10, None, 1)
    };
    r.create_promo(Principal::Ops, &expired)
        .await
        .expect("promo");
    assert_eq!(refused(order("old").await), PromoRefusal::Expired);

    r.create_promo(Principal::Ops, &percent("GONE", 10, None, 1))
        .await
        .expect("promo");
    assert!(
        r.disable_promo(Principal::Ops, "gone")
            .await
            .expect("disable")
    );
    assert!(
        !r.disable_promo(Principal::Ops, "GONE")
            .await
            .expect("again")
    );
    assert_eq!(refused(order("gone").await), PromoRefusal::Disabled);

    let other_plan = NewPromo {
        plans: vec![PlanId::new("year").expect("valid")],
        ..percent("YEARLY", 10, None, 1)
    };
    r.create_promo(Principal::Ops, &other_plan)
        .await
        .expect("promo");
    assert_eq!(refused(order("yearly").await), PromoRefusal::WrongPlan);

    let days = NewPromo {
        kind: PromoKind::Days,
        value: 7,
        ..percent("WEEK", 1, None, 1)
    };
    r.create_promo(Principal::Ops, &days).await.expect("promo");
    assert_eq!(refused(order("week").await), PromoRefusal::WrongKind);

    let first = NewPromo {
        first_purchase_only: true,
        ..percent("HELLO", 10, None, 1)
    };
    r.create_promo(Principal::Ops, &first).await.expect("promo");
    let plain = r
        .send(user, buy(None, Provider::Nowpayments, None, false))
        .await
        .expect("order")
        .order;
    pay(&sys, &plain, "np-plain").await;
    assert_eq!(
        refused(order("hello").await),
        PromoRefusal::NotFirstPurchase
    );
    // A new user may use it.
    let newcomer = r
        .send(
            uid(3001),
            buy(Some("Hello"), Provider::Nowpayments, None, false),
        )
        .await
        .expect("a first purchase");
    assert_eq!(newcomer.order.amount, usd(270));

    let hundred = percent("FREE", 100, None, 1);
    assert!(matches!(
        r.create_promo(Principal::Ops, &hundred).await,
        Err(Error::InvalidInput { field: "value", .. })
    ));
    assert!(matches!(
        r.create_promo(Principal::Ops, &percent("hello", 5, None, 1))
            .await,
        Err(Error::InvalidInput { field: "code", .. })
    ));
    for code in ["old", "gone", "yearly", "week", "hello"] {
        let p = sys
            .store()
            .promo(code)
            .await
            .expect("read")
            .expect("exists");
        assert_eq!(p.reserved, u32::from(code == "hello"), "{code}");
    }
    let audit = sys.store().recent_ops_audit(50).await.expect("audit");
    let count = |action: &str| audit.iter().filter(|a| a.action == action).count();
    assert_eq!(count("promo_created"), 5);
    assert_eq!(count("promo_disabled"), 1);
}

/// The order expired and released its use; another buyer took the last
/// one; the late payment still buys the plan at the price paid, is flagged
/// for ops, and the code is not counted past its limit.
async fn a_late_payment_after_release_is_applied_at_the_price_paid(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    sys.registry
        .create_promo(Principal::Ops, &percent("LAST", 10, Some(1), 1))
        .await
        .expect("promo");
    let (a, b) = (uid(4000), uid(4001));
    let late = sys
        .registry
        .send(a, buy(Some("last"), Provider::Nowpayments, None, false))
        .await
        .expect("order")
        .order;
    assert!(matches!(
        sys.registry
            .send(b, buy(Some("last"), Provider::Nowpayments, None, false))
            .await,
        Err(Error::PromoRefused(PromoRefusal::UsedUp))
    ));
    let expired = sys
        .store()
        .expire_stale_orders(
            &crate::helpers::ctx(t0() + Duration::hours(2), &crate::helpers::nodes()),
            t0() + Duration::hours(1),
        )
        .await
        .expect("expire");
    assert_eq!(expired, 1);
    let promo = sys
        .store()
        .promo("last")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        (promo.used, promo.reserved),
        (0, 0),
        "released with its order"
    );
    let taken = sys
        .registry
        .send(b, buy(Some("last"), Provider::Nowpayments, None, false))
        .await
        .expect("the released use is free again")
        .order;
    pay(&sys, &taken, "np-b").await;
    let settlement = pay(&sys, &late, "np-a").await;
    assert!(
        matches!(settlement, Settlement::Apply { .. }),
        "{settlement:?}"
    );
    let late = sys
        .store()
        .order(late.id)
        .await
        .expect("read")
        .expect("order");
    assert_eq!(late.status, OrderStatus::Paid);
    assert_eq!(late.flag.as_deref(), Some("promo_used_up"));
    let promo = sys
        .store()
        .promo("last")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!((promo.used, promo.reserved), (1, 0), "never past its limit");
    let sub = sys
        .store()
        .user(a)
        .await
        .expect("read")
        .expect("user")
        .subscription;
    assert_eq!(sub.expect("sub").status, SubscriptionStatus::Active);
    assert_ledger(sys.store().as_ref(), [a, b]).await;
}

/// A free-days code adds its days at once, once per user, counted at once.
async fn free_days_codes_are_redeemed_once(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let days = NewPromo {
        kind: PromoKind::Days,
        value: 7,
        ..percent("WEEK", 1, Some(5), 1)
    };
    sys.registry
        .create_promo(Principal::Ops, &days)
        .await
        .expect("promo");
    let user = uid(5000);
    let redeem = || {
        sys.registry.send(
            user,
            RedeemPromoDays {
                code: "Week".into(),
                by: Principal::User(user),
            },
        )
    };
    let (first, second) = tokio::join!(redeem(), redeem());
    let (ok, err) = match (first, second) {
        (Ok(c), Err(e)) | (Err(e), Ok(c)) => (c, e),
        other => panic!("exactly one redemption: {other:?}"),
    };
    assert!(matches!(
        err,
        Error::PromoRefused(PromoRefusal::AlreadyUsed)
    ));
    let sub = ok.snapshot.subscription.expect("sub");
    assert_eq!(sub.expires_at, t0() + Duration::days(7));
    assert!(!ok.ops.is_empty(), "a key is provisioned");
    let promo = sys
        .store()
        .promo("week")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(promo.used, 1);
    // A discount code is no days code.
    sys.registry
        .create_promo(Principal::Ops, &percent("OFF", 10, None, 1))
        .await
        .expect("promo");
    assert!(matches!(
        sys.registry
            .send(
                user,
                RedeemPromoDays {
                    code: "off".into(),
                    by: Principal::User(user),
                },
            )
            .await,
        Err(Error::PromoRefused(PromoRefusal::WrongKind))
    ));
}

/// A paid gift order yields one gift (the buyer gets its code, not days);
/// two receivers at once: exactly one gets the days, the buyer is told; the
/// gift's refund is then refused and flagged. An unredeemed gift's refund
/// voids it.
async fn a_gift_activates_once_and_a_refund_after_is_recorded_and_flagged(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let buyer = uid(6000);
    let order = sys
        .registry
        .send(buyer, buy(None, Provider::Nowpayments, None, true))
        .await
        .expect("order")
        .order;
    assert_eq!(order.kind, OrderKind::Gift);
    assert!(matches!(
        pay(&sys, &order, "np-gift").await,
        Settlement::Apply { .. }
    ));
    let snapshot = sys.store().user(buyer).await.expect("read").expect("user");
    assert!(snapshot.subscription.is_none(), "the buyer gets no days");
    let gift = sys
        .store()
        .gift_of_order(order.id)
        .await
        .expect("read")
        .expect("a gift");
    assert_eq!((gift.days, gift.buyer), (30, buyer));
    let ready = sys
        .store()
        .due_notifications(t0() + Duration::days(1), 100)
        .await
        .expect("notifications");
    assert!(ready.iter().any(|n| n.user == buyer
        && n.kind == NotificationKind::GiftReady
        && n.payload["code"] == gift.code.as_str()));

    let (x, y) = (uid(6001), uid(6002));
    let activate = |u: UserId| {
        sys.registry.send(
            u,
            ActivateGift {
                code: gift.code.clone(),
            },
        )
    };
    let (rx, ry) = tokio::join!(activate(x), activate(y));
    let (winner, done, lost) = match (rx, ry) {
        (Ok(d), Err(e)) => (x, d, e),
        (Err(e), Ok(d)) => (y, d, e),
        other => panic!("exactly one activation: {other:?}"),
    };
    assert!(matches!(
        lost,
        Error::GiftRefused(GiftRefusal::AlreadyRedeemed)
    ));
    let sub = done.change.snapshot.subscription.expect("sub");
    assert_eq!(sub.expires_at, t0() + Duration::days(30));
    assert!(
        !done.change.ops.is_empty(),
        "the receiver's key is provisioned"
    );
    assert!(matches!(
        activate(winner).await,
        Err(Error::GiftRefused(GiftRefusal::AlreadyRedeemed))
    ));
    let told = sys
        .store()
        .due_notifications(t0() + Duration::days(1), 100)
        .await
        .expect("notifications");
    assert_eq!(
        told.iter()
            .filter(|n| n.user == buyer && n.kind == NotificationKind::GiftRedeemed)
            .count(),
        1
    );
    // A refund that reaches the store is a fact (the provider's own refund,
    // or one racing the activation; voluntary ones are refused before any
    // money moves, by the intake): it is recorded like any other, the
    // receiver keeps the days, and the order is flagged for ops.
    let refund = sys
        .registry
        .send(
            buyer,
            RefundOrder {
                order: order.id,
                by: Principal::Ops,
            },
        )
        .await
        .expect("refund recorded");
    assert!(refund.change.applied);
    let after = sys
        .store()
        .order(order.id)
        .await
        .expect("read")
        .expect("order");
    assert_eq!(after.status, OrderStatus::Refunded);
    assert_eq!(
        after.flag.as_deref(),
        Some("gift_refunded_after_activation")
    );
    let receiver = sys.store().user(winner).await.expect("read").expect("user");
    assert!(
        receiver
            .subscription
            .is_some_and(|s| s.status == SubscriptionStatus::Active),
        "the receiver keeps the days"
    );

    // An unredeemed gift: the refund voids it; the link is refused after.
    let second = sys
        .registry
        .send(
            buyer,
            buy(None, Provider::Nowpayments, Some("g2".into()), true),
        )
        .await
        .expect("order")
        .order;
    pay(&sys, &second, "np-gift-2").await;
    let code = sys
        .store()
        .gift_of_order(second.id)
        .await
        .expect("read")
        .expect("gift")
        .code;
    let refunded = sys
        .registry
        .send(
            buyer,
            RefundOrder {
                order: second.id,
                by: Principal::Ops,
            },
        )
        .await
        .expect("refund");
    assert!(refunded.change.applied);
    assert!(matches!(
        sys.registry.send(x, ActivateGift { code }).await,
        Err(Error::GiftRefused(GiftRefusal::Voided))
    ));
    assert_ledger(sys.store().as_ref(), [buyer, x, y]).await;
}
