//! The one codec for inline-button callback data.
//!
//! Telegram gives a button at most 64 bytes of `callback_data` and hands them
//! back verbatim when the button is pressed — possibly weeks later, from a
//! message sent by an older build of the bot. So the data is versioned and
//! typed here, in one place:
//!
//! ```text
//! 1:<tag>[:<field>]*        e.g. 1:menu  1:pay:month:s  1:adm-grant:42:30
//! ```
//!
//! * `1` is [`VERSION`]. Data with another version, without a version, or
//!   with a tag this build does not know decodes as [`CallbackError::Stale`]
//!   (the handler answers "this button has expired").
//! * Fields are canonical: decimal numbers without sign or leading zeros,
//!   plan ids of 1–32 `a-z 0-9 - _` (the rule of
//!   [`PlanId`](subvisor_actors::domain::PlanId)), providers and languages as
//!   one code each, order ids as 32 lowercase hex digits. Anything else, a
//!   wrong field count, or an out-of-range value is
//!   [`CallbackError::Malformed`].
//! * The encoding is canonical: whenever `Callback::decode(s)` is `Ok(c)`,
//!   `c.encode()` is `Ok(s)`. Decoding never panics.
//!
//! [`Callback::encode`] returns a `Result`: a value that would not decode
//! back (a plan id outside the rule, a non-positive amount, a user id that is
//! not a Telegram id, zero days) is refused instead of producing a button that
//! can never work. Every valid value encodes to at most [`MAX_LEN`] bytes.

use subvisor_actors::domain::{Provider, UserId};
use uuid::Uuid;

use super::i18n::Lang;

/// The version prefix of every callback this build produces.
pub const VERSION: &str = "1";
/// Telegram's limit on `callback_data`, in bytes.
pub const MAX_LEN: usize = 64;
/// The longest plan id accepted (as `PlanId`).
pub const MAX_PLAN_LEN: usize = 32;

const SEP: char = ':';

/// Why callback data could not be decoded (or a value could not be encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// From another version of the bot, or a tag this build does not know.
    #[error("the button is from another version of the bot")]
    Stale,
    /// Current version and a known tag, but the fields are wrong.
    #[error("malformed callback data: {0}")]
    Malformed(&'static str),
}

/// What an inline button does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Callback {
    Menu,
    Buy,
    /// Chose a plan: show payment methods.
    Plan {
        plan: String,
    },
    /// Pay for `plan` through `provider`. `key` is drawn when the button is
    /// drawn: pressing it twice is one purchase (an idempotency key); buttons
    /// from before keys existed have none.
    Pay {
        plan: String,
        provider: Provider,
        key: Option<u32>,
    },
    MySub,
    /// Show the links and the QR code again.
    Links,
    ReissueAsk,
    ReissueConfirm,
    ResetLinkAsk,
    ResetLinkConfirm,
    Trial,
    Balance,
    TopUp,
    /// Top up the balance by `amount_minor` (> 0) through `provider`.
    TopUpPay {
        amount_minor: i64,
        provider: Provider,
    },
    Referral,
    Help,
    Language,
    SetLanguage(Lang),
    Cancel,
    // Admin only (the handler checks the sender).
    AdminUser {
        user: i64,
    },
    AdminUsers {
        page: u32,
    },
    AdminGrant {
        user: i64,
        days: u32,
    },
    AdminRevokeAsk {
        user: i64,
    },
    AdminRevoke {
        user: i64,
    },
    AdminRefundAsk {
        order: Uuid,
    },
    AdminRefund {
        order: Uuid,
    },
    BroadcastConfirm {
        id: u32,
    },
    BroadcastCancel {
        id: u32,
    },
}

