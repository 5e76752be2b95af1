//! Disruption: a delayed or cancelled flight and every booking on it, in one commit. Each booking's
//! event names the flight's event as its cause. A cancelled flight cancels every live booking (by the
//! airline: a full refund, written to the ledger), releases its seats and drops its hold deadline; a
//! delay is noted on every live booking.

use chrono::{DateTime, Utc};
use domain::booking::{Booking, BookingCommand, BookingError, CancelledBy};
use domain::flight::{Flight, FlightCommand, FlightState};
use domain::values::{BookingId, FlightId};

use super::booking::cancel_in;
use crate::error::{ApiError, Result};
use crate::executor::{Versioned, WorkingSet};

/// The decision of `Flight.Delay` (`delay`) with `note` (a `NoteFlightDelay`) on every booking.
pub fn delay(
    flight_id: FlightId,
    expected: Option<u64>,
    delay: FlightCommand,
    note: BookingCommand,
) -> impl FnMut(&mut WorkingSet) -> Result<Versioned<Flight>> + Send + 'static {
    let key = flight_id.to_string();
    move |ws| {
        ws.expect_version::<Flight>(&key, expected)?;
        let affected = affected_bookings(ws, &key)?;
        let cause = ws.execute::<Flight>(&key, "DelayFlight", delay.clone())?;
        if let Some(cause) = cause.first() {
            ws.caused_by(*cause);
        }
        for booking in &affected {
            let noted =
                ws.execute::<Booking>(&booking.to_string(), "NoteFlightDelay", note.clone());
            skip_ended(noted.map(drop))?;
        }
        Ok(ws.get::<Flight>(&key)?.clone())
    }
}

/// The decision of `Flight.Cancel` (`cancel`) with every booking cancelled by the airline.
pub fn cancel(
    flight_id: FlightId,
    expected: Option<u64>,
    cancel: FlightCommand,
    now: DateTime<Utc>,
) -> impl FnMut(&mut WorkingSet) -> Result<Versioned<Flight>> + Send + 'static {
    let key = flight_id.to_string();
    move |ws| {
        ws.expect_version::<Flight>(&key, expected)?;
        let affected = affected_bookings(ws, &key)?;
        let cause = ws.execute::<Flight>(&key, "CancelFlight", cancel.clone())?;
        if let Some(cause) = cause.first() {
            ws.caused_by(*cause);
        }
        for booking in &affected {
            skip_ended(cancel_in(
                ws,
                (*booking, flight_id),
                CancelledBy::Airline,
                now,
            ))?;
        }
        Ok(ws.get::<Flight>(&key)?.clone())
    }
}

/// Ended bookings, and holds whose booking never came, have nothing to be told.
fn skip_ended(result: Result<()>) -> Result<()> {
    match result {
        Ok(())
        | Err(ApiError::Booking(
            BookingError::Cancelled | BookingError::Expired | BookingError::NotPlaced,
        )) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The bookings holding seats on the flight, loaded into the working set.
fn affected_bookings(ws: &mut WorkingSet, flight: &str) -> Result<Vec<BookingId>> {
    let affected = ws
        .get::<Flight>(flight)?
        .aggregate
        .state()
        .map(FlightState::booking_ids)
        .unwrap_or_default();
    let keys: Vec<String> = affected.iter().map(ToString::to_string).collect();
    ws.require::<Booking>(&keys.iter().map(String::as_str).collect::<Vec<_>>())?;
    Ok(affected)
}
