//! An isolated system for one run: a fresh database, its own Redis prefix and exchange, the command API,
//! the query API (with and without the cache), the gateway, the projector with the relay, and the
//! notifier mailing into a local SMTP sink, all in this process on loopback.
//!
//! Past 400 lines on purpose: starting every service of one run, its lag and its catch-up read together.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use command_api::executor::{CommandMeta, Executor};
use domain::aircraft::{CabinLayout, SeatLayout};
use domain::flight::{ClassCode, Fare};
use domain::values::{AircraftId, Cabin};
use infra::auth::{JwtSigner, Role, generate_key_pair};
use infra::event_log::Subscription;
use infra::settings::ServiceSettings;
use infra::settings::{DatabaseSettings, HttpSettings, RedisSettings};
use notifier::config::SmtpSettings;
use notifier::email::{EmailHandler, Mailer};
use notifier::sink::SmtpSink;
use projector::projections::Projection;
use sqlx::PgPool;
use testkit::seed::{self, FlightPlan};
use testkit::{TestDatabase, settings, spawn};
use uuid::Uuid;

/// How far behind the event log the workers are.
#[derive(Debug, Clone, Copy)]
pub struct WorkerLag {
    /// Events the furthest-behind projection has still to apply.
    pub projections: i64,
    /// Events the relay has still to publish.
    pub relay: i64,
    /// Emails due for committed booking events that the SMTP sink has not received yet.
    pub emails: i64,
}

impl WorkerLag {
    fn level(&self) -> bool {
        self.projections == 0 && self.relay == 0 && self.emails == 0
    }
}

/// The workers at the end of a scenario, and how long they took to catch up from there.
#[derive(Debug, Clone, Copy)]
pub struct CaughtUp {
    pub at_end: WorkerLag,
    pub seconds: f64,
}

impl std::fmt::Display for CaughtUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "workers at the end: projections {} events behind, relay {}, {} emails pending; level {:.1} s later",
            self.at_end.projections, self.at_end.relay, self.at_end.emails, self.seconds
        )
    }
}

