//! `kill -9` of a child `airline all`: under concurrent book / pay / cancel / change-seat load on three
//! flights, killed three times at random moments and started again each time. After every restart the
//! invariants hold (`verify`, SQL over the log and the ledger) and every `201` a client received is a
//! booking in the log; with Stripe (a fake one over HTTPS) as the provider, what Stripe holds agrees
//! with the log: each paid booking charged once, nothing left reserved. And an Idempotency-Key survives
//! a kill between the commit and the response.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use infra::testing::TestDatabase;
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::support::{send, setup};

/// Short leases, so that a restart takes over what the killed process left within seconds (a claim's
/// lease must outlive the request timeout).
const FAST_RECOVERY: [(&str, &str); 5] = [
    ("APP_HTTP__REQUEST_TIMEOUT_MS", "2500"),
    ("APP_BOOKING__IDEMPOTENCY_LEASE_MS", "3000"),
    ("APP_BOOKING__PAYMENT_RECOVERY_AFTER_MS", "500"),
    ("APP_BOOKING__RECOVERY_INTERVAL_MS", "200"),
    ("APP_BOOKING__SWEEP_LEASE_MS", "1000"),
];

/// Answers that say "not now, retry": a key still in flight (its lease runs out after a restart), a
/// payment attempt that recovery voided or that is still being authorized, a lost race.
const RETRY_LATER: [&str; 5] = [
    "idempotency_key_in_flight",
    "idempotency_key_superseded",
    "payment_voided",
    "payment_in_progress",
    "concurrent_modification",
];

