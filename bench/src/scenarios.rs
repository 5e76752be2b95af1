//! The booking scenarios: hot flight, and spread with write → visible measured under its load.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use hdrhistogram::Histogram;
use infra::event_log::Subscription;
use rand::Rng;
use serde_json::json;
use uuid::Uuid;

use crate::Options;
use crate::report::{Row, histogram};
use crate::system::System;

/// What one operation came to.
pub enum Done {
    Ok,
    Failed(String),
}

/// Runs `clients` loops; each takes operation numbers from a shared counter until `max` (if any) or the
/// deadline, and times each operation.
pub async fn drive<F, Fut>(
    clients: usize,
    max: Option<u64>,
    deadline: Duration,
    op: F,
) -> (u64, Histogram<u64>, BTreeMap<String, u64>, f64)
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Done> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let end = started + deadline;
    let tasks = (0..clients).map(|_| {
        let (next, op) = (next.clone(), op.clone());
        tokio::spawn(async move {
            let mut latency = histogram();
            let mut errors = BTreeMap::new();
            let mut ok = 0;
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if max.is_some_and(|m| n >= m) || Instant::now() >= end {
                    break;
                }
                let at = Instant::now();
                match op(n).await {
                    Done::Ok => {
                        ok += 1;
                        let _ = latency.record(at.elapsed().as_micros() as u64);
                    }
                    Done::Failed(why) => *errors.entry(why).or_insert(0) += 1,
                }
            }
            (ok, latency, errors)
        })
    });
    let mut total = 0;
    let mut merged = histogram();
    let mut errors = BTreeMap::new();
    for result in join_all(tasks).await.into_iter().flatten() {
        total += result.0;
        let _ = merged.add(&result.1);
        for (k, v) in result.2 {
            *errors.entry(k).or_insert(0) += v;
        }
    }
    (total, merged, errors, started.elapsed().as_secs_f64())
}

