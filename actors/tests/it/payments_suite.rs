//! Money paths in the store and the actors, on SQLite and PostgreSQL: every
//! payment applied, credited, sent back or flagged — never silently kept.

use chrono::Duration;
use futures_util::future::join_all;
use subvisor_actors::Error;
use subvisor_actors::domain::{
    AlertKind, LedgerKind, Money, NewOrder, NotificationKind, Order, OrderId, OrderKind,
    OrderStatus, PaymentSettlement, PlanId, Principal, Provider, Settlement, TOPUP_PLAN,
    Unexpected, UserId,
};
use subvisor_actors::messages::{AdjustBalance, ApplyPayment, CreateOrder, RefundOrder};
use subvisor_actors::store::{Backend, EventRecord, NewPaymentEvent, Profile, Store};

use crate::bot_store::Db;
use crate::helpers::{
    System, both_backends, ctx, fresh_store, from_balance, nodes, paid, plan_order, settings, t0,
    uid, usd, xtr,
};

async fn topup(store: &dyn Store, user: UserId, amount: Money) -> Order {
    let new = NewOrder {
        id: OrderId::random(),
        user,
        kind: OrderKind::Topup,
        plan: PlanId::new(TOPUP_PLAN).expect("valid"),
        days: 0,
        provider: Provider::Nowpayments,
        amount,
        idempotency_key: None,
        reuse_since: None,
    };
    store
        .create_order(&ctx(t0(), &nodes()), &new)
        .await
        .expect("order")
        .order
}

/// Alerts still queued, by kind.
async fn alerts(store: &dyn Store, kind: AlertKind) -> Vec<serde_json::Value> {
    store
        .due_alerts(t0() + Duration::days(30), 1000)
        .await
        .expect("alerts")
        .into_iter()
        .filter(|a| a.kind == kind)
        .map(|a| a.payload)
        .collect()
}

async fn notifications(store: &dyn Store, user: UserId, kind: NotificationKind) -> usize {
    store
        .due_notifications(t0() + Duration::days(30), 1000)
        .await
        .expect("notifications")
        .iter()
        .filter(|n| n.user == user && n.kind == kind)
        .count()
}

both_backends!(
    a_wrong_amount_never_pays_and_is_accounted_for,
    a_second_payment_is_credited_or_sent_back,
    overpayments_pay_and_credit_the_rest,
    balance_purchases_debit_the_ledger_in_the_same_transaction,
    refunds_reverse_days_and_ledger,
    a_spent_top_up_is_refunded_as_far_as_it_goes_and_flagged_once,
    a_referral_bonus_is_reversed_with_its_order,
    payment_events_are_stored_once_and_finished_once,
    stale_orders_expire_but_late_payments_are_honoured,
    orders_are_reused_by_key_and_by_purchase,
    ledger_equals_balance_after_a_random_run,
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

    // A balance purchase is credited back exactly once, to the minor unit.
    let buyer = uid(58);
    s.adjust_balance(
        &ctx(t0(), &nodes()),
        buyer,
        LedgerKind::Admin,
        &usd(1000),
        "x",
    )
    .await
    .expect("credit");
    let o = plan_order(s, buyer, Provider::Balance, t0()).await;
    s.apply_payment(&ctx(t0(), &nodes()), buyer, o.id, &from_balance(o.id))
        .await
        .expect("pay");
    assert_eq!(s.ledger_sum(buyer).await.expect("sum"), 701);
    let back = s
        .refund_order(&ctx(t0(), &nodes()), buyer, o.id)
        .await
        .expect("refund");
    assert_eq!(back.change.snapshot.balance_minor, 1000);
    assert_eq!(s.ledger_sum(buyer).await.expect("sum"), 1000);
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

async fn payment_events_are_stored_once_and_finished_once(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let s = db.store.as_ref();
    let o = plan_order(s, uid(53), Provider::Nowpayments, t0()).await;
    let event = |id: &str| NewPaymentEvent {
        provider: "nowpayments".into(),
        event_id: id.into(),
        order: Some(o.id),
        received_at: t0(),
        payload: "{}".into(),
        event: "{\"neutral\":true}".into(),
    };
    assert_eq!(
        s.record_payment_event(&event("p1:finished"))
            .await
            .expect("record"),
        EventRecord::New
    );
    assert_eq!(
        s.record_payment_event(&event("p1:finished"))
            .await
            .expect("record"),
        EventRecord::Unfinished,
        "seen, not finished: whoever delivers it again processes it"
    );
    s.record_payment_event(&event("p1:waiting"))
        .await
        .expect("record");
    let stuck = s
        .unfinished_payment_events(t0(), 10)
        .await
        .expect("unfinished");
    assert_eq!(stuck.len(), 2);
    assert_eq!(stuck[0].event.as_deref(), Some("{\"neutral\":true}"));
    s.payment_event_failed("nowpayments", "p1:finished", "busy")
        .await
        .expect("failed");
    assert!(
        s.finish_payment_event("nowpayments", "p1:finished", "applied", t0())
            .await
            .expect("finish")
    );
    assert!(
        !s.finish_payment_event("nowpayments", "p1:finished", "already_applied", t0())
            .await
            .expect("finish"),
        "the first outcome stands"
    );
    assert_eq!(
        s.record_payment_event(&event("p1:finished"))
            .await
            .expect("record"),
        EventRecord::Finished("applied".into())
    );
    let events = s.webhook_events_for_order(o.id).await.expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].event_id.as_str(), events[0].outcome.as_str()),
        ("p1:finished", "applied")
    );
    assert_eq!(events[0].attempts, 2);
    assert_eq!(events[0].last_error.as_deref(), Some("busy"));
    assert!(events[0].finished_at.is_some());
    let stuck = s
        .unfinished_payment_events(t0(), 10)
        .await
        .expect("unfinished");
    assert_eq!(
        stuck
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        vec!["p1:waiting"]
    );
    assert!(
        s.unfinished_payment_events(t0() - Duration::seconds(1), 10)
            .await
            .expect("unfinished")
            .is_empty(),
        "received after the cut-off"
    );
}

