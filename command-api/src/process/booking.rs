//! The customer-facing actions: book, pay, cancel, change seat. Each changes a flight and a booking in
//! one decision, committed as one transaction with its side rows; payment calls to the provider happen
//! around those commits, each recorded in the ledger first.

use chrono::{DateTime, Utc};
use domain::booking::{
    Booking, BookingCommand, BookingError, BookingEvent, BookingState, CancelledBy, Payment,
    PlaceBooking,
};
use domain::flight::{Flight, FlightCommand, FlightError};
use domain::values::{
    BookingId, EmailAddress, FlightId, Label, Money, Passenger, Passengers, Pnr, SeatNumber,
    SeatOccupant, UserId,
};
use infra::auth::Principal;
use uuid::Uuid;

use super::payment::{Captured, abandon, capture, ledger_problem, payment_problem, settle_refund};
use crate::error::{ApiError, Result};
use crate::executor::{CommandMeta, PaymentRow, StreamKey, Versioned, WorkingSet};
use crate::outcome::StoredResponse;
use crate::payments;
use crate::state::AppState;

/// Makes a booking's HTTP response.
pub trait RenderBooking:
    Fn(&Versioned<Booking>) -> Result<StoredResponse> + Send + 'static
{
}
impl<F: Fn(&Versioned<Booking>) -> Result<StoredResponse> + Send + 'static> RenderBooking for F {}

/// A decided booking action: the booking after it, and the HTTP response (as stored for an
/// Idempotency-Key).
pub type Done = (Versioned<Booking>, axum::response::Response);

/// A new booking.
#[derive(Debug, Clone)]
pub struct BookRequest {
    /// The flight.
    pub flight_id: FlightId,
    /// Notification address.
    pub contact_email: EmailAddress,
    /// Travellers with their seats.
    pub passengers: Vec<Passenger>,
}

/// Holds the seats and places the booking (status `held`), with its reference and hold deadline, in one
/// commit.
///
/// # Errors
/// Domain rejections (seats taken: 409), validation (422), store failures.
pub async fn book(
    state: &AppState,
    principal: Principal,
    meta: &CommandMeta,
    req: BookRequest,
    render: impl RenderBooking,
) -> Result<Done> {
    let now = state.clock.now();
    let passengers = Passengers::try_new(req.passengers)?;
    let occupants = passengers.occupants();
    let first = occupants
        .first()
        .map(|(seat, _)| *seat)
        .ok_or(FlightError::NoSeatsRequested)?;
    let booking_id = BookingId::from_uuid(Uuid::now_v7());
    let hold_until = now + state.booking.hold();
    let flight_id = req.flight_id;
    let (flight_key, booking_key) = (flight_id.to_string(), booking_id.to_string());
    let decide = move |ws: &mut WorkingSet| {
        let fs = ws.get::<Flight>(&flight_key)?;
        let fs = fs.aggregate.state().ok_or(FlightError::NotScheduled)?;
        let cabin = fs
            .seats
            .get(&first)
            .ok_or(FlightError::UnknownSeat(first))?
            .cabin;
        let fare = *fs
            .fares
            .get(&cabin)
            .ok_or(FlightError::FaresDoNotMatchCabins { cabin })?;
        let departure_at = fs.departure_at;
        let hold = FlightCommand::HoldSeats {
            booking_id,
            seats: occupants.clone(),
            hold_until,
            now,
        };
        ws.execute::<Flight>(&flight_key, "HoldSeats", hold)?;
        // Drawn per decision: a reference someone else took makes the commit draw again.
        let pnr = Pnr::from_random_bytes(rand::random());
        let place = BookingCommand::Place(Box::new(PlaceBooking {
            id: booking_id,
            pnr,
            customer_id: UserId::from_uuid(principal.user_id),
            flight_id,
            cabin,
            passengers: passengers.clone(),
            contact_email: req.contact_email.clone(),
            fare,
            departure_at,
            hold_until,
            now,
        }));
        ws.create::<Booking>(&booking_key);
        ws.execute::<Booking>(&booking_key, "PlaceBooking", place)?;
        ws.reserve_pnr(pnr.as_str(), *booking_id.as_uuid());
        ws.add_hold(
            *booking_id.as_uuid(),
            *flight_id.as_uuid(),
            hold_until,
            principal.user_id,
            occupants.len(),
        );
        Ok(ws.get::<Booking>(&booking_key)?.clone())
    };
    state
        .executor
        .respond(StreamKey::seats_of(flight_id), meta.clone(), decide, render)
        .await
}

