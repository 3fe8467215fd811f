//! Broadcasting under Telegram's flood limits, checked from the times the
//! fake received the requests.
//!
//! The Notifier spaces its sends [`JITTER_MARGIN`] wider than the limits it
//! is configured with, so that a send leaving late (a busy runtime, the
//! network) never puts more than the budget into one period at Telegram's
//! end. What the fake sees may therefore be up to that margin tighter than
//! the Notifier's own spacing, and must still keep the configured limits:
//! the limits themselves are what is asserted, and that margin is the only
//! tolerance.

use super::*;

use subvisor_actors::notifier::JITTER_MARGIN;

/// The Notifier's budgets in these tests (the defaults, set explicitly).
const PER_SECOND: u32 = 30;
const PER_CHAT: Duration = Duration::from_secs(1);
/// What the fake's 429s ask for.
const RETRY_AFTER_SECS: u32 = 1;

fn limits(s: &mut Settings) {
    s.notifier.global_per_second = PER_SECOND;
    s.notifier.per_chat_interval = PER_CHAT;
}

/// The jitter the Notifier's margin absorbs over `period` (10% of it).
fn margin_of(period: Duration) -> Duration {
    period.mul_f64(JITTER_MARGIN - 1.0)
}

async fn seed_users(app: &TestApp, users: &[i64]) {
    let store = app.registry.store().clone();
    let ctx = WriteCtx {
        now: Utc::now(),
        by: Principal::System,
        nodes: &[],
    };
    for user in users {
        store
            .touch_user(
                &ctx,
                uid(*user),
                &Profile {
                    username: Some(format!("user{user}")),
                    display_name: None,
                    language_code: Some("en".into()),
                    referrer: None,
                },
            )
            .await
            .expect("touch");
    }
}

/// Every `sendMessage` the Notifier made (any answer), by arrival. The
/// admin's preview, progress and report messages answer the admin's own
/// clicks outside the Notifier and are left out.
fn notifier_sends(tg: &FakeTelegram) -> Vec<Call> {
    let mut calls: Vec<Call> = tg
        .calls_to("sendMessage")
        .into_iter()
        .filter(|c| c.chat_id != Some(ADMIN))
        .collect();
    calls.sort_by_key(|c| c.at);
    calls
}

// --- 7. broadcast to 1,000 users ------------------------------------------------

#[actix_rt::test]
async fn broadcast_to_a_thousand_users_respects_the_flood_limits() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), limits).await;
    let first = 7_000_001;
    let users: Vec<i64> = (first..first + 1000).collect();
    seed_users(&app, &users).await;
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
    tg.fail_next("sendMessage", 2, RETRY_AFTER_SECS);

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

    let sends = notifier_sends(&tg);
    // Every reachable user got "Hello" exactly once; the blocked ones were tried once.
    let mut hello: HashMap<i64, usize> = HashMap::new();
    for c in sends
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
            sends
                .iter()
                .filter(|c| c.chat_id == Some(*chat) && c.status == 403)
                .count(),
            1
        );
    }
    assert!(!snapshot(&app, first + 1).await.bot_blocked);

    // The global limit: no PER_SECOND + 1 requests of the Notifier (whatever
    // the answer: each was a request to Telegram) within one second.
    let times: Vec<Instant> = sends.iter().map(|c| c.at).collect();
    let budget = PER_SECOND as usize;
    for (i, window) in times.windows(budget + 1).enumerate() {
        let span = window[budget] - window[0];
        assert!(
            span >= Duration::from_secs(1),
            "{} requests within {span:?} (from #{i})",
            budget + 1
        );
    }

    // The 429s: no request may leave for `retry_after` once one came back.
    // The fake cannot see when the Notifier read the answer, and requests
    // already on their way then still arrive; so what is checked is the gap
    // the pause leaves in the arrivals after the first 429, up to the first
    // success after the last 429 plus retry_after: at least retry_after minus
    // the margin for a request delayed on its way. (A Notifier ignoring
    // retry_after goes on at its usual spacing, 1.1 s / PER_SECOND.)
    let limited: Vec<&Call> = sends.iter().filter(|c| c.status == 429).collect();
    assert_eq!(limited.len(), 2, "both injected 429s were hit");
    let retry_after = Duration::from_secs(RETRY_AFTER_SECS.into());
    let (first_429, last_429) = (limited[0].at, limited[1].at);
    let resumed = sends
        .iter()
        .find(|c| c.status == 200 && c.at >= last_429 + retry_after)
        .expect("sends after the pause")
        .at;
    let around: Vec<Instant> = times
        .iter()
        .copied()
        .filter(|t| (first_429..=resumed).contains(t))
        .collect();
    let silence = around
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        silence >= retry_after - margin_of(retry_after),
        "after a 429 with retry_after={retry_after:?} the longest pause was {silence:?}; \
         arrivals from the first 429 on: {:?}",
        around.iter().map(|t| *t - first_429).collect::<Vec<_>>()
    );
    app.stop().await;
}

/// Several broadcasts in a row give each chat several messages at once: they
/// go out in order, no two to one chat within `per_chat_interval`.
///
/// Eight chats: each message also queues for the global budget behind up to
/// seven others (7 x 1.1 s / 30 = 257 ms). A chat's spacing is measured from
/// when its previous message left, after that queueing, so the gaps Telegram
/// sees keep the interval; measured from when the per-chat budget was taken
/// (as it once was) they shrank by up to that wait, beyond the 200 ms the
/// margin leaves on 2 s.
#[actix_rt::test]
async fn broadcasts_in_a_row_keep_each_chat_to_one_message_per_interval() {
    let per_chat = Duration::from_secs(2);
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        limits(s);
        s.notifier.per_chat_interval = per_chat;
    })
    .await;
    let users: Vec<i64> = (7_100_001..7_100_009).collect();
    seed_users(&app, &users).await;
    let texts: Vec<String> = (1..=4).map(|n| format!("News #{n}")).collect();
    for text in &texts {
        let report = app
            .registry
            .broadcast(Principal::Admin(ADMIN), text, &[])
            .await
            .expect("broadcast");
        assert_eq!(report.total, users.len() as i64);
    }
    let total = users.len() * texts.len();
    let sent = tg
        .wait_for_calls_async("sendMessage", total, Duration::from_secs(60))
        .await;
    assert_eq!(sent.len(), total, "every message delivered");

    let sends = notifier_sends(&tg);
    assert_eq!(sends.len(), total, "each sent once, no retries");
    for user in &users {
        let chat: Vec<&Call> = sends.iter().filter(|c| c.chat_id == Some(*user)).collect();
        assert_eq!(
            chat.iter().map(|c| text_of(c)).collect::<Vec<_>>(),
            texts,
            "chat {user} in order"
        );
        for pair in chat.windows(2) {
            let gap = pair[1].at - pair[0].at;
            assert!(
                gap >= per_chat,
                "two messages to {user} within {gap:?} (per_chat_interval {per_chat:?})"
            );
        }
    }
    app.stop().await;
}
