use thiserror::Error;

use crate::values::{Money, ValueError};

/// Booking rules that a command broke.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BookingError {
    /// A command other than `Place` on a booking that does not exist.
    #[error("booking not found")]
    NotPlaced,
    /// `Place` on an id that exists.
    #[error("booking already placed")]
    AlreadyPlaced,
    /// The seats given are not one set per segment of the itinerary.
    #[error(
        "seats are needed for each of the {expected} segments, in travel order; {given} were given"
    )]
    SeatsDoNotMatchItinerary {
        /// Segments in the itinerary.
        expected: usize,
        /// Seat sets given.
        given: usize,
    },
    /// A segment's travellers are not the booking's (the same people in the same order on every flight).
    #[error("segment {0} lists other travellers than the first segment")]
    PartyDiffers(usize),
    /// No segment at that index.
    #[error("no segment number {0} on this booking")]
    NoSuchSegment(usize),
    /// The hold deadline is not in the future.
    #[error("the hold deadline must be in the future")]
    HoldDeadlineInPast,
    /// The flight has departed.
    #[error("the flight has departed")]
    Departed,
    /// The price could not be computed.
    #[error("price: {0}")]
    Price(ValueError),
    /// Pay or cancel a booking that is already confirmed, where that is not allowed.
    #[error("the booking is already paid")]
    AlreadyConfirmed,
    /// Anything but reading on a cancelled booking.
    #[error("the booking is cancelled")]
    Cancelled,
    /// Anything but reading on an expired booking.
    #[error("the booking's hold expired")]
    Expired,
    /// Pay after the hold's deadline.
    #[error("the hold expired before payment")]
    HoldExpired,
    /// Expire before the hold's deadline.
    #[error("the hold has not expired yet")]
    HoldNotExpired,
    /// Payment of another amount or currency than the total.
    #[error("payment must be exactly {expected_minor} minor units of {currency}")]
    PaymentMismatch {
        /// Total due, minor units.
        expected_minor: i64,
        /// Currency due.
        currency: String,
    },
    /// No seated passenger at that index.
    #[error("no seated passenger number {0} on this booking")]
    NoSuchPassenger(usize),
    /// The passenger already sits there.
    #[error("the passenger already sits in that seat")]
    SameSeat,
    /// Another passenger of the booking sits there.
    #[error("another passenger of this booking sits there")]
    SeatTakenInBooking,
    /// A capture on a booking that was never paid.
    #[error("the booking has no payment to capture")]
    NotPaid,
    /// A seat change or offload of a passenger offloaded from that flight.
    #[error("passenger {0} was offloaded from that flight")]
    Offloaded(usize),
    /// A name change beyond a typo: it would transfer the ticket.
    #[error(
        "a name may be corrected by at most {max} characters; this changes {edits}, which would transfer the ticket"
    )]
    NameChangeTooLarge {
        /// Characters changed over both parts.
        edits: usize,
        /// The most allowed.
        max: usize,
    },
    /// A correction to the name the passenger already has.
    #[error("the passenger already has that name")]
    SameName,
    /// An offload of passengers of a booking that is not paid, or not on that flight.
    #[error("only paid passengers on the flight can be offloaded")]
    NotOffloadable,
    /// A capture of another amount than the payment's.
    #[error("the capture must be exactly {expected_minor} minor units of {currency}")]
    CaptureMismatch {
        /// The payment, minor units.
        expected_minor: i64,
        /// Its currency.
        currency: String,
    },
    /// A refund recorded on a booking that is not cancelled, or that refunds nothing.
    #[error("the booking has no refund due")]
    NoRefundDue,
    /// A refund of another amount than the one decided at cancellation.
    #[error("the refund must be exactly {expected_minor} minor units of {currency}")]
    RefundMismatch {
        /// The refund due, minor units.
        expected_minor: i64,
        /// Its currency.
        currency: String,
    },
}

impl BookingError {
    pub(super) fn capture_mismatch(expected: Money) -> Self {
        Self::CaptureMismatch {
            expected_minor: expected.amount_minor(),
            currency: expected.currency().to_string(),
        }
    }

    pub(super) fn refund_mismatch(expected: Money) -> Self {
        Self::RefundMismatch {
            expected_minor: expected.amount_minor(),
            currency: expected.currency().to_string(),
        }
    }

    pub(super) fn payment_mismatch(expected: Money) -> Self {
        Self::PaymentMismatch {
            expected_minor: expected.amount_minor(),
            currency: expected.currency().to_string(),
        }
    }
}
