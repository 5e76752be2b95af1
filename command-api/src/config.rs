//! The command API's settings: defaults, then `APP_*` variables, then `DATABASE_URL`.

use std::time::Duration;

use infra::settings::{DatabaseSettings, HttpSettings};
use serde::Deserialize;

/// Everything the command API needs to start.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Postgres.
    pub database: DatabaseSettings,
    /// Where to listen.
    pub http: HttpSettings,
    /// Token verification.
    pub auth: AuthSettings,
    /// Booking process knobs.
    pub booking: BookingSettings,
}

/// How bearer tokens are checked (shared by every API).
pub use infra::settings::TokenSettings as AuthSettings;

/// The booking process.
#[derive(Debug, Clone, Deserialize)]
pub struct BookingSettings {
    /// How long seats stay held unpaid.
    pub hold_minutes: i64,
    /// How often the sweeper looks for lapsed holds.
    pub sweep_interval_ms: u64,
    /// How often the disruption worker polls when no notification arrives.
    pub poll_interval_ms: u64,
    /// Attempts for a command that meets a concurrent writer of the same aggregate.
    pub max_attempts: u32,
}

impl BookingSettings {
    /// The hold length.
    pub fn hold(&self) -> chrono::Duration {
        chrono::Duration::minutes(self.hold_minutes)
    }

    /// The sweep interval.
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_millis(self.sweep_interval_ms)
    }

    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
}

impl Settings {
    /// Loads the settings.
    ///
    /// # Errors
    /// When a variable does not parse.
    pub fn load() -> Result<Self, config::ConfigError> {
        infra::settings::load(&[
            ("http.host", "127.0.0.1"),
            ("http.port", "8081"),
            ("http.request_timeout_ms", "10000"),
            ("http.body_limit_bytes", "65536"),
            ("auth.issuer", "airline-gateway"),
            ("auth.audience", "airline-api"),
            ("auth.public_key_file", ".local/jwt-public.pem"),
            ("booking.hold_minutes", "15"),
            ("booking.sweep_interval_ms", "1000"),
            ("booking.poll_interval_ms", "500"),
            ("booking.max_attempts", "8"),
        ])
    }
}
