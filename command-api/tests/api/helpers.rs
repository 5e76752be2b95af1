//! The command API tests' app: one command API on a test database, built on `testkit`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use command_api::clock::ManualClock;
use command_api::config::Settings;
use command_api::payments::{Authorization, PaymentProvider, TestCardProvider};
use command_api::state::AppState;
use infra::auth::{JwtSigner, Role};
use serde_json::{Value, json};
use testkit::{Keys, TestDatabase, bodies, seed, settings, spawn};
use uuid::Uuid;

pub use testkit::Response;

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
    let pool = spawn::own_pool(db, pool_size).await;
    let mut settings = settings::command(public_pem);
    tweak(&mut settings);
    spawn::command_api(settings, pool, Arc::new(clock.clone()), provider).await
}

pub async fn spawn_app() -> TestApp {
    testkit::init_test_log();
    let db = TestDatabase::create(4).await;
    let Keys {
        public_pem, signer, ..
    } = Keys::generate();
    let clock = ManualClock::new(Utc::now());
    let (address, state) = start_instance(&db, &public_pem, &clock, 8).await;
    let customer_id = Uuid::new_v4();
    TestApp {
        address,
        db,
        client: reqwest::Client::new(),
        admin: testkit::auth::token(&signer, Uuid::new_v4(), Role::Admin),
        customer: testkit::auth::token(&signer, customer_id, Role::Customer),
        customer_id,
        signer,
        public_pem,
        clock,
        state,
    }
}

impl TestApp {
    pub fn token(&self, user: Uuid, role: Role) -> String {
        testkit::auth::token(&self.signer, user, role)
    }

    pub fn now(&self) -> DateTime<Utc> {
        use command_api::clock::Clock;
        self.clock.now()
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        testkit::send(request).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        let url = format!("{}{path}", self.address);
        self.send(self.client.post(url).bearer_auth(token).json(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        let url = format!("{}{path}", self.address);
        self.send(self.client.patch(url).bearer_auth(token).json(body))
            .await
    }

    pub async fn post_airport(&self, code: &str) -> Response {
        let name = format!("{code} International");
        let body = bodies::airport(code, &name, "Somewhere", "Europe/Paris");
        self.post("/api/v1/airports", &self.admin, &body).await
    }

    /// The test aircraft ([`bodies::test_aircraft`]).
    pub async fn post_aircraft(&self) -> Uuid {
        let url = format!("{}/api/v1/aircraft", self.address);
        let created = seed::create(&self.client, &url, &self.admin, &bodies::test_aircraft()).await;
        seed::id_of(&created)
    }

    pub fn flight_body(&self, aircraft: Uuid) -> Value {
        let departure = self.now() + Duration::days(10);
        bodies::flight(
            "AF1234",
            ("CDG", "JFK"),
            (departure, Duration::hours(8)),
            &json!(aircraft),
            &[
                fare("business", 90_000, true, 0),
                fare("economy", 10_000, true, 2_500),
            ],
        )
    }

    /// Two airports, the test aircraft, and a flight between them 10 days out.
    pub async fn scheduled_flight(&self) -> Uuid {
        self.post_airport("CDG").await;
        self.post_airport("JFK").await;
        let aircraft = self.post_aircraft().await;
        let url = format!("{}/api/v1/flights", self.address);
        let body = self.flight_body(aircraft);
        seed::id_of(&seed::create(&self.client, &url, &self.admin, &body).await)
    }

    pub async fn book(&self, token: &str, flight: Uuid, seats: &[&str]) -> Response {
        let body = bodies::booking(flight, seats, "Lovelace");
        self.post("/api/v1/bookings", token, &body).await
    }

    pub async fn pay(&self, token: &str, booking: &Value) -> Response {
        let body = bodies::payment(booking);
        self.post(&bodies::payment_path(booking), token, &body)
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
    bodies::fare(cabin, price, refundable, fee)
}

pub fn seat(s: &str) -> domain::values::SeatNumber {
    domain::values::SeatNumber::parse(s).unwrap()
}

/// How a test provider authorizes: `inner` is the plain test provider to call through to.
pub trait Authorize: Send + Sync + std::fmt::Debug + 'static {
    fn authorize<'a>(
        &'a self,
        inner: &'a TestCardProvider,
        key: &'a str,
        card_token: &'a str,
        amount: domain::values::Money,
    ) -> command_api::payments::ProviderFuture<'a, command_api::payments::Receipt>;
}

/// The test provider with its authorization done by `hook`; capture, void and refund are its own.
#[derive(Debug, Default)]
pub struct AuthorizingWith<A> {
    pub inner: TestCardProvider,
    pub hook: A,
}

impl<A: Authorize> PaymentProvider for AuthorizingWith<A> {
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        card_token: &'a str,
        amount: domain::values::Money,
    ) -> command_api::payments::ProviderFuture<'a, command_api::payments::Receipt> {
        self.hook.authorize(&self.inner, key, card_token, amount)
    }

    fn capture<'a>(
        &'a self,
        authorization: Authorization<'a>,
    ) -> command_api::payments::ProviderFuture<'a, command_api::payments::Receipt> {
        self.inner.capture(authorization)
    }

    fn void<'a>(
        &'a self,
        authorization: Authorization<'a>,
    ) -> command_api::payments::ProviderFuture<'a, ()> {
        self.inner.void(authorization)
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization: Authorization<'a>,
        amount: domain::values::Money,
    ) -> command_api::payments::ProviderFuture<'a, command_api::payments::Receipt> {
        self.inner.refund(key, authorization, amount)
    }
}
