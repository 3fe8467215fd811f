//! Tests of the webhook signature checks and the NOWPayments canonical form.

use hmac::Mac;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::canonical::canonical_from_raw;
use super::js_render::{js_f64, nowpayments_canonical};
use super::{HmacSha256, verify_cryptobot, verify_nowpayments};

// ---- Crypto Pay fixture ------------------------------------------------
//
// Neither provider publishes a test vector, so the expected signatures
// were computed outside this code, over the exact bytes of the literals
// below (920 bytes for CP_BODY, with no trailing newline):
// - Python 3.11:
//   `hmac.new(hashlib.sha256(token).digest(), body, hashlib.sha256).hexdigest()`
// - Node 18, following the Crypto Pay docs:
//   `createHmac('sha256', createHash('sha256').update(token).digest()).update(body).digest('hex')`
// Both printed the value in CP_SIG. The body is a realistic `invoice_paid`
// Update (fields as listed in the docs' Update and Invoice classes), in the
// compact form Crypto Pay sends, including non-ASCII text and `/` in URLs.
const CP_TOKEN: &str = "7711:AAa3bQp0Zr9xXcYw1uVvTtSsRrQqPpOoNn";
const CP_BODY: &str = r#"{"update_id":39104882,"update_type":"invoice_paid","request_date":"2025-06-18T09:42:17.531Z","payload":{"invoice_id":28417563,"hash":"IVkT3yQb8Vw1","currency_type":"crypto","asset":"USDT","amount":"2.99","paid_asset":"USDT","paid_amount":"2.99","fee_asset":"USDT","fee_amount":"0.0299","fee":"0.0299","fee_in_usd":"0.0299","pay_url":"https://t.me/CryptoBot?start=IVkT3yQb8Vw1","bot_invoice_url":"https://t.me/CryptoBot?start=IVkT3yQb8Vw1","mini_app_invoice_url":"https://t.me/CryptoBot/app?startapp=invoice-IVkT3yQb8Vw1&mode=compact","web_app_invoice_url":"https://app.send.tg/invoices/IVkT3yQb8Vw1","description":"Подписка VPN — 30 дней","status":"paid","created_at":"2025-06-18T09:40:02.114Z","allow_comments":true,"allow_anonymous":false,"paid_usd_rate":"1.00000000","usd_rate":"1.00000000","paid_at":"2025-06-18T09:42:16.902Z","paid_anonymously":false,"payload":"5b0c7d2e-8f41-4a6b-9c3d-2e1f0a9b8c7d"}}"#;
const CP_SIG: &str = "8db7ba2914fbccec0975eb4a93eaa4add62fea1b91cf9e3578db3a59ca44af01";

// ---- NOWPayments fixture -----------------------------------------------
//
// A realistic IPN ("waiting" status) with a nested `fee` object and the
// numbers 0, 0.00025, 10.5, 0.0000012, 1.25e-7 and null, in the
// sorted compact form NOWPayments sends. The signature was computed in
// Node 18 with the docs' own Node example:
// `createHmac('sha512', secret).update(JSON.stringify(sortObject(JSON.parse(body)))).digest('hex')`.
// Node also confirmed that `JSON.stringify(sortObject(JSON.parse(body)))`
// is byte-identical to NP_BODY. Python's `hmac` over the same text printed
// the same hex. Python's `json.dumps(sort_keys=True, separators=(',', ':'))`
// cannot regenerate this text, because it renders 0.0000012 as `1.2e-06`
// and 1.25e-7 as `1.25e-07`. That is the number-rendering trap described in
// the module docs.
const NP_SECRET: &str = "np-ipn-secret-4f1c2a9e7b";
const NP_BODY: &str = r#"{"actually_paid":0,"actually_paid_at_fiat":0,"fee":{"currency":"btc","depositFee":0.0000012,"serviceFee":1.25e-7,"withdrawalFee":0},"invoice_id":null,"order_description":"VPN 30 дней / plan \"pro\"","order_id":"5b0c7d2e-8f41-4a6b-9c3d-2e1f0a9b8c7d","outcome_amount":null,"outcome_currency":"usdttrc20","parent_payment_id":null,"pay_address":"bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh","pay_amount":0.00025,"pay_currency":"btc","payin_extra_id":null,"payment_extra_ids":null,"payment_id":5629793529,"payment_status":"waiting","price_amount":10.5,"price_currency":"usd","purchase_id":"5395052836","updated_at":1718703737531}"#;
const NP_SIG: &str = "9e719a559635e7e025874702136297f0862d3e9ec9701d4bd6b6d13e8274877739797f73c7588c8f463f4e1ab89897ebf6cf4f4b05465f8e632637e14302f68c";

