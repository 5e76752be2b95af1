use super::SeatLayout;
use crate::values::{AircraftId, Label};

/// What an admin can do to an aircraft type.
#[derive(Debug, Clone, PartialEq)]
pub enum AircraftCommand {
    /// Add an aircraft type.
    Register {
        /// Its id; also the aggregate id.
        id: AircraftId,
        /// Model name (`Airbus A320neo`).
        model: Label,
        /// Seat layout.
        layout: SeatLayout,
    },
}
