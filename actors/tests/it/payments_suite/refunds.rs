//! Refunds: days and ledger reversed, spent top-ups flagged once, referral
//! bonuses reversed with their order.

use super::*;

both_backends!(
    refunds_reverse_days_and_ledger,
    a_spent_top_up_is_refunded_as_far_as_it_goes_and_flagged_once,
    a_referral_bonus_is_reversed_with_its_order,
);

async fn refunds_reverse_days_and_ledger(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let s = db.store.as_ref();
    let user = uid(52);
    let first = plan_order(s, user, Provider::Stars, t0()).await;
    let second = plan_order(s, user, Provider::Stars, t0()).await;
    for (o, charge) in [(&first, "tg-1"), (&second, "tg-2")] {
        s.apply_payment(
            &ctx(t0(), &nodes()),
            user,
            o.id,
            &paid(Provider::Stars, charge, xtr(150)),
        )
        .await
        .expect("pay");
    }
    let refunded = s
        .refund_order(&ctx(t0() + Duration::days(1), &nodes()), user, second.id)
        .await
        .expect("refund");
    assert!(refunded.change.applied);
    assert_eq!(refunded.shortfall, None);
    let sub = refunded.change.snapshot.subscription.clone().expect("sub");
    assert_eq!(
        sub.expires_at,
        t0() + Duration::days(30),
        "60 days minus the refunded 30"
    );
    assert_eq!(
        sub.status,
        subvisor_actors::domain::SubscriptionStatus::Active
    );
    assert!(
        refunded.change.ops.is_empty(),
        "still active: the key stays"
    );
    assert_eq!(
        s.order(second.id)
            .await
            .expect("read")
            .expect("exists")
            .status,
        OrderStatus::Refunded
    );
    // The money's way out is on the ledger: in, spent, given back, paid out.
    let moves: Vec<(LedgerKind, i64)> = s
        .ledger(user)
        .await
        .expect("ledger")
        .iter()
        .filter(|e| e.order == Some(second.id))
        .map(|e| (e.kind, e.amount.minor))
        .collect();
    assert_eq!(
        moves,
        vec![
            (LedgerKind::Payment, 150),
            (LedgerKind::Purchase, -150),
            (LedgerKind::Refund, 150),
            (LedgerKind::Payout, -150)
        ]
    );
    // Twice is a no-op.
    assert!(
        !s.refund_order(&ctx(t0() + Duration::days(1), &nodes()), user, second.id)
            .await
            .expect("refund")
            .change
            .applied
    );

    // Refunding the rest ends access now and removes the key.
    let now = t0() + Duration::days(2);
    let ended = s
        .refund_order(&ctx(now, &nodes()), user, first.id)
        .await
        .expect("refund");
    let sub = ended.change.snapshot.subscription.clone().expect("sub");
    assert_eq!(
        sub.status,
        subvisor_actors::domain::SubscriptionStatus::Expired
    );
    assert_eq!(sub.expires_at, now);
    assert_eq!(ended.change.ops.len(), 1);
    assert_eq!(
        ended.change.ops[0].kind,
        subvisor_actors::domain::OpKind::Remove
    );

    // A balance purchase is credited back exactly once, to the minor unit:
    // what the admin credited, less the plan's 2.99 USD, then that back.
    const CREDIT: i64 = 1000;
    const PRICE: i64 = 299;
    let buyer = uid(58);
    s.adjust_balance(
        &ctx(t0(), &nodes()),
        buyer,
        LedgerKind::Admin,
        &usd(CREDIT),
        "x",
    )
    .await
    .expect("credit");
    let o = plan_order(s, buyer, Provider::Balance, t0()).await;
    s.apply_payment(&ctx(t0(), &nodes()), buyer, o.id, &from_balance(o.id))
        .await
        .expect("pay");
    assert_eq!(s.ledger_sum(buyer).await.expect("sum"), CREDIT - PRICE);
    let back = s
        .refund_order(&ctx(t0(), &nodes()), buyer, o.id)
        .await
        .expect("refund");
    assert!(back.change.applied);
    assert_eq!(back.shortfall, None);
    assert_eq!(
        back.change.snapshot.balance_minor, CREDIT,
        "the balance is what it was before the purchase"
    );
    assert_eq!(s.ledger_sum(buyer).await.expect("sum"), CREDIT);
    let entries = |ledger: Vec<subvisor_actors::domain::LedgerEntry>| {
        ledger
            .into_iter()
            .map(|e| (e.kind, e.amount.minor, e.order))
            .collect::<Vec<_>>()
    };
    let after_refund = entries(s.ledger(buyer).await.expect("ledger"));
    assert_eq!(
        after_refund,
        vec![
            (LedgerKind::Admin, CREDIT, None),
            (LedgerKind::Purchase, -PRICE, Some(o.id)),
            (LedgerKind::Refund, PRICE, Some(o.id)),
        ],
        "one refund credit of exactly the price, naming its order"
    );
    // A second refund of the same order credits nothing.
    let again = s
        .refund_order(&ctx(t0() + Duration::hours(1), &nodes()), buyer, o.id)
        .await
        .expect("refund again");
    assert!(!again.change.applied, "a second refund is not applied");
    assert_eq!(
        again.change.snapshot.balance_minor, CREDIT,
        "a second refund credits nothing"
    );
    assert_eq!(
        entries(s.ledger(buyer).await.expect("ledger")),
        after_refund,
        "no new ledger entry"
    );
}

