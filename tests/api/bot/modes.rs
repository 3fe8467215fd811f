//! How the bot gets updates: webhook mode and its secret header; no token,
//! no bot.

use super::*;

// --- 6. webhook mode ----------------------------------------------------------

#[actix_rt::test]
async fn webhook_mode_checks_the_secret_header() {
    let secret = "webhook-secret_0123456789";
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.telegram.mode = TelegramMode::Webhook;
        s.telegram.webhook_url = Some("https://example.com/telegram/webhook".into());
        s.telegram.webhook_secret = Some(secret.to_owned().into());
    })
    .await;
    // The bot connects in the background: setWebhook follows the start.
    eventually("setWebhook was called", STEP, async || {
        tg.webhook().is_some()
    })
    .await;
    let (url, set_secret, allowed) = tg.webhook().expect("setWebhook was called");
    assert_eq!(url, "https://example.com/telegram/webhook");
    assert_eq!(set_secret.as_deref(), Some(secret));
    let allowed: HashSet<String> = allowed.into_iter().collect();
    assert_eq!(
        allowed,
        ["message", "callback_query", "pre_checkout_query"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    assert!(tg.calls_to("getUpdates").is_empty(), "no polling");

    let endpoint = format!("{}/telegram/webhook", app.public);
    let update = |user: i64, id: i64| {
        let mut u = FakeTelegram::message(user, "/start", Some("en"));
        u["update_id"] = json!(id);
        u
    };
    let missing = app
        .http
        .post(&endpoint)
        .json(&update(600_001, 1))
        .send()
        .await
        .expect("post");
    assert_eq!(missing.status().as_u16(), 401);
    let wrong = app
        .http
        .post(&endpoint)
        .header(
            "X-Telegram-Bot-Api-Secret-Token",
            "webhook-secret_0123456780",
        )
        .json(&update(600_002, 2))
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status().as_u16(), 401);
    let right = app
        .http
        .post(&endpoint)
        .header("X-Telegram-Bot-Api-Secret-Token", secret)
        .json(&update(600_003, 3))
        .send()
        .await
        .expect("post");
    assert_eq!(right.status().as_u16(), 200);
    let menu = nth_to_chat(&tg, "sendMessage", 600_003, 0).await;
    assert!(buttons(&menu).contains(&data(&Callback::Buy)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(to_chat(&tg, "sendMessage", 600_001).is_empty());
    assert!(to_chat(&tg, "sendMessage", 600_002).is_empty());
    for user in [600_001, 600_002] {
        assert!(
            app.registry
                .store()
                .user(uid(user))
                .await
                .expect("store")
                .is_none(),
            "a rejected update is not handled"
        );
    }
    // A body that is not an update is accepted (Telegram must not retry it) and ignored.
    let junk = app
        .http
        .post(&endpoint)
        .header("X-Telegram-Bot-Api-Secret-Token", secret)
        .body("not json")
        .send()
        .await
        .expect("post");
    assert_eq!(junk.status().as_u16(), 200);
    app.stop().await;
}

#[actix_rt::test]
async fn without_a_token_the_bot_is_off() {
    let app = spawn_app(Db::Sqlite, None).await;
    let resp = app
        .http
        .post(format!("{}/telegram/webhook", app.public))
        .header("X-Telegram-Bot-Api-Secret-Token", "anything-at-all-1234")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 404);
    let health = app
        .http
        .get(format!("{}/healthz", app.public))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
    // The rest of the service works: a grant queues its notification for later.
    let (status, _) = app
        .post("/ops/users/650001/grant", json!({ "days": 1 }))
        .await;
    assert_eq!(status, 200);
    app.stop().await;
}
