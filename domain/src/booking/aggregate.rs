use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    BookingCommand, BookingError, BookingEvent, CancelledBy, Payment, PlaceBooking, refund_for,
};
use crate::flight::FareRules;
use crate::values::{
    BookingId, Cabin, EmailAddress, FlightId, Label, Money, Passengers, Pnr, SeatNumber, UserId,
};

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
    /// Flight.
    pub flight_id: FlightId,
    /// Cabin.
    pub cabin: Cabin,
    /// Travellers and seats.
    pub passengers: Passengers,
    /// Notification address.
    pub contact_email: EmailAddress,
    /// Price.
    pub total: Money,
    /// Cancellation rules.
    pub fare_rules: FareRules,
    /// Flight departure (follows delays).
    pub departure_at: DateTime<Utc>,
    /// Flight arrival, once a delay told us; the flight has it otherwise.
    pub arrival_at: Option<DateTime<Utc>>,
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
    /// The capture, once the provider took the money.
    #[serde(default)]
    pub captured: Option<Money>,
    /// The refund paid back, once the provider did.
    #[serde(default)]
    pub refund_issued: Option<Money>,
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
            BookingCommand::ChangeSeat { passenger, to, now } => change_seat(s, passenger, to, now),
            BookingCommand::RecordCapture {
                reference,
                amount,
                now,
            } => record_capture(s, reference, amount, now),
            BookingCommand::RecordRefund {
                reference,
                amount,
                now,
            } => record_refund(s, reference, amount, now),
            BookingCommand::NoteFlightDelay {
                departure_at,
                arrival_at,
                reason,
            } => Ok(match s.status {
                // Noting the same delay twice (a redelivered disruption) records it once.
                _ if s.departure_at == departure_at && s.arrival_at == Some(arrival_at) => vec![],
                BookingStatus::Held | BookingStatus::Confirmed => {
                    vec![BookingEvent::FlightDelayNoted {
                        departure_at,
                        arrival_at,
                        reason,
                    }]
                }
                BookingStatus::Cancelled | BookingStatus::Expired => vec![],
            }),
        }
    }
}

fn place(cmd: PlaceBooking) -> Result<Vec<BookingEvent>, BookingError> {
    if cmd.fare.cabin != cmd.cabin {
        return Err(BookingError::FareCabinMismatch);
    }
    if cmd.departure_at <= cmd.now {
        return Err(BookingError::Departed);
    }
    if cmd.hold_until <= cmd.now {
        return Err(BookingError::HoldDeadlineInPast);
    }
    let total = cmd
        .fare
        .total_for(cmd.passengers.seated_count())
        .map_err(BookingError::Price)?;
    Ok(vec![BookingEvent::BookingPlaced {
        id: cmd.id,
        pnr: cmd.pnr,
        customer_id: cmd.customer_id,
        flight_id: cmd.flight_id,
        cabin: cmd.cabin,
        passengers: cmd.passengers,
        contact_email: cmd.contact_email,
        total,
        fare_rules: cmd.fare.rules,
        departure_at: cmd.departure_at,
        hold_until: cmd.hold_until,
        placed_at: cmd.now,
    }])
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
    if by == CancelledBy::Customer && now >= s.departure_at {
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
    passenger: usize,
    to: SeatNumber,
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, BookingError> {
    check_alive(s)?;
    if now >= s.departure_at {
        return Err(BookingError::Departed);
    }
    if s.status == BookingStatus::Held && now > s.hold_until {
        return Err(BookingError::HoldExpired);
    }
    let from = s
        .passengers
        .as_slice()
        .get(passenger)
        .and_then(|p| p.seat)
        .ok_or(BookingError::NoSuchPassenger(passenger))?;
    if from == to {
        return Err(BookingError::SameSeat);
    }
    if s.passengers.as_slice().iter().any(|p| p.seat == Some(to)) {
        return Err(BookingError::SeatTakenInBooking);
    }
    Ok(vec![BookingEvent::PassengerSeatChanged {
        passenger,
        from,
        to,
    }])
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

fn record_refund(
    s: &BookingState,
    reference: Label,
    amount: Money,
    now: DateTime<Utc>,
) -> Result<Vec<BookingEvent>, BookingError> {
    let due = match (s.status, s.refund) {
        (BookingStatus::Cancelled, Some(due)) if due.amount_minor() > 0 => due,
        _ => return Err(BookingError::NoRefundDue),
    };
    if s.refund_issued.is_some() {
        return Ok(vec![]);
    }
    if amount != due {
        return Err(BookingError::refund_mismatch(due));
    }
    Ok(vec![BookingEvent::RefundIssued {
        reference,
        amount,
        refunded_at: now,
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
        if let BookingEvent::BookingPlaced {
            id,
            pnr,
            customer_id,
            flight_id,
            cabin,
            passengers,
            contact_email,
            total,
            fare_rules,
            departure_at,
            hold_until,
            placed_at,
        } = event
        {
            self.state = Some(BookingState {
                id,
                pnr,
                customer_id,
                flight_id,
                cabin,
                passengers,
                contact_email,
                total,
                fare_rules,
                departure_at,
                arrival_at: None,
                hold_until,
                placed_at,
                status: BookingStatus::Held,
                payment: None,
                refund: None,
                cancelled_by: None,
                delays: vec![],
                captured: None,
                refund_issued: None,
            });
        } else if let Some(s) = self.state.as_mut() {
            apply_to_state(s, event);
        }
    }
}

fn apply_to_state(s: &mut BookingState, event: BookingEvent) {
    match event {
        BookingEvent::BookingPlaced { .. } => {}
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
        BookingEvent::RefundIssued { amount, .. } => s.refund_issued = Some(amount),
        BookingEvent::PassengerSeatChanged { passenger, to, .. } => {
            // The event was decided against this state, so the move keeps the party rules.
            if let Ok(moved) = s.passengers.with_seat(passenger, to) {
                s.passengers = moved;
            }
        }
        BookingEvent::FlightDelayNoted {
            departure_at,
            arrival_at,
            reason,
        } => {
            s.departure_at = departure_at;
            s.arrival_at = Some(arrival_at);
            s.delays.push(reason);
        }
    }
}
