//! Plumbing that two or more airline services use: settings loading, telemetry, shutdown, the Postgres
//! pool and migrator, and the event-log reader with subscription checkpoints. No business rules.

pub mod db;
pub mod event_log;
pub mod settings;
pub mod shutdown;
pub mod telemetry;

#[cfg(feature = "test-support")]
pub mod testing;
