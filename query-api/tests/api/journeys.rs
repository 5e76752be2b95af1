//! `GET /journeys`: direct and one-stop offers (a connection shorter than the airport's minimum is not
//! offered), round trips, the party's total, paging, and bad queries.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

struct Network {
    day: NaiveDate,
    back: NaiveDate,
    direct: Uuid,
    via_cdg: (Uuid, Uuid),
    home: Uuid,
}

/// LHR→JFK direct at 12:00; LHR→CDG→JFK connecting 60 minutes at CDG (minimum 45: offered);
/// LHR→AMS→JFK connecting 60 minutes at AMS (minimum 90: not offered); JFK→LHR a week later.
/// Every flight takes two hours; economy is the price that matters.
async fn network(app: &TestApp) -> Network {
    app.airports(&[("LHR", "Europe/London"), ("JFK", "America/New_York")])
        .await;
    for (code, minutes) in [("CDG", 45), ("AMS", 90)] {
        let body = json!({"code": code, "name": code, "city": code, "country": "FR",
            "time_zone": "Europe/Paris", "min_connection_minutes": minutes});
        let (status, created) = app.post("/api/v1/airports", &app.admin, &body).await;
        assert_eq!(status, 201, "{created}");
    }
    let aircraft = app.aircraft().await;
    let day = (Utc::now() + Duration::days(5)).date_naive();
    let back = day + Duration::days(7);
    let at =
        |d: NaiveDate, hour: u32| -> DateTime<Utc> { d.and_hms_opt(hour, 0, 0).unwrap().and_utc() };
    let flight = |number: &'static str, route, departure, economy| async move {
        app.flight(number, route, departure, (economy * 5, economy), aircraft)
            .await
    };
    let direct = flight("BA1", ("LHR", "JFK"), at(day, 12), 50_000).await;
    let to_cdg = flight("AF2", ("LHR", "CDG"), at(day, 8), 10_000).await;
    let cdg_jfk = flight("AF3", ("CDG", "JFK"), at(day, 11), 30_000).await;
    flight("KL4", ("LHR", "AMS"), at(day, 8), 5_000).await;
    flight("KL5", ("AMS", "JFK"), at(day, 11), 5_000).await;
    let home = flight("BA6", ("JFK", "LHR"), at(back, 15), 45_000).await;
    app.project().await;
    Network {
        day,
        back,
        direct,
        via_cdg: (to_cdg, cdg_jfk),
        home,
    }
}

