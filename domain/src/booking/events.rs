use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::{CancelledBy, Payment};
use crate::flight::FareRules;
use crate::values::{
    BookingId, Cabin, EmailAddress, FlightId, Label, Money, Passengers, Pnr, SeatNumber, UserId,
};

/// What happened to a booking. Variant names are the stored `event_type` and never change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BookingEvent {
    /// The booking was created, its seats held.
    BookingPlaced {
        /// Id.
        id: BookingId,
        /// Reference.
        pnr: Pnr,
        /// Owner.
        customer_id: UserId,
        /// Flight.
        flight_id: FlightId,
        /// Cabin.
        cabin: Cabin,
        /// Travellers and seats.
        passengers: Passengers,
        /// Notification address.
        contact_email: EmailAddress,
        /// Price to pay.
        total: Money,
        /// The fare's cancellation rules.
        fare_rules: FareRules,
        /// Flight departure at booking time.
        departure_at: DateTime<Utc>,
        /// When the hold lapses unless paid.
        hold_until: DateTime<Utc>,
        /// When it was placed.
        placed_at: DateTime<Utc>,
    },
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
    /// A passenger moved seat.
    PassengerSeatChanged {
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
    /// The refund decided at cancellation was paid back by the provider.
    RefundIssued {
        /// The provider's reference for the refund.
        reference: Label,
        /// Amount paid back.
        amount: Money,
        /// When.
        refunded_at: DateTime<Utc>,
    },
    /// The flight was delayed.
    FlightDelayNoted {
        /// New departure.
        departure_at: DateTime<Utc>,
        /// New arrival.
        arrival_at: DateTime<Utc>,
        /// Why.
        reason: Label,
    },
}

impl DomainEvent for BookingEvent {
    fn event_type(&self) -> String {
        match self {
            Self::BookingPlaced { .. } => "BookingPlaced",
            Self::BookingConfirmed { .. } => "BookingConfirmed",
            Self::BookingCancelled { .. } => "BookingCancelled",
            Self::BookingExpired { .. } => "BookingExpired",
            Self::PassengerSeatChanged { .. } => "PassengerSeatChanged",
            Self::FlightDelayNoted { .. } => "FlightDelayNoted",
            Self::PaymentCaptured { .. } => "PaymentCaptured",
            Self::RefundIssued { .. } => "RefundIssued",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
