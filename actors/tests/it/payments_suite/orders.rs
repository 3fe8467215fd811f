//! Payment events stored and finished once; stale orders expiring, late
//! payments honoured; orders reused by key and by purchase.

use super::*;

both_backends!(
    payment_events_are_stored_once_and_finished_once,
    stale_orders_expire_but_late_payments_are_honoured,
    orders_are_reused_by_key_and_by_purchase,
);

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
        traffic_bytes: 0,
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
