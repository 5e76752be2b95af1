//! The process-wide wake-up of the event streams: one `LISTEN` per process on the `events` insert
//! notification, run as a supervised worker. Streams poll while it is down.

use std::time::Duration;

use infra::event_log::EVENTS_CHANNEL;
use infra::supervisor::Heartbeat;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::config::FeedSettings;

/// The process-wide wake-up: bumped on every `events` insert notification.
#[derive(Debug)]
pub struct Hub {
    wake: watch::Sender<u64>,
    settings: FeedSettings,
}

impl Hub {
    /// A hub with these settings.
    pub fn new(settings: FeedSettings) -> Self {
        Self {
            wake: watch::Sender::new(0),
            settings,
        }
    }

    /// Listens for appended events until stopped (a supervised worker); streams poll while it is down.
    ///
    /// # Errors
    /// When the connection fails; the supervisor starts it again.
    pub async fn listen(
        &self,
        pool: &PgPool,
        beat: Heartbeat,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        beat.beat();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = stop.changed() => {
                    if *stop.borrow() {
                        return Ok(());
                    }
                }
                _ = tick.tick() => beat.beat(),
                received = listener.try_recv() => match received? {
                    Some(_) => {
                        self.wake.send_modify(|n| *n = n.wrapping_add(1));
                        beat.beat();
                    }
                    None => anyhow::bail!("the notification connection was lost"),
                },
            }
        }
    }

    /// How streams read and wait.
    pub fn settings(&self) -> &FeedSettings {
        &self.settings
    }

    /// A receiver that changes on every notification.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }
}
