//! One projection's subscription: a step that applies the next batch exactly once, and the loop that
//! runs it while this instance holds the subscription (standby otherwise).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use infra::cache::Cache;
use infra::event_log::{Outcome, Subscription, read_after, run_subscription};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::projections::{Batch, Invalidation, Projection, ProjectionError};

/// Runs one projection.
#[derive(Debug, Clone)]
pub struct Worker {
    pool: PgPool,
    projection: Projection,
    subscription: Subscription,
    cache: Arc<Cache>,
    batch_size: i64,
}

impl Worker {
    /// A worker for `projection` under its own subscription name.
    pub fn new(pool: PgPool, projection: Projection, cache: Arc<Cache>, batch_size: i64) -> Self {
        Self::with_subscription(
            pool,
            projection,
            Subscription::new(projection.name()),
            cache,
            batch_size,
        )
    }

    /// A worker under another subscription name (a replay's shadow run).
    pub fn with_subscription(
        pool: PgPool,
        projection: Projection,
        subscription: Subscription,
        cache: Arc<Cache>,
        batch_size: i64,
    ) -> Self {
        Self {
            pool,
            projection,
            subscription,
            cache,
            batch_size: batch_size.max(1),
        }
    }

    /// Its subscription.
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// Applies the next batch and moves the checkpoint in one transaction, then invalidates the cache.
    ///
    /// # Errors
    /// [`ProjectionError`]; nothing of the batch is applied then.
    pub async fn process_next_batch(&self) -> Result<Outcome, ProjectionError> {
        let started = Instant::now();
        let mut tx = self.pool.begin().await?;
        let checkpoint = self.subscription.checkpoint_for_update(&mut tx).await?;
        let events = read_after(&mut *tx, checkpoint, self.batch_size).await?;
        let Some(last) = events.last().map(infra::event_log::StoredEvent::position) else {
            tx.commit().await?;
            return Ok(Outcome::Idle);
        };
        let mut invalidations = BTreeSet::new();
        let mut batch = Batch::default();
        for event in &events {
            invalidations.extend(self.projection.apply(&mut tx, event, &mut batch).await?);
        }
        self.projection.finish(&mut tx, batch).await?;
        self.subscription.save_checkpoint(&mut tx, last).await?;
        tx.commit().await?;
        self.invalidate(invalidations).await;
        let name = self.subscription.name().to_owned();
        metrics::counter!("projector_events_total", "subscription" => name.clone())
            .increment(events.len() as u64);
        metrics::histogram!("projector_batch_seconds", "subscription" => name)
            .record(started.elapsed().as_secs_f64());
        Ok(Outcome::Processed(events.len()))
    }

    async fn invalidate(&self, invalidations: BTreeSet<Invalidation>) {
        let mut seat_maps = std::collections::BTreeMap::new();
        let mut search = false;
        for invalidation in invalidations {
            match invalidation {
                Invalidation::Search => search = true,
                Invalidation::SeatMap(flight, version) => {
                    let highest = seat_maps.entry(flight).or_insert(version);
                    *highest = (*highest).max(version);
                }
            }
        }
        if search {
            self.cache.bump("search").await;
        }
        for (flight, version) in seat_maps {
            self.cache
                .raise_version(&format!("seatmap:{flight}"), version)
                .await;
        }
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

    /// Runs while this instance holds the subscription's lock; waits as a standby otherwise. Stops when
    /// `stop` turns true.
    pub async fn run(self, poll: Duration, stop: watch::Receiver<bool>) {
        let (pool, subscription) = (self.pool.clone(), self.subscription.clone());
        run_subscription(&pool, &subscription, poll, stop, || {
            self.process_next_batch()
        })
        .await;
    }
}
