//! Broadcasting to 1,000 users under Telegram's flood limits.

use super::*;

// --- 7. broadcast to 1,000 users ------------------------------------------------

#[actix_rt::test]
async fn broadcast_to_a_thousand_users_respects_the_flood_limits() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let first = 7_000_001;
    let users: Vec<i64> = (first..first + 1000).collect();
    let store = app.registry.store().clone();
    let now = Utc::now();
    let ctx = WriteCtx {
        now,
        by: Principal::System,
        nodes: &[],
    };
    for user in &users {
        store
            .touch_user(
                &ctx,
                uid(*user),
                &Profile {
                    username: Some(format!("user{user}")),
                    language_code: Some("en".into()),
                    referrer: None,
                },
            )
            .await
            .expect("touch");
    }
    let blocked: HashSet<i64> = users.iter().copied().step_by(100).collect();
    assert_eq!(blocked.len(), 10);
    for chat in &blocked {
        tg.block_chat(*chat);
    }

    tg.push_update(FakeTelegram::message(ADMIN, "/broadcast Hello", Some("en")));
    let preview = message_with(&tg, ADMIN, "Broadcast preview").await;
    assert!(
        text_of(&preview).contains("recipients: 1000"),
        "{preview:?}"
    );
    let confirm = buttons(&preview)
        .into_iter()
        .find(|d| matches!(Callback::decode(d), Ok(Callback::BroadcastConfirm { .. })))
        .expect("a confirm button");
    tg.push_update(FakeTelegram::callback(ADMIN, &confirm, MSG));
    // Once the progress message is out, the next two sends answer 429.
    message_with(&tg, ADMIN, "Sending").await;
    tg.fail_next("sendMessage", 2, 1);

    let deadline = Instant::now() + Duration::from_secs(120);
    let report = loop {
        if let Some(call) = to_chat(&tg, "sendMessage", ADMIN)
            .into_iter()
            .find(|c| text_of(c).contains("Broadcast finished"))
        {
            break call;
        }
        assert!(
            Instant::now() < deadline,
            "no report; {} sent",
            tg.calls_to("sendMessage").len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let report = text_of(&report);
    for line in [
        "Recipients: 1000",
        "Delivered: 990",
        "Blocked the bot: 10",
        "Failed: 0",
    ] {
        assert!(report.contains(line), "{line:?} in {report}");
    }

    let calls = tg.calls_to("sendMessage");
    // Every reachable user got "Hello" exactly once; the blocked ones were tried once.
    let mut hello: HashMap<i64, usize> = HashMap::new();
    for c in calls
        .iter()
        .filter(|c| c.status == 200 && text_of(c) == "Hello")
    {
        *hello.entry(c.chat_id.expect("chat")).or_default() += 1;
    }
    for user in &users {
        let expected = usize::from(!blocked.contains(user));
        assert_eq!(
            hello.get(user).copied().unwrap_or(0),
            expected,
            "user {user}"
        );
    }
    for chat in &blocked {
        let s = snapshot(&app, *chat).await;
        assert!(s.bot_blocked, "{chat} is marked as having blocked the bot");
        assert_eq!(
            calls
                .iter()
                .filter(|c| c.chat_id == Some(*chat) && c.status == 403)
                .count(),
            1
        );
    }
    assert!(!snapshot(&app, first + 1).await.bot_blocked);

    // Flood limits, from the times the fake saw the requests. The global one
    // counts every sendMessage (the admin's progress and report messages
    // too); the per-chat one is about the recipients (the admin's preview
    // and progress messages answer their own clicks, outside the Notifier).
    let ok: Vec<&Call> = calls.iter().filter(|c| c.status == 200).collect();
    let mut times: Vec<Instant> = ok.iter().map(|c| c.at).collect();
    times.sort();
    for (i, window) in times.windows(31).enumerate() {
        assert!(
            window[30] - window[0] >= Duration::from_secs(1),
            "31 successful sendMessage within {:?} (from #{i})",
            window[30] - window[0]
        );
    }
    let mut per_chat: HashMap<i64, Vec<Instant>> = HashMap::new();
    for c in &ok {
        if let Some(chat) = c.chat_id.filter(|chat| *chat != ADMIN) {
            per_chat.entry(chat).or_default().push(c.at);
        }
    }
    for (chat, times) in &per_chat {
        for pair in times.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_secs(1),
                "two messages to {chat} within {:?}",
                pair[1] - pair[0]
            );
        }
    }
    let limited: Vec<&Call> = calls.iter().filter(|c| c.status == 429).collect();
    assert_eq!(limited.len(), 2, "both injected 429s were hit");
    for c in &limited {
        let next = ok
            .iter()
            .filter(|o| o.at > c.at)
            .map(|o| o.at)
            .min()
            .expect("sends after a 429");
        assert!(
            next - c.at >= Duration::from_secs(1),
            "a send {:?} after a 429 with retry_after=1",
            next - c.at
        );
    }
    app.stop().await;
}
