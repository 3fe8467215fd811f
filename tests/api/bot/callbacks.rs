//! Garbage callback data: answered, never crashing the bot.

use super::*;

// --- 8. garbage callback data ---------------------------------------------------

/// xorshift64*: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// At most 64 bytes, cut at a character boundary.
fn trim64(s: &str) -> String {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[actix_rt::test]
async fn random_callback_data_is_answered_and_never_crashes_the_bot() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |_| {}).await;
    let victim = 810_001;
    let mut noise = Noise(0x5EED_1234_ABCD_0042);
    let valid: Vec<String> = [
        Callback::Menu,
        Callback::Buy,
        Callback::Plan {
            plan: "month".into(),
        },
        Callback::MySub,
        Callback::Links,
        Callback::Balance,
        Callback::TopUp,
        Callback::Referral,
        Callback::Help,
        Callback::Language,
        Callback::ReissueConfirm,
        Callback::ResetLinkConfirm,
    ]
    .iter()
    .map(data)
    .collect();
    let malformed = [
        "",
        "1",
        "1:",
        ":",
        "::::",
        "0:menu",
        "2:menu",
        "1:menu:extra",
        "1:MENU",
        "1:plan",
        "1:plan:",
        "1:plan:MONTH",
        "1:plan:month:1",
        "1:pay:month",
        "1:pay:month:x",
        "1:pay:mo nth:s",
        "1:topup-pay:-500:c",
        "1:topup-pay:0500:c",
        "1:topup-pay:0:c",
        "1:topup-pay:99999999999999999999999:c",
        "1:lang-set:de",
        "1:adm-grant:42:0",
        "1:adm-grant:-42:30",
        "1:adm-grant:42:+30",
        "1:adm-user:0",
        "1:adm-refund!:xyz",
        "1:adm-refund?:0123456789ABCDEF0123456789abcdef",
        "1:bc-ok:-1",
        "1:bc-ok:4294967296",
        "1:adm-users:01",
        "1:sub\u{0}",
        "1:пay:month:s",
        "🙂🙂🙂",
    ];
    let admin_actions: Vec<String> = [
        Callback::AdminGrant {
            user: victim,
            days: 30,
            key: None,
        },
        Callback::AdminRevoke { user: victim },
        Callback::AdminRevokeAsk { user: victim },
        Callback::AdminUser { user: victim },
        Callback::AdminUsers { page: 0 },
        Callback::AdminRefund {
            order: uuid::Uuid::new_v4(),
        },
        Callback::AdminRefundAsk {
            order: uuid::Uuid::new_v4(),
        },
        Callback::BroadcastConfirm { id: 1 },
        Callback::BroadcastCancel { id: 1 },
    ]
    .iter()
    .map(data)
    .collect();

    let mut pushed: Vec<(String, String)> = Vec::new(); // (query id, data)
    for i in 0..300 {
        let user = 800_001 + (i % 10) as i64;
        let d = match i % 6 {
            0 | 1 => {
                let len = noise.below(90);
                trim64(&String::from_utf8_lossy(&noise.bytes(len)))
            }
            2 => malformed[noise.below(malformed.len())].to_owned(),
            3 => {
                // A valid encoding with one byte changed, dropped or added.
                let mut bytes = valid[noise.below(valid.len())].clone().into_bytes();
                let at = noise.below(bytes.len());
                match noise.below(3) {
                    0 => bytes[at] = noise.next() as u8,
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, noise.next() as u8),
                }
                trim64(&String::from_utf8_lossy(&bytes))
            }
            4 => admin_actions[noise.below(admin_actions.len())].clone(),
            _ => valid[noise.below(valid.len())].clone(),
        };
        let update = FakeTelegram::callback(user, &d, MSG + i as i64);
        let id = update["callback_query"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        tg.push_update(update);
        pushed.push((id, d));
    }

    // Well-formed buttons the bot never shows: top-ups through Stars or from
    // the balance itself, a provider that is not configured.
    let forger = 810_002;
    for forged in [
        Callback::TopUpPay {
            amount_minor: 500,
            provider: Provider::Stars,
        },
        Callback::TopUpPay {
            amount_minor: 500,
            provider: Provider::Balance,
        },
        Callback::TopUpPay {
            amount_minor: 500,
            provider: Provider::Cryptobot,
        },
        Callback::Pay {
            plan: "month".into(),
            provider: Provider::Nowpayments,
            key: None,
        },
    ] {
        let d = data(&forged);
        let update = FakeTelegram::callback(forger, &d, MSG);
        let id = update["callback_query"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        tg.push_update(update);
        pushed.push((id, d));
    }

    let answers = tg
        .wait_for_calls_async("answerCallbackQuery", pushed.len(), Duration::from_secs(20))
        .await;
    let answered: HashMap<String, Option<String>> = answers
        .iter()
        .map(|c| {
            (
                c.param_str("callback_query_id").unwrap_or_default(),
                c.param_str("text"),
            )
        })
        .collect();
    let expired = en("button-expired");
    for (id, d) in &pushed {
        let answer = answered
            .get(id)
            .unwrap_or_else(|| panic!("callback {d:?} was not answered"));
        if Callback::decode(d).is_err() {
            assert_eq!(answer.as_deref(), Some(expired.as_str()), "for {d:?}");
        }
    }
    assert_eq!(answers.len(), pushed.len(), "each answered once");
    // Admin actions from a non-admin did nothing.
    assert!(
        app.registry
            .store()
            .user(uid(victim))
            .await
            .expect("store")
            .is_none_or(|s| s.subscription.is_none()),
        "a non-admin cannot grant"
    );

    assert!(
        tg.calls_to("sendInvoice").is_empty(),
        "no invoice for a forged button: {:?}",
        tg.calls_to("sendInvoice")
            .iter()
            .map(|c| c.params.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        app.registry
            .store()
            .orders_of(uid(forger), 10)
            .await
            .expect("orders"),
        vec![],
        "no order for a forged button"
    );

    // The bot still works.
    let fresh = 899_999;
    tg.push_update(FakeTelegram::message(fresh, "/start", Some("en")));
    let menu = nth_to_chat(&tg, "sendMessage", fresh, 0).await;
    assert!(buttons(&menu).contains(&data(&Callback::Buy)));
    tg.push_update(FakeTelegram::message(800_001, "/start", None));
    message_with(&tg, 800_001, "Hi, User800001").await;
    app.stop().await;
}
