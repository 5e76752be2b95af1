//! Realistic search: a catalogue of 10,000 flights (200 routes between 20 airports, 25 days, two flights a
//! day), searched with a Zipf-distributed mix of route × date × passengers × sort, while bookings keep
//! changing seat counts. Cached through the query API and through the gateway, and uncached; the cache
//! hit ratio is read from the process's `cache_requests_total` counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use domain::aircraft::CabinLayout;
use domain::aircraft::SeatLayout;
use domain::values::Cabin;
use futures::{StreamExt, stream};
use rand::Rng;
use rand::seq::SliceRandom;
use uuid::Uuid;

use crate::Options;
use crate::report::Row;
use crate::scenarios::{Done, book, drive, wait_projected};
use crate::system::{System, register_aircraft, register_airport};

const AIRPORTS: usize = 20;
const ROUTES: usize = 200;
const DAYS: i64 = 25;
const PER_DAY: i64 = 2;
const SORTS: [&str; 3] = ["price", "departure_at", "-price,duration"];
/// Bookings per second on catalogue flights while the searches run.
const BOOKINGS_PER_SECOND: u64 = 20;

/// The catalogue: its flights and the queries over it, most popular first.
pub struct Catalogue {
    flights: Vec<Uuid>,
    seats: Vec<String>,
    queries: Vec<String>,
    /// Cumulative Zipf weights of `queries`.
    cdf: Vec<f64>,
}

fn code(i: usize) -> String {
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    format!(
        "Z{}{}",
        letters[i / 26 % 26] as char,
        letters[i % 26] as char
    )
}

