use super::{ValueError, string_value};

/// A flight number: a two-character IATA airline designator (letters or digits, at least one letter),
/// 1–4 digits, and an optional operational suffix letter (`AF1234`, `U2123`, `BA9A`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlightNumber(String);

impl FlightNumber {
    /// Parses a flight number, in either case.
    ///
    /// # Errors
    /// [`ValueError::FlightNumber`] when it does not have the shape above.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let upper = raw.to_ascii_uppercase();
        let bytes = upper.as_bytes();
        let fail = || ValueError::FlightNumber(raw.to_owned());
        if bytes.len() < 3 || !bytes.is_ascii() {
            return Err(fail());
        }
        let (airline, rest) = bytes.split_at(2);
        let airline_ok = airline.iter().all(u8::is_ascii_alphanumeric)
            && airline.iter().any(u8::is_ascii_alphabetic);
        let (digits, suffix) = match rest.last() {
            Some(last) if last.is_ascii_alphabetic() => rest.split_at(rest.len() - 1),
            _ => (rest, &[][..]),
        };
        let digits_ok = (1..=4).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit);
        if airline_ok && digits_ok && suffix.len() <= 1 {
            Ok(Self(upper))
        } else {
            Err(fail())
        }
    }

    /// The flight number, upper-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_value!(FlightNumber);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_flight_numbers_are_accepted() {
        for good in ["AF1234", "u2123", "BA9A", "9W7", "LH400"] {
            assert!(FlightNumber::parse(good).is_ok(), "{good:?} was rejected");
        }
        assert_eq!(FlightNumber::parse("af12").unwrap().as_str(), "AF12");
    }

    #[test]
    fn malformed_flight_numbers_are_rejected() {
        for bad in [
            "", "AF", "AF12345", "99123", "AF12AB", "A-123", "AF 12", "ÅF12",
        ] {
            assert!(FlightNumber::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn well_formed_numbers_round_trip(s in "[A-Z][A-Z0-9][0-9]{1,4}[A-Z]?") {
            let n = FlightNumber::parse(&s).unwrap();
            prop_assert_eq!(n.as_str(), s.as_str());
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,10}") {
            let _ = FlightNumber::parse(&s);
        }
    }
}
