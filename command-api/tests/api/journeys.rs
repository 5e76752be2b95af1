//! Journeys as one booking: every segment's seats held, paid, changed, cancelled, expired and disrupted
//! in one commit over all its flights, checked in the log (not only in responses) and by `verify`.

use std::time::Duration as StdDuration;

use chrono::Duration;
use command_api::process::{Outcome, expiry};
use serde_json::{Value, json};
use testkit::{bodies, seed};
use uuid::Uuid;

use crate::helpers::{TestApp, fare, spawn_app};

/// CDG→LHR (1 h) and LHR→JFK leaving 2 h after it lands, 10 days out, and JFK→CDG five days later. The
/// second leg is scheduled first, so the two legs' ids sort against their time order.
struct Trip {
    app: TestApp,
    to_lhr: Uuid,
    to_jfk: Uuid,
    home: Uuid,
}

async fn trip() -> Trip {
    let app = spawn_app().await;
    for code in ["CDG", "LHR", "JFK"] {
        assert_eq!(app.post_airport(code).await.status, 201);
    }
    let aircraft = json!(app.post_aircraft().await);
    let day = app.now() + Duration::days(10);
    let url = format!("{}/api/v1/flights", app.address);
    let fares = [
        fare("business", 90_000, true, 0),
        fare("economy", 10_000, true, 2_500),
    ];
    let schedule = |number: &str, route, departure, hours| {
        bodies::flight(
            number,
            route,
            (departure, Duration::hours(hours)),
            &aircraft,
            &fares,
        )
    };
    let mut ids = Vec::new();
    for body in [
        schedule("BA2", ("LHR", "JFK"), day + Duration::hours(3), 8),
        schedule("AF1", ("CDG", "LHR"), day, 1),
        schedule("AF3", ("JFK", "CDG"), day + Duration::days(5), 7),
    ] {
        ids.push(seed::id_of(
            &seed::create(&app.client, &url, &app.admin, &body).await,
        ));
    }
    assert!(
        ids[0] < ids[1],
        "the legs' ids do not sort against their times"
    );
    Trip {
        to_lhr: ids[1],
        to_jfk: ids[0],
        home: ids[2],
        app,
    }
}

/// A booking body for two adults over `slices` of `(flight, [seat, seat])`.
fn journey(slices: &[&[(Uuid, [&str; 2])]]) -> Value {
    let slices: Vec<Value> = slices
        .iter()
        .map(|segments| {
            let segments: Vec<Value> = segments
                .iter()
                .map(|(flight, seats)| json!({"flight_id": flight, "seats": seats}))
                .collect();
            json!({"segments": segments})
        })
        .collect();
    json!({"slices": slices, "contact_email": "ada@example.com", "passengers": [
        {"first_name": "Ada", "last_name": "Lovelace", "type": "adult"},
        {"first_name": "Byron", "last_name": "Lovelace", "type": "adult"}
    ]})
}

/// The flight events naming `booking`, as (flight, event type, transaction), in log order.
async fn flight_events(app: &TestApp, booking: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT aggregate_id, event_type, tx_id::text FROM events \
         WHERE aggregate_type = 'flight' AND payload -> event_type ->> 'booking_id' = $1 \
         ORDER BY global_position",
    )
    .bind(booking)
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

/// The flights and transactions of the `kind` events naming `booking`.
async fn on_flights(app: &TestApp, booking: &str, kind: &str) -> Vec<(String, String)> {
    flight_events(app, booking)
        .await
        .into_iter()
        .filter(|(_, k, _)| k == kind)
        .map(|(flight, _, tx)| (flight, tx))
        .collect()
}

