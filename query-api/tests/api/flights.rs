use chrono::{Duration, Utc};
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with_redis};

fn status_of(map: &Value, seat: &str) -> String {
    map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["seat"] == seat)
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .unwrap()
}

#[tokio::test]
async fn the_seat_map_follows_holds_payments_releases_and_expiries() {
    let app = spawn_app().await;
    app.airports(&[("CDG", "Europe/Paris"), ("JFK", "America/New_York")])
        .await;
    let aircraft = app.aircraft().await;
    let flight = app
        .flight(
            "AF1",
            ("CDG", "JFK"),
            Utc::now() + Duration::days(5),
            (1000, 100),
            aircraft,
        )
        .await;
    let path = format!("/api/v1/flights/{flight}/seats");
    app.project().await;
    let (status, map) = app.get(&path, None).await;
    assert_eq!(status, 200);
    assert_eq!(map["seats"].as_array().unwrap().len(), 38);
    assert_eq!(status_of(&map, "10A"), "free");
    let first_version = map["version"].as_i64().unwrap();

    let paid = app.book(&app.customer, flight, &["10A"]).await;
    let held = app.book(&app.customer, flight, &["10B"]).await;
    let cancelled = app.book(&app.customer, flight, &["10C"]).await;
    app.pay(&app.customer, &paid).await;
    let cancel = format!(
        "/api/v1/bookings/{}/cancel",
        cancelled["id"].as_str().unwrap()
    );
    app.post(&cancel, &app.customer, &serde_json::json!({}))
        .await;
    app.project().await;
    let (_, map) = app.get(&path, None).await;
    assert_eq!(status_of(&map, "10A"), "sold");
    assert_eq!(status_of(&map, "10B"), "held");
    assert_eq!(status_of(&map, "10C"), "free");
    assert!(map["version"].as_i64().unwrap() > first_version);

    // The hold lapses.
    app.clock.advance(Duration::minutes(16));
    let sweep_state = command_state(&app).await;
    command_api::process::expiry::sweep_once(&sweep_state, 100)
        .await
        .unwrap();
    app.project().await;
    let (_, map) = app.get(&path, None).await;
    assert_eq!(status_of(&map, "10B"), "free");
    let _ = held;

    let (_, flight_view) = app.get(&format!("/api/v1/flights/{flight}"), None).await;
    let economy = flight_view["cabins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cabin"] == "economy")
        .unwrap()
        .clone();
    assert_eq!(economy["seats_sold"], 1);
    assert_eq!(economy["seats_held"], 0);
    assert_eq!(economy["seats_free"], 29);
}

/// A second command-API state on the test database, for driving the sweeper.
async fn command_state(app: &crate::helpers::TestApp) -> command_api::state::AppState {
    use std::sync::Arc;
    command_api::state::AppState::new(
        app.db.pool.clone(),
        infra::auth::JwtVerifier::new(&app.public_pem, "i", "a").unwrap(),
        Arc::new(app.clock.clone()),
        Arc::new(command_api::payments::TestCardProvider::default()),
        command_api::config::BookingSettings {
            hold_minutes: 15,
            sweep_interval_ms: 1000,
            sweep_lease_ms: 0,
            idempotency_lease_ms: 2_000,
            recovery_interval_ms: 60_000,
            payment_recovery_after_ms: 0,
            max_attempts: 5,
            // One principal stands in for many customers here; the cap has its own tests.
            max_held_seats: 100_000,
            max_held_seats_per_client: 100_000,
            ..testkit::settings::command("").booking
        },
    )
}

#[tokio::test]
async fn a_reader_never_sees_an_older_seat_map_than_one_it_saw() {
    let app = spawn_app().await;
    app.airports(&[("CDG", "Europe/Paris"), ("JFK", "America/New_York")])
        .await;
    let aircraft = app.aircraft().await;
    let flight = app
        .flight(
            "AF1",
            ("CDG", "JFK"),
            Utc::now() + Duration::days(5),
            (1000, 100),
            aircraft,
        )
        .await;
    app.project().await;
    let path = format!("/api/v1/flights/{flight}/seats");
    let mut last_seen = 0;
    for seat in ["10A", "10B", "10C", "10D"] {
        app.book(&app.customer, flight, &[seat]).await;
        app.project().await;
        for _ in 0..3 {
            let (_, map) = app.get(&path, None).await;
            let version = map["version"].as_i64().unwrap();
            assert!(
                version >= last_seen,
                "went back from {last_seen} to {version}"
            );
            last_seen = version;
            assert_eq!(
                status_of(&map, seat),
                "held",
                "a cached map hid a projected hold"
            );
        }
    }
}

