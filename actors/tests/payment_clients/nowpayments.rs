//! The NOWPayments client against the fake NOWPayments API: exact invoice
//! bodies and amounts, errors, payment lookups, the dashboard login.

use super::*;

#[tokio::test]
async fn nowpayments_invoice_sends_the_exact_body() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let client = nowpayments(&fake.base_url(), API_KEY, 2);
    let order = OrderId::random();

    let invoice = client
        .create_invoice(order, &money(299, "USD"), "VPN 30 days")
        .await
        .unwrap();

    assert_eq!(
        fake.invoices(),
        vec![json!({
            "price_amount": 2.99,
            "price_currency": "usd",
            "order_id": order.uuid().to_string(),
            "order_description": "VPN 30 days",
            "ipn_callback_url": IPN_URL,
        })]
    );
    let raw = &fake.raw_invoices()[0];
    assert!(raw.contains(r#""price_amount":2.99,"#), "{raw}");
    assert!(raw.contains(r#""price_currency":"usd""#), "{raw}");
    assert!(fake.invoices()[0]["price_amount"].is_number());
    assert_eq!(invoice.provider_invoice_id, "5077125051");
    assert_eq!(
        invoice.pay_url,
        "https://nowpayments.io/payment/?iid=5077125051"
    );
}

#[tokio::test]
async fn nowpayments_amounts_are_exact_numbers() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let cents = nowpayments(&fake.base_url(), API_KEY, 2);
    let whole = nowpayments(&fake.base_url(), API_KEY, 0)
        .with_redirect_urls(
            Some("https://t.me/subvisor_bot?start=paid".into()),
            Some("https://t.me/subvisor_bot".into()),
        )
        .unwrap();
    let order = OrderId::random();

    cents
        .create_invoice(order, &money(5, "USD"), "a")
        .await
        .unwrap();
    cents
        .create_invoice(order, &money(290, "EUR"), "b")
        .await
        .unwrap();
    cents
        .create_invoice(order, &money(123456, "USD"), "c")
        .await
        .unwrap();
    whole
        .create_invoice(order, &money(500, "JPY"), "d")
        .await
        .unwrap();

    let amounts: Vec<String> = fake
        .raw_invoices()
        .iter()
        .map(|raw| {
            let start = raw.find(r#""price_amount":"#).unwrap() + r#""price_amount":"#.len();
            raw[start..].split([',', '}']).next().unwrap().to_owned()
        })
        .collect();
    assert_eq!(amounts, ["0.05", "2.9", "1234.56", "500"]);
    let last = fake.invoices().pop().unwrap();
    assert_eq!(last["price_currency"], "jpy");
    assert_eq!(last["success_url"], "https://t.me/subvisor_bot?start=paid");
    assert_eq!(last["cancel_url"], "https://t.me/subvisor_bot");

    // More significant digits than a JSON double carries: refused, not rounded.
    let result = cents
        .create_invoice(order, &money(123_456_789_012_345_678, "USD"), "e")
        .await;
    assert!(
        matches!(result, Err(Error::InvalidInput { .. })),
        "{result:?}"
    );
    assert_eq!(fake.invoices().len(), 4);
}

#[tokio::test]
async fn nowpayments_wrong_key_is_a_provider_error_naming_the_api_error() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let client = nowpayments(&fake.base_url(), WRONG_KEY, 2);

    let result = client
        .create_invoice(OrderId::random(), &money(299, "USD"), "VPN")
        .await;
    let debug = format!("{result:?}");
    let message = provider_message(result, "nowpayments");

    assert!(message.contains("INVALID_API_KEY"), "{message}");
    assert!(message.contains("403"), "{message}");
    assert_no_secret(&message, &[WRONG_KEY, API_KEY]);
    assert_no_secret(&debug, &[WRONG_KEY, API_KEY]);
    assert!(fake.invoices().is_empty());
}

#[tokio::test]
async fn nowpayments_server_failure_is_a_provider_error() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    fake.set_failing(true);
    let client = nowpayments(&fake.base_url(), API_KEY, 2);

    let message = provider_message(
        client
            .create_invoice(OrderId::random(), &money(299, "USD"), "VPN")
            .await,
        "nowpayments",
    );
    assert!(message.contains("500"), "{message}");
    assert_no_secret(&message, &[API_KEY]);
    assert!(fake.invoices().is_empty());
}

#[tokio::test]
async fn nowpayments_unreachable_server_fails_fast() {
    let base = format!("http://127.0.0.1:{}/v1", free_port());
    let client = nowpayments(&base, API_KEY, 2);

    let started = Instant::now();
    let message = provider_message(
        client
            .create_invoice(OrderId::random(), &money(299, "USD"), "VPN")
            .await,
        "nowpayments",
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(message.contains("cannot connect"), "{message}");
    assert_no_secret(&message, &[API_KEY]);
}

#[tokio::test]
async fn nowpayments_payment_reads_status_order_and_exact_price() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let client = nowpayments(&fake.base_url(), API_KEY, 2);
    let order = OrderId::random();
    let invoice = client
        .create_invoice(order, &money(299, "USD"), "VPN 30 days")
        .await
        .unwrap();
    let invoice_id = invoice.provider_invoice_id;
    fake.add_payment(&invoice_id, 5_524_759_814, "finished", "2.99", "USD");
    fake.add_payment(&invoice_id, 5_524_759_815, "waiting", "2.990000", "usd");
    fake.add_payment(&invoice_id, 5_524_759_816, "partially_paid", "2.991", "usd");
    fake.add_payment("1", 5_524_759_817, "failed", "3", "eur");

    let payment = client.payment("5524759814").await.unwrap();
    assert_eq!(
        payment,
        NpPayment {
            payment_id: "5524759814".into(),
            invoice_id: Some(invoice_id.clone()),
            status: "finished".into(),
            order: Some(order),
            price: Some(money(299, "USD")),
        }
    );
    let trailing = client.payment(" 5524759815 ").await.unwrap();
    assert_eq!(trailing.price, Some(money(299, "USD")));
    assert_eq!(trailing.status, "waiting");
    let finer = client.payment("5524759816").await.unwrap();
    assert_eq!(
        finer.price, None,
        "2.991 USD is not a whole number of cents"
    );
    assert_eq!(finer.status, "partially_paid");
    let other = client.payment("5524759817").await.unwrap();
    assert_eq!(other.order, None, "an invoice the fake did not create");
    assert_eq!(other.price, Some(money(300, "EUR")));

    fake.set_payment_status(5_524_759_815, "finished");
    assert_eq!(
        client.payment("5524759815").await.unwrap().status,
        "finished"
    );
}

#[tokio::test]
async fn nowpayments_payment_amounts_with_six_decimals() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let client = nowpayments(&fake.base_url(), API_KEY, 6);
    assert_eq!(client.decimals(), 6);
    fake.add_payment("5077125051", 1, "finished", "0.000001", "usd");
    fake.add_payment("5077125051", 2, "finished", "2.99", "usd");
    fake.add_payment("5077125051", 3, "finished", "1234.567890", "usd");
    let price = |id: &'static str| {
        let client = client.clone();
        async move { client.payment(id).await.unwrap().price }
    };
    assert_eq!(price("1").await, Some(money(1, "USD")));
    assert_eq!(price("2").await, Some(money(2_990_000, "USD")));
    assert_eq!(price("3").await, Some(money(1_234_567_890, "USD")));
}

