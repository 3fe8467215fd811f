//! Small domain values the tests build again and again: user ids and money
//! in US dollars and Telegram Stars.

use subvisor_actors::domain::{Currency, Money, UserId};

/// The user with id `n` (panics unless `n` is a valid user id).
pub fn uid(n: i64) -> UserId {
    UserId::new(n).expect("valid user id")
}

/// `minor` cents of US dollars.
pub fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::new("USD").expect("valid"))
}

/// `n` Telegram Stars.
pub fn xtr(n: i64) -> Money {
    Money::new(n, Currency::stars())
}
