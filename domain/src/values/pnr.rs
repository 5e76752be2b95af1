use super::{ValueError, string_value};

/// A passenger name record locator: six characters from an alphabet without the look-alikes
/// `0 O 1 I L` (`K7PX2M`). Made by the command side from random bytes; parsed from user input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pnr([u8; 6]);

impl Pnr {
    /// The 31 characters a PNR is made of.
    pub const ALPHABET: &'static str = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

    /// Parses a reference, in either case.
    ///
    /// # Errors
    /// [`ValueError::Pnr`] unless it is six characters of [`Pnr::ALPHABET`].
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let upper = raw.to_ascii_uppercase();
        let ok = upper.len() == 6
            && upper
                .bytes()
                .all(|b| Self::ALPHABET.as_bytes().contains(&b));
        match <[u8; 6]>::try_from(upper.as_bytes()) {
            Ok(bytes) if ok => Ok(Self(bytes)),
            _ => Err(ValueError::Pnr {
                alphabet: Self::ALPHABET,
                got: raw.to_owned(),
            }),
        }
    }

    /// Maps six random bytes onto the alphabet (the caller owns the randomness).
    pub fn from_random_bytes(bytes: [u8; 6]) -> Self {
        let alphabet = Self::ALPHABET.as_bytes();
        Self(bytes.map(|b| alphabet[usize::from(b) % alphabet.len()]))
    }

    /// The reference, upper-case.
    pub fn as_str(&self) -> &str {
        // Only alphabet bytes (ASCII) are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??????")
    }
}

string_value!(Pnr);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ambiguous_characters_are_rejected() {
        for bad in [
            "ABCDE0", "ABCDEO", "ABCDE1", "ABCDEI", "ABCDEL", "ABCDE", "ABCDEFG", "ABC-EF",
        ] {
            assert!(Pnr::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(Pnr::parse("k7px2m").unwrap().as_str(), "K7PX2M");
    }

    proptest! {
        #[test]
        fn random_bytes_always_make_a_valid_pnr(bytes in any::<[u8; 6]>()) {
            let pnr = Pnr::from_random_bytes(bytes);
            prop_assert_eq!(Pnr::parse(pnr.as_str()).unwrap(), pnr);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,8}") {
            let _ = Pnr::parse(&s);
        }
    }
}
