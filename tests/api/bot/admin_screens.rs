//! Admin screens for people: readable users, orders and audit entries in the
//! admin's language, Back to the list, `/grant` that explains bad input and
//! asks before adding someone who never started the bot.

use subvisor::bot::i18n::{Arg, tr_with};

use super::*;

const RU: Option<&str> = Some("ru");

/// The `n`-th message the bot sent the admin after `before` of them.
async fn admin_reply(tg: &FakeTelegram, before: usize) -> Call {
    nth_to_chat(tg, "sendMessage", ADMIN, before).await
}

fn sent(tg: &FakeTelegram) -> usize {
    to_chat(tg, "sendMessage", ADMIN).len()
}

#[actix_rt::test]
async fn a_user_reads_as_words_with_a_way_back_to_the_list() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let user = 700_001;
    let payload = buy_with_stars(&app, &tg, user, "charge-admin-view").await;

    let before = sent(&tg);
    tg.push_update(FakeTelegram::message(ADMIN, &format!("/user {user}"), None));
    let view = admin_reply(&tg, before).await;
    let text = text_of(&view);
    for code in [
        "create_order",
        "first_contact",
        "apply_payment",
        "user:700001",
        "stars ·",
    ] {
        assert!(!text.contains(code), "internal code {code:?} in: {text}");
    }
    let order = &payload[..8];
    assert!(!text.contains(order), "a bare order prefix in: {text}");
    for words in [
        en("admin-action-first-contact"),
        en("admin-action-create-order"),
        en("admin-action-apply-payment"),
        en("admin-order-paid"),
        en("admin-by-user"),
        "⭐ Telegram Stars".to_owned(),
    ] {
        assert!(text.contains(&words), "{words:?} missing in: {text}");
    }
    let back = data(&Callback::AdminUsers { page: 0 });
    assert!(buttons(&view).contains(&back), "{:?}", buttons(&view));

    // The list in Russian: localized statuses.
    let before = sent(&tg);
    tg.push_update(FakeTelegram::message(ADMIN, "/users", RU));
    let list = admin_reply(&tg, before).await;
    let text = text_of(&list);
    assert!(text.contains("активна до"), "{text}");
    assert!(!text.contains("active"), "{text}");
    app.stop().await;
}

#[actix_rt::test]
async fn grant_explains_bad_input_and_asks_before_adding_a_stranger() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let max_days = tr_with(
        Lang::En,
        "admin-grant-days-range",
        &[("max", Arg::Int(3660))],
    );
    for (args, why) in [
        ("3003 0", max_days.clone()),
        ("3003 5000", max_days),
        ("3003 soon", en("admin-grant-bad-days")),
        ("@someone 30", en("admin-grant-bad-user")),
        ("3003", en("admin-grant-bad-arguments")),
    ] {
        let before = sent(&tg);
        tg.push_update(FakeTelegram::message(
            ADMIN,
            &format!("/grant {args}"),
            None,
        ));
        let answer = admin_reply(&tg, before).await;
        assert!(
            text_of(&answer).contains(&why),
            "/grant {args}: {:?} does not say {why:?}",
            text_of(&answer)
        );
    }

    // Someone who never started the bot: asked first, nothing stored.
    let stranger = 5555;
    let before = sent(&tg);
    tg.push_update(FakeTelegram::message(
        ADMIN,
        &format!("/grant {stranger} 30"),
        None,
    ));
    let ask = admin_reply(&tg, before).await;
    assert!(text_of(&ask).contains("never started"), "{ask:?}");
    let confirm = buttons(&ask)
        .into_iter()
        .find(|d| {
            matches!(Callback::decode(d),
                Ok(Callback::AdminGrant { user, days: 30, key: Some(_) }) if user == stranger)
        })
        .unwrap_or_else(|| panic!("a keyed Confirm in {:?}", buttons(&ask)));
    let stored = |id| {
        let app = &app;
        async move { app.registry.store().user(uid(id)).await.expect("store") }
    };
    assert!(stored(stranger).await.is_none(), "not added before Confirm");

    // A grant button for another stranger that was never asked about asks.
    let other = 5556;
    let edits = to_chat(&tg, "editMessageText", ADMIN).len();
    let forged = data(&Callback::AdminGrant {
        user: other,
        days: 30,
        key: None,
    });
    tg.push_update(FakeTelegram::callback(ADMIN, &forged, MSG));
    let asked = nth_to_chat(&tg, "editMessageText", ADMIN, edits).await;
    assert!(text_of(&asked).contains("never started"), "{asked:?}");
    assert!(stored(other).await.is_none());

    // Confirm (of the first question, asked last for the other): asked again,
    // then confirmed.
    tg.push_update(FakeTelegram::message(
        ADMIN,
        &format!("/grant {stranger} 30"),
        None,
    ));
    admin_reply(&tg, before + 1).await;
    tg.push_update(FakeTelegram::callback(ADMIN, &confirm, MSG));
    let granted = nth_to_chat(&tg, "editMessageText", ADMIN, edits + 1).await;
    assert!(text_of(&granted).contains("Granted"), "{granted:?}");
    let s = stored(stranger).await.expect("added once confirmed");
    assert!(s.subscription.is_some());
    app.stop().await;
}

/// Confirms the broadcast previewed in `preview`.
fn confirm_of(preview: &Call) -> String {
    buttons(preview)
        .into_iter()
        .find(|d| matches!(Callback::decode(d), Ok(Callback::BroadcastConfirm { .. })))
        .expect("a confirm button")
}

