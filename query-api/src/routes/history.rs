//! The audit trail and time travel: an aggregate's events as stored, and its state folded with the
//! domain's own `apply` up to a version or an instant.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use infra::event_log::{StoredEvent, aggregate_events};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Result};

/// One event in an audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// Aggregate version after this event.
    pub version: i64,
    /// Event id.
    pub event_id: uuid::Uuid,
    /// Event type.
    pub event_type: String,
    /// Schema version of the payload.
    pub event_version: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who: `user_id` and `role` (`system` for the sweeper and payment recovery).
    #[schema(value_type = Object)]
    pub actor: serde_json::Value,
    /// The request that started it.
    pub correlation_id: Option<String>,
    /// The event that caused it, for process steps.
    pub causation_id: Option<String>,
    /// The command.
    pub command: Option<String>,
    /// The event itself.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<StoredEvent> for HistoryEntry {
    fn from(e: StoredEvent) -> Self {
        let text = |k: &str| {
            e.metadata
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        Self {
            version: e.sequence,
            event_id: e.event_id,
            recorded_at: e.recorded_at,
            actor: serde_json::json!({"user_id": text("user_id"), "role": text("role")}),
            correlation_id: text("correlation_id"),
            causation_id: text("causation_id"),
            command: text("command"),
            event_type: e.event_type,
            event_version: e.event_version,
            payload: e.payload,
        }
    }
}

/// Which past state to fold to: at most one of the two.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// The state after this many events (from 1; not with `as_of`).
    #[param(minimum = 1)]
    pub version: Option<i64>,
    /// The state at this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, pattern = "^(19|20|21)[0-9]{2}-")]
    #[serde(default, deserialize_with = "infra::time::opt_instant")]
    pub as_of: Option<DateTime<Utc>>,
}

impl AsOf {
    /// Whether any time travel was asked for.
    pub fn is_set(&self) -> bool {
        self.version.is_some() || self.as_of.is_some()
    }
}

/// Folds `A` from its events up to `as_of` (all of them when unset); `None` when it has no events then.
///
/// # Errors
/// 400 for both or a negative version; database or decoding failures.
pub async fn fold<A: Aggregate>(pool: &PgPool, id: &str, as_of: AsOf) -> Result<Option<(A, i64)>> {
    if as_of.version.is_some() && as_of.as_of.is_some() {
        return Err(ApiError::bad_query("give version or as_of, not both"));
    }
    if as_of.version.is_some_and(|v| v < 1) {
        return Err(ApiError::bad_query("version starts at 1"));
    }
    let keep = |e: &StoredEvent| {
        as_of.version.is_none_or(|v| e.sequence <= v)
            && as_of.as_of.is_none_or(|t| e.recorded_at <= t)
    };
    infra::event_log::fold::<A>(pool, id, keep)
        .await
        .map_err(|e| match e {
            infra::event_log::FoldError::Database(db) => db.into(),
            decode @ infra::event_log::FoldError::Decode { .. } => {
                ApiError::Internal(decode.into())
            }
        })
}

/// An aggregate's events as history entries.
///
/// # Errors
/// Database failures.
pub async fn entries(pool: &PgPool, aggregate_type: &str, id: &str) -> Result<Vec<HistoryEntry>> {
    Ok(aggregate_events(pool, aggregate_type, id)
        .await?
        .into_iter()
        .map(HistoryEntry::from)
        .collect())
}
