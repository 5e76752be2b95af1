//! Bookings: hold (`POST /bookings`, one flight or a journey), pay, cancel, change seat. Owners act on their own bookings; a
//! booking of someone else's is 404.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::booking::{BookedSegment, Booking, BookingStatus, CancelledBy};
use domain::flight::ClassCode;
use domain::values::{
    BookingId, Cabin, EmailAddress, FlightId, Money, Passenger, PassengerName, PassengerType,
    SeatNumber,
};
use infra::auth::Principal;
use infra::http::{AppJson, if_match};
use infra::problem::Problem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use super::{RequestMeta, not_found, versioned};
use crate::error::Result;
use crate::executor::Versioned;
use crate::outcome::StoredResponse;
use crate::process::booking::{self, BookRequest, SegmentRequest};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![place_booking; pay_booking; cancel_booking; change_seat; correct_name]
}

/// Seats to hold for a party: on one flight (`flight_id`, each passenger with a `seat`), or on a journey
/// (`slices`: the outbound and, for a return, the inbound, each of connecting flights in travel order,
/// each flight with one seat per seated passenger; passengers then have no `seat`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceBookingRequest {
    /// One flight (give this or `slices`).
    pub flight_id: Option<Uuid>,
    /// A journey (give this or `flight_id`): 1–2 slices, 1–4 flights in all.
    #[schema(min_items = 1, max_items = 2)]
    pub slices: Option<Vec<SliceRequest>>,
    /// With `flight_id`: the cabin, when no passenger names a seat in it (economy when omitted).
    #[schema(value_type = Option<String>, example = "economy")]
    pub cabin: Option<Cabin>,
    /// With `flight_id`: the booking class (one letter); without, the cheapest open for the whole party.
    /// A class that cannot take the party now is 409 `class_closed`, naming the class on sale.
    #[schema(value_type = Option<String>, pattern = "^[A-Z]$", example = "Y")]
    pub class: Option<ClassCode>,
    /// Where notifications go.
    #[schema(value_type = String, format = Email, max_length = 254, example = "ada@example.com")]
    pub contact_email: EmailAddress,
    /// 1–9 seated passengers, at least one adult, infants (no seat) no more than adults:
    /// `{"first_name": "Ada", "last_name": "Lovelace", "type": "adult", "seat": "12A"}`. A passenger
    /// without `seat` picks one later (`seat-changes`) or is given one when the flight closes; places
    /// sold beyond the cabin's seats (overbooking) are sold only that way.
    #[schema(value_type = Vec<crate::routes::schemas::PassengerSchema>, min_items = 1, max_items = 18)]
    pub passengers: Vec<Passenger>,
}

/// One slice of a journey: connecting flights in travel order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SliceRequest {
    /// The flights.
    #[schema(min_items = 1, max_items = 4)]
    pub segments: Vec<SegmentSeatsRequest>,
}

/// One flight of a journey and the party's seats on it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentSeatsRequest {
    /// The flight.
    pub flight_id: Uuid,
    /// One seat per seated passenger (adults and children, not infants), in the order of `passengers`;
    /// omitted: the party picks seats later.
    #[schema(value_type = Option<Vec<String>>, min_items = 1, max_items = 9, example = json!(["12A", "12B"]))]
    pub seats: Option<Vec<SeatNumber>>,
    /// The cabin, when `seats` is omitted (economy when this is omitted too).
    #[schema(value_type = Option<String>, example = "economy")]
    pub cabin: Option<Cabin>,
    /// The booking class on this flight; without, the cheapest open for the whole party.
    #[schema(value_type = Option<String>, pattern = "^[A-Z]$", example = "Y")]
    pub class: Option<ClassCode>,
}

