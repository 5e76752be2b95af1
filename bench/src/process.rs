//! `airline all` as a child process, as an operator runs it: its resident memory (from `/proc`) idle after
//! start, at its peak under the spread load, and after; and the spread's throughput against that one
//! process. The binary is `target/release/airline` (`scripts/bench` builds it) or `$AIRLINE_BIN`.
//!
//! Past 400 lines on purpose: the child process, its memory sampling and its spread load are one scenario.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use command_api::executor::Executor;
use domain::aircraft::CabinLayout;
use domain::aircraft::SeatLayout;
use domain::values::Cabin;
use infra::auth::{JwtSigner, Role};
use infra::testing::TestDatabase;
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::Options;
use crate::report::Row;
use crate::scenarios::{Load, book_at_random, fill_flight};
use crate::system::{customer_token, register_aircraft, register_airport, schedule_with};

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn database_url(name: &str) -> String {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".to_owned());
    let base = admin.split_once('?').map_or(admin.as_str(), |(b, _)| b);
    let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
    format!("{server}/{name}")
}

/// Resident and peak resident memory of `pid`, in MiB.
fn memory(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CDG, LHR and a 174-seat all-economy aircraft in `db`'s event store, with an executor writing there.
async fn reference_data(
    db: &TestDatabase,
) -> anyhow::Result<(Arc<Executor>, SeatLayout, domain::values::AircraftId)> {
    let executor = Arc::new(Executor::new(db.pool.clone(), 5));
    register_airport(&executor, "CDG", "Europe/Paris").await?;
    register_airport(&executor, "LHR", "Europe/London").await?;
    let layout = SeatLayout::try_new(vec![CabinLayout {
        cabin: Cabin::Economy,
        first_row: 1,
        last_row: 29,
        letters: "ABC DEF".to_owned(),
        exit_rows: vec![],
    }])?;
    let aircraft = register_aircraft(&executor, "A320", &layout).await?;
    Ok((executor, layout, aircraft))
}

/// A running `airline all` on its own database, Redis prefix, exchange and ports.
struct Airline {
    child: Child,
    command: String,
    keys: std::path::PathBuf,
}

impl Airline {
    async fn start(db: &TestDatabase) -> anyhow::Result<Self> {
        let id = Uuid::new_v4().simple().to_string();
        let keys = std::env::temp_dir().join(format!("bench-keys-{id}"));
        let (gateway, command) = (free_port()?, free_port()?);
        let binary =
            std::env::var("AIRLINE_BIN").unwrap_or_else(|_| "target/release/airline".to_owned());
        let mut child = Command::new(&binary);
        child
            .arg("all")
            .env("DATABASE_URL", database_url(&db.name))
            .env("APP_REDIS__KEY_PREFIX", format!("bench:{id}:"))
            .env("APP_AMQP__EXCHANGE", format!("bench.{id}.events"))
            .env("APP_AMQP__QUEUE_PREFIX", format!("bench.{id}.notifier"))
            .env("APP_AMQP__EXPIRES_MS", "120000")
            .env("APP_AUTH__DEV_KEY_DIR", keys.display().to_string())
            .env("APP_BOOKING__MAX_HELD_SEATS", "100000")
            .env("APP_BOOKING__MAX_HELD_SEATS_PER_CLIENT", "100000")
            .env(
                "AIRLINE_SMTP_SINK_ADDR",
                format!("127.0.0.1:{}", free_port()?),
            )
            .env("AIRLINE_GATEWAY_ADDR", format!("127.0.0.1:{gateway}"))
            .env("AIRLINE_COMMAND_API_ADDR", format!("127.0.0.1:{command}"))
            .env(
                "AIRLINE_QUERY_API_ADDR",
                format!("127.0.0.1:{}", free_port()?),
            )
            .env(
                "AIRLINE_PROJECTOR_ADDR",
                format!("127.0.0.1:{}", free_port()?),
            )
            .env(
                "AIRLINE_NOTIFIER_ADDR",
                format!("127.0.0.1:{}", free_port()?),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = child
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {binary}: {e} (scripts/bench builds it)"))?;
        wait_ready(&format!("http://127.0.0.1:{gateway}")).await?;
        Ok(Self {
            child,
            command: format!("http://127.0.0.1:{command}"),
            keys,
        })
    }

    fn pid(&self) -> anyhow::Result<u32> {
        self.child
            .id()
            .ok_or_else(|| anyhow::anyhow!("airline all exited"))
    }

    /// A signer of tokens its APIs accept (the key pair it made at start).
    fn signer(&self) -> anyhow::Result<JwtSigner> {
        Ok(JwtSigner::new(&std::fs::read_to_string(
            self.keys.join("jwt-private.pem"),
        )?)?)
    }
}

impl Drop for Airline {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.keys);
    }
}

