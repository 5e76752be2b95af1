//! Aircraft types: a model and its seat layout, from which every seat's characteristics are derived.
//! Reference data, event-sourced so admin changes are audited. Flights copy the seat map when scheduled.

mod aggregate;
mod commands;
mod error;
mod events;
mod layout;

pub use aggregate::{Aircraft, AircraftDetails};
pub use commands::AircraftCommand;
pub use error::AircraftError;
pub use events::AircraftEvent;
pub use layout::{CabinLayout, SeatCharacteristic, SeatLayout, SeatSpec};
