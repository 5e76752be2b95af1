//! RabbitMQ plumbing shared by the relay and the notifier: settings, connecting, the events exchange,
//! and the message every event travels as.

use chrono::{DateTime, Utc};
use lapin::options::ExchangeDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event_log::StoredEvent;

/// Where the broker is and how names are made.
#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    /// `amqp://user:pass@host:port/vhost`.
    pub url: String,
    /// The topic exchange every event is published to.
    pub exchange: String,
    /// Prefix of the notifier's queue names.
    pub queue_prefix: String,
    /// Tests: queues and exchanges vanish this long after their last use. `None` in production.
    #[serde(default)]
    pub expires_ms: Option<u32>,
    /// Bound on connecting, on one publish and on a batch's confirms: a broker that accepts and then
    /// stops answering fails the step instead of hanging it.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

const fn default_timeout_ms() -> u64 {
    5_000
}

impl AmqpSettings {
    /// [`AmqpSettings::timeout_ms`].
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms.max(1))
    }
}

/// Why talking to the broker failed.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    /// The broker refused or the connection broke.
    #[error("amqp: {0}")]
    Broker(#[from] lapin::Error),
    /// The broker did not confirm a publish.
    #[error("the broker refused message {0}")]
    Nacked(String),
    /// A message body that is not an event.
    #[error("message does not decode: {0}")]
    Decode(#[from] serde_json::Error),
    /// The broker did not answer within [`AmqpSettings::timeout`].
    #[error("the broker did not answer in time ({0})")]
    Timeout(&'static str),
}

/// Connects to the broker.
///
/// # Errors
/// [`AmqpError::Broker`].
pub async fn connect(settings: &AmqpSettings, name: &str) -> Result<Connection, AmqpError> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    tokio::time::timeout(
        settings.timeout(),
        Connection::connect(&settings.url, properties),
    )
    .await
    .map_err(|_| AmqpError::Timeout("connect"))?
    .map_err(AmqpError::from)
}

/// `future` bounded by the settings' timeout; `what` names the step in the error.
///
/// # Errors
/// [`AmqpError::Timeout`], or the future's own error.
pub async fn bounded<T, E: Into<AmqpError>>(
    settings: &AmqpSettings,
    what: &'static str,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, AmqpError> {
    tokio::time::timeout(settings.timeout(), future)
        .await
        .map_err(|_| AmqpError::Timeout(what))?
        .map_err(Into::into)
}

/// Declares the durable topic exchange (auto-deleted in tests).
///
/// # Errors
/// [`AmqpError::Broker`].
pub async fn declare_exchange(channel: &Channel, settings: &AmqpSettings) -> Result<(), AmqpError> {
    let options = ExchangeDeclareOptions {
        durable: true,
        auto_delete: settings.expires_ms.is_some(),
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            ShortString::from(settings.exchange.as_str()),
            ExchangeKind::Topic,
            options,
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Queue arguments: `x-expires` in tests, plus `extra`.
pub fn queue_arguments(settings: &AmqpSettings, extra: &[(&str, AMQPValue)]) -> FieldTable {
    let mut table = FieldTable::default();
    if let Some(ms) = settings.expires_ms {
        table.insert("x-expires".into(), AMQPValue::LongUInt(ms));
    }
    for (key, value) in extra {
        table.insert((*key).into(), value.clone());
    }
    table
}

/// A string header value.
pub fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// An event as it travels on the broker: the stored event and its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventMessage {
    /// Event id (also the AMQP `message_id`).
    pub event_id: Uuid,
    /// `flight`, `booking`, ...
    pub aggregate_type: String,
    /// The aggregate's id.
    pub aggregate_id: String,
    /// Version of the aggregate after this event.
    pub sequence: i64,
    /// Variant name.
    pub event_type: String,
    /// Payload schema version.
    pub event_version: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who and why: `user_id`, `role`, `correlation_id`, `causation_id`, `command`.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// The event.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl EventMessage {
    /// The routing key: `<aggregate>.<EventType>`, e.g. `booking.BookingConfirmed`.
    pub fn routing_key(&self) -> String {
        crate::topic::routing_key(&self.aggregate_type, &self.event_type)
    }

    /// The request id that started it, if any.
    pub fn correlation_id(&self) -> Option<&str> {
        self.metadata.get("correlation_id").and_then(|v| v.as_str())
    }
}

impl From<StoredEvent> for EventMessage {
    fn from(e: StoredEvent) -> Self {
        Self {
            event_id: e.event_id,
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            recorded_at: e.recorded_at,
            metadata: e.metadata,
            payload: e.payload,
        }
    }
}
