use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use command_api::clock::ManualClock;
use command_api::config::{AuthSettings, BookingSettings, Settings};
use command_api::payments::{PaymentProvider, TestCardProvider};
use command_api::startup::Application;
use command_api::state::AppState;
use infra::auth::{Claims, JwtSigner, Role, generate_key_pair};
use infra::settings::{DatabaseSettings, HttpSettings};
use infra::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

pub const ISSUER: &str = "airline-gateway";
pub const AUDIENCE: &str = "airline-api";

pub struct TestApp {
    pub address: String,
    pub db: TestDatabase,
    pub client: reqwest::Client,
    pub signer: JwtSigner,
    pub public_pem: String,
    pub clock: ManualClock,
    pub state: AppState,
    pub admin: String,
    pub customer: String,
    pub customer_id: Uuid,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    pub fn etag(&self) -> String {
        self.headers
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    /// Asserts a problem+json body with this status and code, carrying the request id.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        let ct = self.headers.get("content-type").unwrap().to_str().unwrap();
        assert_eq!(ct, "application/problem+json");
        let body = self.json();
        assert_eq!(body["code"], code, "body: {body}");
        assert_eq!(body["status"], status);
        assert!(
            !body["request_id"].as_str().unwrap_or_default().is_empty(),
            "no request id: {body}"
        );
    }
}

fn settings(public_pem: &str) -> Settings {
    Settings {
        database: DatabaseSettings {
            url: "postgres://unused".to_owned().into(),
            max_connections: 8,
            acquire_timeout_ms: 10_000,
            read_url: None,
        },
        http: HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
            request_timeout_ms: 30_000,
            body_limit_bytes: 16 * 1024,
            header_timeout_ms: 10_000,
            shutdown_timeout_ms: 10_000,
            write_timeout_ms: 30_000,
        },
        auth: AuthSettings {
            public_key_pem: Some(public_pem.to_owned()),
            public_key_file: None,
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
        },
        booking: BookingSettings {
            hold_minutes: 15,
            sweep_interval_ms: 60_000,
            // Tests stand in for a crashed worker by calling the next step at once.
            sweep_lease_ms: 0,
            idempotency_lease_ms: 2_000,
            recovery_interval_ms: 60_000,
            payment_recovery_after_ms: 0,
            max_attempts: 50,
            // Most tests stand in for a crowd with one customer; the cap has its own tests.
            max_held_seats: 10_000,
        },
    }
}

/// Starts one more command API on `db` with its own pool, as a second process would (and as a restart
/// after a crash does: nothing in memory is shared). Its workers do not run: tests drive the sweeper and
/// payment recovery by hand.
pub async fn start_instance(
    db: &TestDatabase,
    public_pem: &str,
    clock: &ManualClock,
    pool_size: u32,
) -> (String, AppState) {
    let provider = Arc::new(TestCardProvider::default());
    start_with(db, (public_pem, clock), pool_size, provider, |_| {}).await
}

/// [`start_instance`] with a given payment provider (its call log tells what was charged), and settings
/// changed by `tweak`.
pub async fn start_with(
    db: &TestDatabase,
    (public_pem, clock): (&str, &ManualClock),
    pool_size: u32,
    provider: Arc<dyn PaymentProvider>,
    tweak: impl FnOnce(&mut Settings),
) -> (String, AppState) {
    let pool = PgPoolOptions::new()
        .max_connections(pool_size)
        .connect_with(db.options.clone())
        .await
        .unwrap();
    let mut settings = settings(public_pem);
    tweak(&mut settings);
    let app = Application::build_with(settings, pool, Arc::new(clock.clone()), provider)
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    tokio::spawn(app.run_without_workers(std::future::pending()));
    (address, state)
}

pub async fn spawn_app() -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        infra::telemetry::init("test", "info");
    }
    let db = TestDatabase::create(4).await;
    let (private_pem, public_pem) = generate_key_pair().unwrap();
    let signer = JwtSigner::new(&private_pem).unwrap();
    let clock = ManualClock::new(Utc::now());
    let (address, state) = start_instance(&db, &public_pem, &clock, 8).await;
    let customer_id = Uuid::new_v4();
    let mut app = TestApp {
        address,
        db,
        client: reqwest::Client::new(),
        admin: String::new(),
        customer: String::new(),
        customer_id,
        signer,
        public_pem,
        clock,
        state,
    };
    app.admin = app.token(Uuid::new_v4(), Role::Admin);
    app.customer = app.token(customer_id, Role::Customer);
    app
}