async fn until(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Query APIs that read from the local streaming replica, and a connection to it.
pub struct Replica {
    pub pool: PgPool,
    pub query: String,
    pub query_uncached: String,
}

impl Replica {
    /// Waits until the replica has replayed everything the primary has written so far.
    ///
    /// # Errors
    /// A replica more than two minutes behind; database failures.
    pub async fn catch_up(&self, primary: &PgPool) -> anyhow::Result<()> {
        let target: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(primary)
            .await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let caught: bool = sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn")
                .bind(&target)
                .fetch_one(&self.pool)
                .await?;
            if caught {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "the replica did not catch up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The running system.
pub struct System {
    pub pool: PgPool,
    pub command: String,
    pub query: String,
    pub query_uncached: String,
    /// Query APIs reading from a streaming replica (`--replica`).
    pub replica: Option<Replica>,
    pub gateway: String,
    pub flights: Arc<Executor>,
    pub aircraft: AircraftId,
    pub layout: SeatLayout,
    pub signer: JwtSigner,
    /// The public half of the token key, for servers the harness starts itself.
    pub public_key: String,
    /// Where the notifier mails.
    pub sink: SmtpSink,
    /// Booking event types that each get one email.
    mailed_types: Vec<String>,
    _db: TestDatabase,
    workers: tokio::sync::Mutex<Option<Workers>>,
}

type Workers = (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
);

/// The HTTP settings every server of the run uses.
pub fn http() -> HttpSettings {
    HttpSettings {
        body_limit_bytes: 64 * 1024,
        ..settings::http()
    }
}

fn database() -> DatabaseSettings {
    DatabaseSettings {
        acquire_timeout_ms: 30_000,
        ..settings::database(20)
    }
}

async fn query_api(
    pool: &PgPool,
    public: &str,
    redis: RedisSettings,
    read_url: Option<String>,
) -> String {
    let mut settings = settings::query(public, &redis);
    settings.database = DatabaseSettings {
        read_url: read_url.map(Into::into),
        ..database()
    };
    settings.http = http();
    settings.cache = query_api::config::CacheSettings {
        search_ttl_secs: 300,
        seat_map_ttl_secs: 300,
    };
    spawn::query_api(settings, pool.clone()).await
}

/// The command API of the run, its workers off (the scenarios drive what they measure); its address.
async fn command(pool: &PgPool, public: &str) -> String {
    let mut settings = settings::command(public);
    settings.database = database();
    settings.http = http();
    settings.booking = command_api::config::BookingSettings {
        hold_minutes: 60,
        sweep_interval_ms: 60_000,
        sweep_lease_ms: 30_000,
        idempotency_lease_ms: 15_000,
        recovery_interval_ms: 60_000,
        payment_recovery_after_ms: 30_000,
        max_attempts: 50,
        // One principal stands in for many customers here; the cap has its own tests.
        max_held_seats: 100_000,
        max_held_seats_per_client: 100_000,
        queue: Default::default(),
        new_accounts: Default::default(),
        close_minutes_before_departure: 45,
        close_interval_ms: 60_000,
        denied_boarding_compensation_minor: 25_000,
    };
    let (address, _) = spawn::command_api(
        settings,
        pool.clone(),
        Arc::new(command_api::clock::SystemClock),
        Arc::new(command_api::payments::TestCardProvider::default()),
    )
    .await;
    address
}

impl System {
    /// Starts everything.
    ///
    /// # Errors
    /// Unreachable services.
    pub async fn start(replica_port: Option<u16>) -> anyhow::Result<Self> {
        let db = TestDatabase::create(60).await;
        let pool = db.pool.clone();
        let (private, public) = generate_key_pair()?;
        let command_address = command(&pool, &public).await;

        let redis = RedisSettings {
            url: std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
            key_prefix: format!("bench:{}:", Uuid::new_v4()),
            timeout_ms: 100,
        };
        let query = query_api(&pool, &public, redis.clone(), None).await;
        let no_cache = RedisSettings {
            url: "disabled".to_owned(),
            ..redis.clone()
        };
        let query_uncached = query_api(&pool, &public, no_cache.clone(), None).await;
        // With `--replica`: query APIs that read from the streaming replica `scripts/bench` started.
        let replica = match replica_port {
            None => None,
            Some(port) => {
                let url = format!("postgres://postgres@127.0.0.1:{port}/{}", db.name);
                let cached = query_api(&pool, &public, redis.clone(), Some(url.clone())).await;
                let uncached = query_api(&pool, &public, no_cache, Some(url.clone())).await;
                let replica_pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_lazy(&url)?;
                Some(Replica {
                    pool: replica_pool,
                    query: cached,
                    query_uncached: uncached,
                })
            }
        };

        let mut gateway_settings = gateway::config::Settings::load().context("gateway defaults")?;
        gateway_settings.http = http();
        gateway_settings.redis = redis.clone();
        gateway_settings.auth.private_key_pem = Some(private.clone().into());
        gateway_settings.upstreams.command_api = command_address.clone();
        gateway_settings.upstreams.query_api = query.clone();
        gateway_settings.rate_limits = settings::rate_limits(u64::MAX / 2);
        let gateway = spawn::gateway(gateway_settings, pool.clone()).await;

        // The projector (every projection and the relay) and the notifier (email and webhook consumers,
        // mailing into a local SMTP sink) run as in production during every scenario that writes.
        let run = Uuid::new_v4().simple().to_string();
        let amqp = infra::amqp::AmqpSettings {
            url: std::env::var("AMQP_URL")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()),
            exchange: format!("bench.{run}.events"),
            queue_prefix: format!("bench.{run}.notifier"),
            expires_ms: Some(60_000),
            timeout_ms: 5_000,
        };
        let sink = SmtpSink::start("127.0.0.1:0").await?;
        let (stop_workers, stopped) = tokio::sync::watch::channel(false);
        let mut notifier_settings = settings::notifier(&public, &amqp, &sink.url());
        notifier_settings.database = database();
        notifier_settings.http = http();
        notifier_settings.retry = notifier::config::RetrySettings {
            delays_ms: "1000,10000,60000".to_owned(),
            webhook_timeout_ms: 5_000,
        };
        notifier_settings.webhooks.allow_private_destinations = false;
        // The notifier first: its queues exist before the relay publishes.
        let (_, notifier) =
            spawn::notifier(notifier_settings, pool.clone(), until(stopped.clone())).await;
        let mut projector_settings = settings::projector(&amqp);
        projector_settings.database = database();
        projector_settings.http = http();
        let projector = spawn::projector(projector_settings, pool.clone(), until(stopped)).await;
        let mailed_types = notifier::consumer::Handler::bindings(&EmailHandler::new(
            pool.clone(),
            Mailer::new(&SmtpSettings {
                url: sink.url(),
                from: "Airline <no-reply@airline.example>".to_owned(),
            })?,
        ))
        .iter()
        .filter_map(|b| b.strip_prefix("booking.").map(str::to_owned))
        .collect();

        let flights = Arc::new(Executor::new(pool.clone(), 50));
        let (aircraft, layout) = reference_data(&pool).await?;
        Ok(Self {
            pool,
            command: command_address,
            query,
            query_uncached,
            replica,
            gateway,
            flights,
            aircraft,
            layout,
            signer: JwtSigner::new(&private)?,
            public_key: public,
            sink,
            mailed_types,
            _db: db,
            workers: tokio::sync::Mutex::new(Some((stop_workers, vec![notifier, projector]))),
        })
    }

    /// Stops the projector, the relay and the notifier (before the log scenarios, which run them alone).
    pub async fn stop_workers(&self) {
        if let Some((stop, tasks)) = self.workers.lock().await.take() {
            let _ = stop.send(true);
            for task in tasks {
                let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
            }
        }
    }

    /// How far behind the log the workers are now.
    ///
    /// # Errors
    /// Database failures.
    pub async fn lag(&self) -> anyhow::Result<WorkerLag> {
        let mut projections = 0;
        for projection in Projection::ALL {
            projections = projections.max(
                Subscription::new(projection.name())
                    .lag(&self.pool)
                    .await?
                    .events_behind,
            );
        }
        let relay = Subscription::new(projector::relay::SUBSCRIPTION)
            .lag(&self.pool)
            .await?
            .events_behind;
        let mailed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE aggregate_type = 'booking' AND event_type = ANY($1)",
        )
        .bind(&self.mailed_types)
        .fetch_one(&self.pool)
        .await?;
        Ok(WorkerLag {
            projections,
            relay,
            emails: (mailed - self.sink.count() as i64).max(0),
        })
    }

    /// The workers' lag now, then waits (up to five minutes) until every one is level with the log.
    ///
    /// # Errors
    /// Workers that never catch up; database failures.
    pub async fn catch_up(&self) -> anyhow::Result<CaughtUp> {
        let started = Instant::now();
        let at_end = self.lag().await?;
        let mut now = at_end;
        while !now.level() {
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(300),
                "the workers did not catch up in five minutes: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            now = self.lag().await?;
        }
        Ok(CaughtUp {
            at_end,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// A verifier of the run's tokens.
    ///
    /// # Errors
    /// A bad key (never: the run made it).
    pub fn verifier(&self) -> anyhow::Result<infra::auth::JwtVerifier> {
        Ok(infra::auth::JwtVerifier::new(
            &self.public_key,
            testkit::ISSUER,
            testkit::AUDIENCE,
        )?)
    }

    /// A customer token.
    pub fn token(&self) -> String {
        customer_token(&self.signer).unwrap_or_default()
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
        session_token(&self.pool, &self.signer, role).await
    }

    /// Schedules a CDG→LHR flight `days` ahead at `hour`; returns its id.
    pub async fn flight(&self, days: i64, hour: i64) -> anyhow::Result<Uuid> {
        let departure = Utc::now() + chrono::Duration::days(days) + chrono::Duration::hours(hour);
        let price = 9_000 + hour * 100;
        self.schedule(
            ("CDG", "LHR"),
            departure,
            price,
            self.aircraft,
            &self.layout,
        )
        .await
    }

    /// Schedules a flight on `route` at `departure` on `aircraft`, economy at `price` minor units;
    /// returns its id.
    pub async fn schedule(
        &self,
        route: (&str, &str),
        departure: chrono::DateTime<Utc>,
        price: i64,
        aircraft: AircraftId,
        layout: &SeatLayout,
    ) -> anyhow::Result<Uuid> {
        schedule_with(&self.flights, route, departure, price, aircraft, layout).await
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
    register_airport(&executor, "CDG", "Europe/Paris").await?;
    register_airport(&executor, "LHR", "Europe/London").await?;
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
    let id = register_aircraft(&executor, "A320", &layout).await?;
    Ok((id, layout))
}

/// Registers an airport (its city named as its code).
///
/// # Errors
/// Rejections, database failures.
pub async fn register_airport(
    executor: &Arc<Executor>,
    code: &str,
    tz: &str,
) -> anyhow::Result<()> {
    seed::register_airport(executor, (code, code, tz), CommandMeta::default()).await
}

/// Registers an aircraft of `layout`; returns its id.
///
/// # Errors
/// Rejections, database failures.
pub async fn register_aircraft(
    executor: &Arc<Executor>,
    model: &str,
    layout: &SeatLayout,
) -> anyhow::Result<AircraftId> {
    seed::register_aircraft(executor, model, layout, CommandMeta::default()).await
}

/// Schedules flight BE100 on `route` at `departure` on `aircraft`, economy at `price` minor units and
/// any other cabin at four times that, no cancellation fee; returns its id.
///
/// # Errors
/// Rejections, database failures.
pub async fn schedule_with(
    executor: &Arc<Executor>,
    route: (&str, &str),
    departure: chrono::DateTime<Utc>,
    price: i64,
    aircraft: AircraftId,
    layout: &SeatLayout,
) -> anyhow::Result<Uuid> {
    // Economy sells three nested booking classes, as airlines do: Q (a quarter of the cabin) at 60 % of
    // `price`, B (two thirds, with Q) at `price`, and Y, limited only by the seats, at twice it. A flight
    // filled seat by seat steps from Q to B to Y.
    let economy = layout
        .seats()
        .iter()
        .filter(|s| s.cabin == Cabin::Economy)
        .count();
    let economy = u32::try_from(economy)?;
    let class = |code: &str, price: i64, limit: Option<u32>| -> anyhow::Result<Fare> {
        Ok(Fare {
            class: Some(ClassCode::parse(code)?),
            limit,
            ..seed::fare(Cabin::Economy, price, 0)?
        })
    };
    let mut fares = Vec::new();
    for c in layout.cabins() {
        if c.cabin == Cabin::Economy {
            fares.push(class("Y", price * 2, None)?);
            fares.push(class("B", price, Some(economy * 2 / 3))?);
            fares.push(class("Q", price * 3 / 5, Some(economy / 4))?);
        } else {
            fares.push(seed::fare(c.cabin, price * 4, 0)?);
        }
    }
    let plan = FlightPlan {
        number: "BE100",
        route,
        departure,
        duration: chrono::Duration::minutes(75),
        aircraft: (aircraft, layout),
        fares,
    };
    seed::schedule_flight(executor, plan, CommandMeta::default()).await
}

/// An account of `role` with a session in `pool`'s database, and a token of it signed by `signer` that a
/// gateway on that database accepts.
///
/// # Errors
/// Database failures.
pub async fn session_token(
    pool: &PgPool,
    signer: &JwtSigner,
    role: Role,
) -> anyhow::Result<String> {
    let user = testkit::auth::insert_user(pool, role, "bench.example").await?;
    testkit::auth::session_token(pool, signer, (user, role), 3600).await
}

/// A token for a new customer without a session (the APIs accept it; the gateway wants a session).
///
/// # Errors
/// Signing failures.
pub fn customer_token(signer: &JwtSigner) -> anyhow::Result<String> {
    let claims = testkit::auth::claims(Uuid::new_v4(), Role::Customer, testkit::AUDIENCE, 3600);
    Ok(signer.sign(&claims)?)
}
