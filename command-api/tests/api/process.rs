//! The booking process across aggregates: expiry, disruption, and one commit per decision.

use chrono::Duration;
use command_api::executor::CommandMeta;
use command_api::process::{Outcome, expiry, recovery};
use domain::booking::{BookingStatus, CancelledBy};
use domain::flight::{Flight, FlightCommand, SeatStatus};
use domain::values::{BookingId, SeatOccupant};
use serde_json::json;

use crate::helpers::{seat, spawn_app};

#[tokio::test]
async fn an_unpaid_hold_expires_and_its_seats_come_back() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app
        .book(&app.customer, flight, &["10A", "10B"])
        .await
        .json();
    let paid = app.book(&app.customer, flight, &["11A"]).await.json();
    app.pay(&app.customer, &paid).await;

    assert_eq!(
        expiry::sweep_once(&app.state, 100).await.unwrap(),
        Outcome::Idle
    );
    app.clock.advance(Duration::minutes(16));
    assert_eq!(
        expiry::sweep_once(&app.state, 100).await.unwrap(),
        Outcome::Processed(1)
    );

    let id = booking["id"].as_str().unwrap();
    assert_eq!(app.booking_state(id).await.status, BookingStatus::Expired);
    let state = app.flight_state(flight).await;
    assert_eq!(state.seat_status(seat("10A")), SeatStatus::Free);
    assert_eq!(state.seat_status(seat("11A")), SeatStatus::Sold);
    app.pay(&app.customer, &booking)
        .await
        .assert_problem(409, "booking_expired");
    let txs: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT tx_id::text FROM events WHERE event_type IN ('BookingExpired', 'HoldExpired')",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        txs.len(),
        1,
        "the booking and the flight expired in different commits"
    );
    assert_eq!(app.book(&app.customer, flight, &["10A"]).await.status, 201);
}

#[tokio::test]
async fn a_hold_whose_booking_never_came_expires() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    // The process died after holding the seats and before placing the booking.
    let booking_id = BookingId::from_uuid(uuid::Uuid::now_v7());
    let until = app.now() + Duration::minutes(15);
    sqlx::query(
        "INSERT INTO hold_deadlines (booking_id, flight_id, hold_until) VALUES ($1, $2, $3)",
    )
    .bind(booking_id.as_uuid())
    .bind(flight)
    .bind(until)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let hold = FlightCommand::HoldSeats {
        booking_id,
        seats: vec![(seat("13A"), SeatOccupant::Adult)],
        unseated: vec![],
        cabin: None,
        class: None,
        hold_until: until,
        now: app.now(),
    };
    app.state
        .executor
        .execute::<Flight>(
            (&flight.to_string(), None),
            "HoldSeats",
            hold,
            CommandMeta::default(),
        )
        .await
        .unwrap();
    app.book(&app.customer, flight, &["13A"])
        .await
        .assert_problem(409, "seats_unavailable");

    app.clock.advance(Duration::minutes(16));
    expiry::sweep_once(&app.state, 100).await.unwrap();
    assert_eq!(
        app.flight_state(flight).await.seat_status(seat("13A")),
        SeatStatus::Free
    );
}

