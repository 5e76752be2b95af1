//! The notifier tests' app: the notifier process on a test database with an SMTP sink, the relay and the
//! command API's state to write events with; built on `testkit`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::Utc;
use command_api::clock::ManualClock;
use command_api::executor::CommandMeta;
use command_api::state::AppState;
use domain::aircraft::{CabinLayout, SeatLayout};
use domain::values::Cabin;
use infra::amqp::AmqpSettings;
use infra::auth::Role;
use notifier::config::Settings;
use notifier::sink::SmtpSink;
use projector::relay::Relay;
use serde_json::json;
use testkit::seed::{self, FlightPlan};
use testkit::{Keys, TestDatabase, settings, spawn};
use tokio::sync::oneshot;
use uuid::Uuid;

pub struct TestApp {
    pub db: TestDatabase,
    pub sink: SmtpSink,
    pub relay: Relay,
    pub commands: AppState,
    pub clock: ManualClock,
    pub notifier: String,
    pub admin: String,
    /// An admin's token as the gateway gives it to a client: never accepted here.
    pub client_admin: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
}

pub fn amqp_settings() -> AmqpSettings {
    settings::amqp(&testkit::amqp_url())
}

pub async fn spawn_app() -> TestApp {
    testkit::init_test_log();
    let db = TestDatabase::create(8).await;
    let keys = Keys::generate();
    let sink = SmtpSink::start("127.0.0.1:0").await.unwrap();
    let amqp = amqp_settings();
    let settings = settings::notifier(&keys.public_pem, &amqp, &sink.url());
    let clock = ManualClock::new(Utc::now());
    let mut app = TestApp {
        relay: Relay::new(db.pool.clone(), amqp, 7),
        commands: command_state(&db, &keys.public_pem, &clock),
        db,
        sink,
        clock,
        notifier: String::new(),
        admin: keys.token(Uuid::new_v4(), Role::Admin),
        client_admin: testkit::auth::sign(
            &keys.signer,
            &testkit::auth::claims(Uuid::new_v4(), Role::Admin, testkit::GATEWAY_AUDIENCE, 900),
        ),
        client: reqwest::Client::new(),
        settings,
        stop: None,
    };
    app.start_notifier().await;
    app
}

fn command_state(db: &TestDatabase, public_pem: &str, clock: &ManualClock) -> AppState {
    let mut booking = settings::command(public_pem).booking;
    booking.sweep_interval_ms = 1000;
    booking.max_attempts = 10;
    // One principal stands in for many customers here; the cap has its own tests.
    booking.max_held_seats = 100_000;
    AppState::new(
        db.pool.clone(),
        infra::auth::JwtVerifier::new(public_pem, testkit::ISSUER, testkit::AUDIENCE).unwrap(),
        Arc::new(clock.clone()),
        Arc::new(command_api::payments::TestCardProvider::default()),
        booking,
    )
}

impl TestApp {
    /// Starts (or restarts) the notifier process.
    pub async fn start_notifier(&mut self) {
        let (tx, rx) = oneshot::channel::<()>();
        self.stop = Some(tx);
        let stop = async move {
            let _ = rx.await;
        };
        let (address, _) = spawn::notifier(self.settings.clone(), self.db.pool.clone(), stop).await;
        self.notifier = address;
        // Ready once both consumers are consuming (their queues exist before the relay publishes).
        spawn::wait_ready(&self.notifier, Duration::from_secs(15)).await;
    }

    /// Stops the notifier process.
    pub fn stop_notifier(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Publishes everything appended so far (the horizon is cluster-wide, hence the bounded wait).
    pub async fn relay_all(&self) {
        testkit::projection::relay_all(&self.db.pool, &self.relay, Duration::from_secs(15)).await;
    }

    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        use command_api::clock::Clock;
        self.clock.now()
    }

    pub fn meta() -> CommandMeta {
        seed::meta()
    }

    /// An airport pair, an aircraft and a flight; returns the flight id.
    pub async fn flight(&self) -> Uuid {
        let departure = Utc::now() + chrono::Duration::days(10);
        let aircraft = self.aircraft().await;
        self.schedule(("AF1234", ("CDG", "JFK")), (departure, 8), &aircraft)
            .await
    }

    /// A connection: CDG→JFK 10 days out (8 h), then JFK→BOS leaving 2 h after it lands.
    pub async fn connection(&self) -> (Uuid, Uuid) {
        let departure = Utc::now() + chrono::Duration::days(10);
        let aircraft = self.aircraft().await;
        let first = self
            .schedule(("AF1234", ("CDG", "JFK")), (departure, 8), &aircraft)
            .await;
        let later = departure + chrono::Duration::hours(10);
        let second = self
            .schedule(("AA55", ("JFK", "BOS")), (later, 1), &aircraft)
            .await;
        (first, second)
    }

    /// The airports (CDG, JFK, BOS) and a 30-seat economy aircraft.
    async fn aircraft(&self) -> (domain::values::AircraftId, SeatLayout) {
        let executor = &self.commands.executor;
        for airport in [
            ("CDG", "City", "Europe/Paris"),
            ("JFK", "City", "America/New_York"),
            ("BOS", "City", "America/New_York"),
        ] {
            seed::register_airport(executor, airport, Self::meta())
                .await
                .unwrap();
        }
        let layout = SeatLayout::try_new(vec![CabinLayout {
            cabin: Cabin::Economy,
            first_row: 10,
            last_row: 14,
            letters: "ABC DEF".to_owned(),
            exit_rows: vec![],
        }])
        .unwrap();
        let aircraft = seed::register_aircraft(executor, "A320", &layout, Self::meta())
            .await
            .unwrap();
        (aircraft, layout)
    }

