//! The customer-facing actions: book, pay, cancel, change seat. Each changes a booking and every flight
//! it travels on (one, or a journey's two to four) in one decision, committed as one transaction with its side rows; payment calls to the provider happen
//! around those commits, each recorded in the ledger first.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use axum::http::StatusCode;
use domain::airport::Airport;
use domain::booking::{
    Booking, BookingCommand, BookingError, BookingEvent, BookingState, CancelledBy, Payment,
    PlaceBooking, SegmentSeats,
};
use domain::flight::{ClassCode, Fare, Flight, FlightCommand, FlightError, FlightState};
use domain::journey::{Itinerary, JourneyError, MAX_SEGMENTS, Segment};
use domain::values::{
    AirportCode, BookingId, Cabin, EmailAddress, FlightId, Label, Money, Passenger, PassengerName,
    PassengerType, Passengers, Pnr, SeatNumber, SeatOccupant, UserId,
};
use infra::auth::Principal;
use infra::problem::Problem;
use uuid::Uuid;

use super::payment::{Captured, abandon, capture, ledger_problem, payment_problem, settle_refund};
use crate::error::{ApiError, Result};
use crate::executor::{CommandMeta, Lane, PaymentRow, StreamKey, Versioned, WorkingSet};
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

/// One flight of a new booking, with the seats of its seated passengers, in passenger order.
#[derive(Debug, Clone)]
pub struct SegmentRequest {
    /// The flight.
    pub flight_id: FlightId,
    /// One entry per seated passenger (adults and children), in the order they are listed: the seat,
    /// or none for a passenger who picks it later.
    pub seats: Vec<Option<SeatNumber>>,
    /// The cabin, needed when no seat names it (economy when none is given).
    pub cabin: Option<Cabin>,
    /// The booking class asked for; none: the cheapest open for the whole party.
    pub class: Option<ClassCode>,
}

/// A new booking: one flight, or a journey of connecting flights, one way or return.
#[derive(Debug, Clone)]
pub struct BookRequest {
    /// Notification address.
    pub contact_email: EmailAddress,
    /// The travellers (their seats come from each segment).
    pub passengers: Vec<Passenger>,
    /// The outbound slice and, for a return, the inbound one; each of its flights in travel order.
    pub slices: Vec<Vec<SegmentRequest>>,
}

impl BookRequest {
    /// A booking on one flight, each passenger with their seat there (the request before journeys).
    pub fn one_flight(
        flight_id: FlightId,
        contact_email: EmailAddress,
        passengers: Vec<Passenger>,
    ) -> Self {
        let seats = passengers
            .iter()
            .filter(|p| p.kind != PassengerType::Infant)
            .map(|p| p.seat)
            .collect();
        Self {
            contact_email,
            passengers,
            slices: vec![vec![SegmentRequest {
                flight_id,
                seats,
                cabin: None,
                class: None,
            }]],
        }
    }

    /// Every flight, in travel order.
    pub fn flights(&self) -> Vec<FlightId> {
        self.slices.iter().flatten().map(|s| s.flight_id).collect()
    }
}

/// The party with `seats` given to its seated passengers, in order (none: chosen later).
fn seat_party(
    passengers: &[Passenger],
    seats: &[Option<SeatNumber>],
    segment: usize,
) -> Result<Passengers> {
    let seated = passengers
        .iter()
        .filter(|p| p.kind != PassengerType::Infant)
        .count();
    if seated != seats.len() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "seats_do_not_match_passengers",
            format!(
                "segment {segment} lists {} seats for {seated} seated passengers",
                seats.len()
            ),
        )
        .on_segment(segment)
        .into());
    }
    let mut next = seats.iter();
    let seated: Vec<Passenger> = passengers
        .iter()
        .map(|p| Passenger {
            seat: if p.kind == PassengerType::Infant {
                None
            } else {
                next.next().copied().flatten()
            },
            ..p.clone()
        })
        .collect();
    Ok(Passengers::try_new(seated)?)
}