async fn stale_orders_expire_but_late_payments_are_honoured(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let s = db.store.as_ref();
    let user = uid(54);
    let o = plan_order(s, user, Provider::Cryptobot, t0()).await;
    let n = s
        .expire_stale_orders(
            &ctx(t0() + Duration::hours(2), &nodes()),
            t0() + Duration::hours(1),
        )
        .await
        .expect("expire");
    assert_eq!(n, 1);
    assert_eq!(
        s.order(o.id).await.expect("read").expect("exists").status,
        OrderStatus::Expired
    );
    let late = s
        .apply_payment(
            &ctx(t0() + Duration::hours(3), &nodes()),
            user,
            o.id,
            &paid(Provider::Cryptobot, "cb-late", usd(299)),
        )
        .await
        .expect("pay");
    assert!(
        late.change.applied,
        "the money was taken: a late payment is honoured"
    );
    let audit = s.recent_audit(user, 5).await.expect("audit");
    assert_eq!(audit[0].details["order_was"], "expired");

    // NOWPayments said failed, then the deposit arrived after all.
    let o2 = plan_order(s, user, Provider::Nowpayments, t0()).await;
    assert!(
        s.close_order(&ctx(t0(), &nodes()), o2.id, OrderStatus::Failed)
            .await
            .expect("close")
    );
    assert!(
        !s.close_order(&ctx(t0(), &nodes()), o2.id, OrderStatus::Expired)
            .await
            .expect("close")
    );
    let after_failed = s
        .apply_payment(
            &ctx(t0(), &nodes()),
            user,
            o2.id,
            &paid(Provider::Nowpayments, "np-late", usd(299)),
        )
        .await
        .expect("pay");
    assert!(after_failed.change.applied);
    assert_eq!(
        after_failed
            .change
            .snapshot
            .subscription
            .expect("sub")
            .expires_at,
        t0() + Duration::hours(3) + Duration::days(60),
        "both late payments extended"
    );
}

async fn orders_are_reused_by_key_and_by_purchase(backend: Backend) {
    let db = fresh_store(backend, 4).await;
    let s = db.store.as_ref();
    let user = uid(72);
    let new = |key: Option<&str>, reuse: bool, provider: Provider| NewOrder {
        id: OrderId::random(),
        user,
        kind: OrderKind::Plan,
        plan: PlanId::new("month").expect("valid"),
        days: 30,
        provider,
        amount: if provider == Provider::Stars {
            xtr(150)
        } else {
            usd(299)
        },
        idempotency_key: key.map(str::to_owned),
        reuse_since: reuse.then(|| t0() - Duration::hours(1)),
    };
    let nodes = nodes();
    let at = ctx(t0(), &nodes);
    let first = s
        .create_order(&at, &new(Some("tg:1"), false, Provider::Balance))
        .await
        .expect("order");
    assert!(!first.reused);
    let again = s
        .create_order(&at, &new(Some("tg:1"), false, Provider::Balance))
        .await
        .expect("order");
    assert!(again.reused);
    assert_eq!(again.order.id, first.order.id, "same press, same order");
    let other = s
        .create_order(&at, &new(Some("tg:2"), false, Provider::Balance))
        .await
        .expect("order");
    assert_ne!(other.order.id, first.order.id);

    let open = s
        .create_order(&at, &new(None, true, Provider::Stars))
        .await
        .expect("order");
    assert!(!open.reused);
    s.attach_invoice(&at, open.order.id, "inv-1", "https://t.me/$x")
        .await
        .expect("attach");
    let second_press = s
        .create_order(&at, &new(None, true, Provider::Stars))
        .await
        .expect("order");
    assert!(second_press.reused);
    assert_eq!(second_press.order.id, open.order.id);
    assert_eq!(
        second_press.order.pay_url.as_deref(),
        Some("https://t.me/$x")
    );
    assert_eq!(
        second_press.order.provider_invoice_id.as_deref(),
        Some("inv-1")
    );
    s.apply_payment(
        &at,
        user,
        open.order.id,
        &paid(Provider::Stars, "ch-r", xtr(150)),
    )
    .await
    .expect("pay");
    let after_paid = s
        .create_order(&at, &new(None, true, Provider::Stars))
        .await
        .expect("order");
    assert!(!after_paid.reused, "a paid order is not reused");
}

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
