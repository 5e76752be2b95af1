//! A journey: the flights one booking travels on, in slices (one for a one-way trip, two for a return),
//! each slice a chain of connecting segments. Pure rules over the flights' schedules and the connecting
//! airports' minimum connecting times; the `Booking` holds an itinerary these rules accepted.

mod error;
mod itinerary;

#[cfg(test)]
mod proptests;

pub use error::JourneyError;
pub use itinerary::{Itinerary, MAX_CONNECTION, MAX_SEGMENTS, Segment};
