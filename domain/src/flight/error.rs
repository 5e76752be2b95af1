use thiserror::Error;

use super::ClassCode;
use crate::values::{Cabin, SeatNumber};

/// Flight rules that a command broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlightError {
    /// A command other than `Schedule` on a flight that does not exist.
    #[error("flight not found")]
    NotScheduled,
    /// `Schedule` on an id that exists.
    #[error("flight already scheduled")]
    AlreadyScheduled,
    /// Origin equals destination.
    #[error("origin and destination must differ")]
    SameOriginAndDestination,
    /// Arrival is not after departure.
    #[error("arrival must be after departure")]
    ArrivalNotAfterDeparture,
    /// Departure is not in the future.
    #[error("departure must be in the future")]
    DepartureInPast,
    /// Fares do not cover exactly the cabins of the seat map.
    #[error("fares must name each cabin of the seat map once (problem with {cabin})")]
    FaresDoNotMatchCabins {
        /// A cabin missing a fare, priced twice, or priced without seats.
        cabin: Cabin,
    },
    /// A fare or fee over [`super::Fare::MAX_AMOUNT_MINOR`].
    #[error("the {cabin} fare or its fee is over the maximum of 1000000000000 minor units")]
    FareTooHigh {
        /// The cabin of that fare.
        cabin: Cabin,
    },
    /// Booking classes that do not nest: codes missing or repeated, prices not falling from the
    /// dearest to the cheapest, or a cheaper class allowed more than a dearer one.
    #[error("the {cabin} classes are invalid: {why}")]
    InvalidClasses {
        /// The cabin.
        cabin: Cabin,
        /// What is wrong.
        why: &'static str,
    },
    /// A booking class the flight does not sell in that cabin.
    #[error("the flight sells no class {class} in {cabin}")]
    UnknownClass {
        /// The class asked for.
        class: ClassCode,
        /// The cabin of the seats.
        cabin: Cabin,
    },
    /// The class asked for cannot sell that many seats now.
    #[error("class {class} is closed for {party} passengers{}", on_sale.map(|c| format!("; class {c} is on sale")).unwrap_or_default())]
    ClassClosed {
        /// The class asked for.
        class: ClassCode,
        /// The seats asked for.
        party: usize,
        /// The cheapest class that is open for the party, if any.
        on_sale: Option<ClassCode>,
    },
    /// No class of the cabin can sell that many seats now.
    #[error("no class of {cabin} is open for {party} passengers")]
    NoClassOpen {
        /// The cabin.
        cabin: Cabin,
        /// The seats asked for.
        party: usize,
    },
    /// Fares or fees in several currencies.
    #[error("all fares and fees must be in one currency")]
    MixedCurrencies,
    /// The flight is cancelled.
    #[error("the flight is cancelled")]
    FlightCancelled,
    /// The flight has departed.
    #[error("the flight has departed")]
    Departed,
    /// A delay that does not move departure later.
    #[error("a delay must move departure later")]
    DelayMustBeLater,
    /// Reschedule while seats are held or sold; use a delay.
    #[error("seats are held or sold; announce a delay instead of rescheduling")]
    HasBookings,
    /// A hold with no seats.
    #[error("no seats requested")]
    NoSeatsRequested,
    /// The same seat twice in one request.
    #[error("seat {0} requested twice")]
    DuplicateSeat(SeatNumber),
    /// A seat not on this aircraft.
    #[error("seat {0} does not exist on this flight")]
    UnknownSeat(SeatNumber),
    /// Seats from several cabins in one booking.
    #[error("all seats of a booking must be in one cabin")]
    MixedCabins,
    /// Seats held or sold to someone else.
    #[error("seats not available: {}", list(.0))]
    SeatsUnavailable(Vec<SeatNumber>),
    /// An exit row for a child or an adult holding an infant.
    #[error("seat {0} is in an exit row, which children and adults with infants may not take")]
    ExitRowRestricted(SeatNumber),
    /// The deadline of a new hold is not in the future.
    #[error("the hold deadline must be in the future")]
    HoldDeadlineInPast,
    /// The booking already holds different seats.
    #[error("this booking already holds other seats")]
    BookingAlreadyHolds,
    /// The booking holds no seats here.
    #[error("this booking holds no seats on this flight")]
    NoHold,
    /// Confirm or move after the hold's deadline.
    #[error("the hold has expired")]
    HoldExpired,
    /// Expire before the hold's deadline.
    #[error("the hold has not expired yet")]
    HoldNotExpired,
    /// Expire a hold that was paid.
    #[error("the seats are already sold")]
    AlreadyConfirmed,
    /// Move from a seat the booking does not have.
    #[error("seat {0} is not part of this booking")]
    SeatNotInBooking(SeatNumber),
    /// Move to the seat already occupied.
    #[error("the passenger already sits in that seat")]
    SameSeat,
    /// Move into another cabin.
    #[error("a seat change must stay in the booked cabin")]
    CabinChange,
    /// A seated sale past the cabin's seats: the places beyond them are sold without seats.
    #[error(
        "the {cabin} seats are all sold; the places left are sold without a seat (omit `seat`)"
    )]
    OnlyWithoutSeats {
        /// The cabin.
        cabin: Cabin,
    },
    /// A cabin the aircraft does not have.
    #[error("this flight has no {0} cabin")]
    NoSuchCabin(Cabin),
    /// An overbooking out of bounds.
    #[error("invalid overbooking: {0}")]
    InvalidOverbooking(&'static str),
    /// The flight closed: no sales or seat changes.
    #[error("the flight has closed; nothing more is sold or changed on it")]
    Closed,
    /// A seat for a passenger the booking does not hold without one.
    #[error("this booking has no passenger without a seat who may sit there")]
    NoUnseatedPassenger,
    /// A close plan that does not fit the flight (it changed since the plan was made).
    #[error("the close plan does not fit the flight: {0}")]
    InvalidClosePlan(&'static str),
}

fn list(seats: &[SeatNumber]) -> String {
    seats
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
