//! Journeys under contention: round trips over two flights booked as one booking while single seats pour
//! onto both flights, until both are full. Every client picks among the seats it does not know to be
//! taken (it learns from its own bookings and refusals, as a client reading a slightly stale seat map
//! would), so refusals are real races for the same seat. Reports each kind's bookings, attempts and
//! latency, and the journeys' success rate while seats remained.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;
use uuid::Uuid;

use crate::Options;
use crate::report::{Row, histogram};
use crate::scenarios::Load;
use crate::system::System;

/// Clients booking the round trip.
const JOURNEY_CLIENTS: usize = 8;
/// Clients booking single seats.
const SINGLE_CLIENTS: usize = 32;

/// Seats known taken, per flight (0 out, 1 back).
type Taken = Arc<Mutex<[BTreeSet<usize>; 2]>>;

/// 32 clients book single seats on an outbound CDG→LHR and its return LHR→CDG two days later, while 8
/// clients book the round trip over both, until both flights are full. Returns the two rows and the
/// flights.
pub async fn contended(
    system: &System,
    options: &Options,
) -> anyhow::Result<(Row, Row, Vec<Uuid>)> {
    let out = system.flight(6, 1).await?;
    let departure = chrono::Utc::now() + chrono::Duration::days(8);
    let back = system
        .schedule(
            ("LHR", "CDG"),
            departure,
            9_000,
            system.aircraft,
            &system.layout,
        )
        .await?;
    let seats = Arc::new(system.seats());
    let taken: Taken = Arc::default();
    let base = Arc::new(system.command.clone());
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(options.seconds.max(60));
    let started = Instant::now();
    let spawn = |journey: bool, n: usize| {
        let (client, base, seats, taken) =
            (client.clone(), base.clone(), seats.clone(), taken.clone());
        let token = system.token();
        tokio::spawn(async move {
            let mut load = Load::default();
            let mut attempts = 0u64;
            while Instant::now() < deadline {
                // The seats wanted: one on each flight for a journey, one on either for a single.
                let wanted = {
                    let known = taken
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let mut rng = rand::rng();
                    let pick = |rng: &mut rand::rngs::ThreadRng, f: usize| {
                        let free: Vec<usize> =
                            (0..seats.len()).filter(|s| !known[f].contains(s)).collect();
                        (!free.is_empty()).then(|| free[rng.random_range(0..free.len())])
                    };
                    if journey {
                        pick(&mut rng, 0)
                            .zip(pick(&mut rng, 1))
                            .map(|(a, b)| vec![(0, a), (1, b)])
                    } else {
                        let f = (n + attempts as usize) % 2;
                        pick(&mut rng, f)
                            .map(|s| vec![(f, s)])
                            .or_else(|| pick(&mut rng, 1 - f).map(|s| vec![(1 - f, s)]))
                    }
                };
                let Some(wanted) = wanted else { break };
                attempts += 1;
                let slices: Vec<_> = wanted
                    .iter()
                    .map(|(f, s)| {
                        let (flight, seat) = ([out, back][*f], &seats[*s]);
                        json!({"segments": [{"flight_id": flight, "seats": [seat]}]})
                    })
                    .collect();
                let body = json!({"contact_email": "load@example.com", "slices": slices,
                    "passengers": [{"first_name": "Load", "last_name": "Test", "type": "adult"}]});
                let at = Instant::now();
                let sent = client
                    .post(format!("{base}/api/v1/bookings"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                let (status, code, segment) = match sent {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        (
                            status,
                            body["code"].as_str().unwrap_or_default().to_owned(),
                            body["segment"].as_u64(),
                        )
                    }
                    Err(e) => (
                        0,
                        if e.is_timeout() { "timeout" } else { "io" }.to_owned(),
                        None,
                    ),
                };
                let mut known = taken
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if status == 201 {
                    load.ok += 1;
                    let _ = load.latency.record(at.elapsed().as_micros() as u64);
                    for (f, s) in &wanted {
                        known[*f].insert(*s);
                    }
                } else {
                    *load.errors.entry(format!("{status} {code}")).or_insert(0) += 1;
                    // A refusal names the flight whose seat someone else has (one-flight: the only one).
                    if code == "seats_unavailable" {
                        let at = segment.map_or(0, |s| s as usize).min(wanted.len() - 1);
                        let (f, s) = wanted[at];
                        known[f].insert(s);
                    }
                }
            }
            load.seconds = started.elapsed().as_secs_f64();
            load
        })
    };
    let journeys: Vec<_> = (0..JOURNEY_CLIENTS).map(|n| spawn(true, n)).collect();
    let singles: Vec<_> = (0..SINGLE_CLIENTS).map(|n| spawn(false, n)).collect();
    let gather = |tasks: Vec<tokio::task::JoinHandle<Load>>| async move {
        let mut total = Load {
            latency: histogram(),
            ..Load::default()
        };
        for task in tasks {
            let load = task.await.unwrap_or_default();
            total.seconds = total.seconds.max(load.seconds);
            let seconds = total.seconds;
            total.add(load);
            total.seconds = seconds;
        }
        total
    };
    let journey_load = gather(journeys).await;
    let single_load = gather(singles).await;
    let rate = |load: &Load| {
        let tried = load.ok + load.errors.values().sum::<u64>();
        (load.ok, tried, 100.0 * load.ok as f64 / tried.max(1) as f64)
    };
    let (j_ok, j_tried, j_rate) = rate(&journey_load);
    let (s_ok, s_tried, s_rate) = rate(&single_load);
    let note = format!(
        "until both flights ({} seats each) were full: {j_ok} of {j_tried} journey attempts booked ({j_rate:.0}%), \
         {s_ok} of {s_tried} single-seat attempts ({s_rate:.0}%); refusals are races for the same seat",
        seats.len()
    );
    Ok((
        journey_load.into_row(
            "journeys: round trips over 2 flights, against single seats on both".to_owned(),
            JOURNEY_CLIENTS,
            note,
        ),
        single_load.into_row(
            "journeys: the single seats beside them".to_owned(),
            SINGLE_CLIENTS,
            String::new(),
        ),
        vec![out, back],
    ))
}