/// Events of `event_type` in the whole log.
async fn count_events(app: &TestApp, event_type: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// The booking's own events' transactions, by type.
async fn booking_tx(app: &TestApp, booking: &str, event_type: &str) -> String {
    sqlx::query_scalar(
        "SELECT tx_id::text FROM events WHERE aggregate_type = 'booking' AND aggregate_id = $1 \
         AND event_type = $2",
    )
    .bind(booking)
    .bind(event_type)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

async fn assert_verified(app: &TestApp) {
    let report = airline::verify::run(&app.db.pool, StdDuration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

/// The events of one type on one flight, whatever their booking.
async fn count_on(app: &TestApp, flight: Uuid, event_type: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'flight' AND aggregate_id = $1 AND event_type = $2",
    )
    .bind(flight.to_string())
    .bind(event_type)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_connection_is_held_paid_and_cancelled_on_every_flight_in_one_commit_each() {
    let t = trip().await;
    let app = &t.app;
    let body = journey(&[&[(t.to_lhr, ["10A", "10B"]), (t.to_jfk, ["14E", "14F"])]]);
    let placed = app.post("/api/v1/bookings", &app.customer, &body).await;
    assert_eq!(placed.status, 201, "{}", placed.json());
    let booking = placed.json();
    let id = booking["id"].as_str().unwrap();
    let segments = booking["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[0]["flight_id"], json!(t.to_lhr));
    assert_eq!(segments[1]["seats"], json!(["14E", "14F"]));
    // Two adults on two economy flights at 100.00 each.
    assert_eq!(booking["total"]["amount_minor"], 40_000);
    assert_eq!(booking["flight_id"], json!(t.to_lhr));

    let held = flight_events(app, id).await;
    let placed_tx = booking_tx(app, id, "BookingPlaced").await;
    let flights: Vec<&str> = held.iter().map(|(f, _, _)| f.as_str()).collect();
    assert_eq!(flights.len(), 2, "{held:?}");
    assert!(flights.contains(&t.to_lhr.to_string().as_str()));
    assert!(flights.contains(&t.to_jfk.to_string().as_str()));
    assert!(
        held.iter()
            .all(|(_, kind, tx)| kind == "SeatsHeld" && *tx == placed_tx)
    );

    let paid = app.pay(&app.customer, &booking).await;
    assert_eq!(paid.status, 200, "{}", paid.json());
    let confirmed_tx = booking_tx(app, id, "BookingConfirmed").await;
    let sold = on_flights(app, id, "SeatsConfirmed").await;
    assert_eq!(sold.len(), 2);
    assert!(sold.iter().all(|(_, tx)| *tx == confirmed_tx));

    let cancelled = app
        .post(
            &format!("/api/v1/bookings/{id}/cancel"),
            &app.customer,
            &json!({}),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.json());
    let cancelled_tx = booking_tx(app, id, "BookingCancelled").await;
    let released = on_flights(app, id, "SeatsReleased").await;
    assert_eq!(released.len(), 2);
    assert!(released.iter().all(|(_, tx)| *tx == cancelled_tx));
    for flight in [t.to_lhr, t.to_jfk] {
        assert!(app.flight_state(flight).await.holds.is_empty());
    }
    assert_verified(app).await;
}

#[tokio::test]
async fn a_seat_taken_on_the_second_flight_refuses_the_journey_and_holds_nothing() {
    let t = trip().await;
    let app = &t.app;
    let taken = app.book(&app.customer, t.to_jfk, &["14F"]).await;
    assert_eq!(taken.status, 201);
    let body = journey(&[&[(t.to_lhr, ["10A", "10B"]), (t.to_jfk, ["14E", "14F"])]]);
    let refused = app.post("/api/v1/bookings", &app.customer, &body).await;
    assert_eq!(refused.status, 409, "{}", refused.json());
    let problem = refused.json();
    assert_eq!(problem["code"], "seats_unavailable");
    assert_eq!(problem["segment"], 1);
    assert!(
        problem["detail"].as_str().unwrap().contains("14F"),
        "{problem}"
    );
    // In the log: nothing was ever held on the first flight, and only the other booking on the second.
    assert_eq!(count_on(app, t.to_lhr, "SeatsHeld").await, 0);
    assert_eq!(count_on(app, t.to_jfk, "SeatsHeld").await, 1);
    let placed = count_events(app, "BookingPlaced").await;
    assert_eq!(placed, 1);
    assert_verified(app).await;
}

#[tokio::test]
async fn flights_that_do_not_make_a_journey_are_refused_with_the_rule() {
    let t = trip().await;
    let app = &t.app;
    let cases = [
        // Out of order: the LHR→JFK leg before the CDG→LHR one.
        (
            journey(&[&[(t.to_jfk, ["14E", "14F"]), (t.to_lhr, ["10A", "10B"])]]),
            "segments_not_connected",
        ),
        // A return that does not come back to CDG.
        (
            journey(&[&[(t.to_lhr, ["10A", "10B"])], &[(t.home, ["10A", "10B"])]]),
            "not_a_return",
        ),
        // The same flight twice.
        (
            journey(&[&[(t.to_lhr, ["10A", "10B"])], &[(t.to_lhr, ["11A", "11B"])]]),
            "repeated_flight",
        ),
    ];
    for (body, code) in cases {
        let refused = app.post("/api/v1/bookings", &app.customer, &body).await;
        assert_eq!(refused.status, 422, "{}", refused.json());
        assert_eq!(refused.json()["code"], code);
    }
    // One seat short for two passengers, and seats on the passengers as well as on the segments.
    let mut short = journey(&[&[(t.to_lhr, ["10A", "10B"])]]);
    short["slices"][0]["segments"][0]["seats"] = json!(["10A"]);
    let refused = app.post("/api/v1/bookings", &app.customer, &short).await;
    assert_eq!(refused.json()["code"], "seats_do_not_match_passengers");
    let mut both = journey(&[&[(t.to_lhr, ["10A", "10B"])]]);
    both["passengers"][0]["seat"] = json!("10A");
    let refused = app.post("/api/v1/bookings", &app.customer, &both).await;
    assert_eq!(refused.status, 422);
    // At CDG... LHR needs 3 hours now: the 2-hour connection is too short.
    let body = json!({"min_connection_minutes": 180});
    let updated = app.patch("/api/v1/airports/LHR", &app.admin, &body).await;
    assert_eq!(updated.status, 200, "{}", updated.json());
    let body = journey(&[&[(t.to_lhr, ["10A", "10B"]), (t.to_jfk, ["14E", "14F"])]]);
    let refused = app.post("/api/v1/bookings", &app.customer, &body).await;
    assert_eq!(refused.status, 422, "{}", refused.json());
    assert_eq!(refused.json()["code"], "connection_too_short");
    let held = count_events(app, "SeatsHeld").await;
    assert_eq!(held, 0);
}

#[tokio::test]
async fn a_round_trip_changes_a_seat_on_the_way_back_and_lapses_on_both_flights() {
    let t = trip().await;
    let app = &t.app;
    let body = journey(&[&[(t.to_lhr, ["10A", "10B"]), (t.to_jfk, ["14E", "14F"])]]);
    assert_eq!(
        app.post("/api/v1/bookings", &app.customer, &body)
            .await
            .status,
        201
    );
    // A second customer's return trip CDG→JFK→CDG (by the connection out, direct back).
    let other = app.token(Uuid::new_v4(), infra::auth::Role::Customer);
    let body = journey(&[
        &[(t.to_lhr, ["11A", "11B"]), (t.to_jfk, ["13A", "13B"])],
        &[(t.home, ["10C", "10D"])],
    ]);
    let placed = app.post("/api/v1/bookings", &other, &body).await;
    assert_eq!(placed.status, 201, "{}", placed.json());
    let booking = placed.json();
    let id = booking["id"].as_str().unwrap();
    let slices: Vec<i64> = booking["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slice"].as_i64().unwrap())
        .collect();
    assert_eq!(slices, vec![0, 0, 1]);

    let change = json!({"segment": 2, "passenger": 1, "seat": "11F"});
    let path = format!("/api/v1/bookings/{id}/seat-changes");
    let changed = app.post(&path, &other, &change).await;
    assert_eq!(changed.status, 200, "{}", changed.json());
    assert_eq!(
        changed.json()["segments"][2]["seats"],
        json!(["10C", "11F"])
    );
    assert_eq!(
        changed.json()["segments"][0]["seats"],
        json!(["11A", "11B"])
    );
    let moved: Vec<(String, String)> = sqlx::query_as(
        "SELECT aggregate_id, payload #>> '{SeatChanged,to}' FROM events WHERE event_type = 'SeatChanged'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(moved, vec![(t.home.to_string(), "11F".to_owned())]);
    // A seat taken by the party itself on that flight, and a segment it does not have.
    let change = json!({"segment": 2, "passenger": 1, "seat": "10C"});
    assert_eq!(app.post(&path, &other, &change).await.status, 422);
    let change = json!({"segment": 3, "passenger": 0, "seat": "11E"});
    let refused = app.post(&path, &other, &change).await;
    assert_eq!(refused.json()["code"], "no_such_segment");

    // Unpaid past the hold: the sweeper lapses both holds, and every flight's seats come free.
    app.clock.advance(Duration::hours(2));
    while expiry::sweep_once(&app.state, 100).await.unwrap() != Outcome::Idle {}
    let expired: Vec<(String, String)> = sqlx::query_as(
        "SELECT aggregate_id, tx_id::text FROM events WHERE event_type = 'HoldExpired' \
         AND payload #>> '{HoldExpired,booking_id}' = $1 ORDER BY aggregate_id",
    )
    .bind(id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(expired.len(), 3, "{expired:?}");
    assert!(expired.iter().all(|(_, tx)| *tx == expired[0].1));
    for flight in [t.to_lhr, t.to_jfk, t.home] {
        assert!(app.flight_state(flight).await.holds.is_empty());
    }
    assert_verified(app).await;
}

#[tokio::test]
async fn a_delay_that_breaks_a_connection_is_recorded_on_the_booking_by_the_flights_event() {
    let t = trip().await;
    let app = &t.app;
    let body = journey(&[&[(t.to_lhr, ["10A", "10B"]), (t.to_jfk, ["14E", "14F"])]]);
    let booking = app
        .post("/api/v1/bookings", &app.customer, &body)
        .await
        .json();
    let id = booking["id"].as_str().unwrap();
    // The first leg lands 90 minutes late: 30 minutes to connect at LHR, where 60 are needed.
    let first = app.flight_state(t.to_lhr).await;
    let late = Duration::minutes(90);
    let body = json!({"departure_at": first.departure_at + late,
        "arrival_at": first.arrival_at + late, "reason": "fog"});
    let delayed = app
        .post(
            &format!("/api/v1/flights/{}/delay", t.to_lhr),
            &app.admin,
            &body,
        )
        .await;
    assert_eq!(delayed.status, 200, "{}", delayed.json());
    let (cause, cause_tx): (Uuid, String) = sqlx::query_as(
        "SELECT event_id, tx_id::text FROM events WHERE event_type = 'FlightDelayed'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let (broken, tx, metadata): (Value, String, Value) = sqlx::query_as(
        "SELECT payload -> 'ConnectionBroken', tx_id::text, metadata FROM events \
         WHERE aggregate_id = $1 AND event_type = 'ConnectionBroken'",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(tx, cause_tx, "the connection was noted in another commit");
    assert_eq!(metadata["causation_id"], cause.to_string());
    assert_eq!(
        broken,
        json!({"arriving": t.to_lhr, "departing": t.to_jfk, "airport": "LHR", "minutes": 30, "minimum": 60})
    );
    let state = app.booking_state(id).await;
    assert_eq!(state.broken_connections.len(), 1);
    // A delay of the second leg that gives the connection back its time breaks nothing more.
    let second = app.flight_state(t.to_jfk).await;
    let body = json!({"departure_at": second.departure_at + Duration::hours(1),
        "arrival_at": second.arrival_at + Duration::hours(1), "reason": "crew"});
    let path = format!("/api/v1/flights/{}/delay", t.to_jfk);
    assert_eq!(app.post(&path, &app.admin, &body).await.status, 200);
    let count = count_events(app, "ConnectionBroken").await;
    assert_eq!(count, 1);
    assert_verified(app).await;
}

#[tokio::test]
async fn a_cancelled_segment_cancels_the_journey_in_full_and_frees_every_flight() {
    let t = trip().await;
    let app = &t.app;
    let body = journey(&[
        &[(t.to_lhr, ["10A", "10B"]), (t.to_jfk, ["14E", "14F"])],
        &[(t.home, ["10A", "10B"])],
    ]);
    let booking = app
        .post("/api/v1/bookings", &app.customer, &body)
        .await
        .json();
    let id = booking["id"].as_str().unwrap();
    assert_eq!(app.pay(&app.customer, &booking).await.status, 200);
    // The middle flight is cancelled by the airline.
    let path = format!("/api/v1/flights/{}/cancel", t.to_jfk);
    let cancelled = app
        .post(&path, &app.admin, &json!({"reason": "strike"}))
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.json());
    let state = app.booking_state(id).await;
    assert_eq!(state.status, domain::booking::BookingStatus::Cancelled);
    assert_eq!(
        state.refund,
        Some(state.total),
        "an airline cancellation refunds in full"
    );
    let flight_tx: String =
        sqlx::query_scalar("SELECT tx_id::text FROM events WHERE event_type = 'FlightCancelled'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let released = on_flights(app, id, "SeatsReleased").await;
    assert_eq!(released.len(), 3, "{released:?}");
    assert!(released.iter().all(|(_, tx)| *tx == flight_tx));
    for flight in [t.to_lhr, t.home] {
        assert!(app.flight_state(flight).await.holds.is_empty());
    }
    // The refund is paid back beside the response.
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
    while app.booking_state(id).await.refund_issued.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refund was never paid"
        );
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert_verified(app).await;
}

#[tokio::test]
async fn single_seat_bookings_on_both_flights_do_not_starve_journeys_over_them() {
    let t = trip().await;
    let app = &t.app;
    let seats: Vec<String> = (10..=14)
        .flat_map(|row| ["A", "B", "C", "D", "E", "F"].map(|l| format!("{row}{l}")))
        .filter(|s| !s.starts_with("12"))
        .collect();
    let (flights, seats) = ([t.to_lhr, t.to_jfk], std::sync::Arc::new(seats));
    // 32 clients book one seat at a time on either flight, 8 book the connection over both, each
    // trying as many times as there are seats.
    // One client: as many bookings as there are seats, the `i`-th with `body(i)`, each as a new
    // customer (the hold cap has its own tests); the answers' statuses and codes.
    let client = |body: Box<dyn Fn(usize) -> Value + Send>| {
        let tokens: Vec<String> = (0..seats.len())
            .map(|_| app.token(Uuid::new_v4(), infra::auth::Role::Customer))
            .collect();
        let (url, http) = (
            format!("{}/api/v1/bookings", app.address),
            app.client.clone(),
        );
        async move {
            let mut answers = Vec::new();
            for (i, token) in tokens.iter().enumerate() {
                let r = testkit::send(http.post(&url).bearer_auth(token).json(&body(i))).await;
                let code = r.json()["code"].as_str().unwrap_or_default().to_owned();
                answers.push((r.status.as_u16(), code));
            }
            answers
        }
    };
    let singles = futures::future::join_all((0..32).map(|n| {
        let seats = seats.clone();
        client(Box::new(move |i| {
            let seat = &seats[(n * 7 + i * 3) % seats.len()];
            bodies::booking(flights[(n + i) % 2], &[seat], "Single")
        }))
    }));
    let connections = futures::future::join_all((0..8).map(|n| {
        let seats = seats.clone();
        client(Box::new(move |i| {
            let a = &seats[(n * 5 + i) % seats.len()];
            let b = &seats[(n * 11 + i * 7) % seats.len()];
            json!({"contact_email": "j@example.com",
                "passengers": [{"first_name": "Jo", "last_name": "Urney", "type": "adult"}],
                "slices": [{"segments": [{"flight_id": flights[0], "seats": [a]},
                                         {"flight_id": flights[1], "seats": [b]}]}]})
        }))
    }));
    let (singles, connections) = tokio::join!(singles, connections);
    let tally = |answers: &[Vec<(u16, String)>]| {
        let all: Vec<&(u16, String)> = answers.iter().flatten().collect();
        let ok = all.iter().filter(|(s, _)| *s == 201).count();
        let contended = all
            .iter()
            .filter(|(_, c)| c == "concurrent_modification")
            .count();
        for (status, code) in &all {
            assert!(
                *status == 201
                    || (*status == 409
                        && (code == "seats_unavailable" || code == "concurrent_modification")),
                "{status} {code}"
            );
        }
        (all.len(), ok, contended)
    };
    let (single_n, single_ok, single_contended) = tally(&singles);
    let (journey_n, journey_ok, journey_contended) = tally(&connections);
    eprintln!(
        "starvation: singles {single_ok}/{single_n} booked ({single_contended} contended), \
         journeys {journey_ok}/{journey_n} booked ({journey_contended} contended)"
    );
    assert!(
        journey_ok > 0,
        "no journey was booked while single seats poured in"
    );
    assert_eq!(
        journey_contended, 0,
        "in one process a journey never loses a race"
    );
    // No seat twice, every journey on both flights or on none.
    assert_verified(app).await;
}

#[tokio::test]
async fn the_hold_cap_counts_a_journeys_seats_on_every_flight() {
    let t = trip().await;
    let app = &t.app;
    let keys = (app.public_pem.as_str(), &app.clock);
    let provider = std::sync::Arc::new(command_api::payments::TestCardProvider::default());
    let (address, _) = crate::helpers::start_with(&app.db, keys, 4, provider, |s| {
        s.booking.max_held_seats = 3;
    })
    .await;
    let post = |body: Value| {
        let request = app
            .client
            .post(format!("{address}/api/v1/bookings"))
            .bearer_auth(&app.customer)
            .json(&body);
        async move { app.send(request).await }
    };
    // Two people on two flights hold four seats: over a cap of three.
    let two = journey(&[&[(t.to_lhr, ["10A", "10B"]), (t.to_jfk, ["14E", "14F"])]]);
    let refused = post(two).await;
    assert_eq!(refused.status, 409, "{}", refused.json());
    assert_eq!(refused.json()["code"], "hold_limit_exceeded");
    // One person on the same two flights holds two.
    let mut one = journey(&[&[(t.to_lhr, ["10A", "10B"]), (t.to_jfk, ["14E", "14F"])]]);
    one["passengers"] = json!([{"first_name": "Ada", "last_name": "Lovelace", "type": "adult"}]);
    one["slices"][0]["segments"][0]["seats"] = json!(["10A"]);
    one["slices"][0]["segments"][1]["seats"] = json!(["14E"]);
    let placed = post(one).await;
    assert_eq!(placed.status, 201, "{}", placed.json());
    let held: i64 =
        sqlx::query_scalar("SELECT coalesce(sum(seats), 0)::bigint FROM hold_deadlines")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(held, 2);
}
