//! The customer-facing steps: book, pay, cancel, change seat.

use chrono::{DateTime, Utc};
use domain::booking::{
    Booking, BookingCommand, BookingError, BookingState, CancelledBy, Payment, PlaceBooking,
};
use domain::flight::{FlightCommand, FlightError};
use domain::values::{
    BookingId, EmailAddress, FlightId, Label, Money, Passenger, Passengers, Pnr, SeatNumber,
    SeatOccupant, UserId,
};
use infra::auth::Principal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{ApiError, Result, store_error};
use crate::executor::{CommandMeta, Versioned};
use crate::payments::PaymentError;
use crate::state::AppState;

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

/// Holds the seats, then places the booking (status `held`).
///
/// # Errors
/// Domain rejections (seats taken: 409), validation (422), store failures.
pub async fn book(
    state: &AppState,
    principal: Principal,
    meta: &CommandMeta,
    req: BookRequest,
) -> Result<Versioned<Booking>> {
    let now = state.clock.now();
    let passengers = Passengers::try_new(req.passengers)?;
    let flight_key = req.flight_id.to_string();
    let flight = state.flights.load(&flight_key).await.map_err(store_error)?;
    let fs = flight.aggregate.state().ok_or(FlightError::NotScheduled)?;
    let occupants = passengers.occupants();
    let first = occupants
        .first()
        .map(|(seat, _)| *seat)
        .ok_or(FlightError::NoSeatsRequested)?;
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

    let booking_id = BookingId::from_uuid(Uuid::now_v7());
    let hold_until = now + state.booking.hold();
    let pnr = reserve(state, booking_id, req.flight_id, hold_until).await?;
    let hold = FlightCommand::HoldSeats {
        booking_id,
        seats: occupants,
        hold_until,
        now,
    };
    if let Err(e) = state
        .flights
        .execute(&flight_key, None, "HoldSeats", hold, meta)
        .await
    {
        forget(&state.pool, booking_id).await?;
        return Err(e.into());
    }
    let place = BookingCommand::Place(Box::new(PlaceBooking {
        id: booking_id,
        pnr,
        customer_id: UserId::from_uuid(principal.user_id),
        flight_id: req.flight_id,
        cabin,
        passengers,
        contact_email: req.contact_email,
        fare,
        departure_at,
        hold_until,
        now,
    }));
    // A fresh v7 id has no events: skip reading them (were there any, the append would conflict and the
    // retry would read them).
    state.bookings.expect_new(&booking_id.to_string());
    match state
        .bookings
        .execute(&booking_id.to_string(), None, "PlaceBooking", place, meta)
        .await
    {
        Ok(done) => Ok(done),
        Err(e) => {
            let release = FlightCommand::ReleaseSeats { booking_id };
            state
                .flights
                .execute(&flight_key, None, "ReleaseSeats", release, meta)
                .await?;
            forget(&state.pool, booking_id).await?;
            Err(e.into())
        }
    }
}

/// Reserves a free PNR (drawing again on a collision; 31^6 ≈ 887 million references) and records the
/// hold's deadline, in one statement. The deadline goes in before the hold, so if this process dies after
/// holding, the sweeper still finds it.
///
/// It runs on the side pool, whose commits do not wait for the WAL flush: the flight append that follows is
/// synchronous and WAL is flushed in order, so these rows are durable whenever the hold is, and losing them
/// in a crash before the hold loses nothing that matters.
async fn reserve(
    state: &AppState,
    booking_id: BookingId,
    flight: FlightId,
    hold_until: DateTime<Utc>,
) -> Result<Pnr> {
    for _ in 0..16 {
        let pnr = Pnr::from_random_bytes(rand::random());
        let reserved: Option<uuid::Uuid> = sqlx::query_scalar(
            "WITH p AS (INSERT INTO pnr_registry (pnr, booking_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING pnr) \
             INSERT INTO hold_deadlines (booking_id, flight_id, hold_until) SELECT $2, $3, $4 FROM p RETURNING booking_id",
        )
        .bind(pnr.as_str())
        .bind(booking_id.as_uuid())
        .bind(flight.as_uuid())
        .bind(hold_until)
        .fetch_optional(&state.side)
        .await?;
        if reserved.is_some() {
            return Ok(pnr);
        }
        metrics::counter!("pnr_collisions_total").increment(1);
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "no free booking reference after 16 draws"
    )))
}

/// Forgets a hold's deadline once the booking is paid or ended, on the side pool: if a crash loses the
/// delete, the sweeper finds the row again and sees the booking paid or ended.
pub(crate) async fn drop_deadline(state: &AppState, booking_id: BookingId) -> Result<()> {
    sqlx::query("DELETE FROM hold_deadlines WHERE booking_id = $1")
        .bind(booking_id.as_uuid())
        .execute(&state.side)
        .await?;
    Ok(())
}