#[tokio::test]
async fn a_cancelled_flight_cancels_and_refunds_its_bookings() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let paid = app
        .book(&app.customer, flight, &["10A", "10B"])
        .await
        .json();
    app.pay(&app.customer, &paid).await;
    let held = app.book(&app.customer, flight, &["11A"]).await.json();

    let response = app
        .post(
            &format!("/api/v1/flights/{flight}/cancel"),
            &app.admin,
            &json!({"reason": "strike"}),
        )
        .await;
    assert_eq!(response.status, 200);
    // The refunds are paid back beside the response; recovery makes sure of it.
    recovery::recover_once(&app.state, 100).await.unwrap();

    let paid_state = app.booking_state(paid["id"].as_str().unwrap()).await;
    assert_eq!(paid_state.status, BookingStatus::Cancelled);
    assert_eq!(paid_state.cancelled_by, Some(CancelledBy::Airline));
    assert_eq!(paid_state.refund, Some(paid_state.total));
    let held_state = app.booking_state(held["id"].as_str().unwrap()).await;
    assert_eq!(held_state.status, BookingStatus::Cancelled);
    assert_eq!(held_state.refund.unwrap().amount_minor(), 0);
    assert!(
        app.flight_state(flight).await.holds.is_empty(),
        "seats were not released"
    );

    // One commit: the flight's cancellation and every booking's, each naming the flight's event as its
    // cause; then the paid booking's refund was paid back.
    let flight_event: (uuid::Uuid, String) = sqlx::query_as(
        "SELECT event_id, tx_id::text FROM events WHERE event_type = 'FlightCancelled'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let fan_out: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT event_type, tx_id::text, metadata FROM events WHERE aggregate_type = 'booking'          AND event_type = 'BookingCancelled'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(fan_out.len(), 2);
    for (_, tx, metadata) in &fan_out {
        assert_eq!(
            tx, &flight_event.1,
            "a booking was cancelled in another commit"
        );
        assert_eq!(metadata["causation_id"], flight_event.0.to_string());
    }
    assert_eq!(paid_state.refund_issued, Some(paid_state.total));
    let ledger: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, amount_minor FROM payments WHERE kind = 'refund' ORDER BY created_at",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        ledger,
        vec![("refunded".to_owned(), paid_state.total.amount_minor())]
    );
}

#[tokio::test]
async fn a_delay_reaches_every_live_booking() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    let departure = app.flight_state(flight).await.departure_at + Duration::hours(3);
    let body = json!({"departure_at": departure, "arrival_at": departure + Duration::hours(8), "reason": "fog"});
    app.post(
        &format!("/api/v1/flights/{flight}/delay"),
        &app.admin,
        &body,
    )
    .await;
    let state = app.booking_state(booking["id"].as_str().unwrap()).await;
    assert_eq!(state.departure_at(), departure);
    assert_eq!(state.delays.len(), 1);
    assert_eq!(state.delays[0].as_str(), "fog");
    let (delayed, delayed_tx): (uuid::Uuid, String) = sqlx::query_as(
        "SELECT event_id, tx_id::text FROM events WHERE event_type = 'FlightDelayed'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (noted_tx, metadata): (String, serde_json::Value) = sqlx::query_as(
        "SELECT tx_id::text, metadata FROM events WHERE event_type = 'FlightDelayNoted'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        noted_tx, delayed_tx,
        "the delay reached the booking in another commit"
    );
    assert_eq!(metadata["causation_id"], delayed.to_string());
}

#[tokio::test]
async fn each_action_changes_the_flight_and_the_booking_in_one_commit() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    let id = booking["id"].as_str().unwrap();
    app.pay(&app.customer, &booking).await;
    let change = json!({"passenger": 0, "seat": "10C"});
    let path = format!("/api/v1/bookings/{id}/seat-changes");
    assert_eq!(app.post(&path, &app.customer, &change).await.status, 200);
    let path = format!("/api/v1/bookings/{id}/cancel");
    assert_eq!(app.post(&path, &app.customer, &json!({})).await.status, 200);
    // Each transaction's events, transactions in commit order.
    let commits: Vec<Vec<String>> = sqlx::query_scalar(
        "SELECT array_agg(event_type ORDER BY event_type) FROM events \
         WHERE aggregate_type IN ('flight', 'booking') AND event_type <> 'FlightScheduled' \
         GROUP BY tx_id ORDER BY min(global_position)",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let expected: &[&[&str]] = &[
        &["BookingPlaced", "SeatsHeld"],
        &["BookingConfirmed", "SeatsConfirmed"],
        &["PaymentCaptured"],
        &["PassengerSeatChanged", "SeatChanged"],
        &["BookingCancelled", "SeatsReleased"],
        &["RefundIssued"],
    ];
    assert_eq!(
        commits, expected,
        "each decision is one commit; capture and refund come after theirs"
    );
}

