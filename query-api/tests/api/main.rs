//! Integration tests of the projector and the query API against real Postgres and Redis.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

mod bookings;
mod cache;
mod classes;
mod feed;
mod flights;
mod helpers;
mod journey_bookings;
mod journeys;
mod old_log;
mod projector;
mod replica;
mod search;
