//! Value types: each one is valid by construction (`parse`/`try_new` reject bad input with a typed
//! [`ValueError`]), and deserializing goes through the same checks.

mod airport_code;
mod cabin;
mod connection;
mod email;
mod error;
mod flight_number;
mod ids;
mod money;
mod passenger;
mod pnr;
mod seat;
mod text;

pub use airport_code::AirportCode;
pub use cabin::Cabin;
pub use connection::ConnectionTime;
pub use email::EmailAddress;
pub use error::ValueError;
pub use flight_number::FlightNumber;
pub use ids::{AircraftId, BookingId, FlightId, UserId};
pub use money::{Currency, Money};
pub use passenger::{
    MAX_SEATED, Passenger, PassengerName, PassengerType, Passengers, SeatOccupant, edit_distance,
};
pub use pnr::Pnr;
pub use seat::SeatNumber;
pub use text::{CountryCode, Label, TimeZone};

/// Implements `Display`, `FromStr`, and string-based serde for a value type with
/// `parse(&str) -> Result<Self, ValueError>` and `as_str(&self) -> &str`.
macro_rules! string_value {
    ($ty:ty) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $ty {
            type Err = $crate::values::ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_value;
