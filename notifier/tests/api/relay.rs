//! The relay's `mandatory` publishes: an event no queue is bound for comes back, is kept (under its own
//! id, whatever confirm it rode on) and is delivered once a queue exists; the checkpoint never waits.

use infra::event_log::Outcome;
use infra::testing::TestDatabase;
use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use projector::relay::Relay;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::amqp_settings;

#[tokio::test]
async fn unroutable_events_are_kept_under_their_own_ids_and_delivered_once_a_queue_exists() {
    let db = TestDatabase::create(2).await;
    let amqp = amqp_settings();
    // Twenty events of two aggregates, in one transaction; nothing is bound to the exchange yet.
    let mut ids = Vec::new();
    let mut tx = db.pool.begin().await.unwrap();
    for n in 0..20_i64 {
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             VALUES ('flight', $1, $2, 'FlightDelayed', '1.0', $3, '{}') RETURNING event_id",
        )
        .bind(format!("f-{}", n % 2))
        .bind(n / 2 + 1)
        .bind(json!({"n": n}))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        ids.push(id);
    }
    tx.commit().await.unwrap();

    let relay = Relay::new(db.pool.clone(), amqp.clone(), 7);
    // Idle can also mean a transaction elsewhere on the server still holds back the commit horizon
    // (other tests, a running airline): keep stepping until the relay's lag is zero.
    let mut published = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let outcome = relay.process_next_batch().await.unwrap();
        // At every step boundary each event the checkpoint has passed is kept: the relay keeps a
        // batch ahead, and a return must not stay behind with it (a stop now would lose it).
        let mut conn = db.pool.acquire().await.unwrap();
        let at = relay.subscription().checkpoint(&mut conn).await.unwrap();
        let passed_not_kept: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events e \
             WHERE (e.tx_id, e.global_position) <= ($1::bigint::text::xid8, $2) \
               AND NOT EXISTS (SELECT 1 FROM relay_unroutable r WHERE r.event_id = e.event_id)",
        )
        .bind(at.tx_id)
        .bind(at.global_position)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(
            passed_not_kept, 0,
            "the checkpoint passed returned events that are not kept"
        );
        match outcome {
            Outcome::Processed(n) => published += n,
            Outcome::Idle
                if relay
                    .subscription()
                    .lag(&db.pool)
                    .await
                    .unwrap()
                    .events_behind
                    == 0 =>
            {
                break;
            }
            Outcome::Idle if std::time::Instant::now() > deadline => break,
            Outcome::Idle => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    assert_eq!(
        published, 20,
        "the checkpoint did not move past unroutable events"
    );
    let mut kept: Vec<Uuid> = sqlx::query_scalar("SELECT event_id FROM relay_unroutable")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    kept.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(kept, expected, "the kept ids are not the returned events'");

    // A queue appears; the replay delivers every kept event once and empties the table.
    let connection = infra::amqp::connect(&amqp, "test").await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = format!("{}.late", amqp.queue_prefix);
    let args = infra::amqp::queue_arguments(&amqp, &[]);
    channel
        .queue_declare(queue.as_str().into(), QueueDeclareOptions::default(), args)
        .await
        .unwrap();
    channel
        .queue_bind(
            queue.as_str().into(),
            amqp.exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    // Batches of 7: three replays take all 20.
    for _ in 0..3 {
        relay.replay_unroutable().await.unwrap();
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM relay_unroutable")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let mut delivered = Vec::new();
    while let Some(got) = channel
        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
        .await
        .unwrap()
    {
        let id = got.delivery.properties.message_id().clone().unwrap();
        delivered.push(Uuid::parse_str(id.as_str()).unwrap());
    }
    delivered.sort();
    assert_eq!(delivered, expected);
    relay.disconnect().await;
    let _ = connection.close(200, "done".into()).await;
}
