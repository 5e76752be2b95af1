//! The projector's settings.

use std::time::Duration;

use infra::amqp::AmqpSettings;
use infra::settings::{DatabaseSettings, HttpSettings, ServiceSettings};
use secrecy::ExposeSecret;
use serde::Deserialize;

/// Everything the projector needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Postgres.
    pub database: DatabaseSettings,
    /// Health and metrics.
    pub http: HttpSettings,
    /// Batching and polling.
    pub projector: ProjectorSettings,
    /// Where the relay publishes.
    pub amqp: AmqpSettings,
}

/// Batching and polling.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectorSettings {
    /// Events per projection transaction (small: a batch is what a reader waits for).
    pub batch_size: i64,
    /// Events the relay publishes per batch before the checkpoint moves.
    #[serde(default = "default_relay_batch_size")]
    pub relay_batch_size: i64,
    /// Events per transaction of a rebuild (`airline replay`), which nobody reads until the swap.
    #[serde(default = "default_rebuild_batch_size")]
    pub rebuild_batch_size: i64,
    /// Polling when no notification arrives.
    pub poll_interval_ms: u64,
    /// A worker with no finished step for this long is stuck (not ready).
    #[serde(default = "default_stuck_after_ms")]
    pub stuck_after_ms: u64,
}

const fn default_stuck_after_ms() -> u64 {
    30_000
}

/// The relay's default batch.
pub const RELAY_BATCH_SIZE: i64 = 2_000;

/// A rebuild's default batch.
pub const REBUILD_BATCH_SIZE: i64 = 20_000;

const fn default_relay_batch_size() -> i64 {
    RELAY_BATCH_SIZE
}

const fn default_rebuild_batch_size() -> i64 {
    REBUILD_BATCH_SIZE
}

impl ProjectorSettings {
    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// [`ProjectorSettings::stuck_after_ms`].
    pub fn stuck_after(&self) -> Duration {
        Duration::from_millis(self.stuck_after_ms)
    }
}

impl ServiceSettings for Settings {
    fn load() -> Result<Self, config::ConfigError> {
        infra::settings::load(&[
            ("http.host", "127.0.0.1"),
            ("http.port", "8083"),
            ("http.request_timeout_ms", "5000"),
            ("http.body_limit_bytes", "4096"),
            ("projector.batch_size", "500"),
            ("projector.poll_interval_ms", "500"),
            ("amqp.url", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            ("amqp.exchange", "airline.events"),
            ("amqp.queue_prefix", "notifier"),
        ])
    }

    fn database(&self) -> &DatabaseSettings {
        &self.database
    }

    fn urls(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("DATABASE_URL", self.database.url.expose_secret()),
            ("AMQP_URL", &self.amqp.url),
        ]
    }
}
