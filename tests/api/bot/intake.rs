//! The bot's bounded update intake: caps on updates taken and not yet
//! handled (in all, per user) → 429 in webhook mode, fetching only what there
//! is room for in polling mode; every update taken is handled exactly once and
//! the per-user queues leave the map once drained.

use futures_util::future::join_all;

use super::*;

const SECRET: &str = "intake-secret_0123456789";

/// `/ops/bot`'s intake figures.
async fn intake(app: &TestApp) -> serde_json::Value {
    let (status, body) = app.get("/ops/bot").await;
    assert_eq!(status, 200, "{body}");
    body["bot"]["intake"].clone()
}

fn figure(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// Samples `/ops/bot` until `done` turns true; returns the largest
/// (pending, users, largest user queue) seen.
async fn peaks(app: &TestApp, done: &std::sync::atomic::AtomicBool) -> (u64, u64, u64) {
    use std::sync::atomic::Ordering;
    let mut peak = (0, 0, 0);
    while !done.load(Ordering::SeqCst) {
        let v = intake(app).await;
        peak.0 = peak.0.max(figure(&v, "pending"));
        peak.1 = peak.1.max(figure(&v, "users"));
        peak.2 = peak.2.max(figure(&v, "largest_user_queue"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    peak
}

/// Waits until nothing is pending and no user queue is left.
async fn drained(app: &TestApp) {
    eventually("the intake drained", Duration::from_secs(60), async || {
        let v = intake(app).await;
        figure(&v, "pending") == 0 && figure(&v, "users") == 0
    })
    .await;
}

/// Waits until `chat` got at least `n` messages (the tests then check,
/// after a pause long enough for a duplicate to show, that it got exactly `n`).
async fn answered(tg: &FakeTelegram, chat: i64, n: usize) {
    eventually(
        &format!("{n} answers to {chat}"),
        Duration::from_secs(60),
        async || to_chat(tg, "sendMessage", chat).len() >= n,
    )
    .await;
}

#[actix_rt::test]
async fn a_webhook_flood_gets_429_past_the_caps_and_every_taken_update_is_handled_once() {
    const MAX: u64 = 24;
    const PER_USER: u64 = 4;
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.telegram.mode = TelegramMode::Webhook;
        s.telegram.webhook_url = Some("https://example.com/telegram/webhook".into());
        s.telegram.webhook_secret = Some(SECRET.to_owned().into());
        s.telegram.max_pending_updates = MAX as usize;
        s.telegram.max_pending_per_user = PER_USER as usize;
    })
    .await;
    eventually("the webhook is set", STEP, async || tg.webhook().is_some()).await;
    // Slow answers from the Bot API keep handlers busy while the flood lands.
    tg.set_latency(Duration::from_millis(400));

    let flooder = 610_000;
    let crowd: Vec<i64> = (610_001..=610_030).collect();
    let mut updates = Vec::new();
    let mut id = 0;
    for _ in 0..40 {
        id += 1;
        updates.push((flooder, id));
    }
    for _ in 0..3 {
        for user in &crowd {
            id += 1;
            updates.push((*user, id));
        }
    }
    let endpoint = format!("{}/telegram/webhook", app.public);
    let post = |user: i64, id: i64| {
        let mut u = FakeTelegram::message(user, "/no_such_command", Some("en"));
        u["update_id"] = json!(id);
        let req = app
            .http
            .post(&endpoint)
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .json(&u);
        async move {
            let status = req.send().await.expect("post").status().as_u16();
            (user, status)
        }
    };
    let flooding = std::sync::atomic::AtomicBool::new(false);
    let (answers, peak) = tokio::join!(
        async {
            let answers = join_all(updates.iter().map(|(u, id)| post(*u, *id))).await;
            flooding.store(true, std::sync::atomic::Ordering::SeqCst);
            answers
        },
        peaks(&app, &flooding)
    );
    tg.set_latency(Duration::ZERO);

    assert!(
        answers.iter().all(|(_, s)| *s == 200 || *s == 429),
        "{answers:?}"
    );
    let mut taken: HashMap<i64, usize> = HashMap::new();
    for (user, status) in &answers {
        if *status == 200 {
            *taken.entry(*user).or_default() += 1;
        }
    }
    let flooder_taken = taken.get(&flooder).copied().unwrap_or(0);
    assert!(
        (1..40).contains(&flooder_taken),
        "the flooder is cut off at the per-user cap: {flooder_taken} of 40 taken"
    );
    let after = intake(&app).await;
    assert!(figure(&after, "refused_user_full") > 0, "{after}");
    assert!(figure(&after, "refused_full") > 0, "{after}");
    assert_eq!(
        (
            figure(&after, "max_pending"),
            figure(&after, "max_pending_per_user")
        ),
        (MAX, PER_USER)
    );
    // Bounded while flooded.
    let (pending, users, largest) = peak;
    println!(
        "flood: {} taken of {}; peaks: pending {pending}, users {users}, largest user queue {largest}",
        answers.iter().filter(|(_, s)| *s == 200).count(),
        answers.len()
    );
    assert!(pending <= MAX && users <= MAX, "{peak:?}");
    assert!(largest <= PER_USER, "{peak:?}");
    assert!(pending > 0, "the sampler saw the flood: {peak:?}");

    // Drained: every taken update answered exactly once, queues gone.
    drained(&app).await;
    for (user, n) in &taken {
        answered(&tg, *user, *n).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for user in std::iter::once(flooder).chain(crowd.iter().copied()) {
        let n = taken.get(&user).copied().unwrap_or(0);
        assert_eq!(
            to_chat(&tg, "sendMessage", user).len(),
            n,
            "user {user}: one answer per update taken"
        );
    }
    let v = intake(&app).await;
    assert_eq!((figure(&v, "pending"), figure(&v, "users")), (0, 0), "{v}");
    app.stop().await;
}

#[actix_rt::test]
async fn polling_fetches_only_what_fits_and_waits_while_a_users_queue_is_full() {
    const MAX: u64 = 5;
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.telegram.max_pending_updates = MAX as usize;
        s.telegram.max_pending_per_user = 2;
    })
    .await;
    eventually("the bot connected", STEP, async || {
        app.get("/ops/bot").await.1["bot"]["state"] == "ok"
    })
    .await;
    tg.set_latency(Duration::from_millis(300));
    let users: Vec<i64> = (620_001..=620_030).collect();
    for user in &users {
        tg.push_update(FakeTelegram::message(*user, "/no_such_command", Some("en")));
    }
    // One user sends ten in a row: polling waits for their queue, drops none.
    let flooder = 620_100;
    for _ in 0..10 {
        tg.push_update(FakeTelegram::message(
            flooder,
            "/no_such_command",
            Some("en"),
        ));
    }
    let done = std::sync::atomic::AtomicBool::new(false);
    let (_, peak) = tokio::join!(
        async {
            for user in &users {
                answered(&tg, *user, 1).await;
            }
            answered(&tg, flooder, 10).await;
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        },
        peaks(&app, &done)
    );
    tg.set_latency(Duration::ZERO);
    assert!(peak.0 <= MAX && peak.2 <= 2, "{peak:?}");
    // Each fetch asked for no more than the room left.
    for call in tg.calls_to("getUpdates") {
        let limit = call.params["limit"].as_u64().expect("limit");
        assert!((1..=MAX).contains(&limit), "{:?}", call.params);
    }
    drained(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for user in &users {
        assert_eq!(to_chat(&tg, "sendMessage", *user).len(), 1, "user {user}");
    }
    assert_eq!(to_chat(&tg, "sendMessage", flooder).len(), 10);
    let v = intake(&app).await;
    assert_eq!(
        figure(&v, "refused_full") + figure(&v, "refused_user_full"),
        0,
        "{v}"
    );
    app.stop().await;
}