impl PlaceBookingRequest {
    /// The request as the booking process takes it: one flight is a one-segment journey.
    fn into_book(self) -> Result<BookRequest> {
        if self
            .passengers
            .iter()
            .any(|p| p.kind == PassengerType::Infant && p.seat.is_some())
        {
            return Err(invalid_body("infants travel on a lap and take no seat"));
        }
        let seated = self
            .passengers
            .iter()
            .filter(|p| p.kind != PassengerType::Infant)
            .count();
        let slices = match (self.flight_id, self.slices) {
            (Some(flight), None) => vec![vec![SegmentRequest {
                flight_id: FlightId::from_uuid(flight),
                seats: self
                    .passengers
                    .iter()
                    .filter(|p| p.kind != PassengerType::Infant)
                    .map(|p| p.seat)
                    .collect(),
                cabin: self.cabin,
                class: self.class,
            }]],
            (None, Some(_)) if self.class.is_some() || self.cabin.is_some() => {
                return Err(invalid_body(
                    "with slices, each segment names its class and cabin; the booking has none",
                ));
            }
            (None, Some(slices)) if self.passengers.iter().all(|p| p.seat.is_none()) => slices
                .into_iter()
                .map(|slice| {
                    slice
                        .segments
                        .into_iter()
                        .map(|s| SegmentRequest {
                            flight_id: FlightId::from_uuid(s.flight_id),
                            seats: s.seats.map_or_else(
                                || vec![None; seated],
                                |seats| seats.into_iter().map(Some).collect(),
                            ),
                            cabin: s.cabin,
                            class: s.class,
                        })
                        .collect()
                })
                .collect(),
            (None, Some(_)) => {
                return Err(invalid_body(
                    "with slices, each segment lists the seats; passengers have no seat",
                ));
            }
            _ => return Err(invalid_body("give either flight_id or slices")),
        };
        Ok(BookRequest {
            contact_email: self.contact_email,
            passengers: self.passengers,
            slices,
        })
    }
}

fn invalid_body(detail: &str) -> crate::error::ApiError {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", detail).into()
}

/// Payment for a held booking: the amount must equal the total.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// A card token from the payment provider (`tok_visa` in test mode; others are declined).
    #[schema(min_length = 1, max_length = 128, example = "tok_visa")]
    pub card_token: String,
    /// `{"amount_minor": 25800, "currency": "EUR"}`.
    #[schema(value_type = crate::routes::schemas::MoneySchema)]
    pub amount: Money,
}

/// Move one passenger.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatChangeRequest {
    /// The segment (from 0, in travel order; 0 when omitted).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 3)]
    pub segment: usize,
    /// Index of the passenger in the booking's `passengers`.
    #[schema(minimum = 0, maximum = 17)]
    pub passenger: usize,
    /// The seat wanted.
    #[schema(value_type = String, pattern = "^[1-9][0-9]?[A-HJK]$", example = "14C")]
    pub seat: SeatNumber,
}

/// A passenger's name as it should be: a typo fixed, at most three characters changed over both parts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameCorrectionRequest {
    /// Given name.
    #[schema(value_type = String, min_length = 1, max_length = 64, example = "Ada")]
    pub first_name: PassengerName,
    /// Family name.
    #[schema(value_type = String, min_length = 1, max_length = 64, example = "Lovelace")]
    pub last_name: PassengerName,
}

/// A booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingResponse {
    /// Id.
    pub id: Uuid,
    /// PNR.
    pub reference: String,
    /// `held` (seats held until `hold_expires_at`, unpaid) → `confirmed` (paid: authorized and
    /// committed with the seats sold, then captured) → `cancelled` (seats released; the refund, if any,
    /// is paid back afterwards: `refunded`); or `held` → `expired` (the hold lapsed unpaid).
    #[schema(value_type = String, example = "held")]
    pub status: BookingStatus,
    /// The first flight.
    pub flight_id: Uuid,
    /// The first flight's cabin.
    #[schema(value_type = String)]
    pub cabin: Cabin,
    /// Travellers, with their seats on the first flight.
    #[schema(value_type = Vec<Object>)]
    pub passengers: Vec<Passenger>,
    /// Every flight, in travel order, with the party's seats on it.
    pub segments: Vec<SegmentResponse>,
    /// Notification address.
    pub contact_email: String,
    /// Price.
    #[schema(value_type = Object)]
    pub total: Money,
    /// When an unpaid hold lapses.
    pub hold_expires_at: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The payment provider's authorization reference, once paid.
    pub payment_reference: Option<String>,
    /// Whether the capture is recorded (`PaymentCaptured`). The payment's own response is the state its
    /// commit left, before the capture that follows it, so it says `false`; the booking's history shows
    /// the capture a moment later (payment recovery finishes one a crash interrupted).
    pub captured: bool,
    /// What the fare rules refund, once cancelled.
    #[schema(value_type = Option<Object>)]
    pub refund: Option<Money>,
    /// Whether that refund is recorded as paid back (`RefundIssued`); as with `captured`, the
    /// cancellation's own response comes before it.
    pub refunded: bool,
    /// Who cancelled, once cancelled.
    #[schema(value_type = Option<String>)]
    pub cancelled_by: Option<CancelledBy>,
}

