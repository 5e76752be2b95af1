use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::{ClassCode, Fare};
use crate::aircraft::SeatLayout;
use crate::values::{
    AircraftId, AirportCode, BookingId, Cabin, FlightId, FlightNumber, Label, SeatNumber,
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
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        match self {
            // 1.1: fares may name booking classes with nested limits; a hold names its class. A 1.0
            // event reads as the cabin's one class (`ClassCode::default_for`), limited by its seats.
            Self::FlightScheduled { .. } | Self::FaresChanged { .. } | Self::SeatsHeld { .. } => {
                "1.1"
            }
            _ => "1.0",
        }
        .to_owned()
    }
}
