//! The command API's one error type and the one place domain errors become HTTP statuses and stable
//! codes. Every match over a domain error is exhaustive, so a new rule cannot slip through as a 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::aircraft::AircraftError;
use domain::airport::AirportError;
use domain::booking::BookingError;
use domain::flight::{ClassCode, FlightError};
use domain::journey::JourneyError;
use domain::values::ValueError;
use infra::http::ErrorChain;
use infra::problem::Problem;

/// Handlers' result.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Everything a command request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A ready-made 4xx (extractors, input validation, authorization).
    #[error("{}", .0.detail)]
    Problem(Problem),
    /// Input that did not parse into a value type.
    #[error(transparent)]
    Invalid(#[from] ValueError),
    /// A flight rule.
    #[error(transparent)]
    Flight(#[from] FlightError),
    /// A booking rule.
    #[error(transparent)]
    Booking(#[from] BookingError),
    /// An airport rule.
    #[error(transparent)]
    Airport(#[from] AirportError),
    /// An aircraft rule.
    #[error(transparent)]
    Aircraft(#[from] AircraftError),
    /// Flights that do not make a journey.
    #[error(transparent)]
    Journey(#[from] JourneyError),
    /// A rule of one segment's flight, in a decision over a journey.
    #[error("segment {segment}: {source}")]
    OnSegment {
        /// The segment, from 0 in travel order.
        segment: usize,
        /// What its flight said.
        source: Box<ApiError>,
    },
    /// `If-Match` named another version.
    #[error("the resource changed: it is at version {current}")]
    PreconditionFailed {
        /// Its version now.
        current: u64,
    },
    /// Concurrent writers won every attempt.
    #[error("too many concurrent changes; retry")]
    Contended,
    /// The executor's queues are full: nothing was queued, nothing will commit.
    #[error("too many requests are waiting; nothing was done, retry shortly")]
    Overloaded,
    /// A decision needs streams that were not loaded yet; the executor loads them and decides again.
    /// Never reaches a client.
    #[error("a decision needs more streams")]
    NeedsStreams,
    /// Postgres cannot be reached.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A bug or an unexpected failure.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if infra::db::is_unavailable(&e) {
            Self::Unavailable(e.into())
        } else {
            Self::Internal(e.into())
        }
    }
}

fn unavailable() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "database_unavailable",
        "the database is unavailable; retry later",
    )
}

impl ApiError {
    /// The error with its causes, for logs and the ledger's `last_error`.
    pub fn cause_chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    /// The same failure again, for every caller of a batch that failed as a whole.
    pub fn replicate(&self) -> Self {
        match self {
            Self::Problem(p) => Self::Problem(p.clone()),
            Self::PreconditionFailed { current } => Self::PreconditionFailed { current: *current },
            Self::OnSegment { segment, source } => Self::OnSegment {
                segment: *segment,
                source: Box::new(source.replicate()),
            },
            Self::Contended => Self::Contended,
            Self::Overloaded => Self::Overloaded,
            Self::Unavailable(e) => Self::Unavailable(anyhow::anyhow!("{e:#}")),
            Self::Internal(e) if infra::db::unavailable_in_chain(e.as_ref()) => {
                Self::Unavailable(anyhow::anyhow!("{e:#}"))
            }
            other => Self::Internal(anyhow::anyhow!(other.cause_chain())),
        }
    }
}

fn flight_status(e: &FlightError) -> (StatusCode, &'static str) {
    use StatusCode as S;
    match e {
        FlightError::NotScheduled => (S::NOT_FOUND, "flight_not_found"),
        FlightError::AlreadyScheduled => (S::CONFLICT, "flight_exists"),
        FlightError::SameOriginAndDestination => {
            (S::UNPROCESSABLE_ENTITY, "same_origin_and_destination")
        }
        FlightError::ArrivalNotAfterDeparture => {
            (S::UNPROCESSABLE_ENTITY, "arrival_not_after_departure")
        }
        FlightError::DepartureInPast => (S::UNPROCESSABLE_ENTITY, "departure_in_past"),
        FlightError::FaresDoNotMatchCabins { .. } => {
            (S::UNPROCESSABLE_ENTITY, "fares_do_not_match_cabins")
        }
        FlightError::MixedCurrencies => (S::UNPROCESSABLE_ENTITY, "mixed_currencies"),
        FlightError::FareTooHigh { .. } => (S::UNPROCESSABLE_ENTITY, "fare_too_high"),
        FlightError::FlightCancelled => (S::CONFLICT, "flight_cancelled"),
        FlightError::Departed => (S::CONFLICT, "flight_departed"),
        FlightError::DelayMustBeLater => (S::UNPROCESSABLE_ENTITY, "delay_must_be_later"),
        FlightError::HasBookings => (S::CONFLICT, "flight_has_bookings"),
        FlightError::NoSeatsRequested => (S::UNPROCESSABLE_ENTITY, "no_seats_requested"),
        FlightError::DuplicateSeat(_) => (S::UNPROCESSABLE_ENTITY, "duplicate_seat"),
        FlightError::UnknownSeat(_) => (S::UNPROCESSABLE_ENTITY, "unknown_seat"),
        FlightError::MixedCabins => (S::UNPROCESSABLE_ENTITY, "mixed_cabins"),
        FlightError::SeatsUnavailable(_) => (S::CONFLICT, "seats_unavailable"),
        FlightError::ExitRowRestricted(_) => (S::UNPROCESSABLE_ENTITY, "exit_row_restricted"),
        FlightError::HoldDeadlineInPast => (S::UNPROCESSABLE_ENTITY, "hold_deadline_in_past"),
        FlightError::BookingAlreadyHolds => (S::CONFLICT, "booking_already_holds"),
        FlightError::NoHold => (S::CONFLICT, "no_hold"),
        FlightError::HoldExpired => (S::CONFLICT, "hold_expired"),
        FlightError::HoldNotExpired => (S::CONFLICT, "hold_not_expired"),
        FlightError::AlreadyConfirmed => (S::CONFLICT, "already_confirmed"),
        FlightError::SeatNotInBooking(_) => (S::UNPROCESSABLE_ENTITY, "seat_not_in_booking"),
        FlightError::SameSeat => (S::UNPROCESSABLE_ENTITY, "same_seat"),
        FlightError::CabinChange => (S::UNPROCESSABLE_ENTITY, "cabin_change"),
        FlightError::InvalidClasses { .. } => (S::UNPROCESSABLE_ENTITY, "invalid_classes"),
        FlightError::UnknownClass { .. } => (S::UNPROCESSABLE_ENTITY, "unknown_class"),
        FlightError::ClassClosed { .. } => (S::CONFLICT, "class_closed"),
        FlightError::NoClassOpen { .. } => (S::CONFLICT, "no_class_open"),
        FlightError::OnlyWithoutSeats { .. } => (S::CONFLICT, "only_without_seats"),
        FlightError::NoSuchCabin(_) => (S::UNPROCESSABLE_ENTITY, "no_such_cabin"),
        FlightError::InvalidOverbooking(_) => (S::UNPROCESSABLE_ENTITY, "invalid_overbooking"),
        FlightError::Closed => (S::CONFLICT, "flight_closed"),
        FlightError::NoUnseatedPassenger => (S::UNPROCESSABLE_ENTITY, "no_unseated_passenger"),
        FlightError::InvalidClosePlan(_) => (S::CONFLICT, "close_plan_stale"),
    }
}

fn journey_code(e: &JourneyError) -> &'static str {
    match e {
        JourneyError::Empty => "empty_journey",
        JourneyError::TooManySlices(_) => "too_many_slices",
        JourneyError::TooManySegments { .. } => "too_many_segments",
        JourneyError::RepeatedFlight(_) => "repeated_flight",
        JourneyError::ArrivesBeforeDeparture { .. } => "arrival_not_after_departure",
        JourneyError::Disconnected { .. } => "segments_not_connected",
        JourneyError::ConnectionTooShort { .. } => "connection_too_short",
        JourneyError::ConnectionTooLong { .. } => "connection_too_long",
        JourneyError::Loop { .. } => "journey_loops",
        JourneyError::NotAReturn { .. } => "not_a_return",
        JourneyError::ReturnBeforeArrival { .. } => "return_before_arrival",
    }
}

