//! Which provider takes payments, and how it is reached: `APP_PAYMENTS__*`.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// The providers there are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The built-in test cards; moves no money. Refused in production.
    #[default]
    Test,
    /// Stripe's PaymentIntents API.
    Stripe,
}

/// `APP_PAYMENTS__PROVIDER`, `APP_PAYMENTS__STRIPE_API_KEY`, `APP_PAYMENTS__STRIPE_BASE_URL`,
/// `APP_PAYMENTS__TIMEOUT_MS`, `APP_PAYMENTS__CA_FILE`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PaymentSettings {
    /// The provider.
    pub provider: ProviderKind,
    /// Stripe's secret key (`sk_live_...` or `sk_test_...`).
    pub stripe_api_key: Option<SecretString>,
    /// Stripe's API address.
    pub stripe_base_url: String,
    /// The most one call to the provider may take; past it the provider counts as unavailable.
    pub timeout_ms: u64,
    /// Extra trusted root certificates (PEM) for the provider's address, beside the system's.
    pub ca_file: Option<PathBuf>,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Test,
            stripe_api_key: None,
            stripe_base_url: "https://api.stripe.com".to_owned(),
            timeout_ms: 10_000,
            ca_file: None,
        }
    }
}

impl PaymentSettings {
    /// The per-call bound.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}
