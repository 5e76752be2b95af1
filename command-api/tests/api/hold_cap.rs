//! Seat spinning: a customer holds at most 20 seats unpaid at once, across flights and under
//! concurrency; the cap is checked against the log-side table independently of the code.

use futures::StreamExt;
use infra::auth::Role;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app, start_with};

/// The test app, and the address of another instance of it (a second process) with the default cap
/// of 20 seats.
async fn capped() -> (TestApp, String) {
    let app = spawn_app().await;
    let address = capped_instance(&app).await;
    (app, address)
}

async fn capped_instance(app: &TestApp) -> String {
    let provider = std::sync::Arc::new(command_api::payments::TestCardProvider::default());
    start_with(&app.db, (&app.public_pem, &app.clock), 4, provider, |s| {
        s.booking.max_held_seats = 20;
    })
    .await
    .0
}

async fn book_at(
    app: &TestApp,
    address: &str,
    token: &str,
    flight: Uuid,
    seats: &[String],
) -> (u16, serde_json::Value) {
    let passengers: Vec<serde_json::Value> = seats
        .iter()
        .map(|s| json!({"first_name": "Ada", "last_name": "Lovelace", "type": "adult", "seat": s}))
        .collect();
    let body =
        json!({"flight_id": flight, "contact_email": "ada@example.com", "passengers": passengers});
    let response = app
        .client
        .post(format!("{address}/api/v1/bookings"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    if status != 201 {
        assert_eq!(
            (status, &body["code"]),
            (409, &json!("hold_limit_exceeded")),
            "{body}"
        );
    }
    (status, body)
}

/// Two flights of the test aircraft (38 seats each).
async fn two_flights(app: &TestApp) -> [Uuid; 2] {
    app.post_airport("CDG").await;
    app.post_airport("JFK").await;
    let aircraft = app.post_aircraft().await;
    let mut ids = [Uuid::nil(); 2];
    for (n, id) in ids.iter_mut().enumerate() {
        let mut body = app.flight_body(aircraft);
        body["number"] = json!(format!("AF{}", 100 + n));
        let response = app.post("/api/v1/flights", &app.admin, &body).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.json());
        *id = response.json()["id"].as_str().unwrap().parse().unwrap();
    }
    ids
}

fn economy(row: u8, letters: &str) -> Vec<String> {
    letters.chars().map(|l| format!("{row}{l}")).collect()
}

async fn held_seats(app: &TestApp, customer: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(seats), 0)::bigint FROM hold_deadlines WHERE customer_id = $1",
    )
    .bind(customer)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_customer_cannot_hold_more_than_twenty_seats_across_flights() {
    let (app, capped) = capped().await;
    let [a, b] = two_flights(&app).await;
    let book = |flight: Uuid, seats: Vec<String>| {
        let (app, capped) = (&app, &capped);
        async move { book_at(app, capped, &app.customer, flight, &seats).await }
    };
    let mut first = economy(10, "ABCDEF");
    first.extend(economy(11, "ABC"));
    let (status, held_a) = book(a, first).await;
    assert_eq!(status, 201, "{held_a}");
    let mut second = economy(10, "ABCDEF");
    second.extend(economy(11, "ABC"));
    assert_eq!(book(b, second).await.0, 201);
    // 18 held: three more is over the cap, whatever the flight.
    assert_eq!(book(a, economy(13, "ABC")).await.0, 409);
    assert_eq!(held_seats(&app, app.customer_id).await, 18);
    // Two more fit exactly; then not one more.
    assert_eq!(book(a, economy(13, "AB")).await.0, 201);
    assert_eq!(book(b, economy(14, "A")).await.0, 409);
    // Someone else is not affected.
    let other = app.token(Uuid::new_v4(), Role::Customer);
    assert_eq!(
        book_at(&app, &capped, &other, a, &economy(14, "ABCDEF"))
            .await
            .0,
        201
    );
    // Paying for a hold frees its seats from the cap.
    let paid = app.pay(&app.customer, &held_a).await;
    assert_eq!(paid.status, 200, "{}", paid.json());
    assert_eq!(held_seats(&app, app.customer_id).await, 11);
    assert_eq!(book(b, economy(13, "ABCDE")).await.0, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_holds_on_two_flights_cannot_race_past_the_cap() {
    let (app, capped) = capped().await;
    let second = capped_instance(&app).await;
    let flights = two_flights(&app).await;
    let customer = Uuid::new_v4();
    let token = app.token(customer, Role::Customer);
    // 12 requests of 3 seats, 36 seats in all, on both flights at once, half through each of two instances.
    let requests: Vec<(usize, Uuid, Vec<String>)> = (0..12)
        .map(|n| {
            let flight = flights[n % 2];
            let row = 10 + u8::try_from(n / 4).unwrap();
            let letters = if (n / 2) % 2 == 0 { "ABC" } else { "DEF" };
            (n, flight, economy(row, letters))
        })
        .collect();
    let statuses: Vec<u16> = futures::stream::iter(requests)
        .map(|(n, flight, seats)| {
            let (app, token) = (&app, &token);
            let address = if n % 2 == 0 { &capped } else { &second };
            async move { book_at(app, address, token, flight, &seats).await.0 }
        })
        .buffer_unordered(12)
        .collect()
        .await;
    let placed = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(placed, 6, "{statuses:?}");
    assert_eq!(held_seats(&app, customer).await, 18);
    // From the event log alone: the customer's placed bookings carry 18 seats.
    let from_log: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(jsonb_array_length(payload #> '{BookingPlaced,segments,0,passengers}')), 0)::bigint \
         FROM events WHERE event_type = 'BookingPlaced' \
           AND payload->'BookingPlaced'->>'customer_id' = $1",
    )
    .bind(customer.to_string())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let sample: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT payload FROM events WHERE event_type = 'BookingPlaced' LIMIT 1")
            .fetch_optional(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(from_log, 18, "{sample:?}");
}

#[tokio::test]
async fn many_new_accounts_from_one_address_hold_no_more_than_its_cap_even_at_once() {
    let app = spawn_app().await;
    let provider = std::sync::Arc::new(command_api::payments::TestCardProvider::default());
    let (address, _) = start_with(&app.db, (&app.public_pem, &app.clock), 4, provider, |s| {
        s.booking.max_held_seats = 20;
        s.booking.max_held_seats_per_client = 8;
    })
    .await;
    let [flight, _] = two_flights(&app).await;
    let book_from = |client: &'static str, row: u8, letters: &'static str| {
        let token = app.token(Uuid::new_v4(), Role::Customer);
        let passengers: Vec<serde_json::Value> = economy(row, letters)
            .iter()
            .map(|s| json!({"first_name": "Spin", "last_name": "Ner", "type": "adult", "seat": s}))
            .collect();
        let body = json!({"flight_id": flight, "contact_email": "spin@example.com", "passengers": passengers});
        let request = app
            .client
            .post(format!("{address}/api/v1/bookings"))
            .bearer_auth(token)
            .header("x-forwarded-for", client)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        }
    };
    // Six fresh accounts behind one address, two seats each, all at once.
    let answers: Vec<(u16, serde_json::Value)> = futures::future::join_all((0..6u8).map(|n| {
        book_from(
            "203.0.113.7",
            10 + n / 3,
            ["AB", "CD", "EF"][usize::from(n % 3)],
        )
    }))
    .await;
    let won = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(won, 4, "{answers:?}");
    for (status, body) in &answers {
        if *status != 201 {
            assert_eq!(
                (*status, &body["code"]),
                (409, &json!("hold_limit_exceeded")),
                "{body}"
            );
        }
    }
    // Another address is not held back by that one.
    let (status, body) = book_from("198.51.100.9", 13, "AB").await;
    assert_eq!(status, 201, "{body}");
    // Checked from the table the commit keeps, independently of the code.
    let held: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(seats), 0)::bigint FROM hold_deadlines WHERE client_addr = '203.0.113.7'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(held, 8);
}

/// A customer's token whose account was made `age` ago (as the gateway signs it).
fn token_of_age(app: &TestApp, user: Uuid, age: chrono::Duration) -> String {
    let mut claims = testkit::auth::claims(user, Role::Customer, testkit::AUDIENCE, 900);
    claims.acc = u64::try_from((app.now() - age).timestamp()).ok();
    testkit::auth::sign(&app.signer, &claims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_younger_than_a_day_holds_at_most_nine_seats_on_one_flight_even_at_once() {
    let (app, capped) = capped().await;
    let [a, b] = two_flights(&app).await;
    let new = Uuid::new_v4();
    let token = token_of_age(&app, new, chrono::Duration::hours(23));
    // Four bookings of three seats at once on one flight: three fit the nine, the fourth does not.
    let groups = [10, 11, 12, 13].map(|row| economy(row, "ABC"));
    let answers = futures::future::join_all(
        groups
            .iter()
            .map(|seats| book_at(&app, &capped, &token, a, seats)),
    )
    .await;
    let won = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(won, 3, "{answers:?}");
    assert_eq!(
        book_at(&app, &capped, &token, a, &economy(14, "A")).await.0,
        409
    );
    // The cap is per flight: another flight takes more, up to the customer's own cap of 20.
    assert_eq!(
        book_at(&app, &capped, &token, b, &economy(10, "ABCDEF"))
            .await
            .0,
        201
    );
    // Checked from the table the commit keeps, independently of the code.
    let on_a: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(party), 0)::bigint FROM hold_deadlines \
         WHERE customer_id = $1 AND $2 = ANY(new_account_flights)",
    )
    .bind(new)
    .bind(a)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(on_a, 9);
    // Paying frees a hold's seats from the cap.
    let (_, held) = answers.iter().find(|(s, _)| *s == 201).unwrap();
    let paid = app.pay(&token, held).await;
    assert_eq!(paid.status, 200, "{}", paid.json());
    assert_eq!(
        book_at(&app, &capped, &token, a, &economy(14, "ABC"))
            .await
            .0,
        201
    );
    // An account a day old, or a token that does not say, holds twelve on one flight (six a booking).
    let older = [
        (
            token_of_age(&app, Uuid::new_v4(), chrono::Duration::hours(25)),
            [11, 12],
        ),
        (app.token(Uuid::new_v4(), Role::Customer), [13, 14]),
    ];
    for (token, rows) in older {
        for row in rows {
            let (status, body) = book_at(&app, &capped, &token, b, &economy(row, "ABCDEF")).await;
            assert_eq!(status, 201, "{body}");
        }
    }
}
