//! Settling payments: wrong amounts, second payments, overpayments, purchases
//! from the balance.

use super::*;

both_backends!(
    a_wrong_amount_never_pays_and_is_accounted_for,
    a_second_payment_is_credited_or_sent_back,
    overpayments_pay_and_credit_the_rest,
    balance_purchases_debit_the_ledger_in_the_same_transaction,
);

async fn a_wrong_amount_never_pays_and_is_accounted_for(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let s = db.store.as_ref();
    let user = uid(50);
    let o = plan_order(s, user, Provider::Cryptobot, t0()).await;
    // Less than the price, in the balance currency: kept for the user.
    let under = s
        .apply_payment(
            &ctx(t0(), &nodes()),
            user,
            o.id,
            &paid(Provider::Cryptobot, "cb-1", usd(298)),
        )
        .await
        .expect("settled");
    assert_eq!(
        under.settlement,
        Settlement::Credit {
            amount: usd(298),
            reason: Unexpected::Underpaid
        }
    );
    assert!(!under.change.applied);
    assert_eq!(under.change.snapshot.balance_minor, 298);
    assert!(under.change.snapshot.subscription.is_none(), "no grant");
    let ledger = s.ledger(user).await.expect("ledger");
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].kind, LedgerKind::PaymentCredit);
    assert_eq!(ledger[0].order, Some(o.id));
    assert_eq!(
        notifications(s, user, NotificationKind::PaymentCredited).await,
        1
    );
    assert_eq!(alerts(s, AlertKind::PaymentCredited).await.len(), 1);
    // Another currency: flagged for ops, nothing credited.
    let eur = Money::new(299, "EUR".parse().expect("valid"));
    let other = s
        .apply_payment(
            &ctx(t0(), &nodes()),
            user,
            o.id,
            &paid(Provider::Cryptobot, "cb-2", eur),
        )
        .await
        .expect("settled");
    assert_eq!(
        other.settlement,
        Settlement::Flag {
            reason: Unexpected::CurrencyMismatch
        }
    );
    let stored = s.order(o.id).await.expect("read").expect("exists");
    assert_eq!(stored.status, OrderStatus::Pending);
    assert_eq!(stored.flag.as_deref(), Some("currency_mismatch"));
    assert_eq!(alerts(s, AlertKind::PaymentFlagged).await.len(), 1);
    // A redelivery of a settled payment is a duplicate that remembers how.
    let again = s
        .apply_payment(
            &ctx(t0(), &nodes()),
            user,
            o.id,
            &paid(Provider::Cryptobot, "cb-1", usd(298)),
        )
        .await
        .expect("settled");
    assert_eq!(again.settlement, Settlement::Duplicate);
    assert_eq!(again.previously, Some(PaymentSettlement::Credited));
    assert_eq!(
        again.change.snapshot.balance_minor, 298,
        "not credited twice"
    );
    // The exact amount pays.
    let ok = s
        .apply_payment(
            &ctx(t0(), &nodes()),
            user,
            o.id,
            &paid(Provider::Cryptobot, "cb-3", usd(299)),
        )
        .await
        .expect("pay");
    assert!(ok.change.applied);
    assert_eq!(ok.change.snapshot.balance_minor, 298);
    let payments = s.payments_of_order(o.id).await.expect("payments");
    assert_eq!(
        payments.iter().map(|p| p.settlement).collect::<Vec<_>>(),
        vec![
            PaymentSettlement::Credited,
            PaymentSettlement::Flagged,
            PaymentSettlement::Applied
        ]
    );
    assert_eq!(s.ledger_sum(user).await.expect("sum"), 298);
}

