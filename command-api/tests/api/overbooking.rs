//! Overbooking, places without seats and the flight's close through the command API: 64 concurrent
//! buyers of an oversold cabin sell exactly its authorized places; bad overbooking and closes are
//! problems, not errors; a passenger without a seat picks one; a close is the admin's, once.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

/// The test flight with economy (30 seats) sold `extra` places beyond its seats.
async fn oversold(app: &TestApp, extra: u32) -> Uuid {
    let flight = app.scheduled_flight().await;
    let set = app
        .patch(
            &format!("/api/v1/flights/{flight}"),
            &app.admin,
            &json!({"overbooking": [{"cabin": "economy", "seats": extra}]}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.json());
    assert_eq!(
        set.json()["seats"]["authorized"],
        38 + extra,
        "{}",
        set.json()
    );
    flight
}

/// A booking of `n` adults without seats in economy.
fn seatless(flight: Uuid, n: usize) -> Value {
    let passengers: Vec<Value> = (0..n)
        .map(|_| json!({"first_name": "Ada", "last_name": "Lovelace", "type": "adult"}))
        .collect();
    json!({"flight_id": flight, "cabin": "economy", "contact_email": "ada@example.com", "passengers": passengers})
}

#[tokio::test]
async fn sixty_four_concurrent_buyers_sell_exactly_the_authorized_places() {
    let app = spawn_app().await;
    let flight = oversold(&app, 10).await;
    let one = seatless(flight, 1);
    let answers = futures::future::join_all(
        (0..64).map(|_| app.post("/api/v1/bookings", &app.customer, &one)),
    )
    .await;
    let sold: Vec<Value> = answers
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.json())
        .collect();
    assert_eq!(sold.len(), 40, "30 seats + 10 overbooked");
    for refused in answers.iter().filter(|r| r.status != 201) {
        assert_eq!(refused.status, 409);
        assert_eq!(refused.json()["code"], "no_class_open");
    }
    let paid = futures::future::join_all(sold.iter().map(|b| app.pay(&app.customer, b))).await;
    assert!(paid.iter().all(|r| r.status == 200));
    let counts = app
        .flight_state(flight)
        .await
        .counts(Some(domain::values::Cabin::Economy));
    assert_eq!(
        (
            counts.sold,
            counts.held,
            counts.authorized,
            counts.unassigned
        ),
        (40, 0, 40, 40)
    );
    let report = airline::verify::run(&app.db.pool, Duration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn a_passenger_without_a_seat_picks_one_and_the_exit_row_rules_still_hold() {
    let app = spawn_app().await;
    let flight = oversold(&app, 0).await;
    let body = json!({"flight_id": flight, "contact_email": "ada@example.com", "passengers": [
        {"first_name": "Ada", "last_name": "Lovelace", "type": "adult"},
        {"first_name": "Byron", "last_name": "Lovelace", "type": "child", "seat": "10B"}]});
    let booked = app.post("/api/v1/bookings", &app.customer, &body).await;
    assert_eq!(booked.status, 201, "{}", booked.json());
    let booking = booked.json();
    assert_eq!(booking["segments"][0]["seats"], json!([null, "10B"]));
    assert_eq!(booking["segments"][0]["class"], "Y");
    let path = format!(
        "/api/v1/bookings/{}/seat-changes",
        booking["id"].as_str().unwrap()
    );
    let picked = app
        .post(
            &path,
            &app.customer,
            &json!({"passenger": 0, "seat": "12A"}),
        )
        .await;
    assert_eq!(picked.status, 200, "{}", picked.json());
    assert_eq!(picked.json()["segments"][0]["seats"], json!(["12A", "10B"]));
    let child = app
        .post(
            &path,
            &app.customer,
            &json!({"passenger": 1, "seat": "12C"}),
        )
        .await;
    assert_eq!(
        (child.status.as_u16(), child.json()["code"].clone()),
        (422, json!("exit_row_restricted"))
    );
    let state = app.flight_state(flight).await;
    assert_eq!(
        state
            .counts(Some(domain::values::Cabin::Economy))
            .unassigned,
        0
    );
    // An infant with a seat is refused plainly.
    let infant = json!({"flight_id": flight, "contact_email": "ada@example.com", "passengers": [
        {"first_name": "Ada", "last_name": "Lovelace", "type": "adult", "seat": "13A"},
        {"first_name": "Baby", "last_name": "Lovelace", "type": "infant", "seat": "13B"}]});
    let refused = app.post("/api/v1/bookings", &app.customer, &infant).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["code"], "invalid_body");
}

#[tokio::test]
async fn bad_overbooking_and_closes_are_problems() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let path = format!("/api/v1/flights/{flight}");
    for (body, code) in [
        (
            json!({"cabin": "economy", "percent": 101}),
            "invalid_overbooking",
        ),
        (
            json!({"cabin": "economy", "seats": 31}),
            "invalid_overbooking",
        ),
        (
            json!({"cabin": "economy", "percent": 5, "seats": 1}),
            "invalid_overbooking",
        ),
        (json!({"cabin": "economy"}), "invalid_overbooking"),
        (json!({"cabin": "first", "seats": 1}), "no_such_cabin"),
    ] {
        let refused = app
            .patch(&path, &app.admin, &json!({"overbooking": [body]}))
            .await;
        assert_eq!(refused.status, 422, "{body}: {}", refused.json());
        assert_eq!(refused.json()["code"], code, "{body}");
    }
    let customer_close = app
        .post(&format!("{path}/close"), &app.customer, &json!({}))
        .await;
    assert_eq!(customer_close.status, 403);
    let missing = app
        .post(
            &format!("/api/v1/flights/{}/close", Uuid::now_v7()),
            &app.admin,
            &json!({}),
        )
        .await;
    assert_eq!(missing.status, 404);
    let closed = app
        .post(&format!("{path}/close"), &app.admin, &json!({}))
        .await;
    assert_eq!(closed.status, 200, "{}", closed.json());
    let again = app
        .post(&format!("{path}/close"), &app.admin, &json!({}))
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["code"], "flight_closed");
    let late = app
        .patch(
            &path,
            &app.admin,
            &json!({"overbooking": [{"cabin": "economy", "seats": 2}]}),
        )
        .await;
    assert_eq!(late.status, 409);
    assert_eq!(late.json()["code"], "flight_closed");
}

