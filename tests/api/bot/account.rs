//! A user's subscription after buying: Stars refunds, reissuing the key,
//! the trial.

use super::*;

// --- 3. Stars refunds ---------------------------------------------------------

#[actix_rt::test]
async fn stars_refund_goes_back_through_telegram_and_reverses_the_days() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let user = 300_001;
    let payload = buy_with_stars(&app, &tg, user, "charge-refund").await;
    assert!(is_live(&app, &snapshot(&app, user).await));

    let (status, view) = app
        .post(&format!("/ops/orders/{payload}/refund"), json!({}))
        .await;
    assert_eq!(status, 200, "{view}");
    let refunds = tg.calls_to("refundStarPayment");
    assert_eq!(refunds.len(), 1);
    assert_eq!(
        refunds[0]
            .param_str("telegram_payment_charge_id")
            .as_deref(),
        Some("charge-refund")
    );
    assert_eq!(refunds[0].param_str("user_id"), Some(user.to_string()));
    assert_eq!(refunds[0].status, 200);

    // Only that order gave access: it ends now.
    let s = snapshot(&app, user).await;
    assert!(!is_live(&app, &s), "access ends with the refund");
    assert_eq!(view["user"]["status"], "expired", "{view}");
    assert_eq!(order_status(&app, &payload).await, OrderStatus::Refunded);

    // The ledger tells it all; the balance is its sum.
    let ledger = app
        .registry
        .store()
        .ledger(uid(user))
        .await
        .expect("ledger");
    let kinds: Vec<LedgerKind> = ledger.iter().map(|e| e.kind).collect();
    for kind in [
        LedgerKind::Payment,
        LedgerKind::Purchase,
        LedgerKind::Refund,
        LedgerKind::Payout,
    ] {
        assert_eq!(
            kinds.iter().filter(|k| **k == kind).count(),
            1,
            "{kind:?} in {ledger:?}"
        );
    }
    let sum: i64 = ledger.iter().map(|e| e.amount.minor).sum();
    assert_eq!(
        app.registry
            .store()
            .ledger_sum(uid(user))
            .await
            .expect("sum"),
        sum
    );
    assert_eq!(s.balance_minor, sum);
    assert_eq!(sum, 0, "Stars pass through the ledger");
    let (_, ops_view) = app.get(&format!("/ops/users/{user}")).await;
    assert_eq!(ops_view["balance"]["minor"], json!(sum), "{ops_view}");

    // The user is told once, the refund first and only: the expiry it
    // caused (queued before it) says nothing of its own.
    let told = message_with(&tg, user, "refund of").await;
    assert_eq!(count_messages(&tg, user, "refund of"), 1);
    assert_eq!(count_messages(&tg, user, &en("notify-expired")), 0);
    assert!(buttons(&told).contains(&data(&Callback::Menu)), "{told:?}");

    // A refund Telegram refuses changes nothing here.
    let other = 300_002;
    let failing = buy_with_stars(&app, &tg, other, "charge-gone").await;
    tg.fail_refund("charge-gone");
    let before = snapshot(&app, other).await;
    let ledger_before = app
        .registry
        .store()
        .ledger(uid(other))
        .await
        .expect("ledger");
    let (status, body) = app
        .post(&format!("/ops/orders/{failing}/refund"), json!({}))
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        tg.calls_to("refundStarPayment")
            .iter()
            .any(|c| c.status == 400
                && c.param_str("telegram_payment_charge_id").as_deref() == Some("charge-gone"))
    );
    assert_eq!(order_status(&app, &failing).await, OrderStatus::Paid);
    let after = snapshot(&app, other).await;
    assert_eq!(
        after
            .subscription
            .as_ref()
            .map(|s| (s.status, s.expires_at)),
        before
            .subscription
            .as_ref()
            .map(|s| (s.status, s.expires_at))
    );
    assert!(is_live(&app, &after));
    assert_eq!(
        app.registry
            .store()
            .ledger(uid(other))
            .await
            .expect("ledger"),
        ledger_before
    );

    // An admin refunds from the bot: /user, Refund, Confirm.
    let third = 300_003;
    let order = buy_with_stars(&app, &tg, third, "charge-admin").await;
    let order_id: OrderId = order.parse().expect("order id");
    tg.push_update(FakeTelegram::message(
        ADMIN,
        &format!("/user {third}"),
        None,
    ));
    let view = message_with(&tg, ADMIN, &format!("<code>{third}</code>")).await;
    let ask = data(&Callback::AdminRefundAsk {
        order: order_id.uuid(),
    });
    assert!(buttons(&view).contains(&ask), "{:?}", buttons(&view));
    let edits = to_chat(&tg, "editMessageText", ADMIN).len();
    tg.push_update(FakeTelegram::callback(ADMIN, &ask, MSG));
    let confirm = nth_to_chat(&tg, "editMessageText", ADMIN, edits).await;
    let yes = data(&Callback::AdminRefund {
        order: order_id.uuid(),
    });
    assert!(buttons(&confirm).contains(&yes), "{:?}", buttons(&confirm));
    tg.push_update(FakeTelegram::callback(ADMIN, &yes, MSG));
    let done = nth_to_chat(&tg, "editMessageText", ADMIN, edits + 1).await;
    assert!(text_of(&done).contains("refunded"), "{done:?}");
    assert_eq!(order_status(&app, &order).await, OrderStatus::Refunded);
    assert!(
        tg.calls_to("refundStarPayment")
            .iter()
            .any(|c| c.status == 200
                && c.param_str("telegram_payment_charge_id").as_deref() == Some("charge-admin"))
    );
    assert!(!is_live(&app, &snapshot(&app, third).await));
    app.stop().await;
}

