//! Disruption: a delayed or cancelled flight and every booking on it, in one commit. Each booking's
//! event names the flight's event as its cause. A cancelled flight cancels every live booking (by the
//! airline: a full refund, written to the ledger), releases its seats on every flight of its journey
//! and drops its hold deadline; a delay is noted on every live booking, with any connection it breaks
//! (the next segment now leaves sooner than the connecting airport's minimum after this one lands, or
//! this one now leaves sooner than that after the one before lands).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::airport::Airport;
use domain::booking::{Booking, BookingCommand, BookingError, CancelledBy, ConnectionRule};
use domain::flight::{Flight, FlightCommand, FlightState};
use domain::values::{AirportCode, BookingId, ConnectionTime, FlightId, Label};

use super::booking::cancel_in;
use crate::error::{ApiError, Result};
use crate::executor::{Executor, Versioned, WorkingSet};

/// A delay as the route took it: new times and why.
#[derive(Debug, Clone)]
pub struct DelayNote {
    /// New departure.
    pub departure_at: DateTime<Utc>,
    /// New arrival.
    pub arrival_at: DateTime<Utc>,
    /// Why.
    pub reason: Label,
}

/// The decision of `Flight.Delay` (`delay`) noted on every booking, with its broken connections.
pub fn delay(
    flight_id: FlightId,
    expected: Option<u64>,
    delay: FlightCommand,
    note: DelayNote,
) -> impl FnMut(&mut WorkingSet) -> Result<Versioned<Flight>> + Send + 'static {
    let key = flight_id.to_string();
    move |ws| {
        ws.expect_version::<Flight>(&key, expected)?;
        let affected = affected_bookings(ws, &key)?;
        let (origin, destination) = {
            let fs = ws.get::<Flight>(&key)?.aggregate.state();
            fs.map(|f| (f.origin, f.destination))
                .ok_or(domain::flight::FlightError::NotScheduled)?
        };
        let minimum = minimum_connections(ws, [origin, destination])?;
        let cause = ws.execute::<Flight>(&key, "DelayFlight", delay.clone())?;
        if let Some(cause) = cause.first() {
            ws.caused_by(*cause);
        }
        for booking in &affected {
            let id = booking.to_string();
            let at = ws
                .get::<Booking>(&id)?
                .aggregate
                .state()
                .and_then(|s| s.segment_of(flight_id));
            // Into this segment (at its origin) and out of it (at its destination).
            let connections = at.map_or_else(Vec::new, |at| {
                vec![
                    ConnectionRule {
                        segment: at,
                        airport: origin,
                        minimum: minimum[0],
                    },
                    ConnectionRule {
                        segment: at + 1,
                        airport: destination,
                        minimum: minimum[1],
                    },
                ]
            });
            let command = BookingCommand::NoteFlightDelay {
                flight_id,
                departure_at: note.departure_at,
                arrival_at: note.arrival_at,
                reason: note.reason.clone(),
                connections,
            };
            let noted = ws.execute::<Booking>(&id, "NoteFlightDelay", command);
            skip_ended(noted.map(drop))?;
        }
        Ok(ws.get::<Flight>(&key)?.clone())
    }
}

/// The minimum connecting times of `airports` (the default where one has none on record).
fn minimum_connections<const N: usize>(
    ws: &mut WorkingSet,
    airports: [AirportCode; N],
) -> Result<[ConnectionTime; N]> {
    let keys = airports.map(|a| a.to_string());
    ws.require::<Airport>(&keys.each_ref().map(String::as_str))?;
    let mut minimum = [ConnectionTime::default(); N];
    for (m, key) in minimum.iter_mut().zip(&keys) {
        if let Some(details) = ws.get::<Airport>(key)?.aggregate.details() {
            *m = details.min_connection_minutes;
        }
    }
    Ok(minimum)
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
            skip_ended(cancel_in(ws, *booking, CancelledBy::Airline, now))?;
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

/// The bookings on `flight` now, and every flight they travel on (`flight` first): the lanes a
/// cancellation of `flight` takes.
///
/// # Errors
/// Store failures.
pub async fn journeys_on(
    executor: &Arc<Executor>,
    flight: FlightId,
) -> Result<(Vec<BookingId>, Vec<FlightId>)> {
    let loaded = executor.load::<Flight>(&flight.to_string()).await?;
    let bookings = loaded
        .aggregate
        .state()
        .map(FlightState::booking_ids)
        .unwrap_or_default();
    let mut flights = vec![flight];
    for booking in &bookings {
        let b = executor.load::<Booking>(&booking.to_string()).await?;
        if let Some(s) = b.aggregate.state() {
            flights.extend(s.flight_ids());
        }
    }
    Ok((bookings, flights))
}
