use serde::{Deserialize, Serialize};

use super::{AircraftCommand, AircraftError, AircraftEvent, SeatLayout};
use crate::values::{AircraftId, Label};

/// An aircraft type, or nothing before it is registered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aircraft {
    details: Option<AircraftDetails>,
}

/// A registered aircraft type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AircraftDetails {
    /// Id.
    pub id: AircraftId,
    /// Model name.
    pub model: Label,
    /// Seat layout.
    pub layout: SeatLayout,
}

impl Aircraft {
    /// The details, once registered.
    pub fn details(&self) -> Option<&AircraftDetails> {
        self.details.as_ref()
    }

    /// Decides what a command does, without changing state.
    ///
    /// # Errors
    /// [`AircraftError::AlreadyRegistered`].
    pub fn decide(&self, command: AircraftCommand) -> Result<Vec<AircraftEvent>, AircraftError> {
        match command {
            AircraftCommand::Register { .. } if self.details.is_some() => {
                Err(AircraftError::AlreadyRegistered)
            }
            AircraftCommand::Register { id, model, layout } => {
                Ok(vec![AircraftEvent::AircraftRegistered {
                    id,
                    model,
                    layout,
                }])
            }
        }
    }
}

crate::decided::decided_aggregate!(
    Aircraft,
    "aircraft",
    AircraftCommand,
    AircraftEvent,
    AircraftError
);

impl Aircraft {
    /// Applies one event (cqrs-es `apply`): infallible, no validation.
    fn evolve(&mut self, event: AircraftEvent) {
        match event {
            AircraftEvent::AircraftRegistered { id, model, layout } => {
                self.details = Some(AircraftDetails { id, model, layout });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;
    use uuid::Uuid;

    use super::*;
    use crate::aircraft::CabinLayout;
    use crate::values::Cabin;

    type AircraftTestFramework = TestFramework<Aircraft>;

    fn register() -> AircraftCommand {
        let AircraftEvent::AircraftRegistered { id, model, layout } = registered();
        AircraftCommand::Register { id, model, layout }
    }

    fn registered() -> AircraftEvent {
        AircraftEvent::AircraftRegistered {
            id: AircraftId::from_uuid(Uuid::nil()),
            model: Label::parse("Airbus A320").unwrap(),
            layout: SeatLayout::try_new(vec![CabinLayout {
                cabin: Cabin::Economy,
                first_row: 1,
                last_row: 30,
                letters: "ABC DEF".to_owned(),
                exit_rows: vec![12, 13],
            }])
            .unwrap(),
        }
    }

    #[test]
    fn registering_an_aircraft_records_its_layout() {
        AircraftTestFramework::with(())
            .given_no_previous_events()
            .when(register())
            .then_expect_events(vec![registered()]);
    }

    #[test]
    fn registering_twice_is_rejected() {
        AircraftTestFramework::with(())
            .given(vec![registered()])
            .when(register())
            .then_expect_error(AircraftError::AlreadyRegistered);
    }
}
