//! Identifier newtypes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

/// A Telegram user id (positive; Telegram ids fit in 52 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct UserId(i64);

impl UserId {
    pub const MAX: i64 = (1 << 53) - 1;

    pub fn new(raw: i64) -> Result<Self> {
        if (1..=Self::MAX).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(Error::invalid(
                "user id",
                format!("{raw} is not a Telegram user id"),
            ))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for UserId {
    type Error = Error;
    fn try_from(raw: i64) -> Result<Self> {
        Self::new(raw)
    }
}

impl From<UserId> for i64 {
    fn from(id: UserId) -> i64 {
        id.0
    }
}

impl FromStr for UserId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let raw: i64 = s
            .trim()
            .parse()
            .map_err(|_| Error::invalid("user id", format!("{s:?} is not a number")))?;
        Self::new(raw)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Our order id; also the payload sent to payment providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(Uuid);

impl OrderId {
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    pub fn uuid(self) -> Uuid {
        self.0
    }
}

impl FromStr for OrderId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Uuid::parse_str(s.trim())
            .map(Self)
            .map_err(|_| Error::invalid("order id", format!("{s:?} is not a UUID")))
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Validates a short machine name: 1–32 of `a-z 0-9 - _`.
fn check_slug(field: &'static str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{s:?} must be 1-32 characters of a-z, 0-9, '-' or '_'"),
        ))
    }
}

macro_rules! slug_newtype {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self> {
                let s = s.into();
                check_slug($field, &s)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::new(s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_newtype!(
    /// A VPN node's name from config (`[[nodes]] name`), or `sandbox`.
    NodeName,
    "node name"
);
slug_newtype!(
    /// A plan id from config (`[[plans]] id`).
    PlanId,
    "plan id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_rejects_non_positive_and_garbage() {
        assert!(UserId::new(0).is_err());
        assert!(UserId::new(-5).is_err());
        assert!("abc".parse::<UserId>().is_err());
        assert_eq!("42".parse::<UserId>().map(UserId::get).ok(), Some(42));
    }

    #[test]
    fn slugs_are_checked() {
        assert!(NodeName::new("de-1").is_ok());
        assert!(NodeName::new("").is_err());
        assert!(NodeName::new("Upper").is_err());
        assert!(PlanId::new("a".repeat(33)).is_err());
    }
}
