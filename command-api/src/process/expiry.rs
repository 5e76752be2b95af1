//! The sweeper: unpaid holds past their deadline lapse, and their seats go back on sale.
//!
//! Due holds are claimed in batches for a lease (`FOR UPDATE SKIP LOCKED`, so replicas share the work
//! and never take the same rows); each is expired in one commit (`Booking.Expire`, `Flight.ExpireHold`
//! on every flight of the booking, and the deadline row dropped). A row that fails is logged, counted and set aside with a growing delay;
//! it never stops the pass. A sweeper that dies after claiming leaves rows that come back when the
//! lease runs out.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::booking::{Booking, BookingCommand, BookingError, BookingState};
use domain::flight::{Flight, FlightCommand, FlightError};
use domain::values::{BookingId, FlightId};
use infra::backoff::Backoff;
use uuid::Uuid;

use super::Outcome;
use crate::error::{ApiError, Result};
use crate::executor::{CommandMeta, Lane, WorkingSet};
use crate::state::AppState;

/// Lapses up to `limit` holds whose deadline has passed by the state's clock.
///
/// # Errors
/// Store failures of the claim; a failure of one hold is set aside and counted instead.
pub async fn sweep_once(state: &AppState, limit: i64) -> Result<Outcome> {
    let now = state.clock.now();
    let due: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE hold_deadlines d SET claimed_until = now() + make_interval(secs => $3) \
         FROM (SELECT booking_id FROM hold_deadlines \
               WHERE hold_until < $1 AND (claimed_until IS NULL OR claimed_until <= now()) \
               ORDER BY hold_until LIMIT $2 FOR UPDATE SKIP LOCKED) due \
         WHERE d.booking_id = due.booking_id RETURNING d.booking_id, d.flight_id",
    )
    .bind(now)
    .bind(limit)
    .bind(state.booking.sweep_lease().as_secs_f64())
    .fetch_all(&state.pool)
    .await?;
    if due.is_empty() {
        return Ok(Outcome::Idle);
    }
    crate::crash_point!("sweep.after_claim");
    let meta = CommandMeta::system(format!("sweeper-{}", Uuid::now_v7()));
    let results = futures::future::join_all(due.iter().map(|(booking, flight)| {
        expire(
            state,
            &meta,
            (BookingId::from_uuid(*booking), FlightId::from_uuid(*flight)),
            now,
        )
    }))
    .await;
    let mut failures = 0u64;
    for ((booking, _), result) in due.iter().zip(results) {
        if let Err(e) = result {
            failures += 1;
            tracing::error!(booking_id = %booking, error.message = %e, error.cause_chain = ?e,
                "could not expire a hold; set aside");
            if let Err(aside) = set_aside(state, *booking, &e.cause_chain()).await {
                // The claim's lease still keeps the row out of the next passes for a while.
                tracing::warn!(booking_id = %booking, error.message = %aside, "could not set a hold aside");
            }
        }
    }
    metrics::counter!("holds_expired_total").increment(due.len() as u64 - failures);
    metrics::counter!("sweeper_failures_total").increment(failures);
    Ok(Outcome::Processed(due.len()))
}

/// Lapses one hold on every flight of its booking (the deadline row's flight for a booking never placed).
async fn expire(
    state: &AppState,
    meta: &CommandMeta,
    (booking_id, flight_id): (BookingId, FlightId),
    now: DateTime<Utc>,
) -> Result<()> {
    let booking = state
        .executor
        .load::<Booking>(&booking_id.to_string())
        .await?;
    let flights = booking
        .aggregate
        .state()
        .map_or_else(|| vec![flight_id], BookingState::flight_ids);
    let lane = Lane::seats_of_all(&flights);
    let decide = move |ws: &mut WorkingSet| expire_in(ws, (booking_id, &flights), now);
    state.executor.run(lane, meta.clone(), decide).await
}

/// The expiry inside a decision. A booking paid in time, or already ended, or never placed, has nothing
/// to lapse; its deadline row goes either way.
fn expire_in(
    ws: &mut WorkingSet,
    (booking_id, flights): (BookingId, &[FlightId]),
    now: DateTime<Utc>,
) -> Result<()> {
    let expire = BookingCommand::Expire { now };
    match ws.execute::<Booking>(&booking_id.to_string(), "ExpireBooking", expire) {
        Ok(_)
        | Err(ApiError::Booking(
            BookingError::AlreadyConfirmed
            | BookingError::NotPlaced
            | BookingError::Expired
            | BookingError::Cancelled,
        )) => {}
        Err(e) => return Err(e),
    }
    let keys: Vec<String> = flights.iter().map(ToString::to_string).collect();
    ws.require::<Flight>(&keys.iter().map(String::as_str).collect::<Vec<_>>())?;
    for key in &keys {
        let expire_hold = FlightCommand::ExpireHold { booking_id, now };
        match ws.execute::<Flight>(key, "ExpireHold", expire_hold) {
            Ok(_)
            | Err(ApiError::Flight(FlightError::AlreadyConfirmed | FlightError::NotScheduled)) => {}
            Err(e) => return Err(e),
        }
    }
    ws.drop_deadline(*booking_id.as_uuid());
    Ok(())
}

/// A hold whose expiry failed is tried again about 2 s later, doubling per failure up to 10 min.
const EXPIRY_RETRIES: Backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(600));

async fn set_aside(state: &AppState, booking: Uuid, error: &str) -> Result<()> {
    let delay = EXPIRY_RETRIES.sql_seconds("failures");
    sqlx::query(&format!(
        "UPDATE hold_deadlines SET failures = failures + 1, last_error = $2, \
             claimed_until = now() + make_interval(secs => {delay}) \
         WHERE booking_id = $1",
    ))
    .bind(booking)
    .bind(error)
    .execute(&state.pool)
    .await?;
    Ok(())
}
