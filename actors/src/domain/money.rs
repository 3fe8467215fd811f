//! Money: integer minor units and a currency code. Never floats.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A currency or asset code: 2–8 of `A-Z 0-9` (`USD`, `XTR` for Telegram Stars, `USDT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    /// Telegram Stars.
    pub fn stars() -> Self {
        Self("XTR".into())
    }
    pub fn new(code: impl Into<String>) -> Result<Self> {
        let code = code.into();
        let ok = (2..=8).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(Self(code))
        } else {
            Err(Error::invalid(
                "currency",
                format!("{code:?} must be 2-8 characters of A-Z or 0-9"),
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::new(s)
    }
}
impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}
impl FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}
impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount in integer minor units (cents, or whole Stars for `XTR`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Adds two amounts of the same currency; `None` on currency mismatch or overflow.
    pub fn checked_add(&self, other: &Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| self.minor.checked_add(other.minor))
            .flatten()
            .map(|minor| Money::new(minor, self.currency.clone()))
    }
}

impl Money {
    /// Parses a provider's decimal amount (`"2.99"`) into minor units with
    /// `decimals` fraction digits. Extra fraction digits must be zeros; signs,
    /// exponents and garbage are refused (`None`).
    pub fn parse_decimal(text: &str, decimals: u32, currency: Currency) -> Option<Money> {
        let (int, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits(int) || !digits(frac) {
            return None;
        }
        let (kept, extra) = frac.split_at(frac.len().min(decimals as usize));
        if extra.bytes().any(|b| b != b'0') {
            return None;
        }
        let scale = 10i64.checked_pow(decimals)?;
        let whole: i64 = int.parse().ok()?;
        let mut fraction: i64 = if kept.is_empty() {
            0
        } else {
            kept.parse().ok()?
        };
        for _ in kept.len()..decimals as usize {
            fraction = fraction.checked_mul(10)?;
        }
        let minor = whole.checked_mul(scale)?.checked_add(fraction)?;
        Some(Money::new(minor, currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.minor, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_codes_are_validated() {
        assert!(Currency::new("USD").is_ok());
        assert!(Currency::new("usd").is_err());
        assert!(Currency::new("X").is_err());
    }

    #[test]
    fn decimal_amounts_parse_exactly() {
        let usd = || Currency::new("USD").unwrap();
        let p = |s: &str, d: u32| Money::parse_decimal(s, d, usd()).map(|m| m.minor);
        assert_eq!(p("2.99", 2), Some(299));
        assert_eq!(p("2.9", 2), Some(290));
        assert_eq!(p("2", 2), Some(200));
        assert_eq!(p("2.990000", 2), Some(299));
        assert_eq!(p("0.05", 2), Some(5));
        assert_eq!(p("150", 0), Some(150));
        assert_eq!(p("2.991", 2), None, "sub-minor amounts are not rounded");
        for bad in ["", ".5", "-1", "1e3", "1.2.3", "abc", "1,5", " "] {
            assert_eq!(p(bad, 2), None, "{bad:?}");
        }
        assert_eq!(p("99999999999999999999", 2), None, "overflow");
    }

    #[test]
    fn adding_different_currencies_fails() {
        let usd = Money::new(100, Currency::new("USD").unwrap());
        let xtr = Money::new(100, Currency::stars());
        assert_eq!(usd.checked_add(&usd).map(|m| m.minor), Some(200));
        assert!(usd.checked_add(&xtr).is_none());
        let max = Money::new(i64::MAX, Currency::stars());
        assert!(max.checked_add(&xtr).is_none());
    }

    #[test]
    fn a_currency_reads_back_as_its_code() {
        let usdt = Currency::new("USDT").unwrap();
        assert_eq!(usdt.as_str(), "USDT");
        assert_eq!(Currency::stars().as_str(), "XTR");
        assert_eq!(usdt.to_string(), "USDT");
        assert_eq!(String::from(usdt.clone()), "USDT");
        assert_eq!("USDT".parse::<Currency>().ok(), Some(usdt.clone()));
        assert_eq!(
            Currency::try_from("USDT".to_owned()).ok(),
            Some(usdt.clone())
        );
        // Serde goes through the same `String` conversions (and validation).
        assert_eq!(serde_json::to_string(&usdt).unwrap(), r#""USDT""#);
        assert_eq!(
            serde_json::from_str::<Currency>(r#""USDT""#).ok(),
            Some(usdt.clone())
        );
        assert!(serde_json::from_str::<Currency>(r#""usdt""#).is_err());
        assert_eq!(Money::new(-299, usdt).to_string(), "-299 USDT");
    }
}
