//! Plumbing that two or more airline services use: settings loading, telemetry, shutdown, the Postgres
//! pool and migrator, the event-log reader with subscription checkpoints, the HTTP stack (request ids,
//! problem+json, JSON bodies, health, metrics) and bearer-token verification. No business rules.

pub mod amqp;
pub mod auth;
pub mod backoff;
pub mod cache;
pub mod coalesce;
pub mod db;
pub mod event_log;
pub mod http;
pub mod io;
pub mod metrics;
pub mod problem;
pub mod production;
pub mod serve;
pub mod settings;
pub mod shutdown;
pub mod startup;
pub mod supervisor;
pub mod telemetry;
pub mod time;
pub mod tls;
pub mod topic;

#[cfg(feature = "test-support")]
pub mod testing;
