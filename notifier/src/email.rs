//! Passenger emails: the consumer that records one notification per message (inbox) and sends it over
//! SMTP until it is sent.

use domain::airport::Airport;
use domain::booking::{Booking, BookingEvent};
use domain::flight::{Flight, FlightState};
use domain::values::{AirportCode, TimeZone};
use infra::amqp::EventMessage;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::PgPool;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::config::SmtpSettings;
use crate::consumer::{Handler, StepError};
use crate::render::{self, Leg};

/// How many SMTP connections a mailer keeps (as many messages go out at once).
const POOL_SIZE: usize = 32;
/// Longest one SMTP exchange (connect, or one message) may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends mail over pooled SMTP connections.
///
/// A plain `smtp://host:port` (no credentials, no TLS: a local relay or the sink) gets connections of its
/// own with `TCP_NODELAY`, kept open and reused: lettre writes a message and its terminating dot in two
/// writes, and with Nagle's algorithm on, the second waits for the first's delayed ACK (about 40 ms a
/// message). Any other URL (TLS, authentication) goes through lettre's own pooled transport.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: lettre::message::Mailbox,
}

#[derive(Clone)]
enum Transport {
    Direct(Arc<DirectPool>),
    Lettre(AsyncSmtpTransport<Tokio1Executor>),
}

/// Plain-TCP SMTP connections, idle ones kept for the next message.
struct DirectPool {
    address: String,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    permits: Semaphore,
    hello: ClientId,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `SMTP_URL`.
    ///
    /// # Errors
    /// A URL or `From` address that does not parse.
    pub fn new(settings: &SmtpSettings) -> anyhow::Result<Self> {
        let url = url::Url::parse(&settings.url)?;
        let plain = url.scheme() == "smtp"
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none_or(|q| !q.contains("tls"));
        let transport = match (plain, url.host_str()) {
            (true, Some(host)) => Transport::Direct(Arc::new(DirectPool {
                address: format!("{host}:{}", url.port().unwrap_or(25)),
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(POOL_SIZE),
                hello: ClientId::default(),
            })),
            _ => Transport::Lettre(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)?
                    .timeout(Some(SMTP_TIMEOUT))
                    .pool_config(PoolConfig::new().max_size(POOL_SIZE as u32))
                    .build(),
            ),
        };
        Ok(Self {
            transport,
            from: settings.from.parse()?,
        })
    }

    /// Sends one message; its `Message-ID` is the notification id, so a repeat can be recognised.
    ///
    /// # Errors
    /// Address, build or SMTP failures.
    pub async fn send(&self, id: Uuid, to: &str, subject: &str, body: &str) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse()?)
            .subject(subject)
            .message_id(Some(format!("<{id}@airline.example>")))
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())?;
        match &self.transport {
            Transport::Lettre(transport) => {
                transport.send(message).await?;
            }
            Transport::Direct(pool) => pool.send(&message).await?,
        }
        Ok(())
    }
}

impl DirectPool {
    async fn connect(&self) -> anyhow::Result<AsyncSmtpConnection> {
        let stream = tokio::time::timeout(SMTP_TIMEOUT, TcpStream::connect(&self.address))
            .await
            .map_err(|_| anyhow::anyhow!("connecting to {} timed out", self.address))??;
        stream.set_nodelay(true)?;
        let connect = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello);
        Ok(tokio::time::timeout(SMTP_TIMEOUT, connect)
            .await
            .map_err(|_| anyhow::anyhow!("the SMTP greeting from {} timed out", self.address))??)
    }

    async fn send(&self, message: &Message) -> anyhow::Result<()> {
        let _permit = self.permits.acquire().await?;
        let envelope = message.envelope().clone();
        let bytes = message.formatted();
        // A kept connection the server closed meanwhile fails at once: then, and only then, the message
        // goes again on a fresh one. After a timeout or on a fresh connection it is not retried here (the
        // server may have taken it; the consumer's retry decides), so no mail is sent twice from here.
        let kept = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let reused = kept.is_some();
        let mut connection = match kept {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        let mut sent = tokio::time::timeout(SMTP_TIMEOUT, connection.send(&envelope, &bytes)).await;
        if sent.is_err() {
            // A timeout leaves the connection in an unknown state: never reuse it.
            connection.abort().await;
        } else if reused && matches!(sent, Ok(Err(_))) && connection.has_broken() {
            connection = self.connect().await?;
            sent = tokio::time::timeout(SMTP_TIMEOUT, connection.send(&envelope, &bytes)).await;
        }
        match sent {
            Ok(Ok(_)) => {
                if !connection.has_broken()
                    && let Ok(mut idle) = self.idle.lock()
                {
                    idle.push(connection);
                }
                Ok(())
            }
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(anyhow::anyhow!("sending to {} timed out", self.address)),
        }
    }
}

