use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::SeatLayout;
use crate::values::{AircraftId, Label};

/// What happened to an aircraft type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AircraftEvent {
    /// An aircraft type was added.
    AircraftRegistered {
        /// Id.
        id: AircraftId,
        /// Model name.
        model: Label,
        /// Seat layout.
        layout: SeatLayout,
    },
}

impl DomainEvent for AircraftEvent {
    fn event_type(&self) -> String {
        match self {
            Self::AircraftRegistered { .. } => "AircraftRegistered".to_owned(),
        }
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
