//! Journeys under contention: round trips over two flights booked as one booking while single seats pour
//! onto both flights, until both are full. Reports each kind's bookings, refusals and latency, and the
//! journeys' success rate.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::json;
use uuid::Uuid;

use crate::Options;
use crate::report::Row;
use crate::scenarios::{Done, Load, book, drive};
use crate::system::System;

/// Clients booking the round trip.
const JOURNEY_CLIENTS: usize = 8;

/// `options.clients / 2` clients book single seats on an outbound CDG→LHR and its return LHR→CDG two
/// days later, while 8 clients book the round trip over both, for `options.seconds` or until both are
/// full. Returns the two rows and the flights.
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
    let tokens: Arc<Vec<String>> = Arc::new((0..256).map(|_| system.token()).collect());
    let client = reqwest::Client::new();
    let base = system.command.clone();
    let singles = (options.clients / 2).max(1);
    let deadline = Duration::from_secs(options.seconds.max(5));
    let single_load = {
        let (client, base, tokens, seats) =
            (client.clone(), base.clone(), tokens.clone(), seats.clone());
        drive(singles, None, deadline, move |n| {
            let (client, base, seats) = (client.clone(), base.clone(), seats.clone());
            let token = tokens[n as usize % tokens.len()].clone();
            async move {
                let (flight, seat) = {
                    let mut rng = rand::rng();
                    (
                        [out, back][rng.random_range(0..2)],
                        rng.random_range(0..seats.len()),
                    )
                };
                book(&client, &base, &token, flight, &seats[seat]).await
            }
        })
    };
    let journey_load = {
        let (client, base, tokens, seats) =
            (client.clone(), base.clone(), tokens.clone(), seats.clone());
        drive(JOURNEY_CLIENTS, None, deadline, move |n| {
            let (client, base, seats) = (client.clone(), base.clone(), seats.clone());
            let token = tokens[(n as usize + 128) % tokens.len()].clone();
            async move {
                let (a, b) = {
                    let mut rng = rand::rng();
                    (
                        rng.random_range(0..seats.len()),
                        rng.random_range(0..seats.len()),
                    )
                };
                round_trip(&client, &base, &token, (out, back), (&seats[a], &seats[b])).await
            }
        })
    };
    let (single_load, journey_load) = tokio::join!(single_load, journey_load);
    let (single_load, journey_load): (Load, Load) = (single_load.into(), journey_load.into());
    let rate = |load: &Load| {
        let tried = load.ok + load.errors.values().sum::<u64>();
        100.0 * load.ok as f64 / tried.max(1) as f64
    };
    let note = format!(
        "{:.1}% of journey attempts booked, {:.1}% of single-seat attempts (the rest: seats taken)",
        rate(&journey_load),
        rate(&single_load)
    );
    let journeys = journey_load.into_row(
        "journeys: round trips over 2 flights, against single seats on both".to_owned(),
        JOURNEY_CLIENTS,
        note,
    );
    let singles_row = single_load.into_row(
        "journeys: the single seats beside them".to_owned(),
        singles,
        String::new(),
    );
    Ok((journeys, singles_row, vec![out, back]))
}

/// Books a round trip: `seats.0` out, `seats.1` back.
async fn round_trip(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    (out, back): (Uuid, Uuid),
    seats: (&str, &str),
) -> Done {
    let body = json!({"contact_email": "load@example.com",
        "passengers": [{"first_name": "Load", "last_name": "Test", "type": "adult"}],
        "slices": [{"segments": [{"flight_id": out, "seats": [seats.0]}]},
                   {"segments": [{"flight_id": back, "seats": [seats.1]}]}]});
    match client
        .post(format!("{base}/api/v1/bookings"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
    {
        Ok(r) if r.status() == 201 => Done::Ok,
        Ok(r) => {
            let status = r.status().as_u16();
            let code = r
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            Done::Failed(format!("{status} {code}"))
        }
        Err(e) => Done::Failed(if e.is_timeout() { "timeout" } else { "io" }.to_owned()),
    }
}
