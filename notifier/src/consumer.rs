//! The consumer loop shared by the email and webhook consumers: decode, handle, then ack. A retryable
//! failure goes to the next delay queue (which expires it back into the main queue), and after the last
//! one to the dead-letter queue; a message that cannot be decoded goes there directly. Every such
//! republish is confirmed by the broker before the original is acked, so nothing is lost in between.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use infra::amqp::{AmqpError, AmqpSettings, EventMessage, text};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::watch;
use tracing::Instrument;

use crate::topology::{self, Queues};

/// Why handling a message failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Worth another try later (an SMTP server or endpoint down, the database busy).
    #[error("retryable: {0}")]
    Retry(String),
    /// Never going to work (the message is malformed): dead-letter at once.
    #[error("poison: {0}")]
    Poison(String),
}

impl StepError {
    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retry(_))
    }
}

/// Something that turns events into side effects.
pub trait Handler: Send + Sync + 'static {
    /// Consumer name: the queue suffix and the inbox key.
    fn name(&self) -> &'static str;
    /// Routing keys the queue binds.
    fn bindings(&self) -> &'static [&'static str];
    /// Handles one event; must be safe to call again for the same event.
    fn handle(&self, message: &EventMessage) -> impl Future<Output = Result<(), StepError>> + Send;
}

const ATTEMPT: &str = "x-attempt";

fn attempt_of(delivery: &Delivery) -> usize {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(ATTEMPT).cloned())
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => usize::try_from(n).ok(),
            AMQPValue::LongInt(n) => usize::try_from(n).ok(),
            _ => None,
        })
        .unwrap_or(0)
}

