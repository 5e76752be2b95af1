use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::values::{AirportCode, ConnectionTime, CountryCode, Label, TimeZone};

/// What happened to an airport. Version 1.1 added the minimum connecting time; a 1.0 event (without
/// it) is read as the default, 60 minutes, and is never rewritten.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AirportEvent {
    /// An airport was added.
    AirportRegistered {
        /// IATA code.
        code: AirportCode,
        /// Name.
        name: Label,
        /// City.
        city: Label,
        /// Country.
        country: CountryCode,
        /// Time zone.
        time_zone: TimeZone,
        /// Minimum connecting time (since 1.1; 60 minutes before).
        #[serde(default)]
        min_connection_minutes: ConnectionTime,
    },
    /// Some details changed; absent fields did not.
    AirportUpdated {
        /// New name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<Label>,
        /// New city.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        city: Option<Label>,
        /// New country.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        country: Option<CountryCode>,
        /// New time zone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_zone: Option<TimeZone>,
        /// New minimum connecting time (since 1.1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_connection_minutes: Option<ConnectionTime>,
    },
}

impl DomainEvent for AirportEvent {
    fn event_type(&self) -> String {
        match self {
            Self::AirportRegistered { .. } => "AirportRegistered",
            Self::AirportUpdated { .. } => "AirportUpdated",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.1".to_owned()
    }
}
