//! Settings shared by the services, loaded with the `config` crate: built-in defaults, then
//! `APP_<SECTION>__<KEY>` environment variables, then the conventional `DATABASE_URL`, `REDIS_URL`,
//! `AMQP_URL` and `SMTP_URL`. This is the only module that reads the environment.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::PgConnectOptions;

/// Conventional variables and the setting each one fills.
const WELL_KNOWN: &[(&str, &str)] = &[
    ("DATABASE_URL", "database.url"),
    ("DATABASE_READ_URL", "database.read_url"),
    ("REDIS_URL", "redis.url"),
    ("AMQP_URL", "amqp.url"),
    ("SMTP_URL", "smtp.url"),
];

/// Loads a service's settings: `defaults` (key, value) first, then the environment.
///
/// # Errors
/// When a value is missing or does not parse into its field's type.
pub fn load<T: DeserializeOwned>(defaults: &[(&str, &str)]) -> Result<T, config::ConfigError> {
    let mut builder = config::Config::builder()
        .set_default(
            "database.url",
            "postgres://postgres:postgres@127.0.0.1:5432/airline",
        )?
        .set_default("database.max_connections", 10)?
        .set_default("database.acquire_timeout_ms", 5_000)?;
    for (key, value) in defaults {
        builder = builder.set_default(*key, *value)?;
    }
    builder = builder.add_source(
        config::Environment::with_prefix("APP")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true),
    );
    for (var, key) in WELL_KNOWN {
        if let Ok(value) = std::env::var(var) {
            builder = builder.set_override(*key, value)?;
        }
    }
    builder.build()?.try_deserialize()
}

/// Reads one environment variable, for the few settings that are not per service (log format).
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Where Postgres is and how to pool connections to it.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://user[:password]@host:port/database`.
    pub url: SecretString,
    /// Pool size.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection.
    pub acquire_timeout_ms: u64,
    /// A streaming replica for reads (`DATABASE_READ_URL`); only the query API uses it. Unset: every
    /// read goes to `url`.
    #[serde(default)]
    pub read_url: Option<SecretString>,
}

impl DatabaseSettings {
    /// Connection options parsed from the URL; tests swap the database name.
    ///
    /// # Errors
    /// When the URL is not a Postgres URL.
    pub fn connect_options(&self) -> Result<PgConnectOptions, sqlx::Error> {
        self.url.expose_secret().parse()
    }

    /// Connection options for the read replica, when one is set (an empty URL is none).
    ///
    /// # Errors
    /// When the URL is not a Postgres URL.
    pub fn read_connect_options(&self) -> Result<Option<PgConnectOptions>, sqlx::Error> {
        self.read_url
            .as_ref()
            .filter(|u| !u.expose_secret().trim().is_empty())
            .map(|u| u.expose_secret().parse())
            .transpose()
    }

    /// The acquire timeout.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.acquire_timeout_ms)
    }
}

/// Where an HTTP service listens.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Interface to bind.
    pub host: String,
    /// Port; 0 picks a free one (tests).
    pub port: u16,
    /// Longest a request may take before 408/503.
    pub request_timeout_ms: u64,
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// Longest a client may take to send a request's headers, and longest a kept-alive connection may
    /// sit idle; then the connection is closed.
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// On SIGTERM, longest the in-flight requests get before the listener closes them anyway.
    #[serde(default = "default_shutdown_timeout_ms")]
    pub shutdown_timeout_ms: u64,
    /// Longest a write to a client may stay blocked (the client stopped reading) before the connection
    /// is closed: a stalled event-stream reader or a slow-read attack holds nothing for longer.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// Proxies whose `X-Forwarded-For` names the client: comma-separated CIDRs or addresses (the
    /// gateway's); empty, the default, trusts none.
    #[serde(default)]
    pub trusted_proxies: String,
}

const fn default_write_timeout_ms() -> u64 {
    30_000
}

const fn default_header_timeout_ms() -> u64 {
    10_000
}

const fn default_shutdown_timeout_ms() -> u64 {
    10_000
}

impl HttpSettings {
    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// [`HttpSettings::header_timeout_ms`].
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms.max(1))
    }

    /// [`HttpSettings::write_timeout_ms`].
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms.max(1))
    }

    /// [`HttpSettings::shutdown_timeout_ms`].
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

#[cfg(test)]
impl HttpSettings {
    /// Loopback on a free port, for this crate's unit tests.
    pub(crate) fn loopback(request_timeout_ms: u64, header_timeout_ms: u64) -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            port: 0,
            request_timeout_ms,
            body_limit_bytes: 1024,
            header_timeout_ms,
            shutdown_timeout_ms: 1_000,
            write_timeout_ms: 30_000,
            trusted_proxies: String::new(),
        }
    }
}

/// Redis, for the cache and rate limits.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// `redis://host:port`.
    pub url: String,
    /// Prefix of every key (tests use their own).
    pub key_prefix: String,
    /// Longest a Redis operation may take before it is skipped.
    pub timeout_ms: u64,
}

impl RedisSettings {
    /// The operation timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// How the APIs verify bearer tokens: the gateway's Ed25519 public key (inline or in a file) and the
/// expected issuer and audience.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenSettings {
    /// The public key (SPKI PEM), inline.
    #[serde(default)]
    pub public_key_pem: Option<String>,
    /// Or a file holding it.
    #[serde(default)]
    pub public_key_file: Option<String>,
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
}

impl TokenSettings {
    /// The public key PEM, inline or from its file.
    ///
    /// # Errors
    /// When neither is set or the file cannot be read.
    pub fn public_key(&self) -> anyhow::Result<String> {
        if let Some(pem) = &self.public_key_pem {
            return Ok(pem.clone());
        }
        let path = self.public_key_file.as_deref().ok_or_else(|| {
            anyhow::anyhow!("set APP_AUTH__PUBLIC_KEY_PEM or APP_AUTH__PUBLIC_KEY_FILE")
        })?;
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {path}: {e}"))
    }
}

/// What the shared start-up (`crate::startup`) reads from a service's settings.
pub trait ServiceSettings: Sized + Send + 'static {
    /// Loads them: the service's defaults, then `APP_*` variables (and `DATABASE_URL` and the like).
    ///
    /// # Errors
    /// A variable that does not parse.
    fn load() -> Result<Self, config::ConfigError>;

    /// The primary database.
    fn database(&self) -> &DatabaseSettings;

    /// The connection URLs production must not leave at their development defaults, by variable.
    fn urls(&self) -> Vec<(&'static str, &str)>;

    /// How the service verifies tokens, when it does.
    fn tokens(&self) -> Option<&TokenSettings> {
        None
    }

    /// What else in these settings production must not run with, one line each.
    fn production_findings(&self) -> Vec<String> {
        Vec::new()
    }
}
