//! The flight's close, in one commit over the flight and every booking on it (and the other flights of
//! journeys whose hold expires): the plan ([`domain::flight::plan_close`]) is made from the flight and
//! its bookings inside the decision, so a concurrent change makes the commit decide again.
//!
//! - Unpaid holds expire (`HoldExpired`, `BookingExpired`, and the hold dropped on the journey's other
//!   flights), their deadline rows dropped.
//! - Offloaded passengers: `PassengersOffloaded` on flight and booking; their fare on this flight is a
//!   `pending` refund row in the ledger (paid back after the commit, or by recovery), and the
//!   compensation an `owed` row (a card provider pays out no more than it charged: the airline pays it
//!   by other means).
//! - Everyone else without a seat gets one (`SeatAssigned` per seat, `SeatsAssigned` per booking).
//!
//! The close runs when an admin asks (`POST /flights/{id}/close`) or, by the closer worker, a set time
//! before departure for flights the read side shows departing soon and not closed.

use chrono::{DateTime, Utc};
use domain::booking::{Booking, BookingCommand, BookingError};
use domain::flight::{Flight, FlightCommand, FlightError, Party, plan_close};
use domain::values::{BookingId, FlightId, Money};
use uuid::Uuid;

use super::Outcome;
use super::payment::settle_refunds;
use crate::error::{ApiError, Result};
use axum::response::Response;

use crate::executor::{CommandMeta, Lane, PaymentRow, Versioned, WorkingSet};
use crate::outcome::StoredResponse;
use crate::state::AppState;

/// What the close did: the flight after it and the bookings with a refund to pay back.
#[derive(Debug, Clone)]
pub struct Closed {
    /// The flight, closed.
    pub flight: Versioned<Flight>,
    /// Bookings offloaded (their refunds are paid back next).
    pub offloaded: Vec<BookingId>,
}

/// Closes `flight_id` (`expected`: the If-Match version, if any) and answers with `render` of the
/// flight; the offloads' refunds are paid back after the commit (recovery retries what fails).
///
/// # Errors
/// 404, 409 (`flight_closed`, `flight_cancelled`), 412, store failures.
pub async fn close<R>(
    state: &AppState,
    meta: &CommandMeta,
    (flight_id, expected): (FlightId, Option<u64>),
    now: DateTime<Utc>,
    render: R,
) -> Result<(Closed, Response)>
where
    R: Fn(&Versioned<Flight>) -> Result<StoredResponse> + Send + 'static,
{
    let (_, flights) = super::disruption::journeys_on(&state.executor, flight_id).await?;
    let compensation_minor = state.booking.denied_boarding_compensation_minor;
    let decide =
        move |ws: &mut WorkingSet| close_in(ws, (flight_id, expected), compensation_minor, now);
    let (closed, response) = state
        .executor
        .respond(
            Lane::seats_of_all(&flights),
            meta.clone(),
            decide,
            move |closed: &Closed| render(&closed.flight),
        )
        .await?;
    crate::crash_point!("close.before_refunds");
    settle_refunds(state, meta, &closed.offloaded).await;
    Ok((closed, response))
}

