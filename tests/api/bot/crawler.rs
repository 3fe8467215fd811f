//! The crawler: from `/start` (and an admin's `/users` and `/stats`), press
//! every button of every screen the bot shows — English and Russian users,
//! with and without a subscription, an admin — and check that every press
//! is answered, every screen has a way back, every callback fits in 64
//! bytes and nothing sent to a Russian user is English outside an
//! allow-list (brands, apps, links).

use std::collections::{BTreeSet, VecDeque};

use subvisor::config::LocalizedText;

use super::*;

/// Words that may appear in Russian texts: brands, app and OS names, units.
const ALLOWED: &[&str] = &[
    "vpn",
    "qr",
    "telegram",
    "stars",
    "happ",
    "v2raytun",
    "v2rayng",
    "v2rayn",
    "hiddify",
    "flclash",
    "clash",
    "meta",
    "for",
    "verge",
    "rev",
    "mihomo",
    "party",
    "sing-box",
    "streisand",
    "foxray",
    "android",
    "ios",
    "macos",
    "windows",
    "linux",
    "iphone",
    "ipad",
    "google",
    "play",
    "app",
    "store",
    "github",
    "usd",
    "xtr",
    // The language picker names each language in itself.
    "english",
];
/// Admin screens have a way back too (Menu, or Back to the users list).
const CHECK_ADMIN_WAY_BACK: bool = true;
/// A second admin, who speaks Russian.
const RU_ADMIN: i64 = 9_000_002;
/// English still allowed in Russian texts until translated (none now: dates
/// carry no "UTC", plan titles are configured per language). Listed here so
/// they are visible, not hidden.
const PENDING_TRANSLATION: &[&str] = &[];

const SEND_METHODS: &[&str] = &[
    "sendMessage",
    "editMessageText",
    "sendPhoto",
    "sendInvoice",
    "editMessageReplyMarkup",
];

/// The English words of `text` (markup, code, links and commands removed).
fn english_words(text: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut rest = text;
    // Drop <code>…</code> (links, keys) and tags.
    while let Some(start) = rest.find("<code>") {
        plain.push_str(&rest[..start]);
        rest = rest[start..]
            .split_once("</code>")
            .map_or("", |(_, after)| after);
    }
    plain.push_str(rest);
    let mut no_tags = String::new();
    let mut in_tag = false;
    for c in plain.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => no_tags.push(c),
            _ => {}
        }
    }
    no_tags
        .split_whitespace()
        .filter(|w| !w.contains("://") && !w.starts_with('/') && !w.starts_with('@'))
        .flat_map(|w| {
            w.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|w| w.trim_matches('-').to_ascii_lowercase())
        .filter(|w| w.chars().any(|c| c.is_ascii_alphabetic()))
        // The fake's Telegram names (`User720002`): the user's own name.
        .filter(|w| !(w.starts_with("user") && w[4..].chars().all(|c| c.is_ascii_digit())))
        .filter(|w| !ALLOWED.contains(&w.as_str()) && !PENDING_TRANSLATION.contains(&w.as_str()))
        .collect()
}

/// The bot's calls to `chat` that show something.
fn shown(tg: &FakeTelegram, chat: i64) -> Vec<Call> {
    tg.calls()
        .into_iter()
        .filter(|c| c.status == 200 && c.chat_id == Some(chat))
        .filter(|c| SEND_METHODS.contains(&c.method.as_str()))
        .collect()
}

/// What the crawl found wrong.
#[derive(Default)]
struct Findings {
    problems: Vec<String>,
    presses: usize,
}

/// Checks one shown screen and queues its buttons.
fn inspect(
    call: &Call,
    lang: Lang,
    f: &mut Findings,
    queue: &mut VecDeque<String>,
    seen: &mut BTreeSet<String>,
    from: &str,
) {
    let text = text_of(call);
    let datas = buttons(call);
    for d in &datas {
        if d.len() > 64 {
            f.problems
                .push(format!("{from}: callback over 64 bytes: {d}"));
        }
    }
    let exempt = ["sendPhoto", "sendInvoice"].contains(&call.method.as_str());
    let back = [
        data(&Callback::Menu),
        data(&Callback::Buy),
        data(&Callback::MySub),
    ];
    let has_way_back = datas
        .iter()
        .any(|d| back.contains(d) || d.starts_with("1:adm-users"));
    let admin_screen = from.contains(&ADMIN.to_string()) && !CHECK_ADMIN_WAY_BACK;
    if !exempt && !has_way_back && !admin_screen {
        f.problems.push(format!(
            "{from}: no way back to the menu in {} {:?}",
            call.method,
            text.chars().take(80).collect::<String>()
        ));
    }
    if lang == Lang::Ru {
        let mut words = english_words(&text);
        for label in labels(call) {
            words.extend(english_words(&label));
        }
        if !words.is_empty() {
            f.problems.push(format!(
                "{from}: English {words:?} in {:?}",
                text.chars().take(120).collect::<String>()
            ));
        }
    }
    for d in datas {
        // A Pay or grant button carries a fresh key each time it is drawn.
        let key = ["1:pay:", "1:adm-grant:"]
            .iter()
            .find_map(|prefix| {
                d.strip_prefix(prefix).map(|rest| {
                    let fields = rest.splitn(3, ':').take(2).collect::<Vec<_>>();
                    format!("{prefix}{}", fields.join(":"))
                })
            })
            .unwrap_or_else(|| d.clone());
        // Switching language would change what the crawl checks.
        let other_lang = Lang::ALL
            .iter()
            .any(|l| *l != lang && d == data(&Callback::SetLanguage(*l)));
        if !other_lang && seen.insert(key) {
            queue.push_back(d);
        }
    }
}

