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
use infra::amqp::AmqpSettings;
use infra::auth::{Claims, JwtSigner, Role, generate_key_pair};
use infra::event_log::{Outcome, Subscription};
use infra::settings::{DatabaseSettings, HttpSettings};
use infra::testing::TestDatabase;
use notifier::config::{AuthSettings, RetrySettings, Settings, SmtpSettings, WebhookSettings};
use notifier::sink::SmtpSink;
use projector::relay::Relay;
use serde_json::json;
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
    pub client: reqwest::Client,
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
}

pub fn amqp_settings() -> AmqpSettings {
    let id = Uuid::new_v4().simple().to_string();
    AmqpSettings {
        url: std::env::var("AMQP_URL").expect("AMQP_URL must point at RabbitMQ"),
        exchange: format!("test.{id}.events"),
        queue_prefix: format!("test.{id}.notifier"),
        expires_ms: Some(120_000),
        timeout_ms: 5_000,
    }
}

pub async fn spawn_app() -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        infra::telemetry::init("test", "info");
    }
    let db = TestDatabase::create(8).await;
    let (private_pem, public_pem) = generate_key_pair().unwrap();
    let sink = SmtpSink::start("127.0.0.1:0").await.unwrap();
    let amqp = amqp_settings();
    let settings = Settings {
        database: DatabaseSettings {
            url: "postgres://unused".to_owned().into(),
            max_connections: 4,
            acquire_timeout_ms: 10_000,
            read_url: None,
        },
        http: HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
            request_timeout_ms: 10_000,
            body_limit_bytes: 16 * 1024,
            header_timeout_ms: 10_000,
            shutdown_timeout_ms: 10_000,
            write_timeout_ms: 30_000,
        },
        amqp: amqp.clone(),
        smtp: SmtpSettings {
            url: sink.url(),
            from: "Airline <no-reply@airline.example>".to_owned(),
        },
        auth: AuthSettings {
            public_key_pem: Some(public_pem.clone()),
            public_key_file: None,
            issuer: "airline-gateway".to_owned(),
            audience: "airline-api".to_owned(),
        },
        retry: RetrySettings {
            delays_ms: "50,100,200".to_owned(),
            webhook_timeout_ms: 2_000,
        },
        webhooks: WebhookSettings {
            allow_private_destinations: true,
        },
    };
    let clock = ManualClock::new(Utc::now());
    let mut app = TestApp {
        relay: Relay::new(db.pool.clone(), amqp.clone(), 7),
        commands: command_state(&db, &public_pem, &clock),
        db,
        sink,
        clock,
        notifier: String::new(),
        admin: String::new(),
        client: reqwest::Client::new(),
        settings,
        stop: None,
    };
    app.start_notifier().await;
    let signer = JwtSigner::new(&private_pem).unwrap();
    let now = Utc::now().timestamp() as u64;
    app.admin = signer
        .sign(&Claims {
            iss: "airline-gateway".to_owned(),
            aud: "airline-api".to_owned(),
            sub: Uuid::new_v4(),
            role: Role::Admin,
            exp: now + 900,
            iat: now,
            sid: None,
        })
        .unwrap();
    app
}

fn command_state(db: &TestDatabase, public_pem: &str, clock: &ManualClock) -> AppState {
    AppState::new(
        db.pool.clone(),
        infra::auth::JwtVerifier::new(public_pem, "airline-gateway", "airline-api").unwrap(),
        Arc::new(clock.clone()),
        Arc::new(command_api::payments::TestCardProvider::default()),
        command_api::config::BookingSettings {
            hold_minutes: 15,
            sweep_interval_ms: 1000,
            sweep_lease_ms: 0,
            idempotency_lease_ms: 2_000,
            recovery_interval_ms: 60_000,
            payment_recovery_after_ms: 0,
            max_attempts: 10,
            // One principal stands in for many customers here; the cap has its own tests.
            max_held_seats: 100_000,
        },
    )
}