    async fn schedule(
        &self,
        (number, route): (&str, (&str, &str)),
        (departure, hours): (chrono::DateTime<Utc>, i64),
        (aircraft, layout): &(domain::values::AircraftId, SeatLayout),
    ) -> Uuid {
        let plan = FlightPlan {
            number,
            route,
            departure,
            duration: chrono::Duration::hours(hours),
            aircraft: (*aircraft, layout),
            fares: vec![seed::fare(Cabin::Economy, 12_900, 2_500).unwrap()],
        };
        seed::schedule_flight(&self.commands.executor, plan, Self::meta())
            .await
            .unwrap()
    }

    /// Books through the command API's booking process; returns the booking and its owner.
    pub async fn book(
        &self,
        flight: Uuid,
        seats: &[&str],
        email: &str,
    ) -> (Uuid, infra::auth::Principal) {
        use domain::values::*;
        let passengers = seats
            .iter()
            .map(|s| Passenger {
                first_name: PassengerName::parse("Ada").unwrap(),
                last_name: PassengerName::parse("Lovelace").unwrap(),
                kind: PassengerType::Adult,
                seat: Some(SeatNumber::parse(s).unwrap()),
            })
            .collect();
        let principal = infra::auth::Principal {
            user_id: Uuid::new_v4(),
            role: Role::Customer,
            account_since: None,
        };
        let request = command_api::process::booking::BookRequest::one_flight(
            FlightId::from_uuid(flight),
            EmailAddress::parse(email).unwrap(),
            passengers,
        );
        let (done, _) = command_api::process::booking::book(
            &self.commands,
            principal,
            &Self::meta(),
            request,
            render(),
        )
        .await
        .unwrap();
        (*done.aggregate.state().unwrap().id.as_uuid(), principal)
    }

    pub async fn create_webhook(&self, url: &str, events: &[&str]) -> (Uuid, String) {
        let response = self
            .client
            .post(format!("{}/api/v1/webhooks", self.notifier))
            .bearer_auth(&self.admin)
            .json(&json!({"url": url, "events": events}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.unwrap();
        (
            body["webhook_id"].as_str().unwrap().parse().unwrap(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop_notifier();
    }
}

/// A webhook endpoint that checks every signature with `secret` (set after creation), answers 500 for the
/// first `failures` calls, then 200; it records each verified body.
#[derive(Clone, Default)]
pub struct Receiver {
    pub url: String,
    pub secret: Arc<std::sync::Mutex<String>>,
    pub calls: Arc<AtomicUsize>,
    pub accepted: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    pub bad_signatures: Arc<AtomicUsize>,
}

impl Receiver {
    pub async fn start(failures: usize) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), "127.0.0.1", failures).await
    }

    /// The receiver's endpoint: checks the signature, fails the first `failures` calls, keeps the rest.
    fn app(&self, failures: usize) -> Router {
        let state = self.clone();
        Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let call = state.calls.fetch_add(1, Ordering::SeqCst);
                    let header = headers
                        .get("webhook-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    let secret = state.secret.lock().unwrap().clone();
                    if !verify(&secret, header, &body) {
                        state.bad_signatures.fetch_add(1, Ordering::SeqCst);
                        return StatusCode::UNAUTHORIZED;
                    }
                    if call < failures {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    state
                        .accepted
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    StatusCode::OK
                }
            }),
        )
    }

    /// A receiver listening on `addr`, its URL naming `host`.
    pub async fn start_on(addr: std::net::SocketAddr, host: &str, failures: usize) -> Self {
        let mut receiver = Self::default();
        let app = receiver.app(failures);
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        receiver.url = format!("http://{host}:{port}/hook");
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    /// A receiver over HTTPS on loopback with `tls` (its certificate and key), its URL naming `host`.
    #[allow(dead_code)] // The TLS test binary's (`tests/tls.rs`), not this one's.
    pub async fn start_tls(host: &str, tls: std::sync::Arc<rustls::ServerConfig>) -> Self {
        let mut receiver = Self::default();
        let app = receiver.app(0);
        let port = testkit::tls::serve(app, tls).await.port();
        receiver.url = format!("https://{host}:{port}/hook");
        receiver
    }

    pub fn set_secret(&self, secret: &str) {
        *self.secret.lock().unwrap() = secret.to_owned();
    }

    pub fn accepted(&self) -> Vec<serde_json::Value> {
        self.accepted.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, count: usize) -> Vec<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.accepted().len() < count && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.accepted()
    }
}

/// The receiver's own check, as a subscriber would write it: HMAC-SHA256 of "t.body", hex, in any of
/// the `v1` entries (two during a secret rotation).
pub fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    use hmac::{Hmac, Mac};
    let mut parts = header.split(',');
    let Some(t) = parts.next().and_then(|p| p.strip_prefix("t=")) else {
        return false;
    };
    parts
        .filter_map(|p| p.strip_prefix("v1="))
        .filter_map(|v1| hex::decode(v1).ok())
        .any(|expected| {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(format!("{t}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&expected).is_ok()
        })
}

/// The command API's own booking response (the tests read the returned state, not the body).
pub fn render() -> impl command_api::process::booking::RenderBooking {
    command_api::routes::bookings::render(command_api::routes::StatusCode::OK)
}
