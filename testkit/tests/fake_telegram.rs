//! [`FakeTelegram`] driven by a real teloxide `Bot`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use subvisor_testkit::fake_telegram::{BOT_USERNAME, FakeTelegram};
use teloxide::payloads::{
    AnswerPreCheckoutQuerySetters, CreateInvoiceLinkSetters, EditMessageTextSetters,
    GetStarTransactionsSetters, GetUpdatesSetters, SendMessageSetters, SendPhotoSetters,
    SetWebhookSetters,
};
use teloxide::requests::Requester;
use teloxide::types::{
    AllowedUpdate, BotCommand, ChatId, InlineKeyboardButton, InlineKeyboardButtonKind,
    InlineKeyboardMarkup, InputFile, LabeledPrice, MessageEntityKind, MessageId,
    PreCheckoutQueryId, StarTransaction, StarTransactions, TelegramTransactionId,
    TransactionPartner, Update, UpdateKind, UserId,
};
use teloxide::{ApiError, Bot, RequestError};

const TOKEN: &str = "123456:AAtest-Token_x";
const USER: i64 = 42;

fn start() -> (FakeTelegram, Bot) {
    let fake = FakeTelegram::start(TOKEN).expect("start the fake Telegram");
    let bot = Bot::new(TOKEN).set_api_url(fake.api_url().parse().expect("api url"));
    (fake, bot)
}

fn keyboard(data: &str) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Buy", data)]])
}

/// A PNG signature and IHDR chunk for a 37×29 image, then some bytes.
fn png_bytes() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&37u32.to_be_bytes());
    png.extend_from_slice(&29u32.to_be_bytes());
    png.extend_from_slice(&[
        8, 0, 0, 0, 0, 0xde, 0xad, b'\r', b'\n', b'-', b'-', 0xbe, 0xef,
    ]);
    png
}

fn api_error(result: Result<impl std::fmt::Debug, RequestError>) -> ApiError {
    match result {
        Err(RequestError::Api(e)) => e,
        other => panic!("expected an API error, got {other:?}"),
    }
}

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

#[tokio::test]
async fn stars_invoices_and_invoice_links() {
    let (fake, bot) = start();
    let msg = bot
        .send_invoice(
            ChatId(USER),
            "30 days",
            "VPN access for 30 days",
            "order:7",
            "XTR",
            [LabeledPrice::new("30 days", 150)],
        )
        .await
        .expect("sendInvoice");
    let invoice = msg.invoice().expect("an invoice message");
    assert_eq!(invoice.currency, "XTR");
    assert_eq!(invoice.total_amount, 150);
    assert_eq!(invoice.title, "30 days");
    let call = &fake.calls_to("sendInvoice")[0];
    assert_eq!(call.params["payload"], json!("order:7"));
    assert_eq!(
        call.params["prices"],
        json!([{"label": "30 days", "amount": 150}])
    );

    let link = bot
        .create_invoice_link(
            "30 days",
            "VPN access",
            "order:8",
            "XTR",
            [LabeledPrice::new("30 days", 150)],
        )
        .provider_token("")
        .await
        .expect("createInvoiceLink");
    assert!(link.starts_with("https://t.me/$"), "{link}");
    assert!(link.len() > "https://t.me/$".len() + 10, "{link}");

    // Other currencies need a payment provider token.
    let err = bot
        .create_invoice_link("t", "d", "p", "USD", [LabeledPrice::new("x", 100)])
        .await;
    assert!(
        matches!(err, Err(RequestError::Api(ApiError::Unknown(ref d))) if d.contains("PAYMENT_PROVIDER_INVALID")),
        "{err:?}"
    );
}

#[tokio::test]
async fn pre_checkout_answers_are_recorded() {
    let (fake, bot) = start();
    bot.answer_pre_checkout_query(PreCheckoutQueryId("q1".into()), true)
        .await
        .expect("ok answer");
    bot.answer_pre_checkout_query(PreCheckoutQueryId("q2".into()), false)
        .error_message("Sold out")
        .await
        .expect("error answer");
    assert_eq!(
        fake.answered_pre_checkouts(),
        [
            ("q1".to_owned(), true, None),
            ("q2".to_owned(), false, Some("Sold out".to_owned())),
        ]
    );
}

#[tokio::test]
async fn refund_star_payment_succeeds_or_fails_as_told() {
    let (fake, bot) = start();
    bot.refund_star_payment(
        UserId(USER as u64),
        TelegramTransactionId("charge-1".into()),
    )
    .await
    .expect("refund");
    let again = bot
        .refund_star_payment(
            UserId(USER as u64),
            TelegramTransactionId("charge-1".into()),
        )
        .await;
    assert!(
        matches!(api_error(again), ApiError::Unknown(d) if d == "Bad Request: CHARGE_ALREADY_REFUNDED")
    );

    fake.fail_refund("charge-2");
    let failed = bot
        .refund_star_payment(
            UserId(USER as u64),
            TelegramTransactionId("charge-2".into()),
        )
        .await;
    assert!(
        matches!(api_error(failed), ApiError::Unknown(d) if d == "Bad Request: CHARGE_NOT_FOUND")
    );
    let statuses: Vec<u16> = fake
        .calls_to("refundStarPayment")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, [200, 400, 400]);
}

