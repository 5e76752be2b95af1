//! The query API tests' app: a command API to write through and a query API to read from, on one test
//! database, with the projections driven by hand; built on `testkit`.

use std::sync::Arc;

use chrono::{Duration, Utc};
use command_api::clock::ManualClock;
use command_api::payments::TestCardProvider;
use infra::auth::{JwtSigner, Role};
use infra::settings::RedisSettings;
use projector::projections::Projection;
use query_api::config::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{Keys, TestDatabase, bodies, seed, settings, spawn};
use uuid::Uuid;

pub struct TestApp {
    pub db: TestDatabase,
    pub command: String,
    /// The command API's state (its sweeper and payment recovery are driven by hand).
    pub command_state: command_api::state::AppState,
    pub query: String,
    pub client: reqwest::Client,
    pub signer: JwtSigner,
    pub clock: ManualClock,
    pub admin: String,
    pub customer: String,
    pub customer_id: Uuid,
    /// Where its cache lives (URL and this test's key prefix).
    pub redis: RedisSettings,
    pub public_pem: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with_redis(&testkit::redis_url()).await
}

pub async fn spawn_app_with_redis(redis_url: &str) -> TestApp {
    testkit::init_test_log();
    let db = TestDatabase::create(6).await;
    let Keys {
        public_pem, signer, ..
    } = Keys::generate();
    let clock = ManualClock::new(Utc::now());
    let mut command_settings = settings::command(&public_pem);
    command_settings.database = settings::database(4);
    command_settings.booking.max_attempts = 20;
    // One principal stands in for many customers here; the cap has its own tests.
    command_settings.booking.max_held_seats = 100_000;
    let (command, command_state) = spawn::command_api(
        command_settings,
        db.pool.clone(),
        Arc::new(clock.clone()),
        Arc::new(TestCardProvider::default()),
    )
    .await;
    let redis = settings::redis(redis_url);
    let query = spawn::query_api(settings::query(&public_pem, &redis), db.pool.clone()).await;
    let customer_id = Uuid::new_v4();
    TestApp {
        redis,
        db,
        command,
        command_state,
        query,
        client: reqwest::Client::new(),
        admin: testkit::auth::token(&signer, Uuid::new_v4(), Role::Admin),
        customer: testkit::auth::token(&signer, customer_id, Role::Customer),
        signer,
        clock,
        customer_id,
        public_pem,
    }
}

impl TestApp {
    fn query_settings(&self) -> Settings {
        settings::query(&self.public_pem, &self.redis)
    }

    /// Another query API process on the same database (a restart, or a second instance).
    pub async fn another_query(&self) -> String {
        spawn::query_api(self.query_settings(), self.db.pool.clone()).await
    }

    /// Another query API that reads from `replica` (as `DATABASE_READ_URL`), with this app's database as
    /// its primary; with a cache of its own or without.
    pub async fn query_reading_from(&self, replica: &TestDatabase, cached: bool) -> String {
        self.query_reading_at(&replica.url(), cached).await
    }

    /// Another query API whose read replica is at `url`.
    pub async fn query_reading_at(&self, url: &str, cached: bool) -> String {
        let mut settings = self.query_settings();
        settings.redis.key_prefix = format!("test:{}:", Uuid::new_v4());
        if !cached {
            settings.redis.url = "disabled".to_owned();
        }
        settings.database.read_url = Some(url.to_owned().into());
        spawn::query_api(settings, self.db.pool.clone()).await
    }

    /// Another query API whose writes to a client may stay blocked for `ms` at most.
    pub async fn query_writing_within(&self, ms: u64) -> String {
        let mut settings = self.query_settings();
        settings.http.write_timeout_ms = ms;
        spawn::query_api(settings, self.db.pool.clone()).await
    }

    pub fn token(&self, sub: Uuid, role: Role) -> String {
        testkit::auth::token(&self.signer, sub, role)
    }

    /// Runs every projection until it has read everything appended so far.
    pub async fn project(&self) {
        testkit::projection::project_all(&self.db.pool).await;
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.command);
        testkit::send(self.client.post(url).bearer_auth(token).json(body))
            .await
            .into_parts()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.get(format!("{}{path}", self.query));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        testkit::send(request).await.into_parts()
    }

    async fn create(&self, path: &str, token: &str, body: &Value) -> Value {
        let url = format!("{}{path}", self.command);
        seed::create(&self.client, &url, token, body).await
    }

    pub async fn airports(&self, codes: &[(&str, &str)]) {
        for (code, tz) in codes {
            let body = bodies::airport(code, &format!("{code} Airport"), "City", tz);
            self.create("/api/v1/airports", &self.admin, &body).await;
        }
    }

    /// The test aircraft ([`bodies::test_aircraft`]).
    pub async fn aircraft(&self) -> Uuid {
        let created = self
            .create("/api/v1/aircraft", &self.admin, &bodies::test_aircraft())
            .await;
        seed::id_of(&created)
    }

    pub async fn flight(
        &self,
        number: &str,
        route: (&str, &str),
        departure: chrono::DateTime<Utc>,
        prices: (i64, i64),
        aircraft: Uuid,
    ) -> Uuid {
        let body = bodies::flight(
            number,
            route,
            (departure, Duration::hours(2)),
            &json!(aircraft),
            &[fare("business", prices.0), fare("economy", prices.1)],
        );
        seed::id_of(&self.create("/api/v1/flights", &self.admin, &body).await)
    }

    pub async fn book(&self, token: &str, flight: Uuid, seats: &[&str]) -> Value {
        let body = bodies::booking(flight, seats, "L");
        self.create("/api/v1/bookings", token, &body).await
    }

    pub async fn pay(&self, token: &str, booking: &Value) {
        let path = bodies::payment_path(booking);
        let (status, body) = self.post(&path, token, &bodies::payment(booking)).await;
        assert_eq!(status, 200, "{body}");
    }

    /// Every read-model table as JSON, in key order, for comparing two builds.
    pub async fn dump(&self, projection: Projection) -> Value {
        projector::replay::snapshot(&self.db.pool, projection)
            .await
            .unwrap()
    }
}

pub fn fare(cabin: &str, price: i64) -> Value {
    bodies::fare(cabin, price, true, 0)
}
