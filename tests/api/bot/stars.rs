//! Buying with Telegram Stars: the purchase, money an order could not take
//! (second charges, lost updates, fast taps), pre-checkout refusals.

use super::*;

// --- 1. purchase through Stars -------------------------------------------------

async fn stars_purchase(db: Db) {
    let (node, node_settings) = xray_node(match db {
        Db::Sqlite => "bot-buy-sqlite",
        Db::Postgres => "bot-buy-pg",
    });
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |s| s.nodes = vec![node_settings]).await;
    let user = 100_001;

    // /start: the main menu, with a Buy button.
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    let menu = nth_to_chat(&tg, "sendMessage", user, 0).await;
    assert!(text_of(&menu).contains("Hi, User100001"), "{menu:?}");
    assert!(
        buttons(&menu).contains(&data(&Callback::Buy)),
        "{:?}",
        buttons(&menu)
    );

    // Buy → plans; Plan → payment methods, Stars among them.
    tg.push_update(FakeTelegram::callback(user, &data(&Callback::Buy), MSG));
    let plans = nth_to_chat(&tg, "editMessageText", user, 0).await;
    let month = data(&Callback::Plan {
        plan: "month".into(),
    });
    assert!(buttons(&plans).contains(&month), "{:?}", buttons(&plans));
    tg.push_update(FakeTelegram::callback(user, &month, MSG));
    let methods = nth_to_chat(&tg, "editMessageText", user, 1).await;
    let pay = stars_button(&methods);

    // Pay with Stars → an invoice in XTR whose payload is the order id.
    tg.push_update(FakeTelegram::callback(user, &pay, MSG));
    let sent = nth_to_chat(&tg, "sendInvoice", user, 0).await;
    assert_eq!(sent.param_str("currency").as_deref(), Some("XTR"));
    assert_eq!(sent.params["prices"][0]["amount"], json!(150));
    let payload = sent.param_str("payload").expect("payload");
    let order = app
        .registry
        .store()
        .order(subvisor_actors::payments::stars::order_of_payload(&payload).expect("order id"))
        .await
        .expect("store")
        .expect("the payload is an order id");
    assert_eq!(
        (
            order.user.get(),
            order.provider,
            order.status,
            order.amount.minor
        ),
        (user, Provider::Stars, OrderStatus::Pending, 150)
    );
    assert_eq!(order.amount.currency.as_str(), "XTR");

    // Pre-checkout: accepted.
    assert_eq!(
        pre_checkout(&tg, user, "XTR", 150, &payload).await,
        (true, None)
    );

    // The payment: the status card arrives through the Notifier, led by the
    // card and its Connect button; no raw key and no QR code unasked.
    tg.push_update(FakeTelegram::successful_payment(
        user, "XTR", 150, &payload, "charge-1",
    ));
    let activated = card_message(&tg, user).await;
    let s = snapshot(&app, user).await;
    assert!(is_live(&app, &s), "the subscription is live");
    let sub = s.subscription.as_ref().expect("subscription");
    let text = text_of(&activated);
    assert!(
        text.starts_with("✅ <b>Your access is ready</b>"),
        "the card leads: {text}"
    );
    assert!(!text.contains("vless://"), "no raw key unasked: {text}");
    assert!(
        !text.contains("connected"),
        "never \"connected\" before: {text}"
    );
    let connect = connect_url(&activated).expect("a Connect button");
    assert!(
        connect.ends_with(&format!("/sub/{}", sub.sub_token)),
        "Connect opens the subscription URL: {connect}"
    );
    let first_row = &activated.params["reply_markup"]["inline_keyboard"][0][0];
    assert_eq!(
        first_row["url"].as_str(),
        Some(connect.as_str()),
        "Connect comes first"
    );
    assert!(to_chat(&tg, "sendPhoto", user).is_empty(), "no QR unasked");

    // The QR code on request.
    tg.push_update(FakeTelegram::callback(user, &data(&Callback::Qr), MSG));
    let photo = nth_to_chat(&tg, "sendPhoto", user, 0).await;
    let png = photo
        .files
        .first()
        .map(|(_, bytes)| bytes.clone())
        .expect("an uploaded photo");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the QR code is a PNG"
    );
    // The keys on request.
    let links = shown_keys(&tg, user).await;
    assert_eq!(links.len(), 1, "one link per node and key: {links:?}");
    let key = s.active_keys().next().expect("an active key");
    assert!(links[0].contains(&key.uuid.to_string()), "{}", links[0]);
    assert_eq!(order_status(&app, &payload).await, OrderStatus::Paid);

    // The subscription URL serves exactly those links.
    assert_eq!(served_links(&app, &sub.sub_token).await, links);

    // The key reached the node.
    eventually("the key is on the node", STEP, async || {
        node.users().iter().any(|(_, u)| *u == key.uuid)
    })
    .await;

    // The same payment again (Telegram redelivers an update): nothing new.
    tg.push_update(FakeTelegram::successful_payment(
        user, "XTR", 150, &payload, "charge-1",
    ));
    tg.push_update(FakeTelegram::message(user, "/sub", Some("en")));
    let screen = message_with(&tg, user, &en("sub-title")).await;
    assert!(
        connect_url(&screen).is_some(),
        "My subscription is the card"
    );
    assert!(!text_of(&screen).contains("vless://"));
    let again = snapshot(&app, user).await;
    assert_eq!(
        again.subscription.as_ref().map(|s| s.expires_at),
        Some(sub.expires_at),
        "a redelivered payment extends nothing"
    );
    app.stop().await;
}

