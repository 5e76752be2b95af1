//! Integration tests of the relay and the notifier against real RabbitMQ and Postgres, with an SMTP sink
//! and webhook receivers started on loopback.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

mod delivery;
mod destinations;
mod helpers;
mod journeys;
mod relay;
