//! A booking: who travels on which flight, in which seats, at what price, and whether it is held,
//! paid, cancelled or expired. Refunds follow the fare rules.

mod aggregate;
mod commands;
mod error;
mod events;
mod refund;

#[cfg(test)]
mod tests;

pub use aggregate::{Booking, BookingState, BookingStatus};
pub use commands::{BookingCommand, CancelledBy, Payment, PlaceBooking};
pub use error::BookingError;
pub use events::BookingEvent;
pub use refund::refund_for;
