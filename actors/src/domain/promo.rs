//! Promo codes and gifts: what a code gives, why it is refused, and the
//! discounted price (pure; the store reads the code, calls these, and writes
//! guarded rows).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Money, OrderId, PlanId, UserId, text_enum};

/// What a promo code gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromoKind {
    /// `value` percent off (1–99: a 100 % code is refused when it is made).
    Percent,
    /// `value` minor units off, in the code's currency.
    Fixed,
    /// `value` free days, redeemed at once (no order).
    Days,
}

text_enum!(PromoKind, "promo kind" {
    Percent => "percent",
    Fixed => "fixed",
    Days => "days",
});

/// Longest promo code accepted (letters, digits, `-`, `_`).
pub const MAX_PROMO_CODE_LEN: usize = 32;

/// A promo code to be made (admin `/promo`, `POST /ops/promos`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPromo {
    pub code: String,
    pub kind: PromoKind,
    pub value: i64,
    /// A fixed discount's currency.
    #[serde(default)]
    pub currency: Option<super::Currency>,
    /// Total uses (`None`: unlimited).
    #[serde(default)]
    pub max_uses: Option<u32>,
    /// Uses per user (default 1).
    #[serde(default = "one")]
    pub per_user: u32,
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
    /// Only for users who never paid for an order.
    #[serde(default)]
    pub first_purchase_only: bool,
    /// Plans it applies to (empty: all).
    #[serde(default)]
    pub plans: Vec<PlanId>,
}

fn one() -> u32 {
    1
}

impl NewPromo {
    /// The checks that do not need the database: a clear error for each.
    pub fn validate(&self) -> crate::Result<()> {
        normalize_code(&self.code)?;
        if self.value <= 0 {
            return Err(crate::Error::invalid("value", "must be positive"));
        }
        match self.kind {
            PromoKind::Percent if self.value >= 100 => {
                return Err(crate::Error::invalid(
                    "value",
                    "a percent discount must be 1-99 (a paid order never costs 0; give free days instead)",
                ));
            }
            PromoKind::Fixed if self.currency.is_none() => {
                return Err(crate::Error::invalid(
                    "currency",
                    "a fixed discount needs a currency",
                ));
            }
            PromoKind::Days if self.value > 3650 => {
                return Err(crate::Error::invalid("value", "at most 3650 days"));
            }
            _ => {}
        }
        if self.max_uses == Some(0) {
            return Err(crate::Error::invalid("max_uses", "must be positive"));
        }
        if self.per_user == 0 {
            return Err(crate::Error::invalid("per_user", "must be positive"));
        }
        Ok(())
    }
}

/// The case-insensitive key of a code (`Spring-25` and `SPRING-25` are one
/// code); refuses anything but 1–32 of `A-Z a-z 0-9 - _`.
pub fn normalize_code(code: &str) -> crate::Result<String> {
    let code = code.trim();
    let ok = !code.is_empty()
        && code.len() <= MAX_PROMO_CODE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(code.to_ascii_lowercase())
    } else {
        Err(crate::Error::invalid(
            "code",
            format!("a promo code is 1-{MAX_PROMO_CODE_LEN} letters, digits, '-' or '_'"),
        ))
    }
}

/// A stored promo code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promo {
    pub id: i64,
    pub code: String,
    pub kind: PromoKind,
    pub value: i64,
    pub currency: Option<super::Currency>,
    pub max_uses: Option<u32>,
    pub per_user: u32,
    pub valid_until: Option<DateTime<Utc>>,
    pub first_purchase_only: bool,
    pub plans: Vec<PlanId>,
    /// Paid orders and days redemptions that used it.
    pub used: u32,
    /// Pending orders holding a use.
    pub reserved: u32,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Why a code cannot be used (shown to the user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromoRefusal {
    Unknown,
    Disabled,
    Expired,
    /// Every use is taken (paid or held by a pending order).
    UsedUp,
    /// This user used it as often as allowed.
    AlreadyUsed,
    /// Not for this plan.
    WrongPlan,
    /// Only for a first purchase, and this user paid before.
    NotFirstPurchase,
    /// A fixed discount in another currency than the price.
    WrongCurrency,
    /// A free-days code given for an order, or a discount code redeemed as days.
    WrongKind,
}

text_enum!(PromoRefusal, "promo refusal" {
    Unknown => "unknown",
    Disabled => "disabled",
    Expired => "expired",
    UsedUp => "used_up",
    AlreadyUsed => "already_used",
    WrongPlan => "wrong_plan",
    NotFirstPurchase => "not_first_purchase",
    WrongCurrency => "wrong_currency",
    WrongKind => "wrong_kind",
});

impl Promo {
    /// Whether the code may be used now by a user with `uses_by_user` live
    /// uses (reserved or used) for `plan` (`None`: a days redemption), given
    /// whether the user paid before. The total-use limit is checked again
    /// by the guarded UPDATE that takes the use.
    pub fn check(
        &self,
        now: DateTime<Utc>,
        plan: Option<&PlanId>,
        uses_by_user: u32,
        paid_before: bool,
    ) -> Result<(), PromoRefusal> {
        if self.disabled_at.is_some() {
            return Err(PromoRefusal::Disabled);
        }
        if self.valid_until.is_some_and(|until| now >= until) {
            return Err(PromoRefusal::Expired);
        }
        match (self.kind, plan) {
            (PromoKind::Days, Some(_)) | (PromoKind::Percent | PromoKind::Fixed, None) => {
                return Err(PromoRefusal::WrongKind);
            }
            _ => {}
        }
        if let Some(plan) = plan
            && !self.plans.is_empty()
            && !self.plans.contains(plan)
        {
            return Err(PromoRefusal::WrongPlan);
        }
        if self.first_purchase_only && paid_before {
            return Err(PromoRefusal::NotFirstPurchase);
        }
        if uses_by_user >= self.per_user {
            return Err(PromoRefusal::AlreadyUsed);
        }
        if self
            .max_uses
            .is_some_and(|max| self.used.saturating_add(self.reserved) >= max)
        {
            return Err(PromoRefusal::UsedUp);
        }
        Ok(())
    }

    /// The price of `list` with this code: never below 1 minor unit (a paid
    /// order never costs 0).
    pub fn price(&self, list: &Money) -> Result<Money, PromoRefusal> {
        let minor = match self.kind {
            PromoKind::Days => return Err(PromoRefusal::WrongKind),
            PromoKind::Percent => {
                // In whole minor units: the discount is rounded down, so the
                // price is rounded up.
                let off = i128::from(list.minor) * i128::from(self.value) / 100;
                list.minor - i64::try_from(off).unwrap_or(0)
            }
            PromoKind::Fixed => {
                if self.currency.as_ref() != Some(&list.currency) {
                    return Err(PromoRefusal::WrongCurrency);
                }
                list.minor.saturating_sub(self.value)
            }
        };
        Ok(Money::new(minor.max(1), list.currency.clone()))
    }
}

/// A one-time gift a paid gift order yields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gift {
    pub code: String,
    pub order: OrderId,
    pub buyer: UserId,
    pub plan: PlanId,
    pub days: u32,
    pub created_at: DateTime<Utc>,
    pub redeemed_by: Option<UserId>,
    pub redeemed_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
}

