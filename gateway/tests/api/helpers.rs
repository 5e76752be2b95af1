use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::routing::any;
use gateway::config::{AuthSettings, Policy, RateLimitSettings, Settings, UpstreamSettings};
use infra::auth::{Claims, JwtSigner, Role, generate_key_pair};
use infra::settings::{DatabaseSettings, HttpSettings, RedisSettings};
use infra::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

pub struct TestApp {
    pub address: String,
    pub db: TestDatabase,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub signer: JwtSigner,
    pub private_pem: String,
}

pub fn policy(limit: u64) -> Policy {
    Policy {
        limit,
        window_secs: 60,
    }
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

pub fn settings(
    private_pem: &str,
    redis_url: &str,
    upstreams: UpstreamSettings,
    limits: RateLimitSettings,
) -> Settings {
    Settings {
        environment: "development".to_owned(),
        database: DatabaseSettings {
            url: "postgres://unused".to_owned().into(),
            max_connections: 4,
            acquire_timeout_ms: 10_000,
            read_url: None,
        },
        http: HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
            request_timeout_ms: 30_000,
            body_limit_bytes: 64 * 1024,
            header_timeout_ms: 10_000,
            shutdown_timeout_ms: 10_000,
            write_timeout_ms: 30_000,
        },
        redis: RedisSettings {
            url: redis_url.to_owned(),
            key_prefix: format!("test:{}:", Uuid::new_v4()),
            timeout_ms: 200,
        },
        auth: AuthSettings {
            private_key_pem: Some(private_pem.to_owned().into()),
            private_key_file: None,
            dev_key_dir: "/nonexistent".to_owned(),
            issuer: "airline-gateway".to_owned(),
            audience: "airline-api".to_owned(),
            token_ttl_secs: 900,
            refresh_ttl_secs: 86_400,
        },
        upstreams,
        rate_limits: limits,
        metrics_token: None,
        login_throttle: gateway::throttle::LoginThrottleSettings {
            account_free_failures: 5,
            ip_free_failures: 50,
            window_secs: 900,
            max_delay_secs: 900,
        },
        cors_origins: String::new(),
    }
}

pub fn generous() -> RateLimitSettings {
    RateLimitSettings {
        auth: policy(1000),
        signup: policy(1000),
        search: policy(1000),
        bookings: policy(1000),
        default: policy(1000),
    }
}

/// A gateway over the given upstreams.
pub async fn spawn_gateway(upstreams: UpstreamSettings, limits: RateLimitSettings) -> TestApp {
    let redis = std::env::var("REDIS_URL").expect("REDIS_URL must point at a Redis server");
    spawn_gateway_with(upstreams, limits, &redis).await
}

pub async fn spawn_gateway_with(
    upstreams: UpstreamSettings,
    limits: RateLimitSettings,
    redis: &str,
) -> TestApp {
    let db = TestDatabase::create(4).await;
    let (private_pem, _) = generate_key_pair().unwrap();
    let settings = settings(&private_pem, redis, upstreams, limits);
    let address = start(&settings, &db).await;
    TestApp {
        address,
        db,
        client: reqwest::Client::new(),
        signer: JwtSigner::new(&private_pem).unwrap(),
        settings,
        private_pem,
    }
}

/// Starts one more gateway instance with these settings on this database.
pub async fn start(settings: &Settings, db: &TestDatabase) -> String {
    let app = gateway::startup::Application::build_with(settings.clone(), db.pool.clone())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    address
}

pub fn upstreams(command: &str, query: &str, notifier: &str) -> UpstreamSettings {
    UpstreamSettings {
        command_api: command.to_owned(),
        query_api: query.to_owned(),
        notifier: notifier.to_owned(),
        projector: String::new(),
        timeout_ms: 1_000,
    }
}

