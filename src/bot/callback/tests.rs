//! Unit and property tests of the callback codec.

use super::*;
use proptest::prelude::*;

fn samples() -> Vec<Callback> {
    use Callback as C;
    let order = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    vec![
        C::Menu,
        C::Buy,
        C::Plan {
            plan: "month".into(),
        },
        C::Pay {
            plan: "m".repeat(MAX_PLAN_LEN),
            provider: Provider::Nowpayments,
            key: Some(u32::MAX),
        },
        C::PromoAsk {
            plan: "m".repeat(MAX_PLAN_LEN),
        },
        C::PromoPay {
            plan: "m".repeat(MAX_PLAN_LEN),
            provider: Provider::Nowpayments,
            key: Some(u32::MAX),
        },
        C::GiftPlans,
        C::GiftPlan {
            plan: "m".repeat(MAX_PLAN_LEN),
        },
        C::GiftPay {
            plan: "m".repeat(MAX_PLAN_LEN),
            provider: Provider::Nowpayments,
            key: Some(u32::MAX),
        },
        C::MySub,
        C::Links,
        C::Qr,
        C::Keys,
        C::Apps,
        C::ReissueAsk,
        C::ReissueConfirm,
        C::ResetLinkAsk,
        C::ResetLinkConfirm,
        C::Devices,
        C::DeviceRemoveAsk { device: 1 },
        C::DeviceRemove { device: i64::MAX },
        C::AdminDevicesResetAsk { user: UserId::MAX },
        C::AdminDevicesReset { user: 7 },
        C::AdminTrafficResetAsk { user: 7 },
        C::AdminTrafficReset { user: UserId::MAX },
        C::BuyTraffic,
        C::Trial,
        C::AutoRenewOn,
        C::AutoRenewOff,
        C::Balance,
        C::TopUp,
        C::TopUpPay {
            amount_minor: i64::MAX,
            provider: Provider::Cryptobot,
        },
        C::Referral,
        C::Help,
        C::Language,
        C::SetLanguage(Lang::Ru),
        C::SetLanguage(Lang::En),
        C::Cancel,
        C::AdminUser { user: UserId::MAX },
        C::AdminUsers { page: u32::MAX },
        C::AdminGrant {
            user: UserId::MAX,
            days: u32::MAX,
            key: Some(u32::MAX),
        },
        C::AdminRevokeAsk { user: 1 },
        C::AdminRevoke { user: 42 },
        C::AdminRefundAsk { order },
        C::AdminRefund { order: Uuid::max() },
        C::BroadcastConfirm { id: 0 },
        C::BroadcastCancel { id: u32::MAX },
    ]
}

#[test]
fn every_sample_round_trips_within_64_bytes() {
    for c in samples() {
        let s = c.encode().expect("valid value encodes");
        assert!(s.len() <= MAX_LEN, "{s:?} is {} bytes", s.len());
        assert_eq!(Callback::decode(&s), Ok(c), "{s}");
    }
}

#[test]
fn known_encodings_are_stable() {
    // Buttons already sent to users must keep working across deploys.
    let cases = [
        (Callback::Menu, "1:menu"),
        (
            Callback::Pay {
                plan: "month".into(),
                provider: Provider::Stars,
                key: None,
            },
            "1:pay:month:s",
        ),
        (
            Callback::Pay {
                plan: "month".into(),
                provider: Provider::Balance,
                key: Some(0x7f3a),
            },
            "1:pay:month:b:7f3a",
        ),
        (
            Callback::TopUpPay {
                amount_minor: 500,
                provider: Provider::Balance,
            },
            "1:topup-pay:500:b",
        ),
        (Callback::SetLanguage(Lang::Ru), "1:lang-set:ru"),
        (Callback::Devices, "1:dev"),
        (Callback::DeviceRemove { device: 12 }, "1:dev-rm!:12"),
        (Callback::AdminDevicesReset { user: 42 }, "1:adm-dev!:42"),
        (
            Callback::AdminGrant {
                user: 42,
                days: 30,
                key: None,
            },
            "1:adm-grant:42:30",
        ),
        (
            Callback::AdminGrant {
                user: 42,
                days: 30,
                key: Some(0xbeef),
            },
            "1:adm-grant:42:30:beef",
        ),
        (
            Callback::AdminRefund {
                order: Uuid::from_u128(0xab),
            },
            "1:adm-refund!:000000000000000000000000000000ab",
        ),
    ];
    for (c, s) in cases {
        assert_eq!(c.encode().as_deref(), Ok(s));
        assert_eq!(Callback::decode(s), Ok(c));
    }
}

