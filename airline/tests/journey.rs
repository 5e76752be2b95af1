//! End to end: `airline all` as a child process on free ports with its own database, Redis prefix and
//! broker names, driven only through the gateway, with mail caught by this test's SMTP sink.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

mod support;

use std::time::Duration;

use chrono::{Duration as Span, Utc};
use infra::testing::TestDatabase;
use notifier::sink::SmtpSink;
use serde_json::{Value, json};

use crate::support::{Airline, Client};

fn seat_status(map: &Value, seat: &str) -> String {
    map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["seat"] == seat)
        .unwrap()["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_journey_through_the_gateway() {
    let db = TestDatabase::create(2).await;
    let sink = SmtpSink::start("127.0.0.1:0").await.unwrap();
    let system = Airline::start(&db, &sink.url(), &[]).await;
    let api = Client {
        http: reqwest::Client::new(),
        base: system.gateway.clone(),
    };

    // The first admin comes from the command line.
    let admin = system.create_admin(&api).await;

    // The admin publishes a flight.
    for (code, tz) in [("CDG", "Europe/Paris"), ("JFK", "America/New_York")] {
        let body = json!({"code": code, "name": format!("{code} Airport"), "city": "City", "country": "FR", "time_zone": tz});
        assert_eq!(
            api.post("/api/v1/airports", Some(&admin), body).await.0,
            201
        );
    }
    let aircraft = json!({"model": "A320", "cabins": [
        {"cabin": "business", "first_row": 1, "last_row": 2, "letters": "AC DF"},
        {"cabin": "economy", "first_row": 10, "last_row": 20, "letters": "ABC DEF", "exit_rows": [12]}]});
    let (status, aircraft) = api.post("/api/v1/aircraft", Some(&admin), aircraft).await;
    assert_eq!(status, 201, "{aircraft}");
    let departure = Utc::now() + Span::days(12);
    let flight = json!({"number": "AF7", "origin": "CDG", "destination": "JFK", "departure_at": departure,
        "arrival_at": departure + Span::hours(8), "aircraft_id": aircraft["id"],
        "fares": [
            {"cabin": "business", "price": {"amount_minor": 150000, "currency": "EUR"},
             "rules": {"refundable": true, "cancellation_fee": {"amount_minor": 0, "currency": "EUR"}}},
            {"cabin": "economy", "price": {"amount_minor": 39900, "currency": "EUR"},
             "rules": {"refundable": true, "cancellation_fee": {"amount_minor": 5000, "currency": "EUR"}}}]});
    let (status, flight) = api.post("/api/v1/flights", Some(&admin), flight).await;
    assert_eq!(status, 201, "{flight}");
    let flight_id = flight["id"].as_str().unwrap().to_owned();

    // A customer signs up, logs in, searches, looks at the seat map.
    let (status, signup) = api
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"email": "grace@example.com", "password": "Cobol-Compiler-1959"}),
        )
        .await;
    assert_eq!(status, 201, "{signup}");
    let customer = api.token("grace@example.com", "Cobol-Compiler-1959").await;
    let (_, me) = api.get("/api/v1/auth/me", Some(&customer)).await;
    assert_eq!(me["email"], "grace@example.com");
    let found = api
        .eventually(
            "/api/v1/flights?origin=CDG&destination=JFK&passengers=2",
            None,
            |b| b["flights"].as_array().is_some_and(|f| !f.is_empty()),
        )
        .await;
    assert_eq!(found["flights"][0]["flight_id"], flight_id.as_str());
    assert_eq!(found["flights"][0]["price_minor"], 39900);
    let seats_path = format!("/api/v1/flights/{flight_id}/seats");
    let (_, map) = api.get(&seats_path, None).await;
    assert_eq!(seat_status(&map, "14A"), "free");

    // Book two seats and pay.
    let booking = json!({"flight_id": flight_id, "contact_email": "grace@example.com", "passengers": [
        {"first_name": "Grace", "last_name": "Hopper", "type": "adult", "seat": "14A"},
        {"first_name": "Vincent", "last_name": "Hopper", "type": "adult", "seat": "14B"}]});
    let (status, booking) = api.post("/api/v1/bookings", Some(&customer), booking).await;
    assert_eq!(status, 201, "{booking}");
    assert_eq!(booking["status"], "held");
    assert_eq!(booking["total"]["amount_minor"], 79800);
    let id = booking["id"].as_str().unwrap().to_owned();
    let (status, paid) = api
        .post(
            &format!("/api/v1/bookings/{id}/payment"),
            Some(&customer),
            json!({"card_token": "tok_visa", "amount": booking["total"]}),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "confirmed");
    api.eventually(&seats_path, None, |m| {
        seat_status(m, "14A") == "sold" && seat_status(m, "14B") == "sold"
    })
    .await;

    // History, then a seat change.
    let (_, history) = api
        .get(&format!("/api/v1/bookings/{id}/history"), Some(&customer))
        .await;
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
    assert_eq!(history[0]["actor"]["role"], "customer");
    let (status, changed) = api
        .post(
            &format!("/api/v1/bookings/{id}/seat-changes"),
            Some(&customer),
            json!({"passenger": 1, "seat": "15C"}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    api.eventually(&seats_path, None, |m| {
        seat_status(m, "14B") == "free" && seat_status(m, "15C") == "sold"
    })
    .await;

    // The admin delays the flight; the passenger hears of it.
    let later = departure + Span::hours(3);
    let (status, _) = api
        .post(&format!("/api/v1/flights/{flight_id}/delay"), Some(&admin),
            json!({"departure_at": later, "arrival_at": later + Span::hours(8), "reason": "late inbound aircraft"}))
        .await;
    assert_eq!(status, 200);
    let mails = sink.wait_for(4, Duration::from_secs(30)).await;
    assert!(
        mails
            .iter()
            .any(|m| m.subject.ends_with("your flight is delayed")),
        "{:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );

    // The customer cancels (inside 24 hours of booking, more than 7 days out: everything back).
    let (status, cancelled) = api
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            Some(&customer),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["refund"]["amount_minor"], 79800);
    api.eventually(&seats_path, None, |m| {
        seat_status(m, "14A") == "free" && seat_status(m, "15C") == "free"
    })
    .await;

    let mails = sink.wait_for(6, Duration::from_secs(30)).await;
    let reference = booking["reference"].as_str().unwrap();
    let subjects: Vec<_> = mails.iter().map(|m| m.subject.clone()).collect();
    assert_eq!(subjects.len(), 6, "{subjects:?}");
    assert!(subjects[0].starts_with(&format!("Booking {reference}: seats held")));
    assert_eq!(subjects[1], format!("Booking {reference} confirmed"));
    assert_eq!(subjects[2], format!("Booking {reference}: seat changed"));
    assert_eq!(
        subjects[3],
        format!("Booking {reference}: your flight is delayed")
    );
    assert_eq!(subjects[4], format!("Booking {reference} cancelled"));
    assert!(mails.iter().all(|m| m.to == ["grace@example.com"]));
    assert!(mails[4].text().contains("Refund: 798.00 EUR."));
    assert_eq!(subjects[5], format!("Booking {reference}: refund sent"));

    // The booking's history reads as its story, each step with who did it.
    let (_, history) = api
        .get(&format!("/api/v1/bookings/{id}/history"), Some(&customer))
        .await;
    let story: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event_type"].as_str().unwrap().to_owned(),
                e["actor"]["role"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("BookingPlaced", "customer"),
        ("BookingConfirmed", "customer"),
        ("PaymentCaptured", "customer"),
        ("PassengerSeatChanged", "customer"),
        ("FlightDelayNoted", "admin"),
        ("BookingCancelled", "customer"),
        ("RefundIssued", "customer"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(t, r)| ((*t).to_owned(), (*r).to_owned()))
        .collect();
    assert_eq!(story, expected, "{history:#}");
}
