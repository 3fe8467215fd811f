//! Notifications: sent, retried, given up and blocked; reminders once per
//! period, queued once by the scheduler.

use super::*;

both_backends!(
    notifications_are_sent_retried_given_up_and_blocked,
    reminders_fire_once_per_period,
    scheduler_queues_each_reminder_once,
);

async fn notifications_are_sent_retried_given_up_and_blocked(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let (user, other) = (uid(2001), uid(2002));
    s.touch_user(&ctx(t0(), &[]), user, &profile(Some("n"), Some("ru"), None))
        .await
        .expect("touch");
    assert!(pending(s).await.is_empty(), "contact alone notifies nobody");

    s.grant_days(&ctx(t0(), &nodes()), user, 30)
        .await
        .expect("grant");
    assert!(
        s.due_notifications(t0() - Duration::seconds(1), 10)
            .await
            .expect("due")
            .is_empty(),
        "not due before it was committed"
    );
    let due = s.due_notifications(t0(), 10).await.expect("due");
    assert_eq!(due.len(), 1);
    let activated = due[0].clone();
    assert_eq!(activated.user, user);
    assert_eq!(activated.kind, NotificationKind::Activated);
    assert_eq!(activated.payload["days"], 30);
    let exp: DateTime<Utc> =
        serde_json::from_value(activated.payload["expires_at"].clone()).expect("a time");
    assert_eq!(exp, t0() + Duration::days(30));
    assert_eq!(activated.language.as_deref(), Some("ru"));
    assert!(!activated.user_blocked_bot);
    assert_eq!(activated.attempts, 0);
    assert_eq!(activated.broadcast, None);
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 1);

    let t1 = t0() + Duration::seconds(10);
    s.grant_days(&ctx(t1, &nodes()), user, 5)
        .await
        .expect("grant");
    s.grant_days(&ctx(t1, &nodes()), other, 5)
        .await
        .expect("grant");
    let due = s.due_notifications(t1, 10).await.expect("due");
    assert_eq!(
        kinds(&due),
        vec![
            NotificationKind::Activated,
            NotificationKind::Extended,
            NotificationKind::Activated
        ],
        "oldest first"
    );
    assert_eq!(due[1].payload["days"], 5);
    assert_eq!(due[2].language, None, "a user without a language");
    assert_eq!(
        s.due_notifications(t1, 2).await.expect("due").len(),
        2,
        "limited"
    );
    let (extended, for_other) = (due[1].clone(), due[2].clone());
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 3);

    // Sent: gone from the outbox.
    s.notification_sent(activated.id, t1).await.expect("sent");
    let due = s.due_notifications(t1, 10).await.expect("due");
    assert_eq!(
        due.iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![extended.id, for_other.id]
    );
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 2);

    // Retried later: not due before, due after, attempts counted.
    let retry_at = t1 + Duration::seconds(60);
    s.notification_retry(extended.id, "HTTP 502", retry_at)
        .await
        .expect("retry");
    let ids = |v: Vec<PendingNotification>| v.iter().map(|n| n.id).collect::<Vec<_>>();
    assert!(
        !ids(s
            .due_notifications(retry_at - Duration::milliseconds(1), 10)
            .await
            .expect("due"))
        .contains(&extended.id)
    );
    let again = s.due_notifications(retry_at, 10).await.expect("due");
    let again = again
        .iter()
        .find(|n| n.id == extended.id)
        .expect("due again at its time");
    assert_eq!(again.attempts, 1);
    s.notification_retry(extended.id, "HTTP 502", retry_at)
        .await
        .expect("retry");
    let again = of(&pending(s).await, user);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 2);

    // Given up: never due again.
    s.notification_failed(extended.id, "Bad Request: message is too long", retry_at)
        .await
        .expect("failed");
    assert!(of(&pending(s).await, user).is_empty());
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 1);
    // Sent or failed notifications stay as they are.
    s.notification_failed(activated.id, "late", retry_at)
        .await
        .expect("failed");
    s.notification_retry(extended.id, "late", retry_at)
        .await
        .expect("retry");
    let expected: Vec<NotificationRow> = vec![
        ("activated".into(), "sent".into(), 1, None),
        (
            "extended".into(),
            "failed".into(),
            3,
            Some("Bad Request: message is too long".into()),
        ),
    ];
    assert_eq!(db.notification_rows(user).await, expected);

    // Blocking gives up everything pending for that user (and only them).
    let t2 = t1 + Duration::minutes(5);
    s.reissue(&ctx(t2, &nodes()), user).await.expect("reissue");
    s.revoke(&ctx(t2, &nodes()), user).await.expect("revoke");
    assert_eq!(of(&pending(s).await, user).len(), 2);
    s.set_bot_blocked(user, true, t2).await.expect("block");
    assert!(of(&pending(s).await, user).is_empty());
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 1);
    assert_eq!(of(&pending(s).await, other).len(), 1, "others unaffected");
    let rows = db.notification_rows(user).await;
    assert_eq!(rows.len(), 4);
    for (kind, state, _, error) in &rows[2..] {
        assert_eq!(
            (state.as_str(), error.as_deref()),
            ("failed", Some(BLOCKED)),
            "{kind}"
        );
    }
    assert!(
        s.user(user)
            .await
            .expect("read")
            .expect("exists")
            .bot_blocked
    );

    // Queued after the block: pending, but flagged so nobody tries to send it.
    s.grant_days(&ctx(t2, &nodes()), user, 1)
        .await
        .expect("grant");
    let mine = of(&pending(s).await, user);
    assert_eq!(mine.len(), 1);
    assert!(mine[0].user_blocked_bot);
    assert_eq!(mine[0].kind, NotificationKind::Activated);
    assert_eq!(s.outbox_depth().await.expect("depth").notifications, 2);
    s.set_bot_blocked(user, false, t2).await.expect("unblock");
    let mine = of(&pending(s).await, user);
    assert!(!mine[0].user_blocked_bot);
    assert!(
        !s.user(user)
            .await
            .expect("read")
            .expect("exists")
            .bot_blocked
    );
}

