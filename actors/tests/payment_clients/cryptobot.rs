//! The Crypto Pay client against the fake Crypto Pay API: exact invoice
//! bodies, errors, invoice lookups, settings.

use super::*;

#[tokio::test]
async fn cryptobot_asset_invoice_sends_the_exact_body() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let client = CryptoBotClient::new(CryptoBotConfig {
        token: SecretString::from(TOKEN),
        base_url: fake.base_url(),
        pricing: usdt(),
        expires_in: Some(900),
    })
    .unwrap();
    let order = OrderId::random();

    let invoice = client
        .create_invoice(order, &money(299, "USDT"), "VPN 30 days")
        .await
        .unwrap();

    assert_eq!(
        fake.invoices(),
        vec![json!({
            "currency_type": "crypto",
            "asset": "USDT",
            "amount": "2.99",
            "description": "VPN 30 days",
            "payload": order.uuid().to_string(),
            "expires_in": 900,
        })]
    );
    assert!(
        fake.raw_invoices()[0].contains(r#""amount":"2.99""#),
        "the amount goes out as a string"
    );
    assert_eq!(invoice.provider_invoice_id, "1");
    assert_eq!(
        invoice.pay_url,
        "https://t.me/CryptoTestnetBot?start=IVfake0000000001"
    );
}

#[tokio::test]
async fn cryptobot_fiat_invoice_sends_the_exact_body() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let order = OrderId::random();
    let with_assets = cryptobot(
        &fake.base_url(),
        TOKEN,
        CryptoBotPricing::Fiat {
            accepted_assets: Some("USDT,TON".into()),
            decimals: 2,
        },
    );
    let any_asset = cryptobot(
        &format!("{}/", fake.base_url()), // a trailing slash is fine
        TOKEN,
        CryptoBotPricing::Fiat {
            accepted_assets: None,
            decimals: 2,
        },
    );

    let first = with_assets
        .create_invoice(order, &money(299, "USD"), "VPN 30 days")
        .await
        .unwrap();
    let second = any_asset
        .create_invoice(order, &money(123456, "EUR"), "VPN 1 year")
        .await
        .unwrap();

    assert_eq!(
        fake.invoices(),
        vec![
            json!({
                "currency_type": "fiat",
                "fiat": "USD",
                "accepted_assets": "USDT,TON",
                "amount": "2.99",
                "description": "VPN 30 days",
                "payload": order.to_string(),
            }),
            json!({
                "currency_type": "fiat",
                "fiat": "EUR",
                "amount": "1234.56",
                "description": "VPN 1 year",
                "payload": order.to_string(),
            }),
        ]
    );
    assert_eq!(first.provider_invoice_id, "1");
    assert_eq!(second.provider_invoice_id, "2");
    assert!(second.pay_url.starts_with("https://t.me/"), "{second:?}");
}

#[tokio::test]
async fn cryptobot_wrong_token_is_a_provider_error_naming_the_api_error() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let client = cryptobot(&fake.base_url(), WRONG_TOKEN, usdt());

    let result = client
        .create_invoice(OrderId::random(), &money(299, "USDT"), "VPN")
        .await;
    let debug = format!("{result:?}");
    let message = provider_message(result, "cryptobot");

    assert!(message.contains("UNAUTHORIZED"), "{message}");
    assert!(message.contains("401"), "{message}");
    assert_no_secret(&message, &[WRONG_TOKEN, TOKEN]);
    assert_no_secret(&debug, &[WRONG_TOKEN, TOKEN]);
    assert!(fake.invoices().is_empty());
}

#[tokio::test]
async fn cryptobot_server_failure_is_a_provider_error() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    fake.set_failing(true);
    let client = cryptobot(&fake.base_url(), TOKEN, usdt());

    let message = provider_message(
        client
            .create_invoice(OrderId::random(), &money(299, "USDT"), "VPN")
            .await,
        "cryptobot",
    );
    assert!(message.contains("500"), "{message}");
    assert_no_secret(&message, &[TOKEN]);
    assert!(fake.invoices().is_empty());

    fake.set_failing(false);
    client
        .create_invoice(OrderId::random(), &money(299, "USDT"), "VPN")
        .await
        .expect("works again once the server recovers");
}

