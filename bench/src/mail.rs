//! Email throughput end to end, with every worker running as in production: bookings are placed through
//! the command API while the relay publishes their events and the notifier's email consumer records and
//! sends one email each into the local SMTP sink. Timed from the first booking sent to the last email
//! received, after the workers have caught up with everything before.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::report::Row;
use crate::scenarios::drive;
use crate::system::System;

/// Places `count` bookings and waits for their emails.
///
/// # Errors
/// Workers that do not catch up; database failures.
pub async fn mail(system: &System, count: u64) -> anyhow::Result<Row> {
    let seats = Arc::new(system.seats());
    let mut flights = Vec::new();
    for i in 0..count.div_ceil(seats.len() as u64) {
        flights.push(system.flight(30 + i as i64, 10).await?);
    }
    system.catch_up().await?;
    let before = system.sink.count();
    let started = Instant::now();
    let (flights, client) = (Arc::new(flights), reqwest::Client::new());
    let (token, base) = (Arc::new(system.token()), system.command.clone());
    let (placed, _, _, placing) = drive(64, Some(count), Duration::from_secs(600), move |n| {
        let (client, flights, seats, token, base) = (
            client.clone(),
            flights.clone(),
            seats.clone(),
            token.clone(),
            base.clone(),
        );
        async move {
            let (f, s) = ((n as usize) / seats.len(), (n as usize) % seats.len());
            crate::scenarios::book(&client, &base, &token, flights[f], &seats[s]).await
        }
    })
    .await;
    let caught = system.catch_up().await?;
    let seconds = started.elapsed().as_secs_f64();
    let mailed = (system.sink.count() - before) as u64;
    let mut errors = BTreeMap::new();
    if mailed < placed {
        errors.insert("missing".to_owned(), placed - mailed);
    }
    Ok(Row {
        scenario: format!(
            "email: booking placed → relay → consumer → SMTP sink ({placed} bookings, workers on)"
        ),
        clients: 64,
        ok: mailed,
        seconds,
        latency: None,
        errors,
        note: format!(
            "ops/s = emails/s from the first booking sent to the last email received; placing took {placing:.1} s; the last email arrived {:.1} s after the last booking",
            caught.seconds
        ),
    })
}
