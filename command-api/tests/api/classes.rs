//! Booking classes through the API: an admin opens a flight whose economy sells Y, B and Q with nested
//! limits; bookings without a class get the cheapest open for the whole party, so the price steps up as
//! Q and then B fill; a class asked for that closed is 409 naming the class on sale; lowering a limit
//! closes a class without taking seats back; concurrent buyers never sell a class past its limit; and
//! `airline verify` checks the limits from the log, and finds a sale forged past one.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, fare, spawn_app};

fn class(code: &str, price: i64, limit: Option<u32>) -> Value {
    let mut fare = fare("economy", price, true, 2_500);
    fare["class"] = json!(code);
    if let Some(limit) = limit {
        fare["limit"] = json!(limit);
    }
    fare
}

/// The test aircraft (economy rows 10-14, 30 seats) with economy as Y (no limit but the cabin), B
/// (12 with Q) and Q (4); its id.
async fn flight_with_classes(app: &TestApp) -> Uuid {
    app.post_airport("CDG").await;
    app.post_airport("JFK").await;
    let aircraft = app.post_aircraft().await;
    let mut body = app.flight_body(aircraft);
    body["fares"] = json!([
        fare("business", 90_000, true, 0),
        class("Y", 30_000, None),
        class("B", 20_000, Some(12)),
        class("Q", 10_000, Some(4)),
    ]);
    let created = app.post("/api/v1/flights", &app.admin, &body).await;
    assert_eq!(created.status, 201, "{}", created.json());
    created.json()["id"].as_str().unwrap().parse().unwrap()
}

/// Books `seats` on `flight`, in `class` if given; the answer.
async fn book(app: &TestApp, flight: Uuid, seats: &[&str], class: Option<&str>) -> (u16, Value) {
    let mut body = testkit::bodies::booking(flight, seats, "Lovelace");
    if let Some(class) = class {
        body["class"] = json!(class);
    }
    let response = app.post("/api/v1/bookings", &app.customer, &body).await;
    (response.status.as_u16(), response.json())
}

/// Economy's classes as the flight stands: code, seats held or sold, seats it may still sell.
async fn economy_classes(app: &TestApp, flight: Uuid) -> Vec<(String, u64, u64)> {
    app.flight_state(flight)
        .await
        .classes(domain::values::Cabin::Economy)
        .iter()
        .map(|c| (c.fare.code().to_string(), c.sold as u64, c.available as u64))
        .collect()
}

