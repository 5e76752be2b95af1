//! One projection's subscription: a step that applies the next batch exactly once, and the loop that
//! runs it while this instance holds the subscription (standby otherwise).

use std::time::{Duration, Instant};

use infra::event_log::{
    Outcome, Position, StoredEvent, Subscription, read_after, run_subscription,
};
use infra::supervisor::Heartbeat;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use crate::projections::{Batch, Invalidation, Projection, ProjectionError};

/// Runs one projection.
#[derive(Debug, Clone)]
pub struct Worker {
    pool: PgPool,
    projection: Projection,
    subscription: Subscription,
    batch_size: i64,
}

impl Worker {
    /// A worker for `projection` under its own subscription name.
    pub fn new(pool: PgPool, projection: Projection, batch_size: i64) -> Self {
        Self::with_subscription(
            pool,
            projection,
            Subscription::new(projection.name()),
            batch_size,
        )
    }

    /// A worker under another subscription name (a replay's shadow run).
    pub fn with_subscription(
        pool: PgPool,
        projection: Projection,
        subscription: Subscription,
        batch_size: i64,
    ) -> Self {
        Self {
            pool,
            projection,
            subscription,
            batch_size: batch_size.max(1),
        }
    }

    /// Its subscription.
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// Applies the next batch, moves the search generation when search results changed, and moves the
    /// checkpoint, in one transaction.
    ///
    /// # Errors
    /// [`ProjectionError`]; nothing of the batch is applied then.
    pub async fn process_next_batch(&self) -> Result<Outcome, ProjectionError> {
        let started = Instant::now();
        let mut tx = self.pool.begin().await?;
        let checkpoint = self.subscription.checkpoint_for_update(&mut tx).await?;
        let events = read_after(&mut *tx, checkpoint, self.batch_size).await?;
        self.apply_batch(tx, events, started).await
    }

    /// Applies `events`, read after `from` before this call, the way [`Worker::process_next_batch`]
    /// applies what it reads: a rebuild reads each batch while the one before is being written.
    ///
    /// # Errors
    /// [`ProjectionError::Moved`] when the checkpoint is not at `from`, else as
    /// [`Worker::process_next_batch`]; nothing of the batch is applied then.
    pub async fn process_batch_read_after(
        &self,
        from: Position,
        events: Vec<StoredEvent>,
    ) -> Result<Outcome, ProjectionError> {
        let started = Instant::now();
        let mut tx = self.pool.begin().await?;
        if self.subscription.checkpoint_for_update(&mut tx).await? != from {
            return Err(ProjectionError::Moved);
        }
        self.apply_batch(tx, events, started).await
    }

    async fn apply_batch(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        events: Vec<StoredEvent>,
        started: Instant,
    ) -> Result<Outcome, ProjectionError> {
        let Some(last) = events.last().map(StoredEvent::position) else {
            tx.commit().await?;
            return Ok(Outcome::Idle);
        };
        // Fault tests make a batch panic (`panic`) or fail (`return`) here, before anything is applied.
        fail::fail_point!(self.projection.failpoint(), |_| Err(
            ProjectionError::Database(sqlx::Error::Protocol(format!(
                "failpoint {}",
                self.projection.failpoint()
            )))
        ));
        // What a search can see changed: on these flights' routes, or (another aggregate) anywhere.
        let (mut search_flights, mut search_everywhere) = (Vec::new(), false);
        let mut batch = Batch::default();
        for event in &events {
            let invalidations = self.projection.apply(&mut tx, event, &mut batch).await?;
            if invalidations.contains(&Invalidation::Search) {
                match (
                    event.aggregate_type.as_str(),
                    Uuid::parse_str(&event.aggregate_id),
                ) {
                    ("flight", Ok(flight)) => search_flights.push(flight),
                    _ => search_everywhere = true,
                }
            }
        }
        let search_changed = search_everywhere || !search_flights.is_empty();
        self.projection.finish(&mut tx, batch).await?;
        // A rebuild's shadow run writes its own tables; the live generation moves with the swap.
        if search_changed && self.subscription.name() == self.projection.name() {
            // Cached search pages are keyed by this generation: moving it in the same transaction as
            // the rows means no reader can take a new generation and find an old page, or the reverse.
            // `search` keys every search; `search:<origin>-<destination>` the searches of one route, so
            // a booking invalidates its own route's pages only.
            sqlx::query(
                "UPDATE rm_cache_generations SET generation = generation + 1 \
                 WHERE name = 'search' OR ($1 AND name LIKE 'search:%')",
            )
            .bind(search_everywhere)
            .execute(&mut *tx)
            .await?;
            search_flights.sort_unstable();
            search_flights.dedup();
            if !search_flights.is_empty() {
                sqlx::query(
                "INSERT INTO rm_cache_generations (name) \
                 SELECT DISTINCT 'search:' || origin || '-' || destination FROM rm_flights WHERE flight_id = ANY($1) \
                 ORDER BY 1 \
                 ON CONFLICT (name) DO UPDATE SET generation = rm_cache_generations.generation + 1",
            )
            .bind(&search_flights)
            .execute(&mut *tx)
            .await?;
            }
        }
        self.subscription.save_checkpoint(&mut tx, last).await?;
        tx.commit().await?;
        let name = self.subscription.name().to_owned();
        metrics::counter!("projector_events_total", "subscription" => name.clone())
            .increment(events.len() as u64);
        metrics::histogram!("projector_batch_seconds", "subscription" => name)
            .record(started.elapsed().as_secs_f64());
        Ok(Outcome::Processed(events.len()))
    }

    /// Steps until there is nothing left (tests, replays).
    ///
    /// # Errors
    /// As [`Worker::process_next_batch`].
    pub async fn drain(&self) -> Result<usize, ProjectionError> {
        let mut total = 0;
        while let Outcome::Processed(n) = self.process_next_batch().await? {
            total += n;
        }
        Ok(total)
    }

    /// Runs while this instance holds the subscription's lock; waits as a standby otherwise. Returns
    /// `Ok` when `stop` turns true, the error of a failed batch otherwise (the supervisor restarts it).
    ///
    /// # Errors
    /// A failed batch; nothing of it was applied.
    pub async fn run(
        &self,
        poll: Duration,
        stop: watch::Receiver<bool>,
        heartbeat: &Heartbeat,
    ) -> anyhow::Result<()> {
        run_subscription(
            &self.pool,
            &self.subscription,
            poll,
            stop,
            heartbeat,
            || self.process_next_batch(),
        )
        .await
    }
}