/// The close inside a decision.
fn close_in(
    ws: &mut WorkingSet,
    (flight_id, expected): (FlightId, Option<u64>),
    compensation_minor: i64,
    now: DateTime<Utc>,
) -> Result<Closed> {
    let key = flight_id.to_string();
    ws.expect_version::<Flight>(&key, expected)?;
    let fs = ws
        .get::<Flight>(&key)?
        .aggregate
        .state()
        .cloned()
        .ok_or(FlightError::NotScheduled)?;
    let ids: Vec<String> = fs.holds.keys().map(ToString::to_string).collect();
    ws.require::<Booking>(&ids.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut parties = Vec::new();
    for (id, hold) in &fs.holds {
        if !hold.confirmed {
            continue;
        }
        let booking = ws.get::<Booking>(&id.to_string())?;
        let Some(s) = booking.aggregate.state() else {
            continue;
        };
        if let Some(at) = s.segment_of(flight_id) {
            parties.push(Party {
                booking_id: *id,
                placed_at: s.placed_at,
                passengers: s.segments[at].passengers.clone(),
                fare_minor: s.segments[at].fare.price.amount_minor(),
            });
        }
    }
    let plan = plan_close(&fs, &parties);
    let cause = ws.execute::<Flight>(
        &key,
        "CloseFlight",
        FlightCommand::Close {
            plan: plan.clone(),
            now,
        },
    )?;
    if let Some(cause) = cause.first() {
        ws.caused_by(*cause);
    }
    for booking_id in &plan.expire {
        expire_at_close(ws, *booking_id, flight_id, now)?;
    }
    let mut offloaded = Vec::new();
    for o in &plan.offload {
        let booking_key = o.booking_id.to_string();
        // Owed in the currency the booking was paid in.
        let currency = ws
            .get::<Booking>(&booking_key)?
            .aggregate
            .state()
            .map(|b| b.total.currency())
            .ok_or(BookingError::NotPlaced)?;
        let compensation = Money::try_new(compensation_minor, currency)?;
        let offload = BookingCommand::Offload {
            flight_id,
            passengers: o.passengers.clone(),
            compensation,
            now,
        };
        if ws
            .execute::<Booking>(&booking_key, "OffloadPassengers", offload)?
            .is_empty()
        {
            continue;
        }
        let (first_flight, segment, money) = ws
            .get::<Booking>(&booking_key)?
            .aggregate
            .state()
            .and_then(|s| {
                let money = s.offloads.iter().rev().find(|m| m.flight_id == flight_id)?;
                Some((
                    s.flight_id(),
                    s.segment_of(flight_id)?,
                    (money.refund, money.compensation),
                ))
            })
            .ok_or(BookingError::NotPlaced)?;
        ledger_rows(ws, (o.booking_id, first_flight, flight_id), segment, money);
        offloaded.push(o.booking_id);
    }
    let mut by_booking: std::collections::BTreeMap<
        BookingId,
        Vec<(usize, domain::values::SeatNumber)>,
    > = std::collections::BTreeMap::new();
    for a in &plan.assign {
        by_booking
            .entry(a.booking_id)
            .or_default()
            .push((a.passenger, a.seat));
    }
    for (booking_id, seats) in by_booking {
        let booking_key = booking_id.to_string();
        let segment = ws
            .get::<Booking>(&booking_key)?
            .aggregate
            .state()
            .and_then(|s| s.segment_of(flight_id))
            .ok_or(BookingError::NotPlaced)?;
        let assign = BookingCommand::AssignSeats {
            segment,
            seats,
            at_close: true,
            now,
        };
        ws.execute::<Booking>(&booking_key, "AssignSeats", assign)?;
    }
    Ok(Closed {
        flight: ws.get::<Flight>(&key)?.clone(),
        offloaded,
    })
}

/// An unpaid booking lapses at close: the booking expires, its hold goes on its other flights, its
/// deadline row goes. One that ended meanwhile has nothing to lapse.
fn expire_at_close(
    ws: &mut WorkingSet,
    booking_id: BookingId,
    closing: FlightId,
    now: DateTime<Utc>,
) -> Result<()> {
    let key = booking_id.to_string();
    match ws.execute::<Booking>(&key, "ExpireBooking", BookingCommand::ExpireAtClose { now }) {
        Ok(_)
        | Err(ApiError::Booking(
            BookingError::NotPlaced | BookingError::Expired | BookingError::Cancelled,
        )) => {}
        Err(e) => return Err(e),
    }
    let others: Vec<String> = ws
        .get::<Booking>(&key)?
        .aggregate
        .state()
        .map(|s| s.flight_ids())
        .unwrap_or_default()
        .into_iter()
        .filter(|f| *f != closing)
        .map(|f| f.to_string())
        .collect();
    ws.require::<Flight>(&others.iter().map(String::as_str).collect::<Vec<_>>())?;
    for other in &others {
        ws.execute::<Flight>(other, "DropHold", FlightCommand::DropHold { booking_id })?;
    }
    ws.drop_deadline(*booking_id.as_uuid());
    Ok(())
}

/// The offload's ledger rows: the refund `pending` (keyed `offload-<booking>-<flight>`), the
/// compensation `owed`. Both sit on the booking's first flight, as its payment does.
fn ledger_rows(
    ws: &mut WorkingSet,
    (booking, first_flight, offloaded_from): (BookingId, FlightId, FlightId),
    segment: usize,
    (refund, compensation): (Money, Money),
) {
    // One row of each kind per segment: attempts 10 + segment (a cancellation's refund is attempt 1).
    let attempt = 10 + i32::try_from(segment).unwrap_or(0);
    for (kind, status, amount, key) in [
        (
            "refund",
            "pending",
            refund,
            format!("offload-{booking}-{offloaded_from}"),
        ),
        (
            "compensation",
            "owed",
            compensation,
            format!("compensation-{booking}-{offloaded_from}"),
        ),
    ] {
        if amount.amount_minor() == 0 {
            continue;
        }
        ws.add_payment(PaymentRow {
            payment_id: Uuid::now_v7(),
            booking_id: *booking.as_uuid(),
            flight_id: *first_flight.as_uuid(),
            kind,
            attempt,
            amount_minor: amount.amount_minor(),
            currency: amount.currency().to_string(),
            status,
            provider_key: key,
        });
    }
}

/// Closes up to `limit` flights that depart within the set time and are not closed (as the read side
/// shows them; the decision itself is on the flight, so a stale row only costs a refused close).
/// Flights that left more than a day before that are left alone (the log of an old flight is history).
///
/// # Errors
/// Store failures of the query; a failure of one flight is logged and retried on the next pass.
pub async fn close_due(state: &AppState, limit: i64) -> Result<Outcome> {
    let now = state.clock.now();
    let before = chrono::Duration::minutes(state.booking.close_minutes_before_departure);
    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT flight_id FROM rm_flights \
         WHERE closed_at IS NULL AND status <> 'cancelled' AND departure_at <= $1 \
               AND departure_at > $1 - interval '1 day' \
         ORDER BY departure_at LIMIT $2",
    )
    .bind(now + before)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    if due.is_empty() {
        return Ok(Outcome::Idle);
    }
    let meta = CommandMeta::system(format!("closer-{}", Uuid::now_v7()));
    let mut closed = 0;
    for flight in &due {
        let target = (FlightId::from_uuid(*flight), None);
        match close(state, &meta, target, now, |_| {
            Ok(StoredResponse::no_content())
        })
        .await
        {
            Ok(_) => closed += 1,
            // Closed or cancelled meanwhile: the read side has not caught up yet.
            Err(ApiError::Flight(FlightError::Closed | FlightError::FlightCancelled)) => {}
            Err(e) => {
                tracing::error!(flight_id = %flight, error.message = %e, error.cause_chain = ?e,
                    "could not close a flight; the next pass retries");
            }
        }
    }
    metrics::counter!("flights_closed_total").increment(closed);
    Ok(if closed == 0 {
        Outcome::Idle
    } else {
        Outcome::Processed(due.len())
    })
}
