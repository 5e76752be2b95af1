//! The gateway tests' app: a gateway on a test database in front of upstreams started here (an echo, a
//! dead port, or the real APIs); built on `testkit`.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::routing::any;
use gateway::config::{Policy, RateLimitSettings, Settings, UpstreamSettings};
use infra::auth::{Claims, JwtSigner, Role};
use infra::settings::HttpSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::{Keys, TestDatabase, settings, spawn};
use uuid::Uuid;

pub use testkit::settings::upstreams;

pub struct TestApp {
    pub address: String,
    pub db: TestDatabase,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub signer: JwtSigner,
    pub private_pem: String,
}

pub fn policy(limit: u64) -> Policy {
    settings::policy(limit)
}

/// An upstream that answers every request with what it received: method, path, headers and body.
pub async fn echo_upstream() -> String {
    let app = Router::new()
        .route(
            "/slow",
            any(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                "late"
            }),
        )
        .fallback(any(|req: Request| async move {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let headers: serde_json::Map<String, Value> = parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default())))
                .collect();
            axum::Json(json!({
                "method": parts.method.as_str(),
                "path": parts.uri.path_and_query().map(|p| p.as_str()),
                "headers": headers,
                "body": String::from_utf8_lossy(&bytes),
                "length": bytes.len(),
            }))
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// A port nothing listens on.
pub fn dead_upstream() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    address
}

pub fn generous() -> RateLimitSettings {
    settings::rate_limits(1000)
}

/// A gateway over the given upstreams.
pub async fn spawn_gateway(upstreams: UpstreamSettings, limits: RateLimitSettings) -> TestApp {
    spawn_gateway_with(upstreams, limits, &testkit::redis_url()).await
}

pub async fn spawn_gateway_with(
    upstreams: UpstreamSettings,
    limits: RateLimitSettings,
    redis: &str,
) -> TestApp {
    let db = TestDatabase::create(4).await;
    let Keys {
        private_pem,
        signer,
        ..
    } = Keys::generate();
    let settings = settings::gateway(&private_pem, &settings::redis(redis), upstreams, limits);
    let address = start(&settings, &db).await;
    TestApp {
        address,
        db,
        client: reqwest::Client::new(),
        signer,
        settings,
        private_pem,
    }
}

/// Starts one more gateway instance with these settings on this database.
pub async fn start(settings: &Settings, db: &TestDatabase) -> String {
    spawn::gateway(settings.clone(), db.pool.clone()).await
}

/// The HTTP settings of the APIs behind the gateway: bodies as large as the gateway lets through.
fn upstream_http() -> HttpSettings {
    HttpSettings {
        body_limit_bytes: 64 * 1024,
        ..settings::http()
    }
}

/// The real command and query APIs, verifying with the gateway's public key.
pub async fn real_apis(private_pem: &str, db: &TestDatabase) -> (String, String) {
    let public = Keys::of_private(private_pem).public_pem;
    let mut command = settings::command(&public);
    command.database = settings::database(4);
    command.http = upstream_http();
    command.booking.max_attempts = 10;
    command.booking.max_held_seats = 20;
    let (command, _) = spawn::command_api(
        command,
        db.pool.clone(),
        Arc::new(command_api::clock::SystemClock),
        Arc::new(command_api::payments::TestCardProvider::default()),
    )
    .await;
    let mut query = settings::query(&public, &settings::redis(&testkit::redis_url()));
    query.http = upstream_http();
    let query = spawn::query_api(query, db.pool.clone()).await;
    (command, query)
}

impl TestApp {
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        testkit::send(request).await.into_triple()
    }

    pub async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.get(format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        testkit::send(request).await.into_triple()
    }

    pub async fn signup(&self, email: &str) -> Value {
        let (status, _, body) = self
            .post(
                "/api/v1/auth/signup",
                None,
                &json!({"email": email, "password": "Correct-Horse-42"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// A user of `role` made in the database, with a session and a token of it.
    pub async fn user_with_token(&self, role: Role) -> (Uuid, String) {
        let id = testkit::auth::insert_user(&self.db.pool, role, "example.com")
            .await
            .unwrap();
        (id, self.session_token(id, role).await)
    }

    /// A token of a new session of an existing user.
    pub async fn session_token(&self, user: Uuid, role: Role) -> String {
        testkit::auth::session_token(&self.db.pool, &self.signer, (user, role), 900)
            .await
            .unwrap()
    }

    pub fn claims(sub: Uuid, role: Role, aud: &str, exp_offset: i64) -> Claims {
        testkit::auth::claims(sub, role, aud, exp_offset)
    }

    /// A token of no session (the gateway refuses it; the APIs behind it check only the signature).
    pub fn token(&self, sub: Uuid, role: Role, aud: &str, exp_offset: i64) -> String {
        testkit::auth::sign(&self.signer, &Self::claims(sub, role, aud, exp_offset))
    }
}

/// The real notifier on `db`, verifying with the gateway's public key, webhooks refused inside.
pub async fn real_notifier(private_pem: &str, db: &TestDatabase) -> String {
    let public = Keys::of_private(private_pem).public_pem;
    let amqp = settings::amqp(&testkit::amqp_url());
    let mut settings = settings::notifier(&public, &amqp, "smtp://127.0.0.1:1");
    settings.retry = notifier::config::RetrySettings {
        delays_ms: "100".to_owned(),
        webhook_timeout_ms: 1_000,
    };
    settings.webhooks.allow_private_destinations = false;
    let (address, _) = spawn::notifier(settings, db.pool.clone(), std::future::pending()).await;
    address
}

/// A gateway in front of the real command and query APIs (the notifier's address dead), and its
/// address: the gateway `TestApp` itself points at dead upstreams.
pub async fn over_real_apis() -> (TestApp, String) {
    let dead = dead_upstream();
    let app = spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await;
    let (command, query) = real_apis(&app.private_pem, &app.db).await;
    let mut settings = app.settings.clone();
    settings.upstreams = upstreams(&command, &query, &dead);
    let address = start(&settings, &app.db).await;
    (app, address)
}
