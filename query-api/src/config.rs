//! The query API's settings.

use infra::settings::{
    DatabaseSettings, HttpSettings, RedisSettings, ServiceSettings, TokenSettings,
};
use secrecy::ExposeSecret;
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
    pub feed: FeedSettings,
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

/// How streams read and wait.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct FeedSettings {
    /// Events read per query.
    pub batch_size: i64,
    /// Events a stream holds for a client that is behind (then it waits for the client).
    pub buffer_events: usize,
    /// A comment line this often keeps idle connections (and the proxies on the way) open.
    pub heartbeat_secs: u64,
    /// How often a stream looks for new events when no notification woke it.
    pub poll_ms: u64,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            batch_size: 256,
            buffer_events: 256,
            heartbeat_secs: 15,
            poll_ms: 1000,
        }
    }
}

impl ServiceSettings for Settings {
    fn load() -> Result<Self, config::ConfigError> {
        infra::settings::load(&[
            ("http.host", "127.0.0.1"),
            ("http.port", "8082"),
            ("http.request_timeout_ms", "10000"),
            ("http.body_limit_bytes", "4096"),
            ("redis.url", "redis://127.0.0.1:6379"),
            ("redis.key_prefix", "airline:"),
            ("redis.timeout_ms", "100"),
            ("auth.issuer", "airline-gateway"),
            ("auth.audience", infra::auth::INTERNAL_AUDIENCE),
            ("auth.public_key_file", ".local/jwt-public.pem"),
            ("cache.search_ttl_secs", "60"),
            ("cache.seat_map_ttl_secs", "300"),
        ])
    }

    fn database(&self) -> &DatabaseSettings {
        &self.database
    }

    fn urls(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("DATABASE_URL", self.database.url.expose_secret()),
            ("REDIS_URL", &self.redis.url),
        ]
    }

    fn tokens(&self) -> Option<&TokenSettings> {
        Some(&self.auth)
    }
}
