//! The booking process across the `Flight` and `Booking` aggregates.
//!
//! Requests run the steps inline (book: hold then place; pay: confirm seats then booking; cancel: booking
//! then release; seat change: flight then booking). Every step is idempotent by booking id, and two
//! workers heal a crash between steps: the expiry sweeper (a hold whose booking never came, or was never
//! paid, lapses) and the reactor, which follows the event log (a cancelled or expired booking releases its
//! seats; a delayed or cancelled flight reaches each of its bookings).

pub mod booking;
pub mod expiry;
pub mod reactor;

pub use infra::event_log::Outcome;
