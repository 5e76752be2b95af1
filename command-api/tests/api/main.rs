//! Integration tests of the command API against a real Postgres: one database per test.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

mod auth;
mod bookings;
mod classes;
mod dropped;
mod flights;
mod helpers;
mod hold_cap;
mod idempotency;
mod journeys;
mod names;
mod overbooking;
mod overload;
mod process;
mod race;
mod reference_data;
mod stripe;