#[tokio::test]
async fn every_read_still_answers_when_redis_is_down() {
    // Nothing listens on port 1.
    let app = spawn_app_with_redis("redis://127.0.0.1:1").await;
    app.airports(&[("CDG", "Europe/Paris"), ("JFK", "America/New_York")])
        .await;
    let aircraft = app.aircraft().await;
    let flight = app
        .flight(
            "AF1",
            ("CDG", "JFK"),
            Utc::now() + Duration::days(5),
            (1000, 100),
            aircraft,
        )
        .await;
    let booking = app.book(&app.customer, flight, &["10A"]).await;
    app.project().await;
    let id = booking["id"].as_str().unwrap();
    for (path, token) in [
        ("/api/v1/flights?origin=CDG".to_owned(), None),
        (format!("/api/v1/flights/{flight}"), None),
        (format!("/api/v1/flights/{flight}/seats"), None),
        (format!("/api/v1/flights/{flight}/seats"), None),
        ("/api/v1/bookings".to_owned(), Some(app.customer.as_str())),
        (
            format!("/api/v1/bookings/{id}"),
            Some(app.customer.as_str()),
        ),
        (
            format!("/api/v1/bookings/{id}/history"),
            Some(app.customer.as_str()),
        ),
        ("/api/v1/airports".to_owned(), None),
        ("/readyz".to_owned(), None),
    ] {
        let (status, body) = app.get(&path, token).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, search) = app.get("/api/v1/flights?origin=CDG", None).await;
    assert_eq!(search["flights"].as_array().unwrap().len(), 1);
    let (_, ready) = app.get("/readyz", None).await;
    assert_eq!(ready["redis"], "down");
}

#[tokio::test]
async fn an_airports_connecting_time_is_read_as_registered_and_as_changed() {
    let app = spawn_app().await;
    let body = serde_json::json!({"code": "AMS", "name": "Schiphol", "city": "Amsterdam",
        "country": "NL", "time_zone": "Europe/Amsterdam", "min_connection_minutes": 40});
    let (status, created) = app.post("/api/v1/airports", &app.admin, &body).await;
    assert_eq!(status, 201, "{created}");
    app.airports(&[("CDG", "Europe/Paris")]).await;
    app.project().await;
    let (_, ams) = app.get("/api/v1/airports/AMS", None).await;
    assert_eq!(ams["min_connection_minutes"], 40, "{ams}");
    let (_, cdg) = app.get("/api/v1/airports/CDG", None).await;
    assert_eq!(cdg["min_connection_minutes"], 60, "{cdg}");
    let url = format!("{}/api/v1/airports/AMS", app.command);
    let change = serde_json::json!({"min_connection_minutes": 50});
    let response = testkit::send(app.client.patch(url).bearer_auth(&app.admin).json(&change)).await;
    assert_eq!(response.status, 200, "{}", response.json());
    app.project().await;
    let (_, ams) = app.get("/api/v1/airports/AMS", None).await;
    assert_eq!(ams["min_connection_minutes"], 50, "{ams}");
    assert_eq!(ams["name"], "Schiphol", "{ams}");
}

#[tokio::test]
async fn flight_history_is_for_admins() {
    let app = spawn_app().await;
    app.airports(&[("CDG", "Europe/Paris"), ("JFK", "America/New_York")])
        .await;
    let aircraft = app.aircraft().await;
    let flight = app
        .flight(
            "AF1",
            ("CDG", "JFK"),
            Utc::now() + Duration::days(5),
            (1000, 100),
            aircraft,
        )
        .await;
    let path = format!("/api/v1/flights/{flight}/history");
    let (status, body) = app.get(&path, Some(&app.customer)).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, history) = app.get(&path, Some(&app.admin)).await;
    assert_eq!(status, 200);
    assert_eq!(history[0]["event_type"], "FlightScheduled");
    assert_eq!(history[0]["actor"]["role"], "admin");
    assert_eq!(history[0]["command"], "ScheduleFlight");
}