#[tokio::test]
async fn nowpayments_payment_errors_are_provider_errors() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    let client = nowpayments(&fake.base_url(), API_KEY, 2);

    let unknown = provider_message(client.payment("42").await, "nowpayments");
    assert!(unknown.contains("404"), "{unknown}");
    assert!(unknown.contains("NOT_FOUND"), "{unknown}");
    let word = provider_message(client.payment("abc").await, "nowpayments");
    assert!(word.contains("400"), "{word}");
    assert!(word.contains("Payment id must be a number"), "{word}");
    assert!(matches!(
        client.payment("  ").await,
        Err(Error::InvalidInput { .. })
    ));

    let wrong = nowpayments(&fake.base_url(), WRONG_KEY, 2);
    let result = wrong.payment("42").await;
    let debug = format!("{result:?}");
    let message = provider_message(result, "nowpayments");
    assert!(message.contains("INVALID_API_KEY"), "{message}");
    assert!(message.contains("403"), "{message}");
    assert_no_secret(&message, &[WRONG_KEY, API_KEY]);
    assert_no_secret(&debug, &[WRONG_KEY, API_KEY]);

    fake.set_failing(true);
    let message = provider_message(client.payment("42").await, "nowpayments");
    assert!(message.contains("500"), "{message}");
}

