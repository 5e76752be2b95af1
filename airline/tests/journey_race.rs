//! Two command API processes (`airline all` and `airline command-api`) on one database, racing
//! overlapping journeys over the same flights — a connection CDG→LHR→JFK whose legs' ids sort against
//! their time order, round trips sharing its first leg, and single seats on every flight — while the
//! second process is killed (`kill -9`) and started again. No seat twice, no half-held journey, no
//! deadlock, every request answered, and `verify` clean.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{Duration as Span, Utc};
use infra::auth::{JwtSigner, Role};
use notifier::sink::SmtpSink;
use rand::Rng;
use serde_json::{Value, json};
use testkit::TestDatabase;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::support::{Airline, send, session_token};

/// Answers that are a request's own: a booking, or a definite refusal.
fn definite(status: u16, body: &Value) -> bool {
    status == 201
        || (status == 409
            && ["seats_unavailable", "concurrent_modification"]
                .contains(&body["code"].as_str().unwrap_or_default()))
}

fn seats() -> Vec<String> {
    (1..=5)
        .flat_map(|row| ["A", "B", "C", "D", "E", "F"].map(|l| format!("{row}{l}")))
        .collect()
}

struct Flights {
    to_lhr: Uuid,
    to_jfk: Uuid,
    home: Uuid,
}

async fn schedule(airline: &Airline, admin: &str) -> Flights {
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", airline.command))
            .bearer_auth(admin)
            .json(&body)
    };
    for code in ["CDG", "LHR", "JFK"] {
        let body = testkit::bodies::airport(code, code, "City", "Europe/Paris");
        assert_eq!(send(post("/api/v1/airports", body)).await.unwrap().0, 201);
    }
    let aircraft = json!({"model": "Race 30", "cabins": [
        {"cabin": "economy", "first_row": 1, "last_row": 5, "letters": "ABC DEF"}]});
    let (status, aircraft) = send(post("/api/v1/aircraft", aircraft)).await.unwrap();
    assert_eq!(status, 201);
    let day = Utc::now() + Span::days(20);
    let fares = [testkit::bodies::fare("economy", 10_000, true, 2_500)];
    let mut ids = Vec::new();
    // The second leg first: the legs' ids sort against their departures.
    for (number, route, departure, hours) in [
        ("BA2", ("LHR", "JFK"), day + Span::hours(3), 8),
        ("AF1", ("CDG", "LHR"), day, 1),
        ("AF3", ("LHR", "CDG"), day + Span::days(4), 1),
    ] {
        let body = testkit::bodies::flight(
            number,
            route,
            (departure, Span::hours(hours)),
            &aircraft["id"],
            &fares,
        );
        let (status, body) = send(post("/api/v1/flights", body)).await.unwrap();
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    assert!(ids[0] < ids[1]);
    Flights {
        to_lhr: ids[1],
        to_jfk: ids[0],
        home: ids[2],
    }
}

