//! The write side over HTTP. DTOs become domain commands at the edge; commands go to the `Flight`,
//! `Booking`, `Airport` and `Aircraft` aggregates through cqrs-es + postgres-es; the booking process
//! spans Flight and Booking with idempotent steps; a sweeper expires unpaid holds; a disruption worker
//! carries flight delays and cancellations to bookings. This crate is the only writer of events, and it
//! decides only from aggregates, never from read models.

pub mod clock;
pub mod config;
pub mod error;
pub mod executor;
pub mod idempotency;
pub mod payments;
pub mod process;
pub mod routes;
pub mod startup;
pub mod state;
