//! The log scenarios: a synthetic event log, then a rebuild of the flights read model over it and the
//! relay publishing it with publisher confirms.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use infra::amqp::{AmqpSettings, queue_arguments, text};
use infra::event_log::Outcome;
use lapin::options::{QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use projector::config::RELAY_BATCH_SIZE;
use projector::projections::Projection;
use projector::relay::Relay;
use uuid::Uuid;

use crate::report::Row;
use crate::system::System;

/// Appends about `events` flight events: flights scheduled from a real `FlightScheduled` payload, then
/// 99 hold/release pairs each. Written with SQL, in statements of 100,000 rows.
///
/// # Errors
/// Database failures.
pub async fn generate(system: &System, events: i64) -> anyhow::Result<()> {
    let pool = &system.pool;
    // A real flight's `FlightScheduled` payload is the template for the synthetic ones.
    let template_flight = system.flight(1, 1).await?;
    let template: serde_json::Value = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_type = 'flight' AND aggregate_id = $1 AND sequence = 1",
    )
    .bind(template_flight.to_string())
    .fetch_one(pool)
    .await?;
    let flights = (events / 199).max(1);
    let started = Instant::now();
    let mut done = 0;
    while done < flights {
        let chunk = (flights - done).min(500);
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             SELECT 'flight', f.id::text, s.seq, \
               CASE WHEN s.seq = 1 THEN 'FlightScheduled' WHEN s.seq % 2 = 0 THEN 'SeatsHeld' ELSE 'SeatsReleased' END, '1.0', \
               CASE WHEN s.seq = 1 THEN jsonb_set($1::jsonb, '{FlightScheduled,id}', to_jsonb(f.id::text)) \
                    WHEN s.seq % 2 = 0 THEN jsonb_build_object('SeatsHeld', jsonb_build_object( \
                        'booking_id', md5(f.id::text || (s.seq / 2)::text)::uuid, 'cabin', 'economy', \
                        'seats', jsonb_build_array(((s.seq / 2) % 27 + 4)::text || substr('ABCDEF', (s.seq / 2) % 6 + 1, 1)), \
                        'hold_until', '2030-01-01T00:00:00Z')) \
                    ELSE jsonb_build_object('SeatsReleased', jsonb_build_object( \
                        'booking_id', md5(f.id::text || (s.seq / 2)::text)::uuid, \
                        'seats', jsonb_build_array(((s.seq / 2) % 27 + 4)::text || substr('ABCDEF', (s.seq / 2) % 6 + 1, 1)))) END, \
               '{\"correlation_id\": \"bench\"}'::jsonb \
             FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, $2)) f CROSS JOIN generate_series(1, 199) s(seq)",
        )
        .bind(&template)
        .bind(chunk)
        .execute(pool)
        .await?;
        done += chunk;
    }
    tracing::warn!(
        events = flights * 199,
        seconds = started.elapsed().as_secs_f64(),
        "synthetic log written"
    );
    Ok(())
}

/// Rebuilds the flights read model (search rows, cabins, seat maps) from position zero.
///
/// # Errors
/// Database failures.
pub async fn rebuild(system: &System) -> anyhow::Result<Row> {
    let done = projector::replay::rebuild(
        &system.pool,
        Projection::Flights,
        projector::config::REBUILD_BATCH_SIZE,
        |_| {},
    )
    .await?;
    Ok(Row {
        scenario: format!("rebuild `flights` over {} events", done.done),
        clients: 1,
        ok: done.done,
        seconds: done.elapsed.as_secs_f64(),
        latency: None,
        errors: BTreeMap::new(),
        note: "ops/s = events/s".to_owned(),
    })
}

/// Publishes the log (up to 60 s of it) with publisher confirms to an exchange with one bound queue.
///
/// # Errors
/// Broker or database failures.
pub async fn relay(system: &System) -> anyhow::Result<Row> {
    let id = Uuid::new_v4().simple().to_string();
    let settings = AmqpSettings {
        url: std::env::var("AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()),
        exchange: format!("bench.{id}.events"),
        queue_prefix: format!("bench.{id}"),
        // Long enough for the whole scenario: its queue has no consumer, so it expires after this.
        expires_ms: Some(600_000),
        timeout_ms: 5_000,
    };
    // A queue that keeps only the newest 10,000 messages, so the broker routes and stores every message
    // without filling up.
    let connection = infra::amqp::connect(&settings, "bench").await?;
    let channel = connection.create_channel().await?;
    infra::amqp::declare_exchange(&channel, &settings).await?;
    let queue = format!("bench.{id}.sink");
    let args = queue_arguments(
        &settings,
        &[
            ("x-max-length", AMQPValue::LongInt(10_000)),
            ("x-overflow", text("drop-head")),
        ],
    );
    channel
        .queue_declare(queue.as_str().into(), QueueDeclareOptions::default(), args)
        .await?;
    channel
        .queue_bind(
            queue.as_str().into(),
            settings.exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let relay = Relay::new(system.pool.clone(), settings, RELAY_BATCH_SIZE);
    let started = Instant::now();
    let mut published = 0;
    while started.elapsed() < Duration::from_secs(60) {
        match relay.process_next_batch().await? {
            Outcome::Processed(n) => published += n as u64,
            Outcome::Idle => break,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    relay.disconnect().await;
    let _ = connection.close(200, "done".into()).await;
    Ok(Row {
        scenario: format!(
            "relay to RabbitMQ with publisher confirms (batches of {RELAY_BATCH_SIZE})"
        ),
        clients: 1,
        ok: published,
        seconds,
        latency: None,
        errors: BTreeMap::new(),
        note: "ops/s = events/s".to_owned(),
    })
}
