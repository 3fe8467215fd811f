//! What admins read and set: settings, stats, the user list, a user's orders.

use super::*;

both_backends!(
    settings_are_upserted,
    stats_count_users_and_revenue_per_day_and_provider,
    list_users_pages_and_searches,
    orders_of_newest_first,
);

async fn settings_are_upserted(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    assert_eq!(s.setting("purchases_paused").await.expect("read"), None);
    s.set_setting(&ctx(t0(), &[]), "purchases_paused", "1")
        .await
        .expect("set");
    assert_eq!(
        s.setting("purchases_paused")
            .await
            .expect("read")
            .as_deref(),
        Some("1")
    );
    s.set_setting(
        &ctx(t0() + Duration::minutes(1), &[]),
        "purchases_paused",
        "0",
    )
    .await
    .expect("set again");
    assert_eq!(
        s.setting("purchases_paused")
            .await
            .expect("read")
            .as_deref(),
        Some("0")
    );
    s.set_setting(&ctx(t0(), &[]), "other", "x")
        .await
        .expect("set");
    assert_eq!(
        s.setting("purchases_paused")
            .await
            .expect("read")
            .as_deref(),
        Some("0")
    );
    assert_eq!(
        s.setting("other").await.expect("read").as_deref(),
        Some("x")
    );
}

async fn stats_count_users_and_revenue_per_day_and_provider(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let u: Vec<UserId> = (201..=206).map(uid).collect();
    for &user in &u {
        s.touch_user(
            &ctx(t0() - Duration::days(5), &[]),
            user,
            &Profile::default(),
        )
        .await
        .expect("touch");
    }
    let day1 = t0();
    let day2 = t0() + Duration::days(1);
    // 201 and 202 pay on both days.
    pay(s, &plan_order(s, u[0], Provider::Stars, day1).await, day1).await;
    pay(
        s,
        &plan_order(s, u[1], Provider::Stars, day1).await,
        day1 + Duration::hours(1),
    )
    .await;
    pay(
        s,
        &plan_order(s, u[0], Provider::Cryptobot, day1).await,
        day1 + Duration::hours(2),
    )
    .await;
    pay(
        s,
        &plan_order(s, u[1], Provider::Cryptobot, day1).await,
        day2,
    )
    .await;
    // 203: paid before `since`, then paid and refunded, then revoked.
    let before = t0() - Duration::days(2);
    pay(
        s,
        &plan_order(s, u[2], Provider::Cryptobot, before).await,
        before,
    )
    .await;
    let refunded = plan_order(s, u[2], Provider::Stars, day2).await;
    pay(s, &refunded, day2).await;
    assert!(
        s.refund_order(&ctx(day2 + Duration::hours(1), &[]), u[2], refunded.id)
            .await
            .expect("refund")
            .change
            .applied
    );
    s.revoke(&ctx(day2 + Duration::hours(2), &[]), u[2])
        .await
        .expect("revoke");
    // 204: a day granted (past by now, still `active` until the Scheduler runs); blocked.
    s.grant_days(&ctx(day1, &[]), u[3], 1).await.expect("grant");
    s.set_bot_blocked(u[3], true, day1).await.expect("block");
    // 205: an unpaid order; blocked.
    plan_order(s, u[4], Provider::Nowpayments, day1).await;
    s.set_bot_blocked(u[4], true, day1).await.expect("block");

    let now = t0() + Duration::days(2);
    let stats = s.stats(now, t0() - Duration::days(1)).await.expect("stats");
    assert_eq!(stats.users, 6);
    assert_eq!(
        stats.active, 2,
        "201 and 202; 204's day is over, 203 revoked"
    );
    assert_eq!(stats.blocked, 2);
    let days: Vec<_> = stats.revenue.iter().map(|r| r.day).collect();
    assert!(
        days.windows(2).all(|w| w[0] >= w[1]),
        "newest day first: {days:?}"
    );
    let mut revenue = stats.revenue.clone();
    revenue.sort_by_key(|r| (std::cmp::Reverse(r.day), r.provider.as_str()));
    assert_eq!(
        revenue,
        vec![
            Revenue {
                day: day2.date_naive(),
                provider: Provider::Cryptobot,
                amount: usd(299),
            },
            Revenue {
                day: day1.date_naive(),
                provider: Provider::Cryptobot,
                amount: usd(299),
            },
            Revenue {
                day: day1.date_naive(),
                provider: Provider::Stars,
                amount: xtr(300),
            },
        ]
    );
    let later = s.stats(now, t0() + Duration::days(1)).await.expect("stats");
    assert_eq!(later.revenue.len(), 1, "since filters by payment time");
}

