//! Auto-renewal from the balance: what a plan costs the balance, and what
//! the user's actor does for a period due for renewal. Pure rules.

use serde::Serialize;

use super::{Currency, Money, Plan, Provider};

/// Why the balance cannot pay a plan's renewal at all (the user is reminded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unpayable {
    /// The plan is no longer in the config.
    PlanGone,
    /// The plan has no fiat price (sold for Stars only).
    NoFiatPrice,
    /// The plan's fiat price is in another currency than the balance.
    OtherCurrency,
}

impl Unpayable {
    pub fn as_str(self) -> &'static str {
        match self {
            Unpayable::PlanGone => "plan_gone",
            Unpayable::NoFiatPrice => "no_fiat_price",
            Unpayable::OtherCurrency => "other_currency",
        }
    }
}

/// What a renewal of `plan` costs the balance (held in `balance_currency`).
pub fn renewal_price(plan: Option<&Plan>, balance_currency: &Currency) -> Result<Money, Unpayable> {
    let plan = plan.ok_or(Unpayable::PlanGone)?;
    let price = plan
        .price_for(Provider::Balance)
        .ok_or(Unpayable::NoFiatPrice)?;
    if &price.currency != balance_currency {
        return Err(Unpayable::OtherCurrency);
    }
    Ok(price)
}

/// What the actor does for a period due for renewal, given the price and
/// the balance (minor units of the balance currency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenewalStep {
    /// Buy the plan from the balance.
    Buy(Money),
    /// The balance falls short of the price: remind (with a top-up button).
    Short(Money),
    /// The balance cannot pay this plan: remind.
    Unpayable(Unpayable),
}

pub fn renewal_step(price: Result<Money, Unpayable>, balance_minor: i64) -> RenewalStep {
    match price {
        Err(why) => RenewalStep::Unpayable(why),
        Ok(price) if balance_minor >= price.minor => RenewalStep::Buy(price),
        Ok(price) => RenewalStep::Short(price),
    }
}

/// What one [`AutoRenew`](crate::messages::AutoRenew) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RenewalOutcome {
    /// The plan was bought from the balance now.
    Renewed,
    /// This period's renewal order was already paid (another tick or instance).
    AlreadyRenewed,
    /// The user was reminded (balance short, or it cannot pay the plan).
    Reminded,
    /// Nothing to do: opted out, banned, the period moved, or already reminded.
    Skipped,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PlanId;

    fn plan(fiat: Option<Money>) -> Plan {
        Plan {
            id: PlanId::new("m1").expect("plan id"),
            title: "1 month".into(),
            days: 30,
            stars: Some(100),
            fiat,
            traffic: None,
        }
    }

    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::new("USD").expect("currency"))
    }

    #[test]
    fn price_and_step() {
        let usd_cur = Currency::new("USD").expect("currency");
        let eur = Money::new(299, Currency::new("EUR").expect("currency"));
        assert_eq!(renewal_price(None, &usd_cur), Err(Unpayable::PlanGone));
        assert_eq!(
            renewal_price(Some(&plan(None)), &usd_cur),
            Err(Unpayable::NoFiatPrice)
        );
        assert_eq!(
            renewal_price(Some(&plan(Some(eur))), &usd_cur),
            Err(Unpayable::OtherCurrency)
        );
        let price = renewal_price(Some(&plan(Some(usd(299)))), &usd_cur);
        assert_eq!(price, Ok(usd(299)));
        assert_eq!(renewal_step(price.clone(), 299), RenewalStep::Buy(usd(299)));
        assert_eq!(renewal_step(price, 298), RenewalStep::Short(usd(299)));
        assert_eq!(
            renewal_step(Err(Unpayable::PlanGone), 10_000),
            RenewalStep::Unpayable(Unpayable::PlanGone)
        );
    }
}
