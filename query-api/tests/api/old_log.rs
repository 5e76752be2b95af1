//! Stored events are never rewritten, so every later version of the code must read the log an earlier
//! version wrote. `tests/fixtures/log-v1.json` is such a log: events and payments ledger rows written by
//! the code of 2026-12-07 (one flight per booking) for a day of activity: bookings placed, paid,
//! cancelled (paid and unpaid), expired, seat-changed, and a flight delayed. It also holds what that
//! code showed for it: each booking's view, its history's event types and its first version, and each
//! flight's seat map. The test loads the log into a fresh database under the current code, rebuilds
//! every projection and checks that the same facts come out and that `airline verify` finds it clean.
//!
//! `write_the_fixture_log` (ignored) wrote the file; it is kept so the next shape change can see how the
//! log was made, and must not be run again to "fix" the test: the file is the old code's output.

use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use command_api::process::Outcome;
use command_api::process::{expiry, recovery};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/log-v1.json");

/// The facts a view must keep across versions of the code.
const BOOKING_FACTS: [&str; 12] = [
    "id",
    "reference",
    "customer_id",
    "flight_id",
    "status",
    "cabin",
    "passengers",
    "total_minor",
    "currency",
    "refund_minor",
    "captured",
    "refunded",
];

#[tokio::test]
async fn an_event_log_written_by_earlier_code_replays_into_the_same_views_history_and_invariants() {
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    let app = spawn_app().await;
    load(&app.db.pool, "events", &fixture["events"]).await;
    load(&app.db.pool, "payments", &fixture["payments"]).await;
    app.project().await;

    let bookings = fixture["expected"]["bookings"].as_array().unwrap();
    assert_eq!(bookings.len(), 5, "the fixture is a day of activity");
    let statuses: Vec<&str> = bookings
        .iter()
        .map(|b| b["view"]["status"].as_str().unwrap())
        .collect();
    for status in ["confirmed", "cancelled", "expired"] {
        assert!(statuses.contains(&status), "{statuses:?} lacks {status}");
    }
    for expected in bookings {
        let id = expected["view"]["id"].as_str().unwrap();
        let (status, view) = app
            .get(&format!("/api/v1/bookings/{id}"), Some(&app.admin))
            .await;
        assert_eq!(status, 200, "{view}");
        for fact in BOOKING_FACTS {
            assert_eq!(view[fact], expected["view"][fact], "{fact} of {id}: {view}");
        }
        // Folded from the log too, as time travel and unprojected bookings are.
        let (_, first) = app
            .get(
                &format!("/api/v1/bookings/{id}?version=1"),
                Some(&app.admin),
            )
            .await;
        for fact in BOOKING_FACTS {
            assert_eq!(
                first[fact], expected["first"][fact],
                "{fact} of {id} v1: {first}"
            );
        }
        let (_, history) = app
            .get(&format!("/api/v1/bookings/{id}/history"), Some(&app.admin))
            .await;
        assert_eq!(event_types(&history), expected["history"], "{id}");
    }
    for expected in fixture["expected"]["flights"].as_array().unwrap() {
        let id = expected["id"].as_str().unwrap();
        let (_, flight) = app.get(&format!("/api/v1/flights/{id}"), None).await;
        assert_eq!(flight["status"], expected["status"], "{flight}");
        assert_eq!(flight["departure_at"], expected["departure_at"], "{flight}");
        let (_, seats) = app.get(&format!("/api/v1/flights/{id}/seats"), None).await;
        assert_eq!(taken_seats(&seats), expected["taken"], "{id}");
        // Fares written before booking classes read as one class per cabin, limited by its seats,
        // holding what the cabin holds.
        for class in flight["classes"].as_array().unwrap() {
            let default = match class["cabin"].as_str().unwrap() {
                "business" => "J",
                "economy" => "Y",
                other => panic!("a cabin the fixture does not have: {other}"),
            };
            assert_eq!(class["class"], default, "{class}");
            assert_eq!(class["nested_limit"], Value::Null, "{class}");
            let cabin = flight["cabins"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["cabin"] == class["cabin"])
                .unwrap();
            assert_eq!(class["available"], cabin["seats_free"], "{class} {cabin}");
            let held_or_sold =
                cabin["seats_held"].as_i64().unwrap() + cabin["seats_sold"].as_i64().unwrap();
            assert_eq!(class["sold"], held_or_sold, "{class} {cabin}");
        }
        assert!(
            !flight["classes"].as_array().unwrap().is_empty(),
            "{flight}"
        );
    }
    // Airports registered before connecting times existed (event version 1.0) have the default hour.
    let (_, airports) = app.get("/api/v1/airports", None).await;
    let airports = airports.as_array().unwrap();
    assert_eq!(airports.len(), 2, "{airports:?}");
    for airport in airports {
        assert_eq!(airport["min_connection_minutes"], 60, "{airport}");
    }
    let report = airline::verify::run(&app.db.pool, StdDuration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

/// Inserts the fixture's rows into `table`, with the columns the rows carry. Events get a fresh
/// transaction id and global position (in their old order), as if appended now: the old ones belong
/// to the server that wrote them.
async fn load(pool: &PgPool, table: &str, rows: &Value) {
    let first = rows.as_array().unwrap().first().unwrap();
    let columns: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|c| !matches!(*c, "tx_id" | "global_position"))
        .collect();
    let list = columns.join(", ");
    let order = if table == "events" {
        "ORDER BY global_position"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO {table} ({list}) SELECT {list} FROM json_populate_recordset(NULL::{table}, $1::json) {order}"
    );
    sqlx::query(&sql)
        .bind(rows.to_string())
        .execute(pool)
        .await
        .unwrap();
}

fn event_types(history: &Value) -> Value {
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].clone())
        .collect()
}