/// The reminders due for `user` at `now`.
async fn due_for(
    s: &dyn Store,
    now: DateTime<Utc>,
    user: UserId,
) -> Vec<(ReminderKind, DateTime<Utc>)> {
    s.due_reminders(now, 100)
        .await
        .expect("due reminders")
        .into_iter()
        .filter(|d| d.user == user)
        .map(|d| (d.kind, d.expires_at))
        .collect()
}

async fn reminders_fire_once_per_period(backend: Backend) {
    use ReminderKind::{OneDay, ThreeDays};
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let remind = |now: DateTime<Utc>, user: UserId, kind: ReminderKind, exp: DateTime<Utc>| async move {
        s.remind(&ctx(now, &[]), user, kind, exp)
            .await
            .expect("remind")
            .applied
    };
    let a = uid(3001);
    s.grant_days(&ctx(t0(), &[]), a, 10).await.expect("grant");
    let exp = t0() + Duration::days(10);
    assert!(due_for(s, t0(), a).await.is_empty(), "10 days left");
    assert!(
        due_for(s, exp - Duration::days(3) - Duration::minutes(1), a)
            .await
            .is_empty()
    );

    let n1 = exp - Duration::days(3) + Duration::minutes(1);
    assert_eq!(due_for(s, n1, a).await, vec![(ThreeDays, exp)]);
    assert!(!remind(n1, a, OneDay, exp).await, "not in its window yet");
    assert!(remind(n1, a, ThreeDays, exp).await);
    assert!(
        !remind(n1 + Duration::minutes(1), a, ThreeDays, exp).await,
        "once per period"
    );
    assert!(due_for(s, n1, a).await.is_empty());
    assert!(due_for(s, n1 + Duration::hours(12), a).await.is_empty());

    let n2 = exp - Duration::days(1) + Duration::minutes(1);
    assert_eq!(
        due_for(s, n2, a).await,
        vec![(OneDay, exp)],
        "the one-day reminder only; the three-day one is not due again"
    );
    assert!(remind(n2, a, OneDay, exp).await);
    assert!(!remind(n2, a, OneDay, exp).await);
    assert!(due_for(s, n2, a).await.is_empty());
    assert!(due_for(s, exp - Duration::minutes(1), a).await.is_empty());
    assert!(
        due_for(s, exp, a).await.is_empty(),
        "at expiry: `expired` instead"
    );
    // A reminder for an expiry the subscription no longer has is refused.
    assert!(!remind(n2, a, OneDay, exp - Duration::hours(1)).await);
    assert!(!remind(n2, a, ThreeDays, exp + Duration::days(1)).await);

    let all = pending(s).await;
    assert_eq!(count(&all, a, NotificationKind::RemindThreeDays), 1);
    assert_eq!(count(&all, a, NotificationKind::RemindOneDay), 1);
    let reminder = all
        .iter()
        .find(|n| n.kind == NotificationKind::RemindOneDay)
        .expect("queued");
    let at: DateTime<Utc> =
        serde_json::from_value(reminder.payload["expires_at"].clone()).expect("a time");
    assert_eq!(at, exp);

    // A renewal starts a new period: both reminders fire again for the new expiry.
    let renewed = s.grant_days(&ctx(n2, &[]), a, 30).await.expect("grant");
    let exp2 = exp + Duration::days(30);
    assert_eq!(renewed.snapshot.subscription.expect("sub").expires_at, exp2);
    assert!(due_for(s, n2, a).await.is_empty());
    assert!(!remind(n2, a, OneDay, exp).await, "the old period is over");
    let m1 = exp2 - Duration::days(3) + Duration::minutes(1);
    assert_eq!(due_for(s, m1, a).await, vec![(ThreeDays, exp2)]);
    assert!(remind(m1, a, ThreeDays, exp2).await);
    let m2 = exp2 - Duration::days(1) + Duration::minutes(1);
    assert_eq!(due_for(s, m2, a).await, vec![(OneDay, exp2)]);
    assert!(remind(m2, a, OneDay, exp2).await);
    let all = pending(s).await;
    assert_eq!(count(&all, a, NotificationKind::RemindThreeDays), 2);
    assert_eq!(count(&all, a, NotificationKind::RemindOneDay), 2);

    // A 2-day trial gets only the one-day reminder, a day before it ends.
    let b = uid(3002);
    s.start_trial(&ctx(t0(), &[]), b, 2, true)
        .await
        .expect("trial");
    let exp_b = t0() + Duration::days(2);
    assert!(
        !remind(t0() + Duration::minutes(1), b, ThreeDays, exp_b).await,
        "a 2-day trial never hears `3 days left`"
    );
    let mut reminded = Vec::new();
    let mut now = t0();
    while now <= exp_b {
        for (kind, at) in due_for(s, now, b).await {
            if remind(now, b, kind, at).await {
                reminded.push((kind, now));
            }
        }
        now += Duration::minutes(30);
    }
    assert_eq!(reminded, vec![(OneDay, exp_b - Duration::days(1))]);
    let all = pending(s).await;
    assert_eq!(count(&all, b, NotificationKind::RemindThreeDays), 0);
    assert_eq!(count(&all, b, NotificationKind::RemindOneDay), 1);

    // Revoked and expired subscriptions get none.
    let (c, d) = (uid(3003), uid(3004));
    for u in [c, d] {
        s.grant_days(&ctx(t0(), &[]), u, 10).await.expect("grant");
    }
    s.revoke(&ctx(t0() + Duration::days(1), &[]), c)
        .await
        .expect("revoke");
    let revoked_exp = t0() + Duration::days(1);
    for now in [
        revoked_exp - Duration::hours(12),
        t0() + Duration::days(7) + Duration::minutes(1),
    ] {
        assert!(due_for(s, now, c).await.is_empty());
    }
    assert!(!remind(t0() + Duration::hours(13), c, OneDay, revoked_exp).await);
    let n = t0() + Duration::days(9) + Duration::minutes(1);
    assert_eq!(
        due_for(s, n, d).await,
        vec![(OneDay, t0() + Duration::days(10))]
    );
    s.revoke(&ctx(n, &[]), d).await.expect("revoke");
    assert!(due_for(s, n, d).await.is_empty());
}

