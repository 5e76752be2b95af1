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
    sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, fingerprint, state, claim, lease_until) \
         VALUES ($1, 'busy', $2, 'in_flight', gen_random_uuid(), now() + interval '1 hour')",
    )
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
    let response = app.send(request).await;
    response.assert_problem(409, "idempotency_key_in_flight");
    let retry_after: u64 = response.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3000..=3600).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    assert!(app.flight_state(flight).await.holds.is_empty());
    // Still in flight, never stored as the key's outcome.
    let state: String = sqlx::query_scalar("SELECT state FROM idempotency_keys WHERE key = 'busy'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(state, "in_flight");
}

#[tokio::test]
async fn a_claim_whose_lease_ran_out_is_taken_over_and_its_old_holder_cannot_commit() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let body = booking_body(flight, "10A");
    let fingerprint = command_api::idempotency::fingerprint(
        &Method::POST,
        "/api/v1/bookings",
        &serde_json::to_vec(&body).unwrap(),
    );
    // A request whose process died: its claim's lease has run out.
    let dead_claim = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, fingerprint, state, claim, lease_until) \
         VALUES ($1, 'orphan', $2, 'in_flight', $3, now() - interval '1 second')",
    )
    .bind(app.customer_id.to_string())
    .bind(fingerprint)
    .bind(dead_claim)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let request = || {
        app.client
            .post(format!("{}/api/v1/bookings", app.address))
            .bearer_auth(&app.customer)
            .header("idempotency-key", "orphan")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
    };
    let first = app.send(request()).await;
    assert_eq!(first.status, 201, "{}", first.json());
    let again = app.send(request()).await;
    assert_eq!(again.bytes, first.bytes);
    let claim: uuid::Uuid =
        sqlx::query_scalar("SELECT claim FROM idempotency_keys WHERE key = 'orphan'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_ne!(claim, dead_claim, "the retry did not take the claim over");
}

#[tokio::test]
async fn a_refusal_is_not_the_keys_final_answer() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let other = app.book(&app.admin, flight, &["10A"]).await.json();
    let request = || {
        app.client
            .post(format!("{}/api/v1/bookings", app.address))
            .bearer_auth(&app.customer)
            .header("idempotency-key", "wants-10A")
            .json(&booking_body(flight, "10A"))
    };
    app.send(request())
        .await
        .assert_problem(409, "seats_unavailable");
    // The seat comes free; the same request with the same key now books it.
    let cancel = format!("/api/v1/bookings/{}/cancel", other["id"].as_str().unwrap());
    assert_eq!(app.post(&cancel, &app.admin, &json!({})).await.status, 200);
    let retried = app.send(request()).await;
    assert_eq!(retried.status, 201, "{}", retried.json());
    assert!(retried.headers.get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_case_for_idempotency() {
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    let request = |scheme: &str| {
        app.client
            .post(format!("{}/api/v1/bookings", app.address))
            .header("authorization", format!("{scheme} {}", app.customer))
            .header("idempotency-key", "any-case")
            .json(&booking_body(flight, "10A"))
    };
    let first = app.send(request("bearer")).await;
    assert_eq!(first.status, 201, "{}", first.json());
    let second = app.send(request("Bearer")).await;
    assert_eq!(second.bytes, first.bytes);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    let third = app.send(request("BEARER")).await;
    assert_eq!(third.bytes, first.bytes);
    let scoped: String =
        sqlx::query_scalar("SELECT principal FROM idempotency_keys WHERE key = 'any-case'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(scoped, app.customer_id.to_string());
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

#[tokio::test]
async fn a_request_whose_claim_was_taken_over_cannot_commit_its_decision() {
    use command_api::executor::CommandMeta;
    use command_api::idempotency::IdempotencyClaim;
    use command_api::process::booking::{self, BookRequest};
    let app = spawn_app().await;
    let flight = app.scheduled_flight().await;
    // Another request now holds the key (it took the claim over after this one's lease ran out).
    sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, fingerprint, state, claim, lease_until) \
         VALUES ($1, 'taken', '\\x00', 'in_flight', gen_random_uuid(), now() + interval '1 hour')",
    )
    .bind(app.customer_id.to_string())
    .execute(&app.db.pool)
    .await
    .unwrap();
    let principal = infra::auth::Principal {
        user_id: app.customer_id,
        role: infra::auth::Role::Customer,
        account_since: None,
    };
    let stale = IdempotencyClaim {
        principal: app.customer_id.to_string(),
        key: "taken".to_owned(),
        token: uuid::Uuid::new_v4(),
    };
    let meta = CommandMeta {
        principal: Some(principal),
        correlation_id: "stale".to_owned(),
        idempotency_key: Some("taken".to_owned()),
        claim: Some(stale),
        ..CommandMeta::default()
    };
    let request = BookRequest::one_flight(
        domain::values::FlightId::from_uuid(flight),
        domain::values::EmailAddress::parse("a@example.com").unwrap(),
        vec![
            serde_json::from_value(
                json!({"first_name": "A", "last_name": "B", "type": "adult", "seat": "10A"}),
            )
            .unwrap(),
        ],
    );
    let render = command_api::routes::bookings::render(command_api::routes::StatusCode::CREATED);
    match booking::book(&app.state, principal, &meta, request, render).await {
        Err(command_api::error::ApiError::Problem(p)) => {
            assert_eq!(
                (p.status, p.code.as_str()),
                (409, "idempotency_key_superseded")
            );
        }
        other => panic!(
            "the stale holder was answered {:?}",
            other.map(|(b, _)| b.version)
        ),
    }
    let (events, pnrs): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events WHERE event_type IN ('SeatsHeld', 'BookingPlaced')), \
                (SELECT count(*) FROM pnr_registry)",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (events, pnrs),
        (0, 0),
        "the stale decision left something behind"
    );
    assert!(app.flight_state(flight).await.holds.is_empty());
}