#[actix_rt::test]
async fn broadcasts_count_neither_admins_nor_blocked_users() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    // The admin is a user of the bot too.
    tg.push_update(FakeTelegram::message(ADMIN, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", ADMIN, 0).await;

    // Nobody else yet: the report at once, never a "0/0" progress.
    tg.push_update(FakeTelegram::message(ADMIN, "/broadcast Early", None));
    let preview = message_with(&tg, ADMIN, "Broadcast preview").await;
    assert!(text_of(&preview).contains("recipients: 0"), "{preview:?}");
    tg.push_update(FakeTelegram::callback(ADMIN, &confirm_of(&preview), MSG));
    let report = message_with(&tg, ADMIN, "Broadcast finished").await;
    assert!(text_of(&report).contains("Recipients: 0"), "{report:?}");

    let (one, two, gone) = (710_001, 710_002, 710_003);
    for user in [one, two, gone] {
        tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
        nth_to_chat(&tg, "sendMessage", user, 0).await;
    }
    app.registry
        .store()
        .set_bot_blocked(uid(gone), true, Utc::now())
        .await
        .expect("mark blocked");

    let before = sent(&tg);
    tg.push_update(FakeTelegram::message(ADMIN, "/broadcast News", None));
    let preview = admin_reply(&tg, before).await;
    assert!(text_of(&preview).contains("recipients: 2"), "{preview:?}");
    tg.push_update(FakeTelegram::callback(ADMIN, &confirm_of(&preview), MSG));
    let progress = message_with(&tg, ADMIN, "Sending").await;
    assert!(text_of(&progress).contains("0/2"), "{progress:?}");
    eventually("the report", STEP, async || {
        to_chat(&tg, "sendMessage", ADMIN).iter().any(|c| {
            text_of(c).contains("Broadcast finished") && text_of(c).contains("Recipients: 2")
        })
    })
    .await;
    for user in [one, two] {
        message_with(&tg, user, "News").await;
    }
    let admin_texts: Vec<String> = to_chat(&tg, "sendMessage", ADMIN)
        .iter()
        .map(text_of)
        .collect();
    assert!(
        !admin_texts.iter().any(|t| t == "News" || t == "Early"),
        "the admin is not a recipient: {admin_texts:?}"
    );
    assert!(
        !admin_texts.iter().any(|t| t.contains("0/0")),
        "{admin_texts:?}"
    );
    app.stop().await;
}

/// Purchase alerts still queued.
async fn purchase_alerts(app: &TestApp) -> usize {
    let far = Utc::now() + chrono::Duration::days(1);
    app.registry
        .store()
        .due_alerts(far, 1000)
        .await
        .expect("alerts")
        .iter()
        .filter(|a| a.kind == subvisor_actors::domain::AlertKind::Purchase)
        .count()
}

#[actix_rt::test]
async fn admins_hear_of_purchases_when_they_ask_to() {
    let alerts_chat = -100_777;
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.telegram.alerts_chat = Some(alerts_chat);
        s.telegram.purchase_alerts = true;
    })
    .await;
    buy_with_stars(&app, &tg, 720_001, "charge-alerted").await;
    let alert = message_with(&tg, alerts_chat, "Purchase").await;
    let text = text_of(&alert);
    for part in ["720001", "150 ⭐", "Telegram Stars", "1 month"] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    app.stop().await;

    // Not asked for (the default): the alert is dropped, nobody is told.
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.telegram.alerts_chat = Some(alerts_chat);
    })
    .await;
    buy_with_stars(&app, &tg, 720_002, "charge-quiet").await;
    eventually("the purchase alert is done with", STEP, async || {
        purchase_alerts(&app).await == 0
    })
    .await;
    assert!(
        to_chat(&tg, "sendMessage", alerts_chat).is_empty(),
        "{:?}",
        to_chat(&tg, "sendMessage", alerts_chat)
    );
    app.stop().await;
}

async fn users_show_names_and_are_found_by_a_piece_of_one(db: Db) {
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |_| {}).await;
    let named = 730_001;
    tg.push_update(FakeTelegram::message(named, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", named, 0).await;
    let ivan = 730_002;
    app.registry
        .store()
        .touch_user(
            &WriteCtx {
                now: Utc::now(),
                by: Principal::System,
                nodes: &[],
            },
            uid(ivan),
            &Profile {
                display_name: Some("Иван Петров".into()),
                ..Profile::default()
            },
        )
        .await
        .expect("touch");

    let before = sent(&tg);
    tg.push_update(FakeTelegram::message(ADMIN, "/users", None));
    let list = admin_reply(&tg, before).await;
    assert!(text_of(&list).contains(&format!("User{named}")), "{list:?}");
    let labels: Vec<String> = list.params["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r.as_array().into_iter().flatten())
        .filter_map(|b| b["text"].as_str().map(str::to_owned))
        .collect();
    assert!(labels.contains(&"Иван Петров".to_owned()), "{labels:?}");

    // A piece of the name, in another case (lowercased beyond ASCII).
    let before = sent(&tg);
    tg.push_update(FakeTelegram::message(ADMIN, "/users петр", None));
    let found = admin_reply(&tg, before).await;
    let text = text_of(&found);
    assert!(text.contains("Иван Петров"), "{text}");
    assert!(!text.contains(&named.to_string()), "{text}");
    app.stop().await;
}

both_backends!(users_show_names_and_are_found_by_a_piece_of_one);