#[tokio::test]
async fn the_price_steps_up_as_the_cheap_classes_fill_and_a_closed_class_names_the_one_on_sale() {
    let app = spawn_app().await;
    let flight = flight_with_classes(&app).await;
    let classes = |y: (u64, u64), b: (u64, u64), q: (u64, u64)| {
        vec![
            ("Y".to_owned(), y.0, y.1),
            ("B".to_owned(), b.0, b.1),
            ("Q".to_owned(), q.0, q.1),
        ]
    };
    assert_eq!(
        economy_classes(&app, flight).await,
        classes((0, 30), (0, 12), (0, 4))
    );
    // A party of three is sold in Q, whole.
    let (status, three) = book(&app, flight, &["10A", "10B", "10C"], None).await;
    assert_eq!(status, 201, "{three}");
    assert_eq!(three["segments"][0]["class"], "Q");
    assert_eq!(three["total"]["amount_minor"], 30_000);
    // One Q seat is left: a party of two goes to B, whole, never split across classes.
    let (status, two) = book(&app, flight, &["11A", "11B"], None).await;
    assert_eq!(status, 201, "{two}");
    assert_eq!(two["segments"][0]["class"], "B");
    assert_eq!(two["total"]["amount_minor"], 40_000);
    // The last Q seat, asked for by name; then Q is closed and says B is on sale.
    let (status, last) = book(&app, flight, &["12A"], Some("Q")).await;
    assert_eq!(
        (status, &last["total"]["amount_minor"]),
        (201, &json!(10_000))
    );
    let (status, closed) = book(&app, flight, &["12B"], Some("Q")).await;
    assert_eq!(
        (status, &closed["code"], &closed["on_sale"]),
        (409, &json!("class_closed"), &json!("B")),
        "{closed}"
    );
    let (status, unknown) = book(&app, flight, &["12B"], Some("Z")).await;
    assert_eq!((status, &unknown["code"]), (422, &json!("unknown_class")));
    let (status, invalid) = book(&app, flight, &["12B"], Some("qq")).await;
    assert_eq!(
        (status, &invalid["code"]),
        (422, &json!("invalid_body")),
        "{invalid}"
    );
    assert!(
        invalid["detail"]
            .as_str()
            .unwrap()
            .contains("booking class"),
        "{invalid}"
    );
    // Nested: B's 12 count Q's 4, so 6 of them are gone.
    assert_eq!(
        economy_classes(&app, flight).await,
        classes((0, 24), (2, 6), (4, 0))
    );

    // The admin lowers B to 5: B closes (6 are sold in B and Q), nothing sold is taken back, and the
    // next booking is Y.
    let mut fares = vec![
        fare("business", 90_000, true, 0),
        class("Y", 30_000, None),
        class("B", 20_000, Some(5)),
        class("Q", 10_000, Some(4)),
    ];
    let changed = app
        .patch(
            &format!("/api/v1/flights/{flight}"),
            &app.admin,
            &json!({ "fares": fares }),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.json());
    // The admin's answer shows each class as it stands.
    let answer = changed.json();
    let b = answer["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == "B")
        .unwrap();
    assert_eq!(
        (&b["class"], &b["limit"], &b["sold"], &b["open"]),
        (&json!("B"), &json!(5), &json!(2), &json!(false)),
        "{answer}"
    );
    let (status, dear) = book(&app, flight, &["13A"], None).await;
    assert_eq!((status, &dear["segments"][0]["class"]), (201, &json!("Y")));
    assert_eq!(
        economy_classes(&app, flight).await,
        classes((1, 23), (2, 0), (4, 0))
    );
    // Classes that do not nest are refused.
    fares[3] = class("Q", 10_000, Some(9));
    let refused = app
        .patch(
            &format!("/api/v1/flights/{flight}"),
            &app.admin,
            &json!({ "fares": fares }),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["code"], "invalid_classes");

    let report = airline::verify::run(&app.db.pool, Duration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
    // A sale forged into the log past Q's limit is found.
    let next: i64 = sqlx::query_scalar(
        "SELECT max(sequence) + 1 FROM events WHERE aggregate_type = 'flight' AND aggregate_id = $1",
    )
    .bind(flight.to_string())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('flight', $1, $2, 'SeatsHeld', '1.1', $3, '{}')",
    )
    .bind(flight.to_string())
    .bind(next)
    .bind(json!({"SeatsHeld": {"booking_id": Uuid::new_v4(), "cabin": "economy", "class": "Q",
        "seats": ["14F"], "hold_until": app.now() + chrono::Duration::minutes(15)}}))
    .execute(&app.db.pool)
    .await
    .unwrap();
    let report = airline::verify::run(&app.db.pool, Duration::ZERO)
        .await
        .unwrap();
    let limits = report
        .checks
        .iter()
        .find(|c| c.name == "class-limits")
        .unwrap();
    assert_eq!(limits.violations.len(), 2, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_buyers_of_the_cheapest_class_sell_exactly_its_limit() {
    let app = spawn_app().await;
    let flight = flight_with_classes(&app).await;
    let seats: Vec<String> = (10..=14)
        .flat_map(|row| "ABCDEF".chars().map(move |l| format!("{row}{l}")))
        .take(20)
        .collect();
    let singles: Vec<[&str; 1]> = seats.iter().map(|s| [s.as_str()]).collect();
    let answers = futures::future::join_all(
        singles
            .iter()
            .map(|seat| book(&app, flight, seat, Some("Q"))),
    )
    .await;
    let sold = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(sold, 4, "{answers:?}");
    for (status, body) in &answers {
        if *status != 201 {
            assert_eq!(
                (*status, &body["code"]),
                (409, &json!("class_closed")),
                "{body}"
            );
        }
    }
    // Checked from the log, independently of the code.
    let in_q: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'flight' AND aggregate_id = $1 \
         AND event_type = 'SeatsHeld' AND payload #>> '{SeatsHeld,class}' = 'Q'",
    )
    .bind(flight.to_string())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(in_q, 4);
    let report = airline::verify::run(&app.db.pool, Duration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}
