//! The notifier's settings.

use std::time::Duration;

use infra::amqp::AmqpSettings;
use infra::settings::{DatabaseSettings, HttpSettings, ServiceSettings, TokenSettings};
use secrecy::ExposeSecret;
use serde::Deserialize;

/// Everything the notifier needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Postgres (inbox, notifications, webhooks; the event log for booking details).
    pub database: DatabaseSettings,
    /// Health, metrics and the webhook API.
    pub http: HttpSettings,
    /// The broker.
    pub amqp: AmqpSettings,
    /// Outgoing mail.
    pub smtp: SmtpSettings,
    /// Token verification for the webhook API.
    pub auth: AuthSettings,
    /// Retries.
    pub retry: RetrySettings,
    /// Webhook destinations.
    pub webhooks: WebhookSettings,
}

/// Webhook destinations.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSettings {
    /// Let webhooks aim at loopback, private and other non-public addresses (tests, local
    /// development). Off by default in every mode.
    pub allow_private_destinations: bool,
    /// A PEM file of more root certificates to trust for `https://` receivers, on top of the system's
    /// (which `SSL_CERT_FILE` and `SSL_CERT_DIR` also set); unset, the default, adds none.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// Outgoing mail.
#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    /// `smtp://host:port`, `smtps://user:pass@host`, or `smtp://host?tls=required`.
    pub url: String,
    /// The `From` address.
    pub from: String,
}

/// How bearer tokens are checked (shared by every API).
pub use infra::settings::TokenSettings as AuthSettings;

/// Retries: one delay queue per attempt, then the dead-letter queue.
#[derive(Debug, Clone, Deserialize)]
pub struct RetrySettings {
    /// Delays before each retry, comma-separated milliseconds (`1000,10000,60000`).
    pub delays_ms: String,
    /// Longest a webhook endpoint may take.
    pub webhook_timeout_ms: u64,
}

impl RetrySettings {
    /// The delays.
    ///
    /// # Errors
    /// When a delay is not a number.
    pub fn delays(&self) -> Result<Vec<u32>, std::num::ParseIntError> {
        self.delays_ms
            .split(',')
            .map(|d| d.trim().parse())
            .collect()
    }

    /// The webhook timeout.
    pub fn webhook_timeout(&self) -> Duration {
        Duration::from_millis(self.webhook_timeout_ms)
    }
}

impl ServiceSettings for Settings {
    fn load() -> Result<Self, config::ConfigError> {
        infra::settings::load(&[
            ("http.host", "127.0.0.1"),
            ("http.port", "8084"),
            ("http.request_timeout_ms", "15000"),
            ("http.body_limit_bytes", "65536"),
            ("amqp.url", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            ("amqp.exchange", "airline.events"),
            ("amqp.queue_prefix", "notifier"),
            ("smtp.url", "smtp://127.0.0.1:2525"),
            ("smtp.from", "Airline <no-reply@airline.example>"),
            ("auth.issuer", "airline-gateway"),
            ("auth.audience", infra::auth::INTERNAL_AUDIENCE),
            ("auth.public_key_file", ".local/jwt-public.pem"),
            ("retry.delays_ms", "1000,10000,60000"),
            ("retry.webhook_timeout_ms", "5000"),
            ("webhooks.allow_private_destinations", "false"),
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

    fn tokens(&self) -> Option<&TokenSettings> {
        Some(&self.auth)
    }
}
