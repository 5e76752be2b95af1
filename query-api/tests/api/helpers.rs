use std::sync::Arc;

use chrono::{Duration, Utc};
use command_api::clock::ManualClock;
use command_api::config::{
    AuthSettings as CommandAuth, BookingSettings, Settings as CommandSettings,
};
use command_api::payments::TestCardProvider;
use infra::auth::{Claims, JwtSigner, Role, generate_key_pair};
use infra::event_log::Subscription;
use infra::settings::{DatabaseSettings, HttpSettings, RedisSettings};
use infra::testing::TestDatabase;
use projector::projections::Projection;
use projector::worker::Worker;
use query_api::config::{AuthSettings, CacheSettings, Settings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

pub const ISSUER: &str = "airline-gateway";
pub const AUDIENCE: &str = "airline-api";

pub struct TestApp {
    pub db: TestDatabase,
    pub command: String,
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

fn http() -> HttpSettings {
    HttpSettings {
        host: "127.0.0.1".to_owned(),
        port: 0,
        request_timeout_ms: 30_000,
        body_limit_bytes: 16 * 1024,
        header_timeout_ms: 10_000,
        shutdown_timeout_ms: 10_000,
        write_timeout_ms: 30_000,
    }
}

fn database() -> DatabaseSettings {
    DatabaseSettings {
        url: "postgres://unused".to_owned().into(),
        max_connections: 4,
        acquire_timeout_ms: 10_000,
        read_url: None,
    }
}

pub fn redis_settings(url: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_owned(),
        key_prefix: format!("test:{}:", Uuid::new_v4()),
        timeout_ms: 200,
    }
}

fn query_settings(public_pem: &str, redis: &RedisSettings) -> Settings {
    Settings {
        database: database(),
        http: http(),
        redis: redis.clone(),
        auth: AuthSettings {
            public_key_pem: Some(public_pem.to_owned()),
            public_key_file: None,
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
        },
        cache: CacheSettings {
            search_ttl_secs: 60,
            seat_map_ttl_secs: 60,
        },
        feed: query_api::feed::FeedSettings::default(),
    }
}

/// A query API on `db`, running until the test ends; its address.
async fn start_query(db: &TestDatabase, public_pem: &str, redis: &RedisSettings) -> String {
    start_query_with(db, query_settings(public_pem, redis)).await
}

async fn start_query_with(db: &TestDatabase, settings: Settings) -> String {
    let query = query_api::startup::Application::build_with(settings, db.pool.clone())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", query.port());
    tokio::spawn(query.run_until(std::future::pending()));
    address
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with_redis(
        &std::env::var("REDIS_URL").expect("REDIS_URL must point at a Redis server"),
    )
    .await
}

pub async fn spawn_app_with_redis(redis_url: &str) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        infra::telemetry::init("test", "info");
    }
    let db = TestDatabase::create(6).await;
    let (private_pem, public_pem) = generate_key_pair().unwrap();
    let clock = ManualClock::new(Utc::now());
    let command_settings = CommandSettings {
        database: database(),
        http: http(),
        auth: CommandAuth {
            public_key_pem: Some(public_pem.clone()),
            public_key_file: None,
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
        },
        booking: BookingSettings {
            hold_minutes: 15,
            sweep_interval_ms: 60_000,
            sweep_lease_ms: 0,
            idempotency_lease_ms: 2_000,
            recovery_interval_ms: 60_000,
            payment_recovery_after_ms: 0,
            max_attempts: 20,
            // One principal stands in for many customers here; the cap has its own tests.
            max_held_seats: 100_000,
        },
    };
    let command = command_api::startup::Application::build_with(
        command_settings,
        db.pool.clone(),
        Arc::new(clock.clone()),
        Arc::new(TestCardProvider::default()),
    )
    .await
    .unwrap();
    let command_address = format!("http://127.0.0.1:{}", command.port());
    tokio::spawn(command.run_without_workers(std::future::pending()));

    let redis = redis_settings(redis_url);
    let query_address = start_query(&db, &public_pem, &redis).await;

    let signer = JwtSigner::new(&private_pem).unwrap();
    let customer_id = Uuid::new_v4();
    let token = |sub, role| {
        let now = Utc::now().timestamp() as u64;
        signer
            .sign(&Claims {
                iss: ISSUER.to_owned(),
                aud: AUDIENCE.to_owned(),
                sub,
                role,
                exp: now + 900,
                iat: now,
                sid: None,
            })
            .unwrap()
    };
    let admin = token(Uuid::new_v4(), Role::Admin);
    let customer = token(customer_id, Role::Customer);
    TestApp {
        redis,
        db,
        command: command_address,
        query: query_address,
        client: reqwest::Client::new(),
        signer,
        clock,
        admin,
        customer,
        customer_id,
        public_pem,
    }
}

