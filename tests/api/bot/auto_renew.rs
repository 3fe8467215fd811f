//! Auto-renewal from the balance, end to end: the toggle on "My
//! subscription", the Scheduler renewing once before expiry (one message),
//! and nothing after the toggle is off.

use super::*;

/// Presses `cb` and waits for the screen it edits into (the `n`-th edit).
async fn press(tg: &FakeTelegram, user: i64, cb: &Callback, n: usize) -> Call {
    tg.push_update(FakeTelegram::callback(user, &data(cb), MSG));
    nth_to_chat(tg, "editMessageText", user, n).await
}

#[actix_rt::test]
async fn the_toggle_renews_once_per_period_and_off_stops_it() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (app, tg) = spawn_bot(Db::Sqlite, clock.clone(), |_| {}).await;
    let user = 1_200_001;
    let renewed = "Renewed from balance";
    // Long enough for several Scheduler and Notifier passes.
    let settle = || tokio::time::sleep(Duration::from_millis(800));

    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    app.credit(user, 1000).await;
    let mut edits = 0;
    // A plan bought from the balance: the plan auto-renewal will buy again.
    let pay = Callback::Pay {
        plan: "month".into(),
        provider: Provider::Balance,
        key: Some(7),
    };
    press(&tg, user, &pay, edits).await;
    edits += 1;
    eventually("the plan is paid", STEP, async || {
        is_live(&app, &snapshot(&app, user).await)
    })
    .await;
    assert_eq!(snapshot(&app, user).await.balance_minor, 1000 - 299);

    // Off at first; the card offers to turn it on.
    let card = press(&tg, user, &Callback::MySub, edits).await;
    edits += 1;
    assert!(
        buttons(&card).contains(&data(&Callback::AutoRenewOn)),
        "{card:?}"
    );
    assert!(!buttons(&card).contains(&data(&Callback::AutoRenewOff)));
    let on = press(&tg, user, &Callback::AutoRenewOn, edits).await;
    edits += 1;
    assert!(
        text_of(&on).contains("Auto-renewal is on"),
        "{}",
        text_of(&on)
    );
    assert!(buttons(&on).contains(&data(&Callback::AutoRenewOff)));
    let (status, view) = app.get(&format!("/ops/users/{user}")).await;
    assert_eq!(status, 200);
    assert_eq!(view["auto_renew"], json!("month"), "{view}");

    // A day before expiry the Scheduler renews it, and says so once.
    let expires = snapshot(&app, user)
        .await
        .subscription
        .expect("sub")
        .expires_at;
    clock.set(expires - chrono::Duration::hours(23));
    let message = message_with(&tg, user, renewed).await;
    let text = text_of(&message);
    assert!(text.contains("30 days") && text.contains("$2.99"), "{text}");
    settle().await;
    clock.set(expires - chrono::Duration::hours(22));
    settle().await;
    assert_eq!(count_messages(&tg, user, renewed), 1);
    // Its "extended" notice is not sent besides.
    assert_eq!(count_messages(&tg, user, "Subscription extended"), 0);
    let s = snapshot(&app, user).await;
    assert_eq!(s.balance_minor, 1000 - 2 * 299);
    let next = s.subscription.expect("sub").expires_at;
    assert_eq!(next, expires + chrono::Duration::days(30));

    // Off: the next period is left alone.
    let off = press(&tg, user, &Callback::AutoRenewOff, edits).await;
    assert!(
        text_of(&off).contains("Auto-renewal is off"),
        "{}",
        text_of(&off)
    );
    assert!(buttons(&off).contains(&data(&Callback::AutoRenewOn)));
    clock.set(next - chrono::Duration::hours(23));
    settle().await;
    clock.set(next - chrono::Duration::hours(2));
    settle().await;
    assert_eq!(count_messages(&tg, user, renewed), 1);
    assert_eq!(count_messages(&tg, user, "could not renew"), 0);
    let s = snapshot(&app, user).await;
    assert_eq!(s.balance_minor, 1000 - 2 * 299);
    assert_eq!(s.subscription.expect("sub").expires_at, next);
    app.stop().await;
}

#[actix_rt::test]
async fn a_short_balance_gets_one_reminder_with_a_top_up_button() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (app, tg) = spawn_bot(Db::Sqlite, clock.clone(), |_| {}).await;
    let user = 1_200_002;
    let short = "could not renew";
    let settle = || tokio::time::sleep(Duration::from_millis(800));
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    app.credit(user, 299).await;
    let pay = Callback::Pay {
        plan: "month".into(),
        provider: Provider::Balance,
        key: Some(8),
    };
    press(&tg, user, &pay, 0).await;
    eventually("the plan is paid", STEP, async || {
        is_live(&app, &snapshot(&app, user).await)
    })
    .await;
    press(&tg, user, &Callback::AutoRenewOn, 1).await;

    let expires = snapshot(&app, user)
        .await
        .subscription
        .expect("sub")
        .expires_at;
    clock.set(expires - chrono::Duration::hours(23));
    let reminder = message_with(&tg, user, short).await;
    assert!(
        buttons(&reminder).contains(&data(&Callback::TopUp)),
        "{reminder:?}"
    );
    settle().await;
    clock.set(expires - chrono::Duration::hours(3));
    settle().await;
    assert_eq!(count_messages(&tg, user, short), 1);
    let s = snapshot(&app, user).await;
    assert_eq!(s.balance_minor, 0);
    assert_eq!(s.subscription.expect("sub").expires_at, expires);
    app.stop().await;
}
