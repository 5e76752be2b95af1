use serde::{Deserialize, Serialize};

use super::{ValueError, string_value};

/// ISO 4217 codes we accept, with their minor-unit exponent where it is not 2.
#[rustfmt::skip]
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2), ("ARS", 2), ("AUD", 2), ("BGN", 2), ("BHD", 3), ("BRL", 2), ("CAD", 2),
    ("CHF", 2), ("CLP", 0), ("CNY", 2), ("COP", 2), ("CZK", 2), ("DKK", 2), ("EGP", 2),
    ("EUR", 2), ("GBP", 2), ("HKD", 2), ("HUF", 2), ("IDR", 2), ("ILS", 2), ("INR", 2),
    ("ISK", 0), ("JOD", 3), ("JPY", 0), ("KES", 2), ("KRW", 0), ("KWD", 3), ("MAD", 2),
    ("MXN", 2), ("MYR", 2), ("NGN", 2), ("NOK", 2), ("NZD", 2), ("OMR", 3), ("PEN", 2),
    ("PHP", 2), ("PKR", 2), ("PLN", 2), ("QAR", 2), ("RON", 2), ("SAR", 2), ("SEK", 2),
    ("SGD", 2), ("THB", 2), ("TND", 3), ("TRY", 2), ("TWD", 2), ("UAH", 2), ("USD", 2),
    ("VND", 0), ("ZAR", 2),
];

/// An ISO 4217 currency code (`EUR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency(&'static str);

impl Currency {
    /// Parses a code, in either case.
    ///
    /// # Errors
    /// [`ValueError::Currency`] for a code not in ISO 4217 (or not one we trade in).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let upper = raw.to_ascii_uppercase();
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == upper)
            .map(|(code, _)| Self(code))
            .ok_or_else(|| ValueError::Currency(raw.to_owned()))
    }

    /// The code.
    pub const fn as_str(&self) -> &str {
        self.0
    }

    /// Every currency this system prices in, with its minor-unit exponent (ISO 4217), by code.
    pub fn known() -> impl Iterator<Item = (&'static str, u8)> {
        CURRENCIES.iter().copied()
    }

    /// Digits after the decimal point (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn minor_unit_exponent(&self) -> u8 {
        CURRENCIES
            .iter()
            .find(|(code, _)| *code == self.0)
            .map_or(2, |(_, exp)| *exp)
    }
}

string_value!(Currency);

/// An amount of money: non-negative integer minor units (cents) of one currency. Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawMoney")]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

#[derive(Deserialize)]
struct RawMoney {
    amount_minor: i64,
    currency: Currency,
}

impl TryFrom<RawMoney> for Money {
    type Error = ValueError;
    fn try_from(raw: RawMoney) -> Result<Self, Self::Error> {
        Self::try_new(raw.amount_minor, raw.currency)
    }
}

impl Money {
    /// An amount in minor units.
    ///
    /// # Errors
    /// [`ValueError::Amount`] when negative.
    pub fn try_new(amount_minor: i64, currency: Currency) -> Result<Self, ValueError> {
        if amount_minor < 0 {
            return Err(ValueError::Amount);
        }
        Ok(Self {
            amount_minor,
            currency,
        })
    }

    /// Zero of `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self {
            amount_minor: 0,
            currency,
        }
    }

    /// Minor units (cents).
    pub const fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// `self × n`.
    ///
    /// # Errors
    /// [`ValueError::Amount`] on overflow.
    pub fn times(&self, n: u32) -> Result<Self, ValueError> {
        let amount = self
            .amount_minor
            .checked_mul(i64::from(n))
            .ok_or(ValueError::Amount)?;
        Self::try_new(amount, self.currency)
    }

    /// `self + other`.
    ///
    /// # Errors
    /// [`ValueError::Amount`] across currencies or on overflow.
    pub fn plus(&self, other: Self) -> Result<Self, ValueError> {
        if self.currency != other.currency {
            return Err(ValueError::Amount);
        }
        let amount = self
            .amount_minor
            .checked_add(other.amount_minor)
            .ok_or(ValueError::Amount)?;
        Self::try_new(amount, self.currency)
    }

    /// `self − other`, floored at zero (a fee larger than the fare refunds nothing).
    ///
    /// # Errors
    /// [`ValueError::Amount`] across currencies.
    pub fn saturating_minus(&self, other: Self) -> Result<Self, ValueError> {
        if self.currency != other.currency {
            return Err(ValueError::Amount);
        }
        Ok(Self {
            amount_minor: (self.amount_minor - other.amount_minor).max(0),
            currency: self.currency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur() -> Currency {
        Currency::parse("eur").unwrap()
    }

    #[test]
    fn unknown_currencies_and_negative_amounts_are_rejected() {
        assert!(Currency::parse("XXY").is_err());
        assert!(Currency::parse("EU").is_err());
        assert_eq!(Money::try_new(-1, eur()), Err(ValueError::Amount));
        let json = r#"{"amount_minor":-5,"currency":"EUR"}"#;
        assert!(serde_json::from_str::<Money>(json).is_err());
        let json = r#"{"amount_minor":5,"currency":"ZZZ"}"#;
        assert!(serde_json::from_str::<Money>(json).is_err());
    }

    #[test]
    fn minor_units_follow_the_currency() {
        assert_eq!(Currency::parse("JPY").unwrap().minor_unit_exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().minor_unit_exponent(), 3);
        assert_eq!(eur().minor_unit_exponent(), 2);
    }

    #[test]
    fn arithmetic_refuses_to_mix_currencies() {
        let usd = Currency::parse("USD").unwrap();
        let a = Money::try_new(100, eur()).unwrap();
        let b = Money::try_new(100, usd).unwrap();
        assert_eq!(a.plus(b), Err(ValueError::Amount));
        assert_eq!(a.saturating_minus(b), Err(ValueError::Amount));
        assert_eq!(a.times(3).unwrap().amount_minor(), 300);
        let fee = Money::try_new(150, eur()).unwrap();
        assert_eq!(a.saturating_minus(fee).unwrap().amount_minor(), 0);
    }

    proptest! {
        #[test]
        fn money_round_trips_through_json(amount in 0i64..=i64::MAX) {
            let m = Money::try_new(amount, eur()).unwrap();
            let json = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        }
    }
}