#[tokio::test]
async fn cryptobot_unreachable_server_fails_fast() {
    let base = format!("http://127.0.0.1:{}/api", free_port());
    let client = cryptobot(&base, TOKEN, usdt());

    let started = Instant::now();
    let message = provider_message(
        client
            .create_invoice(OrderId::random(), &money(299, "USDT"), "VPN")
            .await,
        "cryptobot",
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(message.contains("cannot connect"), "{message}");
    assert_no_secret(&message, &[TOKEN]);
}

#[tokio::test]
async fn cryptobot_refuses_bad_amounts_before_calling() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let client = cryptobot(&fake.base_url(), TOKEN, usdt());
    for amount in [money(299, "USD"), money(0, "USDT"), money(-5, "USDT")] {
        let result = client
            .create_invoice(OrderId::random(), &amount, "VPN")
            .await;
        assert!(
            matches!(result, Err(Error::InvalidInput { .. })),
            "{amount}: {result:?}"
        );
    }
    assert_eq!(fake.requests(), 0);
}

#[tokio::test]
async fn cryptobot_get_invoices_reads_status_amount_order_and_paid_at() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let client = cryptobot(&fake.base_url(), TOKEN, usdt());
    assert_eq!(client.decimals(), 2);
    let (first, second, third) = (OrderId::random(), OrderId::random(), OrderId::random());
    for (order, minor) in [(first, 299), (second, 500), (third, 1)] {
        client
            .create_invoice(order, &money(minor, "USDT"), "VPN")
            .await
            .unwrap();
    }
    assert_eq!(fake.created_invoice_ids(), vec![1, 2, 3]);
    fake.pay_invoice(1);
    fake.expire_invoice(2);
    let before = fake.requests();

    let mut invoices = client.get_invoices(&[1, 2, 3, 999, 1]).await.unwrap();
    invoices.sort_by_key(|i| i.invoice_id);

    assert_eq!(fake.requests(), before + 1, "one getInvoices call");
    assert_eq!(invoices.len(), 3, "the unknown id is absent: {invoices:?}");
    let paid_at = invoices[0].paid_at.expect("paid_at of a paid invoice");
    assert!((chrono::Utc::now() - paid_at).num_seconds().abs() < 60);
    assert_eq!(
        invoices,
        vec![
            CryptoInvoice {
                invoice_id: 1,
                status: CryptoInvoiceStatus::Paid,
                amount: money(299, "USDT"),
                order: Some(first),
                paid_at: Some(paid_at),
            },
            CryptoInvoice {
                invoice_id: 2,
                status: CryptoInvoiceStatus::Expired,
                amount: money(500, "USDT"),
                order: Some(second),
                paid_at: None,
            },
            CryptoInvoice {
                invoice_id: 3,
                status: CryptoInvoiceStatus::Active,
                amount: money(1, "USDT"),
                order: Some(third),
                paid_at: None,
            },
        ]
    );

    assert!(client.get_invoices(&[]).await.unwrap().is_empty());
    assert!(client.get_invoices(&[404]).await.unwrap().is_empty());
    assert_eq!(fake.requests(), before + 2, "no call for an empty list");
}

#[tokio::test]
async fn cryptobot_get_invoices_amounts_are_exact() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let micro = cryptobot(
        &fake.base_url(),
        TOKEN,
        CryptoBotPricing::Asset {
            asset: "USDT".into(),
            decimals: 6,
        },
    );
    let fiat = cryptobot(
        &fake.base_url(),
        TOKEN,
        CryptoBotPricing::Fiat {
            accepted_assets: Some("TON".into()),
            decimals: 2,
        },
    );
    assert_eq!(micro.decimals(), 6);
    micro
        .create_invoice(OrderId::random(), &money(1, "USDT"), "a")
        .await
        .unwrap();
    micro
        .create_invoice(OrderId::random(), &money(2_990_000, "USDT"), "b")
        .await
        .unwrap();
    fiat.create_invoice(OrderId::random(), &money(299, "EUR"), "c")
        .await
        .unwrap();
    assert_eq!(fake.invoices()[0]["amount"], "0.000001");
    fake.pay_invoice(3);

    let amounts = |list: Vec<CryptoInvoice>| {
        let mut list: Vec<(i64, Money)> =
            list.into_iter().map(|i| (i.invoice_id, i.amount)).collect();
        list.sort_by_key(|(id, _)| *id);
        list
    };
    assert_eq!(
        amounts(micro.get_invoices(&[1, 2]).await.unwrap()),
        vec![(1, money(1, "USDT")), (2, money(2_990_000, "USDT"))]
    );
    let euro = fiat.get_invoices(&[3]).await.unwrap();
    assert_eq!(amounts(euro.clone()), vec![(3, money(299, "EUR"))]);
    assert_eq!(euro[0].status, CryptoInvoiceStatus::Paid);

    // An amount finer than the client's decimals is refused, not rounded.
    let message = provider_message(fiat.get_invoices(&[1]).await, "cryptobot");
    assert!(message.contains("0.000001"), "{message}");
    assert!(message.contains("invoice 1"), "{message}");
    assert_no_secret(&message, &[TOKEN]);
}

