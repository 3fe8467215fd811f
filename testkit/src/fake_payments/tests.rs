//! Tests of the fake payment providers over raw HTTP.

use super::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

fn roundtrip(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn crypto_pay_checks_the_token_and_creates_invoices() {
    let fake = FakeCryptoPay::start("t0ken").unwrap();
    let addr = fake.server.addr;
    let body = r#"{"asset":"USDT","amount":"2.99","payload":"x"}"#;
    let wrong = roundtrip(
        addr,
        &format!(
            "POST /api/createInvoice HTTP/1.1\r\nHost: x\r\nCrypto-Pay-API-Token: nope\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    assert!(wrong.contains(r#""name":"UNAUTHORIZED""#), "{wrong}");

    // Chunked body, mixed-case header name.
    let ok = roundtrip(
        addr,
        &format!(
            "POST /api/createInvoice HTTP/1.1\r\nHost: x\r\ncrypto-pay-api-token: t0ken\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        ),
    );
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains(r#""bot_invoice_url":"https://t.me/"#), "{ok}");
    assert_eq!(fake.invoices().len(), 1);
    assert_eq!(fake.raw_invoices(), vec![body.to_owned()]);
    assert_eq!(fake.requests(), 2);

    fake.set_failing(true);
    let failed = roundtrip(
        addr,
        "GET /api/getMe HTTP/1.1\r\nCrypto-Pay-API-Token: t0ken\r\n\r\n",
    );
    assert!(failed.starts_with("HTTP/1.1 500"), "{failed}");
}

#[test]
fn now_payments_answers_403_for_a_wrong_key() {
    let fake = FakeNowPayments::start("k3y").unwrap();
    let out = roundtrip(
        fake.server.addr,
        "POST /v1/invoice HTTP/1.1\r\nx-api-key: bad\r\ncontent-length: 2\r\n\r\n{}",
    );
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(out.contains(r#""code":"INVALID_API_KEY""#), "{out}");
    assert!(fake.invoices().is_empty());
}

#[test]
fn dates_are_gregorian() {
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(59), (1970, 3, 1));
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    assert_eq!(civil_from_days(20_089), (2025, 1, 1));
    assert!(iso_now().ends_with('Z'));
    assert_eq!(iso_now().len(), "2025-01-01T00:00:00.000Z".len());
}

#[test]
fn crypto_pay_get_invoices_from_the_query_string() {
    let fake = FakeCryptoPay::start("t0ken").unwrap();
    let addr = fake.server.addr;
    for amount in ["1.00", "2.00", "3.00"] {
        let body = format!(r#"{{"asset":"TON","amount":"{amount}"}}"#);
        let out = roundtrip(
            addr,
            &format!(
                "POST /api/createInvoice HTTP/1.1\r\nCrypto-Pay-API-Token: t0ken\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }
    assert_eq!(fake.created_invoice_ids(), vec![1, 2, 3]);
    fake.pay_invoice(2);
    let get = |query: &str| {
        let out = roundtrip(
            addr,
            &format!(
                "GET /api/getInvoices?{query} HTTP/1.1\r\nCrypto-Pay-API-Token: t0ken\r\n\r\n"
            ),
        );
        let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        (
            out,
            serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
        )
    };
    let (_, all) = get("invoice_ids=1%2C2,3,99");
    let ids: Vec<i64> = all["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["invoice_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![3, 2, 1], "newest first, unknown ids absent");
    let (_, paid) = get("status=paid");
    assert_eq!(paid["result"]["items"][0]["invoice_id"], 2);
    assert_eq!(paid["result"]["items"][0]["paid_asset"], "TON");
    let (_, page) = get("offset=1&count=1");
    assert_eq!(page["result"]["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["result"]["items"][0]["invoice_id"], 2);
    let (out, _) = get("count=1001");
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("COUNT_INVALID"), "{out}");
}

#[test]
fn now_payments_list_needs_a_jwt_and_pages() {
    let fake = FakeNowPayments::start("k3y").unwrap();
    let addr = fake.server.addr;
    fake.set_account("a@b.c", "pw");
    for (id, amount) in [(11, "2.99"), (12, "0.000001"), (13, "10")] {
        fake.add_payment("5077125051", id, "waiting", amount, "USD");
    }
    fake.add_payment("5077125099", 14, "finished", "1", "usd");
    let no_jwt = roundtrip(
        addr,
        "GET /v1/payment/?invoiceId=5077125051 HTTP/1.1\r\nx-api-key: k3y\r\n\r\n",
    );
    assert!(no_jwt.starts_with("HTTP/1.1 401"), "{no_jwt}");
    let bad = r#"{"email":"a@b.c","password":"PW"}"#;
    let denied = roundtrip(
        addr,
        &format!(
            "POST /v1/auth HTTP/1.1\r\ncontent-length: {}\r\n\r\n{bad}",
            bad.len()
        ),
    );
    assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");
    let good = r#"{"email":"a@b.c","password":"pw"}"#;
    let auth = roundtrip(
        addr,
        &format!(
            "POST /v1/auth HTTP/1.1\r\ncontent-length: {}\r\n\r\n{good}",
            good.len()
        ),
    );
    let body = auth.split("\r\n\r\n").nth(1).unwrap();
    let token = serde_json::from_str::<Value>(body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = roundtrip(
        addr,
        &format!(
            "GET /v1/payment/?invoiceId=5077125051&limit=2&page=1 HTTP/1.1\r\n\
             x-api-key: k3y\r\nAuthorization: Bearer {token}\r\n\r\n"
        ),
    );
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains(r#""price_amount":10,"#), "{page}");
    let body: Value = serde_json::from_str(page.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["total"], 3);
    assert_eq!(body["pagesCount"], 2);
    assert_eq!(body["page"], 1);
    assert_eq!(body["data"][0]["payment_id"], 13);
    assert_eq!(body["data"][0]["invoice_id"], 5_077_125_051_i64);

    let one = roundtrip(
        addr,
        "GET /v1/payment/12 HTTP/1.1\r\nx-api-key: k3y\r\n\r\n",
    );
    assert!(one.contains(r#""price_amount":0.000001,"#), "{one}");
    assert!(one.contains(r#""price_currency":"usd""#), "{one}");
    let unknown = roundtrip(
        addr,
        "GET /v1/payment/99 HTTP/1.1\r\nx-api-key: k3y\r\n\r\n",
    );
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    let word = roundtrip(
        addr,
        "GET /v1/payment/abc HTTP/1.1\r\nx-api-key: k3y\r\n\r\n",
    );
    assert!(word.starts_with("HTTP/1.1 400"), "{word}");

    fake.expire_tokens();
    let expired = roundtrip(
        addr,
        &format!(
            "GET /v1/payment/ HTTP/1.1\r\nx-api-key: k3y\r\nAuthorization: Bearer {token}\r\n\r\n"
        ),
    );
    assert!(expired.starts_with("HTTP/1.1 401"), "{expired}");
    assert_eq!(fake.logins(), 1);
}

#[test]
fn dropping_stops_the_server() {
    let fake = FakeNowPayments::start("k").unwrap();
    let addr = fake.server.addr;
    drop(fake);
    assert!(TcpStream::connect(addr).is_err());
}