impl Callback {
    /// The callback data for this value: `1:<tag>[:<field>]*`, at most
    /// [`MAX_LEN`] bytes. Values that would not decode back are refused
    /// with [`CallbackError::Malformed`].
    pub fn encode(&self) -> Result<String, CallbackError> {
        let mut fields: Vec<String> = Vec::with_capacity(2);
        match self {
            Callback::Plan { plan } => fields.push(check_plan(plan)?.to_owned()),
            Callback::Pay {
                plan,
                provider,
                key,
            } => {
                fields.push(check_plan(plan)?.to_owned());
                fields.push(provider_code(*provider).to_string());
                if let Some(key) = key {
                    fields.push(format!("{key:x}"));
                }
            }
            Callback::TopUpPay {
                amount_minor,
                provider,
            } => {
                fields.push(check_amount(*amount_minor)?.to_string());
                fields.push(provider_code(*provider).to_string());
            }
            Callback::SetLanguage(lang) => fields.push(lang.code().to_owned()),
            Callback::AdminUser { user }
            | Callback::AdminRevokeAsk { user }
            | Callback::AdminRevoke { user } => fields.push(check_user(*user)?.to_string()),
            Callback::AdminUsers { page } => fields.push(page.to_string()),
            Callback::AdminGrant { user, days } => {
                fields.push(check_user(*user)?.to_string());
                fields.push(check_days(*days)?.to_string());
            }
            Callback::AdminRefundAsk { order } | Callback::AdminRefund { order } => {
                fields.push(order.simple().to_string());
            }
            Callback::BroadcastConfirm { id } | Callback::BroadcastCancel { id } => {
                fields.push(id.to_string());
            }
            _ => {}
        }
        let mut out = format!("{VERSION}{SEP}{}", self.tag());
        for field in &fields {
            out.push(SEP);
            out.push_str(field);
        }
        if out.len() > MAX_LEN {
            return Err(CallbackError::Malformed("longer than 64 bytes"));
        }
        Ok(out)
    }

    /// Decodes callback data; never panics. See the module docs for the rules.
    pub fn decode(data: &str) -> Result<Callback, CallbackError> {
        if data.len() > MAX_LEN {
            return Err(CallbackError::Malformed("longer than 64 bytes"));
        }
        let mut parts = data.split(SEP);
        if parts.next() != Some(VERSION) {
            return Err(CallbackError::Stale);
        }
        let tag = parts.next().ok_or(CallbackError::Stale)?;
        let fields: Vec<&str> = parts.collect();
        let decoded = Self::from_parts(tag, &fields)?;
        // Belt and braces for canonicity: the value must encode to the input.
        if decoded.encode().as_deref() != Ok(data) {
            return Err(CallbackError::Malformed("not in canonical form"));
        }
        Ok(decoded)
    }

