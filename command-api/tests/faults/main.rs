//! Faults at every step boundary of the booking process: a failpoint makes the step fail as if the
//! process died right there; a fresh instance on the same database (nothing shared in memory) plays the
//! restart, its sweeper and payment recovery run, and `verify` checks the invariants with SQL over the log
//! and the ledger. Failpoints are process-wide, so `FailScenario` runs these tests one at a time.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

#[path = "../api/helpers.rs"]
#[allow(dead_code)] // The API tests' helpers, of which these tests use a part.
mod helpers;
mod payments;

use std::sync::Arc;
use std::time::Duration;

use command_api::payments::TestCardProvider;
use command_api::process::{Outcome, expiry, recovery};
use command_api::state::AppState;
use fail::FailScenario;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, start_with};

/// The invariants hold, with nothing left pending.
async fn assert_consistent(app: &TestApp) {
    let report = airline::verify::run(&app.db.pool, Duration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.pending(), 0, "{report}");
}

/// A new instance, as after a restart; its provider's call log is returned with it.
async fn restart(app: &TestApp) -> (String, AppState, TestCardProvider) {
    let provider = TestCardProvider::default();
    let keys = (app.public_pem.as_str(), &app.clock);
    let (address, state) = start_with(&app.db, keys, 4, Arc::new(provider.clone()), |_| {}).await;
    (address, state, provider)
}

async fn recover(state: &AppState) {
    while recovery::recover_once(state, 100).await.unwrap() != Outcome::Idle {}
}

fn pay_body(booking: &Value) -> Value {
    json!({"card_token": "tok_visa", "amount": booking["total"]})
}

async fn pay_with_key(
    app: &TestApp,
    address: &str,
    booking: &Value,
    key: &str,
) -> helpers::Response {
    let id = booking["id"].as_str().unwrap();
    let request = app
        .client
        .post(format!("{address}/api/v1/bookings/{id}/payment"))
        .bearer_auth(&app.customer)
        .header("idempotency-key", key)
        .json(&pay_body(booking));
    app.send(request).await
}

