//! The airline's domain: aggregates (`Flight`, `Booking`, and the reference data `Airport` and `Aircraft`),
//! their commands, events and errors, and the value types every edge parses input into.
//!
//! Pure by rule: no IO, no clock reads (time comes in each command), no database, HTTP or broker types.
#![warn(missing_docs)]

pub mod aircraft;
pub mod airport;
pub mod booking;
mod decided;
pub mod flight;
pub mod journey;
pub mod values;

#[cfg(test)]
mod fixtures;

pub use values::*;
