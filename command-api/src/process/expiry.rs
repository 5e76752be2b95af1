//! The sweeper: unpaid holds past their deadline lapse, and their seats go back on sale.

use domain::booking::{BookingCommand, BookingError};
use domain::flight::{FlightCommand, FlightError};
use domain::values::BookingId;
use uuid::Uuid;

use super::Outcome;
use crate::error::{ApiError, Result};
use crate::executor::{CommandError, CommandMeta};
use crate::state::AppState;

/// Lapses up to `limit` holds whose deadline has passed by the state's clock.
///
/// # Errors
/// Store failures; the holds not handled stay listed for the next sweep.
pub async fn sweep_once(state: &AppState, limit: i64) -> Result<Outcome> {
    let now = state.clock.now();
    let due: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT booking_id, flight_id FROM hold_deadlines WHERE hold_until < $1 ORDER BY hold_until LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    if due.is_empty() {
        return Ok(Outcome::Idle);
    }
    let meta = CommandMeta {
        correlation_id: format!("sweeper-{}", Uuid::now_v7()),
        ..CommandMeta::default()
    };
    for (booking, flight) in &due {
        expire(
            state,
            &meta,
            BookingId::from_uuid(*booking),
            &flight.to_string(),
        )
        .await?;
    }
    metrics::counter!("holds_expired_total").increment(due.len() as u64);
    Ok(Outcome::Processed(due.len()))
}

async fn expire(
    state: &AppState,
    meta: &CommandMeta,
    booking_id: BookingId,
    flight_key: &str,
) -> Result<()> {
    let now = state.clock.now();
    let expired = state
        .bookings
        .execute(
            &booking_id.to_string(),
            None,
            "ExpireBooking",
            BookingCommand::Expire { now },
            meta,
        )
        .await;
    match expired {
        // Paid in time: nothing to lapse.
        Err(CommandError::Rejected(BookingError::AlreadyConfirmed)) => {
            return forget(state, booking_id).await;
        }
        // Lapsed now; or never placed (the process died after the hold); or ended already.
        Ok(_)
        | Err(CommandError::Rejected(
            BookingError::NotPlaced | BookingError::Expired | BookingError::Cancelled,
        )) => {}
        Err(other) => return Err(other.into()),
    }
    let command = FlightCommand::ExpireHold { booking_id, now };
    match state
        .flights
        .execute(flight_key, None, "ExpireHold", command, meta)
        .await
    {
        Ok(_) => {}
        // The flight sold the seats but the booking never recorded the payment: give them back.
        Err(CommandError::Rejected(FlightError::AlreadyConfirmed)) => {
            let release = FlightCommand::ReleaseSeats { booking_id };
            state
                .flights
                .execute(flight_key, None, "ReleaseSeats", release, meta)
                .await?;
        }
        Err(CommandError::Rejected(FlightError::NotScheduled)) => {}
        Err(other) => return Err(ApiError::from(other)),
    }
    forget(state, booking_id).await
}

async fn forget(state: &AppState, booking_id: BookingId) -> Result<()> {
    super::booking::drop_deadline(state, booking_id).await
}