#[test]
fn invalid_values_are_not_encoded() {
    let bad = [
        Callback::Plan {
            plan: "m".repeat(MAX_PLAN_LEN + 1),
        },
        Callback::DeviceRemove { device: 0 },
        Callback::DeviceRemoveAsk { device: -1 },
        Callback::Plan { plan: "".into() },
        Callback::Plan {
            plan: "Month".into(),
        },
        Callback::Pay {
            plan: "a:b".into(),
            provider: Provider::Stars,
            key: None,
        },
        Callback::TopUpPay {
            amount_minor: 0,
            provider: Provider::Stars,
        },
        Callback::TopUpPay {
            amount_minor: -5,
            provider: Provider::Stars,
        },
        Callback::AdminUser { user: 0 },
        Callback::AdminRevoke { user: -1 },
        Callback::AdminRevokeAsk {
            user: UserId::MAX + 1,
        },
        Callback::AdminGrant {
            user: 1,
            days: 0,
            key: None,
        },
    ];
    for c in bad {
        assert!(
            matches!(c.encode(), Err(CallbackError::Malformed(_))),
            "{c:?}"
        );
    }
}

#[test]
fn other_versions_and_unknown_tags_are_stale() {
    for s in [
        "",
        "menu",
        "0:menu",
        "2:menu",
        "1",
        "1:",
        "1:nope",
        "01:menu",
        " 1:menu",
        "1:Menu",
        "2:pay:month:s",
    ] {
        assert_eq!(Callback::decode(s), Err(CallbackError::Stale), "{s:?}");
    }
}

#[test]
fn bad_fields_are_malformed() {
    let uuid = "0123456789abcdef0123456789abcdef";
    for s in [
        "1:menu:",
        "1:menu:x",
        "1:plan",
        "1:plan:",
        "1:plan:Month",
        "1:plan:month:extra",
        &format!("1:plan:{}", "a".repeat(MAX_PLAN_LEN + 1)),
        "1:pay:month",
        "1:pay:month:x",
        "1:pay:month:S",
        "1:pay:month:s:",
        "1:topup-pay:0:s",
        "1:topup-pay:-5:s",
        "1:topup-pay:+5:s",
        "1:topup-pay:05:s",
        "1:topup-pay:9223372036854775808:s",
        "1:topup-pay:1e3:s",
        "1:lang-set:de",
        "1:lang-set:RU",
        "1:adm-user:0",
        "1:adm-user:-42",
        "1:adm-user:9007199254740992",
        "1:adm-user: 42",
        "1:adm-users:4294967296",
        "1:adm-grant:42:0",
        "1:adm-grant:42",
        "1:adm-refund?:0123456789ABCDEF0123456789ABCDEF",
        "1:adm-refund?:01234567-89ab-cdef-0123-456789abcdef",
        &format!("1:adm-refund!:{uuid}0"),
        "1:bc-ok:",
        "1:bc-cancel:1:2",
    ] {
        assert!(
            matches!(Callback::decode(s), Err(CallbackError::Malformed(_))),
            "{s:?} -> {:?}",
            Callback::decode(s)
        );
    }
    let long = format!("1:menu{}", " ".repeat(MAX_LEN));
    assert_eq!(
        Callback::decode(&long),
        Err(CallbackError::Malformed("longer than 64 bytes"))
    );
}

fn arb_provider() -> impl Strategy<Value = Provider> {
    prop::sample::select(Provider::ALL.to_vec())
}

fn arb_plan() -> impl Strategy<Value = String> {
    "[a-z0-9_-]{1,32}"
}

fn arb_user() -> impl Strategy<Value = i64> {
    1..=UserId::MAX
}