#[tokio::test]
async fn nowpayments_invoice_payments_pages_through_the_list() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    fake.set_account(EMAIL, PASSWORD);
    let client = nowpayments_login(&fake.base_url(), PASSWORD, 2)
        .with_page_size(2)
        .unwrap();
    assert!(client.can_list_payments());
    let order = OrderId::random();
    let invoice_id = client
        .create_invoice(order, &money(299, "USD"), "VPN")
        .await
        .unwrap()
        .provider_invoice_id;
    let statuses = [
        "expired",
        "partially_paid",
        "waiting",
        "confirming",
        "finished",
    ];
    for (n, status) in (1..).zip(statuses) {
        fake.add_payment(&invoice_id, 6_000_000_000 + n, status, "2.99", "usd");
    }
    fake.add_payment("5077125099", 7_000_000_000, "finished", "9.99", "usd");
    let before = fake.requests();

    let payments = client.invoice_payments(&invoice_id).await.unwrap();

    assert_eq!(fake.requests(), before + 4, "one login, three pages");

    let got: Vec<(String, String)> = payments
        .iter()
        .map(|p| (p.payment_id.clone(), p.status.clone()))
        .collect();
    let want: Vec<(String, String)> = (1..)
        .zip(statuses)
        .map(|(n, s)| ((6_000_000_000_i64 + n).to_string(), s.to_owned()))
        .collect();
    assert_eq!(got, want, "all five over three pages, in order");
    for p in &payments {
        assert_eq!(p.invoice_id.as_deref(), Some(invoice_id.as_str()));
        assert_eq!(p.order, Some(order));
        assert_eq!(p.price, Some(money(299, "USD")));
    }
    assert_eq!(fake.logins(), 1);

    // The JWT is reused; an invoice without payments is an empty list.
    assert!(
        client
            .invoice_payments("5077125098")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(fake.logins(), 1);
}

#[tokio::test]
async fn nowpayments_invoice_payments_logs_in_again_after_a_401() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    fake.set_account(EMAIL, PASSWORD);
    let client = nowpayments_login(&fake.base_url(), PASSWORD, 2);
    fake.add_payment("5077125051", 1, "finished", "2.99", "usd");
    assert_eq!(
        client.invoice_payments("5077125051").await.unwrap().len(),
        1
    );
    assert_eq!(fake.logins(), 1);

    fake.expire_tokens();
    let before = fake.requests();
    let again = client.clone().invoice_payments("5077125051").await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(fake.logins(), 2, "one new login after the 401");
    assert_eq!(fake.requests(), before + 3, "401, login, retry");

    // A login that keeps failing is reported, not looped on.
    fake.set_account(EMAIL, "changed-on-the-dashboard");
    fake.expire_tokens();
    let message = provider_message(client.invoice_payments("5077125051").await, "nowpayments");
    assert!(message.contains("POST /auth"), "{message}");
    assert!(message.contains("ACCESS_DENIED"), "{message}");
    assert_no_secret(&message, &[PASSWORD, API_KEY]);
}

#[tokio::test]
async fn nowpayments_invoice_payments_needs_credentials() {
    let fake = FakeNowPayments::start(API_KEY).unwrap();
    fake.set_account(EMAIL, PASSWORD);

    let without = nowpayments(&fake.base_url(), API_KEY, 2);
    assert!(!without.can_list_payments());
    let message = provider_message(without.invoice_payments("5077125051").await, "nowpayments");
    assert!(message.contains("email"), "{message}");
    assert_eq!(fake.requests(), 0, "nothing is asked without credentials");

    let wrong = nowpayments_login(&fake.base_url(), WRONG_PASSWORD, 2);
    let result = wrong.invoice_payments("5077125051").await;
    let debug = format!("{result:?} {wrong:?}");
    let message = provider_message(result, "nowpayments");
    assert!(message.contains("ACCESS_DENIED"), "{message}");
    assert!(message.contains("403"), "{message}");
    assert_no_secret(&message, &[WRONG_PASSWORD, PASSWORD, API_KEY]);
    assert_no_secret(&debug, &[WRONG_PASSWORD, PASSWORD, API_KEY]);
    assert_eq!(fake.logins(), 0);
}