#[tokio::test]
async fn a_hold_that_cannot_expire_is_set_aside_and_the_rest_of_the_pass_goes_on() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let good = app.book(&app.customer, flight, &["10A"]).await.json();
    let bad = app.book(&app.customer, flight, &["10B"]).await.json();
    let bad_id = bad["id"].as_str().unwrap();
    // An event nobody can read: this booking's expiry fails every time.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)          VALUES ('booking', $1, 2, 'Garbled', '1.0', '{\"Garbled\": {}}', '{}')",
    )
    .bind(bad_id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    app.clock.advance(Duration::minutes(16));
    // A fresh instance (the garbled event is not in any cache).
    let (_, state) = crate::helpers::start_instance(&app.db, &app.public_pem, &app.clock, 2).await;
    assert_eq!(
        expiry::sweep_once(&state, 100).await.unwrap(),
        Outcome::Processed(2)
    );
    let good_state = state
        .executor
        .load::<domain::booking::Booking>(good["id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        good_state.aggregate.state().unwrap().status,
        BookingStatus::Expired
    );
    let (failures, error, claimed): (i32, Option<String>, bool) = sqlx::query_as(
        "SELECT failures, last_error, claimed_until > now() FROM hold_deadlines WHERE booking_id = $1::uuid",
    )
    .bind(bad_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(failures, 1);
    assert!(error.unwrap().contains("unreadable"), "no error recorded");
    assert!(claimed, "the bad row was not set aside");
    // Set aside: the next pass does not spin on it.
    assert_eq!(
        expiry::sweep_once(&state, 100).await.unwrap(),
        Outcome::Idle
    );
}

#[tokio::test]
async fn two_sweepers_share_the_due_holds_and_expire_each_once() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    for s in ["10A", "10B", "10C", "10D", "10E", "10F", "11A", "11B"] {
        assert_eq!(app.book(&app.customer, flight, &[s]).await.status, 201);
    }
    app.clock.advance(Duration::minutes(16));
    // Two replicas whose claims last a minute.
    let sweeper = || async {
        let provider = std::sync::Arc::new(command_api::payments::TestCardProvider::default());
        let keys = (app.public_pem.as_str(), &app.clock);
        let lease = |s: &mut command_api::config::Settings| s.booking.sweep_lease_ms = 60_000;
        crate::helpers::start_with(&app.db, keys, 4, provider, lease)
            .await
            .1
    };
    let (one, other) = (sweeper().await, sweeper().await);
    let (a, b) = tokio::join!(expiry::sweep_once(&one, 3), expiry::sweep_once(&other, 3));
    assert_eq!(
        (a.unwrap(), b.unwrap()),
        (Outcome::Processed(3), Outcome::Processed(3))
    );
    // Six distinct holds: neither took the other's claimed rows.
    let expired: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT aggregate_id) FROM events WHERE event_type = 'BookingExpired'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(expired, 6);
    while expiry::sweep_once(&one, 3).await.unwrap() != Outcome::Idle {}
    let expired: Vec<(String, i64)> = sqlx::query_as(
        "SELECT aggregate_id, count(*) FROM events WHERE event_type = 'BookingExpired' GROUP BY aggregate_id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(expired.len(), 8);
    assert!(expired.iter().all(|(_, n)| *n == 1), "{expired:?}");
    assert!(app.flight_state(flight).await.holds.is_empty());
}

#[tokio::test]
async fn command_metadata_records_who_and_why() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let request = app
        .client
        .post(format!("{}/api/v1/bookings", app.address))
        .bearer_auth(&app.customer)
        .header("x-request-id", "req-123")
        .header("idempotency-key", "meta-key")
        .json(
            &json!({"flight_id": flight, "contact_email": "a@example.com",
            "passengers": [{"first_name": "A", "last_name": "B", "type": "adult", "seat": "10A"}]}),
        );
    let response = app.send(request).await;
    assert_eq!(response.headers["x-request-id"], "req-123");
    let metadata: serde_json::Value =
        sqlx::query_scalar("SELECT metadata FROM events WHERE event_type = 'BookingPlaced'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(metadata["correlation_id"], "req-123");
    assert_eq!(metadata["idempotency_key"], "meta-key");
    assert_eq!(metadata["command"], "PlaceBooking");
    assert_eq!(metadata["role"], "customer");
    assert_eq!(metadata["user_id"], app.customer_id.to_string());
}
