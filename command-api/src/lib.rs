//! The write side over HTTP. DTOs become domain commands at the edge; each user action is one decision
//! over the `Flight`, `Booking`, `Airport` and `Aircraft` aggregates (cqrs-es aggregates loaded with
//! postgres-es), committed with all the events it causes and its side rows in one transaction. Payments
//! go through a provider port with a ledger; a sweeper expires unpaid holds and payment recovery finishes
//! what a crash left. This crate is the only writer of events, and it decides only from aggregates, never
//! from read models.

pub mod clock;
pub mod config;
pub mod error;
pub mod executor;
pub mod idempotency;
pub mod outcome;
pub mod payments;
pub mod process;
pub mod routes;
pub mod startup;
pub mod state;