/// (id, Stars, incoming?, user id, invoice payload) of a transaction.
fn star_summary(t: &StarTransaction) -> (String, u32, bool, u64, Option<String>) {
    let (incoming, partner) = match (&t.source, &t.receiver) {
        (Some(source), None) => (true, source),
        (None, Some(receiver)) => (false, receiver),
        other => panic!("a transaction has a source or a receiver: {other:?}"),
    };
    let TransactionPartner::User(user) = partner else {
        panic!("expected a user partner, got {partner:?}");
    };
    let payment = user.invoice_payment().expect("an invoice payment");
    (
        t.id.0.clone(),
        t.amount,
        incoming,
        user.user.id.0,
        payment.invoice_payload,
    )
}

#[tokio::test]
async fn star_transactions_are_listed_newest_first_with_refunds() {
    let (fake, bot) = start();
    let empty = bot
        .get_star_transactions()
        .await
        .expect("getStarTransactions");
    assert!(empty.transactions.is_empty());

    fake.add_star_payment(USER, "charge-a", 150, "order-a");
    fake.add_star_payment(43, "charge-b", 250, "order-b");
    fake.add_star_payment(USER, "charge-c", 50, "order-c");
    bot.refund_star_payment(
        UserId(USER as u64),
        TelegramTransactionId("charge-a".into()),
    )
    .await
    .expect("refund");

    let all = bot
        .get_star_transactions()
        .await
        .expect("getStarTransactions");
    let summary: Vec<_> = all.transactions.iter().map(star_summary).collect();
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        summary,
        vec![
            ("charge-a".into(), 150, false, USER as u64, some("order-a")),
            ("charge-c".into(), 50, true, USER as u64, some("order-c")),
            ("charge-b".into(), 250, true, 43, some("order-b")),
            ("charge-a".into(), 150, true, USER as u64, some("order-a")),
        ],
        "newest first; the refund keeps the charge id and names the user as receiver"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let age = now - all.transactions[0].date.timestamp();
    assert!(age.abs() < 60, "dated now, not {age} s ago");

    // Paging: offset skips the newest, limit caps the page.
    let page = bot
        .get_star_transactions()
        .offset(1)
        .limit(2)
        .await
        .expect("page");
    let ids: Vec<&str> = page.transactions.iter().map(|t| t.id.0.as_str()).collect();
    assert_eq!(ids, ["charge-c", "charge-b"]);
    let tail = bot
        .get_star_transactions()
        .offset(3)
        .limit(100)
        .await
        .expect("last page");
    assert_eq!(tail.transactions.len(), 1);
    let past = bot
        .get_star_transactions()
        .offset(10)
        .await
        .expect("past the end");
    assert!(past.transactions.is_empty());

    let too_many = bot.get_star_transactions().limit(101).await;
    assert!(
        matches!(api_error(too_many), ApiError::Unknown(d) if d == "Bad Request: invalid limit")
    );
    let calls = fake.calls_to("getStarTransactions");
    assert_eq!(calls.len(), 6);
    assert_eq!(calls[2].params["offset"], 1);
    assert_eq!(calls[2].params["limit"], 2);
}

#[test]
fn star_transactions_json_matches_the_bot_api_shape() {
    let fake = FakeTelegram::start(TOKEN).unwrap();
    fake.add_star_payment(USER, "charge-1", 7, "payload-1");
    let body = r#"{"offset":0,"limit":1}"#;
    let mut stream = TcpStream::connect(fake.api_url().trim_start_matches("http://")).unwrap();
    write!(
        stream,
        "POST /bot{TOKEN}/getStarTransactions HTTP/1.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let t = &json["result"]["transactions"][0];
    assert_eq!(t["id"], "charge-1");
    assert_eq!(t["amount"], 7);
    assert!(t["date"].is_i64());
    assert_eq!(
        t["source"],
        json!({
            "type": "user",
            "transaction_type": "invoice_payment",
            "user": {"id": USER, "is_bot": false, "first_name": "User42", "username": "user42"},
            "invoice_payload": "payload-1",
        })
    );
    assert!(t.get("receiver").is_none());
    let parsed: StarTransactions =
        serde_json::from_value(json["result"].clone()).expect("teloxide's StarTransactions");
    assert_eq!(parsed.transactions.len(), 1);
}

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
    let started = Instant::now();
    let poll = tokio::spawn(async move { poller.get_updates().timeout(10).await });

    // The long poll must not block other calls.
    tokio::time::sleep(Duration::from_millis(50)).await;
    bot.get_me().await.expect("getMe during a long poll");
    assert!(!poll.is_finished(), "the long poll returned early");

    let id = fake.push_update(FakeTelegram::message(USER, "hello", None));
    assert_eq!(id, 1);
    let updates = poll.await.unwrap().expect("getUpdates");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
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

#[tokio::test]
async fn injected_429_becomes_retry_after() {
    let (fake, bot) = start();
    fake.fail_next("sendMessage", 2, 7);
    for _ in 0..2 {
        match bot.send_message(ChatId(USER), "hi").await {
            Err(RequestError::RetryAfter(secs)) => assert_eq!(secs.seconds(), 7),
            other => panic!("expected RetryAfter, got {other:?}"),
        }
    }
    bot.send_message(ChatId(USER), "hi")
        .await
        .expect("third call passes");
    let statuses: Vec<u16> = fake
        .calls_to("sendMessage")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, [429, 429, 200]);
    assert_eq!(fake.sent_texts_to(USER), ["hi"]);
}

