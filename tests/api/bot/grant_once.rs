//! An admin's grant button pressed twice (Confirm for someone who never
//! started the bot, or +30 on a user) grants once: the key drawn with the
//! button is kept with the grant, the second press says it is done.

use super::*;

/// The keyed grant button of `days` for `user` on `screen`.
fn grant_button(screen: &Call, user: i64, days: u32) -> String {
    buttons(screen)
        .into_iter()
        .find(|d| {
            matches!(Callback::decode(d),
                Ok(Callback::AdminGrant { user: u, days: d, key: Some(_) }) if u == user && d == days)
        })
        .unwrap_or_else(|| panic!("no keyed grant button in {:?}", buttons(screen)))
}

/// Presses `button` twice at once; returns the two answers (edits).
async fn press_twice(tg: &FakeTelegram, button: &str) -> (String, String) {
    let edits = to_chat(tg, "editMessageText", ADMIN).len();
    tg.push_update(FakeTelegram::callback(ADMIN, button, MSG));
    tg.push_update(FakeTelegram::callback(ADMIN, button, MSG));
    let first = nth_to_chat(tg, "editMessageText", ADMIN, edits).await;
    let second = nth_to_chat(tg, "editMessageText", ADMIN, edits + 1).await;
    (text_of(&first), text_of(&second))
}

async fn grants_of(app: &TestApp, user: i64) -> usize {
    let audit = app.registry.queries().recent_audit(uid(user), 100).await;
    let audit = audit.expect("audit");
    audit.iter().filter(|a| a.action == "grant_days").count()
}

async fn a_grant_button_pressed_twice_grants_once(db: Db) {
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |_| {}).await;
    let already = "Already done";
    let said = subvisor::bot::i18n::tr_with(Lang::En, "admin-grant-already", &[("user", 1.into())]);
    assert!(said.contains(already), "{said}");

    // Confirm for someone who never started the bot.
    let stranger = 5_757;
    let asks = to_chat(&tg, "sendMessage", ADMIN).len();
    tg.push_update(FakeTelegram::message(
        ADMIN,
        &format!("/grant {stranger} 30"),
        None,
    ));
    let ask = nth_to_chat(&tg, "sendMessage", ADMIN, asks).await;
    let confirm = grant_button(&ask, stranger, 30);
    let (first, second) = press_twice(&tg, &confirm).await;
    assert!(first.contains("Granted"), "{first}");
    assert!(second.contains(already), "{second}");
    assert_eq!(grants_of(&app, stranger).await, 1, "one grant");
    let expires = snapshot(&app, stranger)
        .await
        .subscription
        .expect("granted");
    let left = expires.expires_at - Utc::now();
    assert!(
        left <= chrono::Duration::days(30),
        "30 days, not 60: {left}"
    );

    // +30 on a known user's view.
    let user = 5_758;
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    let views = to_chat(&tg, "sendMessage", ADMIN).len();
    tg.push_update(FakeTelegram::message(ADMIN, &format!("/user {user}"), None));
    let view = nth_to_chat(&tg, "sendMessage", ADMIN, views).await;
    let plus30 = grant_button(&view, user, 30);
    let (first, second) = press_twice(&tg, &plus30).await;
    assert!(first.contains("Granted"), "{first}");
    assert!(second.contains(already), "{second}");
    assert_eq!(grants_of(&app, user).await, 1, "one grant");

    // A fresh view draws a fresh key: that press grants again.
    let views = to_chat(&tg, "sendMessage", ADMIN).len();
    tg.push_update(FakeTelegram::message(ADMIN, &format!("/user {user}"), None));
    let view = nth_to_chat(&tg, "sendMessage", ADMIN, views).await;
    let again = grant_button(&view, user, 30);
    assert_ne!(again, plus30);
    let edits = to_chat(&tg, "editMessageText", ADMIN).len();
    tg.push_update(FakeTelegram::callback(ADMIN, &again, MSG));
    let granted = nth_to_chat(&tg, "editMessageText", ADMIN, edits).await;
    assert!(text_of(&granted).contains("Granted"), "{granted:?}");
    assert_eq!(grants_of(&app, user).await, 2);
    app.stop().await;
}

both_backends!(a_grant_button_pressed_twice_grants_once);