pub async fn book(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    flight: Uuid,
    seat: &str,
) -> Done {
    let body = json!({"flight_id": flight, "contact_email": "load@example.com",
        "passengers": [{"first_name": "Load", "last_name": "Test", "type": "adult", "seat": seat}]});
    match client
        .post(format!("{base}/api/v1/bookings"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
    {
        Ok(r) if r.status() == 201 => Done::Ok,
        Ok(r) => Done::Failed(r.status().as_u16().to_string()),
        Err(e) => Done::Failed(if e.is_timeout() {
            "timeout".to_owned()
        } else {
            "io".to_owned()
        }),
    }
}

/// A load's outcome: successes, their latencies, failures by kind, wall time; adds up over rounds.
pub struct Load {
    pub ok: u64,
    pub latency: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
    pub seconds: f64,
}

impl Load {
    /// The report row of this load: `scenario` with `clients`, and `note`.
    pub fn into_row(self, scenario: String, clients: usize, note: String) -> Row {
        Row {
            scenario,
            clients,
            ok: self.ok,
            seconds: self.seconds,
            latency: Some(self.latency),
            errors: self.errors,
            note,
        }
    }
}

impl Default for Load {
    fn default() -> Self {
        Self {
            ok: 0,
            latency: histogram(),
            errors: BTreeMap::new(),
            seconds: 0.0,
        }
    }
}

impl Load {
    /// Adds one round.
    pub fn add(&mut self, round: Load) {
        self.ok += round.ok;
        self.seconds += round.seconds;
        let _ = self.latency.add(&round.latency);
        for (k, v) in round.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
    }
}

impl From<(u64, Histogram<u64>, BTreeMap<String, u64>, f64)> for Load {
    fn from(
        (ok, latency, errors, seconds): (u64, Histogram<u64>, BTreeMap<String, u64>, f64),
    ) -> Self {
        Self {
            ok,
            latency,
            errors,
            seconds,
        }
    }
}

/// `clients` book every seat of `flight` once, through `base`, as `tokens` in turn.
pub async fn fill_flight(
    clients: usize,
    client: &reqwest::Client,
    base: &str,
    tokens: &Arc<Vec<String>>,
    flight: Uuid,
    seats: &Arc<Vec<String>>,
) -> Load {
    let (client, base, tokens, seats) = (
        client.clone(),
        base.to_owned(),
        tokens.clone(),
        seats.clone(),
    );
    drive(
        clients,
        Some(seats.len() as u64),
        Duration::from_secs(600),
        move |i| {
            let (client, seats, base) = (client.clone(), seats.clone(), base.clone());
            let token = tokens[i as usize % tokens.len()].clone();
            async move { book(&client, &base, &token, flight, &seats[i as usize]).await }
        },
    )
    .await
    .into()
}

/// `clients` book random seats on `flights` for `seconds`, through `base`, as `tokens` in turn (a seat
/// already taken is a 409, counted).
pub async fn book_at_random(
    clients: usize,
    seconds: u64,
    client: &reqwest::Client,
    base: &str,
    tokens: &Arc<Vec<String>>,
    flights: &Arc<Vec<Uuid>>,
    seats: &Arc<Vec<String>>,
) -> Load {
    let (client, base, tokens, flights, seats) = (
        client.clone(),
        base.to_owned(),
        tokens.clone(),
        flights.clone(),
        seats.clone(),
    );
    drive(clients, None, Duration::from_secs(seconds), move |n| {
        let (client, flights, seats, base) =
            (client.clone(), flights.clone(), seats.clone(), base.clone());
        let token = tokens[n as usize % tokens.len()].clone();
        async move {
            let (f, s) = {
                let mut rng = rand::rng();
                (
                    rng.random_range(0..flights.len()),
                    rng.random_range(0..seats.len()),
                )
            };
            book(&client, &base, &token, flights[f], &seats[s]).await
        }
    })
    .await
    .into()
}

/// `options.hot_flights` fresh flights `days` out, each filled seat by seat by `options.clients`
/// clients through `base`; the load and the flights.
pub async fn fill_flights(
    system: &System,
    options: &Options,
    base: &str,
    days: i64,
) -> anyhow::Result<(Load, Vec<Uuid>)> {
    let client = reqwest::Client::new();
    let seats = Arc::new(system.seats());
    let mut load = Load::default();
    let mut flights = Vec::new();
    for round in 0..options.hot_flights {
        let flight = system.flight(days, round as i64).await?;
        flights.push(flight);
        let tokens = Arc::new(vec![system.token()]);
        load.add(fill_flight(options.clients, &client, base, &tokens, flight, &seats).await);
    }
    Ok((load, flights))
}

/// 64 clients book single seats on one flight until it is full, over several fresh flights.
pub async fn hot_flight(system: &System, options: &Options) -> anyhow::Result<(Row, Vec<Uuid>)> {
    let seats = system.seats().len();
    let (load, flights) = fill_flights(system, options, &system.command, 3).await?;
    let scenario = format!(
        "hot flight ({} flights x {seats} seats, HTTP booking, workers on)",
        options.hot_flights
    );
    Ok((
        load.into_row(scenario, options.clients, String::new()),
        flights,
    ))
}

/// How many customers the write scenarios book as.
const CUSTOMERS: usize = 256;

/// 64 clients book random seats on many flights (a seat someone else got first is a 409) while one more
/// client measures write → visible: it books a seat on a flight of its own, then polls the cached seat
/// map until the seat shows held. Returns the spread row, the visibility row, and the spread's flights
/// with its bookings and the probe's.
pub async fn spread(
    system: &System,
    options: &Options,
) -> anyhow::Result<(Row, Row, Vec<Uuid>, Vec<Uuid>, u64)> {
    let mut flights = Vec::with_capacity(options.flights);
    for i in 0..options.flights {
        flights.push(system.flight(5 + (i as i64 % 20), i as i64 % 24).await?);
    }
    let probe_flights = vec![system.flight(4, 12).await?, system.flight(4, 13).await?];
    wait_projected(system).await?;
    let flight_ids = flights.clone();
    let flights = Arc::new(flights);
    let seats = Arc::new(system.seats());
    let client = reqwest::Client::new();
    // Many customers, as in life: one customer's holds commit one at a time (the hold cap's lock).
    let tokens: Arc<Vec<String>> = Arc::new((0..CUSTOMERS).map(|_| system.token()).collect());
    let booking = book_at_random(
        options.clients,
        options.seconds,
        &client,
        &system.command,
        &tokens,
        &flights,
        &seats,
    );
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let (load, visible) = tokio::join!(booking, visibility(system, &probe_flights, deadline));
    let visible = visible?;
    let probed = visible.ok + visible.errors.get("never visible").copied().unwrap_or(0);
    Ok((
        load.into_row(
            format!(
                "spread ({} flights, HTTP booking, workers on)",
                options.flights
            ),
            options.clients,
            "409 = seat already taken (expected)".to_owned(),
        ),
        visible,
        flight_ids,
        probe_flights,
        probed,
    ))
}

/// Waits until every projection is level with the log.
///
/// # Errors
/// A projection that does not catch up in two minutes; database failures.
pub async fn wait_projected(system: &System) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    for name in ["flights", "bookings", "analytics"] {
        while Subscription::new(name)
            .lag(&system.pool)
            .await?
            .events_behind
            > 0
        {
            anyhow::ensure!(
                Instant::now() < deadline,
                "projection {name} did not catch up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// Until `deadline`: book a seat on one of `flights`, then poll the query API's (cached) seat map until
/// the seat shows held; the time from the 201 to that is the visibility delay.
async fn visibility(system: &System, flights: &[Uuid], deadline: Instant) -> anyhow::Result<Row> {
    let client = reqwest::Client::new();
    let token = system.token();
    let seats = system.seats();
    let mut latency = histogram();
    let mut errors = BTreeMap::new();
    let started = Instant::now();
    let mut ok = 0;
    let slots = flights
        .iter()
        .flat_map(|f| seats.iter().map(move |s| (*f, s)));
    for (flight, seat) in slots {
        if Instant::now() >= deadline {
            break;
        }
        if !matches!(
            book(&client, &system.command, &token, flight, seat).await,
            Done::Ok
        ) {
            *errors.entry("booking".to_owned()).or_insert(0) += 1;
            continue;
        }
        let t0 = Instant::now();
        let url = format!("{}/api/v1/flights/{flight}/seats", system.query);
        loop {
            let map: serde_json::Value = client.get(&url).send().await?.json().await?;
            let held = map["seats"]
                .as_array()
                .and_then(|s| s.iter().find(|x| x["seat"] == seat.as_str()))
                .is_some_and(|x| x["status"] == "held");
            if held {
                let _ = latency.record(t0.elapsed().as_micros() as u64);
                ok += 1;
                break;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                *errors.entry("never visible".to_owned()).or_insert(0) += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    Ok(Row {
        scenario: "write → visible under the spread load (201 to the cached seat map showing it)"
            .to_owned(),
        clients: 1,
        ok,
        seconds: started.elapsed().as_secs_f64(),
        latency: Some(latency),
        errors,
        note: "latency columns are the visibility delay".to_owned(),
    })
}
