use chrono::{Duration, Utc};
use infra::auth::Role;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

async fn booked(app: &TestApp) -> (Uuid, serde_json::Value) {
    app.airports(&[("CDG", "Europe/Paris"), ("JFK", "America/New_York")])
        .await;
    let aircraft = app.aircraft().await;
    let flight = app
        .flight(
            "AF1",
            ("CDG", "JFK"),
            Utc::now() + Duration::days(9),
            (1000, 100),
            aircraft,
        )
        .await;
    (
        flight,
        app.book(&app.customer, flight, &["10A", "10B"]).await,
    )
}

#[tokio::test]
async fn owners_see_their_bookings_others_get_404_and_admins_see_all() {
    let app = spawn_app().await;
    let (_, booking) = booked(&app).await;
    let id = booking["id"].as_str().unwrap();
    // Not projected yet: the detail is folded from the log, so a client reads its own write.
    let (status, view) = app
        .get(&format!("/api/v1/bookings/{id}"), Some(&app.customer))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "held");
    app.project().await;

    let stranger = app.token(Uuid::new_v4(), Role::Customer);
    for path in [
        format!("/api/v1/bookings/{id}"),
        format!("/api/v1/bookings/{id}/history"),
    ] {
        let (status, body) = app.get(&path, Some(&stranger)).await;
        assert_eq!(
            (status.as_u16(), body["code"].as_str()),
            (404, Some("booking_not_found")),
            "{path}"
        );
        assert_eq!(app.get(&path, Some(&app.admin)).await.0, 200);
    }
    let (_, mine) = app.get("/api/v1/bookings", Some(&app.customer)).await;
    assert_eq!(mine["bookings"].as_array().unwrap().len(), 1);
    let (_, theirs) = app.get("/api/v1/bookings", Some(&stranger)).await;
    assert!(theirs["bookings"].as_array().unwrap().is_empty());
    let reference = booking["reference"].as_str().unwrap();
    let (_, by_pnr) = app
        .get(
            &format!("/api/v1/bookings?reference={reference}"),
            Some(&app.admin),
        )
        .await;
    assert_eq!(by_pnr["bookings"][0]["id"], id);
    let (status, _) = app.get("/api/v1/bookings", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn booking_pages_are_newest_first_with_cursors() {
    let app = spawn_app().await;
    let (flight, _) = booked(&app).await;
    for seat in ["11A", "11B", "11C"] {
        app.clock.advance(Duration::seconds(1));
        app.book(&app.customer, flight, &[seat]).await;
    }
    app.project().await;
    let (_, first) = app
        .get("/api/v1/bookings?limit=3", Some(&app.customer))
        .await;
    let seats: Vec<_> = first["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["passengers"][0]["seat"].clone())
        .collect();
    assert_eq!(seats, [json!("11C"), json!("11B"), json!("11A")]);
    let next = first["next"].as_str().unwrap();
    let (_, second) = app
        .get(
            &format!("/api/v1/bookings?limit=3&after={next}"),
            Some(&app.customer),
        )
        .await;
    assert_eq!(second["bookings"].as_array().unwrap().len(), 1);
    assert!(second["next"].is_null());
}

#[tokio::test]
async fn history_lists_every_event_with_actor_and_correlation() {
    let app = spawn_app().await;
    let (_, booking) = booked(&app).await;
    app.pay(&app.customer, &booking).await;
    let id = booking["id"].as_str().unwrap();
    let (status, history) = app
        .get(
            &format!("/api/v1/bookings/{id}/history"),
            Some(&app.customer),
        )
        .await;
    assert_eq!(status, 200);
    let types: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["BookingPlaced", "BookingConfirmed", "PaymentCaptured"]
    );
    assert_eq!(history[0]["actor"]["user_id"], app.customer_id.to_string());
    assert!(!history[0]["correlation_id"].as_str().unwrap().is_empty());
    assert_eq!(
        history[1]["payload"]["BookingConfirmed"]["payment"]["amount"]["amount_minor"],
        200
    );
}

#[tokio::test]
async fn the_booking_view_shows_the_capture_and_the_refund_once_they_happened() {
    let app = spawn_app().await;
    let (_, booking) = booked(&app).await;
    let id = booking["id"].as_str().unwrap();
    let path = format!("/api/v1/bookings/{id}");
    app.project().await;
    let (_, held) = app.get(&path, Some(&app.customer)).await;
    assert_eq!(
        (&held["captured"], &held["refunded"]),
        (&json!(false), &json!(false))
    );
    app.pay(&app.customer, &booking).await;
    let cancel = format!("/api/v1/bookings/{id}/cancel");
    let (status, _) = app.post(&cancel, &app.customer, &json!({})).await;
    assert_eq!(status, 200);
    app.project().await;
    let (_, view) = app.get(&path, Some(&app.customer)).await;
    assert_eq!(view["status"], "cancelled", "{view}");
    assert_eq!(
        (&view["captured"], &view["refunded"]),
        (&json!(true), &json!(true)),
        "{view}"
    );
    // Folded from the log (time travel) it reads the same.
    let version = view["version"].as_i64().unwrap();
    let (_, folded) = app
        .get(&format!("{path}?version={version}"), Some(&app.customer))
        .await;
    assert_eq!(
        (&folded["captured"], &folded["refunded"]),
        (&json!(true), &json!(true))
    );
}

#[tokio::test]
async fn time_travel_folds_the_first_n_events_or_the_state_at_an_instant() {
    let app = spawn_app().await;
    let (_, booking) = booked(&app).await;
    let id = booking["id"].as_str().unwrap();
    app.pay(&app.customer, &booking).await;
    let change = json!({"passenger": 1, "seat": "12F"});
    let (status, _) = app
        .post(
            &format!("/api/v1/bookings/{id}/seat-changes"),
            &app.customer,
            &change,
        )
        .await;
    assert_eq!(status, 200);
    app.project().await;

    let at = |q: String| {
        let app = &app;
        async move {
            app.get(&format!("/api/v1/bookings/{id}?{q}"), Some(&app.customer))
                .await
                .1
        }
    };
    let v1 = at("version=1".to_owned()).await;
    assert_eq!(
        (v1["status"].as_str(), v1["version"].as_i64()),
        (Some("held"), Some(1))
    );
    let v2 = at("version=2".to_owned()).await;
    assert_eq!(v2["status"], "confirmed");
    assert_eq!(v2["passengers"][1]["seat"], "10B");
    let now = at(String::new()).await;
    assert_eq!(now["passengers"][1]["seat"], "12F");
    // Placed, confirmed, captured, seat changed.
    assert_eq!(now["version"], 4);

    let recorded: Vec<chrono::DateTime<Utc>> = sqlx::query_scalar(
        "SELECT recorded_at FROM events WHERE aggregate_type = 'booking' AND aggregate_id = $1 ORDER BY sequence",
    )
    .bind(id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let as_of = recorded[1].to_rfc3339().replace('+', "%2B");
    let at_second = at(format!("as_of={as_of}")).await;
    assert_eq!(at_second["version"], 2);
    let before = (recorded[0] - Duration::seconds(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let (status, _) = app
        .get(
            &format!("/api/v1/bookings/{id}?as_of={before}"),
            Some(&app.customer),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .get(
            &format!("/api/v1/bookings/{id}?version=1&as_of={as_of}"),
            Some(&app.customer),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (400, Some("invalid_query"))
    );
}

#[tokio::test]
async fn a_flight_seat_map_can_be_read_as_of_a_version() {
    let app = spawn_app().await;
    let (flight, _) = booked(&app).await;
    let (_, v1) = app
        .get(&format!("/api/v1/flights/{flight}/seats?version=1"), None)
        .await;
    assert!(
        v1["seats"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "free")
    );
    let (_, v2) = app
        .get(&format!("/api/v1/flights/{flight}/seats?version=2"), None)
        .await;
    let held: Vec<_> = v2["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "held")
        .collect();
    assert_eq!(held.len(), 2);
}

#[tokio::test]
async fn analytics_add_up_bookings_revenue_load_and_conversion() {
    let app = spawn_app().await;
    let (flight, booking) = booked(&app).await;
    app.pay(&app.customer, &booking).await;
    let other = app.book(&app.customer, flight, &["11A"]).await;
    app.post(
        &format!("/api/v1/bookings/{}/cancel", other["id"].as_str().unwrap()),
        &app.customer,
        &json!({}),
    )
    .await;
    app.project().await;
    let (status, revenue) = app.get("/api/v1/analytics/revenue", Some(&app.admin)).await;
    assert_eq!(status, 200, "{revenue}");
    assert_eq!(revenue[0]["bookings"], 2);
    assert_eq!(revenue[0]["confirmed"], 1);
    assert_eq!(revenue[0]["revenue_minor"], 200);
    assert_eq!(revenue[0]["seats_sold"], 2);
    let from = Utc::now().date_naive();
    let to = from + Duration::days(30);
    let (_, load) = app
        .get(
            &format!("/api/v1/analytics/load-factors?from={from}&to={to}"),
            Some(&app.admin),
        )
        .await;
    assert_eq!(load[0]["seats_sold"], 2);
    assert!((load[0]["load_factor"].as_f64().unwrap() - 2.0 / 38.0).abs() < 1e-9);
    let (_, conversion) = app
        .get("/api/v1/analytics/conversion", Some(&app.admin))
        .await;
    assert_eq!(conversion["holds"], 2);
    assert_eq!(conversion["confirmed"], 1);
    assert_eq!(conversion["cancelled_unpaid"], 1);
    assert_eq!(conversion["conversion_rate"], 0.5);
    let (_, cancellations) = app
        .get("/api/v1/analytics/cancellations", Some(&app.admin))
        .await;
    assert_eq!(cancellations[0]["cancellations"], 1);
    let (status, _) = app
        .get("/api/v1/analytics/revenue", Some(&app.customer))
        .await;
    assert_eq!(status, 403);
}
