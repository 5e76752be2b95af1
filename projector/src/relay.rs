//! The relay: the events table is the outbox, and this subscription publishes every event to the topic
//! exchange (routing key `<aggregate>.<EventType>`), persistent, with `message_id` = event id and the
//! correlation id and event type in headers. Its checkpoint moves only after the broker confirmed every
//! message of the batch, so a crash or a dropped connection republishes (at least once) and never skips.
//! Publishes are `mandatory`: an event no queue is bound for comes back and is kept in `relay_unroutable`
//! to be offered again.

use std::time::{Duration, Instant};

use infra::amqp::{AmqpError, AmqpSettings, EventMessage, bounded, declare_exchange, text};
use infra::event_log::{Outcome, Position, StoredEvent, Subscription, read_after};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, PublisherConfirm};
use sqlx::PgPool;
use tokio::sync::Mutex;
use uuid::Uuid;

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
    /// The checkpoint moved while this step published (another relay took over): it republished at
    /// most a batch, and the next step reads from the new checkpoint.
    #[error("the relay checkpoint moved during the step")]
    Moved,
}

/// How often events the broker returned are offered to it again.
const UNROUTABLE_RETRY: Duration = Duration::from_secs(30);

/// Publishes the log to RabbitMQ.
pub struct Relay {
    pool: PgPool,
    settings: AmqpSettings,
    subscription: Subscription,
    batch_size: i64,
    link: Mutex<Option<(Connection, Channel)>>,
    last_unroutable_retry: Mutex<Option<Instant>>,
    /// The batch after a full one, already sent while that one's confirms were awaited: the next step
    /// awaits its confirms when the checkpoint is still where it was read from.
    ahead: Mutex<Option<Sent>>,
}

/// A batch sent to the broker whose confirms are pending.
struct Sent {
    /// Read after this position ...
    from: Position,
    /// ... up to this one.
    last: Position,
    /// Each event's confirm; `None` once it was taken early (see [`Relay::publish_batch`]).
    confirms: Vec<(Uuid, Option<PublisherConfirm>)>,
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
            last_unroutable_retry: Mutex::new(None),
            ahead: Mutex::new(None),
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
        let settings = &self.settings;
        let connection = infra::amqp::connect(settings, "airline-relay").await?;
        let channel = bounded(settings, "open a channel", connection.create_channel()).await?;
        bounded(
            settings,
            "confirm select",
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        bounded(
            settings,
            "declare the exchange",
            declare_exchange(&channel, settings),
        )
        .await?;
        *link = Some((connection, channel.clone()));
        tracing::info!(exchange = %self.settings.exchange, "relay connected to the broker");
        Ok(channel)
    }

    /// Forgets the connection, so the next step reconnects.
    pub async fn disconnect(&self) {
        if let Some((connection, _)) = self.link.lock().await.take() {
            let _ =
                tokio::time::timeout(self.settings.timeout(), connection.close(200, "bye".into()))
                    .await;
        }
    }

    /// Publishes the next batch and, once every message is confirmed, moves the checkpoint. No
    /// transaction is open while the broker is awaited (an open one would hold back the commit-order
    /// horizon of every subscriber); the checkpoint moves afterwards in a short one, only from where this
    /// step read it. Every broker call is bounded by the settings' timeout.
    ///
    /// # Errors
    /// [`RelayError`]; the checkpoint stays and the connection is dropped for the next attempt.
    pub async fn process_next_batch(&self) -> Result<Outcome, RelayError> {
        let result = self.publish_batch().await;
        if result.is_err() {
            self.link.lock().await.take();
            self.ahead.lock().await.take();
        }
        result
    }

