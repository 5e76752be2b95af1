//! End to end, through the gateway of `airline all`: an admin opens a flight whose economy sells three
//! nested classes with 5% overbooking; a customer sells it out without seats (one passenger picks a seat
//! later); past the seats only seatless places sell, and past the authorized places nothing; the admin
//! closes it: the unpaid hold expires, the overflow in the cheapest class, latest booked, is offloaded with
//! its refund and compensation and mailed, everyone else gets a seat; nothing sells after. A second flight
//! departing soon is closed by the closer on its own. `airline verify` is clean at the end.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

mod support;

use std::time::Duration;

use chrono::{Duration as Span, Utc};
use infra::testing::TestDatabase;
use notifier::sink::SmtpSink;
use serde_json::{Value, json};

use crate::support::{Airline, Client};

fn fare(class: &str, price: i64, limit: Option<u32>) -> Value {
    let mut fare = json!({"cabin": "economy", "class": class,
        "price": {"amount_minor": price, "currency": "EUR"},
        "rules": {"refundable": true, "cancellation_fee": {"amount_minor": 0, "currency": "EUR"}}});
    if let Some(limit) = limit {
        fare["limit"] = json!(limit);
    }
    fare
}

const FAMILIES: [&str; 11] = [
    "Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus", "Perlman",
    "Hamilton", "Ritchie",
];

