//! Plans: what users can buy, from config.

use serde::{Deserialize, Serialize};

use super::{Currency, Money, PlanId, Provider};
use crate::{Error, Result};

/// A purchasable plan. Prices: Telegram Stars as an integer, fiat in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: PlanId,
    pub title: String,
    pub days: u32,
    /// Price in Telegram Stars (`XTR`), if sold for Stars.
    pub stars: Option<i64>,
    /// Price in a fiat currency or crypto asset, in minor units.
    pub fiat: Option<Money>,
    /// Traffic per period (`None`: unlimited).
    #[serde(default)]
    pub traffic: Option<super::TrafficAllowance>,
}

impl Plan {
    /// The price of this plan in `currency`, if it has one.
    pub fn price_in(&self, currency: &Currency) -> Option<Money> {
        if *currency == Currency::stars() {
            self.stars.map(|n| Money::new(n, Currency::stars()))
        } else {
            self.fiat.clone().filter(|m| &m.currency == currency)
        }
    }

    /// The price charged through `provider`: Stars in `XTR`, everything else in fiat.
    pub fn price_for(&self, provider: Provider) -> Option<Money> {
        match provider {
            Provider::Stars => self.stars.map(|n| Money::new(n, Currency::stars())),
            Provider::Cryptobot | Provider::Nowpayments | Provider::Balance => self.fiat.clone(),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.title.trim().is_empty() {
            return Err(Error::invalid(
                "plans.title",
                format!("plan {} has an empty title", self.id),
            ));
        }
        if !(1..=3660).contains(&self.days) {
            return Err(Error::invalid(
                "plans.days",
                format!("plan {}: days must be 1..=3660, got {}", self.id, self.days),
            ));
        }
        if self.stars.is_none() && self.fiat.is_none() {
            return Err(Error::invalid(
                "plans",
                format!("plan {} has no price (set `stars` and/or `fiat`)", self.id),
            ));
        }
        if self.stars.is_some_and(|s| s <= 0) || self.fiat.as_ref().is_some_and(|m| m.minor <= 0) {
            return Err(Error::invalid(
                "plans",
                format!("plan {}: prices must be positive", self.id),
            ));
        }
        Ok(())
    }
}

/// The validated list of plans (unique ids, sane days and prices).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plans(Vec<Plan>);

impl Plans {
    pub fn new(plans: Vec<Plan>) -> Result<Self> {
        for (i, plan) in plans.iter().enumerate() {
            plan.validate()?;
            if plans[..i].iter().any(|p| p.id == plan.id) {
                return Err(Error::invalid(
                    "plans.id",
                    format!("duplicate plan id {}", plan.id),
                ));
            }
        }
        Ok(Self(plans))
    }
    pub fn get(&self, id: &PlanId) -> Option<&Plan> {
        self.0.iter().find(|p| &p.id == id)
    }
    pub fn iter(&self) -> impl Iterator<Item = &Plan> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(id: &str, days: u32) -> Plan {
        Plan {
            id: PlanId::new(id).unwrap(),
            title: "x".into(),
            days,
            stars: Some(100),
            fiat: None,
            traffic: None,
        }
    }

    #[test]
    fn duplicate_ids_and_zero_days_are_rejected() {
        assert!(Plans::new(vec![plan("a", 30), plan("b", 90)]).is_ok());
        assert!(Plans::new(vec![plan("a", 30), plan("a", 90)]).is_err());
        assert!(Plans::new(vec![plan("a", 0)]).is_err());
    }

    #[test]
    fn price_lookup_by_currency() {
        let p = plan("a", 30);
        assert_eq!(p.price_in(&Currency::stars()).map(|m| m.minor), Some(100));
        assert!(p.price_in(&Currency::new("USD").unwrap()).is_none());
    }
}
