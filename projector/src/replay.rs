//! Rebuilding a read model from position zero while reads go on.
//!
//! The projection runs from the start of the log into shadow copies of its tables in a schema of their
//! own (`replay_<name>`, first on the search path, so the projection's SQL is unchanged), under a shadow
//! subscription. Once it has caught up, one transaction locks the live subscription's checkpoint row (the
//! live projector waits), applies the last events, replaces the live tables with the shadow ones and
//! hands the shadow checkpoint to the live subscription. Readers see the old tables until that commit,
//! then the new ones.

use std::time::{Duration, Instant};

use infra::event_log::{Outcome, Position, StoredEvent, Subscription, read_after};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::projections::{Projection, ProjectionError};
use crate::worker::Worker;

/// How far a rebuild has got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Events applied so far.
    pub done: u64,
    /// Events in the log when the rebuild started (more may arrive).
    pub total: u64,
    /// Time since the start.
    pub elapsed: Duration,
}

impl Progress {
    /// Events per second so far.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Rebuilds `projection` and swaps it in; `on_progress` is called after every batch.
///
/// # Errors
/// Database or decoding failures; the live tables are untouched then.
pub async fn rebuild(
    pool: &PgPool,
    projection: Projection,
    batch_size: i64,
    mut on_progress: impl FnMut(Progress),
) -> Result<Progress, ProjectionError> {
    let started = Instant::now();
    let schema = format!("replay_{}", projection.name());
    let shadow_name = format!("replay:{}", projection.name());
    prepare(pool, projection, &schema, &shadow_name).await?;

    // The shadow tables are read by nobody until the swap, which commits durably on `pool`: a shadow
    // batch need not wait for the disk (a crash loses the rebuild, not data).
    let options = (*pool.connect_options()).clone().options([
        ("search_path", format!("{schema},public")),
        ("synchronous_commit", "off".to_owned()),
    ]);
    let shadow_pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await?;
    let worker = Worker::with_subscription(
        shadow_pool.clone(),
        projection,
        Subscription::new(&shadow_name),
        batch_size,
    );
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await?;
    let mut progress = Progress {
        done: 0,
        total: total as u64,
        elapsed: Duration::ZERO,
    };
    // Each batch is read (and its JSON decoded) while the one before is being written.
    let read = |from: Position| {
        let pool = shadow_pool.clone();
        tokio::spawn(async move { read_after(&pool, from, batch_size).await })
    };
    let mut from = Position::default();
    let mut reading = read(from);
    loop {
        let events = reading
            .await
            .map_err(|e| sqlx::Error::Protocol(format!("the rebuild's reader: {e}")))??;
        let Some(last) = events.last().map(StoredEvent::position) else {
            break;
        };
        reading = read(last);
        if let Outcome::Processed(n) = worker.process_batch_read_after(from, events).await? {
            progress.done += n as u64;
        }
        from = last;
        progress.elapsed = started.elapsed();
        on_progress(progress);
    }

    let mut tx = pool.begin().await?;
    Subscription::new(projection.name())
        .checkpoint_for_update(&mut tx)
        .await?;
    progress.done += worker.drain().await? as u64;
    for table in projection.tables() {
        sqlx::query(&format!("DROP TABLE public.{table}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("ALTER TABLE {schema}.{table} SET SCHEMA public"))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE subscriptions SET tx_id = s.tx_id, global_position = s.global_position, updated_at = now() \
         FROM subscriptions s WHERE subscriptions.name = $1 AND s.name = $2",
    )
    .bind(projection.name())
    .bind(&shadow_name)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM subscriptions WHERE name = $1")
        .bind(&shadow_name)
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut *tx)
        .await?;
    // Search pages cached from the old tables are orphaned with the swap.
    sqlx::query(
        "UPDATE rm_cache_generations SET generation = generation + 1 WHERE name = 'search' OR name LIKE 'search:%'",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    shadow_pool.close().await;
    progress.elapsed = started.elapsed();
    Ok(progress)
}

/// Every table of `projection` as JSON rows in a stable order, without `updated_at` (when a row was
/// written, not what it says): two builds from the same log compare equal.
///
/// # Errors
/// Database errors.
pub async fn snapshot(
    pool: &PgPool,
    projection: Projection,
) -> Result<serde_json::Value, sqlx::Error> {
    let mut out = serde_json::Map::new();
    for table in projection.tables() {
        let rows: Option<serde_json::Value> = sqlx::query_scalar(&format!(
            "SELECT json_agg(t ORDER BY t::text) FROM (SELECT * FROM {table}) t"
        ))
        .fetch_one(pool)
        .await?;
        let mut rows = rows.unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Array(items) = &mut rows {
            for item in items {
                if let serde_json::Value::Object(map) = item {
                    map.remove("updated_at");
                }
            }
        }
        out.insert((*table).to_owned(), rows);
    }
    Ok(serde_json::Value::Object(out))
}

async fn prepare(
    pool: &PgPool,
    projection: Projection,
    schema: &str,
    shadow_name: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut *tx)
        .await?;
    for table in projection.tables() {
        sqlx::query(&format!(
            "CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING ALL)"
        ))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM subscriptions WHERE name = $1")
        .bind(shadow_name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