/// The same IPN, pretty-printed with its keys (nested ones too) shuffled.
const NP_BODY_REORDERED: &str = r#"
{
    "payment_status" : "waiting",
    "payment_id": 5629793529,
    "fee": { "withdrawalFee": 0, "serviceFee": 1.25e-7,
             "depositFee": 0.0000012, "currency": "btc" },
    "price_amount": 10.5,	"price_currency": "usd",
    "pay_amount": 0.00025, "pay_currency": "btc",
    "actually_paid": 0, "actually_paid_at_fiat": 0,
    "outcome_amount": null, "outcome_currency": "usdttrc20",
    "order_id": "5b0c7d2e-8f41-4a6b-9c3d-2e1f0a9b8c7d",
    "order_description": "VPN 30 \u0434\u043d\u0435\u0439 \/ plan \"pro\"",
    "invoice_id": null, "parent_payment_id": null,
    "pay_address": "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
    "payin_extra_id": null, "payment_extra_ids": null,
    "purchase_id": "5395052836", "updated_at": 1718703737531
}
"#;

/// NOWPayments' own "Webhooks Examples" payment body, as printed in the
/// IPN section of their API docs, with one fix: the docs omit the comma
/// after `"payment_extra_ids":null`. NP_DOC_SIG was computed in Node 18
/// with the docs' `JSON.stringify(sortObject(params))` over this text,
/// and Python's `hmac` over Node's canonical string printed the same hex.
/// `serde_json` without `float_roundtrip` parses its depositFee one ULP
/// off, so only the raw-text canonical form verifies it.
const NP_DOC_BODY: &str = r#"{
"payment_id":123456789,
"parent_payment_id":987654321,
"invoice_id":null,
"payment_status":"finished",
"pay_address":"address",
"payin_extra_id":null,
"price_amount":1,
"price_currency":"usd",
"pay_amount":15,
"actually_paid":15,
"actually_paid_at_fiat":0,
"pay_currency":"trx",
"order_id":null,
"order_description":null,
"purchase_id":"123456789",
"outcome_amount":14.8106,
"outcome_currency":"trx",
"payment_extra_ids":null,
"fee": {
"currency":"btc",
"depositFee":0.09853637216235617,
"withdrawalFee":0,
"serviceFee":0
}
}
"#;
const NP_DOC_CANONICAL: &str = r#"{"actually_paid":15,"actually_paid_at_fiat":0,"fee":{"currency":"btc","depositFee":0.09853637216235617,"serviceFee":0,"withdrawalFee":0},"invoice_id":null,"order_description":null,"order_id":null,"outcome_amount":14.8106,"outcome_currency":"trx","parent_payment_id":987654321,"pay_address":"address","pay_amount":15,"pay_currency":"trx","payin_extra_id":null,"payment_extra_ids":null,"payment_id":123456789,"payment_status":"finished","price_amount":1,"price_currency":"usd","purchase_id":"123456789"}"#;
const NP_DOC_SIG: &str = "4af4212c1716ef3f08250f73bce7ed81c11a8e23fd3d76036b0931a6a2a7ffecd88e9e2c87fe52fcb7e3922dbca2270e3d797181af2ac23e92451c9c53296b93";

