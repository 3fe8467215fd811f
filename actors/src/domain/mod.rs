//! Pure domain types and rules: no I/O here.

mod alert;
mod audit;
mod device;
mod ids;
mod key;
mod ledger;
mod link;
mod money;
mod notification;
mod order;
mod plan;
mod promo;
mod provisioning;
mod renewal;
mod settlement;
mod subscription;
mod traffic;

pub use alert::AlertKind;
pub use audit::Principal;
pub use device::{
    Admission, Device, DeviceInfo, DeviceList, Hwid, MAX_DEVICE_FIELD_LEN, MAX_HWID_LEN,
    UNLIMITED_DEVICES_TRACKED, device_field, effective_limit,
};
pub use ids::{NodeName, OrderId, PlanId, UserId};
pub use key::{EMAIL_NAMESPACE, Key, KeyState, key_email, parse_key_email};
pub use ledger::{LedgerEntry, LedgerKind};
pub use link::{LinkParams, VISION_FLOW, vless_link};
pub use money::{Currency, Money};
pub use notification::{NotificationKind, ReminderKind};
pub use order::{NewOrder, Order, OrderKind, OrderStatus, Provider, TOPUP_PLAN};
pub use plan::{Plan, Plans};
pub use promo::{
    Gift, GiftRefusal, MAX_PROMO_CODE_LEN, NewPromo, Promo, PromoKind, PromoRefusal, new_gift_code,
    normalize_code,
};
pub use provisioning::{OpKind, ProvisioningOp};
pub use renewal::{RenewalOutcome, RenewalStep, Unpayable, renewal_price, renewal_step};
pub use settlement::{
    Excess, PaymentSettlement, ReportedPayment, Settlement, SettlementPolicy, Unexpected, settle,
    settle_without_order, take_back,
};
pub use subscription::{
    Extension, KeyPlan, Shortened, Subscription, SubscriptionStatus, extend, extended_expiry,
    new_sub_token, shorten,
};
pub use traffic::{
    NOTICE_LEVELS, TrafficAllowance, TrafficPack, TrafficPacks, TrafficReset, TrafficState,
    counter_delta, format_gb, gb_to_bytes, level, next_reset, usage_bar,
};

/// Implements `as_str`, `Display` and `FromStr` for a fieldless enum stored as text.
macro_rules! text_enum {
    ($ty:ident, $field:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $ty {
            type Err = crate::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err(crate::Error::invalid($field, format!("unknown value {other:?}"))),
                }
            }
        }
    };
}
pub(crate) use text_enum;