/// The memory rows, and the spread row against the one process.
///
/// # Errors
/// A binary that does not start; HTTP or database failures.
pub async fn rss(options: &Options) -> anyhow::Result<Vec<Row>> {
    let db = TestDatabase::create(4).await;
    let mut airline = Airline::start(&db).await?;
    let pid = airline.pid()?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (idle, _) = memory(pid).ok_or_else(|| anyhow::anyhow!("no /proc/{pid}/status"))?;

    // The spread scenario's flights, written straight to the event store of the child's database.
    let (executor, layout, aircraft) = reference_data(&db).await?;
    let mut flights = Vec::new();
    for i in 0..options.flights {
        let at = Utc::now() + chrono::Duration::days(5 + i as i64 % 20);
        flights.push(schedule_with(&executor, ("CDG", "LHR"), at, 9_000, aircraft, &layout).await?);
    }
    let seats: Arc<Vec<String>> =
        Arc::new(layout.seats().iter().map(|s| s.seat.to_string()).collect());
    let flights = Arc::new(flights);
    let signer = airline.signer()?;
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..256)
            .map(|_| customer_token(&signer))
            .collect::<anyhow::Result<_>>()?,
    );
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some((rss, _)) = memory(pid) {
                    peak.fetch_max(rss as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let client = reqwest::Client::new();
    let load = book_at_random(
        options.clients,
        options.seconds,
        &client,
        &airline.command,
        &tokens,
        &flights,
        &seats,
    )
    .await;
    // The workers catch up with the load (projections, relay, emails into the built-in sink).
    tokio::time::sleep(Duration::from_secs(10)).await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let (after, hwm) = memory(pid).ok_or_else(|| anyhow::anyhow!("airline all exited"))?;
    let _ = airline.child.start_kill();
    let _ = airline.child.wait().await;
    let peak = (peak.load(Ordering::Relaxed) as f64).max(hwm);
    let memory_row = |scenario: &str, mib: f64, note: &str| Row {
        scenario: scenario.to_owned(),
        clients: 0,
        ok: mib.round() as u64,
        seconds: 1.0,
        latency: None,
        errors: BTreeMap::new(),
        note: note.to_owned(),
    };
    Ok(vec![
        memory_row(
            "RSS of `airline all`, idle 5 s after ready (MiB)",
            idle,
            "ok = ops/s = MiB (VmRSS)",
        ),
        load.into_row(
            format!(
                "spread against `airline all` as one child process ({} flights)",
                options.flights
            ),
            options.clients,
            "every worker of the process on; 409 = seat taken".to_owned(),
        ),
        memory_row(
            "RSS of `airline all`, peak under that spread (MiB)",
            peak,
            "ok = ops/s = MiB (VmHWM, and VmRSS sampled every 50 ms)",
        ),
        memory_row(
            "RSS of `airline all`, 10 s after the load (MiB)",
            after,
            "ok = ops/s = MiB (VmRSS)",
        ),
    ])
}

/// A child `airline <subcommand>` with `env`, its output dropped.
fn spawn(subcommand: &str, env: &[(&str, String)]) -> anyhow::Result<Child> {
    let binary =
        std::env::var("AIRLINE_BIN").unwrap_or_else(|_| "target/release/airline".to_owned());
    Command::new(&binary)
        .arg(subcommand)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!("starting {binary} {subcommand}: {e} (scripts/bench builds it)")
        })
}

