use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::ValueError;

/// An airport's minimum connecting time: the least time between landing there and leaving on the next
/// segment of a journey, in whole minutes from [`ConnectionTime::MIN`] to [`ConnectionTime::MAX`]; 60
/// unless an admin says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct ConnectionTime(u16);

impl ConnectionTime {
    /// The shortest connecting time an airport may have, in minutes.
    pub const MIN: u16 = 10;
    /// The longest, in minutes.
    pub const MAX: u16 = 720;

    /// A connecting time of `minutes`.
    ///
    /// # Errors
    /// [`ValueError::ConnectionTime`] outside [`Self::MIN`]..=[`Self::MAX`].
    pub fn try_new(minutes: u16) -> Result<Self, ValueError> {
        if (Self::MIN..=Self::MAX).contains(&minutes) {
            Ok(Self(minutes))
        } else {
            Err(ValueError::ConnectionTime(minutes.into()))
        }
    }

    /// In minutes.
    pub fn minutes(self) -> u16 {
        self.0
    }

    /// As a duration.
    pub fn duration(self) -> Duration {
        Duration::minutes(self.0.into())
    }
}

impl Default for ConnectionTime {
    fn default() -> Self {
        Self(60)
    }
}

impl TryFrom<u16> for ConnectionTime {
    type Error = ValueError;

    fn try_from(minutes: u16) -> Result<Self, ValueError> {
        Self::try_new(minutes)
    }
}

impl From<ConnectionTime> for u16 {
    fn from(c: ConnectionTime) -> Self {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_outside_ten_to_twelve_hours_are_refused() {
        assert_eq!(ConnectionTime::default().minutes(), 60);
        assert_eq!(
            ConnectionTime::try_new(10).unwrap().duration(),
            Duration::minutes(10)
        );
        for bad in [0, 9, 721, u16::MAX] {
            assert!(ConnectionTime::try_new(bad).is_err(), "{bad} was taken");
        }
        assert!(serde_json::from_str::<ConnectionTime>("5").is_err());
        assert_eq!(
            serde_json::from_str::<ConnectionTime>("45")
                .unwrap()
                .minutes(),
            45
        );
    }
}
