//! Faults a running `airline all` must survive, tried on a child process: workers that panic or fail
//! (restarted, counted, visible, and their projection still equal to a rebuild), a broker and a Redis that
//! hang without closing anything, Postgres ending the service's sessions, and SIGTERM under load.
//!
//! Past 400 lines on purpose: one child `airline all` setup shared by every fault; each test is one fault.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use infra::testing::StallingProxy;
use projector::projections::Projection;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::support::{Setup, send, setup};

/// No rate limit gets in the way of the load below.
const UNLIMITED: [(&str, &str); 4] = [
    ("APP_RATE_LIMITS__AUTH__LIMIT", "1000000"),
    ("APP_RATE_LIMITS__SEARCH__LIMIT", "1000000"),
    ("APP_RATE_LIMITS__BOOKINGS__LIMIT", "1000000"),
    ("APP_RATE_LIMITS__DEFAULT__LIMIT", "1000000"),
];

fn seat(n: usize) -> String {
    format!("{}{}", n / 6 + 1, ["A", "B", "C", "D", "E", "F"][n % 6])
}

/// Books `seat` on `flight` through `base` (the gateway or the command API).
async fn book(s: &Setup, base: &str, flight: Uuid, seat: &str) -> Option<(u16, Value)> {
    let body = json!({"flight_id": flight, "contact_email": "fault@example.com",
        "passengers": [{"first_name": "Fault", "last_name": "Test", "type": "adult", "seat": seat}]});
    send(
        s.http
            .post(format!("{base}/api/v1/bookings"))
            .bearer_auth(if base == s.airline.gateway {
                &s.gateway_customer
            } else {
                &s.customer
            })
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&body),
    )
    .await
}

async fn get(s: &Setup, url: &str) -> (u16, Value) {
    send(s.http.get(url)).await.unwrap_or((0, Value::Null))
}

/// Polls `url` until `done` holds for its JSON body, within `within`; returns the last body.
async fn until(s: &Setup, url: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (_, body) = get(s, url).await;
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{url} never got there: {body:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn worker<'a>(readiness: &'a Value, name: &str) -> &'a Value {
    readiness["workers"]
        .as_array()
        .and_then(|all| all.iter().find(|w| w["name"] == name))
        .unwrap_or(&Value::Null)
}