fn flip_each_byte(body: &[u8]) -> impl Iterator<Item = (usize, Vec<u8>)> + '_ {
    (0..body.len()).map(move |i| {
        let mut tampered = body.to_vec();
        tampered[i] ^= 0x01;
        (i, tampered)
    })
}

fn malformed_signatures(good: &str) -> Vec<String> {
    vec![
        String::new(),
        "   ".to_owned(),
        good[..good.len() - 1].to_owned(),        // odd length
        good[..good.len() - 2].to_owned(),        // valid hex, one byte short
        format!("{good}00"),                      // valid hex, one byte long
        format!("sha256={good}"),                 // a prefix the providers do not send
        format!("{}zz", &good[..good.len() - 2]), // not hex
        "0".repeat(good.len()),                   // right length, wrong value
    ]
}

// ---- Crypto Pay --------------------------------------------------------

#[test]
fn cryptobot_accepts_documented_fixture() {
    assert!(verify_cryptobot(CP_TOKEN, CP_BODY.as_bytes(), CP_SIG));
}

#[test]
fn cryptobot_accepts_uppercase_and_padded_hex() {
    assert!(verify_cryptobot(
        CP_TOKEN,
        CP_BODY.as_bytes(),
        &CP_SIG.to_ascii_uppercase()
    ));
    assert!(verify_cryptobot(
        CP_TOKEN,
        CP_BODY.as_bytes(),
        &format!(" {CP_SIG}\t")
    ));
}

#[test]
fn cryptobot_rejects_any_single_byte_change() {
    for (i, tampered) in flip_each_byte(CP_BODY.as_bytes()) {
        assert!(
            !verify_cryptobot(CP_TOKEN, &tampered, CP_SIG),
            "byte {i} flipped but still accepted"
        );
    }
    // Whitespace is covered too: Crypto Pay signs the raw bytes.
    let spaced = CP_BODY.replacen(',', ", ", 1);
    assert!(!verify_cryptobot(CP_TOKEN, spaced.as_bytes(), CP_SIG));
}

#[test]
fn cryptobot_rejects_wrong_token() {
    assert!(!verify_cryptobot(
        "7711:AAa3bQp0Zr9xXcYw1uVvTtSsRrQqPpOoNm",
        CP_BODY.as_bytes(),
        CP_SIG
    ));
    assert!(!verify_cryptobot("", CP_BODY.as_bytes(), CP_SIG));
}

