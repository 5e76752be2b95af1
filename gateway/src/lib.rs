//! The public entry on port 8080: signup and login (argon2id), EdDSA-signed tokens, role changes, rate
//! limits shared through Redis, and a streaming reverse proxy (reads to the query API, writes to the
//! command API, webhooks to the notifier), with the merged OpenAPI document and an offline docs page. No
//! business rules.

pub mod accounts;
pub mod client;
pub mod config;
pub mod keys;
pub mod proxy;
pub mod rate_limit;
pub mod routes;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod throttle;
