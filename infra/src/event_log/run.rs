//! Following the log: the insert notification that wakes a subscriber, and the loop that runs a
//! subscription's step while this instance holds its lock.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::subscription::Subscription;

/// The channel the `events` insert trigger notifies.
pub const EVENTS_CHANNEL: &str = "airline_events";

/// What one step of a log-following worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handled this many items.
    Processed(usize),
    /// Nothing to do.
    Idle,
}

/// Wakes a subscriber when events are appended (LISTEN/NOTIFY), or after `poll` at the latest.
#[derive(Debug)]
pub struct Wakeup {
    listener: Option<PgListener>,
    pool: PgPool,
    poll: Duration,
}

impl Wakeup {
    /// Listens on [`EVENTS_CHANNEL`]; when listening fails it still wakes every `poll`.
    pub async fn new(pool: &PgPool, poll: Duration) -> Self {
        let listener = Self::listen(pool).await;
        Self {
            listener,
            pool: pool.clone(),
            poll,
        }
    }

    async fn listen(pool: &PgPool) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(pool).await.ok()?;
        listener.listen(EVENTS_CHANNEL).await.ok()?;
        Some(listener)
    }

    /// Waits for a notification or the poll interval, whichever comes first.
    pub async fn wait(&mut self) {
        if self.listener.is_none() {
            self.listener = Self::listen(&self.pool).await;
        }
        let Some(listener) = self.listener.as_mut() else {
            tokio::time::sleep(self.poll).await;
            return;
        };
        match tokio::time::timeout(self.poll, listener.recv()).await {
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => {
                tracing::warn!(error.message = %e, "event notification listener failed; polling");
                self.listener = None;
            }
        }
    }
}

/// Runs `step` for as long as this instance holds `subscription`'s lock, waiting as a standby
/// otherwise; wakes on new events (or every `poll`) and beats `heartbeat` after every step. Returns
/// `Ok` once `stop` is true (between steps), and the error of a failed step, letting the lock go (its
/// session may have died with the database): the supervisor backs off and starts it again.
///
/// # Errors
/// The failed step's error, or the database's when the lock cannot be tried.
pub async fn run_subscription<F, Fut, E>(
    pool: &PgPool,
    subscription: &Subscription,
    poll: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    heartbeat: &crate::supervisor::Heartbeat,
    mut step: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Outcome, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let lock = loop {
        if *stop.borrow() {
            return Ok(());
        }
        if let Some(lock) = subscription.try_lock(pool).await? {
            break lock;
        }
        heartbeat.standby();
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            () = tokio::time::sleep(poll) => {}
        }
    };
    tracing::info!(subscription = subscription.name(), "subscription active");
    let mut wakeup = Wakeup::new(pool, poll).await;
    loop {
        if *stop.borrow() {
            drop(lock);
            return Ok(());
        }
        match step().await? {
            Outcome::Processed(_) => {
                heartbeat.beat();
                continue;
            }
            Outcome::Idle => heartbeat.beat(),
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() {
                // The supervisor is gone: stop as if asked.
                return Ok(());
            },
            () = wakeup.wait() => {}
        }
    }
}