/// The booking if `principal` may see it: its owner, or an admin. Anyone else gets 404, not 403.
///
/// # Errors
/// 404 `booking_not_found`; store failures.
pub async fn load_visible(
    state: &AppState,
    principal: Principal,
    booking_id: BookingId,
) -> Result<Versioned<Booking>> {
    let booking = state
        .executor
        .load::<Booking>(&booking_id.to_string())
        .await?;
    match booking.aggregate.state() {
        Some(s) if principal.is_admin() || *s.customer_id.as_uuid() == principal.user_id => {
            Ok(booking)
        }
        _ => Err(BookingError::NotPlaced.into()),
    }
}

/// 412 before any step runs when `If-Match` names another version.
fn check_version(booking: &Versioned<Booking>, expected: Option<u64>) -> Result<()> {
    match expected {
        Some(v) if v != booking.version => Err(ApiError::PreconditionFailed {
            current: booking.version,
        }),
        _ => Ok(()),
    }
}

fn placed(booking: &Versioned<Booking>) -> Result<&BookingState> {
    Ok(booking.aggregate.state().ok_or(BookingError::NotPlaced)?)
}

/// Takes payment: the ledger records the attempt, the provider authorizes, then one commit sells the
/// seats, confirms the booking with the authorization and marks it `authorized` in the ledger; then the
/// payment is captured (an event too). A commit that fails voids the authorization; a crash anywhere
/// leaves a ledger row that recovery finishes (capture) or undoes (void).
///
/// # Errors
/// 402 declined, 409 hold expired, already paid or another payment in progress, 412 If-Match, 422
/// amount mismatch, 503 provider unavailable.
pub async fn pay(
    state: &AppState,
    principal: Principal,
    meta: &CommandMeta,
    (booking_id, expected): (BookingId, Option<u64>),
    (card_token, amount): (&str, Money),
    render: impl RenderBooking,
) -> Result<Done> {
    let now = state.clock.now();
    let booking = load_visible(state, principal, booking_id).await?;
    check_version(&booking, expected)?;
    let flight_id = placed(&booking)?.flight_id;
    // Decide on the current state before charging anyone: wrong amount, paid, lapsed or ended.
    let provisional = Payment {
        amount,
        reference: Label::parse("pending")?,
    };
    booking.aggregate.decide(BookingCommand::Confirm {
        payment: provisional,
        now,
    })?;
    let scope = meta
        .claim
        .as_ref()
        .map(|c| format!("{}:{}", c.principal, c.key));
    let attempt = payments::begin_authorization(
        &state.pool,
        (booking_id, flight_id),
        amount,
        scope.as_deref(),
    )
    .await
    .map_err(ledger_problem)?;
    let receipt = match state
        .payments
        .authorize(&attempt.provider_key, card_token, amount)
        .await
    {
        Ok(receipt) => receipt,
        Err(e) => {
            abandon(state, &attempt, &e).await;
            return Err(payment_problem(e));
        }
    };
    crate::crash_point!("pay.after_authorize");
    let (payment_id, reference) = (attempt.payment_id, receipt.reference);
    let (flight_key, booking_key) = (flight_id.to_string(), booking_id.to_string());
    let clock = state.clock.clone();
    let decide = move |ws: &mut WorkingSet| {
        // The hold's deadline is checked at the decision, however long the provider took.
        let now = clock.now();
        ws.expect_version::<Booking>(&booking_key, expected)?;
        let confirm_seats = FlightCommand::ConfirmSeats { booking_id, now };
        ws.execute::<Flight>(&flight_key, "ConfirmSeats", confirm_seats)?;
        let payment = Payment {
            amount,
            reference: Label::parse(&reference)?,
        };
        let confirm = BookingCommand::Confirm { payment, now };
        ws.execute::<Booking>(&booking_key, "ConfirmBooking", confirm)?;
        ws.drop_deadline(*booking_id.as_uuid());
        let moved = ("authorizing", "authorized");
        ws.move_payment(payment_id, moved, Some(reference.clone()))?;
        Ok(ws.get::<Booking>(&booking_key)?.clone())
    };
    let committed = state
        .executor
        .respond(StreamKey::seats_of(flight_id), meta.clone(), decide, render)
        .await;
    let done = match committed {
        Ok(done) => done,
        Err(e) => {
            if let Err(void) =
                payments::void(&state.pool, &*state.payments, &attempt, "authorizing").await
            {
                tracing::warn!(error.message = %void, "void after a failed commit failed; recovery retries it");
            }
            return Err(e);
        }
    };
    let booked = Captured {
        booking: booking_id,
        flight: flight_id,
        attempt,
        amount,
    };
    if let Err(e) = capture(state, meta, &booked).await {
        tracing::warn!(error.message = %e, "capture failed; recovery retries it");
    }
    Ok(done)
}

