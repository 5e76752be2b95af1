//! Booking through the command API: hold, pay, cancel, change seat, and their refusals.
//! Past 400 lines on purpose: one test per behaviour, sharing one setup.

use chrono::Duration;
use domain::booking::BookingStatus;
use domain::flight::SeatStatus;
use infra::auth::Role;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{seat, spawn_app};

#[tokio::test]
async fn booking_holds_the_seats_and_returns_a_pnr_and_total() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let response = app.book(&app.customer, flight, &["10A", "10B"]).await;
    assert_eq!(response.status, 201, "{}", response.json());
    let body = response.json();
    assert_eq!(body["status"], "held");
    assert_eq!(
        body["total"],
        json!({"amount_minor": 20_000, "currency": "EUR"})
    );
    assert_eq!(body["cabin"], "economy");
    assert_eq!(body["reference"].as_str().unwrap().len(), 6);
    assert_eq!(response.etag(), "\"1\"");
    let expires: chrono::DateTime<chrono::Utc> =
        body["hold_expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires, app.now() + Duration::minutes(15));
    let state = app.flight_state(flight).await;
    assert_eq!(state.seat_status(seat("10A")), SeatStatus::Held);
    assert_eq!(state.seat_status(seat("10B")), SeatStatus::Held);
}

#[tokio::test]
async fn a_taken_seat_is_409_and_names_it() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    app.book(&app.customer, flight, &["10A"]).await;
    let response = app.book(&app.customer, flight, &["10C", "10A"]).await;
    response.assert_problem(409, "seats_unavailable");
    assert!(response.json()["detail"].as_str().unwrap().contains("10A"));
    assert_eq!(
        app.flight_state(flight).await.seat_status(seat("10C")),
        SeatStatus::Free
    );
}

#[tokio::test]
async fn bad_booking_requests_are_4xx_problems() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let adult =
        |s: &str| json!({"first_name": "Ada", "last_name": "L", "type": "adult", "seat": s});
    let child =
        |s: &str| json!({"first_name": "Tim", "last_name": "L", "type": "child", "seat": s});
    let infant = json!({"first_name": "Bo", "last_name": "L", "type": "infant"});
    let cases = [
        (json!([adult("40A")]), 422, "unknown_seat"),
        (json!([adult("1A"), adult("10A")]), 422, "mixed_cabins"),
        (json!([child("10A")]), 422, "invalid_passengers"),
        (
            json!([adult("10A"), infant.clone(), infant]),
            422,
            "invalid_passengers",
        ),
        (
            json!([adult("10A"), adult("10A")]),
            422,
            "invalid_passengers",
        ),
        (
            json!([adult("10A"), child("12A")]),
            422,
            "exit_row_restricted",
        ),
        (json!([adult("10I")]), 422, "invalid_body"),
        (json!([]), 422, "invalid_passengers"),
    ];
    for (passengers, status, code) in cases {
        let body = json!({"flight_id": flight, "contact_email": "a@example.com", "passengers": passengers});
        app.post("/api/v1/bookings", &app.customer, &body)
            .await
            .assert_problem(status, code);
    }
    let body =
        json!({"flight_id": flight, "contact_email": "not-an-email", "passengers": [adult("10A")]});
    app.post("/api/v1/bookings", &app.customer, &body)
        .await
        .assert_problem(422, "invalid_body");
    let body = json!({"flight_id": Uuid::new_v4(), "contact_email": "a@example.com", "passengers": [adult("10A")]});
    app.post("/api/v1/bookings", &app.customer, &body)
        .await
        .assert_problem(404, "flight_not_found");
    let body = json!({"flight_id": flight, "contact_email": "a@example.com", "passengers": [adult("10A")], "vip": true});
    app.post("/api/v1/bookings", &app.customer, &body)
        .await
        .assert_problem(422, "invalid_body");
}

#[tokio::test]
async fn malformed_json_wrong_media_type_and_oversize_bodies_are_4xx() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/bookings", app.address);
    let send = |body: String, ct: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&app.customer)
            .header("content-type", ct)
            .body(body)
    };
    app.send(send("{not json".to_owned(), "application/json"))
        .await
        .assert_problem(400, "malformed_json");
    app.send(send("{}".to_owned(), "text/plain"))
        .await
        .assert_problem(415, "unsupported_media_type");
    let huge = format!("{{\"x\": \"{}\"}}", "a".repeat(64 * 1024));
    app.send(send(huge, "application/json"))
        .await
        .assert_problem(413, "payload_too_large");
}

#[tokio::test]
async fn paying_the_total_confirms_and_sells_the_seats() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    let response = app.pay(&app.customer, &booking).await;
    assert_eq!(response.status, 200, "{}", response.json());
    assert_eq!(response.json()["status"], "confirmed");
    assert!(
        response.json()["payment_reference"]
            .as_str()
            .unwrap()
            .starts_with("auth_")
    );
    assert_eq!(response.etag(), "\"2\"");
    assert_eq!(
        app.flight_state(flight).await.seat_status(seat("10A")),
        SeatStatus::Sold
    );
    app.pay(&app.customer, &booking)
        .await
        .assert_problem(409, "already_paid");
}

