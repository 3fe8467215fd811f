//! Money: the referral bonus, Stars payments and refunds in the ledger.

use super::*;

both_backends!(
    referral_bonus_is_paid_once_on_the_first_plan,
    stars_payments_and_refunds_pass_through_the_ledger,
);

async fn referral_bonus_is_paid_once_on_the_first_plan(backend: Backend) {
    let db = Db::open(backend, Some(usd(100))).await;
    let s = db.store.as_ref();
    let (referrer, referred, loner, thrifty) = (uid(4001), uid(4002), uid(4003), uid(4004));
    s.touch_user(&ctx(t0(), &[]), referrer, &profile(Some("r"), None, None))
        .await
        .expect("touch");
    for u in [referred, thrifty] {
        s.touch_user(&ctx(t0(), &[]), u, &profile(None, None, Some(referrer)))
            .await
            .expect("touch");
    }
    s.touch_user(&ctx(t0(), &[]), loner, &Profile::default())
        .await
        .expect("touch");
    assert_eq!(s.referral_count(referrer).await.expect("count"), 2);
    let bonuses = || async {
        s.ledger(referrer)
            .await
            .expect("ledger")
            .into_iter()
            .filter(|e| e.kind == LedgerKind::ReferralBonus)
            .count()
    };

    // A top-up is not a plan: no bonus.
    let top = topup_order(s, referred, usd(500), t0()).await;
    pay(s, &top, t0()).await;
    assert_eq!(bonuses().await, 0);

    // The first paid plan: the referrer is credited once.
    let first = plan_order(s, referred, Provider::Cryptobot, t0()).await;
    let at = t0() + Duration::minutes(1);
    pay(s, &first, at).await;
    let ledger = s.ledger(referrer).await.expect("ledger");
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].kind, LedgerKind::ReferralBonus);
    assert_eq!(ledger[0].amount, usd(100));
    assert_eq!(ledger[0].created_at, at);
    let snap = s.user(referrer).await.expect("read").expect("exists");
    assert_eq!(snap.balance_minor, 100);
    assert_eq!(s.ledger_sum(referrer).await.expect("sum"), 100);
    let mine = of(&pending(s).await, referrer);
    assert_eq!(kinds(&mine), vec![NotificationKind::ReferralBonus]);
    assert_eq!(mine[0].payload["referred"], json!(referred.get()));
    assert_eq!(mine[0].payload["amount"], json!(usd(100)));
    // The referred user's own ledger: top-up, then the payment passing through.
    let own: Vec<_> = s
        .ledger(referred)
        .await
        .expect("ledger")
        .into_iter()
        .map(|e| (e.kind, e.amount.minor))
        .collect();
    assert_eq!(
        own,
        vec![
            (LedgerKind::TopUp, 500),
            (LedgerKind::Payment, 299),
            (LedgerKind::Purchase, -299)
        ]
    );

    // The second plan order: no second bonus (not even from the balance).
    let second = plan_order(s, referred, Provider::Stars, t0()).await;
    pay(s, &second, t0() + Duration::minutes(2)).await;
    let third = plan_order(s, referred, Provider::Balance, t0()).await;
    pay(s, &third, t0() + Duration::minutes(3)).await;
    assert_eq!(bonuses().await, 1);
    // No referrer: nobody is credited.
    let alone = plan_order(s, loner, Provider::Cryptobot, t0()).await;
    pay(s, &alone, t0() + Duration::minutes(4)).await;
    assert_eq!(bonuses().await, 1);
    assert_eq!(
        s.ledger_sum(loner).await.expect("sum"),
        0,
        "the loner's payment passed through"
    );
    // A plan bought from the balance is a paid plan too.
    let top = topup_order(s, thrifty, usd(500), t0()).await;
    pay(s, &top, t0()).await;
    assert_eq!(bonuses().await, 1);
    let from_balance = plan_order(s, thrifty, Provider::Balance, t0()).await;
    pay(s, &from_balance, t0() + Duration::minutes(5)).await;
    assert_eq!(bonuses().await, 2);
    let snap = s.user(referrer).await.expect("read").expect("exists");
    assert_eq!(snap.balance_minor, 200);
    assert_eq!(s.ledger_sum(referrer).await.expect("sum"), 200);
    assert_eq!(
        count(&pending(s).await, referrer, NotificationKind::ReferralBonus),
        2
    );
}

