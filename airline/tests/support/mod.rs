//! `airline all` as a child process on free ports, with its own database, Redis prefix, broker names
//! and key directory; it can be killed (SIGKILL) and started again on the same ports and data.
#![allow(dead_code)] // Each test binary uses part of it.

use std::process::Stdio;
use std::time::Duration;

use chrono::{Duration as Span, Utc};
use infra::auth::{JwtSigner, Role};
use notifier::sink::SmtpSink;
use serde_json::{Value, json};
use testkit::TestDatabase;
use tokio::process::{Child, Command};
use uuid::Uuid;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub use testkit::database_url;

/// A running (or killed) `airline all`.
pub struct Airline {
    /// The gateway's base URL.
    pub gateway: String,
    /// The command API's base URL.
    pub command: String,
    /// The environment it runs with.
    pub env: Vec<(String, String)>,
    child: Option<Child>,
    keys: TempDir,
}

impl Airline {
    /// Starts `airline all` on `db`, mail to `smtp_url`, with `extra` environment on top.
    pub async fn start(db: &TestDatabase, smtp_url: &str, extra: &[(&str, &str)]) -> Self {
        let id = Uuid::new_v4().simple().to_string();
        let keys = std::env::temp_dir().join(format!("airline-keys-{id}"));
        let (gateway_port, command_port) = (free_port(), free_port());
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database_url(&db.name)),
            ("SMTP_URL".into(), smtp_url.to_owned()),
            ("APP_REDIS__KEY_PREFIX".into(), format!("test:{id}:")),
            ("APP_AMQP__EXCHANGE".into(), format!("test.{id}.events")),
            (
                "APP_AMQP__QUEUE_PREFIX".into(),
                format!("test.{id}.notifier"),
            ),
            ("APP_AMQP__EXPIRES_MS".into(), "120000".into()),
            ("APP_AUTH__DEV_KEY_DIR".into(), keys.display().to_string()),
            ("APP_RETRY__DELAYS_MS".into(), "100,200,400".into()),
            // One token stands in for a crowd of customers; the hold cap has its own tests.
            ("APP_BOOKING__MAX_HELD_SEATS".into(), "100000".into()),
            (
                "APP_BOOKING__MAX_HELD_SEATS_PER_CLIENT".into(),
                "100000".into(),
            ),
            ("APP_PROJECTOR__POLL_INTERVAL_MS".into(), "100".into()),
            ("APP_DATABASE__MAX_CONNECTIONS".into(), "12".into()),
            (
                "AIRLINE_GATEWAY_ADDR".into(),
                format!("127.0.0.1:{gateway_port}"),
            ),
            (
                "AIRLINE_COMMAND_API_ADDR".into(),
                format!("127.0.0.1:{command_port}"),
            ),
            (
                "AIRLINE_QUERY_API_ADDR".into(),
                format!("127.0.0.1:{}", free_port()),
            ),
            (
                "AIRLINE_PROJECTOR_ADDR".into(),
                format!("127.0.0.1:{}", free_port()),
            ),
            (
                "AIRLINE_NOTIFIER_ADDR".into(),
                format!("127.0.0.1:{}", free_port()),
            ),
        ];
        for (key, value) in [
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
        ] {
            env.push((
                key.into(),
                std::env::var(key).unwrap_or_else(|_| value.to_owned()),
            ));
        }
        for (key, value) in extra {
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let mut airline = Self {
            gateway: format!("http://127.0.0.1:{gateway_port}"),
            command: format!("http://127.0.0.1:{command_port}"),
            env,
            child: None,
            keys: TempDir(keys),
        };
        airline.launch(&[]).await;
        airline
    }

    /// The development private key the child made (tests sign their own tokens with it).
    pub fn private_key(&self) -> String {
        std::fs::read_to_string(self.keys.0.join("jwt-private.pem")).unwrap()
    }

    /// The first admin, made on the command line (`airline admin create`) as an operator would; their
    /// token through the gateway.
    pub async fn create_admin(&self, api: &Client) -> String {
        let (email, password) = ("ops@airline.example", "Ops-Password-2026");
        let status = Command::new(env!("CARGO_BIN_EXE_airline"))
            .args(["admin", "create", "--email", email, "--password", password])
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(status.success());
        api.token(email, password).await
    }

    /// Starts the process again (after [`Airline::kill`]) with `extra` environment for this run only,
    /// and waits until it is ready.
    pub async fn launch(&mut self, extra: &[(&str, &str)]) {
        let log = if std::env::var("TEST_LOG").is_ok() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let child = Command::new(env!("CARGO_BIN_EXE_airline"))
            .arg("all")
            .envs(self.env.iter().cloned())
            .envs(extra.iter().map(|(k, v)| (*k, *v)))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&self) {
        testkit::spawn::wait_ready(&self.gateway, Duration::from_secs(60)).await;
    }

    /// SIGKILL, as `kill -9`: no shutdown, no flush, nothing finished.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Starts one more command API alone (`airline command-api`), a second process on the same database
    /// and keys, on its own port; its base URL and the child (killed on drop).
    pub async fn second_command_api(&self) -> (String, Child) {
        self.command_api_on(free_port()).await
    }

    /// [`Airline::second_command_api`] again on the port of `base` (a restart after a kill).
    pub async fn second_command_api_on(&self, base: &str) -> (String, Child) {
        let port = base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap();
        self.command_api_on(port).await
    }

    async fn command_api_on(&self, port: u16) -> (String, Child) {
        let public = self.keys.0.join("jwt-public.pem");
        let log = if std::env::var("TEST_LOG").is_ok() {
            Stdio::inherit()
        } else {
            Stdio::null()
        };
        let child = Command::new(env!("CARGO_BIN_EXE_airline"))
            .arg("command-api")
            .envs(self.env.iter().cloned())
            .env("APP_HTTP__HOST", "127.0.0.1")
            .env("APP_HTTP__PORT", port.to_string())
            .env("APP_AUTH__PUBLIC_KEY_FILE", public.display().to_string())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        testkit::spawn::wait_ready(&base, Duration::from_secs(60)).await;
        (base, child)
    }

    /// `http://<addr>` of a service, by its `AIRLINE_*_ADDR` variable (`AIRLINE_PROJECTOR_ADDR`, ...).
    pub fn url(&self, var: &str) -> String {
        let addr = self
            .env
            .iter()
            .find(|(k, _)| k == var)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{var} is not set"));
        format!("http://{addr}")
    }

    /// Sends SIGTERM, as a process manager stopping it.
    pub fn terminate(&self) {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .expect("airline all is not running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid} failed");
    }

    /// Waits up to `bound` for the process to exit; its status, or `None` if it is still running.
    pub async fn exit_within(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let status = tokio::time::timeout(bound, child.wait()).await.ok()?.ok();
        self.child = None;
        status
    }

    /// Waits for the process to end by itself (a failpoint that aborts it).
    pub async fn wait_exit(&mut self) {
        if let Some(mut child) = self.child.take() {
            let waited = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
            assert!(waited.is_ok(), "airline all did not stop");
        }
    }
}

