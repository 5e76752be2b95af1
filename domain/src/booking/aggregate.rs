use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    AssignedSeat, BookedSegment, BookingCommand, BookingError, BookingEvent, CancelledBy,
    ConnectionRule, Payment, PlaceBooking, Placement, refund_for,
};
use crate::flight::FareRules;
use crate::values::{
    BookingId, EmailAddress, FlightId, Label, Money, PassengerName, Passengers, Pnr, SeatNumber,
    UserId, edit_distance,
};

/// The most characters a name correction may change, over the given and family names together.
pub const MAX_NAME_EDITS: usize = 3;

/// A booking, or nothing before it is placed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Booking {
    state: Option<BookingState>,
}

/// Where a booking is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Seats held, awaiting payment.
    Held,
    /// Paid.
    Confirmed,
    /// Cancelled by the customer or the airline.
    Cancelled,
    /// The hold lapsed unpaid.
    Expired,
}

/// A placed booking's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingState {
    /// Id.
    pub id: BookingId,
    /// Reference.
    pub pnr: Pnr,
    /// Owner.
    pub customer_id: UserId,
    /// The flights, in travel order, each with the party's seats on it.
    pub segments: Vec<BookedSegment>,
    /// Notification address.
    pub contact_email: EmailAddress,
    /// Price.
    pub total: Money,
    /// Cancellation rules.
    pub fare_rules: FareRules,
    /// Hold deadline.
    pub hold_until: DateTime<Utc>,
    /// When placed.
    pub placed_at: DateTime<Utc>,
    /// Status.
    pub status: BookingStatus,
    /// The payment, once paid.
    pub payment: Option<Payment>,
    /// The refund, once cancelled.
    pub refund: Option<Money>,
    /// Who cancelled, once cancelled.
    pub cancelled_by: Option<CancelledBy>,
    /// Delay reasons noted, oldest first.
    pub delays: Vec<Label>,
    /// Connections broken by delays: (arriving flight, departing flight), oldest first.
    #[serde(default)]
    pub broken_connections: Vec<(FlightId, FlightId)>,
    /// The capture, once the provider took the money.
    #[serde(default)]
    pub captured: Option<Money>,
    /// The refund paid back, once the provider did.
    #[serde(default)]
    pub refund_issued: Option<Money>,
    /// Offloads at a flight's close, with their refunds.
    #[serde(default)]
    pub offloads: Vec<OffloadMoney>,
}

/// The money of one offload: the fare refunded and the compensation owed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OffloadMoney {
    /// The flight.
    pub flight_id: FlightId,
    /// Its segment.
    #[serde(default)]
    pub segment: usize,
    /// The passengers offloaded, infants with their adults.
    #[serde(default)]
    pub passengers: Vec<usize>,
    /// When.
    #[serde(default)]
    pub offloaded_at: Option<DateTime<Utc>>,
    /// The offloaded passengers' fare there, refunded.
    pub refund: Money,
    /// Compensation owed.
    pub compensation: Money,
    /// The refund paid back, once the provider did.
    pub refund_issued: Option<Money>,
}

impl BookingState {
    /// The travellers, with their seats on the first segment.
    pub fn passengers(&self) -> &Passengers {
        &self.segments[0].passengers
    }

    /// The first flight.
    pub fn flight_id(&self) -> FlightId {
        self.segments[0].flight_id
    }

    /// Every flight, in travel order.
    pub fn flight_ids(&self) -> Vec<FlightId> {
        self.segments.iter().map(|s| s.flight_id).collect()
    }

    /// When the journey starts (the first segment's departure, following delays).
    pub fn departure_at(&self) -> DateTime<Utc> {
        self.segments[0].departure_at
    }

    /// The index of `flight`'s segment.
    pub fn segment_of(&self, flight: FlightId) -> Option<usize> {
        self.segments.iter().position(|s| s.flight_id == flight)
    }
}

impl Booking {
    /// The state, once placed.
    pub fn state(&self) -> Option<&BookingState> {
        self.state.as_ref()
    }