/// The real command and query APIs, verifying with the gateway's public key.
pub async fn real_apis(private_pem: &str, db: &TestDatabase) -> (String, String) {
    let public = infra::auth::public_key_of(private_pem).unwrap();
    let http = HttpSettings {
        host: "127.0.0.1".to_owned(),
        port: 0,
        request_timeout_ms: 30_000,
        body_limit_bytes: 64 * 1024,
        header_timeout_ms: 10_000,
        shutdown_timeout_ms: 10_000,
        write_timeout_ms: 30_000,
    };
    let database = DatabaseSettings {
        url: "postgres://unused".to_owned().into(),
        max_connections: 4,
        acquire_timeout_ms: 10_000,
        read_url: None,
    };
    let command = command_api::startup::Application::build_with(
        command_api::config::Settings {
            database: database.clone(),
            http: http.clone(),
            auth: command_api::config::AuthSettings {
                public_key_pem: Some(public.clone()),
                public_key_file: None,
                issuer: "airline-gateway".to_owned(),
                audience: "airline-api".to_owned(),
            },
            booking: command_api::config::BookingSettings {
                hold_minutes: 15,
                sweep_interval_ms: 60_000,
                sweep_lease_ms: 0,
                idempotency_lease_ms: 2_000,
                recovery_interval_ms: 60_000,
                payment_recovery_after_ms: 0,
                max_attempts: 10,
                max_held_seats: 20,
            },
        },
        db.pool.clone(),
        Arc::new(command_api::clock::SystemClock),
        Arc::new(command_api::payments::TestCardProvider::default()),
    )
    .await
    .unwrap();
    let command_address = format!("http://127.0.0.1:{}", command.port());
    tokio::spawn(command.run_without_workers(std::future::pending()));
    let query = query_api::startup::Application::build_with(
        query_api::config::Settings {
            database,
            http,
            redis: RedisSettings {
                url: std::env::var("REDIS_URL").unwrap(),
                key_prefix: format!("test:{}:", Uuid::new_v4()),
                timeout_ms: 200,
            },
            auth: query_api::config::AuthSettings {
                public_key_pem: Some(public),
                public_key_file: None,
                issuer: "airline-gateway".to_owned(),
                audience: "airline-api".to_owned(),
            },
            cache: query_api::config::CacheSettings {
                search_ttl_secs: 60,
                seat_map_ttl_secs: 60,
            },
            feed: query_api::feed::FeedSettings::default(),
        },
        db.pool.clone(),
    )
    .await
    .unwrap();
    let query_address = format!("http://127.0.0.1:{}", query.port());
    tokio::spawn(query.run_until(std::future::pending()));
    (command_address, query_address)
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
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
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
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
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
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO users (user_id, email, password_hash, role) VALUES ($1, $2, 'x', $3)",
        )
        .bind(id)
        .bind(format!("{id}@example.com"))
        .bind(role.as_str())
        .execute(&self.db.pool)
        .await
        .unwrap();
        (id, self.session_token(id, role).await)
    }

    /// A token of a new session of an existing user.
    pub async fn session_token(&self, user: Uuid, role: Role) -> String {
        let opened =
            gateway::sessions::open(&self.db.pool, user, std::time::Duration::from_secs(3600))
                .await
                .unwrap();
        let mut claims = Self::claims(user, role, "airline-api", 900);
        claims.sid = Some(opened.session_id);
        self.signer.sign(&claims).unwrap()
    }

    pub fn claims(sub: Uuid, role: Role, aud: &str, exp_offset: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: "airline-gateway".to_owned(),
            aud: aud.to_owned(),
            sub,
            role,
            exp: (now + exp_offset) as u64,
            iat: now as u64,
            sid: None,
        }
    }

    /// A token of no session (the gateway refuses it; the APIs behind it check only the signature).
    pub fn token(&self, sub: Uuid, role: Role, aud: &str, exp_offset: i64) -> String {
        self.signer
            .sign(&Self::claims(sub, role, aud, exp_offset))
            .unwrap()
    }
}

/// The real notifier on `db`, verifying with the gateway's public key, webhooks refused inside.
pub async fn real_notifier(private_pem: &str, db: &TestDatabase) -> String {
    let id = Uuid::new_v4().simple().to_string();
    let settings = notifier::config::Settings {
        database: test_database(),
        http: test_http(),
        amqp: infra::amqp::AmqpSettings {
            url: std::env::var("AMQP_URL").expect("AMQP_URL must point at RabbitMQ"),
            exchange: format!("test.{id}.events"),
            queue_prefix: format!("test.{id}.notifier"),
            expires_ms: Some(120_000),
            timeout_ms: 5_000,
        },
        smtp: notifier::config::SmtpSettings {
            url: "smtp://127.0.0.1:1".to_owned(),
            from: "Airline <no-reply@airline.example>".to_owned(),
        },
        auth: infra::settings::TokenSettings {
            public_key_pem: Some(infra::auth::public_key_of(private_pem).unwrap()),
            public_key_file: None,
            issuer: "airline-gateway".to_owned(),
            audience: "airline-api".to_owned(),
        },
        retry: notifier::config::RetrySettings {
            delays_ms: "100".to_owned(),
            webhook_timeout_ms: 1_000,
        },
        webhooks: notifier::config::WebhookSettings {
            allow_private_destinations: false,
        },
    };
    let app = notifier::startup::Application::build_with(settings, db.pool.clone())
        .await
        .unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
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

fn test_http() -> HttpSettings {
    HttpSettings {
        host: "127.0.0.1".to_owned(),
        port: 0,
        request_timeout_ms: 10_000,
        body_limit_bytes: 16 * 1024,
        header_timeout_ms: 10_000,
        shutdown_timeout_ms: 10_000,
        write_timeout_ms: 30_000,
    }
}

fn test_database() -> DatabaseSettings {
    DatabaseSettings {
        url: "postgres://unused".to_owned().into(),
        max_connections: 4,
        acquire_timeout_ms: 10_000,
        read_url: None,
    }
}