/// One flight of a booking.
#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentResponse {
    /// The flight.
    pub flight_id: Uuid,
    /// 0 outbound, 1 return.
    pub slice: u8,
    /// Cabin.
    #[schema(value_type = String)]
    pub cabin: Cabin,
    /// Booking class on this flight: its fare rules are the booking's.
    #[schema(example = "Y")]
    pub class: String,
    /// Price per seated passenger on this flight.
    #[schema(value_type = Object)]
    pub fare: Money,
    /// Departure (following delays).
    pub departure_at: DateTime<Utc>,
    /// Arrival, where known (bookings made before journeys learn it from a delay).
    pub arrival_at: Option<DateTime<Utc>>,
    /// Each passenger's seat on this flight, in passenger order (`null` for infants, and for a
    /// passenger who picks a seat later).
    #[schema(value_type = Vec<Option<String>>)]
    pub seats: Vec<Option<SeatNumber>>,
    /// Passengers denied boarding on this flight at its close (indexes; their fare here is refunded).
    pub offloaded: Vec<usize>,
}

impl From<&BookedSegment> for SegmentResponse {
    fn from(s: &BookedSegment) -> Self {
        Self {
            flight_id: *s.flight_id.as_uuid(),
            slice: s.slice,
            cabin: s.cabin(),
            class: s.fare.code().to_string(),
            fare: s.fare.price,
            departure_at: s.departure_at,
            arrival_at: s.arrival_at,
            seats: s.passengers.as_slice().iter().map(|p| p.seat).collect(),
            offloaded: s.offloaded.clone(),
        }
    }
}

pub fn render(status: StatusCode) -> impl Fn(&Versioned<Booking>) -> Result<StoredResponse> + Send {
    move |done| {
        let s = done
            .aggregate
            .state()
            .ok_or_else(|| not_found("booking_not_found", "booking"))?;
        let body = BookingResponse {
            id: *s.id.as_uuid(),
            reference: s.pnr.to_string(),
            status: s.status,
            flight_id: *s.flight_id().as_uuid(),
            cabin: s.segments[0].cabin(),
            passengers: s.passengers().as_slice().to_vec(),
            segments: s.segments.iter().map(SegmentResponse::from).collect(),
            contact_email: s.contact_email.to_string(),
            total: s.total,
            hold_expires_at: s.hold_until,
            created_at: s.placed_at,
            payment_reference: s.payment.as_ref().map(|p| p.reference.to_string()),
            captured: s.captured.is_some(),
            refund: s.refund,
            refunded: s.refund_issued.is_some(),
            cancelled_by: s.cancelled_by,
        };
        let location = Some(format!("/api/v1/bookings/{}", s.id));
        versioned(status, done.version, location, body)
    }
}

/// Hold seats: the booking starts `held` until `hold_expires_at`.
#[utoipa::path(post, path = "/api/v1/bookings", tag = "bookings", security(("bearer" = [])),
    request_body = PlaceBookingRequest,
    responses((status = 201, body = BookingResponse),
        (status = 404, description = "`flight_not_found`", body = Problem),
        (status = 409, description = "`seats_unavailable` (a seat is taken; on a journey `segment` names the flight, and \
            nothing is held anywhere), `only_without_seats` (the cabin's seats are sold; the places left, sold by \
            overbooking, are booked without `seat`), `flight_closed`, `class_closed` (the class asked for cannot take the party now; `on_sale` names \
            the cheapest class that can), `no_class_open`, `hold_limit_exceeded` (you hold the most \
            seats unpaid at once), `flight_cancelled`, `flight_departed`, `concurrent_modification`", body = Problem),
        (status = 422, description = "`invalid_body`, the party rules (1-9 seated passengers, an adult, infants on \
            laps), `unknown_seat`, `duplicate_seat`, `mixed_cabins`, `exit_row_restricted`, `unknown_class`, \
            `seats_do_not_match_passengers`, journey rules: `connection_too_short`, `connection_too_long`, \
            `segments_not_connected`, `not_a_return`, `return_before_arrival`, `journey_loops`, `repeated_flight`, \
            `too_many_segments`", body = Problem)))]
async fn place_booking(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    AppJson(req): AppJson<PlaceBookingRequest>,
) -> Result<Response> {
    let request = req.into_book()?;
    let meta = meta.for_principal(principal);
    Ok(booking::book(
        &state,
        principal,
        &meta,
        request,
        render(StatusCode::CREATED),
    )
    .await?
    .1)
}

