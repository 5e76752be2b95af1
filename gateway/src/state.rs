//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use infra::auth::{JwtSigner, JwtVerifier};
use infra::cache::Cache;
use sqlx::PgPool;

use crate::config::{RateLimitSettings, UpstreamSettings};

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
    /// Token lifetime.
    pub token_ttl_secs: u64,
    /// Upstream HTTP client.
    pub client: reqwest::Client,
    /// Upstreams.
    pub upstreams: UpstreamSettings,
    /// Limits.
    pub limits: RateLimitSettings,
}

impl FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}