fn arb_uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn arb_callback() -> impl Strategy<Value = Callback> {
    use Callback as C;
    let units = vec![
        C::Menu,
        C::Buy,
        C::MySub,
        C::Links,
        C::Qr,
        C::Keys,
        C::Apps,
        C::ReissueAsk,
        C::ReissueConfirm,
        C::ResetLinkAsk,
        C::ResetLinkConfirm,
        C::Devices,
        C::Trial,
        C::Balance,
        C::TopUp,
        C::Referral,
        C::BuyTraffic,
        C::Help,
        C::Language,
        C::Cancel,
        C::GiftPlans,
    ];
    prop_oneof![
        prop::sample::select(units).boxed(),
        arb_plan().prop_map(|plan| C::Plan { plan }).boxed(),
        arb_plan().prop_map(|plan| C::PromoAsk { plan }).boxed(),
        arb_plan().prop_map(|plan| C::GiftPlan { plan }).boxed(),
        (
            arb_plan(),
            arb_provider(),
            proptest::option::of(any::<u32>())
        )
            .prop_map(|(plan, provider, key)| C::PromoPay {
                plan,
                provider,
                key
            })
            .boxed(),
        (
            arb_plan(),
            arb_provider(),
            proptest::option::of(any::<u32>())
        )
            .prop_map(|(plan, provider, key)| C::GiftPay {
                plan,
                provider,
                key
            })
            .boxed(),
        (
            arb_plan(),
            arb_provider(),
            proptest::option::of(any::<u32>())
        )
            .prop_map(|(plan, provider, key)| C::Pay {
                plan,
                provider,
                key
            })
            .boxed(),
        (1..=i64::MAX, arb_provider())
            .prop_map(|(amount_minor, provider)| C::TopUpPay {
                amount_minor,
                provider
            })
            .boxed(),
        prop::sample::select(Lang::ALL.to_vec())
            .prop_map(C::SetLanguage)
            .boxed(),
        arb_user().prop_map(|user| C::AdminUser { user }).boxed(),
        any::<u32>().prop_map(|page| C::AdminUsers { page }).boxed(),
        (arb_user(), 1..=u32::MAX, any::<Option<u32>>())
            .prop_map(|(user, days, key)| C::AdminGrant { user, days, key })
            .boxed(),
        arb_user()
            .prop_map(|user| C::AdminRevokeAsk { user })
            .boxed(),
        arb_user().prop_map(|user| C::AdminRevoke { user }).boxed(),
        (1..=i64::MAX)
            .prop_map(|device| C::DeviceRemoveAsk { device })
            .boxed(),
        (1..=i64::MAX)
            .prop_map(|device| C::DeviceRemove { device })
            .boxed(),
        arb_user()
            .prop_map(|user| C::AdminDevicesResetAsk { user })
            .boxed(),
        arb_user()
            .prop_map(|user| C::AdminDevicesReset { user })
            .boxed(),
        arb_uuid()
            .prop_map(|order| C::AdminRefundAsk { order })
            .boxed(),
        arb_uuid()
            .prop_map(|order| C::AdminRefund { order })
            .boxed(),
        any::<u32>()
            .prop_map(|id| C::BroadcastConfirm { id })
            .boxed(),
        any::<u32>()
            .prop_map(|id| C::BroadcastCancel { id })
            .boxed(),
    ]
}

/// If `data` decodes, it must be exactly the encoding of what it decodes to.
fn assert_canonical(data: &str) -> Result<(), TestCaseError> {
    if let Ok(c) = Callback::decode(data) {
        let encoded = c.encode();
        prop_assert_eq!(encoded.as_deref(), Ok(data));
    }
    Ok(())
}

/// A UTF-8 string from `bytes`, lossily (so every input is exercised).
fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn valid_values_round_trip(c in arb_callback()) {
        let s = c.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(s.len() <= MAX_LEN, "{} is {} bytes", s, s.len());
        prop_assert_eq!(Callback::decode(&s), Ok(c));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in any::<Vec<u8>>()) {
        assert_canonical(&lossy(&bytes))?;
    }

    #[test]
    fn arbitrary_strings_never_panic(s in "\\PC{0,80}", t in "1:[a-z?!-]{0,12}(:[a-zA-Z0-9+ _-]{0,24}){0,3}") {
        assert_canonical(&s)?;
        assert_canonical(&t)?;
    }

    #[test]
    fn truncations_never_decode_to_something_else(c in arb_callback(), cut in any::<prop::sample::Index>()) {
        let s = c.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let bytes = s.as_bytes();
        let short = bytes.get(..cut.index(bytes.len())).unwrap_or_default();
        assert_canonical(&lossy(short))?;
    }

    #[test]
    fn byte_flips_never_decode_to_something_else(
        c in arb_callback(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let s = c.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut bytes = s.into_bytes();
        let i = at.index(bytes.len());
        if let Some(b) = bytes.get_mut(i) {
            *b = byte;
        }
        assert_canonical(&lossy(&bytes))?;
    }

    #[test]
    fn appended_junk_is_refused(c in arb_callback(), junk in any::<Vec<u8>>()) {
        let s = c.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut bytes = s.clone().into_bytes();
        bytes.extend_from_slice(&junk);
        let data = lossy(&bytes);
        assert_canonical(&data)?;
        if !junk.is_empty() {
            // Appending can only ever yield another valid button by
            // extending the last field (digits of a number, characters of
            // a plan id); it must never decode back to `c` itself.
            prop_assert_ne!(Callback::decode(&data), Ok(c));
        }
    }
}