/// The email consumer.
#[derive(Debug)]
pub struct EmailHandler {
    pool: PgPool,
    mailer: Mailer,
    flights: Flights,
}

impl EmailHandler {
    /// A handler recording to `pool` and sending with `mailer`.
    pub fn new(pool: PgPool, mailer: Mailer) -> Self {
        Self {
            pool,
            mailer,
            flights: Flights::default(),
        }
    }
}

const CONSUMER: &str = "email";

fn retry(e: impl std::fmt::Display) -> StepError {
    StepError::Retry(e.to_string())
}

impl Handler for EmailHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn bindings(&self) -> &'static [&'static str] {
        &[
            "booking.BookingPlaced",
            "booking.BookingConfirmed",
            "booking.BookingCancelled",
            "booking.BookingExpired",
            "booking.PassengerSeatChanged",
            "booking.FlightDelayNoted",
            "booking.ConnectionBroken",
            "booking.RefundIssued",
            "booking.SeatsAssigned",
            "booking.PassengersOffloaded",
            "booking.PassengerNameCorrected",
        ]
    }

    async fn handle(&self, message: &EventMessage) -> Result<(), StepError> {
        if message.aggregate_type != "booking" {
            return Ok(());
        }
        let event = BookingEvent::deserialize(&message.payload)
            .map_err(|e| StepError::Poison(e.to_string()))?;
        let claimed = match record(self, message, &event).await? {
            Recorded::First(claimed) => claimed,
            Recorded::Again => claim(&self.pool, message.event_id).await?,
        };
        deliver(&self.pool, &self.mailer, message.event_id, claimed).await
    }
}

/// Records the notification with the inbox row, once per message. The booking and flight are read
/// first, outside the transaction, so a message holds one connection at a time.
async fn record(
    handler: &EmailHandler,
    message: &EventMessage,
    event: &BookingEvent,
) -> Result<Recorded, StepError> {
    let pool = &handler.pool;
    // The booking as of this event, and its flight now.
    let booking = infra::event_log::fold::<Booking>(pool, &message.aggregate_id, |e| {
        e.sequence <= message.sequence
    })
    .await
    .map_err(retry)?
    .and_then(|(b, _)| b.state().cloned())
    .ok_or_else(|| StepError::Poison(format!("booking {} has no events", message.aggregate_id)))?;
    let mut legs = Vec::with_capacity(booking.segments.len());
    for segment in &booking.segments {
        let leg = handler
            .flights
            .with_now(pool, &segment.flight_id.to_string(), |f| f.map(Leg::of))
            .await
            .map_err(retry)?;
        if let Some(mut leg) = leg {
            leg.origin_zone = zone(pool, leg.origin).await?;
            leg.destination_zone = zone(pool, leg.destination).await?;
            legs.push(leg);
        }
    }
    let email = render::email(event, &booking, &legs);
    // The inbox row and the notification in one statement (one round trip, one transaction). The first
    // attempt inserts the notification already claimed (`sending`), so it goes out without a claim step.
    let notification_id = Uuid::now_v7();
    let (first, noted): (bool, bool) = sqlx::query_as(
        "WITH inbox AS (INSERT INTO notifier_inbox (consumer, message_id) VALUES ($1, $2) \
           ON CONFLICT DO NOTHING RETURNING message_id), \
         noted AS (INSERT INTO notifications (notification_id, message_id, booking_id, kind, channel, \
           recipient, subject, body, status, claimed_at, correlation_id) \
           SELECT $3, message_id, $4, $5::text, 'email', $6::text, $7::text, $8::text, 'sending', now(), $9::text \
           FROM inbox WHERE $10::boolean RETURNING notification_id) \
         SELECT EXISTS (SELECT 1 FROM inbox), EXISTS (SELECT 1 FROM noted)",
    )
    .bind(CONSUMER)
    .bind(message.event_id)
    .bind(notification_id)
    .bind(booking.id.as_uuid())
    .bind(email.as_ref().map(|e| e.kind))
    .bind(booking.contact_email.as_str())
    .bind(email.as_ref().map(|e| e.subject.as_str()))
    .bind(email.as_ref().map(|e| e.body.as_str()))
    .bind(message.correlation_id())
    .bind(email.is_some())
    .fetch_one(pool)
    .await
    .map_err(retry)?;
    Ok(match (first, email) {
        (false, _) => Recorded::Again,
        (true, Some(email)) if noted => Recorded::First(vec![(
            notification_id,
            booking.contact_email.as_str().to_owned(),
            email.subject,
            email.body,
        )]),
        (true, _) => Recorded::First(Vec::new()),
    })
}

