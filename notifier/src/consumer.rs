//! The consumer loop shared by the email and webhook consumers: decode, handle, then ack. A retryable
//! failure goes to the next delay queue (which expires it back into the main queue), and after the last
//! one to the dead-letter queue; a message that cannot be decoded goes there directly. Every such
//! republish is confirmed by the broker before the original is acked, so nothing is lost in between.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use infra::amqp::{AmqpError, AmqpSettings, EventMessage, bounded, text};
use infra::supervisor::Heartbeat;
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

/// The aggregate a delivery is about (the relay's `aggregate_type` and `aggregate_id` headers).
fn ordering_key(delivery: &Delivery) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?.inner();
    let text = |name: &str| match headers.get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        _ => None,
    };
    Some(format!(
        "{}:{}",
        text("aggregate_type")?,
        text("aggregate_id")?
    ))
}

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

/// Messages in hand at once per consumer (the channel's prefetch). Exactly once per notification comes
/// from the inbox and the claims, not from handling one message at a time.
pub const IN_FLIGHT: u16 = 32;

/// Without deliveries, a consumer still beats this often (it is waiting, not stuck).
const IDLE_BEAT: Duration = Duration::from_secs(1);

/// Consumes `handler`'s queue until `stop`, up to [`IN_FLIGHT`] messages in hand (in order per aggregate). Returns `Ok` once
/// stopped (after the messages in hand are settled) and the broker's error when the connection breaks:
/// the supervisor counts it and reconnects after a backoff.
///
/// # Errors
/// [`AmqpError`].
pub async fn run<H: Handler>(
    handler: Arc<H>,
    settings: AmqpSettings,
    delays_ms: Vec<u32>,
    beat: Heartbeat,
    mut stop: watch::Receiver<bool>,
) -> Result<(), AmqpError> {
    let name = handler.name();
    let connection = infra::amqp::connect(&settings, &format!("airline-notifier-{name}")).await?;
    let channel = bounded(&settings, "open a channel", connection.create_channel()).await?;
    bounded(
        &settings,
        "confirm select",
        channel.confirm_select(ConfirmSelectOptions::default()),
    )
    .await?;
    let queues = bounded(
        &settings,
        "declare the queues",
        topology::declare(&channel, &settings, name, handler.bindings(), &delays_ms),
    )
    .await?;
    bounded(
        &settings,
        "set the prefetch",
        channel.basic_qos(IN_FLIGHT, BasicQosOptions::default()),
    )
    .await?;
    let mut consumer = bounded(
        &settings,
        "start consuming",
        channel.basic_consume(
            ShortString::from(queues.main.as_str()),
            ShortString::from(format!("{name}-{}", uuid::Uuid::new_v4())),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ),
    )
    .await?;
    beat.beat();
    // Messages of one aggregate are handled one after the other, in queue order (a passenger gets
    // "seat changed" before "cancelled"); different aggregates go at once. A key is in `waiting` while
    // one of its messages is in flight, with the ones queued behind it.
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut waiting: HashMap<String, VecDeque<Delivery>> = HashMap::new();
    let start = |key: Option<String>, delivery: Delivery| {
        let (handler, channel, queues) = (&*handler, &channel, &queues);
        let settings = &settings;
        async move {
            (
                key,
                process(handler, channel, queues, settings, delivery).await,
            )
        }
    };
    let result = loop {
        tokio::select! {
            _ = stop.changed() => break Ok(()),
            Some((key, done)) = in_flight.next(), if !in_flight.is_empty() => {
                if let Err(e) = done {
                    break Err(e);
                }
                beat.beat();
                if let Some(key) = key {
                    match waiting.get_mut(&key).and_then(VecDeque::pop_front) {
                        Some(next) => in_flight.push(start(Some(key), next)),
                        None => {
                            waiting.remove(&key);
                        }
                    }
                }
            }
            // The channel's prefetch bounds how many deliveries are in hand.
            next = consumer.next() => match next {
                Some(Ok(delivery)) => match ordering_key(&delivery) {
                    Some(key) => match waiting.get_mut(&key) {
                        Some(queued) => queued.push_back(delivery),
                        None => {
                            waiting.insert(key.clone(), VecDeque::new());
                            in_flight.push(start(Some(key), delivery));
                        }
                    },
                    None => in_flight.push(start(None, delivery)),
                },
                Some(Err(e)) => break Err(e.into()),
                None => break Err(AmqpError::Nacked("the consumer was cancelled".to_owned())),
            },
            // Idle, it beats on its own; with messages in hand only their completion counts, so a
            // handler hanging on a dependency shows as stuck.
            () = tokio::time::sleep(IDLE_BEAT), if in_flight.is_empty() => beat.beat(),
        }
    };
    // Settle what is in hand; the deliveries queued behind it are redelivered when the channel closes.
    while let Some((_, done)) = in_flight.next().await {
        if let Err(e) = done {
            tracing::warn!(consumer = name, error.message = %e, "settling a message failed");
        }
    }
    let _ = tokio::time::timeout(settings.timeout(), connection.close(200, "bye".into())).await;
    result
}

async fn process<H: Handler>(
    handler: &H,
    channel: &Channel,
    queues: &Queues,
    settings: &AmqpSettings,
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
                settings,
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
                settings,
                channel,
                &queues.dead,
                &delivery,
                attempt + 1,
                &e.to_string(),
            )
            .await?;
        }
    }
    bounded(
        settings,
        "ack",
        delivery.acker.ack(BasicAckOptions::default()),
    )
    .await?;
    Ok(())
}

async fn republish(
    settings: &AmqpSettings,
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
    publish(settings, channel, queue, &delivery.data, properties).await
}

/// Publishes to `queue` and waits for the broker's confirm, both within the settings' timeout.
async fn publish(
    settings: &AmqpSettings,
    channel: &Channel,
    queue: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), AmqpError> {
    let confirm = bounded(
        settings,
        "publish",
        channel.basic_publish(
            "".into(),
            ShortString::from(queue),
            BasicPublishOptions::default(),
            body,
            properties,
        ),
    )
    .await?;
    match bounded(settings, "confirm", confirm).await? {
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
        publish(settings, &channel, &queues.main, &delivery.data, properties).await?;
        delivery.acker.ack(BasicAckOptions::default()).await?;
        moved += 1;
    }
    let _ = connection.close(200, "requeued".into()).await;
    Ok(moved)
}