async fn a_spent_top_up_is_refunded_as_far_as_it_goes_and_flagged_once(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let s = db.store.as_ref();
    let user = uid(59);
    let o = topup(s, user, usd(500)).await;
    s.apply_payment(
        &ctx(t0(), &nodes()),
        user,
        o.id,
        &paid(Provider::Nowpayments, "np-top", usd(500)),
    )
    .await
    .expect("pay");
    s.adjust_balance(
        &ctx(t0(), &nodes()),
        user,
        LedgerKind::Admin,
        &usd(-400),
        "spent",
    )
    .await
    .expect("spend");
    let refund = s
        .refund_order(&ctx(t0(), &nodes()), user, o.id)
        .await
        .expect("refund: never an error loop");
    assert!(refund.change.applied);
    assert_eq!(refund.shortfall, Some(usd(400)));
    assert_eq!(refund.change.snapshot.balance_minor, 0, "never below zero");
    assert_eq!(s.ledger_sum(user).await.expect("sum"), 0);
    let stored = s.order(o.id).await.expect("read").expect("exists");
    assert_eq!(stored.status, OrderStatus::Refunded);
    assert_eq!(stored.flag.as_deref(), Some("refund_shortfall"));
    let again = s
        .refund_order(&ctx(t0(), &nodes()), user, o.id)
        .await
        .expect("again");
    assert!(!again.change.applied);
    let shortfalls = alerts(s, AlertKind::RefundShortfall).await;
    assert_eq!(shortfalls.len(), 1, "told once: {shortfalls:?}");
    assert_eq!(shortfalls[0]["shortfall"]["minor"], 400);
}

async fn a_referral_bonus_is_reversed_with_its_order(backend: Backend) {
    let db = Db::open(backend, Some(usd(100))).await;
    let s = db.store.as_ref();
    let (referrer, friend) = (uid(70), uid(71));
    for (user, by) in [(referrer, None), (friend, Some(referrer))] {
        let profile = Profile {
            username: None,
            display_name: None,
            language_code: None,
            referrer: by,
        };
        s.touch_user(&ctx(t0(), &nodes()), user, &profile)
            .await
            .expect("touch");
    }
    let o = plan_order(s, friend, Provider::Cryptobot, t0()).await;
    s.apply_payment(
        &ctx(t0(), &nodes()),
        friend,
        o.id,
        &paid(Provider::Cryptobot, "cb-ref", usd(299)),
    )
    .await
    .expect("pay");
    assert_eq!(s.ledger_sum(referrer).await.expect("sum"), 100);
    s.adjust_balance(
        &ctx(t0(), &nodes()),
        referrer,
        LedgerKind::Admin,
        &usd(-30),
        "spent",
    )
    .await
    .expect("spend");
    s.refund_order(&ctx(t0(), &nodes()), friend, o.id)
        .await
        .expect("refund");
    let referrer_ledger = s.ledger(referrer).await.expect("ledger");
    let reversal: Vec<i64> = referrer_ledger
        .iter()
        .filter(|e| e.kind == LedgerKind::ReferralReversal)
        .map(|e| e.amount.minor)
        .collect();
    assert_eq!(reversal, vec![-70], "what was left of the bonus");
    assert_eq!(s.ledger_sum(referrer).await.expect("sum"), 0);
    let short = alerts(s, AlertKind::RefundShortfall).await;
    assert_eq!(short.len(), 1);
    assert_eq!(short[0]["what"], "referral_bonus");
    assert_eq!(short[0]["shortfall"]["minor"], 30);
}