#[test]
fn nowpayments_settings_are_checked_and_debug_hides_the_key() {
    let cfg = NowPaymentsConfig {
        api_key: SecretString::from(API_KEY),
        base_url: "https://api-sandbox.nowpayments.io/v1".into(),
        ipn_callback_url: IPN_URL.into(),
        decimals: 2,
        email: None,
        password: None,
    };
    let client = NowPaymentsClient::new(cfg.clone()).unwrap();
    assert_no_secret(&format!("{cfg:?} {client:?}"), &[API_KEY]);
    assert!(!client.can_list_payments());
    assert_eq!(client.decimals(), 2);

    let mut with_login = cfg.clone();
    with_login.email = Some(EMAIL.into());
    with_login.password = Some(SecretString::from(PASSWORD));
    let client = NowPaymentsClient::new(with_login.clone()).unwrap();
    assert!(client.can_list_payments());
    assert_no_secret(&format!("{with_login:?} {client:?}"), &[API_KEY, PASSWORD]);
    // Email and password go together; blank counts as unset.
    let mut half = cfg.clone();
    half.email = Some(EMAIL.into());
    assert!(NowPaymentsClient::new(half).is_err());
    let mut half = cfg.clone();
    half.password = Some(SecretString::from(PASSWORD));
    assert!(NowPaymentsClient::new(half).is_err());
    let mut blank = cfg.clone();
    blank.email = Some("  ".into());
    blank.password = Some(SecretString::from(""));
    assert!(!NowPaymentsClient::new(blank).unwrap().can_list_payments());
    assert!(
        NowPaymentsClient::new(cfg.clone())
            .unwrap()
            .with_page_size(0)
            .is_err()
    );
    assert!(
        NowPaymentsClient::new(cfg.clone())
            .unwrap()
            .with_page_size(501)
            .is_err()
    );

    let mut bad = cfg.clone();
    bad.ipn_callback_url = "/webhooks/nowpayments".into();
    assert!(NowPaymentsClient::new(bad).is_err());
    let mut bad = cfg.clone();
    bad.decimals = 19;
    assert!(NowPaymentsClient::new(bad).is_err());
    let mut bad = cfg;
    bad.api_key = SecretString::from("line\nbreak");
    let err = NowPaymentsClient::new(bad).unwrap_err().to_string();
    assert!(!err.contains("line"), "{err}");
}

// ---------------------------------------------------------------------------
// Amounts

#[test]
fn minor_units_become_exact_decimal_strings() {
    assert_eq!(minor_to_decimal(299, 2).unwrap(), "2.99");
    assert_eq!(minor_to_decimal(0, 2).unwrap(), "0.00");
    assert_eq!(minor_to_decimal(5, 2).unwrap(), "0.05");
    assert_eq!(minor_to_decimal(10, 2).unwrap(), "0.10");
    assert_eq!(minor_to_decimal(123456, 2).unwrap(), "1234.56");
    // No fraction digits: Stars, JPY.
    assert_eq!(minor_to_decimal(0, 0).unwrap(), "0");
    assert_eq!(minor_to_decimal(150, 0).unwrap(), "150");
    // Six fraction digits: USDT on-chain units.
    assert_eq!(minor_to_decimal(2_990_000, 6).unwrap(), "2.990000");
    assert_eq!(minor_to_decimal(1, 6).unwrap(), "0.000001");
    assert_eq!(minor_to_decimal(1_234_567_890, 6).unwrap(), "1234.567890");
    assert_eq!(
        minor_to_decimal(i64::MAX, 2).unwrap(),
        "92233720368547758.07"
    );
    // Negative amounts are refused.
    for bad in [-1, -299, i64::MIN] {
        let err = minor_to_decimal(bad, 2).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }
}