// --- 4. reissue ---------------------------------------------------------------

#[actix_rt::test]
async fn reissue_replaces_the_key_and_the_url_serves_the_new_link() {
    let (node, node_settings) = xray_node("bot-reissue");
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.nodes = vec![node_settings]
    })
    .await;
    let user = 400_001;
    let (status, granted) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": 30 }))
        .await;
    assert_eq!(status, 200, "{granted}");
    card_message(&tg, user).await;
    let old = snapshot(&app, user).await;
    let old_key = old.active_keys().next().expect("key").uuid;
    let token = old.subscription.as_ref().expect("sub").sub_token.clone();

    tg.push_update(FakeTelegram::callback(
        user,
        &data(&Callback::ReissueAsk),
        MSG,
    ));
    let ask = nth_to_chat(&tg, "editMessageText", user, 0).await;
    assert_eq!(text_of(&ask), en("reissue-confirm"));
    assert!(buttons(&ask).contains(&data(&Callback::ReissueConfirm)));
    tg.push_update(FakeTelegram::callback(
        user,
        &data(&Callback::ReissueConfirm),
        MSG,
    ));
    let done = nth_to_chat(&tg, "editMessageText", user, 1).await;
    assert!(text_of(&done).starts_with(&en("reissued")), "{done:?}");

    let new = snapshot(&app, user).await;
    let active: Vec<_> = new.active_keys().map(|k| k.uuid).collect();
    assert_eq!(active.len(), 1, "one active key");
    assert_ne!(active[0], old_key, "a new key");
    // The screen is the card again; the keys behind "Show keys".
    assert!(connect_url(&done).is_some(), "{done:?}");
    assert!(!text_of(&done).contains("vless://"), "{done:?}");
    let shown = shown_keys(&tg, user).await;
    assert_eq!(shown.len(), 1);
    assert!(shown[0].contains(&active[0].to_string()));

    // The URL is the same and serves the new link only.
    assert_eq!(new.subscription.as_ref().expect("sub").sub_token, token);
    let served = served_links(&app, &token).await;
    assert_eq!(served, shown);
    assert!(!served.iter().any(|l| l.contains(&old_key.to_string())));

    // The node follows: new key in, old key out.
    eventually("the node has only the new key", STEP, async || {
        let users = node.users();
        users.iter().any(|(_, u)| *u == active[0]) && !users.iter().any(|(_, u)| *u == old_key)
    })
    .await;
    // One notice per reissue: the edited screen, no message after it. A
    // later grant's notice is delivered after the reissue's would have been.
    let (status, _) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": 1 }))
        .await;
    assert_eq!(status, 200);
    message_with(&tg, user, "Subscription extended").await;
    assert_eq!(count_messages(&tg, user, &en("notify-reissued")), 0);
    assert_eq!(
        to_chat(&tg, "sendMessage", user).len(),
        2,
        "the first grant's card and the second's notice only: {:#?}",
        tg.sent_texts_to(user)
    );
    assert!(to_chat(&tg, "sendPhoto", user).is_empty(), "no QR unasked");
    app.stop().await;
}

// --- 5. the trial, once -------------------------------------------------------

#[actix_rt::test]
async fn the_trial_is_given_once() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| s.trial.days = 3).await;
    let user = 500_001;
    let trial = data(&Callback::Trial);

    tg.push_update(FakeTelegram::callback(user, &trial, MSG));
    let started = nth_to_chat(&tg, "editMessageText", user, 0).await;
    assert!(
        text_of(&started).contains("free trial has started"),
        "{started:?}"
    );
    let s = snapshot(&app, user).await;
    assert!(is_live(&app, &s) && s.trial_used);
    let expires = s.subscription.as_ref().expect("sub").expires_at;
    let token = s.subscription.as_ref().expect("sub").sub_token.clone();
    // One message: the screen the user tapped becomes the card.
    assert!(
        connect_url(&started).is_some_and(|u| u.ends_with(&format!("/sub/{token}"))),
        "{started:?}"
    );

    tg.push_update(FakeTelegram::callback(user, &trial, MSG));
    let refused = nth_to_chat(&tg, "editMessageText", user, 1).await;
    assert_eq!(text_of(&refused), en("trial-used"));
    assert!(buttons(&refused).contains(&data(&Callback::Buy)));
    let again = snapshot(&app, user).await;
    assert_eq!(
        again.subscription.as_ref().map(|s| s.expires_at),
        Some(expires),
        "no second extension"
    );
    // No message besides the screen: a later grant's notice is the first
    // message the user gets (the trial's queued notice came before it).
    let (status, _) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": 1 }))
        .await;
    assert_eq!(status, 200);
    message_with(&tg, user, "Subscription extended").await;
    assert_eq!(
        to_chat(&tg, "sendMessage", user).len(),
        1,
        "{:#?}",
        tg.sent_texts_to(user)
    );
    assert!(to_chat(&tg, "sendPhoto", user).is_empty());
    app.stop().await;
}