    async fn publish_batch(&self) -> Result<Outcome, RelayError> {
        let checkpoint = {
            let mut conn = self.pool.acquire().await?;
            self.subscription.checkpoint(&mut conn).await?
        };
        // Commit order only grows at its end: what a read after `checkpoint` returned earlier is what
        // a read now would start with, so a batch sent ahead from there is as good as a fresh one.
        let ahead = self.ahead.lock().await.take();
        let current = match ahead {
            Some(sent) if sent.from == checkpoint => sent,
            _ => {
                let events = read_after(&self.pool, checkpoint, self.batch_size).await?;
                if events.is_empty() {
                    self.retry_unroutable().await?;
                    return Ok(Outcome::Idle);
                }
                self.send(checkpoint, events).await?
            }
        };
        let (count, last) = (current.confirms.len(), current.last);
        // A full batch means more is waiting: read and send the next one before awaiting this one's
        // confirms, so the broker is never idle while the relay waits.
        let mut next = if count as i64 >= self.batch_size {
            let events = read_after(&self.pool, last, self.batch_size).await?;
            if events.is_empty() {
                None
            } else {
                Some(self.send(last, events).await?)
            }
        } else {
            None
        };
        let mut returned = self.confirmed(current.confirms).await?;
        // One ack can cover the end of this batch and the start of the next, and lapin hands a
        // returned message to whichever covered confirm it resolves first: a return of this batch may
        // sit on a confirm of the next. Every such confirm has resolved by now (a return arrives
        // before its ack), so taking the next batch's resolved confirms records each return of this
        // batch with this checkpoint. A nack there sends the next batch again from a fresh read.
        if let Some(sent) = next.as_mut() {
            match take_resolved(&mut sent.confirms) {
                Ok(early) => {
                    if !early.is_empty() {
                        metrics::counter!("relay_unroutable_total").increment(early.len() as u64);
                    }
                    returned.extend(early);
                }
                Err(e) => {
                    tracing::warn!(error.message = %e, "a nack in the batch sent ahead; it is sent again");
                    next = None;
                }
            }
        }
        let mut tx = self.pool.begin().await?;
        // A checkpoint lost in a database crash only republishes (at least once, as after any
        // crash): no need to wait for it to reach the disk.
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        record_returns(&mut tx, &returned).await?;
        if !self.subscription.advance(&mut tx, checkpoint, last).await? {
            return Err(RelayError::Moved);
        }
        tx.commit().await?;
        *self.ahead.lock().await = next;
        metrics::counter!("relay_published_total").increment(count as u64);
        Ok(Outcome::Processed(count))
    }

    /// Publishes `events` and waits for their confirms. Returns the events the broker returned as
    /// unroutable.
    async fn publish(&self, events: Vec<StoredEvent>) -> Result<Vec<(Uuid, String)>, RelayError> {
        let sent = self.send(Position::default(), events).await?;
        self.confirmed(sent.confirms).await
    }

