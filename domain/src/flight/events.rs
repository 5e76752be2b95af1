use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::{ClassCode, Fare};
use crate::aircraft::SeatLayout;
use crate::values::{
    AircraftId, AirportCode, BookingId, Cabin, FlightId, FlightNumber, Label, SeatNumber,
    SeatOccupant,
};

/// What happened to a flight. Variant names are the stored `event_type` and never change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FlightEvent {
    /// The flight went on sale.
    FlightScheduled {
        /// Id.
        id: FlightId,
        /// Flight number.
        number: FlightNumber,
        /// Departure airport.
        origin: AirportCode,
        /// Arrival airport.
        destination: AirportCode,
        /// Departure instant.
        departure_at: DateTime<Utc>,
        /// Arrival instant.
        arrival_at: DateTime<Utc>,
        /// Aircraft type.
        aircraft_id: AircraftId,
        /// Seat layout copied from the aircraft type.
        layout: SeatLayout,
        /// Fares: per cabin one, or several booking classes (since 1.1).
        fares: Vec<Fare>,
    },
    /// An unsold flight moved to new times.
    FlightRescheduled {
        /// New departure.
        departure_at: DateTime<Utc>,
        /// New arrival.
        arrival_at: DateTime<Utc>,
    },
    /// Fares changed for future bookings: prices, classes and their limits (seats sold stay sold).
    FaresChanged {
        /// New fares per cabin (booking classes since 1.1).
        fares: Vec<Fare>,
    },
    /// The departure moved later.
    FlightDelayed {
        /// Departure before this delay.
        previous_departure_at: DateTime<Utc>,
        /// New departure.
        departure_at: DateTime<Utc>,
        /// New arrival.
        arrival_at: DateTime<Utc>,
        /// Why.
        reason: Label,
        /// Bookings holding or owning seats at the time.
        affected_bookings: Vec<BookingId>,
    },
    /// The flight will not operate.
    FlightCancelled {
        /// Why.
        reason: Label,
        /// Bookings holding or owning seats at the time.
        affected_bookings: Vec<BookingId>,
    },
    /// Seats were held for a booking.
    SeatsHeld {
        /// The booking.
        booking_id: BookingId,
        /// The cabin of every seat.
        cabin: Cabin,
        /// The booking class they were sold in (since 1.1; before, the cabin's one class).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<ClassCode>,
        /// The seats.
        seats: Vec<SeatNumber>,
        /// Passengers held a place without a seat, by who would sit there (since 1.2).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unseated: Vec<SeatOccupant>,
        /// When the hold lapses unless paid.
        hold_until: DateTime<Utc>,
    },
    /// A booking's held seats were sold.
    SeatsConfirmed {
        /// The booking.
        booking_id: BookingId,
        /// The seats.
        seats: Vec<SeatNumber>,
    },
    /// A booking's seats came back on sale.
    SeatsReleased {
        /// The booking.
        booking_id: BookingId,
        /// The seats.
        seats: Vec<SeatNumber>,
    },
    /// A booking's hold lapsed unpaid and its seats came back on sale.
    HoldExpired {
        /// The booking.
        booking_id: BookingId,
        /// The seats.
        seats: Vec<SeatNumber>,
    },
    /// One passenger moved seat.
    SeatChanged {
        /// The booking.
        booking_id: BookingId,
        /// Old seat, now free.
        from: SeatNumber,
        /// New seat.
        to: SeatNumber,
    },
    /// A passenger without a seat was given one (chose it, or was assigned it at close).
    SeatAssigned {
        /// The booking.
        booking_id: BookingId,
        /// The seat.
        seat: SeatNumber,
        /// Who sits there.
        occupant: SeatOccupant,
    },
    /// Passengers of a booking were denied boarding at close (the cabin was oversold): their seats
    /// and places came back.
    PassengersOffloaded {
        /// The booking.
        booking_id: BookingId,
        /// Seats they had.
        seats: Vec<SeatNumber>,
        /// Places they had without a seat.
        unseated: Vec<SeatOccupant>,
    },
    /// A cabin's overbooking changed: the places it sells beyond its seats.
    OverbookingSet {
        /// The cabin.
        cabin: Cabin,
        /// Places beyond its seats (0: none).
        extra_seats: u32,
        /// The percentage of its seats it was set as, if it was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        percent: Option<u32>,
    },
    /// The flight closed: every passenger left has a seat, the overflow was offloaded, unpaid holds
    /// expired; nothing more is sold or moved.
    FlightClosed {
        /// When.
        closed_at: DateTime<Utc>,
        /// Seats assigned at close.
        assigned: u32,
        /// Passengers offloaded.
        offloaded: u32,
        /// Holds expired.
        expired: u32,
    },
}

impl DomainEvent for FlightEvent {
    fn event_type(&self) -> String {
        match self {
            Self::FlightScheduled { .. } => "FlightScheduled",
            Self::FlightRescheduled { .. } => "FlightRescheduled",
            Self::FaresChanged { .. } => "FaresChanged",
            Self::FlightDelayed { .. } => "FlightDelayed",
            Self::FlightCancelled { .. } => "FlightCancelled",
            Self::SeatsHeld { .. } => "SeatsHeld",
            Self::SeatsConfirmed { .. } => "SeatsConfirmed",
            Self::SeatsReleased { .. } => "SeatsReleased",
            Self::HoldExpired { .. } => "HoldExpired",
            Self::SeatChanged { .. } => "SeatChanged",
            Self::SeatAssigned { .. } => "SeatAssigned",
            Self::PassengersOffloaded { .. } => "PassengersOffloaded",
            Self::OverbookingSet { .. } => "OverbookingSet",
            Self::FlightClosed { .. } => "FlightClosed",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            // 1.2: a hold may keep places without seats (`unseated`); 1.1 and 1.0 had none.
            Self::SeatsHeld { .. } => "1.2",
            // 1.1: fares may name booking classes with nested limits; a hold names its class. A 1.0
            // event reads as the cabin's one class (`ClassCode::default_for`), limited by its seats.
            Self::FlightScheduled { .. } | Self::FaresChanged { .. } => "1.1",
            _ => "1.0",
        }
        .to_owned()
    }
}
