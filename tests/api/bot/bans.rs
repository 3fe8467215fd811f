//! The trial is for users who never paid; a ban blocks buying and the
//! trial until `/unban` (a plain revoke does not).

use super::*;

async fn press(tg: &FakeTelegram, user: i64, action: &Callback) -> Call {
    let before = to_chat(tg, "editMessageText", user).len();
    tg.push_update(FakeTelegram::callback(user, &data(action), MSG));
    nth_to_chat(tg, "editMessageText", user, before).await
}

async fn admin_says(tg: &FakeTelegram, text: &str) -> String {
    let before = to_chat(tg, "sendMessage", ADMIN).len();
    tg.push_update(FakeTelegram::message(ADMIN, text, Some("en")));
    text_of(&nth_to_chat(tg, "sendMessage", ADMIN, before).await)
}

async fn a_paying_user_cannot_start_the_trial(db: Db) {
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |s| s.trial.days = 3).await;
    let user = 730_001;
    buy_with_stars(&app, &tg, user, "charge-trial").await;
    // The payment screen turns to "paid ✓" (an edit, after the payment is
    // applied): wait for it, so the next edit is the answer to the trial.
    let paid_text = en("invoice-paid");
    crate::helpers::eventually(
        "the payment screen says paid",
        Duration::from_secs(10),
        async || {
            to_chat(&tg, "editMessageText", user)
                .iter()
                .any(|c| text_of(c) == paid_text)
        },
    )
    .await;
    let paid = snapshot(&app, user).await;
    // The menu does not offer what would be refused.
    let menu = press(&tg, user, &Callback::Menu).await;
    assert!(
        !buttons(&menu).contains(&data(&Callback::Trial)),
        "{menu:?}"
    );
    let refused = press(&tg, user, &Callback::Trial).await;
    assert_eq!(text_of(&refused), en("trial-new-users"));
    assert!(buttons(&refused).contains(&data(&Callback::Menu)));
    let after = snapshot(&app, user).await;
    assert!(!after.trial_used, "the trial is still unused");
    assert_eq!(
        after.subscription.map(|s| s.expires_at),
        paid.subscription.map(|s| s.expires_at),
        "no extra days"
    );
    app.stop().await;
}

async fn a_banned_user_cannot_buy_or_start_the_trial_until_unbanned(db: Db) {
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |s| {
        s.trial.days = 3;
        s.telegram.support = Some("@help_desk".into());
    })
    .await;
    let user = 730_002;
    tg.push_update(FakeTelegram::message(user, "/start", Some("ru")));
    let menu = nth_to_chat(&tg, "sendMessage", user, 0).await;
    assert!(buttons(&menu).contains(&data(&Callback::Trial)), "{menu:?}");

    assert!(admin_says(&tg, "/ban").await.contains("/ban"), "usage");
    let told = admin_says(&tg, &format!("/ban {user}")).await;
    assert!(
        told.contains(&user.to_string()) && told.contains("banned"),
        "{told}"
    );

    let menu = press(&tg, user, &Callback::Menu).await;
    assert!(
        !buttons(&menu).contains(&data(&Callback::Trial)),
        "{menu:?}"
    );
    let trial = press(&tg, user, &Callback::Trial).await;
    assert_eq!(text_of(&trial), tr(Lang::Ru, "banned"));
    assert!(!snapshot(&app, user).await.trial_used);

    // Pay: no invoice, the ban is said (with Support).
    let before = to_chat(&tg, "sendMessage", user).len();
    tg.push_update(FakeTelegram::callback(user, &pay_stars(), MSG));
    let said = nth_to_chat(&tg, "sendMessage", user, before).await;
    assert_eq!(text_of(&said), tr(Lang::Ru, "banned"));
    assert!(
        said.params
            .to_string()
            .contains(&tr(Lang::Ru, "btn-support")),
        "{said:?}"
    );
    assert!(to_chat(&tg, "sendInvoice", user).is_empty(), "no invoice");

    admin_says(&tg, &format!("/unban {user}")).await;
    let menu = press(&tg, user, &Callback::Menu).await;
    assert!(buttons(&menu).contains(&data(&Callback::Trial)), "{menu:?}");
    let started = press(&tg, user, &Callback::Trial).await;
    assert!(snapshot(&app, user).await.trial_used, "{started:?}");
    let payload = invoice(&tg, user).await;
    assert!(!payload.is_empty());
    app.stop().await;
}

both_backends!(
    a_paying_user_cannot_start_the_trial,
    a_banned_user_cannot_buy_or_start_the_trial_until_unbanned
);
