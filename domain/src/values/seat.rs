use std::fmt;

use super::ValueError;

/// Seat letters in use on airliners; `I` is skipped because it reads as `1`.
const SEAT_LETTERS: &str = "ABCDEFGHJK";

/// A seat: a row 1–99 and a letter (`12A`). Ordered by row, then letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeatNumber {
    row: u8,
    letter: u8,
}

impl SeatNumber {
    /// Builds a seat from a row and a letter.
    ///
    /// # Errors
    /// [`ValueError::SeatNumber`] when the row is outside 1–99 or the letter is not a seat letter.
    pub fn try_new(row: u8, letter: char) -> Result<Self, ValueError> {
        let letter = letter.to_ascii_uppercase();
        if (1..=99).contains(&row) && SEAT_LETTERS.contains(letter) {
            Ok(Self {
                row,
                letter: letter as u8,
            })
        } else {
            Err(ValueError::SeatNumber(format!("{row}{letter}")))
        }
    }

    /// Parses `12A` (either case).
    ///
    /// # Errors
    /// [`ValueError::SeatNumber`] for anything else, including leading zeros.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let fail = || ValueError::SeatNumber(raw.to_owned());
        let mut chars = raw.chars();
        let letter = chars.next_back().ok_or_else(fail)?;
        let digits = chars.as_str();
        if digits.is_empty()
            || digits.len() > 2
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(fail());
        }
        let row = digits.parse::<u8>().map_err(|_| fail())?;
        Self::try_new(row, letter).map_err(|_| fail())
    }

    /// The row number.
    pub const fn row(&self) -> u8 {
        self.row
    }

    /// The seat letter, upper-case.
    pub const fn letter(&self) -> char {
        self.letter as char
    }

    /// Whether `letter` is a seat letter at all.
    pub fn is_seat_letter(letter: char) -> bool {
        SEAT_LETTERS.contains(letter)
    }

    fn as_str(&self) -> String {
        format!("{}{}", self.row, self.letter())
    }
}

impl fmt::Display for SeatNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.row, self.letter())
    }
}

impl std::str::FromStr for SeatNumber {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for SeatNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SeatNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seats_parse_and_print() {
        let seat = SeatNumber::parse("12a").unwrap();
        assert_eq!((seat.row(), seat.letter()), (12, 'A'));
        assert_eq!(seat.to_string(), "12A");
    }

    #[test]
    fn malformed_seats_are_rejected() {
        for bad in [
            "", "A", "12", "0A", "012A", "100A", "12I", "12L", "12AB", "-1A", "1 A", "٣A",
        ] {
            assert!(SeatNumber::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn seats_order_by_row_then_letter() {
        let a = SeatNumber::parse("9K").unwrap();
        let b = SeatNumber::parse("10A").unwrap();
        assert!(a < b);
    }

    proptest! {
        #[test]
        fn valid_seats_round_trip(row in 1u8..=99, idx in 0usize..10) {
            let letter = SEAT_LETTERS.as_bytes()[idx] as char;
            let seat = SeatNumber::try_new(row, letter).unwrap();
            prop_assert_eq!(SeatNumber::parse(&seat.to_string()).unwrap(), seat);
            let json = serde_json::to_string(&seat).unwrap();
            prop_assert_eq!(serde_json::from_str::<SeatNumber>(&json).unwrap(), seat);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,5}") {
            let _ = SeatNumber::parse(&s);
        }
    }
}