fn booking_status(e: &BookingError) -> (StatusCode, &'static str) {
    use StatusCode as S;
    match e {
        BookingError::NotPlaced => (S::NOT_FOUND, "booking_not_found"),
        BookingError::AlreadyPlaced => (S::CONFLICT, "booking_exists"),
        BookingError::SeatsDoNotMatchItinerary { .. } => {
            (S::UNPROCESSABLE_ENTITY, "seats_do_not_match_segments")
        }
        BookingError::PartyDiffers(_) => (S::UNPROCESSABLE_ENTITY, "party_differs"),
        BookingError::NoSuchSegment(_) => (S::UNPROCESSABLE_ENTITY, "no_such_segment"),
        BookingError::HoldDeadlineInPast => (S::UNPROCESSABLE_ENTITY, "hold_deadline_in_past"),
        BookingError::Departed => (S::CONFLICT, "flight_departed"),
        BookingError::Price(_) => (S::UNPROCESSABLE_ENTITY, "invalid_price"),
        BookingError::AlreadyConfirmed => (S::CONFLICT, "already_paid"),
        BookingError::Cancelled => (S::CONFLICT, "booking_cancelled"),
        BookingError::Expired => (S::CONFLICT, "booking_expired"),
        BookingError::HoldExpired => (S::CONFLICT, "hold_expired"),
        BookingError::HoldNotExpired => (S::CONFLICT, "hold_not_expired"),
        BookingError::PaymentMismatch { .. } => (S::UNPROCESSABLE_ENTITY, "payment_mismatch"),
        BookingError::NoSuchPassenger(_) => (S::UNPROCESSABLE_ENTITY, "no_such_passenger"),
        BookingError::SameSeat => (S::UNPROCESSABLE_ENTITY, "same_seat"),
        BookingError::SeatTakenInBooking => (S::UNPROCESSABLE_ENTITY, "seat_taken_in_booking"),
        BookingError::NotPaid => (S::CONFLICT, "not_paid"),
        BookingError::CaptureMismatch { .. } => (S::UNPROCESSABLE_ENTITY, "capture_mismatch"),
        BookingError::NoRefundDue => (S::CONFLICT, "no_refund_due"),
        BookingError::RefundMismatch { .. } => (S::UNPROCESSABLE_ENTITY, "refund_mismatch"),
        BookingError::Offloaded(_) => (S::CONFLICT, "passenger_offloaded"),
        BookingError::NameChangeTooLarge { .. } => {
            (S::UNPROCESSABLE_ENTITY, "name_change_too_large")
        }
        BookingError::SameName => (S::UNPROCESSABLE_ENTITY, "same_name"),
        BookingError::NotOffloadable => (S::CONFLICT, "not_offloadable"),
    }
}