    fn tag(&self) -> &'static str {
        match self {
            Callback::Menu => "menu",
            Callback::Buy => "buy",
            Callback::Plan { .. } => "plan",
            Callback::Pay { .. } => "pay",
            Callback::MySub => "sub",
            Callback::Links => "links",
            Callback::ReissueAsk => "reissue?",
            Callback::ReissueConfirm => "reissue!",
            Callback::ResetLinkAsk => "reset?",
            Callback::ResetLinkConfirm => "reset!",
            Callback::Trial => "trial",
            Callback::Balance => "balance",
            Callback::TopUp => "topup",
            Callback::TopUpPay { .. } => "topup-pay",
            Callback::Referral => "ref",
            Callback::Help => "help",
            Callback::Language => "lang",
            Callback::SetLanguage(_) => "lang-set",
            Callback::Cancel => "cancel",
            Callback::AdminUser { .. } => "adm-user",
            Callback::AdminUsers { .. } => "adm-users",
            Callback::AdminGrant { .. } => "adm-grant",
            Callback::AdminRevokeAsk { .. } => "adm-revoke?",
            Callback::AdminRevoke { .. } => "adm-revoke!",
            Callback::AdminRefundAsk { .. } => "adm-refund?",
            Callback::AdminRefund { .. } => "adm-refund!",
            Callback::BroadcastConfirm { .. } => "bc-ok",
            Callback::BroadcastCancel { .. } => "bc-cancel",
        }
    }

    fn from_parts(tag: &str, fields: &[&str]) -> Result<Callback, CallbackError> {
        use Callback as C;
        let unit = |c: Callback| match fields {
            [] => Ok(c),
            _ => Err(CallbackError::Malformed("unexpected fields")),
        };
        let one = || match fields {
            [a] => Ok(*a),
            _ => Err(CallbackError::Malformed("expected one field")),
        };
        let two = || match fields {
            [a, b] => Ok((*a, *b)),
            _ => Err(CallbackError::Malformed("expected two fields")),
        };
        match tag {
            "menu" => unit(C::Menu),
            "buy" => unit(C::Buy),
            "plan" => Ok(C::Plan {
                plan: check_plan(one()?)?.to_owned(),
            }),
            "pay" => {
                let (plan, provider, key) = match fields {
                    [plan, provider] => (*plan, *provider, None),
                    [plan, provider, key] => {
                        let key = u32::from_str_radix(key, 16)
                            .map_err(|_| CallbackError::Malformed("key is not hex"))?;
                        (*plan, *provider, Some(key))
                    }
                    _ => return Err(CallbackError::Malformed("expected two or three fields")),
                };
                Ok(C::Pay {
                    plan: check_plan(plan)?.to_owned(),
                    provider: parse_provider(provider)?,
                    key,
                })
            }
            "sub" => unit(C::MySub),
            "links" => unit(C::Links),
            "reissue?" => unit(C::ReissueAsk),
            "reissue!" => unit(C::ReissueConfirm),
            "reset?" => unit(C::ResetLinkAsk),
            "reset!" => unit(C::ResetLinkConfirm),
            "trial" => unit(C::Trial),
            "balance" => unit(C::Balance),
            "topup" => unit(C::TopUp),
            "topup-pay" => {
                let (amount, provider) = two()?;
                let amount = i64::try_from(parse_u64(amount)?)
                    .map_err(|_| CallbackError::Malformed("amount out of range"))?;
                Ok(C::TopUpPay {
                    amount_minor: check_amount(amount)?,
                    provider: parse_provider(provider)?,
                })
            }
            "ref" => unit(C::Referral),
            "help" => unit(C::Help),
            "lang" => unit(C::Language),
            "lang-set" => {
                let code = one()?;
                Lang::ALL
                    .iter()
                    .copied()
                    .find(|l| l.code() == code)
                    .map(C::SetLanguage)
                    .ok_or(CallbackError::Malformed("unknown language"))
            }
            "cancel" => unit(C::Cancel),
            "adm-user" => Ok(C::AdminUser {
                user: parse_user(one()?)?,
            }),
            "adm-users" => Ok(C::AdminUsers {
                page: parse_u32(one()?)?,
            }),
            "adm-grant" => {
                let (user, days) = two()?;
                Ok(C::AdminGrant {
                    user: parse_user(user)?,
                    days: check_days(parse_u32(days)?)?,
                })
            }
            "adm-revoke?" => Ok(C::AdminRevokeAsk {
                user: parse_user(one()?)?,
            }),
            "adm-revoke!" => Ok(C::AdminRevoke {
                user: parse_user(one()?)?,
            }),
            "adm-refund?" => Ok(C::AdminRefundAsk {
                order: parse_uuid(one()?)?,
            }),
            "adm-refund!" => Ok(C::AdminRefund {
                order: parse_uuid(one()?)?,
            }),
            "bc-ok" => Ok(C::BroadcastConfirm {
                id: parse_u32(one()?)?,
            }),
            "bc-cancel" => Ok(C::BroadcastCancel {
                id: parse_u32(one()?)?,
            }),
            _ => Err(CallbackError::Stale),
        }
    }
}

