//! Email throughput: bookings are placed (untimed), then the relay publishes them and the notifier's email
//! consumer records and sends one email per booking into a local SMTP sink, the path a passenger's email
//! takes. Timed from the consumer's start to the last email in the sink.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use infra::amqp::AmqpSettings;
use infra::event_log::Outcome;
use infra::supervisor::{Spec, Supervisor};
use notifier::config::SmtpSettings;
use notifier::email::{EmailHandler, Mailer};
use notifier::sink::SmtpSink;
use projector::relay::Relay;
use uuid::Uuid;

use crate::report::Row;
use crate::scenarios::drive;
use crate::system::System;

/// Places `count` bookings, then mails them.
///
/// # Errors
/// Broker, SMTP sink or database failures.
pub async fn mail(system: &System, count: u64) -> anyhow::Result<Row> {
    // The bookings: one seat each on fresh flights, through the command API (not timed).
    let seats = Arc::new(system.seats());
    let mut flights = Vec::new();
    for i in 0..count.div_ceil(seats.len() as u64) {
        flights.push(system.flight(30 + i as i64, 10).await?);
    }
    let (flights, client) = (Arc::new(flights), reqwest::Client::new());
    let (token, base) = (Arc::new(system.token()), system.command.clone());
    let (placed, _, _, _) = drive(64, Some(count), Duration::from_secs(600), move |n| {
        let (client, flights, seats, token, base) = (
            client.clone(),
            flights.clone(),
            seats.clone(),
            token.clone(),
            base.clone(),
        );
        async move {
            let (f, s) = ((n as usize) / seats.len(), (n as usize) % seats.len());
            crate::scenarios::book(&client, &base, &token, flights[f], &seats[s]).await
        }
    })
    .await;

    let id = Uuid::new_v4().simple().to_string();
    let amqp = AmqpSettings {
        url: std::env::var("AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()),
        exchange: format!("bench.{id}.events"),
        queue_prefix: format!("bench.{id}.notifier"),
        expires_ms: Some(60_000),
        timeout_ms: 5_000,
    };
    let sink = SmtpSink::start("127.0.0.1:0").await?;
    let mailer = Mailer::new(&SmtpSettings {
        url: sink.url(),
        from: "Airline <no-reply@airline.example>".to_owned(),
    })?;
    let handler = Arc::new(EmailHandler::new(system.pool.clone(), mailer));
    // The consumer declares its queue first, so the relay's messages have somewhere to go.
    let mut supervisor = Supervisor::new();
    let (consumer, settings) = (handler.clone(), amqp.clone());
    supervisor.spawn(
        Spec::critical("consumer:email", Duration::from_secs(60)),
        move |beat, stop| {
            let (consumer, settings) = (consumer.clone(), settings.clone());
            async move {
                notifier::consumer::run(consumer, settings, vec![1_000], beat, stop)
                    .await
                    .map_err(anyhow::Error::from)
            }
        },
    );
    let registry = supervisor.registry();
    while registry
        .report()
        .workers
        .iter()
        .any(|w| w.last_progress_secs_ago.is_none())
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every booking event the email consumer binds gets one email, this scenario's and earlier ones'.
    let expected: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'booking' AND event_type = ANY($1)",
    )
    .bind(
        notifier::consumer::Handler::bindings(&*handler)
            .iter()
            .filter_map(|b| b.strip_prefix("booking."))
            .collect::<Vec<_>>(),
    )
    .fetch_one(&system.pool)
    .await?;
    let expected = expected as u64;
    let started = Instant::now();
    let relay = Relay::new(system.pool.clone(), amqp, 1000);
    // Idle can also mean another transaction on the server holds back the commit horizon: step until
    // the relay is level with the log.
    loop {
        let outcome = relay.process_next_batch().await?;
        if outcome == Outcome::Idle
            && relay.subscription().lag(&system.pool).await?.events_behind == 0
        {
            break;
        }
    }
    relay.disconnect().await;
    let mails = sink
        .wait_for(expected as usize, Duration::from_secs(300))
        .await;
    let seconds = started.elapsed().as_secs_f64();
    supervisor.shutdown(Duration::from_secs(5)).await;
    let mut errors = BTreeMap::new();
    if (mails.len() as u64) < expected {
        errors.insert("missing".to_owned(), expected - mails.len() as u64);
    }
    Ok(Row {
        scenario: format!(
            "email: relay → consumer → SMTP sink ({expected} emails, {placed} bookings placed for it)"
        ),
        clients: usize::from(notifier::consumer::IN_FLIGHT),
        ok: mails.len() as u64,
        seconds,
        latency: None,
        errors,
        note: "ops/s = emails/s, timed from the relay's start to the last email; clients = messages in flight".to_owned(),
    })
}