/// Why a gift cannot be activated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiftRefusal {
    Unknown,
    /// Someone (maybe this user) activated it already.
    AlreadyRedeemed,
    /// Its order was refunded.
    Voided,
}

text_enum!(GiftRefusal, "gift refusal" {
    Unknown => "unknown",
    AlreadyRedeemed => "already_redeemed",
    Voided => "voided",
});

/// A new unguessable gift code (128 random bits, hex).
pub fn new_gift_code() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn promo(kind: PromoKind, value: i64) -> Promo {
        Promo {
            id: 1,
            code: "X".into(),
            kind,
            value,
            currency: Some(Currency::new("USD").unwrap()),
            max_uses: Some(2),
            per_user: 1,
            valid_until: None,
            first_purchase_only: false,
            plans: vec![],
            used: 0,
            reserved: 0,
            disabled_at: None,
            created_by: "t".into(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn prices_never_reach_zero() {
        let usd = Currency::new("USD").unwrap();
        let list = Money::new(500, usd.clone());
        assert_eq!(
            promo(PromoKind::Percent, 20).price(&list).unwrap().minor,
            400
        );
        assert_eq!(
            promo(PromoKind::Percent, 33).price(&list).unwrap().minor,
            335
        );
        assert_eq!(
            promo(PromoKind::Percent, 99)
                .price(&Money::new(1, usd.clone()))
                .unwrap()
                .minor,
            1
        );
        assert_eq!(
            promo(PromoKind::Fixed, 100).price(&list).unwrap().minor,
            400
        );
        assert_eq!(promo(PromoKind::Fixed, 900).price(&list).unwrap().minor, 1);
        assert_eq!(
            promo(PromoKind::Fixed, 100).price(&Money::new(50, Currency::stars())),
            Err(PromoRefusal::WrongCurrency)
        );
    }

    #[test]
    fn refusals() {
        let now = Utc::now();
        let plan = PlanId::new("m1").unwrap();
        let p = promo(PromoKind::Percent, 10);
        assert_eq!(p.check(now, Some(&plan), 0, false), Ok(()));
        assert_eq!(
            p.check(now, Some(&plan), 1, false),
            Err(PromoRefusal::AlreadyUsed)
        );
        assert_eq!(p.check(now, None, 0, false), Err(PromoRefusal::WrongKind));
        let used_up = Promo {
            used: 1,
            reserved: 1,
            ..p.clone()
        };
        assert_eq!(
            used_up.check(now, Some(&plan), 0, false),
            Err(PromoRefusal::UsedUp)
        );
        let expired = Promo {
            valid_until: Some(now),
            ..p.clone()
        };
        assert_eq!(
            expired.check(now, Some(&plan), 0, false),
            Err(PromoRefusal::Expired)
        );
        let other = Promo {
            plans: vec![PlanId::new("y1").unwrap()],
            ..p.clone()
        };
        assert_eq!(
            other.check(now, Some(&plan), 0, false),
            Err(PromoRefusal::WrongPlan)
        );
        let first = Promo {
            first_purchase_only: true,
            ..p.clone()
        };
        assert_eq!(
            first.check(now, Some(&plan), 0, true),
            Err(PromoRefusal::NotFirstPurchase)
        );
        let off = Promo {
            disabled_at: Some(now),
            ..p
        };
        assert_eq!(
            off.check(now, Some(&plan), 0, false),
            Err(PromoRefusal::Disabled)
        );
    }

    #[test]
    fn codes_are_case_insensitive_and_bounded() {
        assert_eq!(normalize_code(" Spring-25 ").unwrap(), "spring-25");
        assert!(normalize_code("").is_err());
        assert!(normalize_code("a b").is_err());
        assert!(normalize_code(&"a".repeat(33)).is_err());
        let hundred = NewPromo {
            code: "FREE".into(),
            kind: PromoKind::Percent,
            value: 100,
            currency: None,
            max_uses: None,
            per_user: 1,
            valid_until: None,
            first_purchase_only: false,
            plans: vec![],
        };
        assert!(hundred.validate().is_err(), "a 100 % code is refused");
    }
}
