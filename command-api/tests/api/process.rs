//! The booking process across aggregates: expiry, disruption, and healing after a crash between steps.

use chrono::Duration;
use command_api::executor::CommandMeta;
use command_api::process::{Outcome, expiry, reactor};
use domain::booking::{BookingStatus, CancelledBy};
use domain::flight::{FlightCommand, SeatStatus};
use domain::values::{BookingId, SeatOccupant};
use infra::event_log::Subscription;
use serde_json::json;

use crate::helpers::{TestApp, seat, spawn_app};

async fn drain_reactor(app: &TestApp) {
    let subscription = Subscription::new(reactor::SUBSCRIPTION);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    // The commit-safe horizon is cluster-wide, so an event may need a moment to become readable.
    loop {
        let outcome = reactor::process_next_batch(&app.state, &subscription, 100)
            .await
            .unwrap();
        let lag = subscription.lag(&app.db.pool).await.unwrap();
        if outcome == Outcome::Idle && lag.events_behind == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "reactor did not catch up"
        );
        if outcome == Outcome::Idle {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

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
        hold_until: until,
        now: app.now(),
    };
    app.state
        .flights
        .execute(
            &flight.to_string(),
            None,
            "HoldSeats",
            hold,
            &CommandMeta::default(),
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
    drain_reactor(&app).await;

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

    // Running the reactor over the same events again changes nothing.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    Subscription::new(reactor::SUBSCRIPTION)
        .save_checkpoint(
            &mut app.db.pool.acquire().await.unwrap(),
            Default::default(),
        )
        .await
        .unwrap();
    drain_reactor(&app).await;
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(before, after);
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
    drain_reactor(&app).await;
    let state = app.booking_state(booking["id"].as_str().unwrap()).await;
    assert_eq!(state.departure_at, departure);
    assert_eq!(state.delays.len(), 1);
    assert_eq!(state.delays[0].as_str(), "fog");
}

#[tokio::test]
async fn a_cancel_that_died_before_releasing_is_healed_by_the_reactor() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    app.pay(&app.customer, &booking).await;
    // The booking was cancelled, then the process died before releasing the seats.
    let cancel = domain::booking::BookingCommand::Cancel {
        by: CancelledBy::Customer,
        now: app.now(),
    };
    app.state
        .bookings
        .execute(
            booking["id"].as_str().unwrap(),
            None,
            "CancelBooking",
            cancel,
            &CommandMeta::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        app.flight_state(flight).await.seat_status(seat("10A")),
        SeatStatus::Sold
    );
    drain_reactor(&app).await;
    assert_eq!(
        app.flight_state(flight).await.seat_status(seat("10A")),
        SeatStatus::Free
    );
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
