use serde::{Deserialize, Serialize};

use super::{AirportCommand, AirportError, AirportEvent};
use crate::values::{AirportCode, ConnectionTime, CountryCode, Label, TimeZone};

/// An airport, or nothing before it is registered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Airport {
    details: Option<AirportDetails>,
}

/// A registered airport's details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AirportDetails {
    /// IATA code.
    pub code: AirportCode,
    /// Name.
    pub name: Label,
    /// City.
    pub city: Label,
    /// Country.
    pub country: CountryCode,
    /// Time zone.
    pub time_zone: TimeZone,
    /// Minimum connecting time.
    #[serde(default)]
    pub min_connection_minutes: ConnectionTime,
}

impl Airport {
    /// The details, once registered.
    pub fn details(&self) -> Option<&AirportDetails> {
        self.details.as_ref()
    }

    /// Decides what a command does, without changing state.
    ///
    /// # Errors
    /// [`AirportError::AlreadyRegistered`], [`AirportError::NotRegistered`].
    pub fn decide(&self, command: AirportCommand) -> Result<Vec<AirportEvent>, AirportError> {
        match (command, &self.details) {
            (AirportCommand::Register { .. }, Some(existing)) => {
                Err(AirportError::AlreadyRegistered(existing.code))
            }
            (
                AirportCommand::Register {
                    code,
                    name,
                    city,
                    country,
                    time_zone,
                    min_connection_minutes,
                },
                None,
            ) => Ok(vec![AirportEvent::AirportRegistered {
                code,
                name,
                city,
                country,
                time_zone,
                min_connection_minutes,
            }]),
            (AirportCommand::Update { .. }, None) => Err(AirportError::NotRegistered),
            (
                AirportCommand::Update {
                    name,
                    city,
                    country,
                    time_zone,
                    min_connection_minutes,
                },
                Some(d),
            ) => {
                // Only real changes are recorded, so the audit trail shows what an admin changed.
                let name = name.filter(|n| *n != d.name);
                let city = city.filter(|c| *c != d.city);
                let country = country.filter(|c| *c != d.country);
                let time_zone = time_zone.filter(|t| *t != d.time_zone);
                let min_connection_minutes =
                    min_connection_minutes.filter(|m| *m != d.min_connection_minutes);
                if name.is_none()
                    && city.is_none()
                    && country.is_none()
                    && time_zone.is_none()
                    && min_connection_minutes.is_none()
                {
                    return Ok(vec![]);
                }
                Ok(vec![AirportEvent::AirportUpdated {
                    name,
                    city,
                    country,
                    time_zone,
                    min_connection_minutes,
                }])
            }
        }
    }
}

crate::decided::decided_aggregate!(
    Airport,
    "airport",
    AirportCommand,
    AirportEvent,
    AirportError
);

