//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

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
    pub feed: Arc<crate::feed::hub::Hub>,
    /// Turns true when the server stops: event streams end so connections can drain.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The workers' health (the feed's listener), for readiness.
    pub workers: infra::supervisor::Registry,
}

/// Longest a request's read on the replica may take before the primary answers instead: a replica
/// that hangs (connected, answering nothing) must slow a request by this much, not hold it.
pub const REPLICA_READ: Duration = Duration::from_secs(2);

/// The same bound for a report (analytics), which may honestly scan for longer. The replica's
/// sessions carry it as their `statement_timeout`, so a read given up on does not run on there.
pub const REPLICA_REPORT: Duration = Duration::from_secs(10);

impl AppState {
    /// `read` bounded by [`REPLICA_READ`]: past it, the error a caller falls back on.
    ///
    /// # Errors
    /// The read's own error, or a timed-out I/O error.
    pub async fn bounded<T, E: From<sqlx::Error>>(
        read: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        Self::bounded_by(REPLICA_READ, read).await
    }

    async fn bounded_by<T, E: From<sqlx::Error>>(
        limit: Duration,
        read: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        tokio::time::timeout(limit, read).await.unwrap_or_else(|_| {
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the read replica did not answer in time",
            ))
            .into())
        })
    }

    /// A report's `read` on the replica when one is set (bounded by [`REPLICA_REPORT`]), on the primary
    /// when there is none or it fails; a fallback is counted as `replica_fallbacks_total{read = what}`.
    /// For reads that may be a little behind, not for a customer's own writes.
    ///
    /// # Errors
    /// The primary's error.
    pub async fn replica_first<T, F, Fut>(
        &self,
        what: &'static str,
        read: F,
    ) -> Result<T, sqlx::Error>
    where
        F: Fn(PgPool) -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        if self.replica {
            match Self::bounded_by(REPLICA_REPORT, read(self.read.clone())).await {
                Ok(answer) => return Ok(answer),
                Err(e) => {
                    metrics::counter!("replica_fallbacks_total", "read" => what).increment(1);
                    tracing::warn!(error.message = %e, read = what, "the read replica failed; the primary answers");
                }
            }
        }
        read(self.pool.clone()).await
    }
}

impl FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}