/// `n` adults without seats.
fn party(n: usize, last_name: &str) -> Vec<Value> {
    let names = [
        "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John", "Radia",
    ];
    (0..n)
        .map(|i| json!({"first_name": names[i % names.len()], "last_name": last_name, "type": "adult"}))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overbooked_flight_sells_out_without_seats_and_closes_with_every_passenger_seated_or_offloaded()
 {
    let db = TestDatabase::create(2).await;
    let sink = SmtpSink::start("127.0.0.1:0").await.unwrap();
    let extra = [
        ("APP_BOOKING__CLOSE_MINUTES_BEFORE_DEPARTURE", "45"),
        ("APP_BOOKING__CLOSE_INTERVAL_MS", "200"),
        ("APP_BOOKING__DENIED_BOARDING_COMPENSATION_MINOR", "40000"),
        // One customer does the work of a crowd here.
        ("APP_RATE_LIMITS__BOOKINGS__LIMIT", "1000000"),
        ("APP_RATE_LIMITS__DEFAULT__LIMIT", "1000000"),
    ];
    let mut system = Airline::start(&db, &sink.url(), &extra).await;
    let api = Client {
        http: reqwest::Client::new(),
        base: system.gateway.clone(),
    };
    let admin = system.create_admin(&api).await;
    for (code, tz) in [("CDG", "Europe/Paris"), ("JFK", "America/New_York")] {
        let body = json!({"code": code, "name": format!("{code} Airport"), "city": "City", "country": "FR", "time_zone": tz});
        assert_eq!(
            api.post("/api/v1/airports", Some(&admin), body).await.0,
            201
        );
    }
    // Economy: rows 10-29, four abreast (80 seats), row 12 an exit row.
    let aircraft = json!({"model": "A320", "cabins": [
        {"cabin": "economy", "first_row": 10, "last_row": 29, "letters": "AB CD", "exit_rows": [12]}]});
    let (status, aircraft) = api.post("/api/v1/aircraft", Some(&admin), aircraft).await;
    assert_eq!(status, 201, "{aircraft}");
    let departure = Utc::now() + Span::days(5);
    let body = json!({"number": "AF80", "origin": "CDG", "destination": "JFK", "departure_at": departure,
        "arrival_at": departure + Span::hours(8), "aircraft_id": aircraft["id"],
        "fares": [fare("Y", 60_000, None), fare("B", 40_000, Some(50)), fare("Q", 20_000, Some(10))],
        "overbooking": [{"cabin": "economy", "percent": 5}]});
    let (status, flight) = api.post("/api/v1/flights", Some(&admin), body).await;
    assert_eq!(status, 201, "{flight}");
    assert_eq!(flight["seats"]["capacity"], 80);
    assert_eq!(flight["seats"]["authorized"], 84, "{flight}");
    assert_eq!(flight["cabins"][0]["overbooking_percent"], 5);
    let flight_id = flight["id"].as_str().unwrap().to_owned();

    let (status, _) = api
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "grace@example.com", "password": "Cobol-Compiler-1959"}),
        )
        .await;
    assert_eq!(status, 201);
    let customer = api.token("grace@example.com", "Cobol-Compiler-1959").await;

    // Sold without seats: eight in Q, nine parties of eight in B then Y, and two more in Q.
    let book = |n: usize, name: &str| {
        json!({"flight_id": flight_id, "cabin": "economy", "contact_email": "grace@example.com",
               "passengers": party(n, name)})
    };
    let mut bookings = Vec::new();
    for (i, n) in [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 2].into_iter().enumerate() {
        let (status, booked) = api
            .post("/api/v1/bookings", Some(&customer), book(n, FAMILIES[i]))
            .await;
        assert_eq!(status, 201, "booking {i}: {booked}");
        assert!(
            booked["segments"][0]["seats"]
                .as_array()
                .unwrap()
                .iter()
                .all(Value::is_null)
        );
        let id = booked["id"].as_str().unwrap().to_owned();
        let (status, paid) = api
            .post(
                &format!("/api/v1/bookings/{id}/payment"),
                Some(&customer),
                json!({"card_token": "tok_visa", "amount": booked["total"]}),
            )
            .await;
        assert_eq!(status, 200, "{paid}");
        bookings.push(paid);
    }
    let class = |b: &Value| b["segments"][0]["class"].as_str().unwrap().to_owned();
    assert_eq!(class(&bookings[0]), "Q");
    assert_eq!(class(&bookings[1]), "B");
    assert_eq!(
        class(&bookings[6]),
        "Y",
        "B's 50 are sold: the price stepped up"
    );
    assert_eq!(
        class(&bookings[10]),
        "Q",
        "two Q places were left for a party of two"
    );

    // 82 places sold on 80 seats: a seat is no longer sold, a seatless place is, then nothing.
    let seated = json!({"flight_id": flight_id, "contact_email": "grace@example.com", "passengers": [
        {"first_name": "Ada", "last_name": "Late", "type": "adult", "seat": "29D"}]});
    let (status, refused) = api.post("/api/v1/bookings", Some(&customer), seated).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("only_without_seats")),
        "{refused}"
    );
    let (status, held) = api
        .post("/api/v1/bookings", Some(&customer), book(2, "Unpaid"))
        .await;
    assert_eq!(status, 201, "{held}");
    let (status, full) = api
        .post("/api/v1/bookings", Some(&customer), book(1, "Full"))
        .await;
    assert_eq!(
        (status, full["code"].as_str()),
        (409, Some("no_class_open")),
        "{full}"
    );

    // One passenger picks a seat now; an exit row is for adults, and taken seats are refused.
    let first = bookings[0]["id"].as_str().unwrap().to_owned();
    let (status, picked) = api
        .post(
            &format!("/api/v1/bookings/{first}/seat-changes"),
            Some(&customer),
            json!({"passenger": 0, "seat": "12A"}),
        )
        .await;
    assert_eq!(status, 200, "{picked}");
    assert_eq!(picked["segments"][0]["seats"][0], "12A");
    let seats_path = format!("/api/v1/flights/{flight_id}/seats");
    let map = api
        .eventually(&seats_path, None, |m| {
            m["cabins"][0]["sold"] == 82 && m["cabins"][0]["unassigned"] == 83
        })
        .await;
    assert_eq!(
        (&map["cabins"][0]["authorized"], &map["cabins"][0]["held"]),
        (&json!(84), &json!(2)),
        "{}",
        map["cabins"]
    );

    // The admin closes the flight.
    let (status, closed) = api
        .post(
            &format!("/api/v1/flights/{flight_id}/close"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    assert!(closed["closed_at"].is_string());
    assert_eq!(closed["seats"]["sold"], 80, "{closed}");
    assert_eq!(closed["seats"]["unassigned"], 0);
    assert_eq!(closed["seats"]["held"], 0, "the unpaid hold expired");

    // The latest booked in the cheapest class were offloaded, refunded, owed a compensation, mailed.
    let last = bookings[10]["id"].as_str().unwrap().to_owned();
    let offloaded = api
        .eventually(&format!("/api/v1/bookings/{last}"), Some(&customer), |b| {
            b["offloads"].as_array().is_some_and(|o| !o.is_empty())
        })
        .await;
    assert_eq!(offloaded["offloads"][0]["passengers"], json!([0, 1]));
    assert_eq!(offloaded["offloads"][0]["refund_minor"], 40_000);
    assert_eq!(offloaded["offloads"][0]["compensation_minor"], 80_000);
    let (_, history) = api
        .get(&format!("/api/v1/bookings/{last}/history"), Some(&customer))
        .await;
    let types: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"PassengersOffloaded"), "{types:?}");
    // Everyone else is seated, the first party's pick kept.
    let (_, kept) = api
        .get(&format!("/api/v1/bookings/{first}"), Some(&customer))
        .await;
    let seats = kept["segments"][0]["seats"].as_array().unwrap().clone();
    assert_eq!(seats[0], "12A");
    assert!(seats.iter().all(Value::is_string), "{kept}");
    let map = api
        .eventually(&seats_path, None, |m| {
            m["cabins"][0]["unassigned"] == 0 && m["cabins"][0]["sold"] == 80
        })
        .await;
    assert!(
        map["seats"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "sold")
    );
    let unpaid = held["id"].as_str().unwrap();
    api.eventually(
        &format!("/api/v1/bookings/{unpaid}"),
        Some(&customer),
        |b| b["status"] == "expired",
    )
    .await;

    // Nothing more is sold or moved.
    let (status, after) = api
        .post("/api/v1/bookings", Some(&customer), book(1, "After"))
        .await;
    assert_eq!(
        (status, after["code"].as_str()),
        (409, Some("flight_closed")),
        "{after}"
    );
    let (status, moved) = api
        .post(
            &format!("/api/v1/bookings/{first}/seat-changes"),
            Some(&customer),
            json!({"passenger": 0, "seat": "10A"}),
        )
        .await;
    assert_eq!(status, 409, "{moved}");

    let reference = bookings[10]["reference"].as_str().unwrap().to_owned();
    // Mail comes in any order: wait for one more at a time until the denied-boarding one is there.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let subject = format!("Booking {reference}: denied boarding");
    let denied = loop {
        let mails = sink.received();
        if let Some(mail) = mails.iter().find(|m| m.subject.starts_with(&subject)) {
            break mail.text();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no denied-boarding mail"
        );
        sink.wait_for(mails.len() + 1, Duration::from_secs(30))
            .await;
    };
    assert!(denied.contains("400.00 EUR"), "{denied}");
    assert!(denied.contains("800.00 EUR"), "{denied}");

    // A flight leaving in 50 minutes, sold without a seat; restarted to close 55 minutes before
    // departure, the closer closes it without anyone asking.
    let soon = Utc::now() + Span::minutes(50);
    let body = json!({"number": "AF81", "origin": "CDG", "destination": "JFK", "departure_at": soon,
        "arrival_at": soon + Span::hours(8), "aircraft_id": aircraft["id"], "fares": [fare("Y", 60_000, None)]});
    let (status, next) = api.post("/api/v1/flights", Some(&admin), body).await;
    assert_eq!(status, 201, "{next}");
    let (status, seatless) = api
        .post(
            "/api/v1/bookings",
            Some(&customer),
            json!({"flight_id": next["id"], "contact_email": "grace@example.com",
            "passengers": party(1, "Soon")}),
        )
        .await;
    assert_eq!(status, 201, "{seatless}");
    let id = seatless["id"].as_str().unwrap();
    let (status, paid) = api
        .post(
            &format!("/api/v1/bookings/{id}/payment"),
            Some(&customer),
            json!({"card_token": "tok_visa", "amount": seatless["total"]}),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    let next_id = next["id"].as_str().unwrap();
    system.kill().await;
    system
        .launch(&[("APP_BOOKING__CLOSE_MINUTES_BEFORE_DEPARTURE", "55")])
        .await;
    api.eventually(&format!("/api/v1/flights/{next_id}"), None, |f| {
        f["closed_at"].is_string()
    })
    .await;
    let seated = api
        .eventually(&format!("/api/v1/bookings/{id}"), Some(&customer), |b| {
            b["segments"][0]["seats"][0].is_string()
        })
        .await;
    assert_eq!(seated["status"], "confirmed");

    // The log holds every invariant, money included, once the refunds are paid back.
    let pool = db.pool.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let report = airline::verify::run(&pool, Duration::ZERO).await.unwrap();
        if report.is_clean() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
