use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::{CancelledBy, Payment, Placement};
use crate::values::{AirportCode, FlightId, Label, Money, PassengerName, SeatNumber};

/// A seat given to a passenger who had none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedSeat {
    /// Index of the passenger.
    pub passenger: usize,
    /// The seat.
    pub seat: SeatNumber,
}

/// What happened to a booking. Variant names are the stored `event_type` and never change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BookingEvent {
    /// The booking was created, its seats held on every segment (version 2.0; 1.0, one flight, is read
    /// as a one-segment journey).
    BookingPlaced(Box<Placement>),
    /// Payment was recorded.
    BookingConfirmed {
        /// The payment.
        payment: Payment,
        /// When.
        confirmed_at: DateTime<Utc>,
    },
    /// The booking was cancelled.
    BookingCancelled {
        /// Who cancelled.
        by: CancelledBy,
        /// What goes back to the customer.
        refund: Money,
        /// When.
        cancelled_at: DateTime<Utc>,
    },
    /// The hold lapsed unpaid.
    BookingExpired {
        /// When.
        expired_at: DateTime<Utc>,
    },
    /// A passenger moved seat (version 1.1 names the segment; 1.0 was always the only one).
    PassengerSeatChanged {
        /// Index of the segment.
        #[serde(default)]
        segment: usize,
        /// Index of the passenger.
        passenger: usize,
        /// Old seat.
        from: SeatNumber,
        /// New seat.
        to: SeatNumber,
    },
    /// The authorized payment was captured: the money is the airline's.
    PaymentCaptured {
        /// The provider's reference for the capture.
        reference: Label,
        /// Amount captured.
        amount: Money,
        /// When.
        captured_at: DateTime<Utc>,
    },
    /// The refund decided at cancellation (or, since 1.1, at an offload) was paid back by the provider.
    RefundIssued {
        /// The provider's reference for the refund.
        reference: Label,
        /// Amount paid back.
        amount: Money,
        /// The flight whose offload it refunds (since 1.1); none: the cancellation's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offload: Option<FlightId>,
        /// When.
        refunded_at: DateTime<Utc>,
    },
    /// A flight of the booking was delayed (version 1.1 names it; 1.0 was always the only one).
    FlightDelayNoted {
        /// The delayed flight.
        #[serde(default)]
        flight_id: Option<FlightId>,
        /// New departure.
        departure_at: DateTime<Utc>,
        /// New arrival.
        arrival_at: DateTime<Utc>,
        /// Why.
        reason: Label,
    },
    /// A delay left less than the connecting airport's minimum between two segments of a slice: the
    /// passenger may miss the next flight.
    ConnectionBroken {
        /// The flight arriving at the connection.
        arriving: FlightId,
        /// The flight leaving from it.
        departing: FlightId,
        /// The connecting airport.
        airport: AirportCode,
        /// Minutes between arrival and departure now (negative: it leaves before the other lands).
        minutes: i64,
        /// The airport's minimum connecting time.
        minimum: i64,
    },
    /// Passengers without a seat got one on a segment (one chose it, or the flight's close gave each
    /// their seat).
    SeatsAssigned {
        /// Index of the segment.
        segment: usize,
        /// Each passenger (index) and their seat.
        seats: Vec<AssignedSeat>,
    },
    /// A passenger's name was corrected (a typo): on every flight of the booking.
    PassengerNameCorrected {
        /// Index of the passenger.
        passenger: usize,
        /// The given name before.
        previous_first_name: PassengerName,
        /// The family name before.
        previous_last_name: PassengerName,
        /// The given name now.
        first_name: PassengerName,
        /// The family name now.
        last_name: PassengerName,
    },
    /// Passengers were denied boarding on one flight (it closed oversold): their share of that
    /// flight's fare is refunded, and the seated ones are owed a compensation.
    PassengersOffloaded {
        /// The flight.
        flight_id: FlightId,
        /// Index of its segment.
        segment: usize,
        /// The passengers offloaded, infants with their adults.
        passengers: Vec<usize>,
        /// Their fare on that flight, refunded.
        refund: Money,
        /// Denied-boarding compensation owed, for all of them.
        compensation: Money,
        /// When.
        offloaded_at: DateTime<Utc>,
    },
}

impl DomainEvent for BookingEvent {
    fn event_type(&self) -> String {
        match self {
            Self::BookingPlaced(_) => "BookingPlaced",
            Self::BookingConfirmed { .. } => "BookingConfirmed",
            Self::BookingCancelled { .. } => "BookingCancelled",
            Self::BookingExpired { .. } => "BookingExpired",
            Self::PassengerSeatChanged { .. } => "PassengerSeatChanged",
            Self::FlightDelayNoted { .. } => "FlightDelayNoted",
            Self::PaymentCaptured { .. } => "PaymentCaptured",
            Self::RefundIssued { .. } => "RefundIssued",
            Self::ConnectionBroken { .. } => "ConnectionBroken",
            Self::SeatsAssigned { .. } => "SeatsAssigned",
            Self::PassengersOffloaded { .. } => "PassengersOffloaded",
            Self::PassengerNameCorrected { .. } => "PassengerNameCorrected",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            Self::BookingPlaced(_) => "2.0",
            // RefundIssued 1.1 may name the offload it refunds; 1.0 was always the cancellation's.
            Self::PassengerSeatChanged { .. }
            | Self::FlightDelayNoted { .. }
            | Self::RefundIssued { .. } => "1.1",
            _ => "1.0",
        }
        .to_owned()
    }
}
