//! One stored event, its place in the commit order, and the commit-order reads of the `events` table.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// A point in the commit order. Zero is before every event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, FromRow)]
pub struct Position {
    /// The appending transaction's id (xid8, which fits in an i64 for 2^63 transactions).
    pub tx_id: i64,
    /// The event's position in insertion order.
    pub global_position: i64,
}

/// One event as stored.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct StoredEvent {
    /// Unique id (the AMQP message id).
    pub event_id: Uuid,
    /// Appending transaction.
    pub tx_id: i64,
    /// Insertion order.
    pub global_position: i64,
    /// `flight`, `booking`, ...
    pub aggregate_type: String,
    /// The aggregate's id.
    pub aggregate_id: String,
    /// 1-based version of the aggregate after this event.
    pub sequence: i64,
    /// Variant name.
    pub event_type: String,
    /// Schema version of the payload.
    pub event_version: String,
    /// The event.
    pub payload: Value,
    /// Who and why: user, role, correlation id, command.
    pub metadata: Value,
    /// When it was appended.
    pub recorded_at: DateTime<Utc>,
}

impl std::fmt::Display for Position {
    /// `<tx_id>-<global_position>`: the form clients hand back (`Last-Event-ID`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.tx_id, self.global_position)
    }
}

impl std::str::FromStr for Position {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const BAD: &str = "a position is `<tx_id>-<global_position>`, two non-negative integers";
        let (tx, gp) = s.trim().split_once('-').ok_or(BAD)?;
        let parse = |n: &str| {
            n.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0 && n.bytes().all(|b| b.is_ascii_digit()))
        };
        Ok(Self {
            tx_id: parse(tx).ok_or(BAD)?,
            global_position: parse(gp).ok_or(BAD)?,
        })
    }
}

impl StoredEvent {
    /// `<aggregate_type>.<event_type>`, the routing key on the broker and the type in the event feed.
    pub fn routing_key(&self) -> String {
        crate::topic::routing_key(&self.aggregate_type, &self.event_type)
    }

    /// Where this event stands in the commit order.
    pub const fn position(&self) -> Position {
        Position {
            tx_id: self.tx_id,
            global_position: self.global_position,
        }
    }
}

/// The columns of a [`StoredEvent`], for queries of the `events` table.
pub const SELECT_COLUMNS: &str = "event_id, tx_id::text::bigint AS tx_id, global_position, aggregate_type, \
     aggregate_id, sequence, event_type, event_version, payload, metadata, recorded_at";

/// Commit order, for `ORDER BY`. Qualified on purpose: [`SELECT_COLUMNS`] names its output `tx_id`
/// (the xid8 cast to bigint), and a bare `ORDER BY tx_id` sorts by that output column, which no index
/// has: every read would sort the whole rest of the log instead of walking `events_commit_order`.
pub const COMMIT_ORDER: &str = "events.tx_id, events.global_position";

/// The statement behind [`read_after`]: `$1`/`$2` the position (tx id as bigint, global position),
/// `$3` the limit.
pub fn read_after_sql() -> String {
    format!(
        "SELECT {SELECT_COLUMNS} FROM events \
         WHERE (tx_id, global_position) > ($1::bigint::text::xid8, $2) \
           AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY {COMMIT_ORDER} LIMIT $3"
    )
}

/// Up to `limit` committed events after `after`, in commit order.
///
/// # Errors
/// Database errors.
pub async fn read_after<'e>(
    executor: impl PgExecutor<'e>,
    after: Position,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query_as(&read_after_sql())
        .bind(after.tx_id)
        .bind(after.global_position)
        .bind(limit)
        .fetch_all(executor)
        .await
}

/// One aggregate's events, oldest first (for history and time travel).
///
/// # Errors
/// Database errors.
pub async fn aggregate_events<'e>(
    executor: impl PgExecutor<'e>,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let sql = format!(
        "SELECT {SELECT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
         ORDER BY sequence"
    );
    sqlx::query_as(&sql)
        .bind(aggregate_type)
        .bind(aggregate_id)
        .fetch_all(executor)
        .await
}