impl Catalogue {
    /// Registers the airports and a 60-seat aircraft, schedules the flights (16 at a time) and waits
    /// until they are projected.
    ///
    /// # Errors
    /// Rejections, database failures.
    pub async fn build(system: &System) -> anyhow::Result<Self> {
        let started = Instant::now();
        let executor = Arc::new(command_api::executor::Executor::new(system.pool.clone(), 5));
        for i in 0..AIRPORTS {
            register_airport(&executor, &code(i), "Europe/Paris").await?;
        }
        let layout = SeatLayout::try_new(vec![CabinLayout {
            cabin: Cabin::Economy,
            first_row: 1,
            last_row: 10,
            letters: "ABC DEF".to_owned(),
            exit_rows: vec![],
        }])?;
        let aircraft = register_aircraft(&executor, "ATR72", &layout).await?;
        let mut routes = Vec::new();
        'outer: for a in 0..AIRPORTS {
            for b in 0..AIRPORTS {
                if a != b {
                    routes.push((code(a), code(b)));
                    if routes.len() == ROUTES {
                        break 'outer;
                    }
                }
            }
        }
        let today = Utc::now().date_naive();
        let mut slots = Vec::new();
        for (r, _) in routes.iter().enumerate() {
            for day in 1..=DAYS {
                for n in 0..PER_DAY {
                    slots.push((r, day, n));
                }
            }
        }
        let flights: Vec<Uuid> = stream::iter(slots)
            .map(|(r, day, n)| {
                let (routes, layout) = (&routes, &layout);
                async move {
                    let at = (today + chrono::Duration::days(day))
                        .and_hms_opt(7 + 8 * n as u32, (r % 4) as u32 * 15, 0)
                        .unwrap_or_default()
                        .and_utc();
                    let price = 5_000 + ((r as i64 * 37 + day * 11 + n * 5) % 200) * 100;
                    system
                        .schedule((&routes[r].0, &routes[r].1), at, price, aircraft, layout)
                        .await
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
        wait_projected(system).await?;
        tracing::warn!(
            flights = flights.len(),
            seconds = started.elapsed().as_secs_f64(),
            "catalogue scheduled and projected"
        );
        let mut queries = Vec::new();
        for (origin, destination) in &routes {
            for day in 1..=DAYS {
                let date = today + chrono::Duration::days(day);
                for passengers in 1..=4 {
                    for sort in SORTS {
                        queries.push(format!(
                            "origin={origin}&destination={destination}&date={}-{:02}-{:02}&passengers={passengers}&sort={sort}",
                            date.year(),
                            date.month(),
                            date.day()
                        ));
                    }
                }
            }
        }
        // Popularity is unrelated to the order above.
        queries.shuffle(&mut rand::rng());
        let mut total = 0.0;
        let cdf = (1..=queries.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Ok(Self {
            flights,
            seats: layout.seats().iter().map(|s| s.seat.to_string()).collect(),
            queries,
            cdf,
        })
    }

    /// A query drawn from the Zipf (s = 1) distribution, its parameters in a random order half the time.
    fn draw(&self) -> String {
        let mut rng = rand::rng();
        let total = self.cdf.last().copied().unwrap_or(1.0);
        let x = rng.random_range(0.0..total);
        let i = self
            .cdf
            .partition_point(|c| *c < x)
            .min(self.queries.len() - 1);
        let query = &self.queries[i];
        if rng.random_bool(0.5) {
            let mut parts: Vec<&str> = query.split('&').collect();
            parts.shuffle(&mut rng);
            parts.join("&")
        } else {
            query.clone()
        }
    }
}

impl Catalogue {
    /// A journey query drawn like [`Catalogue::draw`]: the same route, date and party, one-stop
    /// connections allowed, sorted by price or duration.
    fn draw_journey(&self) -> String {
        let query = self.draw();
        let mut parts: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with("sort="))
            .collect();
        parts.push(if rand::rng().random_bool(0.5) {
            "sort=price"
        } else {
            "sort=duration"
        });
        parts.join("&")
    }
}

fn cache_counts() -> (f64, f64) {
    let text = infra::metrics::handle().render();
    let mut hit_miss = (0.0, 0.0);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("cache_requests_total{") {
            let value: f64 = rest
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            if rest.contains("result=\"hit\"") {
                hit_miss.0 += value;
            } else if rest.contains("result=\"miss\"") {
                hit_miss.1 += value;
            }
        }
    }
    hit_miss
}

/// Books catalogue seats at [`BOOKINGS_PER_SECOND`] until `stop`; returns how many were booked.
async fn keep_booking(
    system: &System,
    catalogue: &Catalogue,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<u64> {
    let client = reqwest::Client::new();
    let token = system.token();
    let booked = AtomicU64::new(0);
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / BOOKINGS_PER_SECOND));
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let (flight, seat) = {
            let mut rng = rand::rng();
            (
                catalogue.flights[rng.random_range(0..catalogue.flights.len())],
                catalogue.seats[rng.random_range(0..catalogue.seats.len())].clone(),
            )
        };
        if matches!(
            book(&client, &system.command, &token, flight, &seat).await,
            Done::Ok
        ) {
            booked.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(booked.load(Ordering::Relaxed))
}

/// The realistic mix against the query API (cached), through the gateway (anonymous and signed in),
/// and against a query API without Redis.
///
/// # Errors
/// Database or HTTP failures.
pub async fn search(system: &System, options: &Options) -> anyhow::Result<Vec<Row>> {
    let catalogue = Arc::new(Catalogue::build(system).await?);
    let signed_in = system.session_token().await?;
    let mut rows = Vec::new();
    let mut targets = vec![
        (
            "search, realistic mix, query API direct (cached)",
            system.query.clone(),
            None,
        ),
        (
            "journeys, same mix with one-stop connections, query API direct (cached)",
            system.query.clone(),
            None,
        ),
        (
            "journeys, same mix with one-stop connections, query API direct, no cache",
            system.query_uncached.clone(),
            None,
        ),
        (
            "search, realistic mix, through the gateway (cached)",
            system.gateway.clone(),
            None,
        ),
        (
            "search, realistic mix, through the gateway, signed in (cached)",
            system.gateway.clone(),
            Some(signed_in.clone()),
        ),
        (
            "search, realistic mix, query API direct, no cache",
            system.query_uncached.clone(),
            None,
        ),
    ];
    if let Some(replica) = &system.replica {
        replica.catch_up(&system.pool).await?;
        targets.push((
            "search, realistic mix, query API on the replica (cached)",
            replica.query.clone(),
            None,
        ));
        targets.push((
            "search, realistic mix, query API on the replica, no cache",
            replica.query_uncached.clone(),
            None,
        ));
    }
    for (name, base, token) in targets {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))?,
            );
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(options.clients)
            .default_headers(headers)
            .build()?;
        let stop = Arc::new(AtomicBool::new(false));
        let booking = {
            let (stop, catalogue) = (stop.clone(), catalogue.clone());
            async move { keep_booking(system, &catalogue, stop).await }
        };
        let (hits, misses) = cache_counts();
        let searching = {
            let catalogue = catalogue.clone();
            let stop = stop.clone();
            async move {
                let result = drive(
                    options.clients,
                    None,
                    Duration::from_secs(options.seconds),
                    move |_| {
                        let url = if name.starts_with("journeys") {
                            format!("{base}/api/v1/journeys?{}", catalogue.draw_journey())
                        } else {
                            format!("{base}/api/v1/flights?{}", catalogue.draw())
                        };
                        let client = client.clone();
                        async move {
                            match client.get(&url).send().await {
                                Ok(r) if r.status() == 200 => match r.bytes().await {
                                    Ok(_) => Done::Ok,
                                    Err(_) => Done::Failed("body".to_owned()),
                                },
                                Ok(r) => Done::Failed(r.status().as_u16().to_string()),
                                Err(_) => Done::Failed("io".to_owned()),
                            }
                        }
                    },
                )
                .await;
                stop.store(true, Ordering::Relaxed);
                result
            }
        };
        let ((ok, latency, errors, seconds), booked) = tokio::join!(searching, booking);
        let (hits, misses) = {
            let (h, m) = cache_counts();
            (h - hits, m - misses)
        };
        let note = if hits + misses > 0.0 {
            format!(
                "cache hit ratio {:.0}%; {} bookings meanwhile",
                100.0 * hits / (hits + misses),
                booked?
            )
        } else {
            format!("no cache; {} bookings meanwhile", booked?)
        };
        rows.push(Row {
            scenario: name.to_owned(),
            clients: options.clients,
            ok,
            seconds,
            latency: Some(latency),
            errors,
            note,
        });
    }
    if let (Some(direct), Some(gateway)) = (rows.first(), rows.get(3)) {
        let cost = 1.0 - gateway.rate() / direct.rate().max(1e-9);
        rows[3].note = format!(
            "{}; gateway costs {:.0}% of direct throughput",
            rows[3].note,
            cost * 100.0
        );
    }
    if let Some(first) = rows.first_mut() {
        first.note = format!(
            "{}; catalogue {} flights ({ROUTES} routes x {DAYS} days x {PER_DAY}), {} distinct queries, Zipf s = 1",
            first.note,
            catalogue.flights.len(),
            catalogue.queries.len()
        );
    }
    Ok(rows)
}