    /// Decides what a command does, without changing state.
    ///
    /// # Errors
    /// Any [`BookingError`] whose rule the command breaks; see each variant.
    pub fn decide(&self, command: BookingCommand) -> Result<Vec<BookingEvent>, BookingError> {
        let (command, s) = match (command, &self.state) {
            (BookingCommand::Place(cmd), None) => return place(*cmd),
            (BookingCommand::Place(_), Some(_)) => return Err(BookingError::AlreadyPlaced),
            (_, None) => return Err(BookingError::NotPlaced),
            (command, Some(s)) => (command, s),
        };
        match command {
            BookingCommand::Place(_) => Err(BookingError::AlreadyPlaced),
            BookingCommand::Confirm { payment, now } => confirm(s, payment, now),
            BookingCommand::Cancel { by, now } => cancel(s, by, now),
            BookingCommand::Expire { now } => expire(s, now),
            BookingCommand::ChangeSeat {
                segment,
                passenger,
                to,
                now,
            } => change_seat(s, (segment, passenger), to, now),
            BookingCommand::RecordCapture {
                reference,
                amount,
                now,
            } => record_capture(s, reference, amount, now),
            BookingCommand::RecordRefund {
                reference,
                amount,
                offload,
                now,
            } => record_refund(s, (reference, amount), offload, now),
            BookingCommand::AssignSeats {
                segment,
                seats,
                at_close,
                now,
            } => assign_seats(s, segment, &seats, at_close, now),
            BookingCommand::Offload {
                flight_id,
                passengers,
                compensation,
                now,
            } => offload(s, flight_id, &passengers, compensation, now),
            BookingCommand::CorrectName {
                passenger,
                first_name,
                last_name,
                now,
            } => correct_name(s, passenger, (first_name, last_name), now),
            BookingCommand::ExpireAtClose { now } => {
                check_alive(s)?;
                if s.status == BookingStatus::Confirmed {
                    return Err(BookingError::AlreadyConfirmed);
                }
                Ok(vec![BookingEvent::BookingExpired { expired_at: now }])
            }
            BookingCommand::NoteFlightDelay {
                flight_id,
                departure_at,
                arrival_at,
                reason,
                connections,
            } => Ok(note_delay(
                s,
                Delay {
                    flight_id,
                    departure_at,
                    arrival_at,
                    reason,
                },
                &connections,
            )),
        }
    }
}

fn place(cmd: PlaceBooking) -> Result<Vec<BookingEvent>, BookingError> {
    let flights: Vec<_> = cmd
        .itinerary
        .slices()
        .iter()
        .enumerate()
        .flat_map(|(slice, segments)| segments.iter().map(move |s| (slice, s)))
        .collect();
    if flights.len() != cmd.seats.len() {
        return Err(BookingError::SeatsDoNotMatchItinerary {
            expected: flights.len(),
            given: cmd.seats.len(),
        });
    }
    if cmd.itinerary.departure_at() <= cmd.now {
        return Err(BookingError::Departed);
    }
    if cmd.hold_until <= cmd.now {
        return Err(BookingError::HoldDeadlineInPast);
    }
    let party = cmd.seats[0].passengers.clone();
    let mut segments = Vec::with_capacity(flights.len());
    let mut total: Option<Money> = None;
    let mut rules: Option<FareRules> = None;
    for (i, ((slice, flight), seats)) in flights.into_iter().zip(cmd.seats).enumerate() {
        if !same_party(&party, &seats.passengers) {
            return Err(BookingError::PartyDiffers(i));
        }
        let price = seats
            .fare
            .total_for(seats.passengers.seated_count())
            .map_err(BookingError::Price)?;
        total = Some(match total {
            None => price,
            Some(t) => t.plus(price).map_err(BookingError::Price)?,
        });
        rules = Some(match rules {
            None => seats.fare.rules,
            Some(r) => FareRules {
                refundable: r.refundable && seats.fare.rules.refundable,
                cancellation_fee: r
                    .cancellation_fee
                    .plus(seats.fare.rules.cancellation_fee)
                    .map_err(BookingError::Price)?,
            },
        });
        segments.push(BookedSegment {
            flight_id: flight.flight_id,
            slice: u8::try_from(slice).unwrap_or(u8::MAX),
            fare: seats.fare,
            passengers: seats.passengers,
            departure_at: flight.departure_at,
            arrival_at: Some(flight.arrival_at),
            offloaded: Vec::new(),
        });
    }
    let (Some(total), Some(fare_rules)) = (total, rules) else {
        return Err(BookingError::SeatsDoNotMatchItinerary {
            expected: 0,
            given: 0,
        });
    };
    Ok(vec![BookingEvent::BookingPlaced(Box::new(Placement {
        id: cmd.id,
        pnr: cmd.pnr,
        customer_id: cmd.customer_id,
        segments,
        contact_email: cmd.contact_email,
        total,
        fare_rules,
        hold_until: cmd.hold_until,
        placed_at: cmd.now,
    }))])
}