impl TestApp {
    /// Starts (or restarts) the notifier process.
    pub async fn start_notifier(&mut self) {
        let app =
            notifier::startup::Application::build_with(self.settings.clone(), self.db.pool.clone())
                .await
                .unwrap();
        self.notifier = format!("http://127.0.0.1:{}", app.port());
        let (tx, rx) = oneshot::channel::<()>();
        self.stop = Some(tx);
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        // Ready once both consumers are consuming (their queues exist before the relay publishes).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let ready = self
                .client
                .get(format!("{}/readyz", self.notifier))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the notifier never became ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the notifier process.
    pub fn stop_notifier(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Publishes everything appended so far (the horizon is cluster-wide, hence the bounded wait).
    pub async fn relay_all(&self) {
        let subscription = Subscription::new(projector::relay::SUBSCRIPTION);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let outcome = self.relay.process_next_batch().await.unwrap();
            if outcome == Outcome::Idle
                && subscription.lag(&self.db.pool).await.unwrap().events_behind == 0
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the relay did not catch up"
            );
            if outcome == Outcome::Idle {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        use command_api::clock::Clock;
        self.clock.now()
    }

    pub fn meta() -> CommandMeta {
        CommandMeta {
            correlation_id: format!("test-{}", Uuid::new_v4()),
            ..CommandMeta::default()
        }
    }

    /// An airport pair, an aircraft and a flight; returns the flight id.
    pub async fn flight(&self) -> Uuid {
        use domain::aircraft::{AircraftCommand, CabinLayout, SeatLayout};
        use domain::airport::AirportCommand;
        use domain::flight::{Fare, FareRules, FlightCommand, ScheduleFlight};
        use domain::values::*;
        for (code, tz) in [("CDG", "Europe/Paris"), ("JFK", "America/New_York")] {
            let command = AirportCommand::Register {
                code: AirportCode::parse(code).unwrap(),
                name: Label::parse(code).unwrap(),
                city: Label::parse("City").unwrap(),
                country: CountryCode::parse("FR").unwrap(),
                time_zone: TimeZone::parse(tz).unwrap(),
            };
            self.commands
                .executor
                .execute::<domain::airport::Airport>(
                    (code, None),
                    "RegisterAirport",
                    command,
                    Self::meta(),
                )
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
        let aircraft_id = AircraftId::from_uuid(Uuid::now_v7());
        let command = AircraftCommand::Register {
            id: aircraft_id,
            model: Label::parse("A320").unwrap(),
            layout: layout.clone(),
        };
        self.commands
            .executor
            .execute::<domain::aircraft::Aircraft>(
                (&aircraft_id.to_string(), None),
                "RegisterAircraft",
                command,
                Self::meta(),
            )
            .await
            .unwrap();
        let eur = |m| Money::try_new(m, Currency::parse("EUR").unwrap()).unwrap();
        let id = FlightId::from_uuid(Uuid::now_v7());
        let departure = Utc::now() + chrono::Duration::days(10);
        let command = FlightCommand::Schedule(Box::new(ScheduleFlight {
            id,
            number: FlightNumber::parse("AF1234").unwrap(),
            origin: AirportCode::parse("CDG").unwrap(),
            destination: AirportCode::parse("JFK").unwrap(),
            departure_at: departure,
            arrival_at: departure + chrono::Duration::hours(8),
            aircraft_id,
            layout,
            fares: vec![Fare {
                cabin: Cabin::Economy,
                price: eur(12_900),
                rules: FareRules {
                    refundable: true,
                    cancellation_fee: eur(2_500),
                },
            }],
            now: Utc::now(),
        }));
        self.commands
            .executor
            .execute::<domain::flight::Flight>(
                (&id.to_string(), None),
                "ScheduleFlight",
                command,
                Self::meta(),
            )
            .await
            .unwrap();
        *id.as_uuid()
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
        };
        let request = command_api::process::booking::BookRequest {
            flight_id: FlightId::from_uuid(flight),
            contact_email: EmailAddress::parse(email).unwrap(),
            passengers,
        };
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

    /// A receiver listening on `addr`, its URL naming `host`.
    pub async fn start_on(addr: std::net::SocketAddr, host: &str, failures: usize) -> Self {
        let mut receiver = Self::default();
        let state = receiver.clone();
        let app = Router::new().route(
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
        );
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        receiver.url = format!("http://{host}:{port}/hook");
        tokio::spawn(async move { axum::serve(listener, app).await });
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
