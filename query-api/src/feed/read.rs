//! The feed's reads of the log, under the same horizon as every subscription: the live end, and a
//! batch after a position that passes a stream's aggregate filters.

use infra::event_log::{COMMIT_ORDER, Position, SELECT_COLUMNS, StoredEvent};
use sqlx::PgPool;

use super::params::Filter;

/// The last position under the horizon: the live end.
pub async fn live_end(pool: &PgPool) -> std::result::Result<Position, sqlx::Error> {
    let end: Option<Position> = sqlx::query_as(
        "SELECT tx_id::text::bigint AS tx_id, global_position FROM events \
         WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.tx_id DESC, events.global_position DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(end.unwrap_or_default())
}

/// Up to `limit` committed events after `after` that pass the aggregate filters, in commit order.
pub async fn read(
    pool: &PgPool,
    after: Position,
    filter: &Filter,
    limit: i64,
) -> std::result::Result<Vec<StoredEvent>, sqlx::Error> {
    // One statement per shape, so each keeps a plan that fits it: one aggregate's events come from the
    // primary key, not from a walk of the commit-order index.
    let only = match (&filter.aggregate_type, &filter.aggregate_id) {
        (Some(_), Some(_)) => "AND aggregate_type = $4 AND aggregate_id = $5",
        (Some(_), None) => "AND aggregate_type = $4",
        _ => "",
    };
    let sql = format!(
        "SELECT {SELECT_COLUMNS} FROM events \
         WHERE (tx_id, global_position) > ($1::bigint::text::xid8, $2) \
           AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) {only} \
         ORDER BY {COMMIT_ORDER} LIMIT $3"
    );
    let mut query = sqlx::query_as(&sql)
        .bind(after.tx_id)
        .bind(after.global_position)
        .bind(limit);
    if let Some(kind) = &filter.aggregate_type {
        query = query.bind(kind.as_str());
        if let Some(id) = &filter.aggregate_id {
            query = query.bind(id.as_str());
        }
    }
    query.fetch_all(pool).await
}