/// The same travellers in the same order (their seats may differ).
fn same_party(a: &Passengers, b: &Passengers) -> bool {
    let (a, b) = (a.as_slice(), b.as_slice());
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.first_name == y.first_name && x.last_name == y.last_name && x.kind == y.kind
        })
}

/// A delay as the flight decided it.
struct Delay {
    flight_id: FlightId,
    departure_at: DateTime<Utc>,
    arrival_at: DateTime<Utc>,
    reason: Label,
}

/// The delay noted on its segment, and every connection of that segment it breaks. Noting the same
/// delay twice (a redelivered disruption) records it once; an ended booking records nothing.
fn note_delay(s: &BookingState, delay: Delay, connections: &[ConnectionRule]) -> Vec<BookingEvent> {
    let Some(at) = s.segment_of(delay.flight_id) else {
        return vec![];
    };
    let segment = &s.segments[at];
    let unchanged =
        segment.departure_at == delay.departure_at && segment.arrival_at == Some(delay.arrival_at);
    if unchanged || matches!(s.status, BookingStatus::Cancelled | BookingStatus::Expired) {
        return vec![];
    }
    let mut times: Vec<_> = s
        .segments
        .iter()
        .map(|g| (g.flight_id, g.slice, g.departure_at, g.arrival_at))
        .collect();
    times[at].2 = delay.departure_at;
    times[at].3 = Some(delay.arrival_at);
    let mut events = vec![BookingEvent::FlightDelayNoted {
        flight_id: Some(delay.flight_id),
        departure_at: delay.departure_at,
        arrival_at: delay.arrival_at,
        reason: delay.reason,
    }];
    for rule in connections {
        let next = rule.segment;
        // Only the connections into and out of the delayed segment change.
        if next == 0 || next >= times.len() || (next != at && next != at + 1) {
            continue;
        }
        let (before, after) = (times[next - 1], times[next]);
        let Some(landed) = before.3 else { continue };
        if before.1 != after.1 {
            continue;
        }
        let minutes = (after.2 - landed).num_minutes();
        let minimum = i64::from(rule.minimum.minutes());
        let already = s.broken_connections.contains(&(before.0, after.0));
        if minutes < minimum && !already {
            events.push(BookingEvent::ConnectionBroken {
                arriving: before.0,
                departing: after.0,
                airport: rule.airport,
                minutes,
                minimum,
            });
        }
    }
    events
}

/// Rejects anything on a booking that has ended.
fn check_alive(s: &BookingState) -> Result<(), BookingError> {
    match s.status {
        BookingStatus::Cancelled => Err(BookingError::Cancelled),
        BookingStatus::Expired => Err(BookingError::Expired),
        BookingStatus::Held | BookingStatus::Confirmed => Ok(()),
    }
}

