//! Airports: reference data, event-sourced so every admin change is audited. Keyed by IATA code.

mod aggregate;
mod commands;
mod error;
mod events;

pub use aggregate::{Airport, AirportDetails};
pub use commands::AirportCommand;
pub use error::AirportError;
pub use events::AirportEvent;
