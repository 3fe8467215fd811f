//! Over time: reminders and expiry, users who blocked the bot and came back,
//! the referral bonus, group chats.

use super::*;

// --- 9. reminders and expiry ----------------------------------------------------

#[actix_rt::test]
async fn reminders_and_expiry_are_sent_once_each() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (app, tg) = spawn_bot(Db::Sqlite, clock.clone(), |_| {}).await;
    let user = 900_001;
    let (status, view) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": 5 }))
        .await;
    assert_eq!(status, 200, "{view}");
    card_message(&tg, user).await;
    let expires = snapshot(&app, user)
        .await
        .subscription
        .expect("sub")
        .expires_at;
    let three = "ends in 3 days";
    let one = "ends tomorrow";
    let expired = "access has expired";
    // Long enough for several Scheduler and Notifier passes.
    let settle = || tokio::time::sleep(Duration::from_millis(800));

    clock.set(expires - chrono::Duration::hours(2 * 24 + 23));
    let reminder = message_with(&tg, user, three).await;
    assert!(buttons(&reminder).contains(&data(&Callback::Buy)));
    clock.set(expires - chrono::Duration::hours(2 * 24 + 20));
    settle().await;
    assert_eq!(count_messages(&tg, user, three), 1);

    clock.set(expires - chrono::Duration::hours(23));
    let reminder = message_with(&tg, user, one).await;
    assert!(buttons(&reminder).contains(&data(&Callback::Buy)));
    clock.set(expires - chrono::Duration::hours(2));
    settle().await;
    assert_eq!(count_messages(&tg, user, one), 1);
    assert_eq!(count_messages(&tg, user, three), 1);

    clock.set(expires + chrono::Duration::minutes(1));
    let gone = message_with(&tg, user, expired).await;
    assert!(
        buttons(&gone).contains(&data(&Callback::Buy)),
        "a Renew button"
    );
    let s = snapshot(&app, user).await;
    assert_eq!(
        s.subscription.as_ref().map(|s| s.status),
        Some(SubscriptionStatus::Expired)
    );
    clock.set(expires + chrono::Duration::hours(1));
    settle().await;
    assert_eq!(count_messages(&tg, user, three), 1);
    assert_eq!(count_messages(&tg, user, one), 1);
    assert_eq!(count_messages(&tg, user, expired), 1);
    app.stop().await;
}

// --- users who blocked the bot and came back --------------------------------------

#[actix_rt::test]
async fn a_user_back_after_blocking_the_bot_is_notified_again() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let (pressing, paying) = (1_000_001, 1_000_002);
    // The payer's invoice is out before they block the bot.
    let payload = invoice(&tg, paying).await;
    for user in [pressing, paying] {
        tg.block_chat(user);
        let (status, _) = app
            .post(&format!("/ops/users/{user}/grant"), json!({ "days": 30 }))
            .await;
        assert_eq!(status, 200);
    }
    for user in [pressing, paying] {
        eventually("the user is marked as blocked", STEP, async || {
            snapshot(&app, user).await.bot_blocked
        })
        .await;
        tg.unblock_chat(user);
    }

    // Pressing an old button (no /start) proves the bot is not blocked.
    tg.push_update(FakeTelegram::callback(
        pressing,
        &data(&Callback::MySub),
        MSG,
    ));
    nth_to_chat(&tg, "editMessageText", pressing, 0).await;
    let (status, _) = app
        .post(
            &format!("/ops/users/{pressing}/grant"),
            json!({ "days": 30 }),
        )
        .await;
    assert_eq!(status, 200);
    message_with(&tg, pressing, "Subscription extended").await;
    assert!(!snapshot(&app, pressing).await.bot_blocked);

    // So does paying an invoice.
    assert_eq!(
        pre_checkout(&tg, paying, "XTR", 150, &payload).await,
        (true, None)
    );
    stars_paid(&app, &tg, paying, &payload, "charge-back").await;
    message_with(&tg, paying, "Subscription extended").await;
    assert!(!snapshot(&app, paying).await.bot_blocked);
    app.stop().await;
}

// --- referral bonus -----------------------------------------------------------------

#[actix_rt::test]
async fn a_referrer_gets_the_bonus_once_when_the_friend_pays() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.referral.bonus_minor = 100
    })
    .await;
    let (referrer, friend) = (1_100_001, 1_100_002);
    tg.push_update(FakeTelegram::message(referrer, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", referrer, 0).await;
    tg.push_update(FakeTelegram::message(
        friend,
        &format!("/start ref{referrer}"),
        Some("en"),
    ));
    nth_to_chat(&tg, "sendMessage", friend, 0).await;
    assert_eq!(snapshot(&app, friend).await.referrer, Some(uid(referrer)));

    buy_with_stars(&app, &tg, friend, "charge-friend-1").await;
    message_with(&tg, referrer, "has been added to your balance").await;
    assert_eq!(snapshot(&app, referrer).await.balance_minor, 100);
    // A second purchase gives no second bonus.
    buy_with_stars(&app, &tg, friend, "charge-friend-2").await;
    message_with(&tg, friend, "Subscription extended").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count_messages(&tg, referrer, "has been added to your balance"),
        1
    );
    assert_eq!(snapshot(&app, referrer).await.balance_minor, 100);
    let ledger = app
        .registry
        .store()
        .ledger(uid(referrer))
        .await
        .expect("ledger");
    assert_eq!(
        ledger
            .iter()
            .map(|e| (e.kind, e.amount.minor))
            .collect::<Vec<_>>(),
        vec![(LedgerKind::ReferralBonus, 100)]
    );

    tg.push_update(FakeTelegram::callback(
        referrer,
        &data(&Callback::Referral),
        MSG,
    ));
    let screen = nth_to_chat(&tg, "editMessageText", referrer, 0).await;
    let text = text_of(&screen);
    assert!(text.contains("Friends invited: 1"), "{text}");
    assert!(
        text.contains(&format!("start=ref{referrer}")),
        "the referral link: {text}"
    );
    app.stop().await;
}

// --- group chats ----------------------------------------------------------------------

#[actix_rt::test]
async fn links_are_never_posted_in_a_group_chat() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let user = 1_200_001;
    let group = -1_001_234_567_890;
    let (status, _) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": 30 }))
        .await;
    assert_eq!(status, 200);
    card_message(&tg, user).await;

    for command in ["/sub", "/start", "/menu", "/help", "hello"] {
        let mut update = FakeTelegram::message(user, command, Some("en"));
        update["message"]["chat"] = json!({
            "id": group, "type": "supergroup", "title": "Some group",
        });
        tg.push_update(update);
    }
    let mut pressed = FakeTelegram::callback(user, &data(&Callback::Links), MSG);
    pressed["callback_query"]["message"]["chat"] = json!({
        "id": group, "type": "supergroup", "title": "Some group",
    });
    let query = pressed["callback_query"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    tg.push_update(pressed);
    // The same user's private /sub is handled after those (one user's
    // updates run in order).
    let before = to_chat(&tg, "sendMessage", user).len();
    tg.push_update(FakeTelegram::message(user, "/sub", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, before).await;
    let in_group: Vec<String> = tg
        .calls()
        .iter()
        .filter(|c| c.chat_id == Some(group))
        .map(|c| format!("{} {}", c.method, text_of(c)))
        .collect();
    assert!(
        in_group.is_empty(),
        "the bot talks in private chats only: {in_group:?}"
    );
    assert!(
        tg.calls_to("answerCallbackQuery")
            .iter()
            .any(|c| c.param_str("callback_query_id") == Some(query.clone())),
        "the button in the group is answered"
    );
    app.stop().await;
}