/// Crawls everything reachable for `user` from the `starts` commands.
async fn crawl(tg: &FakeTelegram, user: i64, lang: Lang, starts: &[&str]) -> Findings {
    let mut f = Findings::default();
    let mut queue = VecDeque::new();
    let mut seen = BTreeSet::new();
    let mut checked = 0;
    for command in starts {
        let before = shown(tg, user).len();
        tg.push_update(FakeTelegram::message(user, command, Some(lang.code())));
        nth_to_chat(tg, "sendMessage", user, 0).await;
        eventually("the command is answered", STEP, async || {
            shown(tg, user).len() > before
        })
        .await;
    }
    loop {
        let calls = shown(tg, user);
        for call in &calls[checked..] {
            inspect(
                call,
                lang,
                &mut f,
                &mut queue,
                &mut seen,
                &format!("user {user}"),
            );
        }
        checked = calls.len();
        let Some(press) = queue.pop_front() else {
            break;
        };
        f.presses += 1;
        let update = FakeTelegram::callback(user, &press, MSG);
        let query = update["callback_query"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        tg.push_update(update);
        let deadline = Instant::now() + STEP;
        loop {
            if shown(tg, user).len() > checked {
                break;
            }
            let popup = tg.calls_to("answerCallbackQuery").into_iter().find(|c| {
                c.param_str("callback_query_id") == Some(query.clone())
                    && c.param_str("text").is_some()
            });
            if let Some(popup) = popup {
                f.problems.push(format!(
                    "user {user}: {press} answered only with a pop-up: {:?}",
                    popup.param_str("text")
                ));
                break;
            }
            if Instant::now() > deadline {
                f.problems
                    .push(format!("user {user}: {press} was not answered"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    f
}

#[actix_rt::test]
async fn every_button_of_every_screen_answers_with_a_way_back_in_the_users_language() {
    let (_node, node_settings) = xray_node("bot-crawler");
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.nodes = vec![node_settings];
        s.trial.days = 3;
        s.telegram.support = Some("@help_desk".into());
        s.telegram.admins.push(RU_ADMIN);
        // Dates in a zone of its own (and never a "UTC" suffix).
        s.bot.timezone = "Europe/Moscow".into();
        // Plan titles per language (a Russian user sees no "month").
        for (plan, en, ru) in [
            ("month", "1 month", "1 месяц"),
            ("quarter", "3 months", "3 месяца"),
        ] {
            if let Some(p) = s.plans.iter_mut().find(|p| p.id == plan) {
                p.title = LocalizedText::PerLanguage(
                    [
                        ("en".to_owned(), en.to_owned()),
                        ("ru".to_owned(), ru.to_owned()),
                    ]
                    .into(),
                );
            }
        }
        // A traffic-limited plan and a pack: the usage bar, "Buy traffic",
        // the packs and the admin's traffic reset are crawled too.
        s.plans.push(
            serde_json::from_value(json!({
                "id": "traffic", "title": "⚡ 100", "days": 30,
                "fiat": { "amount_minor": 299, "currency": "USD" },
                "traffic_gb": 100, "traffic_reset": "month",
            }))
            .expect("plan"),
        );
        s.traffic_packs = vec![
            serde_json::from_value(json!({
                "id": "pack50", "title": "📶 50", "gb": 50,
                "fiat": { "amount_minor": 99, "currency": "USD" },
            }))
            .expect("pack"),
        ];
    })
    .await;
    // With a subscription: known to the bot (their language), then granted.
    for (user, lang) in [(720_003, "en"), (720_004, "ru")] {
        tg.push_update(FakeTelegram::message(user, "/start", Some(lang)));
        nth_to_chat(&tg, "sendMessage", user, 0).await;
        let (status, _) = app
            .post(&format!("/ops/users/{user}/grant"), json!({ "days": 30 }))
            .await;
        assert_eq!(status, 200);
        card_message(&tg, user).await;
        // …and on the traffic-limited plan, bought from the balance.
        app.credit(user, 10_000).await;
        let (status, body) = app
            .post(
                &format!("/ops/users/{user}/orders"),
                json!({ "plan": "traffic", "provider": "balance" }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let mut problems = Vec::new();
    let mut presses = 0;
    for (user, lang, starts) in [
        (720_001, Lang::En, &["/start"][..]),
        (720_002, Lang::Ru, &["/start"][..]),
        (720_003, Lang::En, &["/start"][..]),
        (720_004, Lang::Ru, &["/start"][..]),
        (ADMIN, Lang::En, &["/start", "/stats", "/users"][..]),
        (RU_ADMIN, Lang::Ru, &["/start", "/stats", "/users"][..]),
    ] {
        let found = crawl(&tg, user, lang, starts).await;
        presses += found.presses;
        problems.extend(found.problems);
    }
    assert!(presses > 40, "the crawl pressed only {presses} buttons");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    app.stop().await;
}

#[test]
fn english_words_skips_markup_links_and_allowed_names() {
    assert!(english_words("Нажмите <b>«🚀 Подключить»</b> — Happ, v2RayTun").is_empty());
    assert!(
        english_words("<code>vless://abc@host</code> https://x.example/sub/t /sub @desk")
            .is_empty()
    );
    assert_eq!(english_words("Статус: active"), vec!["active".to_owned()]);
}
