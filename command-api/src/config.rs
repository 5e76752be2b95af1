//! The command API's settings: defaults, then `APP_*` variables, then `DATABASE_URL`.

use std::time::Duration;

use infra::settings::{DatabaseSettings, HttpSettings, ServiceSettings, TokenSettings};
use secrecy::ExposeSecret;
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
    /// The payment provider.
    #[serde(default)]
    pub payments: crate::payments::PaymentSettings,
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
    /// How long the sweeper's claim on a due hold lasts (a sweeper that died is replaced after it).
    pub sweep_lease_ms: u64,
    /// How long a request's claim on its Idempotency-Key lasts before a retry may take it over.
    pub idempotency_lease_ms: u64,
    /// How often payment recovery runs.
    pub recovery_interval_ms: u64,
    /// How old an unfinished ledger row must be before recovery finishes or undoes it.
    pub payment_recovery_after_ms: u64,
    /// Attempts for a decision that meets a concurrent writer of the same aggregate.
    pub max_attempts: u32,
    /// The most seats one customer may hold unpaid at once (409 `hold_limit_exceeded` past it).
    pub max_held_seats: u32,
    /// The most seats one client address may hold unpaid at once, across accounts (the same 409).
    #[serde(default = "default_max_held_seats_per_client")]
    pub max_held_seats_per_client: u32,
    /// How many decisions may wait to be decided (503 `overloaded` past it).
    #[serde(default)]
    pub queue: QueueSettings,
    /// What accounts made less than a day ago may hold.
    #[serde(default)]
    pub new_accounts: NewAccountSettings,
    /// How long before departure the closer closes a flight (seats assigned, the overflow offloaded).
    #[serde(default = "default_close_minutes")]
    pub close_minutes_before_departure: i64,
    /// How often the closer looks for flights to close.
    #[serde(default = "default_close_interval_ms")]
    pub close_interval_ms: u64,
    /// Denied-boarding compensation per offloaded seated passenger, in minor units of the fare's
    /// currency.
    #[serde(default = "default_compensation_minor")]
    pub denied_boarding_compensation_minor: i64,
}

fn default_close_minutes() -> i64 {
    45
}

fn default_close_interval_ms() -> u64 {
    5_000
}

fn default_compensation_minor() -> i64 {
    25_000
}

/// New accounts hold less: signing up is free, so a crowd of fresh accounts must not empty a flight.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct NewAccountSettings {
    /// How young an account counts as new.
    pub younger_than_hours: u64,
    /// The most seats a new account may hold unpaid on one flight at once (the same 409 past it).
    pub max_held_seats_per_flight: u32,
}

impl Default for NewAccountSettings {
    fn default() -> Self {
        Self {
            younger_than_hours: 24,
            max_held_seats_per_flight: 9,
        }
    }
}

impl NewAccountSettings {
    /// How young an account counts as new.
    pub fn younger_than(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.younger_than_hours.saturating_mul(3_600))
    }
}

/// The executor's bounds: decisions waiting per lane (one flight, say) and in all.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct QueueSettings {
    /// Decisions waiting on one lane.
    pub max_per_lane: usize,
    /// Decisions waiting on every lane together.
    pub max_total: usize,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            max_per_lane: 1_024,
            max_total: 16_384,
        }
    }
}

fn default_max_held_seats_per_client() -> u32 {
    60
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

    /// The sweeper's lease on a claimed hold.
    pub fn sweep_lease(&self) -> Duration {
        Duration::from_millis(self.sweep_lease_ms)
    }

    /// The lease on an Idempotency-Key claim.
    pub fn idempotency_lease(&self) -> Duration {
        Duration::from_millis(self.idempotency_lease_ms)
    }

    /// How often the closer runs.
    pub fn close_interval(&self) -> Duration {
        Duration::from_millis(self.close_interval_ms)
    }

    /// The recovery interval.
    pub fn recovery_interval(&self) -> Duration {
        Duration::from_millis(self.recovery_interval_ms)
    }

    /// The age at which recovery takes over an unfinished ledger row.
    pub fn payment_recovery_after(&self) -> Duration {
        Duration::from_millis(self.payment_recovery_after_ms)
    }
}

impl ServiceSettings for Settings {
    fn load() -> Result<Self, config::ConfigError> {
        let settings: Self = infra::settings::load(&[
            ("http.host", "127.0.0.1"),
            ("http.port", "8081"),
            ("http.request_timeout_ms", "10000"),
            ("http.body_limit_bytes", "65536"),
            ("auth.issuer", "airline-gateway"),
            ("auth.audience", infra::auth::INTERNAL_AUDIENCE),
            ("auth.public_key_file", ".local/jwt-public.pem"),
            ("booking.hold_minutes", "15"),
            ("booking.sweep_interval_ms", "1000"),
            ("booking.sweep_lease_ms", "30000"),
            ("booking.idempotency_lease_ms", "15000"),
            ("booking.recovery_interval_ms", "1000"),
            ("booking.payment_recovery_after_ms", "30000"),
            ("booking.max_attempts", "8"),
            ("booking.max_held_seats", "20"),
        ])?;
        // A claim must outlive its request, or a retry could take it over while the request still runs.
        if settings.booking.idempotency_lease() <= settings.http.request_timeout() {
            return Err(config::ConfigError::Message(format!(
                "booking.idempotency_lease_ms ({} ms) must be longer than http.request_timeout_ms ({} ms)",
                settings.booking.idempotency_lease_ms, settings.http.request_timeout_ms
            )));
        }
        Ok(settings)
    }

    fn database(&self) -> &DatabaseSettings {
        &self.database
    }

    fn urls(&self) -> Vec<(&'static str, &str)> {
        vec![("DATABASE_URL", self.database.url.expose_secret())]
    }

    fn tokens(&self) -> Option<&TokenSettings> {
        Some(&self.auth)
    }

    fn production_findings(&self) -> Vec<String> {
        match self.payments.provider {
            crate::payments::ProviderKind::Test => vec![
                "the payment provider is the test one, which moves no money \
                 (set APP_PAYMENTS__PROVIDER=stripe and APP_PAYMENTS__STRIPE_API_KEY)"
                    .to_owned(),
            ],
            crate::payments::ProviderKind::Stripe => Vec::new(),
        }
    }
}
