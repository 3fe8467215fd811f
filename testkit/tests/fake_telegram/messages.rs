//! Sending and editing: `getMe`, `sendMessage`, `editMessageText`, `sendPhoto`.

use super::*;

#[tokio::test]
async fn get_me_answers_the_bot() {
    let (fake, bot) = start();
    assert!(fake.api_url().starts_with("http://127.0.0.1:"));
    assert_eq!(fake.token(), TOKEN);
    let me = bot.get_me().await.expect("getMe");
    assert_eq!(me.id, UserId(123_456));
    assert!(me.is_bot);
    assert_eq!(me.username(), BOT_USERNAME);
    let calls = fake.calls_to("getMe");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, 200);
    assert_eq!(calls[0].method, "getMe");
}

#[tokio::test]
async fn send_message_echoes_and_records_the_inline_keyboard() {
    let (fake, bot) = start();
    let msg = bot
        .send_message(ChatId(USER), "Pick a plan")
        .reply_markup(keyboard("buy:30"))
        .await
        .expect("sendMessage");
    assert_eq!(msg.text(), Some("Pick a plan"));
    assert_eq!(msg.chat.id, ChatId(USER));
    assert!(msg.chat.is_private());
    assert!(msg.from.as_ref().is_some_and(|u| u.is_bot));
    let markup = msg.reply_markup().expect("inline keyboard echoed");
    assert!(matches!(
        &markup.inline_keyboard[0][0].kind,
        InlineKeyboardButtonKind::CallbackData(data) if data == "buy:30"
    ));

    let second = bot.send_message(ChatId(USER), "Again").await.unwrap();
    assert!(second.id.0 > msg.id.0, "message ids increase");
    assert!(second.reply_markup().is_none());

    let calls = fake.calls_to("sendMessage");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].chat_id, Some(USER));
    assert_eq!(
        calls[0].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        json!("buy:30")
    );
    assert_eq!(fake.sent_texts_to(USER), ["Pick a plan", "Again"]);
    assert!(fake.sent_texts_to(USER + 1).is_empty());

    // Telegram's limits.
    let long_data = "x".repeat(65);
    let err = bot
        .send_message(ChatId(USER), "Too long data")
        .reply_markup(keyboard(&long_data))
        .await;
    assert_eq!(api_error(err), ApiError::ButtonDataInvalid);
    let err = bot.send_message(ChatId(USER), "a".repeat(4097)).await;
    assert_eq!(api_error(err), ApiError::MessageIsTooLong);
    let err = bot.send_message(ChatId(USER), "").await;
    assert_eq!(api_error(err), ApiError::MessageTextIsEmpty);
    assert_eq!(fake.calls_to("sendMessage").last().unwrap().status, 400);
    assert_eq!(
        fake.sent_texts_to(USER).len(),
        2,
        "failed sends are not texts"
    );
}

#[tokio::test]
async fn edit_message_text_changes_the_message() {
    let (fake, bot) = start();
    let sent = bot
        .send_message(ChatId(USER), "Step 1")
        .reply_markup(keyboard("next"))
        .await
        .unwrap();
    let edited = bot
        .edit_message_text(ChatId(USER), sent.id, "Step 2")
        .reply_markup(keyboard("done"))
        .await
        .expect("editMessageText");
    assert_eq!(edited.id, sent.id);
    assert_eq!(edited.text(), Some("Step 2"));
    assert!(edited.edit_date().is_some());
    assert!(matches!(
        &edited.reply_markup().unwrap().inline_keyboard[0][0].kind,
        InlineKeyboardButtonKind::CallbackData(data) if data == "done"
    ));

    // Same content again: Telegram refuses.
    let err = bot
        .edit_message_text(ChatId(USER), sent.id, "Step 2")
        .reply_markup(keyboard("done"))
        .await;
    assert_eq!(api_error(err), ApiError::MessageNotModified);

    // An edit without reply_markup removes the keyboard.
    let plain = bot
        .edit_message_text(ChatId(USER), sent.id, "Step 2")
        .await
        .unwrap();
    assert!(plain.reply_markup().is_none());

    // A message the fake never saw (e.g. under a made-up callback) can be edited.
    let other = bot
        .edit_message_text(ChatId(USER), MessageId(999_999_999), "Hi")
        .await
        .unwrap();
    assert_eq!(other.id, MessageId(999_999_999));

    bot.delete_message(ChatId(USER), sent.id).await.unwrap();
    let err = bot.edit_message_text(ChatId(USER), sent.id, "Gone").await;
    assert_eq!(api_error(err), ApiError::MessageToEditNotFound);
    let err = bot.delete_message(ChatId(USER), sent.id).await;
    assert_eq!(api_error(err), ApiError::MessageToDeleteNotFound);

    assert_eq!(
        fake.sent_texts_to(USER),
        ["Step 1", "Step 2", "Step 2", "Hi"]
    );
}

#[tokio::test]
async fn send_photo_records_the_uploaded_bytes() {
    let (fake, bot) = start();
    let png = png_bytes();
    let msg = bot
        .send_photo(
            ChatId(USER),
            InputFile::memory(png.clone()).file_name("qr.png"),
        )
        .caption("Your key")
        .reply_markup(keyboard("copy"))
        .await
        .expect("sendPhoto");
    let photo = msg.photo().expect("a photo message");
    assert_eq!((photo[0].width, photo[0].height), (37, 29));
    assert_eq!(photo[0].file.size, png.len() as u32);
    assert_eq!(msg.caption(), Some("Your key"));
    assert!(msg.reply_markup().is_some());

    let calls = fake.calls_to("sendPhoto");
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.chat_id, Some(USER));
    assert_eq!(call.params["caption"], json!("Your key"));
    assert_eq!(
        call.params["reply_markup"]["inline_keyboard"][0][0]["text"],
        json!("Buy")
    );
    let attach = call.params["photo"].as_str().expect("photo field");
    let part = attach
        .strip_prefix("attach://")
        .expect("attach:// reference");
    assert_eq!(call.files.len(), 1);
    assert_eq!(call.files[0].0, part);
    assert_eq!(call.files[0].1, png);
    assert_eq!(
        call.params[part],
        json!({"file_name": "qr.png", "size": png.len()})
    );
    assert_eq!(fake.sent_texts_to(USER), ["Your key"]);

    // A caption can be edited; a photo message has no text to edit.
    let edited = bot
        .edit_message_caption(ChatId(USER), msg.id)
        .await
        .expect("editMessageCaption");
    assert_eq!(edited.caption(), None);
    let err = bot.edit_message_text(ChatId(USER), msg.id, "text").await;
    assert!(
        matches!(err, Err(RequestError::Api(ApiError::Unknown(ref d))) if d.contains("no text"))
    );
}