/// Holds the seats on every flight and places the booking (status `held`), with its reference and hold
/// deadline, in one commit over all the flights. A seat taken on any flight refuses the whole journey,
/// naming the segment, and holds nothing anywhere.
///
/// # Errors
/// Domain rejections (seats taken: 409), journey and validation rules (422), store failures.
pub async fn book(
    state: &AppState,
    principal: Principal,
    meta: &CommandMeta,
    req: BookRequest,
    render: impl RenderBooking,
) -> Result<Done> {
    let now = state.clock.now();
    let flights = req.flights();
    if flights.is_empty() || req.slices.iter().any(Vec::is_empty) {
        return Err(JourneyError::Empty.into());
    }
    if flights.len() > MAX_SEGMENTS {
        return Err(JourneyError::TooManySegments {
            count: flights.len(),
            max: MAX_SEGMENTS,
        }
        .into());
    }
    let parties = req
        .slices
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, s)| seat_party(&req.passengers, &s.seats, i))
        .collect::<Result<Vec<_>>>()?;
    let classes: Vec<(Option<ClassCode>, Option<Cabin>)> = req
        .slices
        .iter()
        .flatten()
        .map(|s| (s.class, s.cabin))
        .collect();
    let booking_id = BookingId::from_uuid(Uuid::now_v7());
    let hold_until = now + state.booking.hold();
    let lane = Lane::seats_of_all(&flights);
    let booking_key = booking_id.to_string();
    // The hold caps count seats held on every flight: a journey holds its party's seats on each.
    let party = parties[0].seated_count();
    let client = meta.client.clone();
    let now_secs = u64::try_from(now.timestamp()).unwrap_or_default();
    let new_account = !principal.is_admin()
        && principal.is_newer_than(state.booking.new_accounts.younger_than(), now_secs);
    let held_on: Vec<Uuid> = flights.iter().map(|f| *f.as_uuid()).collect();
    let decide = move |ws: &mut WorkingSet| {
        let itinerary = itinerary_of(ws, &req.slices)?;
        let mut seats = Vec::with_capacity(parties.len());
        for (i, (flight_id, party)) in flights.iter().zip(&parties).enumerate() {
            let fare = hold_on(
                ws,
                (booking_id, *flight_id),
                (party, classes[i]),
                (hold_until, now),
            )
            .map_err(|e| e.on_segment(i))?;
            seats.push(SegmentSeats {
                fare,
                passengers: party.clone(),
            });
        }
        // Drawn per decision: a reference someone else took makes the commit draw again.
        let pnr = Pnr::from_random_bytes(rand::random());
        let place = BookingCommand::Place(Box::new(PlaceBooking {
            id: booking_id,
            pnr,
            customer_id: UserId::from_uuid(principal.user_id),
            itinerary,
            seats,
            contact_email: req.contact_email.clone(),
            hold_until,
            now,
        }));
        ws.create::<Booking>(&booking_key);
        ws.execute::<Booking>(&booking_key, "PlaceBooking", place)?;
        ws.reserve_pnr(pnr.as_str(), *booking_id.as_uuid());
        ws.add_hold(
            (*booking_id.as_uuid(), &held_on, hold_until),
            (principal.user_id, client.as_deref(), new_account),
            party,
        );
        Ok(ws.get::<Booking>(&booking_key)?.clone())
    };
    state
        .executor
        .respond(lane, meta.clone(), decide, render)
        .await
}