/// True for a plan id this codec carries: 1–32 of `a-z 0-9 - _`.
pub fn is_valid_plan_id(plan: &str) -> bool {
    (1..=MAX_PLAN_LEN).contains(&plan.len())
        && plan
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn check_plan(plan: &str) -> Result<&str, CallbackError> {
    if is_valid_plan_id(plan) {
        Ok(plan)
    } else {
        Err(CallbackError::Malformed("bad plan id"))
    }
}

fn check_amount(amount: i64) -> Result<i64, CallbackError> {
    if amount > 0 {
        Ok(amount)
    } else {
        Err(CallbackError::Malformed("amount must be positive"))
    }
}

fn check_user(user: i64) -> Result<i64, CallbackError> {
    if (1..=UserId::MAX).contains(&user) {
        Ok(user)
    } else {
        Err(CallbackError::Malformed("bad user id"))
    }
}

fn check_days(days: u32) -> Result<u32, CallbackError> {
    if days > 0 {
        Ok(days)
    } else {
        Err(CallbackError::Malformed("days must be positive"))
    }
}

fn provider_code(provider: Provider) -> char {
    match provider {
        Provider::Stars => 's',
        Provider::Cryptobot => 'c',
        Provider::Nowpayments => 'n',
        Provider::Balance => 'b',
    }
}

fn parse_provider(code: &str) -> Result<Provider, CallbackError> {
    match code {
        "s" => Ok(Provider::Stars),
        "c" => Ok(Provider::Cryptobot),
        "n" => Ok(Provider::Nowpayments),
        "b" => Ok(Provider::Balance),
        _ => Err(CallbackError::Malformed("unknown provider")),
    }
}

/// A canonical unsigned decimal: digits only, no leading zeros.
fn parse_u64(s: &str) -> Result<u64, CallbackError> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(CallbackError::Malformed("bad number"));
    }
    s.parse()
        .map_err(|_| CallbackError::Malformed("number out of range"))
}

fn parse_u32(s: &str) -> Result<u32, CallbackError> {
    u32::try_from(parse_u64(s)?).map_err(|_| CallbackError::Malformed("number out of range"))
}

fn parse_user(s: &str) -> Result<i64, CallbackError> {
    let raw = i64::try_from(parse_u64(s)?).map_err(|_| CallbackError::Malformed("bad user id"))?;
    check_user(raw)
}

/// 32 lowercase hex digits (`Uuid::simple`).
fn parse_uuid(s: &str) -> Result<Uuid, CallbackError> {
    let canonical = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !canonical {
        return Err(CallbackError::Malformed("bad order id"));
    }
    Uuid::try_parse(s).map_err(|_| CallbackError::Malformed("bad order id"))
}

#[cfg(test)]
mod tests {
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
            C::MySub,
            C::Links,
            C::ReissueAsk,
            C::ReissueConfirm,
            C::ResetLinkAsk,
            C::ResetLinkConfirm,
            C::Trial,
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
            (
                Callback::AdminGrant { user: 42, days: 30 },
                "1:adm-grant:42:30",
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
            Callback::AdminGrant { user: 1, days: 0 },
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
            C::ReissueAsk,
            C::ReissueConfirm,
            C::ResetLinkAsk,
            C::ResetLinkConfirm,
            C::Trial,
            C::Balance,
            C::TopUp,
            C::Referral,
            C::Help,
            C::Language,
            C::Cancel,
        ];
        prop_oneof![
            prop::sample::select(units).boxed(),
            arb_plan().prop_map(|plan| C::Plan { plan }).boxed(),
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
            (arb_user(), 1..=u32::MAX)
                .prop_map(|(user, days)| C::AdminGrant { user, days })
                .boxed(),
            arb_user()
                .prop_map(|user| C::AdminRevokeAsk { user })
                .boxed(),
            arb_user().prop_map(|user| C::AdminRevoke { user }).boxed(),
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
}
