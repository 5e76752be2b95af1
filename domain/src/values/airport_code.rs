use super::{ValueError, string_value};

/// A three-letter IATA airport code, stored upper-case (`CDG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AirportCode([u8; 3]);

impl AirportCode {
    /// Parses three ASCII letters, in either case.
    ///
    /// # Errors
    /// [`ValueError::AirportCode`] for anything else.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        match raw.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_alphabetic) => Ok(Self([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ])),
            _ => Err(ValueError::AirportCode(raw.to_owned())),
        }
    }

    /// The code, upper-case.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

string_value!(AirportCode);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lower_case_codes_are_normalised() {
        assert_eq!(AirportCode::parse("cdg").unwrap().as_str(), "CDG");
    }

    #[test]
    fn codes_of_the_wrong_length_or_with_digits_are_rejected() {
        for bad in ["", "CD", "CDGX", "C1G", "ÉCD", "CD "] {
            assert!(AirportCode::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn any_three_letters_round_trip(s in "[A-Za-z]{3}") {
            let code = AirportCode::parse(&s).unwrap();
            prop_assert_eq!(code.as_str(), s.to_ascii_uppercase());
            prop_assert_eq!(AirportCode::parse(code.as_str()).unwrap(), code);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,6}") {
            let _ = AirportCode::parse(&s);
        }
    }
}
