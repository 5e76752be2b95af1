//! The naive baseline for the hot flight: cqrs-es + postgres-es as the framework comes (`CqrsFramework`:
//! load, decide, append; on a version conflict, try again at once), no per-aggregate serialization, no
//! HTTP. It holds one seat per command.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cqrs_es::AggregateError;
use domain::flight::{Flight, FlightCommand};
use domain::values::{BookingId, SeatNumber, SeatOccupant};
use uuid::Uuid;

use crate::Options;
use crate::report::{Row, histogram};
use crate::scenarios::{Done, drive};
use crate::system::System;

/// The naive hot flight.
pub async fn naive_hot_flight(system: &System, options: &Options) -> anyhow::Result<Row> {
    let cqrs = Arc::new(postgres_es::postgres_cqrs::<Flight>(
        system.pool.clone(),
        vec![],
        (),
    ));
    let seats: Arc<Vec<SeatNumber>> =
        Arc::new(system.layout.seats().iter().map(|s| s.seat).collect());
    let (mut ok, mut latency, mut errors, mut seconds) = (0, histogram(), BTreeMap::new(), 0.0);
    let retries = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for round in 0..options.hot_flights {
        let flight = system.flight(6, round as i64).await?.to_string();
        let (cqrs, seats, retries) = (cqrs.clone(), seats.clone(), retries.clone());
        let (n, h, e, s) = drive(
            options.clients,
            Some(seats.len() as u64),
            Duration::from_secs(600),
            move |i| {
                let (cqrs, seats, flight, retries) =
                    (cqrs.clone(), seats.clone(), flight.clone(), retries.clone());
                async move {
                    let command = FlightCommand::HoldSeats {
                        booking_id: BookingId::from_uuid(Uuid::new_v4()),
                        seats: vec![(seats[i as usize], SeatOccupant::Adult)],
                        hold_until: Utc::now() + chrono::Duration::minutes(15),
                        now: Utc::now(),
                    };
                    loop {
                        match cqrs.execute(&flight, command.clone()).await {
                            Ok(()) => return Done::Ok,
                            Err(AggregateError::AggregateConflict) => {
                                retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(e) => {
                                return Done::Failed(e.to_string().chars().take(40).collect());
                            }
                        }
                    }
                }
            },
        )
        .await;
        ok += n;
        seconds += s;
        let _ = latency.add(&h);
        for (k, v) in e {
            *errors.entry(k).or_insert(0) += v;
        }
    }
    Ok(Row {
        scenario: "hot flight, naive cqrs-es baseline (in-process hold only)".to_owned(),
        clients: options.clients,
        ok,
        seconds,
        latency: Some(latency),
        errors,
        note: format!(
            "{} conflict retries",
            retries.load(std::sync::atomic::Ordering::Relaxed)
        ),
    })
}