/// The requested flights as a journey, checked against their schedules and the connecting airports'
/// minimum connecting times (60 minutes where an airport has none on record).
fn itinerary_of(ws: &mut WorkingSet, slices: &[Vec<SegmentRequest>]) -> Result<Itinerary> {
    let keys: Vec<String> = slices
        .iter()
        .flatten()
        .map(|s| s.flight_id.to_string())
        .collect();
    ws.require::<Flight>(&keys.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut journey = Vec::with_capacity(slices.len());
    let mut index = 0;
    for slice in slices {
        let mut segments = Vec::with_capacity(slice.len());
        for s in slice {
            let flight = ws.get::<Flight>(&s.flight_id.to_string())?;
            let fs = flight
                .aggregate
                .state()
                .ok_or(FlightError::NotScheduled)
                .map_err(|e| ApiError::from(e).on_segment(index))?;
            segments.push(Segment {
                flight_id: s.flight_id,
                origin: fs.origin,
                destination: fs.destination,
                departure_at: fs.departure_at,
                arrival_at: fs.arrival_at,
            });
            index += 1;
        }
        journey.push(segments);
    }
    let connecting: Vec<String> = journey
        .iter()
        .flat_map(|slice| {
            slice
                .iter()
                .rev()
                .skip(1)
                .map(|s| s.destination.to_string())
        })
        .collect();
    ws.require::<Airport>(&connecting.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut minimum = BTreeMap::new();
    for code in &connecting {
        let airport = ws.get::<Airport>(code)?;
        if let Some(details) = airport.aggregate.details() {
            minimum.insert(code.clone(), details.min_connection_minutes);
        }
    }
    let min_connection = |code: AirportCode| {
        let m = minimum.get(code.as_str()).copied().unwrap_or_default();
        chrono::Duration::minutes(i64::from(m.minutes()))
    };
    Ok(Itinerary::new(journey, min_connection)?)
}

/// Holds `party`'s seats (or places without seats) on one flight; the fare of the cabin they are in.
fn hold_on(
    ws: &mut WorkingSet,
    (booking_id, flight_id): (BookingId, FlightId),
    (party, (class, cabin)): (&Passengers, (Option<ClassCode>, Option<Cabin>)),
    (hold_until, now): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Fare> {
    let key = flight_id.to_string();
    // The flight sells the seats in the class asked for, or the cheapest open for the whole party
    // (a taken seat is refused first); the booking pays that class's fare.
    let seats = party.occupants();
    let hold = FlightCommand::HoldSeats {
        booking_id,
        cabin: cabin.or(seats.is_empty().then_some(Cabin::Economy)),
        seats,
        unseated: party.unseated(),
        class,
        hold_until,
        now,
    };
    ws.execute::<Flight>(&key, "HoldSeats", hold)?;
    let flight = ws.get::<Flight>(&key)?;
    let fs = flight.aggregate.state().ok_or(FlightError::NotScheduled)?;
    let held = fs.holds.get(&booking_id).ok_or(FlightError::NoHold)?;
    let code = held.class.unwrap_or(ClassCode::default_for(held.cabin));
    let fare = fs
        .fares
        .get(&held.cabin)
        .and_then(|classes| classes.iter().find(|f| f.code() == code))
        .copied()
        .ok_or(FlightError::FaresDoNotMatchCabins { cabin: held.cabin })?;
    Ok(fare)
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

/// Corrects a passenger's name (a typo: at most three characters over both parts), on every segment, in
/// one commit on the booking.
///
/// # Errors
/// 404, 409 ended or departed, 412 If-Match, 422 `name_change_too_large`, `same_name`,
/// `no_such_passenger`.
pub async fn correct_name(
    state: &AppState,
    principal: Principal,
    meta: &CommandMeta,
    (booking_id, expected): (BookingId, Option<u64>),
    (passenger, first_name, last_name): (usize, PassengerName, PassengerName),
    render: impl RenderBooking,
) -> Result<Done> {
    let now = state.clock.now();
    let booking = load_visible(state, principal, booking_id).await?;
    let lane = Lane::seats_of_all(&placed(&booking)?.flight_ids());
    let booking_key = booking_id.to_string();
    let decide = move |ws: &mut WorkingSet| {
        ws.expect_version::<Booking>(&booking_key, expected)?;
        let correct = BookingCommand::CorrectName {
            passenger,
            first_name: first_name.clone(),
            last_name: last_name.clone(),
            now,
        };
        ws.execute::<Booking>(&booking_key, "CorrectName", correct)?;
        Ok(ws.get::<Booking>(&booking_key)?.clone())
    };
    state
        .executor
        .respond(lane, meta.clone(), decide, render)
        .await
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
    let flights = placed(&booking)?.flight_ids();
    let flight_id = flights[0];
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
    let mut attempt = payments::begin_authorization(
        &state.pool,
        (booking_id, flight_id),
        (card_token, amount),
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
    attempt.provider_reference = Some(receipt.reference.clone());
    let (payment_id, reference) = (attempt.payment_id, receipt.reference);
    let booking_key = booking_id.to_string();
    let clock = state.clock.clone();
    let lane = Lane::seats_of_all(&flights);
    let decide = move |ws: &mut WorkingSet| {
        // The hold's deadline is checked at the decision, however long the provider took.
        let now = clock.now();
        ws.expect_version::<Booking>(&booking_key, expected)?;
        for (i, flight) in flights.iter().enumerate() {
            let confirm_seats = FlightCommand::ConfirmSeats { booking_id, now };
            ws.execute::<Flight>(&flight.to_string(), "ConfirmSeats", confirm_seats)
                .map_err(|e| e.on_segment(i))?;
        }
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
        .respond(lane, meta.clone(), decide, render)
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
    let lane = Lane::seats_of_all(&placed(&booking)?.flight_ids());
    let by = if principal.is_admin() {
        CancelledBy::Airline
    } else {
        CancelledBy::Customer
    };
    let booking_key = booking_id.to_string();
    let decide = move |ws: &mut WorkingSet| {
        ws.expect_version::<Booking>(&booking_key, expected)?;
        cancel_in(ws, booking_id, by, now)?;
        Ok(ws.get::<Booking>(&booking_key)?.clone())
    };
    let done = state
        .executor
        .respond(lane, meta.clone(), decide, render)
        .await?;
    if let Err(e) = settle_refund(state, meta, booking_id).await {
        tracing::warn!(error.message = %e, "refund failed; recovery retries it");
    }
    Ok(done)
}

/// The cancellation inside a decision: the booking's `Cancel`, `ReleaseSeats` on every flight of it, the
/// deadline dropped and the refund due (if any) written `pending` to the ledger.
///
/// # Errors
/// The booking's or a flight's rule.
pub fn cancel_in(
    ws: &mut WorkingSet,
    booking_id: BookingId,
    by: CancelledBy,
    now: DateTime<Utc>,
) -> Result<()> {
    let booking_key = booking_id.to_string();
    let command = BookingCommand::Cancel { by, now };
    ws.execute::<Booking>(&booking_key, "CancelBooking", command)?;
    let cancelled = ws.get::<Booking>(&booking_key)?.aggregate.state().cloned();
    let Some(cancelled) = cancelled else {
        return Err(BookingError::NotPlaced.into());
    };
    let flights = cancelled.flight_ids();
    let keys: Vec<String> = flights.iter().map(ToString::to_string).collect();
    ws.require::<Flight>(&keys.iter().map(String::as_str).collect::<Vec<_>>())?;
    for (i, key) in keys.iter().enumerate() {
        let release = FlightCommand::ReleaseSeats { booking_id };
        ws.execute::<Flight>(key, "ReleaseSeats", release)
            .map_err(|e| e.on_segment(i))?;
    }
    ws.drop_deadline(*booking_id.as_uuid());
    let flight_id = flights[0];
    let refund = cancelled.refund.filter(|r| r.amount_minor() > 0);
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

/// Moves one passenger to another free seat of the same cabin on one segment: that flight's `MoveSeat`
/// and the booking's `ChangeSeat`, one commit.
///
/// # Errors
/// 404, 409 seat taken, 412 If-Match, 422 rule broken.
pub async fn change_seat(
    state: &AppState,
    principal: Principal,
    meta: &CommandMeta,
    (booking_id, expected): (BookingId, Option<u64>),
    (segment, passenger, to): (usize, usize, SeatNumber),
    render: impl RenderBooking,
) -> Result<Done> {
    let now: DateTime<Utc> = state.clock.now();
    let booking = load_visible(state, principal, booking_id).await?;
    let flight_id = placed(&booking)?
        .segments
        .get(segment)
        .ok_or(BookingError::NoSuchSegment(segment))?
        .flight_id;
    let (flight_key, booking_key) = (flight_id.to_string(), booking_id.to_string());
    let decide = move |ws: &mut WorkingSet| {
        ws.expect_version::<Booking>(&booking_key, expected)?;
        let change = BookingCommand::ChangeSeat {
            segment,
            passenger,
            to,
            now,
        };
        // A closed flight moves nothing, whatever the booking would say.
        let closed = ws
            .get::<Flight>(&flight_key)?
            .aggregate
            .state()
            .is_some_and(FlightState::is_closed);
        if closed {
            return Err(ApiError::from(FlightError::Closed).on_segment(segment));
        }
        let current = ws.get::<Booking>(&booking_key)?;
        let s = current.aggregate.state().ok_or(BookingError::NotPlaced)?;
        let on = s
            .segments
            .get(segment)
            .ok_or(BookingError::NoSuchSegment(segment))?;
        let occupant = on.passengers.occupant_of(passenger);
        let unseated = on
            .passengers
            .as_slice()
            .get(passenger)
            .is_some_and(|p| p.seat.is_none());
        if let (Some(occupant), true) = (occupant, unseated) {
            // A passenger without a seat picks one: the same request assigns it.
            let assign = BookingCommand::AssignSeats {
                segment,
                seats: vec![(passenger, to)],
                at_close: false,
                now,
            };
            current.aggregate.decide(assign.clone())?;
            let on_flight = FlightCommand::AssignSeat {
                booking_id,
                seat: to,
                occupant,
                now,
            };
            ws.execute::<Flight>(&flight_key, "AssignSeat", on_flight)
                .map_err(|e| e.on_segment(segment))?;
            ws.execute::<Booking>(&booking_key, "AssignSeat", assign)?;
            return Ok(ws.get::<Booking>(&booking_key)?.clone());
        }
        // The booking's own rules decide first; the seat it moves from comes with its event.
        let from = match current.aggregate.decide(change.clone())?.as_slice() {
            [BookingEvent::PassengerSeatChanged { from, .. }] => *from,
            _ => return Err(BookingError::NoSuchPassenger(passenger).into()),
        };
        let occupant = occupant.unwrap_or(SeatOccupant::Adult);
        let move_seat = FlightCommand::MoveSeat {
            booking_id,
            from,
            to,
            occupant,
            now,
        };
        ws.execute::<Flight>(&flight_key, "MoveSeat", move_seat)
            .map_err(|e| e.on_segment(segment))?;
        ws.execute::<Booking>(&booking_key, "ChangeSeat", change)?;
        Ok(ws.get::<Booking>(&booking_key)?.clone())
    };
    state
        .executor
        .respond(StreamKey::seats_of(flight_id), meta.clone(), decide, render)
        .await
}