#[tokio::test]
async fn blocked_chat_answers_bot_blocked() {
    let (fake, bot) = start();
    fake.block_chat(USER);
    let err = bot.send_message(ChatId(USER), "hi").await;
    assert_eq!(api_error(err), ApiError::BotBlocked);
    let err = bot
        .send_photo(ChatId(USER), InputFile::memory(png_bytes()))
        .await;
    assert_eq!(api_error(err), ApiError::BotBlocked);
    bot.send_message(ChatId(USER + 1), "other chat")
        .await
        .expect("other chats work");
    assert_eq!(fake.calls_to("sendMessage")[0].status, 403);

    fake.unblock_chat(USER);
    bot.send_message(ChatId(USER), "back").await.unwrap();
}

#[tokio::test]
async fn wrong_token_and_unknown_methods_are_refused() {
    let (fake, _) = start();
    let intruder = Bot::new("123456:wrong").set_api_url(fake.api_url().parse().expect("api url"));
    let err = intruder.get_me().await;
    assert_eq!(api_error(err), ApiError::InvalidToken);
    assert_eq!(fake.calls_to("getMe")[0].status, 401);

    // Not answered by the fake: 404, which teloxide reads as InvalidToken too.
    let (fake, bot) = start();
    let err = bot.send_dice(ChatId(USER)).await;
    assert_eq!(api_error(err), ApiError::InvalidToken);
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, 404);
}

#[tokio::test]
async fn latency_applies_to_everything_but_get_updates() {
    let (fake, bot) = start();
    fake.set_latency(Duration::from_millis(150));
    let started = Instant::now();
    bot.get_me().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    let started = Instant::now();
    bot.get_updates().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(150));
}

#[test]
fn wait_for_calls_from_a_sync_test() {
    let fake = FakeTelegram::start(TOKEN).unwrap();
    let url = fake.api_url();
    let sender = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let bot = Bot::new(TOKEN).set_api_url(url.parse().unwrap());
            for text in ["one", "two"] {
                tokio::time::sleep(Duration::from_millis(20)).await;
                bot.send_message(ChatId(USER), text).await.unwrap();
            }
        });
    });
    let calls = fake.wait_for_calls("sendMessage", 2, Duration::from_secs(10));
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].params["text"], json!("two"));
    sender.join().unwrap();

    let started = Instant::now();
    assert!(
        fake.wait_for_calls("deleteMessage", 1, Duration::from_millis(50))
            .is_empty()
    );
    assert!(started.elapsed() >= Duration::from_millis(50));

    fake.clear_calls();
    assert!(fake.calls().is_empty());
}

/// Form-encoded and query-string parameters, as other clients send them.
#[test]
fn form_and_query_parameters() {
    let fake = FakeTelegram::start(TOKEN).unwrap();
    let addr = fake.api_url().trim_start_matches("http://").to_owned();
    let roundtrip = |request: String| {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    };
    let body = "chat_id=42&text=Hello+%26+bye&reply_markup=%7B%22inline_keyboard%22%3A%5B%5B%7B%22text%22%3A%22A%22%2C%22callback_data%22%3A%22a%22%7D%5D%5D%7D";
    let out = roundtrip(format!(
        "POST /bot{TOKEN}/sendmessage HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains(r#""text":"Hello & bye""#), "{out}");
    assert!(out.contains(r#""callback_data":"a""#), "{out}");
    let call = &fake.calls_to("sendMessage")[0];
    assert_eq!(call.method, "sendMessage");
    assert_eq!(call.chat_id, Some(USER));
    assert_eq!(call.params["chat_id"], json!("42"));
    assert_eq!(
        call.params["reply_markup"]["inline_keyboard"][0][0]["text"],
        json!("A")
    );

    let out = roundtrip(format!(
        "GET /bot{TOKEN}/sendMessage?chat_id=42 HTTP/1.1\r\nHost: x\r\n\r\n"
    ));
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("Bad Request: message text is empty"), "{out}");

    let json = r#"{"text":"x"}"#;
    let out = roundtrip(format!(
        "POST /bot{TOKEN}/sendMessage HTTP/1.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{json}",
        json.len()
    ));
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains(r#""error_code":400"#), "{out}");
    assert!(out.contains("chat_id is empty"), "{out}");
}

#[test]
fn dropping_stops_the_server() {
    let fake = FakeTelegram::start(TOKEN).unwrap();
    let addr = fake.api_url().trim_start_matches("http://").to_owned();
    drop(fake);
    assert!(TcpStream::connect(addr).is_err());
}
