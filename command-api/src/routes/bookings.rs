//! Bookings: hold (`POST /bookings`), pay, cancel, change seat. Owners act on their own bookings; a
//! booking of someone else's is 404.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::booking::{Booking, BookingStatus, CancelledBy};
use domain::values::{BookingId, Cabin, EmailAddress, FlightId, Money, Passenger, SeatNumber};
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
use crate::process::booking::{self, BookRequest};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![place_booking; pay_booking; cancel_booking; change_seat]
}

/// Seats to hold for a party.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceBookingRequest {
    /// The flight.
    pub flight_id: Uuid,
    /// Where notifications go.
    #[schema(value_type = String, format = Email, max_length = 254, example = "ada@example.com")]
    pub contact_email: EmailAddress,
    /// 1–9 seated passengers, at least one adult, infants (no seat) no more than adults:
    /// `{"first_name": "Ada", "last_name": "Lovelace", "type": "adult", "seat": "12A"}`.
    #[schema(value_type = Vec<crate::routes::schemas::PassengerSchema>, min_items = 1, max_items = 18)]
    pub passengers: Vec<Passenger>,
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
    /// Index of the passenger in the booking's `passengers`.
    #[schema(minimum = 0, maximum = 17)]
    pub passenger: usize,
    /// The seat wanted.
    #[schema(value_type = String, pattern = "^[1-9][0-9]?[A-HJK]$", example = "14C")]
    pub seat: SeatNumber,
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
    /// Flight.
    pub flight_id: Uuid,
    /// Cabin.
    #[schema(value_type = String)]
    pub cabin: Cabin,
    /// Travellers and seats.
    #[schema(value_type = Vec<Object>)]
    pub passengers: Vec<Passenger>,
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
            flight_id: *s.flight_id.as_uuid(),
            cabin: s.cabin,
            passengers: s.passengers.as_slice().to_vec(),
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
        (status = 409, description = "`seats_unavailable` (a seat is taken), `hold_limit_exceeded` (you hold the most \
            seats unpaid at once), `flight_cancelled`, `flight_departed`, `concurrent_modification`", body = Problem),
        (status = 422, description = "`invalid_body`, the party rules (1-9 seated passengers, an adult, infants on \
            laps), `unknown_seat`, `duplicate_seat`, `mixed_cabins`, `exit_row_restricted`", body = Problem)))]
async fn place_booking(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    AppJson(req): AppJson<PlaceBookingRequest>,
) -> Result<Response> {
    let request = BookRequest {
        flight_id: FlightId::from_uuid(req.flight_id),
        contact_email: req.contact_email,
        passengers: req.passengers,
    };
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

/// Move a passenger to another free seat in the same cabin.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/seat-changes", tag = "bookings", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SeatChangeRequest,
    responses((status = 200, body = BookingResponse), (status = 404, description = "`booking_not_found`", body = Problem),
        (status = 409, description = "`seats_unavailable`, `booking_cancelled`, `booking_expired`, `flight_departed`", body = Problem),
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
    let change = (req.passenger, req.seat);
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
