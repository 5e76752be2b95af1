//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use infra::auth::{JwtSigner, JwtVerifier};
use infra::cache::Cache;
use sqlx::PgPool;

use crate::config::{RateLimitSettings, UpstreamSettings};
use crate::sessions::Grants;

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Accounts.
    pub pool: PgPool,
    /// Rate-limit counters.
    pub redis: Arc<Cache>,
    /// Signs tokens.
    pub signer: JwtSigner,
    /// Checks tokens.
    pub verifier: JwtVerifier,
    /// Token claims.
    pub issuer: String,
    /// Token audience.
    pub audience: String,
    /// The audience of the tokens forwarded to the services.
    pub internal_audience: String,
    /// Access token lifetime.
    pub token_ttl_secs: u64,
    /// Session lifetime.
    pub refresh_ttl_secs: u64,
    /// What each session grants now.
    pub grants: Arc<Grants>,
    /// The background workers' health.
    pub workers: infra::supervisor::Registry,
    /// Upstream HTTP client.
    pub client: reqwest::Client,
    /// Upstreams.
    pub upstreams: UpstreamSettings,
    /// Whose turn it is among each upstream's instances (round robin over its requests): command,
    /// query, notifier.
    pub turns: Arc<[std::sync::atomic::AtomicUsize; 3]>,
    /// Limits.
    pub limits: RateLimitSettings,
    /// Failed sign-in delays.
    pub login_throttle: crate::throttle::LoginThrottleSettings,
    /// The largest request body forwarded.
    pub body_limit_bytes: usize,
}

impl FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}