impl TestApp {
    pub fn token(&self, user: Uuid, role: Role) -> String {
        let now = Utc::now().timestamp() as u64;
        self.signer
            .sign(&Claims {
                iss: ISSUER.to_owned(),
                aud: AUDIENCE.to_owned(),
                sub: user,
                role,
                exp: now + 900,
                iat: now,
                sid: None,
            })
            .unwrap()
    }

    pub fn now(&self) -> DateTime<Utc> {
        use command_api::clock::Clock;
        self.clock.now()
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        let response = request.send().await.unwrap();
        Response {
            status: response.status(),
            headers: response.headers().clone(),
            bytes: response.bytes().await.unwrap().to_vec(),
        }
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.send(
            self.client
                .post(format!("{}{path}", self.address))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.send(
            self.client
                .patch(format!("{}{path}", self.address))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn post_airport(&self, code: &str) -> Response {
        let body = json!({"code": code, "name": format!("{code} International"), "city": "Somewhere",
            "country": "FR", "time_zone": "Europe/Paris"});
        self.post("/api/v1/airports", &self.admin, &body).await
    }

    /// Business rows 1–2 (`AC DF`, 8 seats), economy rows 10–14 (`ABC DEF`, 30 seats), row 12 an exit row.
    pub async fn post_aircraft(&self) -> Uuid {
        let body = json!({"model": "Test A320", "cabins": [
            {"cabin": "business", "first_row": 1, "last_row": 2, "letters": "AC DF"},
            {"cabin": "economy", "first_row": 10, "last_row": 14, "letters": "ABC DEF", "exit_rows": [12]}
        ]});
        let response = self.post("/api/v1/aircraft", &self.admin, &body).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.json());
        response.json()["id"].as_str().unwrap().parse().unwrap()
    }

    pub fn flight_body(&self, aircraft: Uuid) -> Value {
        let departure = self.now() + Duration::days(10);
        json!({
            "number": "AF1234", "origin": "CDG", "destination": "JFK",
            "departure_at": departure, "arrival_at": departure + Duration::hours(8),
            "aircraft_id": aircraft,
            "fares": [
                fare("business", 90_000, true, 0),
                fare("economy", 10_000, true, 2_500),
            ]
        })
    }

    /// Two airports, the test aircraft, and a flight between them 10 days out.
    pub async fn scheduled_flight(&self) -> Uuid {
        self.post_airport("CDG").await;
        self.post_airport("JFK").await;
        let aircraft = self.post_aircraft().await;
        let response = self
            .post("/api/v1/flights", &self.admin, &self.flight_body(aircraft))
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.json());
        response.json()["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn book(&self, token: &str, flight: Uuid, seats: &[&str]) -> Response {
        let passengers: Vec<Value> = seats
            .iter()
            .map(|s| json!({"first_name": "Ada", "last_name": "Lovelace", "type": "adult", "seat": s}))
            .collect();
        let body = json!({"flight_id": flight, "contact_email": "ada@example.com", "passengers": passengers});
        self.post("/api/v1/bookings", token, &body).await
    }

    pub async fn pay(&self, token: &str, booking: &Value) -> Response {
        let body = json!({"card_token": "tok_visa", "amount": booking["total"]});
        self.post(
            &format!(
                "/api/v1/bookings/{}/payment",
                booking["id"].as_str().unwrap()
            ),
            token,
            &body,
        )
        .await
    }

    pub async fn flight_state(&self, flight: Uuid) -> domain::flight::FlightState {
        let loaded = self
            .state
            .executor
            .load::<domain::flight::Flight>(&flight.to_string())
            .await
            .unwrap();
        loaded.aggregate.state().unwrap().clone()
    }

    pub async fn booking_state(&self, booking: &str) -> domain::booking::BookingState {
        let loaded = self
            .state
            .executor
            .load::<domain::booking::Booking>(booking)
            .await
            .unwrap();
        loaded.aggregate.state().unwrap().clone()
    }
}

pub fn fare(cabin: &str, price: i64, refundable: bool, fee: i64) -> Value {
    json!({"cabin": cabin, "price": {"amount_minor": price, "currency": "EUR"},
        "rules": {"refundable": refundable, "cancellation_fee": {"amount_minor": fee, "currency": "EUR"}}})
}

pub fn seat(s: &str) -> domain::values::SeatNumber {
    domain::values::SeatNumber::parse(s).unwrap()
}
