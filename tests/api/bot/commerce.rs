//! Promo codes and gifts in the bot: a buyer gives a plan, the link comes to
//! their chat, another user's `/start gift…` activates it once and the buyer
//! is told; a code entered before paying lowers the price; admin `/promo`.

use super::*;

/// Presses `data` under a screen of the bot (a new message id each time:
/// the same screen shown twice in one message would be "not modified");
/// waits for the edited screen.
async fn press(tg: &FakeTelegram, user: i64, data: &str) -> Call {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(MSG + 1);
    let message = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let before = to_chat(tg, "editMessageText", user).len();
    tg.push_update(FakeTelegram::callback(user, data, message));
    nth_to_chat(tg, "editMessageText", user, before).await
}

/// Sends a text message; waits for the bot's next message to that chat.
async fn say(tg: &FakeTelegram, user: i64, text: &str) -> Call {
    let before = to_chat(tg, "sendMessage", user).len();
    tg.push_update(FakeTelegram::message(user, text, Some("en")));
    nth_to_chat(tg, "sendMessage", user, before).await
}

/// The button of `call` whose data starts with the encoding of `prefix`.
fn button_like(call: &Call, prefix: &Callback) -> String {
    let prefix = data(prefix);
    buttons(call)
        .into_iter()
        .find(|b| b.starts_with(&format!("{prefix}:")) || *b == prefix)
        .unwrap_or_else(|| panic!("no {prefix} button in {:?}", buttons(call)))
}

#[actix_rt::test]
async fn a_gift_link_activates_once_and_the_buyer_is_told() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let (buyer, receiver, late) = (310_001, 310_002, 310_003);
    app.credit(buyer, 1000).await;

    // Buy → 🎁 Gift → the month plan → pay from the balance.
    let plans = press(&tg, buyer, &data(&Callback::Buy)).await;
    assert!(
        buttons(&plans).contains(&data(&Callback::GiftPlans)),
        "{plans:?}"
    );
    let gift_plans = press(&tg, buyer, &data(&Callback::GiftPlans)).await;
    let month = data(&Callback::GiftPlan {
        plan: "month".into(),
    });
    assert!(buttons(&gift_plans).contains(&month), "{gift_plans:?}");
    let methods = press(&tg, buyer, &month).await;
    let pay = button_like(
        &methods,
        &Callback::GiftPay {
            plan: "month".into(),
            provider: Provider::Balance,
            key: None,
        },
    );
    let paid = press(&tg, buyer, &pay).await;
    assert_eq!(text_of(&paid), en("gift-paid"));
    let bought = snapshot(&app, buyer).await;
    assert_eq!(bought.balance_minor, 1000 - 299);
    assert!(
        bought.subscription.is_none(),
        "the buyer gets a link, not days"
    );

    // The link comes to the buyer's chat.
    let prefix = "https://t.me/subvisor_test_bot?start=gift";
    let ready = message_with(&tg, buyer, prefix).await;
    let text = text_of(&ready);
    let code: String = text
        .split(prefix)
        .nth(1)
        .expect("link")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert_eq!(code.len(), 32, "{text}");

    // Another user opens it: their subscription starts, the buyer is told.
    let activated = say(&tg, receiver, &format!("/start gift{code}")).await;
    assert!(
        text_of(&activated).starts_with("🎁 Gift activated: 30 days added"),
        "{activated:?}"
    );
    let s = snapshot(&app, receiver).await;
    assert!(is_live(&app, &s));
    message_with(&tg, buyer, "Your gift of 30 days has been activated").await;
    card_message(&tg, receiver).await;

    // A second activation, by anyone, is refused clearly.
    let refused = say(&tg, late, &format!("/start gift{code}")).await;
    assert_eq!(text_of(&refused), en("gift-already-redeemed"));
    assert!(snapshot(&app, late).await.subscription.is_none());
    let again = say(&tg, receiver, &format!("/start gift{code}")).await;
    assert_eq!(text_of(&again), en("gift-already-redeemed"));
    let after = snapshot(&app, receiver).await;
    assert_eq!(
        after.subscription.map(|s| s.expires_at),
        s.subscription.map(|s| s.expires_at),
        "no second 30 days"
    );
    let unknown = say(&tg, late, &format!("/start gift{}", "0".repeat(32))).await;
    assert_eq!(text_of(&unknown), en("gift-unknown"));
    app.stop().await;
}

#[actix_rt::test]
async fn a_promo_code_entered_before_paying_lowers_the_price_once() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let user = 311_001;
    app.credit(user, 1000).await;

    // The admin makes a code in the bot.
    let made = say(&tg, ADMIN, "/promo new Spring percent 20 uses=5").await;
    assert!(
        text_of(&made).contains("<code>Spring</code> · −20% · 0/5"),
        "{made:?}"
    );
    let dup = say(&tg, ADMIN, "/promo new SPRING percent 10").await;
    assert!(text_of(&dup).contains("exists already"), "{dup:?}");
    let bad = say(&tg, ADMIN, "/promo new FREE percent 100").await;
    assert!(text_of(&bad).contains("1-99"), "{bad:?}");

    // The plan's payment screen offers "Have a promo code?".
    let methods = press(
        &tg,
        user,
        &data(&Callback::Plan {
            plan: "month".into(),
        }),
    )
    .await;
    let ask = data(&Callback::PromoAsk {
        plan: "month".into(),
    });
    assert!(buttons(&methods).contains(&ask), "{methods:?}");

    // A wrong code is refused by name; the right one shows the new price.
    press(&tg, user, &ask).await;
    let wrong = say(&tg, user, "AUTUMN").await;
    assert_eq!(text_of(&wrong), en("promo-refused-unknown"));
    press(&tg, user, &ask).await;
    let applied = say(&tg, user, "spring").await;
    let text = text_of(&applied);
    assert!(
        text.contains("<b>$2.40</b> instead of <i>$2.99</i>"),
        "{text}"
    );
    let pay = button_like(
        &applied,
        &Callback::PromoPay {
            plan: "month".into(),
            provider: Provider::Balance,
            key: None,
        },
    );
    let paid = press(&tg, user, &pay).await;
    assert_eq!(text_of(&paid), en("order-paid"));
    let s = snapshot(&app, user).await;
    assert_eq!(s.balance_minor, 1000 - 240, "the discounted price, once");
    assert!(is_live(&app, &s));

    // The same code again: used already.
    press(&tg, user, &ask).await;
    let again = say(&tg, user, "SPRING").await;
    assert_eq!(text_of(&again), en("promo-refused-already-used"));

    // The admin sees one use, switches it off; it is refused after.
    let list = say(&tg, ADMIN, "/promo").await;
    assert!(text_of(&list).contains("1/5"), "{list:?}");
    let off = say(&tg, ADMIN, "/promo off spring").await;
    assert!(text_of(&off).starts_with("⛔"), "{off:?}");
    let other = 311_002;
    press(&tg, other, &ask).await;
    let disabled = say(&tg, other, "spring").await;
    assert_eq!(text_of(&disabled), en("promo-refused-disabled"));
    let audit = app
        .registry
        .queries()
        .recent_ops_audit(20)
        .await
        .expect("audit");
    for action in ["promo_created", "promo_disabled"] {
        assert!(
            audit
                .iter()
                .any(|a| a.action == action && a.actor.contains(&ADMIN.to_string())),
            "{action}: {audit:?}"
        );
    }
    app.stop().await;
}
