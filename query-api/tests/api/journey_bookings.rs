//! A journey on the read side: its booking view lists every segment with the flight's number, route and
//! local times; each flight's manifest has it; time travel folds its segments; load factors count it on
//! each flight, revenue once on its route from the first origin to the outbound's last destination.

use chrono::{Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_journey_reads_as_its_segments_in_views_manifests_and_analytics() {
    let app = spawn_app().await;
    app.airports(&[
        ("CDG", "Europe/Paris"),
        ("LHR", "Europe/London"),
        ("JFK", "America/New_York"),
    ])
    .await;
    let aircraft = app.aircraft().await;
    let day = (Utc::now() + Duration::days(6)).date_naive();
    let at = |hour| day.and_hms_opt(hour, 0, 0).unwrap().and_utc();
    let first = app
        .flight("AF1", ("CDG", "LHR"), at(8), (50_000, 10_000), aircraft)
        .await;
    let second = app
        .flight("BA2", ("LHR", "JFK"), at(12), (90_000, 30_000), aircraft)
        .await;
    let body = json!({"contact_email": "ada@example.com",
        "passengers": [{"first_name": "Ada", "last_name": "Lovelace", "type": "adult"},
                       {"first_name": "Byron", "last_name": "Lovelace", "type": "adult"}],
        "slices": [{"segments": [{"flight_id": first, "seats": ["10A", "10B"]},
                                 {"flight_id": second, "seats": ["14E", "14F"]}]}]});
    let (status, booking) = app.post("/api/v1/bookings", &app.customer, &body).await;
    assert_eq!(status, 201, "{booking}");
    app.pay(&app.customer, &booking).await;
    let id = booking["id"].as_str().unwrap();
    app.project().await;

    let (status, view) = app
        .get(&format!("/api/v1/bookings/{id}"), Some(&app.customer))
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["flight_id"], json!(first));
    assert_eq!(view["total_minor"], 80_000);
    let segments = view["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2, "{view}");
    assert_eq!(segments[1]["number"], "BA2");
    assert_eq!(segments[1]["origin"], "LHR");
    assert_eq!(segments[1]["destination"], "JFK");
    assert_eq!(segments[1]["seats"], json!(["14E", "14F"]));
    assert_eq!(segments[1]["fare_minor"], 30_000);
    // 12:00 UTC at LHR in winter is 12:00 local; the view gives both.
    assert_eq!(segments[1]["departure_local"], format!("{day}T12:00:00"));
    // Time travel: the booking as placed, folded from the log, has the same segments.
    let (_, placed) = app
        .get(
            &format!("/api/v1/bookings/{id}?version=1"),
            Some(&app.customer),
        )
        .await;
    assert_eq!(placed["status"], "held");
    assert_eq!(placed["segments"][0]["number"], "AF1");
    assert_eq!(placed["segments"][1]["seats"], json!(["14E", "14F"]));

    // Each flight's manifest has the journey.
    for flight in [first, second] {
        let (_, page) = app
            .get(
                &format!("/api/v1/bookings?flight_id={flight}"),
                Some(&app.admin),
            )
            .await;
        let ids: Vec<&str> = page["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![id], "manifest of {flight}");
    }
    let (_, none) = app
        .get(
            &format!("/api/v1/bookings?flight_id={}", Uuid::nil()),
            Some(&app.admin),
        )
        .await;
    assert_eq!(none["bookings"], json!([]));

    // Load factor counts both seats on each flight; revenue counts the booking once, CDG→JFK.
    let (from, to) = (day - Duration::days(1), day + Duration::days(1));
    let (_, load) = app
        .get(
            &format!("/api/v1/analytics/load-factors?from={from}&to={to}"),
            Some(&app.admin),
        )
        .await;
    let sold: Vec<(String, i64)> = load
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["flight_id"].as_str().unwrap().to_owned(),
                r["seats_sold"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sold, vec![(first.to_string(), 2), (second.to_string(), 2)]);
    let (_, revenue) = app.get("/api/v1/analytics/revenue", Some(&app.admin)).await;
    let rows = revenue.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{revenue}");
    assert_eq!(
        (rows[0]["origin"].as_str(), rows[0]["destination"].as_str()),
        (Some("CDG"), Some("JFK"))
    );
    assert_eq!(rows[0]["bookings"], 1);
    assert_eq!(rows[0]["seats_sold"], 2);
    assert_eq!(rows[0]["revenue_minor"], 80_000);
}
