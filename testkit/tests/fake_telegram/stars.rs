//! Telegram Stars: invoices and invoice links, pre-checkout answers,
//! refunds, the Star transactions list.

use super::*;

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