#[test]
fn cryptobot_key_is_sha256_digest_bytes_of_token() {
    // The key must be SHA-256(token) as raw bytes. Keying with the token
    // itself or with the hex text of the digest must not verify.
    let with_raw_token = {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(CP_TOKEN.as_bytes()).unwrap();
        mac.update(CP_BODY.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    let with_hex_digest = {
        let hex_key = hex::encode(Sha256::digest(CP_TOKEN.as_bytes()));
        let mut mac = <HmacSha256 as Mac>::new_from_slice(hex_key.as_bytes()).unwrap();
        mac.update(CP_BODY.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    assert_ne!(with_raw_token, CP_SIG);
    assert!(!verify_cryptobot(
        CP_TOKEN,
        CP_BODY.as_bytes(),
        &with_raw_token
    ));
    assert!(!verify_cryptobot(
        CP_TOKEN,
        CP_BODY.as_bytes(),
        &with_hex_digest
    ));
}

#[test]
fn cryptobot_rejects_empty_token_even_with_matching_mac() {
    // An unconfigured (empty) token must never authenticate, even though
    // HMAC keyed with SHA-256("") is well defined.
    let sig = {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&Sha256::digest(b"")).unwrap();
        mac.update(CP_BODY.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    assert!(!verify_cryptobot("", CP_BODY.as_bytes(), &sig));
}

#[test]
fn cryptobot_rejects_malformed_signatures() {
    for bad in malformed_signatures(CP_SIG) {
        assert!(
            !verify_cryptobot(CP_TOKEN, CP_BODY.as_bytes(), &bad),
            "accepted malformed signature {bad:?}"
        );
    }
}

// ---- NOWPayments -------------------------------------------------------

#[test]
fn nowpayments_accepts_fixture() {
    assert!(verify_nowpayments(NP_SECRET, NP_BODY.as_bytes(), NP_SIG));
    assert!(verify_nowpayments(
        NP_SECRET,
        NP_BODY.as_bytes(),
        &NP_SIG.to_ascii_uppercase()
    ));
}

#[test]
fn nowpayments_accepts_reordered_and_spaced_body() {
    assert_eq!(
        canonical_from_raw(NP_BODY_REORDERED.as_bytes()).as_deref(),
        Some(NP_BODY)
    );
    assert!(verify_nowpayments(
        NP_SECRET,
        NP_BODY_REORDERED.as_bytes(),
        NP_SIG
    ));
}

#[test]
fn nowpayments_accepts_documented_example_with_17_digit_fee() {
    assert_eq!(
        canonical_from_raw(NP_DOC_BODY.as_bytes()).as_deref(),
        Some(NP_DOC_CANONICAL)
    );
    assert!(verify_nowpayments(
        NP_SECRET,
        NP_DOC_BODY.as_bytes(),
        NP_DOC_SIG
    ));
    let tampered = NP_DOC_BODY.replacen("0.09853637216235617", "0.09853637216235615", 1);
    assert!(!verify_nowpayments(
        NP_SECRET,
        tampered.as_bytes(),
        NP_DOC_SIG
    ));
}

#[test]
fn nowpayments_raw_and_value_canonical_forms_agree_on_js_output() {
    // For a JS-produced body, keeping the number tokens and re-rendering
    // them JS-style give the same string, and both equal the signed text.
    let value: Value = serde_json::from_str(NP_BODY_REORDERED).unwrap();
    assert_eq!(nowpayments_canonical(&value), NP_BODY);
    assert_eq!(
        canonical_from_raw(NP_BODY.as_bytes()).as_deref(),
        Some(NP_BODY)
    );
}

#[test]
fn nowpayments_rejects_any_single_byte_change() {
    for (i, tampered) in flip_each_byte(NP_BODY.as_bytes()) {
        assert!(
            !verify_nowpayments(NP_SECRET, &tampered, NP_SIG),
            "byte {i} flipped but still accepted"
        );
    }
}

#[test]
fn nowpayments_rejects_changed_values() {
    for (from, to) in [
        (
            r#""payment_status":"waiting""#,
            r#""payment_status":"finished""#,
        ),
        (r#""depositFee":0.0000012"#, r#""depositFee":0.0000013"#),
        (r#""outcome_amount":null"#, r#""outcome_amount":0"#),
        // The same value spelled differently: the signature covers the
        // number text the handler will parse, so this is rejected.
        (r#""price_amount":10.5"#, r#""price_amount":10.50"#),
    ] {
        let tampered = NP_BODY.replacen(from, to, 1);
        assert_ne!(tampered, NP_BODY);
        assert!(
            !verify_nowpayments(NP_SECRET, tampered.as_bytes(), NP_SIG),
            "{to} accepted"
        );
    }
    // A key added inside the nested object is covered by the signature too.
    let extra = NP_BODY.replacen(r#""withdrawalFee":0}"#, r#""withdrawalFee":0,"x":1}"#, 1);
    assert!(!verify_nowpayments(NP_SECRET, extra.as_bytes(), NP_SIG));
}

#[test]
fn nowpayments_rejects_wrong_secret() {
    assert!(!verify_nowpayments(
        "np-ipn-secret-4f1c2a9e7c",
        NP_BODY.as_bytes(),
        NP_SIG
    ));
    assert!(!verify_nowpayments("", NP_BODY.as_bytes(), NP_SIG));
}

#[test]
fn nowpayments_rejects_malformed_signatures() {
    for bad in malformed_signatures(NP_SIG) {
        assert!(
            !verify_nowpayments(NP_SECRET, NP_BODY.as_bytes(), &bad),
            "accepted malformed signature {bad:?}"
        );
    }
}

#[test]
fn nowpayments_rejects_ambiguous_or_invalid_bodies() {
    for body in [
        // A duplicate key, which parsers resolve differently.
        r#"{"payment_status":"waiting","payment_status":"finished"}"#,
        r#"{"a":1} trailing"#,
        r#"{"a":1}{"a":1}"#,
        r#"[{"a":1}]"#, // the top level must be an object
        r#"{"a":01}"#,
        r#"{"a":1.}"#,
        r#"{"a":.5}"#,
        r#"{"a":+1}"#,
        r#"{"a":"\x"}"#,
        r#"{"a":"\ud800"}"#,     // a lone surrogate
        "{\"a\":\"tab\there\"}", // a raw control character inside a string
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        r#"{"a":tru}"#,
        "",
        "\u{feff}{}",
    ] {
        assert!(canonical_from_raw(body.as_bytes()).is_none(), "{body:?}");
    }
    assert!(canonical_from_raw(b"{\"a\":\"\xff\"}").is_none()); // not UTF-8
    // Deep nesting is refused instead of overflowing the stack.
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(canonical_from_raw(deep.as_bytes()).is_none());
    let ok_depth = format!("{{\"a\":{}{}}}", "[".repeat(127), "]".repeat(127));
    assert!(canonical_from_raw(ok_depth.as_bytes()).is_some());
}

#[test]
fn canonical_sorts_nested_objects_and_keeps_arrays() {
    let input = r#"{"b":{"z":1,"a":[3,{"d":null,"c":"x/y"}]},"a":true}"#;
    let expected = r#"{"a":true,"b":{"a":[3,{"c":"x/y","d":null}],"z":1}}"#;
    let value: Value = serde_json::from_str(input).unwrap();
    assert_eq!(nowpayments_canonical(&value), expected);
    assert_eq!(
        canonical_from_raw(input.as_bytes()).as_deref(),
        Some(expected)
    );

    let list = r#"{ "list" : [3, 1, 2, {"b":0,"a":0}] }"#;
    let expected = r#"{"list":[3,1,2,{"a":0,"b":0}]}"#;
    let value: Value = serde_json::from_str(list).unwrap();
    assert_eq!(nowpayments_canonical(&value), expected);
    assert_eq!(
        canonical_from_raw(list.as_bytes()).as_deref(),
        Some(expected)
    );
}

#[test]
fn canonical_sorts_keys_by_utf16_code_units_like_js() {
    // Expected output from Node 18:
    // JSON.stringify(sortObject(JSON.parse('{"\uff61":1,"\ud83d\ude00":2,"b":3,"B":4,"a_b":5,"ab":6}'))).
    // By UTF-8 bytes U+FF61 would sort before U+1F600, but JS compares
    // UTF-16 code units, and 0xD83D < 0xFF61.
    let input = r#"{"\uff61":1,"\ud83d\ude00":2,"b":3,"B":4,"a_b":5,"ab":6}"#;
    let expected = "{\"B\":4,\"a_b\":5,\"ab\":6,\"b\":3,\"\u{1F600}\":2,\"\u{FF61}\":1}";
    let value: Value = serde_json::from_str(input).unwrap();
    assert_eq!(nowpayments_canonical(&value), expected);
    assert_eq!(
        canonical_from_raw(input.as_bytes()).as_deref(),
        Some(expected)
    );
}

#[test]
fn canonical_escapes_strings_like_json_stringify() {
    // Expected output from Node 18: JSON.stringify(JSON.parse(input)).
    // `\/` and `\u0041` are unescaped; control characters below U+0020 use
    // lowercase `\u00xx`; DEL, U+2028, U+2029 and non-ASCII are written as
    // they are.
    let input = r#"{"s":"a\/b \u0041 \u0001\u001f\u007f \n\t\r\b\f \"q\" \\ \u2028\u2029 é 😀"}"#;
    let expected = "{\"s\":\"a/b A \\u0001\\u001f\u{7f} \\n\\t\\r\\b\\f \\\"q\\\" \\\\ \u{2028}\u{2029} é 😀\"}";
    let value: Value = serde_json::from_str(input).unwrap();
    assert_eq!(nowpayments_canonical(&value), expected);
    assert_eq!(
        canonical_from_raw(input.as_bytes()).as_deref(),
        Some(expected)
    );
}

/// (input text, what Node 18 prints for `JSON.stringify(JSON.parse(input))`).
const JS_NUMBERS: &[(&str, &str)] = &[
    ("1.0", "1"),
    ("10.50", "10.5"),
    ("1e-7", "1e-7"),
    ("0.0000012", "0.0000012"),
    ("0.000001", "0.000001"),
    ("1e21", "1e+21"),
    ("1e20", "100000000000000000000"),
    ("123456789012345680000", "123456789012345680000"),
    ("-0", "0"),
    ("0.1", "0.1"),
    ("5e-324", "5e-324"),
    ("9007199254740993", "9007199254740992"),
    ("-2.5E+3", "-2500"),
    ("1.7976931348623157e308", "1.7976931348623157e+308"),
    ("100", "100"),
    ("1e300", "1e+300"),
    ("-0.00025", "-0.00025"),
    ("0.09853637216235617", "0.09853637216235617"),
    ("4.35", "4.35"),
    ("-1.5e-10", "-1.5e-10"),
    // Exact ties between two shortest digit strings: JS takes the even one.
    ("1612474435906006.25", "1612474435906006.2"),
    ("-2195140926816803.25", "-2195140926816803.2"),
    ("95279580923047.625", "95279580923047.62"),
    ("1368535313361254.25", "1368535313361254.2"),
];

#[test]
fn js_f64_matches_node_number_to_string() {
    for (input, node) in JS_NUMBERS {
        // std's parser rounds correctly, as JS's does.
        let x: f64 = input.parse().unwrap();
        assert_eq!(js_f64(x), *node, "{input}");
    }
}

#[test]
fn value_canonical_renders_numbers_like_js() {
    // Values that serde_json's default float parser reads exactly, plus
    // integers, which it keeps as i64/u64 and which are rounded through
    // f64 above 2^53.
    let input = r#"{"a":1.0,"b":10.50,"c":1e-7,"d":0.0000012,"e":1e21,"g":-0,"h":0.1,"i":5e-324,"j":9007199254740993,"k":-2.5E+3,"l":1.7976931348623157e308,"m":0.000001,"n":100,"o":1e300,"p":-0.00025,"r":4.35,"s":1e20,"t":-9007199254740993}"#;
    // Node 18: JSON.stringify(sortObject(JSON.parse(input))).
    let expected = r#"{"a":1,"b":10.5,"c":1e-7,"d":0.0000012,"e":1e+21,"g":0,"h":0.1,"i":5e-324,"j":9007199254740992,"k":-2500,"l":1.7976931348623157e+308,"m":0.000001,"n":100,"o":1e+300,"p":-0.00025,"r":4.35,"s":100000000000000000000,"t":-9007199254740992}"#;
    let value: Value = serde_json::from_str(input).unwrap();
    assert_eq!(nowpayments_canonical(&value), expected);
    // serde_json's own printer differs from JS here (for example `1.0` and
    // `1e21`), which is why it is not used.
    assert_ne!(serde_json::to_string(&value).unwrap(), expected);
}

#[test]
fn raw_canonical_keeps_number_text_verbatim() {
    let input = r#"{ "b" : 1.0, "a" : [1e-7, -0, 10.50, 9007199254740993] }"#;
    assert_eq!(
        canonical_from_raw(input.as_bytes()).as_deref(),
        Some(r#"{"a":[1e-7,-0,10.50,9007199254740993],"b":1.0}"#)
    );
}

#[test]
fn canonical_keeps_false_null_and_empty_containers() {
    let input = r#"{ "t" : true, "f" : false, "n" : null, "o" : { }, "a" : [ ], "ao" : [ { } ], "oa" : { "x" : [ ] } }"#;
    let expected = r#"{"a":[],"ao":[{}],"f":false,"n":null,"o":{},"oa":{"x":[]},"t":true}"#;
    let value: Value = serde_json::from_str(input).unwrap();
    assert_eq!(nowpayments_canonical(&value), expected);
    assert_eq!(
        canonical_from_raw(input.as_bytes()).as_deref(),
        Some(expected)
    );
    assert_eq!(canonical_from_raw(b"{}").as_deref(), Some("{}"));
    assert_eq!(canonical_from_raw(b" {\n} ").as_deref(), Some("{}"));
    assert!(canonical_from_raw(br#"{"a":fals}"#).is_none());
    assert!(canonical_from_raw(br#"{"a":nul}"#).is_none());
}

#[test]
fn nesting_limit_counts_objects_and_arrays_alike() {
    // The top-level object is level 1; 128 levels are accepted, 129 are not,
    // whichever of objects and arrays make them up.
    let depth_ok = |text: String| canonical_from_raw(text.as_bytes()).is_some();
    let objects_then = |objects: usize, inner: &str| {
        format!(
            "{}{inner}{}",
            r#"{"a":"#.repeat(objects),
            "}".repeat(objects)
        )
    };
    let arrays_then = |arrays: usize, inner: &str| {
        format!(
            "{{\"a\":{}{inner}{}}}",
            "[".repeat(arrays),
            "]".repeat(arrays)
        )
    };
    assert!(depth_ok(objects_then(128, "1")), "128 objects");
    assert!(!depth_ok(objects_then(129, "1")), "129 objects");
    assert!(depth_ok(objects_then(127, "[1]")), "127 objects, an array");
    assert!(!depth_ok(objects_then(128, "[1]")), "128 objects, an array");
    assert!(
        depth_ok(arrays_then(126, "{}")),
        "1 object, 126 arrays, an object"
    );
    assert!(
        !depth_ok(arrays_then(127, "{}")),
        "1 object, 127 arrays, an object"
    );
    assert!(!depth_ok(arrays_then(128, "1")), "1 object, 128 arrays");
}

#[test]
fn a_parser_that_never_returns_aborts_the_test_binary() {
    // The parser walks attacker-controlled bytes: a position that stops
    // advancing would hang the webhook worker. libtest has no per-test
    // timeout, so a watchdog aborts the whole test binary instead. The name
    // sorts first among these tests on purpose: libtest starts tests in name
    // order on as many threads as there are cores, and tests that hang in
    // the parser would otherwise keep the watchdog from ever starting.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let bodies = [
            NP_BODY,
            NP_BODY_REORDERED,
            NP_DOC_BODY,
            " { \"a\" : [ 1 , -2.50e+3 , \"\\\"x\\u0041\" , true , false , null , { } ] } ",
            "{\"a\":1.}",
            "{\"a\":\"unterminated",
            "{\"a\":\"\\",
        ];
        for body in bodies {
            let _ = canonical_from_raw(body.as_bytes());
        }
        let _ = done.send(());
    });
    if finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .is_err()
    {
        eprintln!("canonical_from_raw did not return within 10 s");
        std::process::abort();
    }
}
