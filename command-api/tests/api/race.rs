//! Two command API processes on one database, many clients at once: no seat is ever held twice.

use std::collections::{BTreeMap, BTreeSet};

use cqrs_es::Aggregate;
use domain::flight::{Flight, FlightEvent};
use domain::values::{BookingId, SeatNumber};
use futures::future::join_all;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, fare, spawn_app, start_instance};

/// A flight with exactly 100 economy seats: rows 1–25, `AB CD`.
async fn hundred_seat_flight(app: &TestApp) -> Uuid {
    app.post_airport("CDG").await;
    app.post_airport("JFK").await;
    let body = json!({"model": "Race 100", "cabins": [
        {"cabin": "economy", "first_row": 1, "last_row": 25, "letters": "AB CD"}
    ]});
    let aircraft = app.post("/api/v1/aircraft", &app.admin, &body).await.json()["id"].clone();
    let mut flight = app.flight_body(Uuid::nil());
    flight["aircraft_id"] = aircraft;
    flight["fares"] = json!([fare("economy", 10_000, true, 0)]);
    let response = app.post("/api/v1/flights", &app.admin, &flight).await;
    assert_eq!(response.status, 201, "{}", response.json());
    response.json()["id"].as_str().unwrap().parse().unwrap()
}

fn all_seats() -> Vec<String> {
    (1..=25)
        .flat_map(|row| ["A", "B", "C", "D"].map(|l| format!("{row}{l}")))
        .collect()
}

/// Folds the flight's raw events with a fresh ledger of its own: a seat may be taken only when free.
async fn assert_never_double_booked(
    app: &TestApp,
    flight: Uuid,
) -> BTreeMap<SeatNumber, BookingId> {
    let events: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_type = 'flight' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(flight.to_string())
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let mut owner: BTreeMap<SeatNumber, BookingId> = BTreeMap::new();
    let mut folded = Flight::default();
    for payload in events {
        let event: FlightEvent = serde_json::from_value(payload).unwrap();
        match &event {
            FlightEvent::SeatsHeld {
                booking_id, seats, ..
            } => {
                for seat in seats {
                    let previous = owner.insert(*seat, *booking_id);
                    assert!(
                        previous.is_none(),
                        "seat {seat} held by {previous:?} and {booking_id}"
                    );
                }
            }
            FlightEvent::SeatsReleased { booking_id, seats }
            | FlightEvent::HoldExpired { booking_id, seats } => {
                for seat in seats {
                    assert_eq!(owner.remove(seat), Some(*booking_id));
                }
            }
            _ => {}
        }
        folded.apply(event);
    }
    let state = folded.state().unwrap();
    let counts = state.counts(None);
    assert_eq!(counts.sold + counts.held + counts.free, counts.capacity);
    assert_eq!(counts.held, owner.len());
    owner
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_and_200_clients_sell_each_of_100_seats_exactly_once() {
    let app = spawn_app().await;
    let flight = hundred_seat_flight(&app).await;
    let (second, _) = start_instance(&app.db, &app.public_pem, &app.clock, 8).await;
    let seats = all_seats();
    // Every seat is wanted by two clients, one on each instance.
    let requests = (0..200).map(|i| {
        let seat = seats[i % 100].clone();
        let address = if i % 2 == 0 { app.address.clone() } else { second.clone() };
        let token = app.token(Uuid::new_v4(), infra::auth::Role::Customer);
        let client = app.client.clone();
        async move {
            let body = json!({"flight_id": flight, "contact_email": "race@example.com",
                "passengers": [{"first_name": "R", "last_name": "C", "type": "adult", "seat": seat}]});
            let response = client
                .post(format!("{address}/api/v1/bookings"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    });
    let results = join_all(requests).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let conflicts = results.iter().filter(|(s, _)| *s == 409).count();
    let others: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s != 201 && *s != 409)
        .collect();
    assert!(others.is_empty(), "unexpected responses: {others:?}");
    assert_eq!(created, 100);
    assert_eq!(conflicts, 100);
    for (_, body) in results.iter().filter(|(s, _)| *s == 409) {
        assert!(body.contains("seats_unavailable"), "{body}");
    }
    let owners = assert_never_double_booked(&app, flight).await;
    assert_eq!(owners.len(), 100);
    let placed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'BookingPlaced'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(placed, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_multi_seat_requests_never_share_a_seat() {
    let app = spawn_app().await;
    let flight = hundred_seat_flight(&app).await;
    let (second, _) = start_instance(&app.db, &app.public_pem, &app.clock, 8).await;
    let seats = all_seats();
    // Sliding windows of three seats: every request overlaps its neighbours.
    let requests = (0..200).map(|i| {
        let wanted: Vec<String> = (0..3).map(|k| seats[(i / 2 + k) % 100].clone()).collect();
        let address = if i % 2 == 0 { app.address.clone() } else { second.clone() };
        let token = app.token(Uuid::new_v4(), infra::auth::Role::Customer);
        let client = app.client.clone();
        async move {
            let passengers: Vec<_> = wanted
                .iter()
                .map(|s| json!({"first_name": "R", "last_name": "C", "type": "adult", "seat": s}))
                .collect();
            let body = json!({"flight_id": flight, "contact_email": "race@example.com", "passengers": passengers});
            let response = client
                .post(format!("{address}/api/v1/bookings"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
        }
    });
    let results = join_all(requests).await;
    let mut taken = BTreeSet::new();
    let mut created = 0;
    for (status, body) in &results {
        match status {
            201 => {
                created += 1;
                for p in body["passengers"].as_array().unwrap() {
                    assert!(
                        taken.insert(p["seat"].as_str().unwrap().to_owned()),
                        "seat sold twice: {p}"
                    );
                }
            }
            409 => assert_eq!(body["code"], "seats_unavailable"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(created >= 25, "too few bookings succeeded: {created}");
    let owners = assert_never_double_booked(&app, flight).await;
    assert_eq!(owners.len(), created * 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_decided_together_keep_their_own_metadata() {
    let app = spawn_app().await;
    let flight = hundred_seat_flight(&app).await;
    let seats = all_seats();
    let requests = (0..50).map(|i| {
        let (client, address, token) = (app.client.clone(), app.address.clone(), app.customer.clone());
        let seat = seats[i].clone();
        async move {
            let body = json!({"flight_id": flight, "contact_email": "batch@example.com",
                "passengers": [{"first_name": "B", "last_name": "C", "type": "adult", "seat": seat}]});
            client
                .post(format!("{address}/api/v1/bookings"))
                .bearer_auth(token)
                .header("x-request-id", format!("req-{i}"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    assert!(join_all(requests).await.iter().all(|s| *s == 201));
    // Each hold carries the request id of its own booking, whichever batch it was appended in.
    let pairs: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT h.metadata ->> 'correlation_id', b.metadata ->> 'correlation_id', h.tx_id::text \
         FROM events h JOIN events b ON b.aggregate_type = 'booking' AND b.event_type = 'BookingPlaced' \
           AND b.aggregate_id = h.payload -> 'SeatsHeld' ->> 'booking_id' \
         WHERE h.event_type = 'SeatsHeld'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(pairs.len(), 50);
    for (hold, booking, _) in &pairs {
        assert_eq!(hold, booking);
    }
    let correlations: BTreeSet<_> = pairs.iter().map(|p| p.0.clone()).collect();
    assert_eq!(correlations.len(), 50);
    // Fewer transactions than holds: concurrent holds were appended together.
    let transactions: BTreeSet<_> = pairs.iter().map(|p| p.2.clone()).collect();
    assert!(transactions.len() < 50, "no two holds shared a commit");
}
