//! The way to a human: `/paysupport`, `/terms`, free text, a photo and a
//! sticker each get an answer in the user's language, with the Support
//! button when a contact is configured.

use super::*;

const CONTACT: &str = "@help_desk";

fn with_support(s: &mut Settings) {
    s.telegram.support = Some(CONTACT.into());
}

/// The same user's message with a photo (no text).
fn photo(user: i64, lang: &str) -> serde_json::Value {
    let mut update = FakeTelegram::message(user, "x", Some(lang));
    let message = &mut update["message"];
    message.as_object_mut().expect("object").remove("text");
    message["photo"] = json!([{
        "file_id": "photo-1", "file_unique_id": "p1", "width": 90, "height": 90,
    }]);
    update
}

/// The same user's message with a sticker (no text).
fn sticker(user: i64, lang: &str) -> serde_json::Value {
    let mut update = FakeTelegram::message(user, "x", Some(lang));
    let message = &mut update["message"];
    message.as_object_mut().expect("object").remove("text");
    message["sticker"] = json!({
        "file_id": "sticker-1", "file_unique_id": "s1", "type": "regular",
        "width": 512, "height": 512, "is_animated": false, "is_video": false,
    });
    update
}

/// Pushes `update` and returns the bot's next message to `user`.
async fn answer_to(tg: &FakeTelegram, user: i64, update: serde_json::Value) -> Call {
    let before = to_chat(tg, "sendMessage", user).len();
    tg.push_update(update);
    nth_to_chat(tg, "sendMessage", user, before).await
}

#[actix_rt::test]
async fn paysupport_terms_free_text_photos_and_stickers_are_answered_in_the_users_language() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), with_support).await;
    for (user, lang) in [(710_001, Lang::En), (710_002, Lang::Ru)] {
        let code = lang.code();
        let start = answer_to(&tg, user, FakeTelegram::message(user, "/start", Some(code))).await;
        assert!(
            labels(&start).contains(&tr(lang, "btn-support")),
            "the menu has Support: {start:?}"
        );

        let paysupport = answer_to(
            &tg,
            user,
            FakeTelegram::message(user, "/paysupport", Some(code)),
        )
        .await;
        let text = text_of(&paysupport);
        assert!(text.starts_with(&tr(lang, "paysupport-default")), "{text}");
        assert!(text.contains(CONTACT), "{text}");
        assert!(labels(&paysupport).contains(&tr(lang, "btn-support")));
        assert!(buttons(&paysupport).contains(&data(&Callback::Menu)));

        let help = answer_to(&tg, user, FakeTelegram::message(user, "/help", Some(code))).await;
        assert!(
            text_of(&help).contains(CONTACT),
            "Help names the contact: {help:?}"
        );

        let terms = answer_to(&tg, user, FakeTelegram::message(user, "/terms", Some(code))).await;
        assert!(text_of(&terms).starts_with(&tr(lang, "terms-default")));

        // Free text: the menu, not "unknown command".
        let hello = answer_to(&tg, user, FakeTelegram::message(user, "hello", Some(code))).await;
        assert!(
            text_of(&hello).starts_with(&t_greeting(lang)),
            "free text gets the menu: {hello:?}"
        );
        // A mistyped command: says so, with the menu.
        let typo = answer_to(&tg, user, FakeTelegram::message(user, "/strat", Some(code))).await;
        assert_eq!(text_of(&typo), tr(lang, "unknown-command"));

        for update in [photo(user, code), sticker(user, code)] {
            let media = answer_to(&tg, user, update).await;
            let text = text_of(&media);
            assert!(text.starts_with(&tr(lang, "media-reply")), "{text}");
            assert!(text.contains(CONTACT), "{text}");
            assert!(labels(&media).contains(&tr(lang, "btn-support")));
        }
    }
    app.stop().await;
}

/// The start of the menu's greeting in `lang` (the name follows).
fn t_greeting(lang: Lang) -> String {
    let full = subvisor::bot::i18n::tr_with(lang, "menu-greeting", &[("name", "\u{1}".into())]);
    full.split('\u{1}').next().unwrap_or_default().to_owned()
}

#[actix_rt::test]
async fn without_a_contact_there_is_no_support_button() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let user = 710_003;
    let start = answer_to(&tg, user, FakeTelegram::message(user, "/start", Some("en"))).await;
    assert!(!labels(&start).contains(&en("btn-support")), "{start:?}");
    let media = answer_to(&tg, user, sticker(user, "en")).await;
    assert!(text_of(&media).starts_with(&en("media-reply")));
    assert!(buttons(&media).contains(&data(&Callback::Menu)));
    // Help names no contact that does not exist.
    let help = answer_to(&tg, user, FakeTelegram::message(user, "/help", Some("en"))).await;
    assert!(
        text_of(&help).trim_end().ends_with(&en("help-language")),
        "{help:?}"
    );
    app.stop().await;
}