impl TestApp {
    /// Another query API process on the same database (a restart, or a second instance).
    pub async fn another_query(&self) -> String {
        start_query(&self.db, &self.public_pem, &self.redis).await
    }

    /// Another query API that reads from `replica` (as `DATABASE_READ_URL`), with this app's database as
    /// its primary; with a cache of its own or without.
    pub async fn query_reading_from(&self, replica: &TestDatabase, cached: bool) -> String {
        let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL must point at Postgres");
        let base = admin.split_once('?').map_or(admin.as_str(), |(b, _)| b);
        let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
        self.query_reading_at(&format!("{server}/{}", replica.name), cached)
            .await
    }

    /// Another query API whose read replica is at `url`.
    pub async fn query_reading_at(&self, url: &str, cached: bool) -> String {
        let mut settings = query_settings(&self.public_pem, &self.redis);
        settings.redis.key_prefix = format!("test:{}:", Uuid::new_v4());
        if !cached {
            settings.redis.url = "disabled".to_owned();
        }
        settings.database.read_url = Some(url.to_owned().into());
        start_query_with(&self.db, settings).await
    }

    /// Another query API whose writes to a client may stay blocked for `ms` at most.
    pub async fn query_writing_within(&self, ms: u64) -> String {
        let mut settings = query_settings(&self.public_pem, &self.redis);
        settings.http.write_timeout_ms = ms;
        start_query_with(&self.db, settings).await
    }

    pub fn token(&self, sub: Uuid, role: Role) -> String {
        let now = Utc::now().timestamp() as u64;
        self.signer
            .sign(&Claims {
                iss: ISSUER.to_owned(),
                aud: AUDIENCE.to_owned(),
                sub,
                role,
                exp: now + 900,
                iat: now,
                sid: None,
            })
            .unwrap()
    }

    pub fn worker(&self, projection: Projection) -> Worker {
        Worker::new(self.db.pool.clone(), projection, 100)
    }

    /// Runs every projection until it has read everything appended so far. The commit-safe horizon is
    /// cluster-wide, so this waits (bounded) for transactions in other tests to end.
    pub async fn project(&self) {
        for projection in Projection::ALL {
            let worker = self.worker(projection);
            let subscription = Subscription::new(projection.name());
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                worker.drain().await.unwrap();
                if subscription.lag(&self.db.pool).await.unwrap().events_behind == 0 {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "projection {} did not catch up",
                    projection.name()
                );
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.command))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.get(format!("{}{path}", self.query));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn airports(&self, codes: &[(&str, &str)]) {
        for (code, tz) in codes {
            let body = json!({"code": code, "name": format!("{code} Airport"), "city": "City", "country": "FR", "time_zone": tz});
            let (status, body) = self.post("/api/v1/airports", &self.admin, &body).await;
            assert_eq!(status, 201, "{body}");
        }
    }

    /// Business rows 1–2 (`AC DF`, 8 seats), economy rows 10–14 (`ABC DEF`, 30 seats).
    pub async fn aircraft(&self) -> Uuid {
        let body = json!({"model": "Test A320", "cabins": [
            {"cabin": "business", "first_row": 1, "last_row": 2, "letters": "AC DF"},
            {"cabin": "economy", "first_row": 10, "last_row": 14, "letters": "ABC DEF", "exit_rows": [12]}
        ]});
        let (status, body) = self.post("/api/v1/aircraft", &self.admin, &body).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn flight(
        &self,
        number: &str,
        route: (&str, &str),
        departure: chrono::DateTime<Utc>,
        prices: (i64, i64),
        aircraft: Uuid,
    ) -> Uuid {
        let body = json!({
            "number": number, "origin": route.0, "destination": route.1,
            "departure_at": departure, "arrival_at": departure + Duration::hours(2),
            "aircraft_id": aircraft,
            "fares": [fare("business", prices.0), fare("economy", prices.1)]
        });
        let (status, body) = self.post("/api/v1/flights", &self.admin, &body).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn book(&self, token: &str, flight: Uuid, seats: &[&str]) -> Value {
        let passengers: Vec<Value> = seats
            .iter()
            .map(|s| json!({"first_name": "Ada", "last_name": "L", "type": "adult", "seat": s}))
            .collect();
        let body = json!({"flight_id": flight, "contact_email": "ada@example.com", "passengers": passengers});
        let (status, body) = self.post("/api/v1/bookings", token, &body).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    pub async fn pay(&self, token: &str, booking: &Value) {
        let body = json!({"card_token": "tok_visa", "amount": booking["total"]});
        let path = format!(
            "/api/v1/bookings/{}/payment",
            booking["id"].as_str().unwrap()
        );
        let (status, body) = self.post(&path, token, &body).await;
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
    json!({"cabin": cabin, "price": {"amount_minor": price, "currency": "EUR"},
        "rules": {"refundable": true, "cancellation_fee": {"amount_minor": 0, "currency": "EUR"}}})
}
