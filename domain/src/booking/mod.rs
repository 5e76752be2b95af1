//! A booking: who travels on which flights (one to four segments, one way or return), in which seats, at what price, and whether it is held,
//! paid, cancelled or expired. Refunds follow the fare rules.

mod aggregate;
mod commands;
mod error;
mod events;
mod refund;
mod segment;

#[cfg(test)]
mod journey_tests;
#[cfg(test)]
mod tests;

pub use aggregate::{Booking, BookingState, BookingStatus, MAX_NAME_EDITS, OffloadMoney};
pub use commands::{
    BookingCommand, CancelledBy, ConnectionRule, Payment, PlaceBooking, SegmentSeats,
};
pub use error::BookingError;
pub use events::{AssignedSeat, BookingEvent};
pub use refund::refund_for;
pub use segment::{BookedSegment, Placement, SegmentSummary};