/// Sends until an answer that is the request's own, through a kill and a restart, with the same
/// Idempotency-Key every time.
async fn settle(make: impl Fn() -> reqwest::RequestBuilder) -> (u16, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        match send(make()).await {
            Some((status, body))
                if status < 500
                    && !RETRY_LATER.contains(&body["code"].as_str().unwrap_or_default()) =>
            {
                return (status, body);
            }
            _ => {}
        }
        assert!(tokio::time::Instant::now() < deadline, "no answer in 90 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn seats() -> Vec<String> {
    (1..=5)
        .flat_map(|row| ["A", "B", "C", "D", "E", "F"].map(|l| format!("{row}{l}")))
        .collect()
}

/// One customer's session: book a random seat, then perhaps pay, change seat and cancel; every
/// request carries its own Idempotency-Key and is retried with it until it has an answer.
async fn customer(
    http: reqwest::Client,
    base: String,
    token: String,
    flights: Vec<Uuid>,
    stop: Arc<AtomicBool>,
    created: Arc<Mutex<Vec<String>>>,
) {
    let seats = seats();
    while !stop.load(Ordering::Relaxed) {
        let (flight, seat, plan) = {
            let mut rng = rand::rng();
            let flight = flights[rng.random_range(0..flights.len())];
            let seat = seats[rng.random_range(0..seats.len())].clone();
            (flight, seat, rng.random_range(0..4u8))
        };
        let post = |path: String, key: String, body: Value| {
            let (http, token) = (http.clone(), token.clone());
            let url = format!("{base}{path}");
            move || {
                http.post(&url)
                    .bearer_auth(&token)
                    .header("idempotency-key", key.clone())
                    .json(&body)
            }
        };
        let body = json!({"flight_id": flight, "contact_email": "load@example.com",
            "passengers": [{"first_name": "Load", "last_name": "Test", "type": "adult", "seat": seat}]});
        let (status, booking) = settle(post(
            "/api/v1/bookings".into(),
            Uuid::new_v4().to_string(),
            body,
        ))
        .await;
        if status != 201 {
            assert_eq!(status, 409, "{booking}");
            continue;
        }
        let id = booking["id"].as_str().unwrap().to_owned();
        created.lock().await.push(id.clone());
        if plan == 0 {
            continue; // left to expire, or for the next kill to find held
        }
        let pay = json!({"card_token": "tok_visa", "amount": booking["total"]});
        let path = format!("/api/v1/bookings/{id}/payment");
        let (status, paid) = settle(post(path, Uuid::new_v4().to_string(), pay)).await;
        assert_eq!(status, 200, "{paid}");
        if plan >= 2 {
            let to = seats[rand::rng().random_range(0..seats.len())].clone();
            let path = format!("/api/v1/bookings/{id}/seat-changes");
            let change = json!({"passenger": 0, "seat": to});
            let (status, body) = settle(post(path, Uuid::new_v4().to_string(), change)).await;
            assert!([200, 409, 422].contains(&status), "{status} {body}");
        }
        if plan == 3 {
            let path = format!("/api/v1/bookings/{id}/cancel");
            let (status, body) = settle(post(path, Uuid::new_v4().to_string(), json!({}))).await;
            assert_eq!(status, 200, "{body}");
        }
    }
}

/// `verify` until it finds no violation (payment steps in flight may be pending), within 30 s.
async fn assert_invariants_hold(db: &TestDatabase, grace: Duration) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let report = airline::verify::run(&db.pool, grace).await.unwrap();
        if report.is_clean() && (grace > Duration::ZERO || report.pending() == 0) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "invariants broken after a kill -9:\n{report}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Eight customers' load on `s`, killed `kills` times at random moments and started again; the
/// invariants hold after every restart and at the end, and every 201 is a booking in the log.
async fn kill_9_under_load(s: &mut support::Setup, kills: usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(customer(
                s.http.clone(),
                s.airline.command.clone(),
                s.customer.clone(),
                s.flights.clone(),
                stop.clone(),
                created.clone(),
            ))
        })
        .collect();
    for _ in 0..kills {
        let pause = rand::rng().random_range(700..2_000);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        s.airline.kill().await;
        s.airline.launch(&[]).await;
        // Whatever was in flight at the kill is either committed whole or not at all.
        assert_invariants_hold(&s.db, Duration::from_secs(5)).await;
    }
    // The load goes on until it means something, however slow the machine is today.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while created.lock().await.len() < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "too little load to mean anything: {}",
            created.lock().await.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    // Recovery finishes every payment step the kills interrupted.
    assert_invariants_hold(&s.db, Duration::ZERO).await;
    let created = created.lock().await.clone();
    let placed: Vec<String> = sqlx::query_scalar(
        "SELECT aggregate_id FROM events WHERE event_type = 'BookingPlaced' AND aggregate_id = ANY($1)",
    )
    .bind(&created)
    .fetch_all(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(
        placed.len(),
        created.len(),
        "a 201 was answered for a booking that is not in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_three_times_leaves_nothing_half_done_and_loses_no_201() {
    let mut s = setup(3, &FAST_RECOVERY).await;
    kill_9_under_load(&mut s, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_with_stripe_charges_each_paid_booking_once_and_leaves_nothing_reserved()
{
    let fake = testkit::stripe::FakeStripe::start().await;
    let ca = fake.ca_file().display().to_string();
    let mut env: Vec<(&str, &str)> = FAST_RECOVERY.to_vec();
    env.extend([
        ("APP_PAYMENTS__PROVIDER", "stripe"),
        ("APP_PAYMENTS__STRIPE_API_KEY", fake.api_key.as_str()),
        ("APP_PAYMENTS__STRIPE_BASE_URL", fake.url.as_str()),
        ("APP_PAYMENTS__CA_FILE", ca.as_str()),
        ("APP_PAYMENTS__TIMEOUT_MS", "2000"),
    ]);
    let mut s = setup(3, &env).await;
    kill_9_under_load(&mut s, 2).await;
    // What Stripe holds agrees with the log: one captured intent per booking whose capture is
    // recorded, the refunds recorded and no more, and every other intent released.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let intents = loop {
        let intents = fake.intents();
        if intents.iter().all(|i| i.status != "requires_capture") {
            break intents;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "intents left reserved: {intents:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let (captured, refunded): (i64, i64) = sqlx::query_as(
        "SELECT count(DISTINCT aggregate_id) FILTER (WHERE event_type = 'PaymentCaptured'), \
                coalesce(sum((payload->'RefundIssued'->'amount'->>'amount_minor')::bigint) \
                         FILTER (WHERE event_type = 'RefundIssued'), 0)::bigint \
         FROM events WHERE aggregate_type = 'booking'",
    )
    .fetch_one(&s.db.pool)
    .await
    .unwrap();
    let charged = intents.iter().filter(|i| i.captures > 0).count();
    assert!(intents.iter().all(|i| i.captures <= 1), "{intents:?}");
    assert_eq!(i64::try_from(charged).unwrap(), captured, "{intents:?}");
    let paid_back: i64 = fake.refunds().iter().map(|(_, amount)| amount).sum();
    assert_eq!(paid_back, refunded);
    assert!(captured > 0, "no payment went through Stripe");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_survives_a_kill_between_the_commit_and_the_response() {
    let mut s = setup(1, &FAST_RECOVERY).await;
    let flight = s.flights[0];
    let body = json!({"flight_id": flight, "contact_email": "once@example.com",
        "passengers": [{"first_name": "Once", "last_name": "Only", "type": "adult", "seat": "1A"}]});
    let url = format!("{}/api/v1/bookings", s.airline.command);
    let book = |scheme: &str| {
        s.http
            .post(&url)
            .header("authorization", format!("{scheme} {}", s.customer))
            .header("idempotency-key", "book-once")
            .json(&body)
    };
    // The process dies right after its first commit, before it answers.
    s.airline.kill().await;
    s.airline
        .launch(&[("FAILPOINTS", "executor.after_commit=1*return(abort)")])
        .await;
    assert!(send(book("bearer")).await.is_none(), "the process answered");
    s.airline.wait_exit().await;
    let placed = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT aggregate_id FROM events WHERE event_type = 'BookingPlaced'",
        )
        .fetch_all(&s.db.pool)
        .await
        .unwrap()
    };
    let committed = placed().await;
    assert_eq!(
        committed.len(),
        1,
        "the commit did not happen before the abort"
    );

    s.airline.launch(&[]).await;
    let (status, replayed) = send(book("Bearer")).await.unwrap();
    assert_eq!(status, 201, "{replayed}");
    assert_eq!(replayed["id"], committed[0].as_str());
    let again = book("BEARER").send().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(placed().await.len(), 1, "the retry booked again");

    // A plain kill -9 after an answer: the same key still gives the same answer.
    s.airline.kill().await;
    s.airline.launch(&[]).await;
    let after = send(book("bearer")).await.unwrap();
    assert_eq!(after, (201, replayed));
    assert_invariants_hold(&s.db, Duration::ZERO).await;
}

#[tokio::test]
async fn airline_verify_passes_a_sound_log_and_fails_a_broken_one() {
    let db = TestDatabase::create(2).await;
    let verify = || async {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_airline"))
            .args(["verify", "--grace-secs", "0"])
            .env("DATABASE_URL", support::database_url(&db.name))
            .output()
            .await
            .unwrap()
    };
    let sound = verify().await;
    assert!(
        sound.status.success(),
        "{}",
        String::from_utf8_lossy(&sound.stdout)
    );
    // A hold whose booking never came, as a crash between two commits used to leave.
    let booking = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ('flight', $1, 1, 'SeatsHeld', '1.0', $2, '{}')",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(json!({"SeatsHeld": {"booking_id": booking, "cabin": "economy", "seats": ["1A"],
        "hold_until": Utc::now()}}))
    .execute(&db.pool)
    .await
    .unwrap();
    let broken = verify().await;
    let report = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{report}");
    assert!(
        report.contains("[FAIL]") && report.contains(&booking.to_string()),
        "{report}"
    );
}