/// Pay a held booking: it becomes `confirmed`.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/payment", tag = "bookings", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PaymentRequest,
    responses((status = 200, description = "confirmed: seats sold, payment authorized and (normally at once) captured",
            body = BookingResponse),
        (status = 402, description = "the card was declined", body = Problem), (status = 404, body = Problem),
        (status = 409, description = "`already_paid`, `hold_expired`, `booking_cancelled`, `booking_expired`, \
            another payment in progress", body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem),
        (status = 503, description = "the payment provider did not answer; nothing was charged", body = Problem)))]
async fn pay_booking(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    AppJson(req): AppJson<PaymentRequest>,
) -> Result<Response> {
    let expected = if_match(&headers)?;
    let meta = meta.for_principal(principal);
    let payment = (req.card_token.as_str(), req.amount);
    let target = (BookingId::from_uuid(id), expected);
    Ok(booking::pay(
        &state,
        principal,
        &meta,
        target,
        payment,
        render(StatusCode::OK),
    )
    .await?
    .1)
}

/// Cancel: a customer gets the fare rules' refund; an admin cancels for the airline (full refund).
#[utoipa::path(post, path = "/api/v1/bookings/{id}/cancel", tag = "bookings", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = BookingResponse), (status = 404, description = "`booking_not_found`", body = Problem),
        (status = 409, description = "`booking_cancelled`, `booking_expired`, `flight_departed`", body = Problem),
        (status = 412, description = "`version_mismatch`: `If-Match` is not the current version", body = Problem)))]
async fn cancel_booking(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response> {
    let expected = if_match(&headers)?;
    let meta = meta.for_principal(principal);
    let target = (BookingId::from_uuid(id), expected);
    Ok(
        booking::cancel(&state, principal, &meta, target, render(StatusCode::OK))
            .await?
            .1,
    )
}

/// Move a passenger to another free seat in the same cabin, or give a passenger booked without a seat
/// one.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/seat-changes", tag = "bookings", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SeatChangeRequest,
    responses((status = 200, body = BookingResponse), (status = 404, description = "`booking_not_found`", body = Problem),
        (status = 409, description = "`seats_unavailable`, `booking_cancelled`, `booking_expired`, `flight_departed`, \
            `flight_closed`, `passenger_offloaded`", body = Problem),
        (status = 412, description = "`version_mismatch`", body = Problem),
        (status = 422, description = "`no_such_passenger`, `same_seat`, `unknown_seat`, `cabin_change`, \
            `seat_taken_in_booking`", body = Problem)))]
async fn change_seat(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    AppJson(req): AppJson<SeatChangeRequest>,
) -> Result<Response> {
    let expected = if_match(&headers)?;
    let meta = meta.for_principal(principal);
    let change = (req.segment, req.passenger, req.seat);
    let target = (BookingId::from_uuid(id), expected);
    Ok(booking::change_seat(
        &state,
        principal,
        &meta,
        target,
        change,
        render(StatusCode::OK),
    )
    .await?
    .1)
}

/// Correct a passenger's name on every flight of the booking: a typo, at most three characters changed
/// over the given and family names together, free. More than that would hand the ticket to someone else
/// and is refused.
#[utoipa::path(patch, path = "/api/v1/bookings/{id}/passengers/{n}", tag = "bookings", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("n" = usize, Path, description = "index of the passenger in the booking")),
    request_body = NameCorrectionRequest,
    responses((status = 200, body = BookingResponse), (status = 404, description = "`booking_not_found`", body = Problem),
        (status = 409, description = "`booking_cancelled`, `booking_expired`, `flight_departed`", body = Problem),
        (status = 412, description = "`version_mismatch`", body = Problem),
        (status = 422, description = "`name_change_too_large` (more than three characters: a transfer), `same_name`, \
            `no_such_passenger`, `invalid_body`", body = Problem)))]
async fn correct_name(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path((id, passenger)): Path<(Uuid, usize)>,
    headers: HeaderMap,
    AppJson(req): AppJson<NameCorrectionRequest>,
) -> Result<Response> {
    let expected = if_match(&headers)?;
    let meta = meta.for_principal(principal);
    let target = (BookingId::from_uuid(id), expected);
    let name = (passenger, req.first_name, req.last_name);
    Ok(booking::correct_name(
        &state,
        principal,
        &meta,
        target,
        name,
        render(StatusCode::OK),
    )
    .await?
    .1)
}