/// Each seat that is not free, with its status, in seat order.
fn taken_seats(map: &Value) -> Value {
    let mut taken: Vec<Value> = map["seats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] != "free")
        .map(|s| json!([s["seat"], s["status"]]))
        .collect();
    taken.sort_by_key(Value::to_string);
    Value::Array(taken)
}

/// Writes `tests/fixtures/log-v1.json` from a day of activity under the code of the day it is run.
#[tokio::test]
#[ignore = "writes the fixture log; it was run once, by the code whose log it records"]
async fn write_the_fixture_log() {
    let app = spawn_app().await;
    let (outbound, inbound) = activity(&app).await;
    app.project().await;
    let mut bookings = Vec::new();
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT aggregate_id::uuid FROM events WHERE aggregate_type = 'booking' AND sequence = 1 \
         ORDER BY global_position",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    for id in ids {
        let admin = Some(app.admin.as_str());
        let path = format!("/api/v1/bookings/{id}");
        let (_, view) = app.get(&path, admin).await;
        let (_, first) = app.get(&format!("{path}?version=1"), admin).await;
        let (_, history) = app.get(&format!("{path}/history"), admin).await;
        bookings.push(json!({"view": view, "first": first, "history": event_types(&history)}));
    }
    let mut flights = Vec::new();
    for id in [outbound, inbound] {
        let (_, flight) = app.get(&format!("/api/v1/flights/{id}"), None).await;
        let (_, seats) = app.get(&format!("/api/v1/flights/{id}/seats"), None).await;
        flights.push(json!({"id": id, "status": flight["status"],
            "departure_at": flight["departure_at"], "taken": taken_seats(&seats)}));
    }
    let pool = &app.db.pool;
    let rows = |sql: &'static str| async move {
        let rows: Vec<Value> = sqlx::query_scalar(sql).fetch_all(pool).await.unwrap();
        Value::Array(rows)
    };
    let fixture = json!({
        "written_by": "one flight per booking (event_version 1.0), before journeys",
        "events": rows("SELECT to_jsonb(e) - 'tx_id' FROM events e ORDER BY global_position").await,
        "payments": rows("SELECT to_jsonb(p) FROM payments p ORDER BY created_at, payment_id").await,
        "expected": {"bookings": bookings, "flights": flights},
    });
    std::fs::create_dir_all(std::path::Path::new(FIXTURE).parent().unwrap()).unwrap();
    std::fs::write(FIXTURE, serde_json::to_string_pretty(&fixture).unwrap()).unwrap();
}

/// A day on two flights (out and back): bookings paid, one with a seat change; one paid and
/// cancelled; one cancelled unpaid; one left to expire; then the outbound flight is delayed.
async fn activity(app: &TestApp) -> (Uuid, Uuid) {
    app.airports(&[("CDG", "Europe/Paris"), ("JFK", "America/New_York")])
        .await;
    let aircraft = app.aircraft().await;
    let day = Utc::now() + Duration::days(5);
    let outbound = app
        .flight("AF10", ("CDG", "JFK"), day, (90_000, 10_000), aircraft)
        .await;
    let inbound = app
        .flight(
            "AF11",
            ("JFK", "CDG"),
            day + Duration::days(7),
            (85_000, 9_500),
            aircraft,
        )
        .await;
    let customer = app.customer.clone();
    let other = app.token(Uuid::new_v4(), infra::auth::Role::Customer);

    let family = app.book(&customer, outbound, &["10A", "10B", "10C"]).await;
    app.pay(&customer, &family).await;
    let change = json!({"passenger": 2, "seat": "11C"});
    let id = family["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/bookings/{id}/seat-changes"),
            &customer,
            &change,
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let back = app.book(&customer, inbound, &["1A", "1C"]).await;
    app.pay(&customer, &back).await;

    let regret = app.book(&other, outbound, &["13D"]).await;
    app.pay(&other, &regret).await;
    let id = regret["id"].as_str().unwrap();
    let (status, body) = app
        .post(&format!("/api/v1/bookings/{id}/cancel"), &other, &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");

    let unpaid = app.book(&other, inbound, &["14F"]).await;
    let id = unpaid["id"].as_str().unwrap();
    let (status, body) = app
        .post(&format!("/api/v1/bookings/{id}/cancel"), &other, &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");

    app.book(&other, outbound, &["2D"]).await;
    app.clock.advance(Duration::minutes(16));
    while expiry::sweep_once(&app.command_state, 100).await.unwrap() != Outcome::Idle {}

    let departure = day + Duration::hours(3);
    let delay = json!({"departure_at": departure, "arrival_at": departure + Duration::hours(2),
        "reason": "late inbound aircraft"});
    let (status, body) = app
        .post(
            &format!("/api/v1/flights/{outbound}/delay"),
            &app.admin,
            &delay,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Captures and the refund are paid after their commits; recovery finishes any still open.
    while recovery::recover_once(&app.command_state, 100)
        .await
        .unwrap()
        != Outcome::Idle
    {}
    (outbound, inbound)
}