async fn scheduler_queues_each_reminder_once(backend: Backend) {
    let sys = System::start(backend, settings()).await;
    let user = uid(3101);
    sys.registry
        .send(
            user,
            GrantDays {
                days: 10,
                by: Principal::Ops,
            },
        )
        .await
        .expect("grant");
    let exp = t0() + Duration::days(10);
    let scheduler = Scheduler::new(sys.registry.clone(), std::time::Duration::from_secs(60), 2);
    assert_eq!(scheduler.tick().await.expect("tick").reminded, 0);
    sys.clock
        .inner
        .set(exp - Duration::days(3) + Duration::minutes(1));
    assert_eq!(scheduler.tick().await.expect("tick").reminded, 1);
    assert_eq!(scheduler.tick().await.expect("tick").reminded, 0);
    sys.clock
        .inner
        .set(exp - Duration::days(1) + Duration::minutes(1));
    assert_eq!(scheduler.tick().await.expect("tick").reminded, 1);
    assert_eq!(scheduler.tick().await.expect("tick").reminded, 0);
    sys.clock.inner.set(exp);
    let report = scheduler.tick().await.expect("tick");
    assert_eq!((report.expired, report.reminded), (1, 0));
    assert_eq!(
        kinds(&of(&pending(sys.store().as_ref()).await, user)),
        vec![
            NotificationKind::Activated,
            NotificationKind::RemindThreeDays,
            NotificationKind::RemindOneDay,
            NotificationKind::Expired,
        ]
    );
}
