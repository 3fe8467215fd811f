//! Bot setup and updates: commands, the webhook, long polling, the update
//! builders, `allowed_updates`.

use super::*;

#[tokio::test]
async fn my_commands_are_stored() {
    let (fake, bot) = start();
    let commands = vec![
        BotCommand::new("start", "Start"),
        BotCommand::new("buy", "Buy access"),
    ];
    bot.set_my_commands(commands.clone())
        .await
        .expect("setMyCommands");
    assert_eq!(bot.get_my_commands().await.unwrap(), commands);
    let call = &fake.calls_to("setMyCommands")[0];
    assert_eq!(call.params["commands"][1]["command"], json!("buy"));

    let err = bot
        .set_my_commands([BotCommand::new("Bad-Name", "x")])
        .await;
    assert!(matches!(api_error(err), ApiError::Unknown(d) if d.contains("BOT_COMMAND_INVALID")));

    bot.delete_my_commands().await.unwrap();
    assert!(bot.get_my_commands().await.unwrap().is_empty());
}

#[tokio::test]
async fn webhook_is_reflected_by_get_webhook_info() {
    let (fake, bot) = start();
    let info = bot.get_webhook_info().await.expect("getWebhookInfo");
    assert!(info.url.is_none());
    assert!(fake.webhook().is_none());

    let url = "https://bot.example.com/telegram/webhook";
    bot.set_webhook(url.parse().unwrap())
        .secret_token("s3cret_Token-1")
        .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
        .await
        .expect("setWebhook");
    let info = bot.get_webhook_info().await.unwrap();
    assert_eq!(info.url.as_ref().map(|u| u.as_str()), Some(url));
    assert_eq!(
        info.allowed_updates,
        Some(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
    );
    assert_eq!(
        fake.webhook(),
        Some((
            url.to_owned(),
            Some("s3cret_Token-1".to_owned()),
            vec!["message".to_owned(), "callback_query".to_owned()],
        ))
    );

    // Polling is refused while a webhook is set, as Telegram does.
    let err = bot.get_updates().await;
    assert!(matches!(api_error(err), ApiError::Unknown(d) if d.starts_with("Conflict:")));

    // Telegram accepts HTTPS only.
    let err = bot
        .set_webhook("http://bot.example.com/hook".parse().unwrap())
        .await;
    assert_eq!(api_error(err), ApiError::WebhookRequireHttps);

    bot.delete_webhook().await.unwrap();
    assert!(bot.get_webhook_info().await.unwrap().url.is_none());
    assert!(fake.webhook().is_none());
    assert!(bot.get_updates().await.unwrap().is_empty());
}

#[tokio::test]
async fn get_updates_long_poll_is_woken_by_push_update() {
    let (fake, bot) = start();
    let poller = bot.clone();
    let poll = tokio::spawn(async move { poller.get_updates().timeout(10).await });

    // The long poll must not block other calls.
    tokio::time::sleep(Duration::from_millis(50)).await;
    bot.get_me().await.expect("getMe during a long poll");
    assert!(!poll.is_finished(), "the long poll returned early");

    let id = fake.push_update(FakeTelegram::message(USER, "hello", None));
    assert_eq!(id, 1);
    // Woken by the push: a poll that ran into its timeout would answer [].
    let updates = poll.await.unwrap().expect("getUpdates");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].id.0, 1);

    // Not confirmed yet: delivered again; confirmed by a higher offset.
    assert_eq!(bot.get_updates().await.unwrap().len(), 1);
    let none = bot.get_updates().offset(2).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(fake.pending_updates(), 0);
    assert_eq!(fake.push_update(FakeTelegram::message(USER, "x", None)), 2);

    // A long poll with nothing to deliver answers [] at its timeout.
    let started = Instant::now();
    let empty = bot.get_updates().offset(3).timeout(1).await.unwrap();
    assert!(empty.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn builders_parse_into_the_right_update_kinds() {
    let (fake, bot) = start();
    let sent = bot
        .send_message(ChatId(USER), "Pick a plan")
        .reply_markup(keyboard("buy:30"))
        .await
        .unwrap();
    let message = FakeTelegram::message(USER, "/start ref_77", Some("ru"));
    fake.push_update(message);
    fake.push_update(FakeTelegram::callback(USER, "buy:30", i64::from(sent.id.0)));
    fake.push_update(FakeTelegram::callback(USER, "old", 777));
    fake.push_update(FakeTelegram::pre_checkout(
        USER, "pcq-1", "XTR", 150, "order:7",
    ));
    fake.push_update(FakeTelegram::successful_payment(
        USER,
        "XTR",
        150,
        "order:7",
        "stxCHARGE",
    ));

    let first_two = bot.get_updates().limit(2).await.unwrap();
    assert_eq!(first_two.len(), 2);
    let updates: Vec<Update> = bot.get_updates().await.unwrap();
    assert_eq!(updates.len(), 5);
    let ids: Vec<u32> = updates.iter().map(|u| u.id.0).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);

    let UpdateKind::Message(m) = &updates[0].kind else {
        panic!("not a message: {:?}", updates[0].kind);
    };
    assert_eq!(m.text(), Some("/start ref_77"));
    assert_eq!(m.chat.id, ChatId(USER));
    assert!(m.chat.is_private());
    let from = m.from.as_ref().unwrap();
    assert_eq!(from.id, UserId(USER as u64));
    assert_eq!(from.username.as_deref(), Some("user42"));
    assert_eq!(from.first_name, "User42");
    assert_eq!(from.language_code.as_deref(), Some("ru"));
    let entities = m.entities().unwrap();
    assert_eq!(entities[0].kind, MessageEntityKind::BotCommand);
    assert_eq!((entities[0].offset, entities[0].length), (0, 6));

    let UpdateKind::CallbackQuery(q) = &updates[1].kind else {
        panic!("not a callback query: {:?}", updates[1].kind);
    };
    assert_eq!(q.data.as_deref(), Some("buy:30"));
    assert_eq!(q.from.id, UserId(USER as u64));
    let cb_message = q.regular_message().expect("a regular message");
    assert_eq!(cb_message.id, sent.id);
    assert_eq!(cb_message.text(), Some("Pick a plan"), "the bot's message");
    assert!(cb_message.reply_markup().is_some());

    let UpdateKind::CallbackQuery(q) = &updates[2].kind else {
        panic!("not a callback query: {:?}", updates[2].kind);
    };
    let cb_message = q.regular_message().expect("a regular message");
    assert_eq!(cb_message.id, MessageId(777));
    assert_eq!(cb_message.chat.id, ChatId(USER));
    assert_eq!(
        cb_message.from.as_ref().map(|u| u.id),
        Some(UserId(123_456))
    );
    assert_ne!(
        q.id,
        match &updates[1].kind {
            UpdateKind::CallbackQuery(other) => other.id.clone(),
            _ => unreachable!(),
        }
    );

    let UpdateKind::PreCheckoutQuery(q) = &updates[3].kind else {
        panic!("not a pre-checkout query: {:?}", updates[3].kind);
    };
    assert_eq!(q.id.0, "pcq-1");
    assert_eq!((q.currency.as_str(), q.total_amount), ("XTR", 150));
    assert_eq!(q.invoice_payload, "order:7");
    assert_eq!(q.from.id, UserId(USER as u64));

    let UpdateKind::Message(m) = &updates[4].kind else {
        panic!("not a message: {:?}", updates[4].kind);
    };
    let payment = m.successful_payment().expect("a successful payment");
    assert_eq!(payment.telegram_payment_charge_id.0, "stxCHARGE");
    assert_eq!(
        (payment.currency.as_str(), payment.total_amount),
        ("XTR", 150)
    );
    assert_eq!(payment.invoice_payload, "order:7");

    // Confirm all; the queue empties.
    assert!(bot.get_updates().offset(6).await.unwrap().is_empty());
    assert_eq!(fake.pending_updates(), 0);
}

#[tokio::test]
async fn allowed_updates_filter_what_polling_sees() {
    let (fake, bot) = start();
    fake.push_update(FakeTelegram::callback(USER, "x", 1));
    fake.push_update(FakeTelegram::message(USER, "hi", None));
    let updates = bot
        .get_updates()
        .allowed_updates([AllowedUpdate::Message])
        .await
        .unwrap();
    assert_eq!(updates.len(), 1);
    assert!(matches!(updates[0].kind, UpdateKind::Message(_)));
    // Remembered for later calls, like Telegram.
    fake.push_update(FakeTelegram::pre_checkout(USER, "q", "XTR", 1, "p"));
    assert_eq!(bot.get_updates().offset(3).await.unwrap().len(), 0);
}