fn confirm(
    s: &BookingState,
    payment: Payment,
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, BookingError> {
    check_alive(s)?;
    if s.status == BookingStatus::Confirmed {
        return Err(BookingError::AlreadyConfirmed);
    }
    if now > s.hold_until {
        return Err(BookingError::HoldExpired);
    }
    if payment.amount != s.total {
        return Err(BookingError::payment_mismatch(s.total));
    }
    Ok(vec![BookingEvent::BookingConfirmed {
        payment,
        confirmed_at: now,
    }])
}

fn cancel(
    s: &BookingState,
    by: CancelledBy,
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, BookingError> {
    check_alive(s)?;
    if by == CancelledBy::Customer && now >= s.departure_at() {
        return Err(BookingError::Departed);
    }
    Ok(vec![BookingEvent::BookingCancelled {
        by,
        refund: refund_for(s, by, now),
        cancelled_at: now,
    }])
}

fn expire(s: &BookingState, now: DateTime<Utc>) -> Result<Vec<BookingEvent>, BookingError> {
    check_alive(s)?;
    if s.status == BookingStatus::Confirmed {
        return Err(BookingError::AlreadyConfirmed);
    }
    if now <= s.hold_until {
        return Err(BookingError::HoldNotExpired);
    }
    Ok(vec![BookingEvent::BookingExpired { expired_at: now }])
}

fn change_seat(
    s: &BookingState,
    (segment, passenger): (usize, usize),
    to: SeatNumber,
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, BookingError> {
    let on = seating_on(s, segment, now, false)?;
    if on.is_offloaded(passenger) {
        return Err(BookingError::Offloaded(passenger));
    }
    let from = on
        .passengers
        .as_slice()
        .get(passenger)
        .and_then(|p| p.seat)
        .ok_or(BookingError::NoSuchPassenger(passenger))?;
    if from == to {
        return Err(BookingError::SameSeat);
    }
    if on.passengers.as_slice().iter().any(|p| p.seat == Some(to)) {
        return Err(BookingError::SeatTakenInBooking);
    }
    Ok(vec![BookingEvent::PassengerSeatChanged {
        segment,
        passenger,
        from,
        to,
    }])
}

/// A segment whose seats may change: the booking alive, its hold not lapsed, the flight not left (the
/// flight's close may seat passengers after departure).
fn seating_on(
    s: &BookingState,
    segment: usize,
    now: DateTime<Utc>,
    at_close: bool,
) -> Result<&BookedSegment, BookingError> {
    check_alive(s)?;
    let on = s
        .segments
        .get(segment)
        .ok_or(BookingError::NoSuchSegment(segment))?;
    if !at_close && now >= on.departure_at {
        return Err(BookingError::Departed);
    }
    if s.status == BookingStatus::Held && now > s.hold_until {
        return Err(BookingError::HoldExpired);
    }
    Ok(on)
}

fn record_capture(
    s: &BookingState,
    reference: Label,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, BookingError> {
    // A booking cancelled after payment still captures: its refund goes back from the captured money.
    let Some(payment) = &s.payment else {
        return Err(BookingError::NotPaid);
    };
    if s.captured.is_some() {
        return Ok(vec![]);
    }
    if amount != payment.amount {
        return Err(BookingError::capture_mismatch(payment.amount));
    }
    Ok(vec![BookingEvent::PaymentCaptured {
        reference,
        amount,
        captured_at: now,
    }])
}

/// The refund due at cancellation (`offload` none) or at an offload from that flight, recorded once.
fn record_refund(
    s: &BookingState,
    (reference, amount): (Label, Money),
    offload: Option<FlightId>,
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, BookingError> {
    let (due, issued) = match offload {
        None => match (s.status, s.refund) {
            (BookingStatus::Cancelled, Some(due)) => (due, s.refund_issued),
            _ => return Err(BookingError::NoRefundDue),
        },
        Some(flight) => s
            .offloads
            .iter()
            .find(|o| o.flight_id == flight)
            .map(|o| (o.refund, o.refund_issued))
            .ok_or(BookingError::NoRefundDue)?,
    };
    if due.amount_minor() <= 0 {
        return Err(BookingError::NoRefundDue);
    }
    if issued.is_some() {
        return Ok(vec![]);
    }
    if amount != due {
        return Err(BookingError::refund_mismatch(due));
    }
    Ok(vec![BookingEvent::RefundIssued {
        reference,
        amount,
        offload,
        refunded_at: now,
    }])
}

fn assign_seats(
    s: &BookingState,
    segment: usize,
    seats: &[(usize, SeatNumber)],
    at_close: bool,
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, BookingError> {
    let on = seating_on(s, segment, now, at_close)?;
    let mut given = Vec::with_capacity(seats.len());
    for &(passenger, seat) in seats {
        if on.is_offloaded(passenger) {
            return Err(BookingError::Offloaded(passenger));
        }
        let who = on
            .passengers
            .as_slice()
            .get(passenger)
            .filter(|_| on.passengers.occupant_of(passenger).is_some())
            .ok_or(BookingError::NoSuchPassenger(passenger))?;
        // Given already (a repeated step): nothing to record for this one.
        if who.seat == Some(seat) {
            continue;
        }
        if who.seat.is_some() {
            return Err(BookingError::SameSeat);
        }
        let taken = on
            .passengers
            .as_slice()
            .iter()
            .any(|p| p.seat == Some(seat))
            || given
                .iter()
                .any(|g: &AssignedSeat| g.seat == seat || g.passenger == passenger);
        if taken {
            return Err(BookingError::SeatTakenInBooking);
        }
        given.push(AssignedSeat { passenger, seat });
    }
    if given.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![BookingEvent::SeatsAssigned {
        segment,
        seats: given,
    }])
}

/// A typo fixed: the same person, their name changed by at most [`MAX_NAME_EDITS`] characters, before
/// the journey starts.
fn correct_name(
    s: &BookingState,
    passenger: usize,
    (first_name, last_name): (PassengerName, PassengerName),
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, BookingError> {
    check_alive(s)?;
    if now >= s.departure_at() {
        return Err(BookingError::Departed);
    }
    let who = s
        .passengers()
        .as_slice()
        .get(passenger)
        .ok_or(BookingError::NoSuchPassenger(passenger))?;
    let edits = edit_distance(who.first_name.as_str(), first_name.as_str())
        + edit_distance(who.last_name.as_str(), last_name.as_str());
    if edits == 0 {
        return Err(BookingError::SameName);
    }
    if edits > MAX_NAME_EDITS {
        return Err(BookingError::NameChangeTooLarge {
            edits,
            max: MAX_NAME_EDITS,
        });
    }
    Ok(vec![BookingEvent::PassengerNameCorrected {
        passenger,
        previous_first_name: who.first_name.clone(),
        previous_last_name: who.last_name.clone(),
        first_name,
        last_name,
    }])
}

/// The passengers denied boarding with their infants, their fare on that flight refunded (infants
/// fly free) and the compensation owed to each seated one. Offloading them again does nothing.
fn offload(
    s: &BookingState,
    flight: FlightId,
    passengers: &[usize],
    compensation: Money,
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, BookingError> {
    check_alive(s)?;
    let segment = s.segment_of(flight).ok_or(BookingError::NotOffloadable)?;
    if s.status != BookingStatus::Confirmed {
        return Err(BookingError::NotOffloadable);
    }
    let on = &s.segments[segment];
    let mut all = Vec::new();
    for &p in passengers {
        if on.is_offloaded(p) {
            return Ok(vec![]);
        }
        if on.passengers.occupant_of(p).is_none() {
            return Err(BookingError::NoSuchPassenger(p));
        }
        all.push(p);
        all.extend(on.passengers.infant_of(p));
    }
    all.sort_unstable();
    all.dedup();
    let seated = u32::try_from(passengers.len()).unwrap_or(u32::MAX);
    let refund = on.fare.price.times(seated).map_err(BookingError::Price)?;
    let compensation = compensation.times(seated).map_err(BookingError::Price)?;
    Ok(vec![BookingEvent::PassengersOffloaded {
        flight_id: flight,
        segment,
        passengers: all,
        refund,
        compensation,
        offloaded_at: now,
    }])
}

crate::decided::decided_aggregate!(
    Booking,
    "booking",
    BookingCommand,
    BookingEvent,
    BookingError
);

impl Booking {
    /// Applies one event (cqrs-es `apply`): infallible, no validation.
    fn evolve(&mut self, event: BookingEvent) {
        if let BookingEvent::BookingPlaced(placed) = event {
            let p = *placed;
            self.state = Some(BookingState {
                id: p.id,
                pnr: p.pnr,
                customer_id: p.customer_id,
                segments: p.segments,
                contact_email: p.contact_email,
                total: p.total,
                fare_rules: p.fare_rules,
                hold_until: p.hold_until,
                placed_at: p.placed_at,
                status: BookingStatus::Held,
                payment: None,
                refund: None,
                cancelled_by: None,
                delays: vec![],
                broken_connections: vec![],
                captured: None,
                refund_issued: None,
                offloads: Vec::new(),
            });
        } else if let Some(s) = self.state.as_mut() {
            apply_to_state(s, event);
        }
    }
}

fn apply_to_state(s: &mut BookingState, event: BookingEvent) {
    match event {
        BookingEvent::BookingPlaced(_) => {}
        BookingEvent::BookingConfirmed { payment, .. } => {
            s.status = BookingStatus::Confirmed;
            s.payment = Some(payment);
        }
        BookingEvent::BookingCancelled { by, refund, .. } => {
            s.status = BookingStatus::Cancelled;
            s.refund = Some(refund);
            s.cancelled_by = Some(by);
        }
        BookingEvent::BookingExpired { .. } => s.status = BookingStatus::Expired,
        BookingEvent::PaymentCaptured { amount, .. } => s.captured = Some(amount),
        BookingEvent::RefundIssued {
            amount,
            offload: None,
            ..
        } => s.refund_issued = Some(amount),
        BookingEvent::RefundIssued {
            amount,
            offload: Some(flight),
            ..
        } => {
            if let Some(o) = s.offloads.iter_mut().find(|o| o.flight_id == flight) {
                o.refund_issued = Some(amount);
            }
        }
        BookingEvent::PassengerNameCorrected {
            passenger,
            first_name,
            last_name,
            ..
        } => {
            for on in &mut s.segments {
                if let Ok(renamed) = on
                    .passengers
                    .with_name(passenger, (first_name.clone(), last_name.clone()))
                {
                    on.passengers = renamed;
                }
            }
        }
        BookingEvent::SeatsAssigned { segment, seats } => {
            if let Some(on) = s.segments.get_mut(segment) {
                for AssignedSeat { passenger, seat } in seats {
                    if let Ok(seated) = on.passengers.with_seat(passenger, seat) {
                        on.passengers = seated;
                    }
                }
            }
        }
        BookingEvent::PassengersOffloaded {
            flight_id,
            segment,
            passengers,
            refund,
            compensation,
            offloaded_at,
        } => {
            if let Some(on) = s.segments.get_mut(segment) {
                on.offloaded.extend(passengers.iter().copied());
                on.offloaded.sort_unstable();
            }
            s.offloads.push(OffloadMoney {
                flight_id,
                segment,
                passengers,
                offloaded_at: Some(offloaded_at),
                refund,
                compensation,
                refund_issued: None,
            });
        }
        BookingEvent::PassengerSeatChanged {
            segment,
            passenger,
            to,
            ..
        } => {
            // The event was decided against this state, so the move keeps the party rules.
            if let Some(on) = s.segments.get_mut(segment)
                && let Ok(moved) = on.passengers.with_seat(passenger, to)
            {
                on.passengers = moved;
            }
        }
        BookingEvent::FlightDelayNoted {
            flight_id,
            departure_at,
            arrival_at,
            reason,
        } => {
            // 1.0 events name no flight: they were about the only one.
            let at = flight_id.and_then(|f| s.segment_of(f)).unwrap_or(0);
            if let Some(on) = s.segments.get_mut(at) {
                on.departure_at = departure_at;
                on.arrival_at = Some(arrival_at);
            }
            s.delays.push(reason);
        }
        BookingEvent::ConnectionBroken {
            arriving,
            departing,
            ..
        } => s.broken_connections.push((arriving, departing)),
    }
}
