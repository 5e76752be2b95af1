//! Integration tests of the gateway against real Postgres and Redis, with upstreams started here.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

mod accounts;
mod console;
mod feed;
mod helpers;
mod inputs;
mod internal;
mod paths;
mod proxy;
mod rate_limits;
mod revocation;
mod through;