/// One client: books at random a single seat, the connection or a round trip on one of the two
/// processes (whichever is up), and cancels some of what it booked; every request gets its own
/// definite answer within the request timeout, retried only while its process is down.
#[allow(clippy::too_many_arguments)]
async fn client(
    bases: Arc<Vec<String>>,
    token: String,
    flights: Arc<Flights>,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<BTreeMap<(&'static str, String), usize>>>,
) {
    let http = reqwest::Client::new();
    let seats = seats();
    while !stop.load(Ordering::Relaxed) {
        let (kind, slices, base, cancel) = {
            let mut rng = rand::rng();
            let mut seat = || json!([seats[rng.random_range(0..seats.len())]]);
            let segment = |flight: Uuid, seats: Value| json!({"flight_id": flight, "seats": seats});
            let pick = rand::rng().random_range(0..5u8);
            let (kind, slices) = match pick {
                0 => (
                    "connection",
                    json!([{"segments": [segment(flights.to_lhr, seat()), segment(flights.to_jfk, seat())]}]),
                ),
                1 => (
                    "round trip",
                    json!([{"segments": [segment(flights.to_lhr, seat())]},
                           {"segments": [segment(flights.home, seat())]}]),
                ),
                n => {
                    let flight = [flights.to_lhr, flights.to_jfk, flights.home][usize::from(n - 2)];
                    ("single", json!([{"segments": [segment(flight, seat())]}]))
                }
            };
            let base = bases[rand::rng().random_range(0..bases.len())].clone();
            (kind, slices, base, rand::rng().random_bool(0.4))
        };
        let body = json!({"slices": slices, "contact_email": "race@example.com",
            "passengers": [{"first_name": "Race", "last_name": "Test", "type": "adult"}]});
        let key = Uuid::new_v4().to_string();
        let request = || {
            http.post(format!("{base}/api/v1/bookings"))
                .bearer_auth(&token)
                .header("idempotency-key", key.clone())
                .json(&body)
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let (status, answer) = loop {
            // None: the process is down (killed); the same key brings the same answer once it is back.
            if let Some((status, answer)) = send(request()).await
                && status < 500
                && answer["code"] != "idempotency_key_in_flight"
            {
                break (status, answer);
            }
            assert!(tokio::time::Instant::now() < deadline, "no answer in 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(definite(status, &answer), "{kind}: {status} {answer}");
        let outcome = if status == 201 {
            "booked".to_owned()
        } else {
            answer["code"].as_str().unwrap().to_owned()
        };
        *tally.lock().await.entry((kind, outcome)).or_default() += 1;
        if status == 201 && cancel {
            let id = answer["id"].as_str().unwrap();
            let url = format!("{base}/api/v1/bookings/{id}/cancel");
            let key = Uuid::new_v4().to_string();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                let sent = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("idempotency-key", &key)
                    .json(&json!({}));
                if let Some((status, body)) = send(sent).await
                    && status < 500
                    && body["code"] != "idempotency_key_in_flight"
                {
                    assert_eq!(status, 200, "{body}");
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "no answer in 60 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_racing_journeys_and_single_seats_never_double_book_nor_half_hold() {
    let db = TestDatabase::create(4).await;
    let sink = SmtpSink::start("127.0.0.1:0").await.unwrap();
    let extra = [
        ("APP_HTTP__REQUEST_TIMEOUT_MS", "5000"),
        ("APP_BOOKING__IDEMPOTENCY_LEASE_MS", "6000"),
    ];
    let first = Airline::start(&db, &sink.url(), &extra).await;
    let signer = JwtSigner::new(&first.private_key()).unwrap();
    let admin = session_token(&db, &signer, Role::Admin, testkit::AUDIENCE).await;
    let customer = session_token(&db, &signer, Role::Customer, testkit::AUDIENCE).await;
    let flights = Arc::new(schedule(&first, &admin).await);
    let (second, mut second_child) = first.second_command_api().await;
    let bases = Arc::new(vec![first.command.clone(), second.clone()]);
    let (stop, tally) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(Mutex::new(BTreeMap::new())),
    );
    let clients: Vec<_> = (0..12)
        .map(|_| {
            tokio::spawn(client(
                bases.clone(),
                customer.clone(),
                flights.clone(),
                stop.clone(),
                tally.clone(),
            ))
        })
        .collect();
    // Under that load (a random number of answers in), the second process dies without a word and
    // comes back; the clients go on until as many more have been answered.
    let answered = || async { tally.lock().await.values().sum::<usize>() };
    let until_answered = |count: usize| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while answered().await < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the clients stopped getting answers"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let first_wave = rand::rng().random_range(20..60);
    until_answered(first_wave).await;
    second_child.start_kill().unwrap();
    second_child.wait().await.unwrap();
    let report = airline::verify::run(&db.pool, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(report.is_clean(), "after the kill:\n{report}");
    let (_, restarted) = first.second_command_api_on(&second).await;
    until_answered(answered().await + 40).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    drop(restarted);
    let tally = tally.lock().await.clone();
    eprintln!("journey race: {tally:?}");
    let booked = |kind| {
        tally
            .get(&(kind, "booked".to_owned()))
            .copied()
            .unwrap_or(0)
    };
    assert!(
        booked("connection") > 0 && booked("round trip") > 0 && booked("single") > 0,
        "{tally:?}"
    );
    let report = airline::verify::run(&db.pool, Duration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
    // Every placed journey holds (or held) its seats on every one of its flights, in its own commit.
    let half: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events b \
         CROSS JOIN LATERAL jsonb_array_elements(b.payload #> '{BookingPlaced,segments}') s \
         WHERE b.event_type = 'BookingPlaced' AND NOT EXISTS ( \
           SELECT 1 FROM events f WHERE f.aggregate_type = 'flight' AND f.aggregate_id = s ->> 'flight_id' \
             AND f.event_type = 'SeatsHeld' AND f.payload #>> '{SeatsHeld,booking_id}' = b.aggregate_id \
             AND f.tx_id = b.tx_id)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        half, 0,
        "a journey's segment was held outside its booking's commit"
    );
}