fn held_seats(map: &Value) -> usize {
    map["seats"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|s| s["status"] != "free").count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_and_a_failing_projection_are_restarted_counted_and_end_equal_to_a_rebuild() {
    let failpoints = "projector.batch.flights=2*panic;projector.batch.bookings=3*return";
    let s = setup(1, &[("FAILPOINTS", failpoints)]).await;
    for n in 0..4 {
        let (status, body) = book(&s, &s.airline.command, s.flights[0], &seat(n))
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let projector = s.airline.url("AIRLINE_PROJECTOR_ADDR");
    let readiness = until(
        &s,
        &format!("{projector}/readyz"),
        Duration::from_secs(30),
        |r| {
            let lag_done = ["flights", "bookings", "analytics"]
                .iter()
                .all(|p| r["lag"][p]["events_behind"] == 0);
            lag_done
                && worker(r, "projection:flights")["restarts"] == 2
                && worker(r, "projection:bookings")["restarts"] == 3
        },
    )
    .await;
    assert_eq!(readiness["status"], "ready", "{readiness:#}");
    for name in ["projection:flights", "projection:bookings"] {
        let w = worker(&readiness, name);
        assert_eq!(w["state"], "running", "{w}");
        assert_eq!(w["stuck"], false, "{w}");
    }
    let flights_error = worker(&readiness, "projection:flights")["last_error"].to_string();
    assert!(flights_error.contains("panicked"), "{flights_error}");
    let bookings_error = worker(&readiness, "projection:bookings")["last_error"].to_string();
    assert!(bookings_error.contains("failpoint"), "{bookings_error}");
    assert_eq!(worker(&readiness, "projection:analytics")["restarts"], 0);

    let metrics = s
        .http
        .get(format!("{projector}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (name, count) in [("projection:flights", 2), ("projection:bookings", 3)] {
        let line = format!("worker_restarts_total{{worker=\"{name}\"}} {count}");
        assert!(metrics.contains(&line), "no `{line}` in\n{metrics}");
    }
    // The gateway's readiness includes the projector's, and is ready.
    let (status, gateway) = get(&s, &format!("{}/readyz", s.airline.gateway)).await;
    assert_eq!(status, 200, "{gateway:#}");
    assert_eq!(gateway["projector"]["status"], "ready");

    // What the restarted workers built equals a rebuild from the log.
    for projection in [Projection::Flights, Projection::Bookings] {
        let live = projector::replay::snapshot(&s.db.pool, projection)
            .await
            .unwrap();
        projector::replay::rebuild(&s.db.pool, projection, 100, |_| {})
            .await
            .unwrap();
        let rebuilt = projector::replay::snapshot(&s.db.pool, projection)
            .await
            .unwrap();
        assert_eq!(
            live,
            rebuilt,
            "{} differs from a rebuild",
            projection.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_broker_and_a_hung_redis_hold_up_only_the_relay_and_lose_nothing() {
    let amqp = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let broker = StallingProxy::start(&host_port(&amqp)).await;
    let cache = StallingProxy::start(&host_port(&redis)).await;
    let amqp_via = with_port(&amqp, broker.port());
    let redis_via = with_port(&redis, cache.port());
    let s = setup(
        1,
        &[
            ("AMQP_URL", amqp_via.as_str()),
            ("REDIS_URL", redis_via.as_str()),
            ("APP_AMQP__TIMEOUT_MS", "1000"),
            ("APP_PROJECTOR__STUCK_AFTER_MS", "3000"),
        ],
    )
    .await;
    let flight = s.flights[0];
    let seats_url = format!("{}/api/v1/flights/{flight}/seats", s.airline.gateway);
    for n in 0..2 {
        assert_eq!(
            book(&s, &s.airline.gateway, flight, &seat(n))
                .await
                .unwrap()
                .0,
            201
        );
    }
    s.sink.wait_for(2, Duration::from_secs(20)).await;

    broker.stall();
    cache.stall();
    let stalled_at = Instant::now();
    // Writes, projections and reads go on.
    for n in 2..5 {
        let (status, body) = book(&s, &s.airline.gateway, flight, &seat(n))
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let map = until(&s, &seats_url, Duration::from_secs(15), |m| {
        held_seats(m) == 5
    })
    .await;
    assert_eq!(held_seats(&map), 5);
    let projector = s.airline.url("AIRLINE_PROJECTOR_ADDR");
    // Only the relay falls behind, and readiness says so without taking the API out of service.
    let readiness = until(
        &s,
        &format!("{projector}/readyz"),
        Duration::from_secs(20),
        |r| r["status"] == "degraded",
    )
    .await;
    assert!(
        readiness["lag"]["relay"]["events_behind"].as_i64().unwrap() > 0,
        "{readiness:#}"
    );
    for p in ["flights", "bookings", "analytics"] {
        assert_eq!(
            readiness["lag"][p]["events_behind"], 0,
            "{p}: {readiness:#}"
        );
    }
    let (status, gateway) = get(&s, &format!("{}/readyz", s.airline.gateway)).await;
    assert_eq!(status, 200, "{gateway:#}");
    assert_eq!(gateway["status"], "degraded", "{gateway:#}");
    assert_eq!(gateway["redis"], "down", "{gateway:#}");
    let hung_for = stalled_at.elapsed();

    broker.resume();
    cache.resume();
    // Nothing is lost: every booking's email arrives, and the relay catches up.
    let mails = s.sink.wait_for(5, Duration::from_secs(60)).await;
    assert_eq!(
        mails.len(),
        5,
        "{:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    let readiness = until(
        &s,
        &format!("{projector}/readyz"),
        Duration::from_secs(30),
        |r| r["status"] == "ready" && r["lag"]["relay"]["events_behind"] == 0,
    )
    .await;
    println!(
        "hung for {hung_for:?}; relay restarts {}",
        worker(&readiness, "relay")["restarts"]
    );
    let unroutable: i64 = sqlx::query_scalar("SELECT count(*) FROM relay_unroutable")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(unroutable, 0);
}

fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap().to_owned()
}

fn with_port(url: &str, port: u16) -> String {
    url.replace(&host_port(url), &format!("127.0.0.1:{port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_the_services_postgres_sessions_gives_503s_then_recovery_never_a_500() {
    let s = setup(2, &UNLIMITED).await;
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::<(u16, Value, bool)>::new()));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (http, gateway, token) = (
                s.http.clone(),
                s.airline.gateway.clone(),
                s.gateway_customer.clone(),
            );
            let (flights, stop, answers) = (s.flights.clone(), stop.clone(), answers.clone());
            tokio::spawn(async move {
                let mut n = c;
                while !stop.load(Ordering::Relaxed) {
                    n += 8;
                    let flight = flights[n % flights.len()];
                    let request = if n % 2 == 0 {
                        http.get(format!("{gateway}/api/v1/flights/{flight}/seats"))
                    } else {
                        let body = json!({"flight_id": flight, "contact_email": "pg@example.com",
                            "passengers": [{"first_name": "P", "last_name": "G", "type": "adult",
                                "seat": seat(n / 2 % 30)}]});
                        http.post(format!("{gateway}/api/v1/bookings"))
                            .bearer_auth(&token)
                            .json(&body)
                    };
                    let Ok(response) = request.timeout(Duration::from_secs(10)).send().await else {
                        continue;
                    };
                    let status = response.status().as_u16();
                    let retry_after = response.headers().contains_key("retry-after");
                    let body = response.json().await.unwrap_or(Value::Null);
                    answers.lock().await.push((status, body, retry_after));
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ended = 0;
    for _ in 0..5 {
        // Only this test's database: the server is shared.
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&s.db.pool)
        .await
        .unwrap();
        ended += killed.len();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // Recovery: the readiness comes back and requests succeed again.
    until(
        &s,
        &format!("{}/readyz", s.airline.gateway),
        Duration::from_secs(30),
        |r| r["status"] == "ready",
    )
    .await;
    let recovered_from = answers.lock().await.len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let answers = answers.lock().await;
    let unavailable = answers.iter().filter(|(s, _, _)| *s == 503).count();
    println!(
        "ended {ended} sessions; {} answers, {unavailable} were 503",
        answers.len()
    );
    assert!(ended > 0, "no session was ended");
    for (status, body, retry_after) in answers.iter() {
        assert!(*status < 500 || *status == 503, "{status}: {body}");
        if *status == 503 {
            assert_eq!(body["code"], "database_unavailable", "{body}");
            assert!(retry_after, "a 503 without Retry-After: {body}");
        }
    }
    let after = &answers[recovered_from..];
    assert!(!after.is_empty());
    assert!(
        after.iter().all(|(s, _, _)| *s < 500),
        "still failing after recovery: {:?}",
        after
            .iter()
            .map(|(s, b, _)| (s, &b["code"]))
            .collect::<Vec<_>>()
    );
    // The projector's sessions (its subscription locks) were ended too; its workers came back.
    let projector = s.airline.url("AIRLINE_PROJECTOR_ADDR");
    until(
        &s,
        &format!("{projector}/readyz"),
        Duration::from_secs(30),
        |r| r["status"] == "ready",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_32_clients_loses_no_accepted_request_and_exits_within_the_bound() {
    let mut env = UNLIMITED.to_vec();
    env.push(("APP_HTTP__SHUTDOWN_TIMEOUT_MS", "3000"));
    let mut s = setup(2, &env).await;
    let gateway = s.airline.gateway.clone();
    // Half a request, never finished: shutdown must not wait for it.
    let mut half = tokio::net::TcpStream::connect(gateway.trim_start_matches("http://"))
        .await
        .unwrap();
    half.write_all(b"GET /api/v1/flights HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let signal_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let outcomes = Arc::new(Mutex::new(Vec::<(Instant, Result<u16, String>)>::new()));
    let clients: Vec<_> = (0..32)
        .map(|c| {
            let (http, gateway, token) =
                (s.http.clone(), gateway.clone(), s.gateway_customer.clone());
            let (flights, outcomes, signal_at) =
                (s.flights.clone(), outcomes.clone(), signal_at.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let signalled = *signal_at.lock().unwrap();
                    if signalled.is_some_and(|at| at.elapsed() > Duration::from_millis(500)) {
                        break;
                    }
                    let flight = flights[(c + n) % flights.len()];
                    let request = if (c + n) % 3 == 0 {
                        let body = json!({"flight_id": flight, "contact_email": "term@example.com",
                            "passengers": [{"first_name": "T", "last_name": "M", "type": "adult",
                                "seat": seat((c * 7 + n) % 30)}]});
                        http.post(format!("{gateway}/api/v1/bookings"))
                            .bearer_auth(&token)
                            .json(&body)
                    } else {
                        http.get(format!("{gateway}/api/v1/flights/{flight}/seats"))
                    };
                    let sent = Instant::now();
                    let result = request
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .map_err(|e| error_chain(&e));
                    outcomes.lock().await.push((sent, result));
                    if signalled.is_some() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let signalled = Instant::now();
    *signal_at.lock().unwrap() = Some(signalled);
    s.airline.terminate();
    let status = s.airline.exit_within(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    for client in clients {
        client.await.unwrap();
    }
    // It exits by itself, cleanly: how fast is reported below, not asserted (the 10 s above is only
    // the bound on waiting for a process that would never exit).
    let exit = status.expect("airline all did not exit after SIGTERM");
    assert!(exit.success(), "exit status {exit}");

    let outcomes = outcomes.lock().await;
    // Sent well before the signal: each got its answer, none a 5xx. Around or after it: refused, or
    // answered, never a 5xx.
    let margin = Duration::from_millis(50);
    let before: Vec<_> = outcomes
        .iter()
        .filter(|(at, _)| *at + margin < signalled)
        .collect();
    let lost: Vec<_> = before.iter().filter(|(_, r)| r.is_err()).collect();
    let server_errors: Vec<_> = outcomes
        .iter()
        .filter(|(_, r)| matches!(r, Ok(s) if *s >= 500))
        .collect();
    let in_flight = before
        .iter()
        .filter(|(at, _)| signalled.duration_since(*at) < Duration::from_secs(1))
        .count();
    println!(
        "{} requests, {} sent before the signal ({in_flight} in its last second), {} lost, {} 5xx; exit {exit} after {took:?}",
        outcomes.len(),
        before.len(),
        lost.len(),
        server_errors.len()
    );
    assert!(before.len() > 100, "too little load: {}", before.len());
    let lost: Vec<_> = lost
        .iter()
        .map(|(at, r)| (signalled.duration_since(*at), r))
        .collect();
    assert!(
        lost.is_empty(),
        "requests sent before the signal (by how long) got no answer: {lost:?}"
    );
    assert!(server_errors.is_empty(), "5xx answers: {server_errors:?}");
}

/// An error with its causes, for a failure message that says what happened on the wire.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
