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
    /// The subscription link to copy (a QR code on request).
    Links,
    /// A QR code of the subscription link.
    Qr,
    /// The raw keys (`vless://…`), on request only.
    Keys,
    /// The VPN apps per OS, with store links.
    Apps,
    ReissueAsk,
    ReissueConfirm,
    ResetLinkAsk,
    ResetLinkConfirm,
    /// The devices (`x-hwid`) registered under the subscription.
    Devices,
    /// Ask before removing device `device` (our id, > 0).
    DeviceRemoveAsk {
        device: i64,
    },
    DeviceRemove {
        device: i64,
    },
    Trial,
    /// Auto-renewal from the balance on / off ("My subscription").
    AutoRenewOn,
    AutoRenewOff,
    Balance,
    TopUp,
    /// Top up the balance by `amount_minor` (> 0) through `provider`.
    TopUpPay {
        amount_minor: i64,
        provider: Provider,
    },
    Referral,
    /// The traffic packs on sale.
    BuyTraffic,
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
    /// Grant `days` to `user`. `key` is drawn with the button: pressing it
    /// twice grants once (older buttons have none).
    AdminGrant {
        user: i64,
        days: u32,
        key: Option<u32>,
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
    /// Ask before forgetting every device of `user`.
    AdminDevicesResetAsk {
        user: i64,
    },
    AdminDevicesReset {
        user: i64,
    },
    /// An admin's reset of the user's traffic period: ask, then do.
    AdminTrafficResetAsk {
        user: i64,
    },
    AdminTrafficReset {
        user: i64,
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
    /// "Have a promo code?" on `plan`'s payment screen: the next text message is the code.
    PromoAsk {
        plan: String,
    },
    /// Pay for `plan` with the promo code the user entered (kept by the bot).
    PromoPay {
        plan: String,
        provider: Provider,
        key: Option<u32>,
    },
    /// "🎁 Gift": the plans to buy for someone else.
    GiftPlans,
    /// The payment methods of `plan` bought as a gift.
    GiftPlan {
        plan: String,
    },
    /// Pay for `plan` as a gift.
    GiftPay {
        plan: String,
        provider: Provider,
        key: Option<u32>,
    },
}

impl Callback {
    /// The callback data for this value: `1:<tag>[:<field>]*`, at most
    /// [`MAX_LEN`] bytes. Values that would not decode back are refused
    /// with [`CallbackError::Malformed`].
    pub fn encode(&self) -> Result<String, CallbackError> {
        let mut fields: Vec<String> = Vec::with_capacity(2);
        match self {
            Callback::Plan { plan } | Callback::PromoAsk { plan } | Callback::GiftPlan { plan } => {
                fields.push(check_plan(plan)?.to_owned())
            }
            Callback::Pay {
                plan,
                provider,
                key,
            }
            | Callback::PromoPay {
                plan,
                provider,
                key,
            }
            | Callback::GiftPay {
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
            | Callback::AdminRevoke { user }
            | Callback::AdminDevicesResetAsk { user }
            | Callback::AdminDevicesReset { user }
            | Callback::AdminTrafficResetAsk { user }
            | Callback::AdminTrafficReset { user } => fields.push(check_user(*user)?.to_string()),
            Callback::DeviceRemoveAsk { device } | Callback::DeviceRemove { device } => {
                fields.push(check_device(*device)?.to_string());
            }
            Callback::AdminUsers { page } => fields.push(page.to_string()),
            Callback::AdminGrant { user, days, key } => {
                fields.push(check_user(*user)?.to_string());
                fields.push(check_days(*days)?.to_string());
                if let Some(key) = key {
                    fields.push(format!("{key:x}"));
                }
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
            Callback::Qr => "qr",
            Callback::Keys => "keys",
            Callback::Apps => "apps",
            Callback::ReissueAsk => "reissue?",
            Callback::ReissueConfirm => "reissue!",
            Callback::ResetLinkAsk => "reset?",
            Callback::ResetLinkConfirm => "reset!",
            Callback::Devices => "dev",
            Callback::DeviceRemoveAsk { .. } => "dev-rm?",
            Callback::DeviceRemove { .. } => "dev-rm!",
            Callback::Trial => "trial",
            Callback::AutoRenewOn => "ar-on",
            Callback::AutoRenewOff => "ar-off",
            Callback::Balance => "balance",
            Callback::TopUp => "topup",
            Callback::TopUpPay { .. } => "topup-pay",
            Callback::Referral => "ref",
            Callback::BuyTraffic => "traffic",
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
            Callback::AdminDevicesResetAsk { .. } => "adm-dev?",
            Callback::AdminDevicesReset { .. } => "adm-dev!",
            Callback::AdminTrafficResetAsk { .. } => "adm-traffic?",
            Callback::AdminTrafficReset { .. } => "adm-traffic!",
            Callback::BroadcastConfirm { .. } => "bc-ok",
            Callback::BroadcastCancel { .. } => "bc-cancel",
            Callback::PromoAsk { .. } => "promo?",
            Callback::PromoPay { .. } => "ppay",
            Callback::GiftPlans => "gift",
            Callback::GiftPlan { .. } => "gift-plan",
            Callback::GiftPay { .. } => "gpay",
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
            "pay" | "ppay" | "gpay" => {
                let (plan, provider, key) = match fields {
                    [plan, provider] => (*plan, *provider, None),
                    [plan, provider, key] => {
                        let key = u32::from_str_radix(key, 16)
                            .map_err(|_| CallbackError::Malformed("key is not hex"))?;
                        (*plan, *provider, Some(key))
                    }
                    _ => return Err(CallbackError::Malformed("expected two or three fields")),
                };
                let plan = check_plan(plan)?.to_owned();
                let provider = parse_provider(provider)?;
                Ok(match tag {
                    "ppay" => C::PromoPay {
                        plan,
                        provider,
                        key,
                    },
                    "gpay" => C::GiftPay {
                        plan,
                        provider,
                        key,
                    },
                    _ => C::Pay {
                        plan,
                        provider,
                        key,
                    },
                })
            }
            "promo?" => Ok(C::PromoAsk {
                plan: check_plan(one()?)?.to_owned(),
            }),
            "gift" => unit(C::GiftPlans),
            "gift-plan" => Ok(C::GiftPlan {
                plan: check_plan(one()?)?.to_owned(),
            }),
            "sub" => unit(C::MySub),
            "links" => unit(C::Links),
            "qr" => unit(C::Qr),
            "keys" => unit(C::Keys),
            "apps" => unit(C::Apps),
            "reissue?" => unit(C::ReissueAsk),
            "reissue!" => unit(C::ReissueConfirm),
            "reset?" => unit(C::ResetLinkAsk),
            "reset!" => unit(C::ResetLinkConfirm),
            "dev" => unit(C::Devices),
            "dev-rm?" => Ok(C::DeviceRemoveAsk {
                device: parse_device(one()?)?,
            }),
            "dev-rm!" => Ok(C::DeviceRemove {
                device: parse_device(one()?)?,
            }),
            "trial" => unit(C::Trial),
            "ar-on" => unit(C::AutoRenewOn),
            "ar-off" => unit(C::AutoRenewOff),
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
            "traffic" => unit(C::BuyTraffic),
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
                let (user, days, key) = match fields {
                    [user, days] => (*user, *days, None),
                    [user, days, key] => {
                        let key = u32::from_str_radix(key, 16)
                            .map_err(|_| CallbackError::Malformed("key is not hex"))?;
                        (*user, *days, Some(key))
                    }
                    _ => return Err(CallbackError::Malformed("expected two or three fields")),
                };
                Ok(C::AdminGrant {
                    user: parse_user(user)?,
                    days: check_days(parse_u32(days)?)?,
                    key,
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
            "adm-dev?" => Ok(C::AdminDevicesResetAsk {
                user: parse_user(one()?)?,
            }),
            "adm-dev!" => Ok(C::AdminDevicesReset {
                user: parse_user(one()?)?,
            }),
            "adm-traffic?" => Ok(C::AdminTrafficResetAsk {
                user: parse_user(one()?)?,
            }),
            "adm-traffic!" => Ok(C::AdminTrafficReset {
                user: parse_user(one()?)?,
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

fn check_device(device: i64) -> Result<i64, CallbackError> {
    if device > 0 {
        Ok(device)
    } else {
        Err(CallbackError::Malformed("bad device id"))
    }
}

fn parse_device(s: &str) -> Result<i64, CallbackError> {
    let raw =
        i64::try_from(parse_u64(s)?).map_err(|_| CallbackError::Malformed("bad device id"))?;
    check_device(raw)
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
mod tests;