/// Each offer of a page as its flights, slice by slice.
fn offered(page: &Value) -> Vec<Vec<Vec<String>>> {
    page["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(flights_of)
        .collect()
}

fn flights_of(offer: &Value) -> Vec<Vec<String>> {
    offer["slices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["segments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|seg| seg["flight_id"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn one_way_offers_are_direct_and_one_stop_within_connecting_times_priced_for_the_party() {
    let app = spawn_app().await;
    let n = network(&app).await;
    let path = format!(
        "/api/v1/journeys?origin=LHR&destination=JFK&date={}&passengers=2",
        n.day
    );
    let (status, page) = app.get(&path, None).await;
    assert_eq!(status, 200, "{page}");
    let offers = page["offers"].as_array().unwrap();
    let found = offered(&page);
    // Cheapest first: via CDG (10,000 + 30,000), then direct (50,000); never via AMS (too short).
    assert_eq!(
        found,
        vec![
            vec![vec![n.via_cdg.0.to_string(), n.via_cdg.1.to_string()]],
            vec![vec![n.direct.to_string()]],
        ],
        "{page}"
    );
    assert_eq!(offers[0]["total"], 80_000, "{page}");
    assert_eq!(offers[0]["currency"], "EUR");
    assert_eq!(offers[1]["total"], 100_000, "{page}");
    let slice = &offers[0]["slices"][0];
    assert_eq!(slice["stops"], 1);
    assert_eq!(slice["segments"][0]["connection_min"], 60, "{slice}");
    assert!(slice["segments"][1]["connection_min"].is_null(), "{slice}");
    assert_eq!(slice["duration_min"], 300, "08:00 to 13:00: {slice}");
    assert_eq!(slice["segments"][1]["seats_left"], 30, "{slice}");
    assert!(page["next"].is_null());

    let (_, direct_only) = app.get(&format!("{path}&max_stops=0"), None).await;
    let found = offered(&direct_only);
    assert_eq!(
        found,
        vec![vec![vec![n.direct.to_string()]]],
        "{direct_only}"
    );
    let (_, short) = app.get(&format!("{path}&max_duration=240"), None).await;
    assert_eq!(short["offers"].as_array().unwrap().len(), 1, "{short}");

    // CDG's minimum connecting time grows past the 60 minutes: that connection is no longer offered,
    // cached page or not.
    let url = format!("{}/api/v1/airports/CDG", app.command);
    let change = json!({"min_connection_minutes": 75});
    let response = testkit::send(app.client.patch(url).bearer_auth(&app.admin).json(&change)).await;
    assert_eq!(response.status, 200, "{}", response.json());
    app.project().await;
    let (_, page) = app.get(&path, None).await;
    let found = offered(&page);
    assert_eq!(found, vec![vec![vec![n.direct.to_string()]]], "{page}");
}

#[tokio::test]
async fn a_return_date_gives_round_trips_out_and_back() {
    let app = spawn_app().await;
    let n = network(&app).await;
    let path = format!(
        "/api/v1/journeys?origin=LHR&destination=JFK&date={}&return_date={}&sort=duration",
        n.day, n.back
    );
    let (status, page) = app.get(&path, None).await;
    assert_eq!(status, 200, "{page}");
    let found = offered(&page);
    let home = vec![n.home.to_string()];
    assert_eq!(
        found,
        vec![
            vec![vec![n.direct.to_string()], home.clone()],
            vec![vec![n.via_cdg.0.to_string(), n.via_cdg.1.to_string()], home],
        ],
        "{page}"
    );
    assert_eq!(page["offers"][0]["total"], 95_000);
    assert_eq!(page["offers"][0]["duration_min"], 240);
}

#[tokio::test]
async fn pages_follow_the_cursor_without_repeating_an_offer() {
    let app = spawn_app().await;
    let n = network(&app).await;
    let base = format!(
        "/api/v1/journeys?origin=LHR&destination=JFK&date={}&return_date={}&limit=1&sort=-price",
        n.day, n.back
    );
    let mut seen = BTreeSet::new();
    let mut totals = Vec::new();
    let mut path = base.clone();
    loop {
        let (status, page) = app.get(&path, None).await;
        assert_eq!(status, 200, "{page}");
        let offers = page["offers"].as_array().unwrap();
        assert_eq!(offers.len(), 1, "{page}");
        assert!(
            seen.insert(offers[0]["id"].as_str().unwrap().to_owned()),
            "{page}"
        );
        totals.push(offers[0]["total"].as_i64().unwrap());
        match page["next"].as_str() {
            Some(next) => path = format!("{base}&after={next}"),
            None => break,
        }
    }
    assert_eq!(totals, vec![95_000, 85_000]);
    // A cursor belongs to its sort.
    let (_, first) = app.get(&base, None).await;
    let next = first["next"].as_str().unwrap();
    let other = base.replace("sort=-price", "sort=price");
    let (status, body) = app.get(&format!("{other}&after={next}"), None).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn bad_journey_queries_are_400_problems() {
    let app = spawn_app().await;
    for query in [
        "destination=JFK&date=2030-01-01",
        "origin=LHR&date=2030-01-01",
        "origin=LHR&destination=JFK",
        "origin=LHR&destination=LHR&date=2030-01-01",
        "origin=LHR&destination=JFK&date=2030-01-01&return_date=2029-12-31",
        "origin=LHR&destination=JFK&date=2030-01-01&max_stops=2",
        "origin=LHR&destination=JFK&date=2030-01-01&max_duration=0",
        "origin=LHR&destination=JFK&date=2030-01-01&passengers=10",
        "origin=LHR&destination=JFK&date=2030-01-01&sort=arrival_at",
        "origin=LHR&destination=JFK&date=2030-01-01&after=bm90IGEgY3Vyc29y",
        "origin=LHR&destination=JFK&date=2030-01-01&cabin=cargo",
        "origin=L1R&destination=JFK&date=2030-01-01",
    ] {
        let (status, body) = app.get(&format!("/api/v1/journeys?{query}"), None).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["code"], "invalid_query", "{query}: {body}");
    }
}
