//! An isolated system for one run: a fresh database, its own Redis prefix, the command API, the query
//! API (with and without the cache), the gateway and the projector, all in this process on loopback.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use command_api::executor::{CommandMeta, Executor};
use domain::aircraft::{AircraftCommand, CabinLayout, SeatLayout};
use domain::airport::AirportCommand;
use domain::flight::{Fare, FareRules, Flight, FlightCommand, ScheduleFlight};
use domain::values::*;
use infra::auth::{Claims, JwtSigner, Role, generate_key_pair};
use infra::settings::{DatabaseSettings, HttpSettings, RedisSettings};
use infra::supervisor::{Spec, Supervisor};
use infra::testing::TestDatabase;
use projector::projections::Projection;
use projector::worker::Worker;
use sqlx::PgPool;
use uuid::Uuid;

/// The running system.
pub struct System {
    pub pool: PgPool,
    pub command: String,
    pub query: String,
    pub query_uncached: String,
    pub gateway: String,
    pub flights: Arc<Executor>,
    pub aircraft: AircraftId,
    pub layout: SeatLayout,
    pub signer: JwtSigner,
    _db: TestDatabase,
    stop: std::sync::Mutex<Option<Supervisor>>,
}

fn http() -> HttpSettings {
    HttpSettings {
        host: "127.0.0.1".to_owned(),
        port: 0,
        request_timeout_ms: 30_000,
        body_limit_bytes: 64 * 1024,
        header_timeout_ms: 10_000,
        shutdown_timeout_ms: 10_000,
        write_timeout_ms: 30_000,
    }
}

fn database() -> DatabaseSettings {
    DatabaseSettings {
        url: "postgres://unused".to_owned().into(),
        max_connections: 20,
        acquire_timeout_ms: 30_000,
    }
}

async fn query_api(pool: &PgPool, public: &str, redis: RedisSettings) -> anyhow::Result<String> {
    let app = query_api::startup::Application::build_with(
        query_api::config::Settings {
            database: database(),
            http: http(),
            redis,
            auth: query_api::config::AuthSettings {
                public_key_pem: Some(public.to_owned()),
                public_key_file: None,
                issuer: "airline-gateway".to_owned(),
                audience: "airline-api".to_owned(),
            },
            cache: query_api::config::CacheSettings {
                search_ttl_secs: 300,
                seat_map_ttl_secs: 300,
            },
            feed: query_api::feed::FeedSettings::default(),
        },
        pool.clone(),
    )
    .await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    Ok(address)
}

impl System {
    /// Starts everything.
    ///
    /// # Errors
    /// Unreachable services.
    pub async fn start() -> anyhow::Result<Self> {
        let db = TestDatabase::create(60).await;
        let pool = db.pool.clone();
        let (private, public) = generate_key_pair()?;
        let command = command_api::startup::Application::build_with(
            command_api::config::Settings {
                database: database(),
                http: http(),
                auth: command_api::config::AuthSettings {
                    public_key_pem: Some(public.clone()),
                    public_key_file: None,
                    issuer: "airline-gateway".to_owned(),
                    audience: "airline-api".to_owned(),
                },
                booking: command_api::config::BookingSettings {
                    hold_minutes: 60,
                    sweep_interval_ms: 60_000,
                    sweep_lease_ms: 30_000,
                    idempotency_lease_ms: 15_000,
                    recovery_interval_ms: 60_000,
                    payment_recovery_after_ms: 30_000,
                    max_attempts: 50,
                    // One principal stands in for many customers here; the cap has its own tests.
                    max_held_seats: 100_000,
                },
            },
            pool.clone(),
            Arc::new(command_api::clock::SystemClock),
            Arc::new(command_api::payments::TestCardProvider::default()),
        )
        .await?;
        let command_address = format!("http://127.0.0.1:{}", command.port());
        tokio::spawn(command.run_without_workers(std::future::pending()));

        let redis = RedisSettings {
            url: std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
            key_prefix: format!("bench:{}:", Uuid::new_v4()),
            timeout_ms: 100,
        };
        let query = query_api(&pool, &public, redis.clone()).await?;
        let no_cache = RedisSettings {
            url: "disabled".to_owned(),
            ..redis.clone()
        };
        let query_uncached = query_api(&pool, &public, no_cache).await?;

        let mut gateway_settings = gateway::config::Settings::load().context("gateway defaults")?;
        gateway_settings.http = http();
        gateway_settings.redis = redis.clone();
        gateway_settings.auth.private_key_pem = Some(private.clone().into());
        gateway_settings.upstreams.command_api = command_address.clone();
        gateway_settings.upstreams.query_api = query.clone();
        let unlimited = gateway::config::Policy {
            limit: u64::MAX / 2,
            window_secs: 60,
        };
        gateway_settings.rate_limits = gateway::config::RateLimitSettings {
            auth: unlimited,
            signup: unlimited,
            search: unlimited,
            bookings: unlimited,
            default: unlimited,
        };
        let gateway =
            gateway::startup::Application::build_with(gateway_settings, pool.clone()).await?;
        let gateway_address = format!("http://127.0.0.1:{}", gateway.port());
        tokio::spawn(gateway.run_until(std::future::pending()));

        let mut projector = Supervisor::new();
        for projection in Projection::ALL {
            let worker = Arc::new(Worker::new(pool.clone(), projection, 500));
            projector.spawn(
                Spec::critical(projection.name(), Duration::from_secs(30)),
                move |beat, stop| {
                    let worker = worker.clone();
                    async move { worker.run(Duration::from_millis(500), stop, &beat).await }
                },
            );
        }
        let stop = std::sync::Mutex::new(Some(projector));

        let flights = Arc::new(Executor::new(pool.clone(), 50));
        let (aircraft, layout) = reference_data(&pool).await?;
        Ok(Self {
            pool,
            command: command_address,
            query,
            query_uncached,
            gateway: gateway_address,
            flights,
            aircraft,
            layout,
            signer: JwtSigner::new(&private)?,
            _db: db,
            stop,
        })
    }

