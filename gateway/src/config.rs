//! The gateway's settings.

use std::path::PathBuf;
use std::time::Duration;

use infra::settings::{DatabaseSettings, HttpSettings, RedisSettings, ServiceSettings};
use secrecy::ExposeSecret;
use secrecy::SecretString;
use serde::Deserialize;

/// Everything the gateway needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `development` (default) or `production`.
    pub environment: String,
    /// Postgres (accounts).
    pub database: DatabaseSettings,
    /// Where to listen.
    pub http: HttpSettings,
    /// Rate-limit counters.
    pub redis: RedisSettings,
    /// Token signing.
    pub auth: AuthSettings,
    /// Where requests go.
    pub upstreams: UpstreamSettings,
    /// Limits per policy.
    pub rate_limits: RateLimitSettings,
    /// Lets a scraper read `/metrics` from off this host with `Authorization: Bearer <token>`; without
    /// it only loopback clients can.
    #[serde(default)]
    pub metrics_token: Option<secrecy::SecretString>,
    /// Growing delays after failed sign-ins.
    pub login_throttle: crate::throttle::LoginThrottleSettings,
    /// Allowed browser origins, comma-separated; empty for none, `*` for any.
    pub cors_origins: String,
}

/// Token signing.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// The Ed25519 private key (PKCS#8 PEM), inline. Required in production (or `private_key_file`).
    #[serde(default)]
    pub private_key_pem: Option<SecretString>,
    /// Or a file holding it.
    #[serde(default)]
    pub private_key_file: Option<String>,
    /// Where a development key pair is generated on first start (outside the repository).
    pub dev_key_dir: String,
    /// `iss`.
    pub issuer: String,
    /// `aud` of the tokens it gives clients (and takes from them).
    pub audience: String,
    /// `aud` of the tokens it forwards to the services behind it, signed per request after the session
    /// check; they accept no other, so a client's own token is refused there.
    pub internal_audience: String,
    /// Access token lifetime.
    pub token_ttl_secs: u64,
    /// Session lifetime: how long refresh tokens can keep a sign-in going.
    pub refresh_ttl_secs: u64,
}

impl AuthSettings {
    /// The development key directory.
    pub fn dev_key_dir(&self) -> PathBuf {
        PathBuf::from(&self.dev_key_dir)
    }
}

/// The services behind the gateway. The command and query APIs may each be several instances: a
/// comma-separated list of base URLs, taken in turn.
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamSettings {
    /// Writes (one base URL or several, comma-separated).
    pub command_api: String,
    /// Reads (one base URL or several, comma-separated).
    pub query_api: String,
    /// Webhook subscriptions.
    pub notifier: String,
    /// The projector (asked for readiness only; none routes there). Empty: not asked.
    #[serde(default)]
    pub projector: String,
    /// Longest an upstream may take before a 504.
    pub timeout_ms: u64,
    /// Longest the command API may take to answer a write once it has it (its queued decision is
    /// answered by its outcome, however long the queue): past it a 504 says the outcome is unknown.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
}

fn default_write_timeout_ms() -> u64 {
    60_000
}

/// The base URLs of a comma-separated list.
pub fn instances(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|u| !u.is_empty())
}

impl UpstreamSettings {
    /// The upstream timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The command API's timeout for a write.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms.max(self.timeout_ms))
    }
}

/// One rate-limit policy: `limit` requests per `window_secs`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct Policy {
    /// Requests allowed per window.
    pub limit: u64,
    /// Window length.
    pub window_secs: u64,
}

/// The policies.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    /// Login, refresh and logout, per IP (failed logins are also throttled per account, see
    /// `login_throttle`).
    pub auth: Policy,
    /// Signups, per IP.
    pub signup: Policy,
    /// Flight search, per principal or IP.
    pub search: Policy,
    /// Booking writes, per principal or IP.
    pub bookings: Policy,
    /// Everything else.
    pub default: Policy,
}

impl Settings {
    /// Whether this is a production deployment.
    pub fn is_production(&self) -> bool {
        self.environment.eq_ignore_ascii_case("production")
    }
}

impl ServiceSettings for Settings {
    fn load() -> Result<Self, config::ConfigError> {
        let home = infra::settings::env_var("HOME").unwrap_or_else(|| ".".to_owned());
        let key_dir = format!("{home}/.local/share/airline");
        infra::settings::load(&[
            ("environment", "development"),
            ("http.host", "127.0.0.1"),
            ("http.port", "8080"),
            ("http.request_timeout_ms", "15000"),
            ("http.body_limit_bytes", "65536"),
            ("redis.url", "redis://127.0.0.1:6379"),
            ("redis.key_prefix", "airline:"),
            ("redis.timeout_ms", "100"),
            ("auth.dev_key_dir", &key_dir),
            ("auth.issuer", "airline-gateway"),
            ("auth.audience", "airline-api"),
            ("auth.internal_audience", infra::auth::INTERNAL_AUDIENCE),
            ("auth.token_ttl_secs", "900"),
            ("auth.refresh_ttl_secs", "2592000"),
            ("upstreams.command_api", "http://127.0.0.1:8081"),
            ("upstreams.query_api", "http://127.0.0.1:8082"),
            ("upstreams.notifier", "http://127.0.0.1:8084"),
            ("upstreams.projector", "http://127.0.0.1:8083"),
            ("upstreams.timeout_ms", "10000"),
            ("rate_limits.auth.limit", "60"),
            ("rate_limits.signup.limit", "30"),
            ("rate_limits.signup.window_secs", "60"),
            ("login_throttle.account_free_failures", "5"),
            ("login_throttle.ip_free_failures", "50"),
            ("login_throttle.window_secs", "900"),
            ("login_throttle.max_delay_secs", "900"),
            ("rate_limits.auth.window_secs", "60"),
            ("rate_limits.search.limit", "600"),
            ("rate_limits.search.window_secs", "60"),
            ("rate_limits.bookings.limit", "60"),
            ("rate_limits.bookings.window_secs", "60"),
            ("rate_limits.default.limit", "300"),
            ("rate_limits.default.window_secs", "60"),
            ("cors_origins", ""),
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
}
