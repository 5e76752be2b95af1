//! A scheduled flight: its schedule, fares and seat inventory. The consistency boundary for its seats:
//! a seat is held or sold by at most one booking, decided only from this aggregate's own events.

mod aggregate;
mod capacity;
mod close;
mod commands;
mod error;
mod events;
mod fare;
mod inventory;
mod schedule;

#[cfg(test)]
mod class_tests;
#[cfg(test)]
mod close_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use aggregate::{
    ClassAvailability, Flight, FlightState, FlightStatus, Hold, SeatCounts, SeatStatus,
};
pub use capacity::Overbooking;
pub use close::{Assignment, ClosePlan, Offload, Party, plan_close};
pub use commands::{FlightCommand, ScheduleFlight};
pub use error::FlightError;
pub use events::FlightEvent;
pub use fare::{ClassCode, Fare, FareRules, nested_availability};
