//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use infra::auth::JwtVerifier;
use infra::cache::Cache;
use infra::coalesce::CoalescedMap;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::CacheSettings;

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Postgres, the primary: the event log, bookings lists, and every reference read.
    pub pool: PgPool,
    /// Where the scan-heavy reads go (search, seat maps, analytics): the streaming replica of
    /// `DATABASE_READ_URL`, or the primary again when none is set.
    pub read: PgPool,
    /// Whether `read` is a replica (so a read from it may be behind the primary).
    pub replica: bool,
    /// Redis, best effort.
    pub cache: Arc<Cache>,
    /// Token checks.
    pub verifier: JwtVerifier,
    /// Cache lifetimes.
    pub ttl: CacheSettings,
    /// The search cache's references (epoch, generation) by name (`search`, or `search:<origin>-<destination>`
    /// for one route), each one Postgres read shared by concurrent requests.
    pub search_generations: Arc<CoalescedMap<String, (Uuid, i64)>>,
    /// Each seat map's reference version, shared the same way.
    pub seat_map_versions: Arc<CoalescedMap<Uuid, i64>>,
    /// Wakes the event streams.
    pub feed: Arc<crate::feed::Hub>,
    /// Turns true when the server stops: event streams end so connections can drain.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The workers' health (the feed's listener), for readiness.
    pub workers: infra::supervisor::Registry,
}

impl FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}
