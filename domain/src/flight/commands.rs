use chrono::{DateTime, Utc};

use super::{ClassCode, ClosePlan, Fare, Overbooking};
use crate::aircraft::SeatLayout;
use crate::values::{
    AircraftId, AirportCode, BookingId, Cabin, FlightId, FlightNumber, Label, SeatNumber,
    SeatOccupant,
};

/// Everything needed to put a flight on sale. The seat layout is copied from the aircraft type.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleFlight {
    /// Id; also the aggregate id.
    pub id: FlightId,
    /// Flight number.
    pub number: FlightNumber,
    /// Departure airport.
    pub origin: AirportCode,
    /// Arrival airport.
    pub destination: AirportCode,
    /// Departure instant.
    pub departure_at: DateTime<Utc>,
    /// Arrival instant.
    pub arrival_at: DateTime<Utc>,
    /// Aircraft type flown.
    pub aircraft_id: AircraftId,
    /// That aircraft's layout.
    pub layout: SeatLayout,
    /// Per cabin of the layout, one fare or several booking classes.
    pub fares: Vec<Fare>,
    /// The time of the request.
    pub now: DateTime<Utc>,
}

/// What can be done to a flight. `now` is the time of the request.
#[derive(Debug, Clone, PartialEq)]
pub enum FlightCommand {
    /// Put a new flight on sale.
    Schedule(Box<ScheduleFlight>),
    /// Move an unsold flight (no holds or sales) to new times.
    Reschedule {
        /// New departure.
        departure_at: DateTime<Utc>,
        /// New arrival.
        arrival_at: DateTime<Utc>,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Replace the fares for future bookings.
    ChangeFares {
        /// One fare per cabin.
        fares: Vec<Fare>,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Announce a later departure; booked passengers follow.
    Delay {
        /// New departure, later than the current one.
        departure_at: DateTime<Utc>,
        /// New arrival.
        arrival_at: DateTime<Utc>,
        /// Why, for passengers.
        reason: Label,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Cancel the flight; its bookings are cancelled and refunded.
    Cancel {
        /// Why, for passengers.
        reason: Label,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Hold seats for a booking until a deadline.
    HoldSeats {
        /// The booking they are held for.
        booking_id: BookingId,
        /// Each seat and who will sit there.
        seats: Vec<(SeatNumber, SeatOccupant)>,
        /// Passengers who choose their seat later, by who will sit there.
        unseated: Vec<SeatOccupant>,
        /// The cabin, needed when no seat names it.
        cabin: Option<Cabin>,
        /// The booking class asked for; none: the cheapest open for the party.
        class: Option<ClassCode>,
        /// When the hold lapses unless paid.
        hold_until: DateTime<Utc>,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Turn a booking's hold into a sale.
    ConfirmSeats {
        /// The booking.
        booking_id: BookingId,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Give a booking's seats back (it was cancelled). Doing it twice does nothing.
    ReleaseSeats {
        /// The booking.
        booking_id: BookingId,
    },
    /// Give back the seats of a hold whose deadline passed unpaid.
    ExpireHold {
        /// The booking.
        booking_id: BookingId,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Move one passenger of a booking to another free seat in the same cabin.
    MoveSeat {
        /// The booking.
        booking_id: BookingId,
        /// The passenger's current seat.
        from: SeatNumber,
        /// The seat wanted.
        to: SeatNumber,
        /// Who sits there (exit-row rules).
        occupant: SeatOccupant,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Give a passenger of the booking who has no seat the free seat `seat`.
    AssignSeat {
        /// The booking.
        booking_id: BookingId,
        /// The seat.
        seat: SeatNumber,
        /// Who sits there (exit-row rules).
        occupant: SeatOccupant,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Give back an unpaid hold before its deadline: its booking expired because another flight of its
    /// journey closed. Nothing for a paid hold or none.
    DropHold {
        /// The booking.
        booking_id: BookingId,
    },
    /// Sell a cabin beyond its seats (or stop).
    SetOverbooking {
        /// The cabin.
        cabin: Cabin,
        /// Places beyond the seats.
        overbooking: Overbooking,
        /// Request time.
        now: DateTime<Utc>,
    },
    /// Close the flight: the plan's holds expire, its passengers are offloaded and its seats assigned.
    Close {
        /// What [`super::plan_close`] decided from the flight and its bookings.
        plan: ClosePlan,
        /// Request time.
        now: DateTime<Utc>,
    },
}