/// A new account of `role` with a session, and a token of that session signed with the child's key, for
/// `audience`: [`testkit::GATEWAY_AUDIENCE`] for the gateway (which checks the session on every request),
/// [`testkit::AUDIENCE`] for a service called straight (which takes only what the gateway would forward).
pub async fn session_token(
    db: &TestDatabase,
    signer: &JwtSigner,
    role: Role,
    audience: &str,
) -> String {
    use sqlx::Connection;
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    // A connection of its own, closed after: the fault tests end every session but their pool's one.
    let mut conn = sqlx::PgConnection::connect_with(&db.options).await.unwrap();
    sqlx::query("INSERT INTO users (user_id, email, password_hash, role) VALUES ($1, $2, 'x', $3)")
        .bind(user)
        .bind(format!("{user}@example.com"))
        .bind(role.as_str())
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO sessions (session_id, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')",
    )
    .bind(session)
    .bind(user)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let mut claims = testkit::auth::claims(user, role, audience, 3600);
    claims.sid = Some(session);
    testkit::auth::sign(signer, &claims)
}

/// What a request came to: its status and body, or `None` while the process is down.
pub async fn send(request: reqwest::RequestBuilder) -> Option<(u16, Value)> {
    let response = request.timeout(Duration::from_secs(10)).send().await.ok()?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Some((status, body))
}

