//! The event feed under load: many clients hold a stream through the gateway while bookings commit;
//! each client times every event from its `recorded_at` (the appending transaction's start, so the delay
//! measured includes the commit: an upper bound on commit → client) to its arrival.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::join_all;
use hdrhistogram::Histogram;
use infra::auth::Role;
use tokio::sync::watch;

use crate::report::{Row, histogram};
use crate::scenarios::{Done, book};
use crate::system::System;

/// What one stream saw: events received and their delays (µs).
async fn follow(
    client: reqwest::Client,
    url: String,
    token: String,
    opened: tokio::sync::mpsc::Sender<bool>,
    mut expected: watch::Receiver<Option<u64>>,
) -> (u64, Histogram<u64>) {
    let mut latency = histogram();
    let response = match client.get(&url).bearer_auth(&token).send().await {
        Ok(r) if r.status() == 200 => r,
        _ => {
            let _ = opened.send(false).await;
            return (0, latency);
        }
    };
    let _ = opened.send(true).await;
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut got = 0;
    // Once the writers are done, every stream has 30 s to catch up.
    let mut deadline = None;
    loop {
        if let Some(n) = *expected.borrow() {
            if got >= n {
                return (got, latency);
            }
            deadline.get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_secs(30));
        }
        let until =
            deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let chunk = tokio::select! {
            chunk = body.next() => chunk,
            _ = expected.changed() => continue,
            () = tokio::time::sleep_until(until) => None,
        };
        let Some(Ok(chunk)) = chunk else {
            return (got, latency);
        };
        let now = chrono::Utc::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue;
            };
            let recorded = serde_json::from_str::<serde_json::Value>(data.trim())
                .ok()
                .and_then(|v| v["recorded_at"].as_str().map(str::to_owned))
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
            if let Some(at) = recorded {
                let delay = (now - at.with_timezone(&chrono::Utc)).num_microseconds();
                let _ = latency.record(delay.unwrap_or(0).max(0) as u64);
                got += 1;
            }
        }
    }
}

/// `clients` streams of `booking.BookingPlaced` through the gateway; bookings placed 8 at a time.
///
/// # Errors
/// Setup failures.
pub async fn feed(system: &System, clients: usize) -> anyhow::Result<Row> {
    let flight = system.flight(6, 10).await?;
    let admin = system.session_token_as(Role::Admin).await?;
    let url = format!(
        "{}/api/v1/events?type=booking.BookingPlaced",
        system.gateway
    );
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel(clients.max(1));
    let (expected_tx, expected_rx) = watch::channel(None);
    let started = Instant::now();
    // One client: each stream in flight holds a connection of its own, as browsers' streams do.
    let client = reqwest::Client::new();
    let streams: Vec<_> = (0..clients)
        .map(|_| {
            tokio::spawn(follow(
                client.clone(),
                url.clone(),
                admin.clone(),
                opened_tx.clone(),
                expected_rx.clone(),
            ))
        })
        .collect();
    drop(opened_tx);
    let mut held = 0;
    let mut refused = 0;
    // Each stream reports once (and keeps its sender while it runs).
    for _ in 0..clients {
        let Some(ok) = opened_rx.recv().await else {
            break;
        };
        if ok {
            held += 1;
        } else {
            refused += 1;
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    // Bookings, 8 in flight, on the command API directly (the writers are not what is measured).
    let token = system.session_token().await?;
    let http = reqwest::Client::new();
    let seats = system.seats();
    let mut placed = 0_u64;
    for chunk in seats.chunks(8).take(25) {
        let done = join_all(
            chunk
                .iter()
                .map(|seat| book(&http, &system.command, &token, flight, seat)),
        )
        .await;
        placed += done.iter().filter(|d| matches!(d, Done::Ok)).count() as u64;
    }
    let _ = expected_tx.send(Some(placed));
    let mut latency = histogram();
    let mut complete = 0;
    let mut received = 0;
    for stream in join_all(streams).await {
        let (got, h) = stream?;
        received += got;
        if got >= placed {
            complete += 1;
        }
        latency.add(&h)?;
    }
    let mut errors = BTreeMap::new();
    if refused > 0 {
        errors.insert("refused".to_owned(), refused);
    }
    if complete < held {
        errors.insert("incomplete streams".to_owned(), held - complete);
    }
    Ok(Row {
        scenario: format!("event feed: {held} SSE clients through the gateway, {placed} bookings"),
        clients: held as usize,
        ok: received,
        seconds: started.elapsed().as_secs_f64(),
        latency: Some(latency),
        errors,
        note: format!(
            "ok = events delivered (clients x bookings); latency = recorded_at -> client; {held} streams opened in {connect_secs:.1} s"
        ),
    })
}