/// Appends a forged event to a flight's stream, as a bug in the write side would.
async fn forge_flight_event(app: &TestApp, flight: Uuid, event_type: &str, payload: Value) {
    let next: i64 = sqlx::query_scalar(
        "SELECT max(sequence) + 1 FROM events WHERE aggregate_type = 'flight' AND aggregate_id = $1",
    )
    .bind(flight.to_string())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('flight', $1, $2, $3, '1.2', $4, '{}')",
    )
    .bind(flight.to_string())
    .bind(next)
    .bind(event_type)
    .bind(json!({ event_type: payload }))
    .execute(&app.db.pool)
    .await
    .unwrap();
}

/// The violations `verify` reports under the check `name`.
async fn violations(app: &TestApp, name: &str) -> Vec<String> {
    let report = airline::verify::run(&app.db.pool, Duration::ZERO)
        .await
        .unwrap();
    report
        .checks
        .into_iter()
        .find(|c| c.name == name)
        .map(|c| c.violations)
        .unwrap_or_else(|| panic!("no check {name}"))
}

#[tokio::test]
async fn verify_finds_a_sale_past_the_authorized_places_a_sale_after_close_and_a_stray_compensation()
 {
    let app = spawn_app().await;
    let flight = oversold(&app, 2).await;
    let booked = app
        .post("/api/v1/bookings", &app.customer, &seatless(flight, 2))
        .await;
    assert_eq!(booked.status, 201);
    for check in [
        "capacity",
        "places-vs-bookings",
        "closed-flights",
        "offloads",
    ] {
        assert!(violations(&app, check).await.is_empty(), "{check}");
    }
    // A hold of 40 places without seats on 30 seats + 2, for a booking never placed.
    let hold = |seats: Vec<&str>, unseated: usize| {
        json!({"booking_id": Uuid::new_v4(), "cabin": "economy", "class": "Y", "seats": seats,
               "unseated": vec!["adult"; unseated], "hold_until": app.now() + chrono::Duration::minutes(15)})
    };
    forge_flight_event(&app, flight, "SeatsHeld", hold(vec![], 40)).await;
    let capacity = violations(&app, "capacity").await;
    assert!(
        capacity
            .iter()
            .any(|v| v.contains("42 places, past its 30 seats + 2 overbooking")),
        "{capacity:?}"
    );
    let places = violations(&app, "places-vs-bookings").await;
    assert!(
        places
            .iter()
            .any(|v| v.contains("holds 40 places without a seat, the booking has 0")),
        "{places:?}"
    );

    // A seat sold after the flight closed.
    let other = oversold(&app, 0).await;
    let closed = app
        .post(
            &format!("/api/v1/flights/{other}/close"),
            &app.admin,
            &json!({}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.json());
    assert!(violations(&app, "closed-flights").await.is_empty());
    forge_flight_event(&app, other, "SeatsHeld", hold(vec!["10A"], 0)).await;
    let after = violations(&app, "closed-flights").await;
    assert!(
        after
            .iter()
            .any(|v| v.contains("SeatsHeld at event") && v.contains("after it closed")),
        "{after:?}"
    );

    // A compensation in the ledger that no offload owes.
    sqlx::query(
        "INSERT INTO payments (payment_id, booking_id, flight_id, kind, attempt, amount_minor, currency, status, provider_key) \
         VALUES ($1, $2, $3, 'compensation', 10, 25000, 'EUR', 'owed', $4)",
    )
    .bind(Uuid::now_v7())
    .bind(Uuid::parse_str(booked.json()["id"].as_str().unwrap()).unwrap())
    .bind(flight)
    .bind(format!("compensation-{}-{flight}", booked.json()["id"].as_str().unwrap()))
    .execute(&app.db.pool)
    .await
    .unwrap();
    let offloads = violations(&app, "offloads").await;
    assert!(
        offloads
            .iter()
            .any(|v| v.contains("for an offload from flight")
                && v.contains("that is not in the log")),
        "{offloads:?}"
    );
}
