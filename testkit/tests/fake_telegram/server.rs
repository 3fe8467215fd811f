//! The server itself: injected faults, wrong tokens and methods, latency,
//! sync tests, form and query parameters, stopping.

use super::*;

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
    // Long enough that a loaded machine answers `getUpdates` well within it.
    let latency = Duration::from_secs(2);
    fake.set_latency(latency);
    let started = Instant::now();
    bot.get_me().await.unwrap();
    assert!(started.elapsed() >= latency);
    let started = Instant::now();
    bot.get_updates().await.unwrap();
    assert!(started.elapsed() < latency);
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
