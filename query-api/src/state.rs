//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use infra::auth::JwtVerifier;
use infra::cache::Cache;
use infra::coalesce::{Coalesced, CoalescedMap};
use sqlx::PgPool;
use uuid::Uuid;

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
    /// The search cache's reference (epoch, generation), one Postgres read shared by concurrent requests.
    pub search_generation: Arc<Coalesced<(Uuid, i64)>>,
    /// Each seat map's reference version, shared the same way.
    pub seat_map_versions: Arc<CoalescedMap<Uuid, i64>>,
}

impl FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}