/// Cancels (by the customer, or by the airline when an admin does it) and releases the seats in one
/// commit, with the refund the fare rules give written to the ledger; the refund is then paid back.
///
/// # Errors
/// 404, 409 ended or departed, 412 If-Match.
pub async fn cancel(
    state: &AppState,
    principal: Principal,
    meta: &CommandMeta,
    (booking_id, expected): (BookingId, Option<u64>),
    render: impl RenderBooking,
) -> Result<Done> {
    let now = state.clock.now();
    let booking = load_visible(state, principal, booking_id).await?;
    let flight_id = placed(&booking)?.flight_id;
    let by = if principal.is_admin() {
        CancelledBy::Airline
    } else {
        CancelledBy::Customer
    };
    let booking_key = booking_id.to_string();
    let decide = move |ws: &mut WorkingSet| {
        ws.expect_version::<Booking>(&booking_key, expected)?;
        cancel_in(ws, (booking_id, flight_id), by, now)?;
        Ok(ws.get::<Booking>(&booking_key)?.clone())
    };
    let done = state
        .executor
        .respond(StreamKey::seats_of(flight_id), meta.clone(), decide, render)
        .await?;
    if let Err(e) = settle_refund(state, meta, booking_id).await {
        tracing::warn!(error.message = %e, "refund failed; recovery retries it");
    }
    Ok(done)
}

/// The cancellation inside a decision: the booking's `Cancel`, the flight's `ReleaseSeats`, the deadline
/// dropped and the refund due (if any) written `pending` to the ledger.
///
/// # Errors
/// The booking's or flight's rule.
pub fn cancel_in(
    ws: &mut WorkingSet,
    (booking_id, flight_id): (BookingId, FlightId),
    by: CancelledBy,
    now: DateTime<Utc>,
) -> Result<()> {
    let booking_key = booking_id.to_string();
    let command = BookingCommand::Cancel { by, now };
    ws.execute::<Booking>(&booking_key, "CancelBooking", command)?;
    let release = FlightCommand::ReleaseSeats { booking_id };
    ws.execute::<Flight>(&flight_id.to_string(), "ReleaseSeats", release)?;
    ws.drop_deadline(*booking_id.as_uuid());
    let refund = ws
        .get::<Booking>(&booking_key)?
        .aggregate
        .state()
        .and_then(|s| s.refund)
        .filter(|r| r.amount_minor() > 0);
    if let Some(refund) = refund {
        ws.add_payment(PaymentRow {
            payment_id: Uuid::now_v7(),
            booking_id: *booking_id.as_uuid(),
            flight_id: *flight_id.as_uuid(),
            kind: "refund",
            attempt: 1,
            amount_minor: refund.amount_minor(),
            currency: refund.currency().to_string(),
            status: "pending",
            provider_key: format!("refund-{booking_id}"),
        });
    }
    Ok(())
}

/// Moves one passenger to another free seat of the same cabin: the flight's `MoveSeat` and the booking's
/// `ChangeSeat`, one commit.
///
/// # Errors
/// 404, 409 seat taken, 412 If-Match, 422 rule broken.
pub async fn change_seat(
    state: &AppState,
    principal: Principal,
    meta: &CommandMeta,
    (booking_id, expected): (BookingId, Option<u64>),
    (passenger, to): (usize, SeatNumber),
    render: impl RenderBooking,
) -> Result<Done> {
    let now: DateTime<Utc> = state.clock.now();
    let booking = load_visible(state, principal, booking_id).await?;
    let flight_id = placed(&booking)?.flight_id;
    let (flight_key, booking_key) = (flight_id.to_string(), booking_id.to_string());
    let decide = move |ws: &mut WorkingSet| {
        ws.expect_version::<Booking>(&booking_key, expected)?;
        let current = ws.get::<Booking>(&booking_key)?;
        let s = current.aggregate.state().ok_or(BookingError::NotPlaced)?;
        let change = BookingCommand::ChangeSeat { passenger, to, now };
        // The booking's own rules decide first; the seat it moves from comes with its event.
        let from = match current.aggregate.decide(change.clone())?.as_slice() {
            [BookingEvent::PassengerSeatChanged { from, .. }] => *from,
            _ => return Err(BookingError::NoSuchPassenger(passenger).into()),
        };
        let occupant = s
            .passengers
            .occupants()
            .into_iter()
            .find_map(|(seat, who)| (seat == from).then_some(who))
            .unwrap_or(SeatOccupant::Adult);
        let move_seat = FlightCommand::MoveSeat {
            booking_id,
            from,
            to,
            occupant,
            now,
        };
        ws.execute::<Flight>(&flight_key, "MoveSeat", move_seat)?;
        ws.execute::<Booking>(&booking_key, "ChangeSeat", change)?;
        Ok(ws.get::<Booking>(&booking_key)?.clone())
    };
    state
        .executor
        .respond(StreamKey::seats_of(flight_id), meta.clone(), decide, render)
        .await
}
