//! The query API's settings.

use infra::settings::{DatabaseSettings, HttpSettings, RedisSettings};
use serde::Deserialize;

/// Everything the query API needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Postgres (a read replica works).
    pub database: DatabaseSettings,
    /// Where to listen.
    pub http: HttpSettings,
    /// The cache.
    pub redis: RedisSettings,
    /// Token verification.
    pub auth: AuthSettings,
    /// Cache lifetimes.
    pub cache: CacheSettings,
    /// The event feed.
    #[serde(default)]
    pub feed: crate::feed::FeedSettings,
}

/// How bearer tokens are checked (shared by every API).
pub use infra::settings::TokenSettings as AuthSettings;

/// Cache lifetimes (entries are keyed by the generation or version they hold, so these only bound memory).
#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    /// Search results.
    pub search_ttl_secs: u64,
    /// Seat maps.
    pub seat_map_ttl_secs: u64,
}

impl Settings {
    /// Loads the settings.
    ///
    /// # Errors
    /// When a variable does not parse.
    pub fn load() -> Result<Self, config::ConfigError> {
        infra::settings::load(&[
            ("http.host", "127.0.0.1"),
            ("http.port", "8082"),
            ("http.request_timeout_ms", "10000"),
            ("http.body_limit_bytes", "4096"),
            ("redis.url", "redis://127.0.0.1:6379"),
            ("redis.key_prefix", "airline:"),
            ("redis.timeout_ms", "100"),
            ("auth.issuer", "airline-gateway"),
            ("auth.audience", "airline-api"),
            ("auth.public_key_file", ".local/jwt-public.pem"),
            ("cache.search_ttl_secs", "60"),
            ("cache.seat_map_ttl_secs", "300"),
        ])
    }
}
