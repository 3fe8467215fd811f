//! Only payable choices, and pop-ups in the language the user chose.

use super::*;

#[actix_rt::test]
async fn with_stars_only_no_fiat_price_and_no_balance_that_cannot_pay() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let user = 740_001;
    tg.push_update(FakeTelegram::callback(user, &data(&Callback::Buy), MSG));
    let plans = nth_to_chat(&tg, "editMessageText", user, 0).await;
    let shown = format!("{} {:?}", text_of(&plans), plans.params["reply_markup"]);
    assert!(
        !shown.contains('$'),
        "no dollar price with Stars only: {shown}"
    );
    assert!(shown.contains('⭐'), "{shown}");

    let month = data(&Callback::Plan {
        plan: "month".into(),
    });
    tg.push_update(FakeTelegram::callback(user, &month, MSG));
    let methods = nth_to_chat(&tg, "editMessageText", user, 1).await;
    let balance_prefix = data(&Callback::Pay {
        plan: "month".into(),
        provider: Provider::Balance,
        key: None,
    });
    assert!(
        !buttons(&methods)
            .iter()
            .any(|b| b.starts_with(&balance_prefix)),
        "no From balance with an empty balance: {:?}",
        buttons(&methods)
    );
    stars_button(&methods);
    app.stop().await;
}

#[actix_rt::test]
async fn pop_ups_follow_the_chosen_language_and_stale_screens_lead_back() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let user = 740_002;
    // Telegram says English; the user picks Russian.
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    tg.push_update(FakeTelegram::callback(
        user,
        &data(&Callback::SetLanguage(Lang::Ru)),
        MSG,
    ));
    nth_to_chat(&tg, "editMessageText", user, 0).await;

    // A button from another version: the pop-up in Russian.
    let stale = FakeTelegram::callback(user, "0:old-button", MSG);
    let id = stale["callback_query"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    tg.push_update(stale);
    eventually("the stale button is answered", STEP, async || {
        tg.calls_to("answerCallbackQuery").iter().any(|c| {
            c.param_str("callback_query_id") == Some(id.clone())
                && c.param_str("text") == Some(tr(Lang::Ru, "button-expired"))
        })
    })
    .await;

    // A forged admin button: Russian, and a way back to the menu.
    tg.push_update(FakeTelegram::callback(
        user,
        &data(&Callback::AdminUsers { page: 0 }),
        MSG,
    ));
    let screen = nth_to_chat(&tg, "editMessageText", user, 1).await;
    assert_eq!(text_of(&screen), tr(Lang::Ru, "button-expired"));
    assert!(buttons(&screen).contains(&data(&Callback::Menu)));
    app.stop().await;
}