/// The time zone of `airport`, as its events say (none if it is not registered).
async fn zone(pool: &PgPool, airport: AirportCode) -> Result<Option<TimeZone>, StepError> {
    Ok(
        infra::event_log::fold::<Airport>(pool, airport.as_str(), |_| true)
            .await
            .map_err(retry)?
            .and_then(|(a, _)| a.details().map(|d| d.time_zone)),
    )
}

/// A notification to send: id, recipient, subject, body.
type Claimed = (Uuid, String, String, String);

/// What [`record`] found.
enum Recorded {
    /// This attempt recorded the message; here is what it claimed to send.
    First(Vec<Claimed>),
    /// An earlier attempt did: send what it left unsent.
    Again,
}

/// The flights emails mention, folded once and then brought up to date with only their new events (a
/// flight with a full cabin has hundreds; folding it from scratch for every email was most of the cost).
/// Each flight is folded in place under its own lock, never cloned: a full flight's seat and hold maps
/// are kilobytes, and copying them for every email was most of the consumer's CPU.
#[derive(Debug, Default)]
struct Flights(Mutex<HashMap<String, FlightSlot>>);

/// One flight as folded so far, and its version.
type FlightSlot = Arc<tokio::sync::Mutex<(Flight, i64)>>;

/// Flights kept; past this the cache starts over (the bound is for memory only).
const FLIGHTS_KEPT: usize = 4_096;

impl Flights {
    /// `f` of the flight as the log has it now.
    async fn with_now<R>(
        &self,
        pool: &PgPool,
        id: &str,
        f: impl FnOnce(Option<&FlightState>) -> R,
    ) -> Result<R, infra::event_log::FoldError> {
        let slot = {
            let mut flights = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if flights.len() >= FLIGHTS_KEPT && !flights.contains_key(id) {
                flights.clear();
            }
            Arc::clone(flights.entry(id.to_owned()).or_default())
        };
        let mut entry = slot.lock().await;
        // Taken out while the new events are read: if this is cancelled or fails, the entry is left
        // empty at version 0, which is consistent, and the next email folds the flight afresh.
        let folded = std::mem::take(&mut *entry);
        *entry = infra::event_log::fold_onto(pool, id, folded, |_| true).await?;
        Ok(f(entry.0.state()))
    }
}

/// Claims what an earlier attempt at this message recorded and nobody has sent (pending, failed, or
/// claimed by a consumer that has been silent for a minute). Claimed rows are this attempt's alone, so a
/// second consumer handling the same message concurrently sends nothing.
async fn claim(pool: &PgPool, message_id: Uuid) -> Result<Vec<Claimed>, StepError> {
    sqlx::query_as(
        "UPDATE notifications SET status = 'sending', claimed_at = now() \
         WHERE message_id = $1 AND channel = 'email' \
           AND (status IN ('pending', 'failed') OR (status = 'sending' AND claimed_at < now() - interval '60 seconds')) \
         RETURNING notification_id, recipient, subject, body",
    )
    .bind(message_id)
    .fetch_all(pool)
    .await
    .map_err(retry)
}

/// Sends `claimed` and records each outcome. When nothing was claimed but another consumer is still
/// sending this message, it is retried later, in case that consumer dies before finishing.
async fn deliver(
    pool: &PgPool,
    mailer: &Mailer,
    message_id: Uuid,
    claimed: Vec<Claimed>,
) -> Result<(), StepError> {
    let nothing_claimed = claimed.is_empty();
    let mut failure = None;
    for (id, to, subject, body) in claimed {
        let sent = mailer.send(id, &to, &subject, &body).await;
        let (status, error) = match &sent {
            Ok(()) => ("sent", None),
            Err(e) => ("failed", Some(e.to_string())),
        };
        sqlx::query(
            "UPDATE notifications SET status = $2, attempts = attempts + 1, last_error = $3, \
             sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END WHERE notification_id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(&error)
        .execute(pool)
        .await
        .map_err(retry)?;
        if let Some(e) = error {
            failure = Some(format!("smtp: {e}"));
        }
    }
    if nothing_claimed {
        let in_flight: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifications WHERE message_id = $1 AND channel = 'email' AND status = 'sending'",
        )
        .bind(message_id)
        .fetch_one(pool)
        .await
        .map_err(retry)?;
        if in_flight > 0 {
            failure = Some("another consumer is sending this notification".to_owned());
        }
    }
    failure.map_or(Ok(()), |e| Err(StepError::Retry(e)))
}