async fn a_second_payment_is_credited_or_sent_back(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let s = db.store.as_ref();
    let nodes = nodes();
    let at = ctx(t0(), &nodes);
    // An old Crypto Pay invoice paid after the order was paid by another.
    let user = uid(55);
    let o = plan_order(s, user, Provider::Cryptobot, t0()).await;
    for id in ["cb-10", "cb-11"] {
        s.apply_payment(&at, user, o.id, &paid(Provider::Cryptobot, id, usd(299)))
            .await
            .expect("settled");
    }
    let snap = s.user(user).await.expect("read").expect("exists");
    assert_eq!(
        snap.subscription.expect("sub").expires_at,
        t0() + Duration::days(30),
        "one extension"
    );
    assert_eq!(
        snap.balance_minor, 299,
        "the second payment is kept for the user"
    );
    assert_eq!(s.ledger_sum(user).await.expect("sum"), 299);
    let second = s
        .payment(Provider::Cryptobot, "cb-11")
        .await
        .expect("read")
        .expect("recorded");
    assert_eq!(second.settlement, PaymentSettlement::Credited);
    assert_eq!(second.reason.as_deref(), Some("already_paid"));

    // A second Stars charge: queued to go back, never credited (Stars are not dollars).
    let fan = uid(56);
    let o = plan_order(s, fan, Provider::Stars, t0()).await;
    s.apply_payment(&at, fan, o.id, &paid(Provider::Stars, "ch-1", xtr(150)))
        .await
        .expect("settled");
    let dup = s
        .apply_payment(&at, fan, o.id, &paid(Provider::Stars, "ch-2", xtr(150)))
        .await
        .expect("settled");
    assert!(matches!(
        dup.settlement,
        Settlement::Refund {
            reason: Unexpected::AlreadyPaid,
            ..
        }
    ));
    assert_eq!(dup.change.snapshot.balance_minor, 0);
    let queued = s.payments_to_return(10).await.expect("queue");
    assert_eq!(
        queued
            .iter()
            .map(|p| p.provider_payment_id.as_str())
            .collect::<Vec<_>>(),
        vec!["ch-2"]
    );
    assert_eq!(alerts(s, AlertKind::PaymentReturned).await.len(), 1);
    let done = s
        .payment_returned(&at, fan, Provider::Stars, "ch-2")
        .await
        .expect("returned");
    assert!(done.applied);
    assert!(
        !s.payment_returned(&at, fan, Provider::Stars, "ch-2")
            .await
            .expect("again")
            .applied
    );
    assert!(s.payments_to_return(10).await.expect("queue").is_empty());
    assert_eq!(
        notifications(s, fan, NotificationKind::PaymentReturned).await,
        1
    );
    let snap = s.user(fan).await.expect("read").expect("exists");
    assert_eq!(
        snap.subscription.expect("sub").expires_at,
        t0() + Duration::days(30)
    );
}

async fn overpayments_pay_and_credit_the_rest(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let s = db.store.as_ref();
    let user = uid(57);
    let o = plan_order(s, user, Provider::Nowpayments, t0()).await;
    let settled = s
        .apply_payment(
            &ctx(t0(), &nodes()),
            user,
            o.id,
            &paid(Provider::Nowpayments, "np-1", usd(500)),
        )
        .await
        .expect("settled");
    assert!(settled.change.applied);
    assert_eq!(settled.change.snapshot.balance_minor, 201);
    let kinds: Vec<(LedgerKind, i64)> = s
        .ledger(user)
        .await
        .expect("ledger")
        .iter()
        .map(|e| (e.kind, e.amount.minor))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (LedgerKind::Payment, 299),
            (LedgerKind::Purchase, -299),
            (LedgerKind::PaymentCredit, 201)
        ]
    );
}

async fn balance_purchases_debit_the_ledger_in_the_same_transaction(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let user = uid(51);
    let o = plan_order(db.store.as_ref(), user, Provider::Balance, t0()).await;
    let short = db
        .store
        .apply_payment(&ctx(t0(), &nodes()), user, o.id, &from_balance(o.id))
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
            LedgerKind::Admin,
            &usd(500),
            "gift",
        )
        .await
        .expect("credit");
    let settled = db
        .store
        .apply_payment(&ctx(t0(), &nodes()), user, o.id, &from_balance(o.id))
        .await
        .expect("pay");
    assert!(settled.change.applied);
    assert_eq!(settled.change.snapshot.balance_minor, 201);
    assert_eq!(db.store.ledger_sum(user).await.expect("sum"), 201);
    assert_eq!(
        settled
            .change
            .snapshot
            .subscription
            .expect("sub")
            .expires_at,
        t0() + Duration::days(30)
    );
    let ledger = db.store.ledger(user).await.expect("ledger");
    assert_eq!(
        ledger.iter().map(|e| e.amount.minor).collect::<Vec<_>>(),
        vec![500, -299]
    );
    assert_eq!(ledger[1].order, Some(o.id));
    // The same purchase again (a double tap that got through) charges nothing.
    let twice = db
        .store
        .apply_payment(&ctx(t0(), &nodes()), user, o.id, &from_balance(o.id))
        .await
        .expect("pay");
    assert_eq!(twice.settlement, Settlement::Duplicate);
    assert_eq!(twice.change.snapshot.balance_minor, 201);
    // Debits below zero are refused.
    let overdraw = db
        .store
        .adjust_balance(
            &ctx(t0(), &nodes()),
            user,
            LedgerKind::Admin,
            &usd(-202),
            "x",
        )
        .await;
    assert!(matches!(overdraw, Err(Error::InsufficientFunds { .. })));
    assert_eq!(db.store.ledger_sum(user).await.expect("sum"), 201);
}
