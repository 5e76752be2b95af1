//! The projector's guarantees: exactly once across crashes, one active applier, rebuilds during reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::{Duration, Utc};
use infra::event_log::{Outcome, Position, Subscription, read_after};
use projector::projections::Projection;
use projector::replay;
use sqlx::Acquire;

use crate::helpers::{TestApp, spawn_app};

/// A small world: two flights, a few bookings paid, cancelled and changed.
async fn activity(app: &TestApp) -> uuid::Uuid {
    app.airports(&[("CDG", "Europe/Paris"), ("JFK", "America/New_York")])
        .await;
    let aircraft = app.aircraft().await;
    let first = app
        .flight(
            "AF1",
            ("CDG", "JFK"),
            Utc::now() + Duration::days(3),
            (900, 90),
            aircraft,
        )
        .await;
    let second = app
        .flight(
            "AF2",
            ("JFK", "CDG"),
            Utc::now() + Duration::days(4),
            (800, 80),
            aircraft,
        )
        .await;
    for (flight, seats) in [
        (first, ["10A", "10B"]),
        (second, ["11A", "11B"]),
        (first, ["12A", "12B"]),
    ] {
        let booking = app.book(&app.customer, flight, &seats).await;
        app.pay(&app.customer, &booking).await;
    }
    let cancelled = app.book(&app.customer, first, &["13C"]).await;
    let path = format!(
        "/api/v1/bookings/{}/cancel",
        cancelled["id"].as_str().unwrap()
    );
    app.post(&path, &app.customer, &serde_json::json!({})).await;
    first
}