async fn ledger(app: &TestApp) -> Vec<(String, String)> {
    sqlx::query_as("SELECT kind, status FROM payments ORDER BY created_at")
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

async fn booking_status(state: &AppState, id: &str) -> domain::booking::BookingState {
    state
        .executor
        .load::<domain::booking::Booking>(id)
        .await
        .unwrap()
        .aggregate
        .state()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_crash_in_the_middle_of_a_group_commit_loses_nothing_that_a_retry_does_not_bring_back() {
    let scenario = FailScenario::setup();
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    // The first batch of more than one decision dies after deciding its first.
    fail::cfg("executor.mid_batch", "1*return").unwrap();
    let seats = [
        "10A", "10B", "10C", "10D", "10E", "10F", "11A", "11B", "11C", "11D", "11E", "11F",
    ];
    let request = |seat: &str| {
        let body = json!({"flight_id": flight, "contact_email": "a@example.com",
            "passengers": [{"first_name": "A", "last_name": "B", "type": "adult", "seat": seat}]});
        app.client
            .post(format!("{}/api/v1/bookings", app.address))
            .bearer_auth(&app.customer)
            .header("idempotency-key", format!("book-{seat}"))
            .json(&body)
    };
    let first = futures::future::join_all(seats.iter().map(|s| app.send(request(s)))).await;
    fail::remove("executor.mid_batch");
    let crashed = first.iter().filter(|r| r.status == 500).count();
    assert!(crashed >= 2, "no batch of several was hit: {crashed}");
    assert!(first.iter().all(|r| r.status == 201 || r.status == 500));
    // Nothing of the crashed batch was committed; every retry succeeds.
    let mut created = Vec::new();
    for (seat, original) in seats.iter().zip(&first) {
        let response = app.send(request(seat)).await;
        assert_eq!(response.status, 201, "{seat}: {}", response.json());
        if original.status == 201 {
            assert_eq!(response.bytes, original.bytes, "{seat}: the replay differs");
        }
        created.push(response.json()["id"].as_str().unwrap().to_owned());
    }
    let placed: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE event_type = 'BookingPlaced' ORDER BY aggregate_id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    created.sort();
    assert_eq!(
        placed, created,
        "every 201 is a booking, and nothing else is"
    );
    assert_consistent(&app).await;
    scenario.teardown();
}

#[tokio::test]
async fn a_sweeper_that_dies_after_claiming_leaves_the_holds_for_the_next() {
    let scenario = FailScenario::setup();
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    for seat in ["10A", "10B", "10C"] {
        assert_eq!(app.book(&app.customer, flight, &[seat]).await.status, 201);
    }
    app.clock.advance(chrono::Duration::minutes(16));
    fail::cfg("sweep.after_claim", "return").unwrap();
    assert!(expiry::sweep_once(&app.state, 100).await.is_err());
    fail::remove("sweep.after_claim");
    let report = airline::verify::run(&app.db.pool, Duration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");

    // The claim's lease (zero in tests) has run out: the next sweeper takes the holds.
    let (_, state, _) = restart(&app).await;
    assert_eq!(
        expiry::sweep_once(&state, 100).await.unwrap(),
        Outcome::Processed(3)
    );
    assert!(app.flight_state(flight).await.holds.is_empty());
    let expired: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'BookingExpired'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(expired, 3);
    assert_consistent(&app).await;
    scenario.teardown();
}

/// The test flight CDG→JFK, and JFK→BOS leaving 2 h after it lands.
async fn connection(app: &TestApp) -> (uuid::Uuid, uuid::Uuid) {
    let first = app.scheduled_flight().await;
    app.post_airport("BOS").await;
    let state = app.flight_state(first).await;
    let aircraft = state.aircraft_id;
    let body = testkit::bodies::flight(
        "AA55",
        ("JFK", "BOS"),
        (
            state.arrival_at + chrono::Duration::hours(2),
            chrono::Duration::hours(1),
        ),
        &json!(aircraft),
        &[
            helpers::fare("business", 90_000, true, 0),
            helpers::fare("economy", 10_000, true, 2_500),
        ],
    );
    let created = app.post("/api/v1/flights", &app.admin, &body).await;
    assert_eq!(created.status, 201, "{}", created.json());
    (
        first,
        created.json()["id"].as_str().unwrap().parse().unwrap(),
    )
}

#[tokio::test]
async fn a_journey_that_dies_at_its_commit_holds_nothing_and_one_that_dies_after_is_whole() {
    let scenario = FailScenario::setup();
    let app = spawn_app().await;
    let (first, second) = connection(&app).await;
    let request_at = |address: &str, key: &str, seats: [&str; 2]| {
        let body = json!({"contact_email": "a@example.com",
            "passengers": [{"first_name": "A", "last_name": "B", "type": "adult"}],
            "slices": [{"segments": [{"flight_id": first, "seats": [seats[0]]},
                                     {"flight_id": second, "seats": [seats[1]]}]}]});
        app.client
            .post(format!("{address}/api/v1/bookings"))
            .bearer_auth(&app.customer)
            .header("idempotency-key", key)
            .json(&body)
    };
    let request = |key: &str, seats: [&str; 2]| request_at(&app.address, key, seats);
    // Dies before the commit: nothing on either flight, in the log.
    fail::cfg("executor.before_commit", "return").unwrap();
    let failed = app.send(request("journey-1", ["10A", "11A"])).await;
    fail::remove("executor.before_commit");
    assert_eq!(failed.status, 500);
    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'SeatsHeld'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(held, 0);
    assert_consistent(&app).await;
    // Dies after the commit, before answering: the whole journey is there, and a retry with the key
    // gets its answer.
    fail::cfg("executor.after_commit", "return").unwrap();
    let lost = app.send(request("journey-2", ["10B", "11B"])).await;
    fail::remove("executor.after_commit");
    assert_eq!(lost.status, 500);
    let (address, _, _) = restart(&app).await;
    let retried = app
        .send(request_at(&address, "journey-2", ["10B", "11B"]))
        .await;
    assert_eq!(retried.status, 201, "{}", retried.json());
    let id = retried.json()["id"].as_str().unwrap().to_owned();
    let holds: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE event_type = 'SeatsHeld' \
         AND payload #>> '{SeatsHeld,booking_id}' = $1 ORDER BY aggregate_id",
    )
    .bind(&id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let mut expected = vec![first.to_string(), second.to_string()];
    expected.sort();
    assert_eq!(holds, expected);
    // Paying dies at its commit: neither flight sells, the authorization is voided.
    let booking = retried.json();
    fail::cfg("executor.before_commit", "return").unwrap();
    let failed = pay_with_key(&app, &app.address, &booking, "pay-journey").await;
    fail::remove("executor.before_commit");
    assert_eq!(failed.status, 500);
    for flight in [first, second] {
        let seat = if flight == first { "10B" } else { "11B" };
        let status = app
            .flight_state(flight)
            .await
            .seat_status(helpers::seat(seat));
        assert_eq!(status, domain::flight::SeatStatus::Held);
    }
    assert_consistent(&app).await;
    scenario.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_decision_outlasting_the_request_timeout_is_answered_by_its_outcome_not_a_503() {
    let scenario = FailScenario::setup();
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let keys = (app.public_pem.as_str(), &app.clock);
    let provider = Arc::new(TestCardProvider::default());
    let (address, _state) = start_with(&app.db, keys, 4, provider, |s| {
        s.http.request_timeout_ms = 100;
    })
    .await;
    // The commit takes far longer than the request timeout.
    fail::cfg("executor.before_commit", "sleep(600)").unwrap();
    let body = testkit::bodies::booking(flight, &["10A"], "Slow");
    let request = app
        .client
        .post(format!("{address}/api/v1/bookings"))
        .bearer_auth(&app.customer)
        .json(&body);
    let answered = app.send(request).await;
    fail::remove("executor.before_commit");
    assert_eq!(answered.status, 201, "{}", answered.json());
    let placed: Vec<String> =
        sqlx::query_scalar("SELECT aggregate_id FROM events WHERE event_type = 'BookingPlaced'")
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        placed,
        vec![answered.json()["id"].as_str().unwrap().to_owned()]
    );
    assert_consistent(&app).await;
    scenario.teardown();
}

/// `n` adults without seats on the economy of `flight`.
fn seatless(flight: uuid::Uuid, n: usize) -> Value {
    let passengers: Vec<Value> = (0..n)
        .map(|_| json!({"first_name": "Ada", "last_name": "Lovelace", "type": "adult"}))
        .collect();
    json!({"flight_id": flight, "cabin": "economy", "contact_email": "a@example.com", "passengers": passengers})
}

#[tokio::test]
async fn a_close_that_dies_before_paying_its_offload_refunds_leaves_them_to_recovery_once() {
    let scenario = FailScenario::setup();
    let app = spawn_app().await;
    let (first, second) = connection(&app).await;
    // Economy of the first flight: 30 seats, sold 2 beyond.
    let set = app
        .patch(
            &format!("/api/v1/flights/{first}"),
            &app.admin,
            &json!({"overbooking": [{"cabin": "economy", "seats": 2}]}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.json());
    let mut paid = Vec::new();
    for n in [9, 9, 9, 4] {
        let booked = app
            .post("/api/v1/bookings", &app.customer, &seatless(first, n))
            .await;
        assert_eq!(booked.status, 201, "{}", booked.json());
        let confirmed = app.pay(&app.customer, &booked.json()).await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.json());
        paid.push(confirmed.json());
    }
    // A journey over both flights, held unpaid: the close lapses it on both.
    let journey = json!({"contact_email": "a@example.com",
        "passengers": [{"first_name": "A", "last_name": "B", "type": "adult"}],
        "slices": [{"segments": [{"flight_id": first, "cabin": "economy"},
                                 {"flight_id": second, "cabin": "economy"}]}]});
    let held = app.post("/api/v1/bookings", &app.customer, &journey).await;
    assert_eq!(held.status, 201, "{}", held.json());
    let held_id = held.json()["id"].as_str().unwrap().to_owned();
    // Captured first, so the offload's refund is due as soon as the close commits.
    recover(&app.state).await;

    fail::cfg("close.before_refunds", "return").unwrap();
    let closed = app
        .post(
            &format!("/api/v1/flights/{first}/close"),
            &app.admin,
            &json!({}),
        )
        .await;
    fail::remove("close.before_refunds");
    assert_eq!(closed.status, 500, "the process died after the commit");
    // The close committed: 31 paid on 30 seats, one offloaded from the latest booking, the hold gone.
    let last = paid[3]["id"].as_str().unwrap();
    let offloaded = booking_status(&app.state, last).await;
    assert_eq!(offloaded.offloads.len(), 1);
    assert_eq!(offloaded.offloads[0].passengers, vec![3]);
    assert_eq!(offloaded.offloads[0].refund.amount_minor(), 10_000);
    assert!(offloaded.offloads[0].refund_issued.is_none());
    let lapsed = booking_status(&app.state, &held_id).await;
    assert_eq!(lapsed.status, domain::booking::BookingStatus::Expired);
    let second_state = app.flight_state(second).await;
    assert!(
        second_state.holds.is_empty(),
        "the journey's hold on the next flight lapsed too"
    );
    let pending: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, status, amount_minor FROM payments WHERE kind IN ('refund', 'compensation') ORDER BY kind",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        pending,
        vec![
            ("compensation".to_owned(), "owed".to_owned(), 25_000),
            ("refund".to_owned(), "pending".to_owned(), 10_000)
        ]
    );

    // After the restart, recovery pays the refund back, once.
    let (_, state, provider) = restart(&app).await;
    recover(&state).await;
    recover(&state).await;
    let refunded = booking_status(&state, last).await;
    assert_eq!(
        refunded.offloads[0].refund_issued.map(|m| m.amount_minor()),
        Some(10_000)
    );
    let refunds = provider
        .calls()
        .iter()
        .filter(|c| matches!(c, command_api::payments::ProviderCall::Refund(..)))
        .count();
    assert_eq!(refunds, 1);
    assert_consistent(&app).await;

    // The customer then cancels the rest of that booking: what the offload refunded is not paid twice.
    let cancelled = app
        .post(
            &format!("/api/v1/bookings/{last}/cancel"),
            &app.customer,
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.json());
    assert_eq!(cancelled.json()["refund"]["amount_minor"], 30_000);
    recover(&app.state).await;
    assert_consistent(&app).await;
    scenario.teardown();
}
