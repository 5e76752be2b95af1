use axum::http::Method;
use serde_json::json;

use crate::helpers::spawn_app;

fn booking_body(flight: uuid::Uuid, seat: &str) -> serde_json::Value {
    json!({"flight_id": flight, "contact_email": "ada@example.com",
        "passengers": [{"first_name": "Ada", "last_name": "L", "type": "adult", "seat": seat}]})
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_first_response_byte_for_byte() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let request = || {
        app.client
            .post(format!("{}/api/v1/bookings", app.address))
            .bearer_auth(&app.customer)
            .header("idempotency-key", "book-10A-once")
            .json(&booking_body(flight, "10A"))
    };
    let first = app.send(request()).await;
    assert_eq!(first.status, 201);
    let second = app.send(request()).await;
    assert_eq!(second.status, 201);
    assert_eq!(second.bytes, first.bytes);
    assert_eq!(second.etag(), first.etag());
    assert_eq!(second.headers["location"], first.headers["location"]);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    // One booking, one hold.
    let state = app.flight_state(flight).await;
    assert_eq!(state.holds.len(), 1);
    let bookings: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'BookingPlaced'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(bookings, 1);
}

#[tokio::test]
async fn the_same_key_with_a_different_body_is_422() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let post = |seat: &str| {
        app.client
            .post(format!("{}/api/v1/bookings", app.address))
            .bearer_auth(&app.customer)
            .header("idempotency-key", "k1")
            .json(&booking_body(flight, seat))
    };
    assert_eq!(app.send(post("10A")).await.status, 201);
    app.send(post("10B"))
        .await
        .assert_problem(422, "idempotency_key_reused");
}

#[tokio::test]
async fn a_key_still_in_flight_is_409() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let body = booking_body(flight, "10A");
    let fingerprint = command_api::idempotency::fingerprint(
        &Method::POST,
        "/api/v1/bookings",
        &serde_json::to_vec(&body).unwrap(),
    );
    sqlx::query("INSERT INTO idempotency_keys (principal, key, fingerprint, state) VALUES ($1, 'busy', $2, 'in_flight')")
        .bind(app.customer_id.to_string())
        .bind(fingerprint)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let request = app
        .client
        .post(format!("{}/api/v1/bookings", app.address))
        .bearer_auth(&app.customer)
        .header("idempotency-key", "busy")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap());
    app.send(request)
        .await
        .assert_problem(409, "idempotency_key_in_flight");
    assert!(app.flight_state(flight).await.holds.is_empty());
}

#[tokio::test]
async fn keys_are_scoped_to_the_caller() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let other = app.token(uuid::Uuid::new_v4(), infra::auth::Role::Customer);
    for (token, seat) in [(&app.customer, "10A"), (&other, "10B")] {
        let request = app
            .client
            .post(format!("{}/api/v1/bookings", app.address))
            .bearer_auth(token)
            .header("idempotency-key", "same-key")
            .json(&booking_body(flight, seat));
        assert_eq!(app.send(request).await.status, 201);
    }
    assert_eq!(app.flight_state(flight).await.holds.len(), 2);
}

#[tokio::test]
async fn a_malformed_key_is_400() {
    let app = spawn_app().await;
    let request = app
        .client
        .post(format!("{}/api/v1/airports", app.address))
        .bearer_auth(&app.admin)
        .header("idempotency-key", "has space")
        .json(&json!({}));
    app.send(request)
        .await
        .assert_problem(400, "invalid_idempotency_key");
}