#[tokio::test]
async fn a_declined_card_or_a_wrong_amount_changes_nothing() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    let path = format!(
        "/api/v1/bookings/{}/payment",
        booking["id"].as_str().unwrap()
    );
    let declined = json!({"card_token": "tok_chargeDeclined", "amount": booking["total"]});
    app.post(&path, &app.customer, &declined)
        .await
        .assert_problem(402, "payment_declined");
    let short = json!({"card_token": "tok_visa", "amount": {"amount_minor": 1, "currency": "EUR"}});
    app.post(&path, &app.customer, &short)
        .await
        .assert_problem(422, "payment_mismatch");
    let usd =
        json!({"card_token": "tok_visa", "amount": {"amount_minor": 10_000, "currency": "USD"}});
    app.post(&path, &app.customer, &usd)
        .await
        .assert_problem(422, "payment_mismatch");
    assert_eq!(
        app.booking_state(booking["id"].as_str().unwrap())
            .await
            .status,
        BookingStatus::Held
    );
    assert_eq!(
        app.flight_state(flight).await.seat_status(seat("10A")),
        SeatStatus::Held
    );
    let ledger: Vec<String> = sqlx::query_scalar("SELECT status FROM payments")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        ledger,
        ["declined"],
        "the declined attempt is on the ledger, closed"
    );
}

#[tokio::test]
async fn a_provider_that_does_not_answer_is_503_and_leaves_nothing_authorized() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    let path = format!(
        "/api/v1/bookings/{}/payment",
        booking["id"].as_str().unwrap()
    );
    let down = json!({"card_token": "tok_unavailable", "amount": booking["total"]});
    let response = app.post(&path, &app.customer, &down).await;
    response.assert_problem(503, "payment_provider_unavailable");
    let ledger: Vec<String> = sqlx::query_scalar("SELECT status FROM payments")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(ledger, ["voided"]);
    // The customer tries again with a card that works.
    let paid = app.pay(&app.customer, &booking).await;
    assert_eq!(paid.status, 200, "{}", paid.json());
    let id = booking["id"].as_str().unwrap();
    assert!(app.booking_state(id).await.captured.is_some());
    let report = airline::verify::run(&app.db.pool, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn one_authorization_per_booking_at_a_time() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    let id: uuid::Uuid = booking["id"].as_str().unwrap().parse().unwrap();
    // Another request is authorizing this booking right now.
    sqlx::query(
        "INSERT INTO payments (payment_id, booking_id, flight_id, kind, attempt, amount_minor, currency, status, \
         provider_key) VALUES (gen_random_uuid(), $1, $2, 'authorization', 1, 10000, 'EUR', 'authorizing', 'other')",
    )
    .bind(id)
    .bind(flight)
    .execute(&app.db.pool)
    .await
    .unwrap();
    app.pay(&app.customer, &booking)
        .await
        .assert_problem(409, "payment_in_progress");
    assert_eq!(
        app.booking_state(&id.to_string()).await.status,
        BookingStatus::Held
    );
}

#[tokio::test]
async fn another_customers_booking_is_404_but_an_admin_sees_it() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    let stranger = app.token(Uuid::new_v4(), Role::Customer);
    let id = booking["id"].as_str().unwrap();
    app.pay(&stranger, &booking)
        .await
        .assert_problem(404, "booking_not_found");
    app.post(
        &format!("/api/v1/bookings/{id}/cancel"),
        &stranger,
        &json!({}),
    )
    .await
    .assert_problem(404, "booking_not_found");
    let change = json!({"passenger": 0, "seat": "11A"});
    app.post(
        &format!("/api/v1/bookings/{id}/seat-changes"),
        &stranger,
        &change,
    )
    .await
    .assert_problem(404, "booking_not_found");
    let response = app
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            &app.admin,
            &json!({}),
        )
        .await;
    assert_eq!(response.json()["cancelled_by"], "airline");
}

#[tokio::test]
async fn a_customer_cancelling_a_paid_booking_within_24_hours_is_refunded_in_full() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    app.pay(&app.customer, &booking).await;
    let id = booking["id"].as_str().unwrap();
    let response = app
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            &app.customer,
            &json!({}),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.json());
    assert_eq!(response.json()["status"], "cancelled");
    assert_eq!(
        response.json()["refund"],
        json!({"amount_minor": 10_000, "currency": "EUR"})
    );
    assert_eq!(
        app.flight_state(flight).await.seat_status(seat("10A")),
        SeatStatus::Free
    );
    app.post(
        &format!("/api/v1/bookings/{id}/cancel"),
        &app.customer,
        &json!({}),
    )
    .await
    .assert_problem(409, "booking_cancelled");
}

