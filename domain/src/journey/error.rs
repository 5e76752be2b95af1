use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::values::{AirportCode, FlightId};

/// Why a set of flights is not a journey. Segments are counted from 0 over the whole journey.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JourneyError {
    /// No slice, or a slice without a segment.
    #[error("a journey has one or two slices, each of at least one segment")]
    Empty,
    /// More than two slices.
    #[error("a journey has at most two slices (out and back), not {0}")]
    TooManySlices(usize),
    /// More than [`super::MAX_SEGMENTS`] segments.
    #[error("a journey has at most {max} segments, not {count}")]
    TooManySegments {
        /// Segments given.
        count: usize,
        /// The most allowed.
        max: usize,
    },
    /// A flight twice.
    #[error("flight {0} appears twice")]
    RepeatedFlight(FlightId),
    /// A segment that does not arrive after it departs.
    #[error("segment {segment} arrives before it departs")]
    ArrivesBeforeDeparture {
        /// Which segment.
        segment: usize,
    },
    /// A segment that does not leave from where the one before it arrived.
    #[error("segment {segment} leaves from {from}, but the one before arrives at {arrived_at}")]
    Disconnected {
        /// Which segment.
        segment: usize,
        /// Where it leaves from.
        from: AirportCode,
        /// Where the one before arrives.
        arrived_at: AirportCode,
    },
    /// A connection shorter than the airport's minimum connecting time.
    #[error(
        "segment {segment} leaves {airport} {minutes} minutes after the one before arrives; the minimum there is {minimum}"
    )]
    ConnectionTooShort {
        /// Which segment.
        segment: usize,
        /// The connecting airport.
        airport: AirportCode,
        /// The connection's length.
        minutes: i64,
        /// The airport's minimum connecting time.
        minimum: i64,
    },
    /// A connection of more than [`super::MAX_CONNECTION`] (a stopover, not a connection).
    #[error("segment {segment} leaves {airport} more than 24 hours after the one before arrives")]
    ConnectionTooLong {
        /// Which segment.
        segment: usize,
        /// The connecting airport.
        airport: AirportCode,
    },
    /// A slice that passes the same airport twice.
    #[error("segment {segment} comes back to {airport}, where its slice already was")]
    Loop {
        /// Which segment.
        segment: usize,
        /// The airport visited twice.
        airport: AirportCode,
    },
    /// A return slice that does not go back from where the outbound arrived to where it started.
    #[error("the return goes {from} to {to}; it must go {expected_from} to {expected_to}")]
    NotAReturn {
        /// Where the return leaves from.
        from: AirportCode,
        /// Where it arrives.
        to: AirportCode,
        /// The outbound's destination.
        expected_from: AirportCode,
        /// The outbound's origin.
        expected_to: AirportCode,
    },
    /// A return that leaves before the outbound arrives.
    #[error("the return leaves at {departs}, before the outbound arrives at {arrives}")]
    ReturnBeforeArrival {
        /// The return's departure.
        departs: DateTime<Utc>,
        /// The outbound's arrival.
        arrives: DateTime<Utc>,
    },
}
