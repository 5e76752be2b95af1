use chrono::Duration;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{fare, spawn_app};

#[tokio::test]
async fn an_admin_schedules_a_flight_with_a_copy_of_the_seat_map() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let state = app.flight_state(flight).await;
    assert_eq!(state.seats.len(), 38);
    assert_eq!(state.counts(None).free, 38);
    assert_eq!(state.number.as_str(), "AF1234");
}

#[tokio::test]
async fn scheduling_checks_airports_aircraft_times_and_fares() {
    let app = spawn_app().await;
    app.post_airport("CDG").await;
    app.post_airport("JFK").await;
    let aircraft = app.post_aircraft().await;
    let cases = [
        ("destination", json!("LHR"), 422, "unknown_airport"),
        (
            "aircraft_id",
            json!(Uuid::new_v4()),
            422,
            "unknown_aircraft",
        ),
        (
            "destination",
            json!("CDG"),
            422,
            "same_origin_and_destination",
        ),
        (
            "departure_at",
            json!(app.now() - Duration::days(1)),
            422,
            "departure_in_past",
        ),
        (
            "arrival_at",
            json!(app.now() + Duration::days(9)),
            422,
            "arrival_not_after_departure",
        ),
        (
            "fares",
            json!([fare("economy", 100, true, 0)]),
            422,
            "fares_do_not_match_cabins",
        ),
        ("number", json!("12345"), 422, "invalid_body"),
        ("fares", json!([{"cabin": "economy"}]), 422, "invalid_body"),
    ];
    for (field, value, status, code) in cases {
        let mut body = app.flight_body(aircraft);
        body[field] = value;
        app.post("/api/v1/flights", &app.admin, &body)
            .await
            .assert_problem(status, code);
    }
}

#[tokio::test]
async fn an_unsold_flight_is_rescheduled_and_its_fares_changed() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let departure = app.now() + Duration::days(12);
    let body = json!({"departure_at": departure, "arrival_at": departure + Duration::hours(8),
        "fares": [fare("business", 95_000, true, 0), fare("economy", 11_000, false, 0)]});
    let response = app
        .patch(&format!("/api/v1/flights/{flight}"), &app.admin, &body)
        .await;
    assert_eq!(response.status, 200, "{}", response.json());
    assert_eq!(response.etag(), "\"3\"");
    let state = app.flight_state(flight).await;
    assert_eq!(state.departure_at, departure);
    assert_eq!(
        state.fares[&domain::values::Cabin::Economy][0]
            .price
            .amount_minor(),
        11_000
    );
}

#[tokio::test]
async fn a_sold_flight_cannot_be_rescheduled_only_delayed() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    assert_eq!(app.book(&app.customer, flight, &["10A"]).await.status, 201);
    let departure = app.now() + Duration::days(12);
    let body = json!({"departure_at": departure, "arrival_at": departure + Duration::hours(8)});
    app.patch(&format!("/api/v1/flights/{flight}"), &app.admin, &body)
        .await
        .assert_problem(409, "flight_has_bookings");
    app.patch(
        &format!("/api/v1/flights/{flight}"),
        &app.admin,
        &json!({"departure_at": departure}),
    )
    .await
    .assert_problem(422, "incomplete_schedule");
}

#[tokio::test]
async fn delays_must_be_later_and_cancellations_happen_once() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let state = app.flight_state(flight).await;
    let earlier = state.departure_at - Duration::hours(1);
    let body =
        json!({"departure_at": earlier, "arrival_at": earlier + Duration::hours(8), "reason": "x"});
    app.post(
        &format!("/api/v1/flights/{flight}/delay"),
        &app.admin,
        &body,
    )
    .await
    .assert_problem(422, "delay_must_be_later");
    let later = state.departure_at + Duration::hours(2);
    let body =
        json!({"departure_at": later, "arrival_at": later + Duration::hours(8), "reason": "fog"});
    let response = app
        .post(
            &format!("/api/v1/flights/{flight}/delay"),
            &app.admin,
            &body,
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["status"], "delayed");

    let cancel = json!({"reason": "strike"});
    let response = app
        .post(
            &format!("/api/v1/flights/{flight}/cancel"),
            &app.admin,
            &cancel,
        )
        .await;
    assert_eq!(response.json()["status"], "cancelled");
    app.post(
        &format!("/api/v1/flights/{flight}/cancel"),
        &app.admin,
        &cancel,
    )
    .await
    .assert_problem(409, "flight_cancelled");
}

#[tokio::test]
async fn commands_on_an_unknown_flight_are_404() {
    let app = spawn_app().await;
    let body = json!({"reason": "strike"});
    app.post(
        &format!("/api/v1/flights/{}/cancel", Uuid::new_v4()),
        &app.admin,
        &body,
    )
    .await
    .assert_problem(404, "flight_not_found");
    app.post("/api/v1/flights/not-a-uuid/cancel", &app.admin, &body)
        .await
        .assert_problem(400, "bad_request");
}