async fn list_users_pages_and_searches(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let names = [
        (9001, Some("Alice_Smith")),
        (9002, Some("bob")),
        (9003, Some("carol%x")),
        (9004, None),
        (9005, Some("ALICEBOB")),
    ];
    for (i, (id, name)) in names.iter().enumerate() {
        s.touch_user(
            &ctx(t0() + Duration::minutes(i as i64), &[]),
            uid(*id),
            &profile(*name, None, None),
        )
        .await
        .expect("touch");
    }
    s.grant_days(&ctx(t0(), &[]), uid(9002), 30)
        .await
        .expect("grant");
    let list = |search: Option<&'static str>, offset: u32, limit: u32| async move {
        let page = s.list_users(search, offset, limit).await.expect("list");
        (
            page.users.iter().map(|u| u.user.get()).collect::<Vec<_>>(),
            page.total,
        )
    };
    assert_eq!(
        list(None, 0, 10).await,
        (vec![9005, 9004, 9003, 9002, 9001], 5)
    );
    assert_eq!(list(None, 0, 2).await, (vec![9005, 9004], 5));
    assert_eq!(list(None, 2, 2).await, (vec![9003, 9002], 5));
    assert_eq!(list(None, 4, 2).await, (vec![9001], 5));
    assert_eq!(list(None, 10, 2).await, (vec![], 5));
    assert_eq!(
        list(Some(""), 0, 10).await.1,
        5,
        "an empty search is no search"
    );

    assert_eq!(list(Some("9003"), 0, 10).await, (vec![9003], 1), "exact id");
    assert_eq!(
        list(Some("900"), 0, 10).await,
        (vec![], 0),
        "ids match exactly"
    );
    assert_eq!(list(Some("alice"), 0, 10).await, (vec![9005, 9001], 2));
    assert_eq!(list(Some("@BOB"), 0, 10).await, (vec![9005, 9002], 2));
    assert_eq!(list(Some("  bob "), 0, 10).await, (vec![9005, 9002], 2));
    assert_eq!(list(Some("@alice"), 1, 10).await, (vec![9001], 2));
    assert_eq!(
        list(Some("_"), 0, 10).await,
        (vec![9001], 1),
        "`_` is literal"
    );
    assert_eq!(
        list(Some("%"), 0, 10).await,
        (vec![9003], 1),
        "`%` is literal"
    );
    assert_eq!(list(Some("e_s"), 0, 10).await, (vec![9001], 1));
    assert_eq!(list(Some("a%"), 0, 10).await, (vec![], 0));
    assert_eq!(list(Some("nobody"), 0, 10).await, (vec![], 0));

    let page = s.list_users(Some("bob"), 0, 10).await.expect("list");
    let bob = &page.users[1];
    assert_eq!(bob.username.as_deref(), Some("bob"));
    assert_eq!(bob.status, Some(SubscriptionStatus::Active));
    assert_eq!(bob.expires_at, Some(t0() + Duration::days(30)));
    assert_eq!(bob.created_at, t0() + Duration::minutes(1));
    assert_eq!(
        (page.users[0].status, page.users[0].expires_at),
        (None, None)
    );
}

async fn orders_of_newest_first(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let (user, other) = (uid(8001), uid(8002));
    let o1 = plan_order(s, user, Provider::Stars, t0()).await;
    let o2 = plan_order(s, user, Provider::Cryptobot, t0() + Duration::minutes(1)).await;
    let o3 = topup_order(s, user, usd(500), t0() + Duration::minutes(2)).await;
    plan_order(s, other, Provider::Stars, t0() + Duration::minutes(3)).await;
    pay(s, &o2, t0() + Duration::minutes(4)).await;
    let ids = |v: Vec<Order>| v.iter().map(|o| o.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.orders_of(user, 10).await.expect("orders")),
        vec![o3.id, o2.id, o1.id]
    );
    assert_eq!(
        ids(s.orders_of(user, 2).await.expect("orders")),
        vec![o3.id, o2.id]
    );
    let orders = s.orders_of(user, 10).await.expect("orders");
    assert_eq!(orders[1].status, OrderStatus::Paid);
    assert_eq!(orders[0].kind, OrderKind::Topup);
    assert_eq!(orders[2], o1);
    assert!(s.orders_of(uid(8999), 10).await.expect("orders").is_empty());
}
