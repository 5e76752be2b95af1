use crate::values::{AirportCode, ConnectionTime, CountryCode, Label, TimeZone};

/// What an admin can do to an airport.
#[derive(Debug, Clone, PartialEq)]
pub enum AirportCommand {
    /// Add an airport.
    Register {
        /// IATA code; also the aggregate id.
        code: AirportCode,
        /// Airport name.
        name: Label,
        /// City served.
        city: Label,
        /// Country.
        country: CountryCode,
        /// Local time zone.
        time_zone: TimeZone,
        /// Minimum connecting time.
        min_connection_minutes: ConnectionTime,
    },
    /// Change some details; fields left `None` stay as they are.
    Update {
        /// New name.
        name: Option<Label>,
        /// New city.
        city: Option<Label>,
        /// New country.
        country: Option<CountryCode>,
        /// New time zone.
        time_zone: Option<TimeZone>,
        /// New minimum connecting time.
        min_connection_minutes: Option<ConnectionTime>,
    },
}
