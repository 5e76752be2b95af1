use serde::{Deserialize, Serialize};

use super::ValueError;

/// A cabin class. Ordered from the front of the aircraft's price list: economy first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cabin {
    /// Economy.
    Economy,
    /// Premium economy.
    PremiumEconomy,
    /// Business.
    Business,
    /// First.
    First,
}

impl Cabin {
    /// Every cabin, in order.
    pub const ALL: [Self; 4] = [
        Self::Economy,
        Self::PremiumEconomy,
        Self::Business,
        Self::First,
    ];

    /// Parses the snake_case name.
    ///
    /// # Errors
    /// [`ValueError::Cabin`] for an unknown name.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == raw)
            .ok_or_else(|| ValueError::Cabin(raw.to_owned()))
    }

    /// The snake_case name used on the wire.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Economy => "economy",
            Self::PremiumEconomy => "premium_economy",
            Self::Business => "business",
            Self::First => "first",
        }
    }
}

impl std::fmt::Display for Cabin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Cabin {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cabin_parses_from_its_wire_name() {
        for cabin in Cabin::ALL {
            assert_eq!(Cabin::parse(cabin.as_str()).unwrap(), cabin);
            let json = serde_json::to_string(&cabin).unwrap();
            assert_eq!(json, format!("\"{}\"", cabin.as_str()));
        }
        assert!(Cabin::parse("Economy").is_err());
        assert!(Cabin::parse("coach").is_err());
    }
}
