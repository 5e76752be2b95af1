use std::str::FromStr;

use super::{ValueError, string_value};

/// A short human label (airport name, city, aircraft model, delay reason): trimmed, 1–100 characters,
/// no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Label(String);

impl Label {
    /// The longest label.
    pub const MAX: usize = 100;

    /// Parses a label.
    ///
    /// # Errors
    /// [`ValueError::Label`] when empty, too long, or holding control characters.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        if (1..=Self::MAX).contains(&len) && !trimmed.chars().any(char::is_control) {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(ValueError::Label {
                max: Self::MAX,
                got: raw.chars().take(Self::MAX + 10).collect(),
            })
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_value!(Label);

/// An ISO 3166-1 alpha-2 country code, upper-case (`FR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses two ASCII letters, in either case.
    ///
    /// # Errors
    /// [`ValueError::CountryCode`] for anything else.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        match raw.as_bytes() {
            &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Ok(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => Err(ValueError::CountryCode(raw.to_owned())),
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

string_value!(CountryCode);

/// An IANA time zone (`Europe/Paris`), checked against the tz database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    /// Parses an IANA name.
    ///
    /// # Errors
    /// [`ValueError::TimeZone`] for a name the tz database does not know.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        chrono_tz::Tz::from_str(raw)
            .map(Self)
            .map_err(|_| ValueError::TimeZone(raw.to_owned()))
    }

    /// The IANA name.
    pub fn as_str(&self) -> &str {
        self.0.name()
    }

    /// The zone, for converting UTC instants to local times.
    pub const fn tz(&self) -> chrono_tz::Tz {
        self.0
    }
}

string_value!(TimeZone);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(
            Label::parse("  Charles de Gaulle ").unwrap().as_str(),
            "Charles de Gaulle"
        );
        assert!(Label::parse("").is_err());
        assert!(Label::parse("a\u{0}b").is_err());
        assert!(Label::parse(&"x".repeat(101)).is_err());
        assert!(Label::parse(&"é".repeat(100)).is_ok());
    }

    #[test]
    fn countries_and_time_zones_are_checked() {
        assert_eq!(CountryCode::parse("fr").unwrap().as_str(), "FR");
        assert!(CountryCode::parse("FRA").is_err());
        assert_eq!(
            TimeZone::parse("Europe/Paris").unwrap().as_str(),
            "Europe/Paris"
        );
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert!(TimeZone::parse("").is_err());
    }
}