both_backends!(stars_purchase);

// --- 1b. money the order could not take -----------------------------------------

/// Two pre-checkouts approved at once, two charges for one invoice: one
/// extension, the second charge goes back through `refundStarPayment`, the
/// user and the admins are told.
async fn a_second_stars_charge_goes_back_and_admins_are_told(db: Db) {
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |_| {}).await;
    let user = 100_020;
    let payload = invoice(&tg, user).await;
    stars_paid(&app, &tg, user, &payload, "charge-twice-1").await;
    tg.push_update(FakeTelegram::successful_payment(
        user,
        "XTR",
        150,
        &payload,
        "charge-twice-2",
    ));
    eventually("the second charge is sent back", STEP, async || {
        tg.calls_to("refundStarPayment")
            .iter()
            .any(|c| c.param_str("telegram_payment_charge_id").as_deref() == Some("charge-twice-2"))
    })
    .await;
    let refunds = tg.calls_to("refundStarPayment");
    assert_eq!(refunds.len(), 1, "only the second charge: {refunds:?}");
    let s = snapshot(&app, user).await;
    assert_eq!(
        s.subscription.expect("sub").expires_at.date_naive(),
        (Utc::now() + chrono::Duration::days(30)).date_naive(),
        "one extension"
    );
    eventually("the user hears about it", STEP, async || {
        to_chat(&tg, "sendMessage", user)
            .iter()
            .any(|c| text_of(c).contains("You paid twice"))
    })
    .await;
    eventually("the admins hear about it", STEP, async || {
        to_chat(&tg, "sendMessage", ADMIN).iter().any(|c| {
            text_of(c).contains("Payment sent back") && text_of(c).contains("charge-twice-2")
        })
    })
    .await;
    let (_, order) = app.get(&format!("/ops/orders/{payload}")).await;
    assert_eq!(order["order"]["status"], "paid");
    let settled: Vec<_> = order["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| p["settlement"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(settled, vec!["applied", "refunded"]);
    // A redelivery of either update changes nothing.
    tg.push_update(FakeTelegram::successful_payment(
        user,
        "XTR",
        150,
        &payload,
        "charge-twice-2",
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tg.calls_to("refundStarPayment").len(), 1);
    app.stop().await;
}

/// A Stars payment whose update never arrived is found by the payment
/// reconciler in the bot's Star transactions; the update that arrives late is
/// a plain duplicate.
async fn a_lost_stars_update_is_found_by_reconciliation(db: Db) {
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |_| {}).await;
    let user = 100_021;
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    let (status, created) = app
        .post(
            &format!("/ops/users/{user}/orders"),
            json!({ "plan": "month", "provider": "stars" }),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let order = created["order_id"].as_str().expect("order").to_owned();
    tg.add_star_payment(user, "charge-lost", 150, &order);

    let (status, dry) = app
        .post("/ops/payments/reconcile", json!({ "dry_run": true }))
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["found"].as_array().map(Vec::len), Some(1), "{dry}");
    assert_eq!(
        order_status(&app, &order).await,
        OrderStatus::Pending,
        "a dry run changes nothing"
    );

    let (_, report) = app.post("/ops/payments/reconcile", json!({})).await;
    assert_eq!(report["applied"], 1, "{report}");
    assert_eq!(report["found"][0]["outcome"], "applied");
    assert_eq!(order_status(&app, &order).await, OrderStatus::Paid);
    let (_, again) = app.post("/ops/payments/reconcile", json!({})).await;
    assert_eq!(
        again["found"],
        json!([]),
        "settled payments are not found twice"
    );

    tg.push_update(FakeTelegram::successful_payment(
        user,
        "XTR",
        150,
        &order,
        "charge-lost",
    ));
    eventually("the late update is handled", STEP, async || {
        app.registry
            .store()
            .webhook_event("stars", "charge-lost")
            .await
            .ok()
            .flatten()
            .is_some_and(|e| e.finished_at.is_some())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = snapshot(&app, user).await;
    assert_eq!(
        s.subscription.expect("sub").expires_at.date_naive(),
        (Utc::now() + chrono::Duration::days(30)).date_naive(),
        "one extension"
    );
    assert!(
        tg.calls_to("refundStarPayment").is_empty(),
        "a duplicate, not a second charge"
    );
    app.stop().await;
}

/// Fast taps on one Pay button: one order, one charge, one invoice.
async fn fast_taps_on_pay_charge_once(db: Db) {
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |_| {}).await;
    let user = 100_022;
    app.credit(user, 1000).await;
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    tg.push_update(FakeTelegram::callback(user, &data(&Callback::Buy), MSG));
    nth_to_chat(&tg, "editMessageText", user, 0).await;
    let month = data(&Callback::Plan {
        plan: "month".into(),
    });
    tg.push_update(FakeTelegram::callback(user, &month, MSG));
    let methods = nth_to_chat(&tg, "editMessageText", user, 1).await;
    let from_balance = buttons(&methods)
        .into_iter()
        .find(|b| b.starts_with("1:pay:month:b:"))
        .expect("a balance button with its key");
    for _ in 0..3 {
        tg.push_update(FakeTelegram::callback(user, &from_balance, MSG));
    }
    let stars = stars_button(&methods);
    for _ in 0..3 {
        tg.push_update(FakeTelegram::callback(user, &stars, MSG));
    }
    eventually("every tap is answered", STEP, async || {
        tg.calls_to("answerCallbackQuery")
            .iter()
            .filter(|c| c.status == 200)
            .count()
            >= 8
    })
    .await;
    // Each tap puts "invoice below" on the screen (the fake refuses the
    // identical second and third edits, as Telegram does: not modified).
    eventually(
        "the payment screen says the invoice is below",
        STEP,
        async || {
            tg.calls_to("editMessageText")
                .iter()
                .filter(|c| c.chat_id == Some(user) && text_of(c) == en("invoice-below"))
                .count()
                == 3
        },
    )
    .await;
    assert_eq!(
        to_chat(&tg, "sendInvoice", user).len(),
        1,
        "three taps on Stars: one open invoice"
    );
    let s = snapshot(&app, user).await;
    assert_eq!(s.balance_minor, 701, "charged once");
    let orders = app
        .registry
        .store()
        .orders_of(uid(user), 10)
        .await
        .expect("orders");
    let by = |p: Provider| orders.iter().filter(|o| o.provider == p).count();
    assert_eq!(
        (by(Provider::Balance), by(Provider::Stars)),
        (1, 1),
        "{orders:?}"
    );
    let payloads: HashSet<String> = to_chat(&tg, "sendInvoice", user)
        .iter()
        .filter_map(|c| c.param_str("payload"))
        .collect();
    assert_eq!(payloads.len(), 1, "every invoice is for the one open order");
    app.stop().await;
}

/// A Stars invoice from a new payment screen supersedes the purchase's last
/// one: the old one's pre-checkout is refused, the payment screen goes from
/// "invoice below" to "paid ✓", and a payment of the superseded invoice that
/// arrives anyway (its pre-checkout passed before) still pays the order; a
/// second charge then goes back.
async fn a_new_invoice_supersedes_the_last(db: Db) {
    let (app, tg) = spawn_bot(db, Arc::new(SystemClock), |_| {}).await;
    let user = 100_023;
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    let month = data(&Callback::Plan {
        plan: "month".into(),
    });
    // Edits of the screen: methods, invoice below, methods, invoice below.
    let methods_screen = async |nth: usize| {
        tg.push_update(FakeTelegram::callback(user, &month, MSG));
        stars_button(&nth_to_chat(&tg, "editMessageText", user, nth).await)
    };
    let first = methods_screen(0).await;
    tg.push_update(FakeTelegram::callback(user, &first, MSG));
    let old = nth_to_chat(&tg, "sendInvoice", user, 0)
        .await
        .param_str("payload")
        .expect("payload");
    let below = nth_to_chat(&tg, "editMessageText", user, 1).await;
    assert_eq!(text_of(&below), en("invoice-below"));
    let second = methods_screen(2).await;
    assert_ne!(first, second, "each payment screen has its own key");
    tg.push_update(FakeTelegram::callback(user, &second, MSG));
    let new = nth_to_chat(&tg, "sendInvoice", user, 1)
        .await
        .param_str("payload")
        .expect("payload");
    assert_ne!(old, new, "a new invoice");
    let order = |p: &str| subvisor_actors::payments::stars::order_of_payload(p);
    assert_eq!(order(&old), order(&new), "for the same open order");

    assert_eq!(
        pre_checkout(&tg, user, "XTR", 150, &old).await,
        (false, Some(en("precheckout-superseded"))),
        "the superseded invoice cannot be paid"
    );
    assert_eq!(
        pre_checkout(&tg, user, "XTR", 150, &new).await,
        (true, None)
    );

    // The superseded invoice's payment arrives anyway: it pays the order.
    tg.push_update(FakeTelegram::successful_payment(
        user,
        "XTR",
        150,
        &old,
        "charge-old",
    ));
    eventually("the payment screen says paid", STEP, async || {
        to_chat(&tg, "editMessageText", user)
            .iter()
            .any(|c| text_of(c) == en("invoice-paid"))
    })
    .await;
    assert_eq!(order_status(&app, &new).await, OrderStatus::Paid);
    let s = snapshot(&app, user).await;
    assert!(is_live(&app, &s), "the subscription is live");
    // And a charge of the new invoice on top goes back.
    tg.push_update(FakeTelegram::successful_payment(
        user,
        "XTR",
        150,
        &new,
        "charge-new",
    ));
    eventually("the second charge is sent back", STEP, async || {
        tg.calls_to("refundStarPayment")
            .iter()
            .any(|c| c.param_str("telegram_payment_charge_id").as_deref() == Some("charge-new"))
    })
    .await;
    app.stop().await;
}

both_backends!(
    a_new_invoice_supersedes_the_last,
    a_second_stars_charge_goes_back_and_admins_are_told,
    a_lost_stars_update_is_found_by_reconciliation,
    fast_taps_on_pay_charge_once
);

// --- 2. pre-checkout refusals -------------------------------------------------

#[actix_rt::test]
async fn pre_checkout_refuses_paid_expired_mismatched_and_paused_orders() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (app, tg) = spawn_bot(Db::Sqlite, clock.clone(), |_| {}).await;

    // Already paid.
    let paid = buy_with_stars(&app, &tg, 200_001, "charge-paid").await;
    assert_eq!(
        pre_checkout(&tg, 200_001, "XTR", 150, &paid).await,
        (false, Some(en("precheckout-paid")))
    );

    // Expired: the clock moves past payments.order_ttl, the Scheduler expires it.
    let stale = invoice(&tg, 200_002).await;
    clock.advance(chrono::Duration::hours(1) + chrono::Duration::minutes(1));
    eventually("the scheduler expires the order", STEP, async || {
        order_status(&app, &stale).await == OrderStatus::Expired
    })
    .await;
    assert_eq!(
        pre_checkout(&tg, 200_002, "XTR", 150, &stale).await,
        (false, Some(en("precheckout-expired")))
    );

    // Amount or currency not the order's.
    let order = invoice(&tg, 200_003).await;
    assert_eq!(
        pre_checkout(&tg, 200_003, "XTR", 149, &order).await,
        (false, Some(en("precheckout-mismatch")))
    );
    assert_eq!(
        pre_checkout(&tg, 200_003, "USD", 150, &order).await,
        (false, Some(en("precheckout-mismatch")))
    );
    // Someone else's order, or no order at all.
    assert_eq!(
        pre_checkout(&tg, 200_004, "XTR", 150, &order).await,
        (false, Some(en("precheckout-unknown")))
    );
    assert_eq!(
        pre_checkout(&tg, 200_003, "XTR", 150, "not-an-order").await,
        (false, Some(en("precheckout-unknown")))
    );
    // The right amount still goes through.
    assert_eq!(
        pre_checkout(&tg, 200_003, "XTR", 150, &order).await,
        (true, None)
    );

    // Purchases paused by an admin: a pending order is refused at checkout...
    let pending = invoice(&tg, 200_005).await;
    tg.push_update(FakeTelegram::message(ADMIN, "/maintenance on", Some("en")));
    message_with(&tg, ADMIN, &en("admin-maintenance-on")).await;
    assert_eq!(
        pre_checkout(&tg, 200_005, "XTR", 150, &pending).await,
        (false, Some(en("precheckout-paused")))
    );
    // ...and Pay shows the paused text instead of an invoice.
    let invoices = tg.calls_to("sendInvoice").len();
    let edits = to_chat(&tg, "editMessageText", 200_005).len();
    tg.push_update(FakeTelegram::callback(200_005, &pay_stars(), MSG));
    let paused = nth_to_chat(&tg, "editMessageText", 200_005, edits).await;
    assert_eq!(text_of(&paused), en("purchases-paused"));
    assert_eq!(
        tg.calls_to("sendInvoice").len(),
        invoices,
        "no invoice while paused"
    );

    // Maintenance off: the same order is accepted again, and Pay points at
    // its open invoice (one open invoice per purchase).
    tg.push_update(FakeTelegram::message(ADMIN, "/maintenance off", Some("en")));
    message_with(&tg, ADMIN, &en("admin-maintenance-off")).await;
    assert_eq!(
        pre_checkout(&tg, 200_005, "XTR", 150, &pending).await,
        (true, None)
    );
    tg.push_update(FakeTelegram::callback(200_005, &pay_stars(), MSG));
    let below = nth_to_chat(&tg, "editMessageText", 200_005, edits + 1).await;
    assert_eq!(text_of(&below), en("invoice-below"));
    assert_eq!(tg.calls_to("sendInvoice").len(), invoices);

    // A non-admin cannot pause purchases: /maintenance is an unknown command.
    tg.push_update(FakeTelegram::message(
        200_006,
        "/maintenance on",
        Some("en"),
    ));
    message_with(&tg, 200_006, &en("unknown-command")).await;
    assert_eq!(
        app.registry
            .store()
            .setting(subvisor::bot::PURCHASES_PAUSED)
            .await
            .expect("setting")
            .as_deref(),
        Some("false")
    );
    app.stop().await;
}
