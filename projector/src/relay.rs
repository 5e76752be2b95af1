//! The relay: the events table is the outbox, and this subscription publishes every event to the topic
//! exchange (routing key `<aggregate>.<EventType>`), persistent, with `message_id` = event id and the
//! correlation id and event type in headers. Its checkpoint moves only after the broker confirmed every
//! message of the batch, so a crash or a dropped connection republishes (at least once) and never skips.

use infra::amqp::{AmqpError, AmqpSettings, EventMessage, declare_exchange, text};
use infra::event_log::{Outcome, Subscription, read_after};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use sqlx::PgPool;
use tokio::sync::Mutex;

/// The relay's subscription name.
pub const SUBSCRIPTION: &str = "relay";

/// Why a relay step failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The broker.
    #[error(transparent)]
    Amqp(#[from] AmqpError),
    /// The broker, directly.
    #[error("amqp: {0}")]
    Broker(#[from] lapin::Error),
    /// The database.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Publishes the log to RabbitMQ.
pub struct Relay {
    pool: PgPool,
    settings: AmqpSettings,
    subscription: Subscription,
    batch_size: i64,
    link: Mutex<Option<(Connection, Channel)>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("exchange", &self.settings.exchange)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay publishing to `settings.exchange`.
    pub fn new(pool: PgPool, settings: AmqpSettings, batch_size: i64) -> Self {
        Self {
            pool,
            settings,
            subscription: Subscription::new(SUBSCRIPTION),
            batch_size: batch_size.max(1),
            link: Mutex::new(None),
        }
    }

    /// Its subscription.
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    async fn channel(&self) -> Result<Channel, RelayError> {
        let mut link = self.link.lock().await;
        if let Some((connection, channel)) = link.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let connection = infra::amqp::connect(&self.settings, "airline-relay").await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        declare_exchange(&channel, &self.settings).await?;
        *link = Some((connection, channel.clone()));
        tracing::info!(exchange = %self.settings.exchange, "relay connected to the broker");
        Ok(channel)
    }

    /// Forgets the connection, so the next step reconnects.
    pub async fn disconnect(&self) {
        if let Some((connection, _)) = self.link.lock().await.take() {
            let _ = connection.close(200, "bye".into()).await;
        }
    }

    /// Publishes the next batch and, once every message is confirmed, moves the checkpoint.
    ///
    /// # Errors
    /// [`RelayError`]; the checkpoint stays and the connection is dropped for the next attempt.
    pub async fn process_next_batch(&self) -> Result<Outcome, RelayError> {
        let result = self.publish_batch().await;
        if result.is_err() {
            self.link.lock().await.take();
        }
        result
    }

    async fn publish_batch(&self) -> Result<Outcome, RelayError> {
        let channel = self.channel().await?;
        let mut tx = self.pool.begin().await?;
        let checkpoint = self.subscription.checkpoint_for_update(&mut tx).await?;
        let events = read_after(&mut *tx, checkpoint, self.batch_size).await?;
        let Some(last) = events.last().map(infra::event_log::StoredEvent::position) else {
            tx.commit().await?;
            return Ok(Outcome::Idle);
        };
        let count = events.len();
        let mut confirms = Vec::with_capacity(count);
        for event in events {
            let message = EventMessage::from(event);
            let body = serde_json::to_vec(&message).map_err(AmqpError::from)?;
            let confirm = channel
                .basic_publish(
                    ShortString::from(self.settings.exchange.as_str()),
                    ShortString::from(message.routing_key()),
                    BasicPublishOptions::default(),
                    &body,
                    properties(&message),
                )
                .await?;
            confirms.push((message.event_id, confirm));
        }
        for (event_id, confirm) in confirms {
            match confirm.await? {
                Confirmation::Ack(_) => {}
                Confirmation::Nack(_) | Confirmation::NotRequested => {
                    return Err(AmqpError::Nacked(event_id.to_string()).into());
                }
            }
        }
        self.subscription.save_checkpoint(&mut tx, last).await?;
        tx.commit().await?;
        metrics::counter!("relay_published_total").increment(count as u64);
        Ok(Outcome::Processed(count))
    }
}

fn properties(message: &EventMessage) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("event_type".into(), text(&message.event_type));
    headers.insert("aggregate_type".into(), text(&message.aggregate_type));
    headers.insert("aggregate_id".into(), text(&message.aggregate_id));
    headers.insert("sequence".into(), AMQPValue::LongLongInt(message.sequence));
    let correlation = message.correlation_id().unwrap_or_default();
    headers.insert("correlation_id".into(), text(correlation));
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(message.event_id.to_string().into())
        .with_correlation_id(correlation.into())
        .with_type(message.event_type.as_str().into())
        .with_timestamp(message.recorded_at.timestamp().max(0) as u64)
        .with_headers(headers)
}
