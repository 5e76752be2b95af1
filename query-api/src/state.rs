//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use infra::auth::JwtVerifier;
use infra::cache::Cache;
use sqlx::PgPool;

use crate::config::CacheSettings;

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Postgres.
    pub pool: PgPool,
    /// Redis, best effort.
    pub cache: Arc<Cache>,
    /// Token checks.
    pub verifier: JwtVerifier,
    /// Cache lifetimes.
    pub ttl: CacheSettings,
}

impl FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}