#[tokio::test]
async fn after_24_hours_the_refund_keeps_the_fee() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    app.pay(&app.customer, &booking).await;
    app.clock.advance(Duration::hours(30));
    let id = booking["id"].as_str().unwrap();
    let response = app
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            &app.customer,
            &json!({}),
        )
        .await;
    assert_eq!(response.json()["refund"]["amount_minor"], 7_500);
}

#[tokio::test]
async fn a_passenger_moves_to_a_free_seat_and_the_old_one_is_freed() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app
        .book(&app.customer, flight, &["10A", "10B"])
        .await
        .json();
    app.book(&app.customer, flight, &["14F"]).await;
    let id = booking["id"].as_str().unwrap();
    let path = format!("/api/v1/bookings/{id}/seat-changes");
    let response = app
        .post(
            &path,
            &app.customer,
            &json!({"passenger": 1, "seat": "13C"}),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.json());
    assert_eq!(response.json()["passengers"][1]["seat"], "13C");
    let state = app.flight_state(flight).await;
    assert_eq!(state.seat_status(seat("10B")), SeatStatus::Free);
    assert_eq!(state.seat_status(seat("13C")), SeatStatus::Held);
    app.post(
        &path,
        &app.customer,
        &json!({"passenger": 0, "seat": "14F"}),
    )
    .await
    .assert_problem(409, "seats_unavailable");
    app.post(&path, &app.customer, &json!({"passenger": 0, "seat": "1A"}))
        .await
        .assert_problem(422, "cabin_change");
    app.post(
        &path,
        &app.customer,
        &json!({"passenger": 5, "seat": "11A"}),
    )
    .await
    .assert_problem(422, "no_such_passenger");
    app.post(
        &path,
        &app.customer,
        &json!({"passenger": 0, "seat": "10A"}),
    )
    .await
    .assert_problem(422, "same_seat");
}

#[tokio::test]
async fn if_match_guards_booking_changes() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    let id = booking["id"].as_str().unwrap();
    let cancel = |tag: &'static str| {
        app.client
            .post(format!("{}/api/v1/bookings/{id}/cancel", app.address))
            .bearer_auth(&app.customer)
            .header("if-match", tag)
    };
    app.send(cancel("\"5\""))
        .await
        .assert_problem(412, "version_mismatch");
    assert_eq!(app.booking_state(id).await.status, BookingStatus::Held);
    let response = app.send(cancel("\"1\"")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.etag(), "\"2\"");
}

/// A provider during whose authorization payment recovery decides the attempt was abandoned and starts
/// voiding it (as it would for a request slower than its threshold).
#[derive(Debug)]
struct RecoveryWinsTheRace {
    pool: sqlx::PgPool,
}

impl crate::helpers::Authorize for RecoveryWinsTheRace {
    fn authorize<'a>(
        &'a self,
        inner: &'a command_api::payments::TestCardProvider,
        key: &'a str,
        card_token: &'a str,
        amount: domain::values::Money,
    ) -> command_api::payments::ProviderFuture<'a, command_api::payments::Receipt> {
        Box::pin(async move {
            let receipt =
                command_api::payments::PaymentProvider::authorize(inner, key, card_token, amount)
                    .await?;
            sqlx::query("UPDATE payments SET status = 'voiding' WHERE provider_key = $1")
                .bind(key)
                .execute(&self.pool)
                .await
                .unwrap();
            Ok(receipt)
        })
    }
}

#[tokio::test]
async fn an_authorization_voided_before_its_commit_confirms_nothing() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let booking = app.book(&app.customer, flight, &["10A"]).await.json();
    let provider = std::sync::Arc::new(crate::helpers::AuthorizingWith {
        inner: command_api::payments::TestCardProvider::default(),
        hook: RecoveryWinsTheRace {
            pool: app.db.pool.clone(),
        },
    });
    let keys = (app.public_pem.as_str(), &app.clock);
    let (address, state) = crate::helpers::start_with(&app.db, keys, 4, provider, |_| {}).await;
    let path = format!(
        "{address}/api/v1/bookings/{}/payment",
        booking["id"].as_str().unwrap()
    );
    let body = json!({"card_token": "tok_visa", "amount": booking["total"]});
    let request = app.client.post(path).bearer_auth(&app.customer).json(&body);
    app.send(request)
        .await
        .assert_problem(409, "payment_voided");
    assert_eq!(
        app.booking_state(booking["id"].as_str().unwrap())
            .await
            .status,
        BookingStatus::Held
    );
    assert_eq!(
        app.flight_state(flight).await.seat_status(seat("10A")),
        SeatStatus::Held
    );
    // Recovery finishes the void it started; nothing is left reserved.
    while command_api::process::recovery::recover_once(&state, 10)
        .await
        .unwrap()
        != command_api::process::Outcome::Idle
    {}
    let ledger: Vec<String> = sqlx::query_scalar("SELECT status FROM payments")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(ledger, ["voided"]);
    let report = airline::verify::run(&app.db.pool, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}
