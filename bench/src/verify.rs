//! After the write scenarios: every flight's events, folded with a ledger of their own, never give a
//! seat to two bookings, and sold + held + free equals capacity. A violation fails the run.

use std::collections::BTreeMap;

use cqrs_es::Aggregate;
use domain::flight::{Flight, FlightEvent};
use domain::values::{BookingId, SeatNumber};
use sqlx::PgPool;

/// Checks every flight in the log.
///
/// # Errors
/// The first violation found, or database failures.
pub async fn no_double_booking(pool: &PgPool) -> anyhow::Result<()> {
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT aggregate_id, payload FROM events WHERE aggregate_type = 'flight' ORDER BY aggregate_id, sequence",
    )
    .fetch_all(pool)
    .await?;
    let mut flights = 0;
    let mut current: Option<String> = None;
    let mut owner: BTreeMap<SeatNumber, BookingId> = BTreeMap::new();
    let mut folded = Flight::default();
    let mut finish = |id: &Option<String>,
                      folded: &Flight,
                      owner: &BTreeMap<SeatNumber, BookingId>|
     -> anyhow::Result<()> {
        if let (Some(id), Some(state)) = (id, folded.state()) {
            let c = state.counts(None);
            anyhow::ensure!(
                c.sold + c.held + c.free == c.capacity,
                "flight {id}: counts do not add up"
            );
            anyhow::ensure!(
                c.sold + c.held == owner.len(),
                "flight {id}: ledger and aggregate disagree"
            );
            flights += 1;
        }
        Ok(())
    };
    for (id, payload) in rows {
        if current.as_ref() != Some(&id) {
            finish(&current, &folded, &owner)?;
            current = Some(id.clone());
            owner.clear();
            folded = Flight::default();
        }
        let event: FlightEvent = serde_json::from_value(payload)?;
        match &event {
            FlightEvent::SeatsHeld {
                booking_id, seats, ..
            } => {
                for seat in seats {
                    if let Some(other) = owner.insert(*seat, *booking_id) {
                        anyhow::bail!(
                            "DOUBLE BOOKING: flight {id} seat {seat} held by {other} and {booking_id}"
                        );
                    }
                }
            }
            FlightEvent::SeatsReleased { booking_id, seats }
            | FlightEvent::HoldExpired { booking_id, seats } => {
                for seat in seats {
                    anyhow::ensure!(
                        owner.remove(seat) == Some(*booking_id),
                        "flight {id}: {seat} released by a stranger"
                    );
                }
            }
            FlightEvent::SeatChanged {
                booking_id,
                from,
                to,
            } => {
                owner.remove(from);
                if let Some(other) = owner.insert(*to, *booking_id) {
                    anyhow::bail!("DOUBLE BOOKING: flight {id} seat {to} moved onto {other}");
                }
            }
            _ => {}
        }
        folded.apply(event);
    }
    finish(&current, &folded, &owner)?;
    tracing::warn!(
        flights,
        "verified: no seat held or sold twice; sold + held + free = capacity"
    );
    Ok(())
}
