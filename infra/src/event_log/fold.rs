//! An aggregate folded from its stored events with its own `apply` (history, time travel, and a cached
//! aggregate brought up to date).

use sqlx::PgPool;
use uuid::Uuid;

use super::stored::{SELECT_COLUMNS, StoredEvent};

/// Why an aggregate could not be folded from its events.
#[derive(Debug, thiserror::Error)]
pub enum FoldError {
    /// The database.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored event that does not decode into the aggregate's event type.
    #[error("event {event_id} does not decode: {reason}")]
    Decode {
        /// Which event.
        event_id: Uuid,
        /// Why.
        reason: String,
    },
}

/// Folds aggregate `A` from its stored events with its own `apply`, stopping after the last event `keep`
/// accepts (events are visited oldest first). Returns the state and its version, or `None` when no event
/// was kept.
///
/// # Errors
/// [`FoldError`].
pub async fn fold<A: cqrs_es::Aggregate>(
    pool: &PgPool,
    id: &str,
    keep: impl FnMut(&StoredEvent) -> bool,
) -> Result<Option<(A, i64)>, FoldError> {
    let (aggregate, version) = fold_onto(pool, id, (A::default(), 0), keep).await?;
    Ok((version > 0).then_some((aggregate, version)))
}

/// Folds the events of aggregate `A` after `version` onto `aggregate` (its state at that version), like
/// [`fold`]: a cached state is brought up to date with only the events it has not seen.
///
/// # Errors
/// [`FoldError`].
pub async fn fold_onto<A: cqrs_es::Aggregate>(
    pool: &PgPool,
    id: &str,
    (mut aggregate, mut version): (A, i64),
    mut keep: impl FnMut(&StoredEvent) -> bool,
) -> Result<(A, i64), FoldError> {
    let sql = format!(
        "SELECT {SELECT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
         AND sequence > $3 ORDER BY sequence"
    );
    let events: Vec<StoredEvent> = sqlx::query_as(&sql)
        .bind(A::TYPE)
        .bind(id)
        .bind(version)
        .fetch_all(pool)
        .await?;
    for e in events {
        if !keep(&e) {
            break;
        }
        let event: A::Event =
            serde_json::from_value(e.payload).map_err(|err| FoldError::Decode {
                event_id: e.event_id,
                reason: err.to_string(),
            })?;
        aggregate.apply(event);
        version = e.sequence;
    }
    Ok((aggregate, version))
}