/// Runs `handler` on its queue until `stop`, reconnecting after broker failures. `connected` reports
/// whether it is currently consuming (readiness).
pub async fn run<H: Handler>(
    handler: Arc<H>,
    settings: AmqpSettings,
    delays_ms: Vec<u32>,
    connected: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let result = consume(&*handler, &settings, &delays_ms, &connected, &mut stop).await;
        connected.store(false, Ordering::SeqCst);
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(consumer = handler.name(), error.message = %e, "consumer lost the broker; reconnecting");
                tokio::select! {
                    _ = stop.changed() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn consume<H: Handler>(
    handler: &H,
    settings: &AmqpSettings,
    delays_ms: &[u32],
    connected: &AtomicBool,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), AmqpError> {
    let connection =
        infra::amqp::connect(settings, &format!("airline-notifier-{}", handler.name())).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queues = topology::declare(
        &channel,
        settings,
        handler.name(),
        handler.bindings(),
        delays_ms,
    )
    .await?;
    channel.basic_qos(16, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(
            ShortString::from(queues.main.as_str()),
            ShortString::from(format!("{}-{}", handler.name(), uuid::Uuid::new_v4())),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    connected.store(true, Ordering::SeqCst);
    loop {
        let delivery = tokio::select! {
            _ = stop.changed() => {
                let _ = connection.close(200, "shutting down".into()).await;
                return Ok(());
            }
            next = consumer.next() => match next {
                Some(delivery) => delivery?,
                None => return Err(AmqpError::Nacked("the consumer was cancelled".to_owned())),
            },
        };
        process(handler, &channel, &queues, delivery).await?;
    }
}

async fn process<H: Handler>(
    handler: &H,
    channel: &Channel,
    queues: &Queues,
    delivery: Delivery,
) -> Result<(), AmqpError> {
    let attempt = attempt_of(&delivery);
    let outcome = match serde_json::from_slice::<EventMessage>(&delivery.data) {
        Ok(message) => {
            let span = tracing::info_span!("notify", consumer = handler.name(), event_id = %message.event_id,
                correlation_id = message.correlation_id().unwrap_or_default(), attempt);
            handler.handle(&message).instrument(span).await
        }
        Err(e) => Err(StepError::Poison(format!("not an event message: {e}"))),
    };
    let consumer = handler.name();
    match outcome {
        Ok(()) => {
            metrics::counter!("notifier_handled_total", "consumer" => consumer).increment(1);
        }
        Err(e) if e.is_retryable() && attempt < queues.retries.len() => {
            metrics::counter!("notifier_retried_total", "consumer" => consumer).increment(1);
            tracing::warn!(consumer, attempt, error.message = %e, "will retry");
            republish(
                channel,
                &queues.retries[attempt],
                &delivery,
                attempt + 1,
                &e.to_string(),
            )
            .await?;
        }
        Err(e) => {
            metrics::counter!("notifier_dead_lettered_total", "consumer" => consumer).increment(1);
            tracing::error!(consumer, attempt, error.message = %e, "dead-lettered");
            republish(
                channel,
                &queues.dead,
                &delivery,
                attempt + 1,
                &e.to_string(),
            )
            .await?;
        }
    }
    delivery.acker.ack(BasicAckOptions::default()).await?;
    Ok(())
}

async fn republish(
    channel: &Channel,
    queue: &str,
    delivery: &Delivery,
    attempt: usize,
    error: &str,
) -> Result<(), AmqpError> {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(ATTEMPT.into(), AMQPValue::LongLongInt(attempt as i64));
    headers.insert("x-last-error".into(), text(error));
    let properties = delivery.properties.clone().with_headers(headers);
    publish(channel, queue, &delivery.data, properties).await
}

async fn publish(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), AmqpError> {
    let confirm = channel
        .basic_publish(
            "".into(),
            ShortString::from(queue),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await?;
    match confirm.await? {
        Confirmation::Ack(_) => Ok(()),
        Confirmation::Nack(_) | Confirmation::NotRequested => {
            Err(AmqpError::Nacked(queue.to_owned()))
        }
    }
}

/// A dead-lettered message, for operators.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    /// The event.
    pub message: EventMessage,
    /// Attempts made.
    pub attempts: usize,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Up to `limit` dead letters of `consumer`, left in place.
///
/// # Errors
/// [`AmqpError`].
pub async fn dead_letters(
    settings: &AmqpSettings,
    consumer: &str,
    limit: usize,
) -> Result<Vec<DeadLetter>, AmqpError> {
    let connection = infra::amqp::connect(settings, "airline-dead-letters").await?;
    let channel = connection.create_channel().await?;
    let queue = topology::names(settings, consumer, 0).dead;
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(got) = channel
            .basic_get(
                ShortString::from(queue.as_str()),
                BasicGetOptions::default(),
            )
            .await?
        else {
            break;
        };
        let delivery = got.delivery;
        let last_error = delivery
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get("x-last-error").cloned())
            .and_then(|v| match v {
                AMQPValue::LongString(s) => Some(s.to_string()),
                _ => None,
            });
        let attempts = attempt_of(&delivery);
        if let Ok(message) = serde_json::from_slice(&delivery.data) {
            out.push(DeadLetter {
                message,
                attempts,
                last_error,
            });
        }
    }
    // Unacked messages go back to the queue when the channel closes.
    let _ = connection.close(200, "listed".into()).await;
    Ok(out)
}

/// Moves every dead letter of `consumer` back to its main queue with a fresh attempt count.
///
/// # Errors
/// [`AmqpError`].
pub async fn requeue_dead_letters(
    settings: &AmqpSettings,
    consumer: &str,
) -> Result<usize, AmqpError> {
    let connection = infra::amqp::connect(settings, "airline-dead-letters").await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let queues = topology::names(settings, consumer, 0);
    let mut moved = 0;
    while let Some(got) = channel
        .basic_get(
            ShortString::from(queues.dead.as_str()),
            BasicGetOptions::default(),
        )
        .await?
    {
        let delivery = got.delivery;
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        headers.insert(ATTEMPT.into(), AMQPValue::LongLongInt(0));
        let properties = delivery.properties.clone().with_headers(headers);
        publish(&channel, &queues.main, &delivery.data, properties).await?;
        delivery.acker.ack(BasicAckOptions::default()).await?;
        moved += 1;
    }
    let _ = connection.close(200, "requeued".into()).await;
    Ok(moved)
}