fn airport_status(e: &AirportError) -> (StatusCode, &'static str) {
    match e {
        AirportError::AlreadyRegistered(_) => (StatusCode::CONFLICT, "airport_exists"),
        AirportError::NotRegistered => (StatusCode::NOT_FOUND, "airport_not_found"),
    }
}

fn aircraft_status(e: &AircraftError) -> (StatusCode, &'static str) {
    match e {
        AircraftError::AlreadyRegistered => (StatusCode::CONFLICT, "aircraft_exists"),
    }
}

fn value_status(e: &ValueError) -> &'static str {
    match e {
        ValueError::AirportCode(_) => "invalid_airport_code",
        ValueError::FlightNumber(_) => "invalid_flight_number",
        ValueError::SeatNumber(_) => "invalid_seat",
        ValueError::Cabin(_) => "invalid_cabin",
        ValueError::ClassCode(_) => "invalid_class",
        ValueError::Pnr { .. } => "invalid_reference",
        ValueError::Currency(_) => "invalid_currency",
        ValueError::Amount => "invalid_amount",
        ValueError::PersonName(_) => "invalid_name",
        ValueError::PassengerType(_) => "invalid_passenger_type",
        ValueError::Label { .. } => "invalid_text",
        ValueError::ConnectionTime(_) => "invalid_connection_time",
        ValueError::CountryCode(_) => "invalid_country",
        ValueError::TimeZone(_) => "invalid_time_zone",
        ValueError::Email(_) => "invalid_email",
        ValueError::Layout(_) => "invalid_seat_layout",
        ValueError::Id(_) => "invalid_id",
        ValueError::Party(_) => "invalid_passengers",
    }
}

impl ApiError {
    /// A flight's rule as segment `segment`'s; anything else as it is.
    pub fn on_segment(self, segment: usize) -> Self {
        match self {
            Self::Flight(_) => Self::OnSegment {
                segment,
                source: Box::new(self),
            },
            other => other,
        }
    }

    fn problem(&self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::Problem(p) => p.clone(),
            Self::Invalid(e) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, value_status(e), detail)
            }
            Self::Flight(e) => {
                let (status, code) = flight_status(e);
                let on_sale = match e {
                    FlightError::ClassClosed { on_sale, .. } => on_sale.map(ClassCode::as_char),
                    _ => None,
                };
                Problem::new(status, code, detail).with_on_sale(on_sale)
            }
            Self::Booking(e) => {
                let (status, code) = booking_status(e);
                Problem::new(status, code, detail)
            }
            Self::Airport(e) => {
                let (status, code) = airport_status(e);
                Problem::new(status, code, detail)
            }
            Self::Aircraft(e) => {
                let (status, code) = aircraft_status(e);
                Problem::new(status, code, detail)
            }
            Self::Journey(e) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, journey_code(e), detail)
            }
            Self::OnSegment { segment, source } => {
                let inner = source.problem();
                Problem { detail, ..inner }.on_segment(*segment)
            }
            Self::PreconditionFailed { .. } => {
                Problem::new(StatusCode::PRECONDITION_FAILED, "version_mismatch", detail)
            }
            Self::Contended => {
                Problem::new(StatusCode::CONFLICT, "concurrent_modification", detail)
            }
            Self::Overloaded => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", detail),
            Self::Unavailable(_) => unavailable(),
            // An event-store error that wraps a lost connection is the database being away, not a bug.
            Self::Internal(cause) if infra::db::unavailable_in_chain(cause.as_ref()) => {
                unavailable()
            }
            Self::NeedsStreams | Self::Internal(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "something went wrong on our side",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.problem().into_response();
        if let Self::Unavailable(cause) | Self::Internal(cause) = &self {
            response
                .extensions_mut()
                .insert(ErrorChain(format!("{cause:#}")));
        }
        response
    }
}
