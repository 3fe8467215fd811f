//! Broadcasts to everyone who has not blocked the bot; flagged payments
//! told to the user.

use super::*;

both_backends!(
    broadcasts_reach_everyone_who_has_not_blocked_the_bot,
    a_flagged_payment_tells_the_user,
);

async fn broadcasts_reach_everyone_who_has_not_blocked_the_bot(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let users: Vec<UserId> = (6001..=6005).map(uid).collect();
    for &u in &users {
        s.touch_user(&ctx(t0(), &[]), u, &Profile::default())
            .await
            .expect("touch");
    }
    s.set_bot_blocked(users[2], true, t0())
        .await
        .expect("block");
    // An unrelated notification of someone else stays out of the report.
    s.grant_days(&ctx(t0(), &[]), users[0], 1)
        .await
        .expect("grant");

    let b = s
        .create_broadcast(&ctx(t0() + Duration::minutes(1), &[]), "Hello, world", &[])
        .await
        .expect("broadcast");
    assert_eq!(
        b,
        BroadcastReport {
            id: b.id,
            total: 4,
            delivered: 0,
            blocked: 0,
            failed: 0,
            pending: 4
        }
    );
    assert!(!b.done());
    assert_eq!(s.broadcast_report(b.id).await.expect("report"), Some(b));
    let queued: Vec<_> = pending(s)
        .await
        .into_iter()
        .filter(|n| n.broadcast == Some(b.id))
        .collect();
    assert_eq!(
        queued.iter().map(|n| n.user).collect::<Vec<_>>(),
        vec![users[0], users[1], users[3], users[4]]
    );
    for n in &queued {
        assert_eq!(n.kind, NotificationKind::Broadcast);
        assert_eq!(n.payload["text"], "Hello, world");
        assert_eq!(n.payload["broadcast"], json!(b.id));
    }
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 5);

    let now = t0() + Duration::minutes(2);
    s.notification_sent(queued[0].id, now).await.expect("sent");
    let r = s
        .broadcast_report(b.id)
        .await
        .expect("report")
        .expect("exists");
    assert_eq!((r.delivered, r.pending), (1, 3));
    s.notification_failed(queued[1].id, BLOCKED, now)
        .await
        .expect("failed");
    s.notification_retry(queued[2].id, "HTTP 502", now)
        .await
        .expect("retry");
    let r = s
        .broadcast_report(b.id)
        .await
        .expect("report")
        .expect("exists");
    assert_eq!(
        (r.delivered, r.blocked, r.failed, r.pending),
        (1, 1, 0, 2),
        "a retry is still pending"
    );
    s.notification_failed(queued[2].id, "Bad Request: chat not found", now)
        .await
        .expect("failed");
    s.set_bot_blocked(users[4], true, now).await.expect("block");
    let r = s
        .broadcast_report(b.id)
        .await
        .expect("report")
        .expect("exists");
    assert_eq!(
        r,
        BroadcastReport {
            id: b.id,
            total: 4,
            delivered: 1,
            blocked: 2,
            failed: 1,
            pending: 0
        }
    );
    assert!(r.done());

    // A later broadcast skips the users marked as blocked (6003, 6005).
    let b2 = s
        .create_broadcast(&ctx(now, &[]), "again", &[])
        .await
        .expect("broadcast");
    assert_ne!(b2.id, b.id);
    assert_eq!(b2.total, 3);
    assert_eq!(
        s.broadcast_report(b.id).await.expect("report"),
        Some(r),
        "the first report is untouched"
    );
    assert_eq!(
        s.broadcast_report(b.id.max(b2.id) + 1000)
            .await
            .expect("report"),
        None
    );
}

async fn a_flagged_payment_tells_the_user(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let user = uid(7001);
    let o = plan_order(s, user, Provider::Cryptobot, t0()).await;
    let eur = Money::new(299, Currency::new("EUR").expect("valid"));
    let result = s
        .apply_payment(
            &ctx(t0(), &nodes()),
            user,
            o.id,
            &crate::helpers::paid(Provider::Cryptobot, "cb-1", eur),
        )
        .await
        .expect("settled");
    assert!(matches!(
        result.settlement,
        subvisor_actors::domain::Settlement::Flag { .. }
    ));
    let stored = s.order(o.id).await.expect("read").expect("exists");
    assert_eq!(stored.status, OrderStatus::Pending);
    assert_eq!(stored.flag.as_deref(), Some("currency_mismatch"));
    let mine = of(&pending(s).await, user);
    assert_eq!(kinds(&mine), vec![NotificationKind::PaymentFlagged]);
    assert_eq!(mine[0].payload["order"], json!(o.id));
    assert_eq!(mine[0].payload["flag"], "currency_mismatch");

    assert!(
        s.flag_order(&ctx(t0(), &nodes()), o.id, "partially_paid")
            .await
            .expect("flag")
    );
    assert!(
        !s.flag_order(&ctx(t0(), &nodes()), o.id, "partially_paid")
            .await
            .expect("flag"),
        "the same flag twice tells nobody twice"
    );
    let mine = of(&pending(s).await, user);
    assert_eq!(
        kinds(&mine),
        vec![
            NotificationKind::PaymentFlagged,
            NotificationKind::PaymentFlagged
        ]
    );
    assert_eq!(mine[1].payload["flag"], "partially_paid");
    assert_eq!(
        s.order(o.id)
            .await
            .expect("read")
            .expect("exists")
            .flag
            .as_deref(),
        Some("partially_paid")
    );
}