#[tokio::test]
async fn verify_finds_a_journey_held_on_one_of_its_flights_only() {
    let db = TestDatabase::create(2).await;
    let (booking, first, second) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let now = Utc::now();
    let money = |minor: i64| json!({"amount_minor": minor, "currency": "EUR"});
    let segment = |flight: Uuid, seat: &str| {
        json!({"flight_id": flight, "slice": 0, "departure_at": now + chrono::Duration::days(3),
            "arrival_at": now + chrono::Duration::days(3) + chrono::Duration::hours(2),
            "fare": {"cabin": "economy", "price": money(10_000),
                     "rules": {"refundable": true, "cancellation_fee": money(0)}},
            "passengers": [{"first_name": "Ada", "last_name": "L", "type": "adult", "seat": seat}]})
    };
    let append = |kind: &'static str,
                  id: String,
                  event: &'static str,
                  payload: serde_json::Value| {
        let pool = db.pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
                 VALUES ($1, $2, 1, $3, '2.0', $4, '{}')",
            )
            .bind(kind)
            .bind(id)
            .bind(event)
            .bind(payload)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    append("booking", booking.to_string(), "BookingPlaced", json!({"BookingPlaced": {
        "id": booking, "pnr": "JRNY23", "customer_id": Uuid::new_v4(), "contact_email": "a@example.com",
        "segments": [segment(first, "1A"), segment(second, "2B")], "total": money(20_000),
        "fare_rules": {"refundable": true, "cancellation_fee": money(0)},
        "hold_until": now + chrono::Duration::minutes(15), "placed_at": now}})).await;
    let held = |seat: &str| {
        json!({"SeatsHeld": {"booking_id": booking, "cabin": "economy", "seats": [seat],
        "hold_until": now + chrono::Duration::minutes(15)}})
    };
    // Held on the first flight only: the second segment's seat is in no hold.
    append("flight", first.to_string(), "SeatsHeld", held("1A")).await;
    let report = airline::verify::run(&db.pool, Duration::ZERO)
        .await
        .unwrap();
    assert!(!report.is_clean(), "a half-held journey passed:\n{report}");
    let text = report.to_string();
    assert!(
        text.contains(&second.to_string()) && text.contains("2B"),
        "{text}"
    );
    // Held on both: sound.
    append("flight", second.to_string(), "SeatsHeld", held("2B")).await;
    let report = airline::verify::run(&db.pool, Duration::ZERO)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_right_after_closing_an_oversold_flight_leaves_its_offload_refunds_to_recovery() {
    let mut s = setup(1, &FAST_RECOVERY).await;
    let flight = s.flights[0];
    let command = s.airline.command.clone();
    let url = |path: &str| format!("{command}{path}");
    // Economy's 30 seats sold 3 places beyond them.
    let (status, body) = send(
        s.http
            .patch(url(&format!("/api/v1/flights/{flight}")))
            .bearer_auth(&s.admin)
            .json(&json!({"overbooking": [{"cabin": "economy", "seats": 3}]})),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    // 31 places paid without seats (B, B, then Y: B's 20 with Q are nearly gone), and 2 held unpaid.
    let mut paid_ids = Vec::new();
    for (n, pay) in [(9, true), (9, true), (9, true), (4, true), (2, false)] {
        let passengers: Vec<Value> = (0..n)
            .map(|_| json!({"first_name": "Ada", "last_name": "Crash", "type": "adult"}))
            .collect();
        let body = json!({"flight_id": flight, "cabin": "economy", "contact_email": "c@example.com",
            "passengers": passengers});
        let request = s
            .http
            .post(url("/api/v1/bookings"))
            .bearer_auth(&s.customer)
            .json(&body);
        let (status, booking) = send(request).await.unwrap();
        assert_eq!(status, 201, "{booking}");
        if pay {
            let id = booking["id"].as_str().unwrap().to_owned();
            let request = s
                .http
                .post(url(&format!("/api/v1/bookings/{id}/payment")))
                .bearer_auth(&s.customer)
                .json(&json!({"card_token": "tok_visa", "amount": booking["total"]}));
            let (status, paid) = send(request).await.unwrap();
            assert_eq!(status, 200, "{paid}");
            paid_ids.push(id);
        }
    }
    // Every capture done, so the offload's refund is due the moment the close commits.
    assert_invariants_hold(&s.db, Duration::ZERO).await;
    // The process dies right after the close commits, before it pays the refund back.
    s.airline.kill().await;
    s.airline
        .launch(&[("FAILPOINTS", "close.before_refunds=1*return(abort)")])
        .await;
    let close = s
        .http
        .post(url(&format!("/api/v1/flights/{flight}/close")))
        .bearer_auth(&s.admin)
        .json(&json!({}));
    assert!(send(close).await.is_none(), "the process answered");
    s.airline.wait_exit().await;
    let offloaded: Vec<(String, String)> = sqlx::query_as(
        "SELECT aggregate_id, payload #>> '{PassengersOffloaded,passengers}' FROM events \
         WHERE aggregate_type = 'booking' AND event_type = 'PassengersOffloaded'",
    )
    .fetch_all(&s.db.pool)
    .await
    .unwrap();
    // The cheapest class paid is B; its latest booking gives up its last passenger.
    assert_eq!(offloaded, vec![(paid_ids[1].clone(), "[8]".to_owned())]);
    // Started again, recovery pays the refund back once; everything else was in the commit.
    s.airline.launch(&[]).await;
    assert_invariants_hold(&s.db, Duration::ZERO).await;
    let ledger: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, status, amount_minor FROM payments WHERE kind <> 'authorization' ORDER BY kind",
    )
    .fetch_all(&s.db.pool)
    .await
    .unwrap();
    assert_eq!(
        ledger,
        vec![
            ("compensation".to_owned(), "owed".to_owned(), 25_000),
            ("refund".to_owned(), "refunded".to_owned(), 10_000)
        ]
    );
}