async fn forget(pool: &PgPool, booking_id: BookingId) -> Result<()> {
    sqlx::query("DELETE FROM hold_deadlines WHERE booking_id = $1")
        .bind(booking_id.as_uuid())
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM pnr_registry WHERE booking_id = $1")
        .bind(booking_id.as_uuid())
        .execute(pool)
        .await?;
    Ok(())
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
        .bookings
        .load(&booking_id.to_string())
        .await
        .map_err(store_error)?;
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

/// Takes payment and confirms: the flight's seats are sold, then the booking records the payment.
///
/// # Errors
/// 402 declined, 409 hold expired or already paid, 412 If-Match, 422 amount mismatch.
pub async fn pay(
    state: &AppState,
    principal: Principal,
    meta: &CommandMeta,
    booking_id: BookingId,
    expected: Option<u64>,
    (card_token, amount): (&str, Money),
) -> Result<Versioned<Booking>> {
    let now = state.clock.now();
    let booking = load_visible(state, principal, booking_id).await?;
    check_version(&booking, expected)?;
    let s = placed(&booking)?;
    let flight_key = s.flight_id.to_string();
    let provisional = Payment {
        amount,
        reference: Label::parse("pending")?,
    };
    // Decide on the current state before charging anyone: wrong amount, paid, lapsed or ended.
    booking.aggregate.decide(BookingCommand::Confirm {
        payment: provisional,
        now,
    })?;
    let authorization = state
        .payments
        .authorize(booking_id, card_token, amount)
        .await
        .map_err(payment_problem)?;
    let confirm_seats = FlightCommand::ConfirmSeats { booking_id, now };
    state
        .flights
        .execute(&flight_key, None, "ConfirmSeats", confirm_seats, meta)
        .await?;
    let payment = Payment {
        amount,
        reference: Label::parse(&authorization.reference)?,
    };
    let done = state
        .bookings
        .execute(
            &booking_id.to_string(),
            expected,
            "ConfirmBooking",
            BookingCommand::Confirm { payment, now },
            meta,
        )
        .await?;
    drop_deadline(state, booking_id).await?;
    Ok(done)
}

fn payment_problem(e: PaymentError) -> ApiError {
    use axum::http::StatusCode;
    let (status, code) = match e {
        PaymentError::Declined => (StatusCode::PAYMENT_REQUIRED, "payment_declined"),
        PaymentError::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "payment_provider_unavailable",
        ),
    };
    infra::problem::Problem::new(status, code, e.to_string()).into()
}

/// Cancels (by the customer, or by the airline when an admin does it), then releases the seats.
///
/// # Errors
/// 404, 409 ended or departed, 412 If-Match.
pub async fn cancel(
    state: &AppState,
    principal: Principal,
    meta: &CommandMeta,
    booking_id: BookingId,
    expected: Option<u64>,
) -> Result<Versioned<Booking>> {
    let now = state.clock.now();
    let booking = load_visible(state, principal, booking_id).await?;
    let flight_key = placed(&booking)?.flight_id.to_string();
    let by = if principal.is_admin() {
        CancelledBy::Airline
    } else {
        CancelledBy::Customer
    };
    let done = state
        .bookings
        .execute(
            &booking_id.to_string(),
            expected,
            "CancelBooking",
            BookingCommand::Cancel { by, now },
            meta,
        )
        .await?;
    release(state, meta, &flight_key, booking_id).await?;
    Ok(done)
}

/// Gives a booking's seats back and forgets its deadline. Idempotent.
pub(crate) async fn release(
    state: &AppState,
    meta: &CommandMeta,
    flight_key: &str,
    booking_id: BookingId,
) -> Result<()> {
    let command = FlightCommand::ReleaseSeats { booking_id };
    state
        .flights
        .execute(flight_key, None, "ReleaseSeats", command, meta)
        .await?;
    drop_deadline(state, booking_id).await?;
    Ok(())
}

/// Moves one passenger to another free seat of the same cabin: the flight first, then the booking.
///
/// # Errors
/// 404, 409 seat taken, 412 If-Match, 422 rule broken.
pub async fn change_seat(
    state: &AppState,
    principal: Principal,
    meta: &CommandMeta,
    booking_id: BookingId,
    expected: Option<u64>,
    (passenger, to): (usize, SeatNumber),
) -> Result<Versioned<Booking>> {
    let now: DateTime<Utc> = state.clock.now();
    let booking = load_visible(state, principal, booking_id).await?;
    check_version(&booking, expected)?;
    let s = placed(&booking)?;
    let change = BookingCommand::ChangeSeat { passenger, to, now };
    booking.aggregate.decide(change.clone())?;
    let from = s
        .passengers
        .as_slice()
        .get(passenger)
        .and_then(|p| p.seat)
        .ok_or(BookingError::NoSuchPassenger(passenger))?;
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
    state
        .flights
        .execute(&s.flight_id.to_string(), None, "MoveSeat", move_seat, meta)
        .await?;
    Ok(state
        .bookings
        .execute(
            &booking_id.to_string(),
            expected,
            "ChangeSeat",
            change,
            meta,
        )
        .await?)
}
