//! Booking classes on the read side: search quotes the cheapest class open for the whole party and how
//! many seats that class still sells (at most 9), moving to the next class as the cheap ones fill; the
//! flight shows every class as it stands; and flights of the old log read as one class per cabin.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, fare, spawn_app};

fn class(code: &str, price: i64, limit: Option<u32>) -> Value {
    let mut fare = fare("economy", price);
    fare["class"] = json!(code);
    if let Some(limit) = limit {
        fare["limit"] = json!(limit);
    }
    fare
}

async fn flight_with_classes(app: &TestApp) -> Uuid {
    app.airports(&[("CDG", "Europe/Paris"), ("JFK", "America/New_York")])
        .await;
    let aircraft = app.aircraft().await;
    let departure = Utc::now() + Duration::days(12);
    let body = testkit::bodies::flight(
        "AF77",
        ("CDG", "JFK"),
        (departure, Duration::hours(8)),
        &json!(aircraft),
        &[
            fare("business", 90_000),
            class("Y", 30_000, None),
            class("B", 20_000, Some(12)),
            class("Q", 10_000, Some(4)),
        ],
    );
    let (status, created) = app.post("/api/v1/flights", &app.admin, &body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().parse().unwrap()
}

/// The economy offer for `passengers` on the flight's day: its class, price and seats bookable.
async fn economy_offer(app: &TestApp, passengers: u8) -> (String, i64, i64) {
    let date = (Utc::now() + Duration::days(12)).date_naive();
    let (status, page) = app
        .get(
            &format!(
                "/api/v1/flights?origin=CDG&destination=JFK&date={date}&cabin=economy&passengers={passengers}"
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let offer = &page["flights"][0];
    (
        offer["class"].as_str().unwrap().to_owned(),
        offer["price_minor"].as_i64().unwrap(),
        offer["bookable"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn search_quotes_the_cheapest_class_open_for_the_party_and_steps_up_as_it_fills() {
    let app = spawn_app().await;
    let flight = flight_with_classes(&app).await;
    app.project().await;
    assert_eq!(economy_offer(&app, 2).await, ("Q".to_owned(), 10_000, 4));
    // Y could take 30 seats; availability answers count at most 9.
    assert_eq!(economy_offer(&app, 5).await, ("B".to_owned(), 20_000, 9));

    app.book(&app.customer, flight, &["10A", "10B", "10C"])
        .await;
    app.project().await;
    // One Q seat left: one traveller still gets Q, two get B.
    assert_eq!(economy_offer(&app, 1).await, ("Q".to_owned(), 10_000, 1));
    assert_eq!(economy_offer(&app, 2).await, ("B".to_owned(), 20_000, 9));

    let (status, view) = app.get(&format!("/api/v1/flights/{flight}"), None).await;
    assert_eq!(status, 200, "{view}");
    let classes: Vec<(String, i64, i64, Value)> = view["classes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["cabin"] == "economy")
        .map(|c| {
            (
                c["class"].as_str().unwrap().to_owned(),
                c["sold"].as_i64().unwrap(),
                c["available"].as_i64().unwrap(),
                c["nested_limit"].clone(),
            )
        })
        .collect();
    assert_eq!(
        classes,
        [
            ("Y".to_owned(), 0, 27, Value::Null),
            ("B".to_owned(), 0, 9, json!(12)),
            ("Q".to_owned(), 3, 1, json!(4)),
        ]
    );
    // The cabin's price is its cheapest open class.
    let economy = view["cabins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cabin"] == "economy")
        .unwrap()
        .clone();
    assert_eq!(economy["price_minor"], 10_000, "{economy}");
}

#[tokio::test]
async fn analytics_add_up_seats_and_revenue_per_class_and_each_flights_yield() {
    let app = spawn_app().await;
    let flight = flight_with_classes(&app).await;
    // Three in Q at 100.00, then two in B at 200.00 (one Q seat is left, not enough for two), both
    // paid; one more in Q, held unpaid, counts nowhere.
    for seats in [&["10A", "10B", "10C"][..], &["11A", "11B"][..]] {
        let booking = app.book(&app.customer, flight, seats).await;
        app.pay(&app.customer, &booking).await;
    }
    app.book(&app.customer, flight, &["12A"]).await;
    app.project().await;
    let day = (Utc::now() + Duration::days(12)).date_naive();
    let (status, rows) = app
        .get(
            &format!("/api/v1/analytics/classes?from={day}&to={day}"),
            Some(&app.admin),
        )
        .await;
    assert_eq!(status, 200, "{rows}");
    let rows: Vec<(String, i64, i64, i64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["class"].as_str().unwrap().to_owned(),
                r["seats_sold"].as_i64().unwrap(),
                r["revenue_minor"].as_i64().unwrap(),
                r["flight_yield_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    // Yield: 70,000 over 5 passengers.
    assert_eq!(
        rows,
        [
            ("B".to_owned(), 2, 40_000, 14_000),
            ("Q".to_owned(), 3, 30_000, 14_000)
        ]
    );
    let (status, _) = app
        .get("/api/v1/analytics/classes", Some(&app.customer))
        .await;
    assert_eq!(status, 403);
}