    /// Publishes `events` (read after `from`) pipelined, every publish sent before any confirm is
    /// awaited, `mandatory`.
    async fn send(&self, from: Position, events: Vec<StoredEvent>) -> Result<Sent, RelayError> {
        let settings = &self.settings;
        let channel = self.channel().await?;
        let last = events.last().map_or(from, StoredEvent::position);
        let mut confirms = Vec::with_capacity(events.len());
        for event in events {
            let message = EventMessage::from(event);
            let body = serde_json::to_vec(&message).map_err(AmqpError::from)?;
            let routing_key = message.routing_key();
            let options = BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            };
            let confirm = bounded(
                settings,
                "publish",
                channel.basic_publish(
                    ShortString::from(settings.exchange.as_str()),
                    ShortString::from(routing_key.as_str()),
                    options,
                    &body,
                    properties(&message),
                ),
            )
            .await?;
            confirms.push((message.event_id, Some(confirm)));
        }
        Ok(Sent {
            from,
            last,
            confirms,
        })
    }

    /// Waits for `confirms` under one deadline. Returns the events the broker returned as unroutable.
    async fn confirmed(
        &self,
        confirms: Vec<(Uuid, Option<PublisherConfirm>)>,
    ) -> Result<Vec<(Uuid, String)>, RelayError> {
        let deadline = tokio::time::Instant::now() + self.settings.timeout();
        let mut returned = Vec::new();
        for (event_id, confirm) in confirms {
            let Some(confirm) = confirm else { continue };
            let confirmation = tokio::time::timeout_at(deadline, confirm)
                .await
                .map_err(|_| AmqpError::Timeout("confirm"))?
                .map_err(AmqpError::from)?;
            judge(event_id, confirmation, &mut returned)?;
        }
        if !returned.is_empty() {
            metrics::counter!("relay_unroutable_total").increment(returned.len() as u64);
            tracing::warn!(count = returned.len(), first = %returned[0].1,
                "the broker returned events no queue is bound for; kept in relay_unroutable for replay");
        }
        Ok(returned)
    }

    /// Republishes events the broker returned before, at most every [`UNROUTABLE_RETRY`]; those a queue
    /// now takes leave the table.
    async fn retry_unroutable(&self) -> Result<(), RelayError> {
        {
            let mut last = self.last_unroutable_retry.lock().await;
            if last.is_some_and(|at| at.elapsed() < UNROUTABLE_RETRY) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        self.replay_unroutable().await
    }

    /// Offers the kept unroutable events (oldest first, a batch) to the broker again now; those a queue
    /// takes leave `relay_unroutable`.
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn replay_unroutable(&self) -> Result<(), RelayError> {
        let sql = format!(
            "SELECT {} FROM events WHERE event_id IN \
             (SELECT event_id FROM relay_unroutable ORDER BY first_returned_at LIMIT $1) \
             ORDER BY {}",
            infra::event_log::SELECT_COLUMNS,
            infra::event_log::COMMIT_ORDER
        );
        let events: Vec<StoredEvent> = sqlx::query_as(&sql)
            .bind(self.batch_size)
            .fetch_all(&self.pool)
            .await?;
        if events.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let returned = self.publish(events).await?;
        let mut tx = self.pool.begin().await?;
        let delivered: Vec<Uuid> = ids
            .into_iter()
            .filter(|id| !returned.iter().any(|(r, _)| r == id))
            .collect();
        sqlx::query("DELETE FROM relay_unroutable WHERE event_id = ANY($1)")
            .bind(&delivered)
            .execute(&mut *tx)
            .await?;
        record_returns(&mut tx, &returned).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What one confirm says: nothing for a plain ack, the returned event for an ack carrying a return
/// (pushed to `returned`), an error for a nack.
fn judge(
    event_id: Uuid,
    confirmation: Confirmation,
    returned: &mut Vec<(Uuid, String)>,
) -> Result<(), RelayError> {
    match confirmation {
        Confirmation::Ack(None) => Ok(()),
        // The returned message names its event: with acks coalesced, the confirm it rides on may be
        // another message's.
        Confirmation::Ack(Some(message)) => {
            let delivery = &message.delivery;
            let id = delivery
                .properties
                .message_id()
                .as_ref()
                .and_then(|id| Uuid::parse_str(id.as_str()).ok());
            match id {
                Some(id) => {
                    returned.push((id, delivery.routing_key.to_string()));
                    Ok(())
                }
                None => Err(AmqpError::Nacked(event_id.to_string()).into()),
            }
        }
        Confirmation::Nack(_) | Confirmation::NotRequested => {
            Err(AmqpError::Nacked(event_id.to_string()).into())
        }
    }
}

/// Takes the confirms that have already resolved (leaving `None`), without waiting for the rest.
/// Returns the events they carry back as unroutable.
fn take_resolved(
    confirms: &mut [(Uuid, Option<PublisherConfirm>)],
) -> Result<Vec<(Uuid, String)>, RelayError> {
    use futures::FutureExt;
    let mut returned = Vec::new();
    for (event_id, slot) in confirms.iter_mut() {
        let Some(confirm) = slot.as_mut() else {
            continue;
        };
        let Some(outcome) = confirm.now_or_never() else {
            continue;
        };
        *slot = None;
        judge(*event_id, outcome.map_err(AmqpError::from)?, &mut returned)?;
    }
    Ok(returned)
}

/// Keeps returned events (or counts another return).
async fn record_returns(
    conn: &mut sqlx::PgConnection,
    returned: &[(Uuid, String)],
) -> Result<(), sqlx::Error> {
    if returned.is_empty() {
        return Ok(());
    }
    let (ids, keys): (Vec<Uuid>, Vec<String>) = returned.iter().cloned().unzip();
    sqlx::query(
        "INSERT INTO relay_unroutable (event_id, routing_key) SELECT * FROM UNNEST($1::uuid[], $2::text[]) \
         ON CONFLICT (event_id) DO UPDATE SET returns = relay_unroutable.returns + 1, last_returned_at = now()",
    )
    .bind(&ids)
    .bind(&keys)
    .execute(conn)
    .await?;
    Ok(())
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