/// A running `airline all` with airports, an aircraft and flights, and the tokens to use it.
pub struct Setup {
    pub airline: Airline,
    pub db: TestDatabase,
    pub sink: SmtpSink,
    /// Tokens for the command API called straight.
    pub admin: String,
    pub customer: String,
    /// A customer's token for the gateway.
    pub gateway_customer: String,
    pub flights: Vec<Uuid>,
    pub http: reqwest::Client,
}

/// Airports, an aircraft of 30 seats without exit rows, and `flights` flights.
pub async fn setup(flights: usize, extra: &[(&str, &str)]) -> Setup {
    let db = TestDatabase::create(4).await;
    let sink = SmtpSink::start("127.0.0.1:0").await.unwrap();
    let airline = Airline::start(&db, &sink.url(), extra).await;
    let signer = JwtSigner::new(&airline.private_key()).unwrap();
    let admin = session_token(&db, &signer, Role::Admin, testkit::AUDIENCE).await;
    let customer = session_token(&db, &signer, Role::Customer, testkit::AUDIENCE).await;
    let gateway_customer =
        session_token(&db, &signer, Role::Customer, testkit::GATEWAY_AUDIENCE).await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", airline.command))
            .bearer_auth(&admin)
            .json(&body)
    };
    for code in ["CDG", "JFK"] {
        let body = testkit::bodies::airport(code, code, "City", "Europe/Paris");
        assert_eq!(send(post("/api/v1/airports", body)).await.unwrap().0, 201);
    }
    let aircraft = json!({"model": "Crash 30", "cabins": [
        {"cabin": "economy", "first_row": 1, "last_row": 5, "letters": "ABC DEF"}]});
    let (status, aircraft) = send(post("/api/v1/aircraft", aircraft)).await.unwrap();
    assert_eq!(status, 201);
    let mut ids = Vec::new();
    // Economy's 30 seats sell as three nested booking classes, so every kill and fault below also
    // goes through class choice and `verify`'s class limits: Q (8), B (20 with Q), Y (the seats).
    let class = |code: &str, price: i64, limit: Option<u32>| {
        let mut fare = testkit::bodies::fare("economy", price, true, 2500);
        fare["class"] = json!(code);
        if let Some(limit) = limit {
            fare["limit"] = json!(limit);
        }
        fare
    };
    let fares = [
        class("Y", 12_000, None),
        class("B", 10_000, Some(20)),
        class("Q", 8_000, Some(8)),
    ];
    for n in 0..flights {
        let departure = Utc::now() + Span::days(20 + n as i64);
        let flight = testkit::bodies::flight(
            &format!("KL{}", 100 + n),
            ("CDG", "JFK"),
            (departure, Span::hours(8)),
            &aircraft["id"],
            &fares,
        );
        let (status, body) = send(post("/api/v1/flights", flight)).await.unwrap();
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().parse().unwrap());
    }
    Setup {
        airline,
        db,
        sink,
        admin,
        customer,
        gateway_customer,
        flights: ids,
        http,
    }
}

/// A client of the gateway (JSON in and out).
pub struct Client {
    /// HTTP.
    pub http: reqwest::Client,
    /// The gateway's base URL.
    pub base: String,
}

impl Client {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    /// Reads until `done` holds: the read side follows the write side asynchronously.
    pub async fn eventually(
        &self,
        path: &str,
        token: Option<&str>,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.get(path, token).await;
            if status == 200 && done(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} never got there: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn token(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }
}
