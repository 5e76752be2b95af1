//! The booking process across the `Flight` and `Booking` aggregates.
//!
//! Every user action changes both aggregates in one commit (book, pay, cancel, change seat; expiry and
//! disruption too), so there is no half-done state to heal. What is left to background work is time and
//! money: the expiry sweeper lapses unpaid holds, and payment recovery captures, voids or refunds what a
//! crash left in the payments ledger.

pub mod booking;
pub mod close;
pub mod disruption;
pub mod expiry;
pub mod payment;
pub mod recovery;

pub use infra::event_log::Outcome;