#[tokio::test]
async fn a_projector_killed_mid_batch_ends_identical_to_a_full_rebuild() {
    let app = spawn_app().await;
    activity(&app).await;
    app.project().await;
    let settled = app.dump(Projection::Flights).await;
    // More events arrive; a projector starts a batch and dies half-way (its transaction never commits).
    let flight = app
        .flight(
            "AF3",
            ("CDG", "JFK"),
            Utc::now() + Duration::days(6),
            (700, 70),
            app.aircraft().await,
        )
        .await;
    app.book(&app.customer, flight, &["10C"]).await;
    let subscription = Subscription::new("flights");
    // The new events become readable once no older transaction anywhere on the server is open.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let checkpoint = subscription
            .checkpoint(&mut app.db.pool.acquire().await.unwrap())
            .await
            .unwrap();
        if read_after(&app.db.pool, checkpoint, 100)
            .await
            .unwrap()
            .len()
            >= 2
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new events never became readable"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    {
        let mut conn = app.db.pool.acquire().await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        let checkpoint = subscription.checkpoint_for_update(&mut tx).await.unwrap();
        let events = read_after(&mut *tx, checkpoint, 100).await.unwrap();
        assert!(events.len() >= 2, "the test needs a batch to cut");
        let mut batch = projector::projections::Batch::default();
        Projection::Flights
            .apply(&mut tx, &events[0], &mut batch)
            .await
            .unwrap();
        Projection::Flights.finish(&mut tx, batch).await.unwrap();
        // Crash: the transaction is dropped without commit.
    }
    assert_eq!(
        app.dump(Projection::Flights).await,
        settled,
        "a dead batch left traces"
    );
    app.project().await;
    let incremental = app.dump(Projection::Flights).await;
    replay::rebuild(&app.db.pool, Projection::Flights, 7, |_| {})
        .await
        .unwrap();
    assert_eq!(app.dump(Projection::Flights).await, incremental);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_projector_instances_never_apply_the_same_batch() {
    let app = spawn_app().await;
    activity(&app).await;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let applied = Arc::new(AtomicUsize::new(0));
    let mut instances = Vec::new();
    for _ in 0..2 {
        let worker = projector::worker::Worker::new(app.db.pool.clone(), Projection::Bookings, 3);
        let (applied, pool) = (applied.clone(), app.db.pool.clone());
        instances.push(tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
            while tokio::time::Instant::now() < deadline {
                match worker.process_next_batch().await.unwrap() {
                    Outcome::Processed(n) => {
                        applied.fetch_add(n, Ordering::SeqCst);
                    }
                    Outcome::Idle => {
                        let lag = worker.subscription().lag(&pool).await.unwrap();
                        if lag.events_behind == 0 {
                            return;
                        }
                        tokio::task::yield_now().await;
                    }
                }
            }
        }));
    }
    for instance in instances {
        instance.await.unwrap();
    }
    // Every event was applied once in all: two instances applying one batch would count it twice.
    assert_eq!(applied.load(Ordering::SeqCst) as i64, total);
    let incremental = app.dump(Projection::Bookings).await;
    replay::rebuild(&app.db.pool, Projection::Bookings, 50, |_| {})
        .await
        .unwrap();
    assert_eq!(app.dump(Projection::Bookings).await, incremental);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_during_reads_serves_every_read_and_ends_equal() {
    let app = spawn_app().await;
    let flight = activity(&app).await;
    app.project().await;
    let before = app.dump(Projection::Flights).await;

    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (client, query, stop, reads) = (
            app.client.clone(),
            app.query.clone(),
            stop.clone(),
            reads.clone(),
        );
        tokio::spawn(async move {
            let paths = [
                "/api/v1/flights?origin=CDG".to_owned(),
                format!("/api/v1/flights/{flight}"),
                format!("/api/v1/flights/{flight}/seats"),
                "/api/v1/airports".to_owned(),
            ];
            while !stop.load(Ordering::SeqCst) {
                for path in &paths {
                    let response = client.get(format!("{query}{path}")).send().await.unwrap();
                    let status = response.status();
                    assert_eq!(
                        status,
                        200,
                        "{path} failed during the rebuild: {}",
                        response.text().await.unwrap()
                    );
                    reads.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    };
    let mut updates = 0;
    let progress = replay::rebuild(&app.db.pool, Projection::Flights, 2, |_| updates += 1)
        .await
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    reader.await.unwrap();
    assert!(reads.load(Ordering::SeqCst) > 0);
    assert!(updates > 1, "progress was not reported");
    assert!(progress.done > 0 && progress.rate() > 0.0);
    assert_eq!(app.dump(Projection::Flights).await, before);
    let remaining = read_after(&app.db.pool, Position::default(), 1)
        .await
        .unwrap();
    assert!(!remaining.is_empty());
    assert_eq!(
        Subscription::new("flights")
            .lag(&app.db.pool)
            .await
            .unwrap()
            .events_behind,
        0
    );
}

/// The projections gather a batch in memory and write it at its end, a later event's value winning:
/// each must end exactly as when every event is its own batch (applied one by one), over a log with
/// every kind of change (place, pay, cancel, two seat changes of one booking, a delay).
#[tokio::test]
async fn every_projection_ends_the_same_one_event_per_batch_or_the_whole_log_in_one() {
    let app = spawn_app().await;
    let flight = activity(&app).await;
    let booking = app.book(&app.customer, flight, &["14A", "14B"]).await;
    let id = booking["id"].as_str().unwrap().to_owned();
    for seat in ["13A", "13B"] {
        let (status, body) = app
            .post(
                &format!("/api/v1/bookings/{id}/seat-changes"),
                &app.customer,
                &serde_json::json!({"passenger": 1, "seat": seat}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    app.pay(&app.customer, &booking).await;
    let departure = Utc::now() + Duration::days(3) + Duration::hours(2);
    let (status, body) = app
        .post(
            &format!("/api/v1/flights/{flight}/delay"),
            &app.admin,
            &serde_json::json!({
                "departure_at": departure.to_rfc3339(),
                "arrival_at": (departure + Duration::hours(9)).to_rfc3339(),
                "reason": "late inbound aircraft",
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    for projection in Projection::ALL {
        replay::rebuild(&app.db.pool, projection, 1, |_| {})
            .await
            .unwrap();
        let one_by_one = app.dump(projection).await;
        replay::rebuild(&app.db.pool, projection, 100_000, |_| {})
            .await
            .unwrap();
        let all_at_once = app.dump(projection).await;
        assert_eq!(
            one_by_one,
            all_at_once,
            "{} differs by batch size",
            projection.name()
        );
    }
    // And what they hold is the log's story, not an empty agreement.
    let (_, view) = app
        .get(&format!("/api/v1/bookings/{id}"), Some(&app.customer))
        .await;
    assert_eq!(view["status"], "confirmed", "{view}");
    assert_eq!(view["passengers"][1]["seat"], "13B", "{view}");
    let analytics = app.dump(Projection::Analytics).await;
    let rows = analytics["rm_analytics_bookings"].as_array().unwrap();
    assert_eq!(rows.len(), 5, "{analytics}");
    assert_eq!(
        rows.iter().filter(|r| !r["cancelled_at"].is_null()).count(),
        1,
        "{analytics}"
    );
    assert_eq!(
        rows.iter().filter(|r| !r["confirmed_at"].is_null()).count(),
        4,
        "{analytics}"
    );
}