    /// Stops the background projector workers (before the log scenarios).
    pub fn stop_projector(&self) {
        if let Some(projector) = self.stop.lock().ok().and_then(|mut p| p.take()) {
            tokio::spawn(projector.shutdown(Duration::from_secs(5)));
        }
    }

    /// A customer token.
    pub fn token(&self) -> String {
        let now = Utc::now().timestamp() as u64;
        self.signer
            .sign(&Claims {
                iss: "airline-gateway".to_owned(),
                aud: "airline-api".to_owned(),
                sub: Uuid::new_v4(),
                role: Role::Customer,
                exp: now + 3600,
                iat: now,
                sid: None,
            })
            .unwrap_or_default()
    }

    /// A customer with a session, and a token of it the gateway accepts.
    ///
    /// # Errors
    /// Database failures.
    pub async fn session_token(&self) -> anyhow::Result<String> {
        self.session_token_as(Role::Customer).await
    }

    /// An account of `role` with a session, and a token of it the gateway accepts.
    ///
    /// # Errors
    /// Database failures.
    pub async fn session_token_as(&self, role: Role) -> anyhow::Result<String> {
        let user = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO users (user_id, email, password_hash, role) VALUES ($1, $2, 'x', $3)",
        )
        .bind(user)
        .bind(format!("{user}@bench.example"))
        .bind(role.as_str())
        .execute(&self.pool)
        .await?;
        let session =
            gateway::sessions::open(&self.pool, user, std::time::Duration::from_secs(3600)).await?;
        let now = Utc::now().timestamp() as u64;
        Ok(self.signer.sign(&Claims {
            iss: "airline-gateway".to_owned(),
            aud: "airline-api".to_owned(),
            sub: user,
            role,
            exp: now + 3600,
            iat: now,
            sid: Some(session.session_id),
        })?)
    }

    /// Schedules a CDG→LHR flight `days` ahead at `hour`; returns its id.
    pub async fn flight(&self, days: i64, hour: i64) -> anyhow::Result<Uuid> {
        let eur = Currency::parse("EUR")?;
        let id = FlightId::from_uuid(Uuid::now_v7());
        let departure = Utc::now() + chrono::Duration::days(days) + chrono::Duration::hours(hour);
        let fare = |cabin, price| -> anyhow::Result<Fare> {
            Ok(Fare {
                cabin,
                price: Money::try_new(price, eur)?,
                rules: FareRules {
                    refundable: true,
                    cancellation_fee: Money::try_new(0, eur)?,
                },
            })
        };
        let command = FlightCommand::Schedule(Box::new(ScheduleFlight {
            id,
            number: FlightNumber::parse("BE100")?,
            origin: AirportCode::parse("CDG")?,
            destination: AirportCode::parse("LHR")?,
            departure_at: departure,
            arrival_at: departure + chrono::Duration::minutes(75),
            aircraft_id: self.aircraft,
            layout: self.layout.clone(),
            fares: vec![
                fare(Cabin::Business, 40_000)?,
                fare(Cabin::Economy, 9_000 + hour * 100)?,
            ],
            now: Utc::now(),
        }));
        self.flights
            .execute::<Flight>(
                (&id.to_string(), None),
                "ScheduleFlight",
                command,
                CommandMeta::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(*id.as_uuid())
    }

    /// Every seat of the layout, front to back.
    pub fn seats(&self) -> Vec<String> {
        self.layout
            .seats()
            .iter()
            .map(|s| s.seat.to_string())
            .collect()
    }
}

/// CDG and LHR, and an A320 with 174 seats (12 business, 162 economy); no exit rows, so any adult may
/// sit anywhere.
async fn reference_data(pool: &PgPool) -> anyhow::Result<(AircraftId, SeatLayout)> {
    let executor = Arc::new(Executor::new(pool.clone(), 5));
    for (code, tz) in [("CDG", "Europe/Paris"), ("LHR", "Europe/London")] {
        let command = AirportCommand::Register {
            code: AirportCode::parse(code)?,
            name: Label::parse(code)?,
            city: Label::parse(code)?,
            country: CountryCode::parse("FR")?,
            time_zone: TimeZone::parse(tz)?,
        };
        executor
            .execute::<domain::airport::Airport>(
                (code, None),
                "RegisterAirport",
                command,
                CommandMeta::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let layout = SeatLayout::try_new(vec![
        CabinLayout {
            cabin: Cabin::Business,
            first_row: 1,
            last_row: 3,
            letters: "AC DF".to_owned(),
            exit_rows: vec![],
        },
        CabinLayout {
            cabin: Cabin::Economy,
            first_row: 4,
            last_row: 30,
            letters: "ABC DEF".to_owned(),
            exit_rows: vec![],
        },
    ])?;
    let id = AircraftId::from_uuid(Uuid::now_v7());
    let command = AircraftCommand::Register {
        id,
        model: Label::parse("A320")?,
        layout: layout.clone(),
    };
    executor
        .execute::<domain::aircraft::Aircraft>(
            (&id.to_string(), None),
            "RegisterAircraft",
            command,
            CommandMeta::default(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((id, layout))
}