#[tokio::test]
async fn cryptobot_get_invoices_asks_in_batches_of_1000() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let client = cryptobot(&fake.base_url(), TOKEN, usdt());
    let order = OrderId::random();
    client
        .create_invoice(order, &money(299, "USDT"), "VPN")
        .await
        .unwrap();
    let before = fake.requests();
    // 2500 distinct ids, the known one last.
    let mut ids: Vec<i64> = (1_000..3_499).collect();
    ids.push(1);

    let found = client.get_invoices(&ids).await.unwrap();

    assert_eq!(fake.requests(), before + 3, "1000 + 1000 + 500 ids");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].order, Some(order));
}

#[tokio::test]
async fn cryptobot_get_invoices_wrong_token_and_failures_are_provider_errors() {
    let fake = FakeCryptoPay::start(TOKEN).unwrap();
    let wrong = cryptobot(&fake.base_url(), WRONG_TOKEN, usdt());
    let result = wrong.get_invoices(&[1]).await;
    let debug = format!("{result:?}");
    let message = provider_message(result, "cryptobot");
    assert!(message.contains("getInvoices"), "{message}");
    assert!(message.contains("UNAUTHORIZED"), "{message}");
    assert_no_secret(&message, &[WRONG_TOKEN, TOKEN]);
    assert_no_secret(&debug, &[WRONG_TOKEN, TOKEN]);

    fake.set_failing(true);
    let client = cryptobot(&fake.base_url(), TOKEN, usdt());
    let message = provider_message(client.get_invoices(&[1]).await, "cryptobot");
    assert!(message.contains("500"), "{message}");
}

#[test]
fn cryptobot_settings_are_checked_and_debug_hides_the_token() {
    let cfg = |pricing, expires_in| CryptoBotConfig {
        token: SecretString::from(TOKEN),
        base_url: "https://testnet-pay.crypt.bot/api".into(),
        pricing,
        expires_in,
    };
    let fiat = |list: &str| CryptoBotPricing::Fiat {
        accepted_assets: Some(list.into()),
        decimals: 2,
    };
    assert!(CryptoBotClient::new(cfg(usdt(), Some(0))).is_err());
    assert!(CryptoBotClient::new(cfg(usdt(), Some(2_678_401))).is_err());
    assert!(CryptoBotClient::new(cfg(fiat("USDT, TON"), None)).is_err());
    assert!(CryptoBotClient::new(cfg(fiat(""), None)).is_err());
    assert!(
        CryptoBotClient::new(cfg(
            CryptoBotPricing::Asset {
                asset: "usdt".into(),
                decimals: 2
            },
            None
        ))
        .is_err()
    );
    let mut bad_url = cfg(usdt(), None);
    bad_url.base_url = "pay.crypt.bot/api".into();
    assert!(CryptoBotClient::new(bad_url).is_err());
    let mut empty_token = cfg(usdt(), None);
    empty_token.token = SecretString::from("");
    assert!(CryptoBotClient::new(empty_token).is_err());

    let config = cfg(fiat("USDT,TON"), Some(3600));
    let client = CryptoBotClient::new(config.clone()).unwrap();
    assert_no_secret(&format!("{config:?} {client:?}"), &[TOKEN]);
}
