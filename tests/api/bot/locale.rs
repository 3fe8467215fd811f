//! The user's terms: dates in `[bot] timezone` (no "UTC" suffix), plan
//! titles and descriptions per language (buttons, payment screen, the Stars
//! invoice), `[bot] language_map`, and the Balance screen's promise.

use chrono::TimeZone;
use subvisor::config::LocalizedText;

use super::*;

fn per_language(en: &str, ru: &str) -> LocalizedText {
    LocalizedText::PerLanguage(
        [
            ("en".to_owned(), en.to_owned()),
            ("ru".to_owned(), ru.to_owned()),
        ]
        .into(),
    )
}

async fn press(tg: &FakeTelegram, user: i64, action: &Callback) -> Call {
    let before = to_chat(tg, "editMessageText", user).len();
    tg.push_update(FakeTelegram::callback(user, &data(action), MSG));
    nth_to_chat(tg, "editMessageText", user, before).await
}

#[actix_rt::test]
async fn dates_are_shown_in_the_configured_time_zone_without_utc() {
    // 20:00 UTC on New Year's Eve: already the next day in Vladivostok (+10).
    let start = Utc.with_ymd_and_hms(2026, 12, 31, 20, 0, 0).single();
    let clock = Arc::new(ManualClock::new(start.expect("a valid moment")));
    let (app, tg) = spawn_bot(Db::Sqlite, clock, |s| {
        s.bot.timezone = "Asia/Vladivostok".into();
    })
    .await;
    let user = 740_001;
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    let (status, _) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": 30 }))
        .await;
    assert_eq!(status, 200);
    // Expires 2027-01-30 20:00 UTC = 31 Jan 06:00 in Vladivostok.
    let card = text_of(&card_message(&tg, user).await);
    assert!(card.contains("31 Jan 2027, 06:00"), "{card}");
    assert!(!card.contains("UTC"), "{card}");
    let menu = press(&tg, user, &Callback::Menu).await;
    assert!(text_of(&menu).contains("31 Jan 2027, 06:00"), "{menu:?}");
    app.stop().await;
}

#[actix_rt::test]
async fn plan_titles_and_descriptions_follow_the_users_language_up_to_the_stars_invoice() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        let month = s.plans.iter_mut().find(|p| p.id == "month");
        let month = month.expect("the default config has a month plan");
        month.title = per_language("1 month", "1 месяц");
        month.description = Some(per_language("Fast VPN for a month", "Быстрый VPN на месяц"));
    })
    .await;
    let (en_user, ru_user) = (740_011, 740_012);
    for (user, lang) in [(en_user, "en"), (ru_user, "ru")] {
        tg.push_update(FakeTelegram::message(user, "/start", Some(lang)));
        nth_to_chat(&tg, "sendMessage", user, 0).await;
    }
    let plans = press(&tg, ru_user, &Callback::Buy).await;
    assert!(
        labels(&plans).iter().any(|l| l.starts_with("1 месяц")),
        "{:?}",
        labels(&plans)
    );
    let month = Callback::Plan {
        plan: "month".into(),
    };
    let pay = press(&tg, ru_user, &month).await;
    assert!(text_of(&pay).contains("1 месяц"), "{}", text_of(&pay));
    assert!(text_of(&pay).contains("Быстрый VPN на месяц"));

    invoice(&tg, ru_user).await;
    let sent = to_chat(&tg, "sendInvoice", ru_user);
    let ru_invoice = sent.last().expect("an invoice");
    assert_eq!(
        ru_invoice.param_str("title").as_deref(),
        Some("VPN — 1 месяц")
    );
    assert_eq!(
        ru_invoice.param_str("description").as_deref(),
        Some("Быстрый VPN на месяц")
    );
    assert!(ru_invoice.params["prices"].to_string().contains("1 месяц"));

    invoice(&tg, en_user).await;
    let sent = to_chat(&tg, "sendInvoice", en_user);
    let en_invoice = sent.last().expect("an invoice");
    assert_eq!(
        en_invoice.param_str("title").as_deref(),
        Some("VPN — 1 month")
    );
    assert_eq!(
        en_invoice.param_str("description").as_deref(),
        Some("Fast VPN for a month")
    );
    app.stop().await;
}

#[actix_rt::test]
async fn telegram_languages_map_as_configured() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        // Replaces the default (uk, be, kk → ru).
        s.bot.language_map = [("de".to_owned(), "ru".to_owned())].into();
    })
    .await;
    let greeting = |lang: Lang| {
        subvisor::bot::i18n::tr_with(lang, "menu-greeting", &[("name", "x".into())])
            .split('x')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    for (user, code, lang) in [
        (740_021, "de-AT", Lang::Ru),
        (740_022, "uk", Lang::En),
        (740_023, "ru", Lang::Ru),
        (740_024, "fr", Lang::En),
    ] {
        tg.push_update(FakeTelegram::message(user, "/start", Some(code)));
        let menu = text_of(&nth_to_chat(&tg, "sendMessage", user, 0).await);
        assert!(menu.starts_with(&greeting(lang)), "{code}: {menu}");
    }
    app.stop().await;
}

#[actix_rt::test]
async fn the_balance_promises_one_tap_only_where_it_can_be_topped_up() {
    // Stars only (the test default): nothing can top the balance up.
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let user = 740_031;
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    let balance = press(&tg, user, &Callback::Balance).await;
    assert!(!text_of(&balance).contains(&en("balance-topup-hint")));
    assert!(!buttons(&balance).contains(&data(&Callback::TopUp)));
    assert!(buttons(&balance).contains(&data(&Callback::Menu)));
    let help = press(&tg, user, &Callback::Help).await;
    assert!(
        !text_of(&help).contains(&en("help-balance")),
        "Help promises no balance that cannot be topped up: {help:?}"
    );
    app.stop().await;

    // With Crypto Pay configured (never called here): Top up, and the promise.
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.payments.cryptobot = Some(
            serde_json::from_value::<subvisor::config::CryptoBotSettings>(json!({
                "token": "12345:AAzQcZWQqQAbsfgPnOLr4FHC8Doa4L7KryC",
                "base_url": "http://127.0.0.1:9/api",
            }))
            .expect("settings"),
        );
    })
    .await;
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    let balance = press(&tg, user, &Callback::Balance).await;
    assert!(text_of(&balance).contains(&en("balance-topup-hint")));
    assert!(buttons(&balance).contains(&data(&Callback::TopUp)));
    let help = press(&tg, user, &Callback::Help).await;
    assert!(text_of(&help).contains(&en("help-balance")), "{help:?}");
    app.stop().await;
}