async fn stars_payments_and_refunds_pass_through_the_ledger(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let nodes = nodes();
    let user = uid(5001);
    let o = plan_order(s, user, Provider::Stars, t0()).await;
    assert_eq!(o.amount, xtr(150));
    let paid = s
        .apply_payment(
            &ctx(t0(), &nodes),
            user,
            o.id,
            &crate::helpers::paid(Provider::Stars, "tg-charge-1", xtr(150)),
        )
        .await
        .expect("pay")
        .change;
    assert!(paid.applied);
    assert_eq!(paid.snapshot.balance_minor, 0);
    assert_eq!(
        paid.snapshot.subscription.as_ref().expect("sub").expires_at,
        t0() + Duration::days(30)
    );
    let key = paid.snapshot.keys[0].clone();
    let entries = |v: Vec<subvisor_actors::domain::LedgerEntry>| {
        v.into_iter()
            .map(|e| (e.kind, e.amount, e.order))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        entries(s.ledger(user).await.expect("ledger")),
        vec![
            (LedgerKind::Payment, xtr(150), Some(o.id)),
            (LedgerKind::Purchase, xtr(-150), Some(o.id)),
        ]
    );
    assert_eq!(s.ledger_sum(user).await.expect("sum"), 0);

    let at = t0() + Duration::days(1);
    let refunded = s
        .refund_order(&ctx(at, &nodes), user, o.id)
        .await
        .expect("refund")
        .change;
    assert!(refunded.applied);
    let sub = refunded.snapshot.subscription.clone().expect("sub");
    assert_eq!(sub.status, SubscriptionStatus::Expired, "nothing left");
    assert_eq!(sub.expires_at, at);
    assert_eq!(refunded.ops.len(), 1);
    assert_eq!(
        (refunded.ops[0].kind, refunded.ops[0].email.as_str()),
        (OpKind::Remove, key.email.as_str())
    );
    assert_eq!(refunded.snapshot.balance_minor, 0);
    let ledger = s.ledger(user).await.expect("ledger");
    assert_eq!(
        entries(ledger.clone())[2..],
        [
            (LedgerKind::Refund, xtr(150), Some(o.id)),
            (LedgerKind::Payout, xtr(-150), Some(o.id)),
        ]
    );
    assert_eq!(ledger.iter().map(|e| e.amount.minor).sum::<i64>(), 0);
    assert_eq!(s.ledger_sum(user).await.expect("sum"), 0);
    assert_eq!(
        s.order(o.id).await.expect("read").expect("exists").status,
        OrderStatus::Refunded
    );
    let mine = of(&pending(s).await, user);
    assert_eq!(
        kinds(&mine),
        vec![
            NotificationKind::Activated,
            NotificationKind::Expired,
            NotificationKind::Refunded
        ]
    );
    assert_eq!(mine[1].payload["reason"], "refund");
    assert_eq!(mine[2].payload["order"], json!(o.id));
    assert_eq!(mine[2].payload["days"], 30);
    assert_eq!(mine[2].payload["amount"], json!(xtr(150)));

    let again = s
        .refund_order(&ctx(at, &nodes), user, o.id)
        .await
        .expect("refund")
        .change;
    assert!(!again.applied);
    assert!(again.ops.is_empty());
    assert_eq!(s.ledger(user).await.expect("ledger").len(), 4);
    assert_eq!(of(&pending(s).await, user).len(), 3);
}