impl Airport {
    /// Applies one event (cqrs-es `apply`): infallible, no validation.
    fn evolve(&mut self, event: AirportEvent) {
        match event {
            AirportEvent::AirportRegistered {
                code,
                name,
                city,
                country,
                time_zone,
                min_connection_minutes,
            } => {
                self.details = Some(AirportDetails {
                    code,
                    name,
                    city,
                    country,
                    time_zone,
                    min_connection_minutes,
                });
            }
            AirportEvent::AirportUpdated {
                name,
                city,
                country,
                time_zone,
                min_connection_minutes,
            } => {
                if let Some(d) = self.details.as_mut() {
                    d.min_connection_minutes =
                        min_connection_minutes.unwrap_or(d.min_connection_minutes);
                    d.name = name.unwrap_or_else(|| d.name.clone());
                    d.city = city.unwrap_or_else(|| d.city.clone());
                    d.country = country.unwrap_or(d.country);
                    d.time_zone = time_zone.unwrap_or(d.time_zone);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::Aggregate;
    use cqrs_es::test::TestFramework;

    use super::*;

    type AirportTestFramework = TestFramework<Airport>;

    fn registered() -> AirportEvent {
        AirportEvent::AirportRegistered {
            code: AirportCode::parse("CDG").unwrap(),
            name: Label::parse("Charles de Gaulle").unwrap(),
            city: Label::parse("Paris").unwrap(),
            country: CountryCode::parse("FR").unwrap(),
            time_zone: TimeZone::parse("Europe/Paris").unwrap(),
            min_connection_minutes: ConnectionTime::default(),
        }
    }

    fn register() -> AirportCommand {
        AirportCommand::Register {
            code: AirportCode::parse("CDG").unwrap(),
            name: Label::parse("Charles de Gaulle").unwrap(),
            city: Label::parse("Paris").unwrap(),
            country: CountryCode::parse("FR").unwrap(),
            time_zone: TimeZone::parse("Europe/Paris").unwrap(),
            min_connection_minutes: ConnectionTime::default(),
        }
    }

    #[test]
    fn registering_a_new_airport_records_it() {
        AirportTestFramework::with(())
            .given_no_previous_events()
            .when(register())
            .then_expect_events(vec![registered()]);
    }

    #[test]
    fn registering_twice_is_rejected() {
        AirportTestFramework::with(())
            .given(vec![registered()])
            .when(register())
            .then_expect_error(AirportError::AlreadyRegistered(
                AirportCode::parse("CDG").unwrap(),
            ));
    }

    #[test]
    fn updating_records_only_what_changed() {
        AirportTestFramework::with(())
            .given(vec![registered()])
            .when(AirportCommand::Update {
                name: Some(Label::parse("Paris CDG").unwrap()),
                city: Some(Label::parse("Paris").unwrap()),
                country: None,
                time_zone: None,
                min_connection_minutes: None,
            })
            .then_expect_events(vec![AirportEvent::AirportUpdated {
                name: Some(Label::parse("Paris CDG").unwrap()),
                city: None,
                country: None,
                time_zone: None,
                min_connection_minutes: None,
            }]);
    }

    #[test]
    fn an_update_that_changes_nothing_records_nothing() {
        AirportTestFramework::with(())
            .given(vec![registered()])
            .when(AirportCommand::Update {
                name: None,
                city: Some(Label::parse("Paris").unwrap()),
                country: None,
                time_zone: None,
                min_connection_minutes: None,
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn updating_an_unknown_airport_is_rejected() {
        AirportTestFramework::with(())
            .given_no_previous_events()
            .when(AirportCommand::Update {
                name: None,
                city: None,
                country: None,
                time_zone: None,
                min_connection_minutes: None,
            })
            .then_expect_error(AirportError::NotRegistered);
    }

    #[test]
    fn applying_an_update_changes_the_details() {
        let mut airport = Airport::default();
        airport.apply(registered());
        airport.apply(AirportEvent::AirportUpdated {
            name: None,
            city: None,
            country: None,
            time_zone: Some(TimeZone::parse("Europe/London").unwrap()),
            min_connection_minutes: Some(ConnectionTime::try_new(45).unwrap()),
        });
        let d = airport.details().unwrap();
        assert_eq!(d.time_zone.as_str(), "Europe/London");
        assert_eq!(d.name.as_str(), "Charles de Gaulle");
        assert_eq!(d.min_connection_minutes.minutes(), 45);
    }

    #[test]
    fn an_airport_registered_before_connecting_times_has_the_default_hour() {
        // An `AirportRegistered` of event version 1.0, as stored before the field existed.
        let stored = serde_json::json!({"AirportRegistered": {"code": "CDG", "name": "Charles de Gaulle",
            "city": "Paris", "country": "FR", "time_zone": "Europe/Paris"}});
        let event: AirportEvent = serde_json::from_value(stored).unwrap();
        assert_eq!(event, registered());
        let mut airport = Airport::default();
        airport.apply(event);
        assert_eq!(
            airport.details().unwrap().min_connection_minutes.minutes(),
            60
        );
        let updated: AirportEvent =
            serde_json::from_value(serde_json::json!({"AirportUpdated": {"name": "CDG"}})).unwrap();
        assert!(matches!(
            updated,
            AirportEvent::AirportUpdated {
                min_connection_minutes: None,
                ..
            }
        ));
    }
}
