use serde::{Deserialize, Serialize};

use super::{AirportCommand, AirportError, AirportEvent};
use crate::values::{AirportCode, CountryCode, Label, TimeZone};

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
                },
                None,
            ) => Ok(vec![AirportEvent::AirportRegistered {
                code,
                name,
                city,
                country,
                time_zone,
            }]),
            (AirportCommand::Update { .. }, None) => Err(AirportError::NotRegistered),
            (
                AirportCommand::Update {
                    name,
                    city,
                    country,
                    time_zone,
                },
                Some(d),
            ) => {
                // Only real changes are recorded, so the audit trail shows what an admin changed.
                let name = name.filter(|n| *n != d.name);
                let city = city.filter(|c| *c != d.city);
                let country = country.filter(|c| *c != d.country);
                let time_zone = time_zone.filter(|t| *t != d.time_zone);
                if name.is_none() && city.is_none() && country.is_none() && time_zone.is_none() {
                    return Ok(vec![]);
                }
                Ok(vec![AirportEvent::AirportUpdated {
                    name,
                    city,
                    country,
                    time_zone,
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
            } => {
                self.details = Some(AirportDetails {
                    code,
                    name,
                    city,
                    country,
                    time_zone,
                });
            }
            AirportEvent::AirportUpdated {
                name,
                city,
                country,
                time_zone,
            } => {
                if let Some(d) = self.details.as_mut() {
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
        }
    }

    fn register() -> AirportCommand {
        AirportCommand::Register {
            code: AirportCode::parse("CDG").unwrap(),
            name: Label::parse("Charles de Gaulle").unwrap(),
            city: Label::parse("Paris").unwrap(),
            country: CountryCode::parse("FR").unwrap(),
            time_zone: TimeZone::parse("Europe/Paris").unwrap(),
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
            })
            .then_expect_events(vec![AirportEvent::AirportUpdated {
                name: Some(Label::parse("Paris CDG").unwrap()),
                city: None,
                country: None,
                time_zone: None,
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
        });
        let d = airport.details().unwrap();
        assert_eq!(d.time_zone.as_str(), "Europe/London");
        assert_eq!(d.name.as_str(), "Charles de Gaulle");
    }
}