async fn wait_ready(url: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{url} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two `airline command-api` and two `airline query-api` processes on one database behind one
/// `airline gateway` (the upstreams as comma-separated lists): the hot flight and spread scenarios
/// booked through the gateway, then the ledger over the log.
///
/// # Errors
/// Processes that do not start; a ledger violation; HTTP or database failures.
pub async fn several(options: &Options) -> anyhow::Result<Vec<Row>> {
    let db = TestDatabase::create(4).await;
    let id = Uuid::new_v4().simple().to_string();
    let keys = std::env::temp_dir().join(format!("bench-keys-{id}"));
    std::fs::create_dir_all(&keys)?;
    let (private, public) = infra::auth::generate_key_pair()?;
    std::fs::write(keys.join("jwt-private.pem"), &private)?;
    std::fs::write(keys.join("jwt-public.pem"), &public)?;
    let url = database_url(&db.name);
    let common = |port: u16| {
        vec![
            ("DATABASE_URL", url.clone()),
            ("APP_HTTP__PORT", port.to_string()),
            (
                "APP_AUTH__PUBLIC_KEY_FILE",
                keys.join("jwt-public.pem").display().to_string(),
            ),
            ("APP_REDIS__KEY_PREFIX", format!("bench:{id}:")),
            ("APP_BOOKING__MAX_HELD_SEATS", "100000".to_owned()),
            (
                "APP_BOOKING__MAX_HELD_SEATS_PER_CLIENT",
                "100000".to_owned(),
            ),
            ("APP_DATABASE__MAX_CONNECTIONS", "10".to_owned()),
        ]
    };
    let mut children = Vec::new();
    let (mut commands, mut queries) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let port = free_port()?;
        children.push(spawn("command-api", &common(port))?);
        commands.push(format!("http://127.0.0.1:{port}"));
        let port = free_port()?;
        children.push(spawn("query-api", &common(port))?);
        queries.push(format!("http://127.0.0.1:{port}"));
    }
    for service in commands.iter().chain(&queries) {
        wait_ready(service).await?;
    }
    let gateway_port = free_port()?;
    let mut env = common(gateway_port);
    env.extend([
        (
            "APP_AUTH__PRIVATE_KEY_FILE",
            keys.join("jwt-private.pem").display().to_string(),
        ),
        ("APP_UPSTREAMS__COMMAND_API", commands.join(",")),
        ("APP_UPSTREAMS__QUERY_API", queries.join(",")),
        ("APP_UPSTREAMS__NOTIFIER", String::new()),
        ("APP_UPSTREAMS__PROJECTOR", String::new()),
    ]);
    for policy in ["auth", "signup", "search", "bookings", "default"] {
        env.push((
            match policy {
                "auth" => "APP_RATE_LIMITS__AUTH__LIMIT",
                "signup" => "APP_RATE_LIMITS__SIGNUP__LIMIT",
                "search" => "APP_RATE_LIMITS__SEARCH__LIMIT",
                "bookings" => "APP_RATE_LIMITS__BOOKINGS__LIMIT",
                _ => "APP_RATE_LIMITS__DEFAULT__LIMIT",
            },
            "1000000000".to_owned(),
        ));
    }
    children.push(spawn("gateway", &env)?);
    let gateway = format!("http://127.0.0.1:{gateway_port}");
    wait_ready(&gateway).await?;

    let (executor, layout, aircraft) = reference_data(&db).await?;
    let seats: Arc<Vec<String>> =
        Arc::new(layout.seats().iter().map(|s| s.seat.to_string()).collect());
    let signer = JwtSigner::new(&private)?;
    let mut tokens = Vec::new();
    for _ in 0..64 {
        tokens.push(crate::system::session_token(&db.pool, &signer, Role::Customer).await?);
    }
    let tokens = Arc::new(tokens);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.clients)
        .build()?;

    // The hot flight, through the gateway to either command API.
    let mut hot = Vec::new();
    let mut hot_load = Load::default();
    for round in 0..options.hot_flights {
        let at = Utc::now() + chrono::Duration::days(3) + chrono::Duration::hours(round as i64);
        let flight = schedule_with(&executor, ("CDG", "LHR"), at, 9_000, aircraft, &layout).await?;
        hot.push(flight);
        hot_load
            .add(fill_flight(options.clients, &client, &gateway, &tokens, flight, &seats).await);
    }

    // Spread, through the gateway.
    let mut spread = Vec::new();
    for i in 0..options.flights {
        let at = Utc::now() + chrono::Duration::days(5 + i as i64 % 20);
        spread.push(schedule_with(&executor, ("CDG", "LHR"), at, 9_000, aircraft, &layout).await?);
    }
    let flights = Arc::new(spread.clone());
    let spread_load = book_at_random(
        options.clients,
        options.seconds,
        &client,
        &gateway,
        &tokens,
        &flights,
        &seats,
    )
    .await;
    let ledger = crate::verify::ledger(
        &db.pool,
        &[
            crate::verify::Seen {
                scenario: "hot flight, two command APIs".to_owned(),
                flights: hot,
                booked: hot_load.ok,
            },
            crate::verify::Seen {
                scenario: "spread, two command APIs".to_owned(),
                flights: spread,
                booked: spread_load.ok,
            },
        ],
    )
    .await?;
    for mut child in children {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    let _ = std::fs::remove_dir_all(&keys);
    Ok(vec![
        Row {
            scenario: format!(
                "hot flight through the gateway to 2 command-api processes ({} flights x {} seats)",
                options.hot_flights,
                seats.len()
            ),
            clients: options.clients,
            ok: hot_load.ok,
            seconds: hot_load.seconds,
            latency: Some(hot_load.latency),
            errors: hot_load.errors,
            note: "one database; the processes race on the flight's version".to_owned(),
        },
        Row {
            scenario: format!(
                "spread through the gateway to 2 command-api processes ({} flights)",
                options.flights
            ),
            clients: options.clients,
            ok: spread_load.ok,
            seconds: spread_load.seconds,
            latency: Some(spread_load.latency),
            errors: spread_load.errors,
            note: format!("409 = seat taken; {ledger}"),
        },
    ])
}
