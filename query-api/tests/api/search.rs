use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

struct Fixture {
    app: TestApp,
    /// (id, number) in departure order.
    flights: Vec<(Uuid, &'static str)>,
    day: NaiveDate,
}

/// Five flights on two routes, on a day 20 days out, with different prices and times.
async fn fixture() -> Fixture {
    let app = spawn_app().await;
    app.airports(&[
        ("CDG", "Europe/Paris"),
        ("JFK", "America/New_York"),
        ("LHR", "Europe/London"),
    ])
    .await;
    let aircraft = app.aircraft().await;
    let day = (Utc::now() + Duration::days(20)).date_naive();
    // Departure times in UTC; Paris is UTC+1 in winter, so 06:00Z is 07:00 local.
    let at = |h: u32| Utc.from_utc_datetime(&day.and_hms_opt(h, 0, 0).unwrap());
    type Spec<'a> = (&'a str, (&'a str, &'a str), DateTime<Utc>, (i64, i64));
    let specs: [Spec<'_>; 5] = [
        ("AF1", ("CDG", "JFK"), at(6), (90_000, 30_000)),
        ("AF2", ("CDG", "JFK"), at(9), (80_000, 20_000)),
        ("AF3", ("CDG", "JFK"), at(12), (95_000, 25_000)),
        ("AF4", ("CDG", "LHR"), at(10), (50_000, 10_000)),
        (
            "AF5",
            ("CDG", "JFK"),
            at(6) + Duration::days(1),
            (70_000, 15_000),
        ),
    ];
    let mut flights = Vec::new();
    for (number, route, departure, prices) in specs {
        flights.push((
            app.flight(number, route, departure, prices, aircraft).await,
            number,
        ));
    }
    app.project().await;
    Fixture { app, flights, day }
}

fn numbers(body: &Value) -> Vec<String> {
    body["flights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["number"].as_str().unwrap().to_owned())
        .collect()
}

async fn search(app: &TestApp, query: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/flights?{query}"), None).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

#[tokio::test]
async fn each_filter_returns_exactly_the_matching_flights() {
    let f = fixture().await;
    let day = f.day;
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "origin=CDG&destination=JFK".to_owned(),
            vec!["AF1", "AF2", "AF3", "AF5"],
        ),
        ("destination=LHR".to_owned(), vec!["AF4"]),
        (
            format!("origin=cdg&destination=JFK&date={day}"),
            vec!["AF1", "AF2", "AF3"],
        ),
        ("max_price=20000".to_owned(), vec!["AF2", "AF4", "AF5"]),
        ("min_price=25000".to_owned(), vec!["AF1", "AF3"]),
        (
            "cabin=business&max_price=80000".to_owned(),
            vec!["AF2", "AF4", "AF5"],
        ),
        (
            format!(
                "departure_after={}&departure_before={}",
                enc(day, 9),
                enc(day, 12)
            ),
            vec!["AF2", "AF4"],
        ),
        ("passengers=9&cabin=business".to_owned(), vec![]),
    ];
    for (query, expected) in cases {
        let body = search(&f.app, &query).await;
        assert_eq!(numbers(&body), expected, "{query}");
    }
    let body = search(&f.app, "destination=LHR").await;
    let offer = &body["flights"][0];
    assert_eq!(offer["cabin"], "economy");
    assert_eq!(offer["price_minor"], 10_000);
    assert_eq!(offer["seats_left"], 30);
    assert_eq!(
        offer["departure_local"],
        format!("{day}T11:00:00"),
        "local time at the origin, Paris"
    );
}

fn enc(day: NaiveDate, hour: u32) -> String {
    let at = Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).unwrap());
    at.to_rfc3339().replace('+', "%2B")
}

#[tokio::test]
async fn multi_key_sorts_order_the_results() {
    let f = fixture().await;
    let cases = [
        ("sort=price", vec!["AF4", "AF5", "AF2", "AF3", "AF1"]),
        ("sort=-price", vec!["AF1", "AF3", "AF2", "AF5", "AF4"]),
        ("sort=departure_at", vec!["AF1", "AF2", "AF4", "AF3", "AF5"]),
        (
            "sort=-departure_at,price",
            vec!["AF5", "AF3", "AF4", "AF2", "AF1"],
        ),
        (
            "sort=duration,-price",
            vec!["AF1", "AF3", "AF2", "AF5", "AF4"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(numbers(&search(&f.app, query).await), expected, "{query}");
    }
    let _ = &f.flights;
}

#[tokio::test]
async fn cursor_pages_are_stable_while_data_changes() {
    let f = fixture().await;
    let first = search(&f.app, "sort=price&limit=2").await;
    assert_eq!(numbers(&first), ["AF4", "AF5"]);
    let next = first["next"].as_str().unwrap().to_owned();

    // A new cheapest flight appears, and seats sell on one on the next page.
    let aircraft = f.app.aircraft().await;
    f.app
        .flight(
            "AF9",
            ("CDG", "JFK"),
            Utc::now() + Duration::days(21),
            (1_000, 500),
            aircraft,
        )
        .await;
    let af2 = f.flights[1].0;
    f.app.book(&f.app.customer, af2, &["10A"]).await;
    f.app.project().await;

    let second = search(&f.app, &format!("sort=price&limit=2&after={next}")).await;
    assert_eq!(numbers(&second), ["AF2", "AF3"]);
    assert_eq!(second["flights"][0]["seats_left"], 29);
    let third = search(
        &f.app,
        &format!(
            "sort=price&limit=2&after={}",
            second["next"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(numbers(&third), ["AF1"]);
    assert!(third["next"].is_null());
}

#[tokio::test]
async fn bad_search_parameters_are_400_problems() {
    let f = fixture().await;
    for query in [
        "origin=PARIS",
        "cabin=coach",
        "passengers=0",
        "passengers=10",
        "limit=0",
        "limit=101",
        "sort=altitude",
        "sort=price,price",
        "min_price=10&max_price=5",
        "after=garbage",
        "date=tomorrow",
        "bogus=1",
    ] {
        let (status, body) = f.app.get(&format!("/api/v1/flights?{query}"), None).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["code"], "invalid_query", "{query}: {body}");
    }
}

#[tokio::test]
async fn cached_search_results_follow_changes() {
    let f = fixture().await;
    let before = search(&f.app, "destination=LHR").await;
    assert_eq!(before["flights"][0]["seats_left"], 30);
    // Cached now; a booking must still show through once projected.
    f.app
        .book(&f.app.customer, f.flights[3].0, &["10A", "10B"])
        .await;
    f.app.project().await;
    let after = search(&f.app, "destination=LHR").await;
    assert_eq!(after["flights"][0]["seats_left"], 28);
}
