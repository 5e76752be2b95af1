use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::flight::Fare;
use crate::journey::Itinerary;
use crate::values::{
    AirportCode, BookingId, ConnectionTime, EmailAddress, FlightId, Label, Money, PassengerName,
    Passengers, Pnr, SeatNumber, UserId,
};

/// A payment as recorded (the provider charged it; we only keep the receipt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Amount charged.
    pub amount: Money,
    /// The provider's reference for the charge.
    pub reference: Label,
}

/// Who cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelledBy {
    /// The customer (refund per fare rules).
    Customer,
    /// The airline (full refund).
    Airline,
}

/// One segment's part of a new booking: the cabin's fare on that flight and the party's seats there.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentSeats {
    /// The fare of the cabin the seats are in.
    pub fare: Fare,
    /// The travellers with their seats on this flight.
    pub passengers: Passengers,
}

/// Everything needed to place a booking, after its seats are held on every flight.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceBooking {
    /// Id; also the aggregate id.
    pub id: BookingId,
    /// Reference shown to people.
    pub pnr: Pnr,
    /// The customer who owns it.
    pub customer_id: UserId,
    /// The flights, as the journey rules accepted them.
    pub itinerary: Itinerary,
    /// Per segment of the itinerary, in travel order: fare and seats.
    pub seats: Vec<SegmentSeats>,
    /// Where notifications go.
    pub contact_email: EmailAddress,
    /// When the hold lapses unless paid.
    pub hold_until: DateTime<Utc>,
    /// Request time.
    pub now: DateTime<Utc>,
}

/// The minimum connecting time before one segment: at the airport it leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRule {
    /// The segment that leaves after the connection.
    pub segment: usize,
    /// The connecting airport.
    pub airport: AirportCode,
    /// Its minimum connecting time.
    pub minimum: ConnectionTime,
}

/// What can be done to a booking. `now` is the time of the request.
#[derive(Debug, Clone, PartialEq)]
pub enum BookingCommand {
    /// Create the booking, held.
    Place(Box<PlaceBooking>),
    /// Record payment; the booking is confirmed.
    Confirm {
        /// The payment.
        payment: Payment,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Cancel, with a refund per the fare rules (or in full when the airline cancels).
    Cancel {
        /// Who cancels.
        by: CancelledBy,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Lapse an unpaid hold past its deadline.
    Expire {
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Move a passenger to another seat on one segment (already moved on the flight).
    ChangeSeat {
        /// Index of the segment.
        segment: usize,
        /// Index of the passenger in the booking.
        passenger: usize,
        /// The new seat.
        to: SeatNumber,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Record that the provider captured the booking's payment. Recording it again does nothing.
    RecordCapture {
        /// The provider's capture reference.
        reference: Label,
        /// Amount captured; must be the payment's.
        amount: Money,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Record that the provider paid the cancellation's refund back (or an offload's, naming its
    /// flight). Recording it again does nothing.
    RecordRefund {
        /// The provider's refund reference.
        reference: Label,
        /// Amount refunded; must be the refund decided at cancellation or offload.
        amount: Money,
        /// The flight whose offload this refund is for; none: the cancellation's.
        offload: Option<FlightId>,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Record that one of the booking's flights was delayed, and any connection that broke.
    NoteFlightDelay {
        /// The delayed flight.
        flight_id: FlightId,
        /// New departure.
        departure_at: DateTime<Utc>,
        /// New arrival.
        arrival_at: DateTime<Utc>,
        /// Why.
        reason: Label,
        /// The connecting times of the booking's connections (those not given are not checked).
        connections: Vec<ConnectionRule>,
    },
    /// Give passengers who have no seat on segment `segment` their seats (already assigned on the
    /// flight).
    AssignSeats {
        /// Index of the segment.
        segment: usize,
        /// Each passenger (index) and the seat.
        seats: Vec<(usize, SeatNumber)>,
        /// Assigned by the flight's close (which may run after departure), not chosen.
        at_close: bool,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Deny boarding on `flight_id` to some passengers (the flight closed oversold): their share of the
    /// fare there is refunded, and each seated one is owed `compensation`.
    Offload {
        /// The flight.
        flight_id: FlightId,
        /// The seated passengers (an infant goes with its adult).
        passengers: Vec<usize>,
        /// Denied-boarding compensation per seated passenger.
        compensation: Money,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Correct a passenger's name: a typo, at most [`super::MAX_NAME_EDITS`] characters over both
    /// parts. Anything more would hand the ticket to someone else.
    CorrectName {
        /// Index of the passenger.
        passenger: usize,
        /// The given name as it should be.
        first_name: PassengerName,
        /// The family name as it should be.
        last_name: PassengerName,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Lapse an unpaid hold because one of its flights closed, before the hold's deadline.
    ExpireAtClose {
        /// Request time.
        now: DateTime<Utc>,
    },
}
