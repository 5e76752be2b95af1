//! Flights (admin): schedule, reschedule, fares and overbooking, delay, cancel, close. A delay or a cancellation reaches
//! every affected booking in the same commit: each booking's event names the flight's as its cause, and a
//! cancelled flight cancels, releases and refunds every booking.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::aircraft::Aircraft;
use domain::airport::Airport;
use domain::flight::{
    Fare, Flight, FlightCommand, FlightError, FlightState, FlightStatus, Overbooking,
    ScheduleFlight, SeatCounts,
};
use domain::values::{AircraftId, AirportCode, Cabin, FlightId, FlightNumber, Label};
use infra::auth::Principal;
use infra::http::{AppJson, if_match};
use infra::problem::Problem;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use super::{RequestMeta, not_found, require_admin, versioned};
use crate::error::{ApiError, Result};
use crate::executor::{Lane, StreamKey, Versioned, WorkingSet};
use crate::outcome::StoredResponse;
use crate::process::disruption::{self, DelayNote};
use crate::process::payment::settle_refunds;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![schedule_flight; update_flight; delay_flight; cancel_flight; close_flight]
}

/// A flight to put on sale.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFlightRequest {
    /// Flight number.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9]{2}[0-9]{1,4}[A-Za-z]?$", example = "AF1234")]
    pub number: FlightNumber,
    /// Departure airport (registered).
    #[schema(value_type = String, pattern = "^[A-Za-z]{3}$", example = "CDG")]
    pub origin: AirportCode,
    /// Arrival airport (registered).
    #[schema(value_type = String, pattern = "^[A-Za-z]{3}$", example = "JFK")]
    pub destination: AirportCode,
    /// Departure, RFC 3339 (years 1900-2199).
    #[schema(value_type = String, format = DateTime, pattern = "^(19|20|21)[0-9]{2}-")]
    #[serde(deserialize_with = "infra::time::instant")]
    pub departure_at: DateTime<Utc>,
    /// Arrival, RFC 3339 (years 1900-2199).
    #[schema(value_type = String, format = DateTime, pattern = "^(19|20|21)[0-9]{2}-")]
    #[serde(deserialize_with = "infra::time::instant")]
    pub arrival_at: DateTime<Utc>,
    /// Aircraft type (registered); its seat layout is copied.
    pub aircraft_id: Uuid,
    /// Per cabin of the aircraft one fare, `{"cabin": "economy", "price": {"amount_minor": 12900,
    /// "currency": "EUR"}, "rules": {"refundable": true, "cancellation_fee": {"amount_minor": 2500,
    /// "currency": "EUR"}}}`, or several booking classes, each with its `class` letter and nested
    /// `limit` (the dearest first).
    #[schema(value_type = Vec<crate::routes::schemas::FareSchema>, min_items = 1, max_items = 26)]
    pub fares: Vec<Fare>,
    /// Cabins sold beyond their seats: `{"cabin": "economy", "percent": 5}` or `{"cabin": "economy",
    /// "seats": 9}`. The places beyond the seats are sold without seats; the flight's close offloads
    /// whoever does not fit.
    #[serde(default)]
    #[schema(max_items = 4)]
    pub overbooking: Vec<OverbookingRequest>,
}

/// A cabin's overbooking: a percentage of its seats (rounded down) or a count of places, 0 to 100%.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverbookingRequest {
    /// The cabin.
    #[schema(value_type = String, example = "economy")]
    pub cabin: Cabin,
    /// Places beyond the seats, as a percentage of them (give this or `seats`).
    #[schema(minimum = 0, maximum = 100, example = 5)]
    pub percent: Option<u32>,
    /// Places beyond the seats (give this or `percent`).
    #[schema(minimum = 0, maximum = 999)]
    pub seats: Option<u32>,
}

impl OverbookingRequest {
    /// The command that sets it, against the flight's layout.
    fn command(self, s: &FlightState, now: DateTime<Utc>) -> Result<FlightCommand> {
        let seats = s.seats.values().filter(|x| x.cabin == self.cabin).count();
        let overbooking = match (self.percent, self.seats) {
            (Some(percent), None) => Overbooking::percent_of(percent, seats),
            (None, Some(extra)) => Overbooking::seats(extra),
            _ => {
                return Err(unknown(
                    "invalid_overbooking",
                    "give either percent or seats for each cabin".to_owned(),
                ));
            }
        };
        Ok(FlightCommand::SetOverbooking {
            cabin: self.cabin,
            overbooking,
            now,
        })
    }
}

/// Sets each cabin's overbooking on the flight `key` of the working set.
fn set_overbooking(
    ws: &mut WorkingSet,
    key: &str,
    cabins: &[OverbookingRequest],
    now: DateTime<Utc>,
) -> Result<()> {
    for request in cabins {
        let command = {
            let fs = ws
                .get::<Flight>(key)?
                .aggregate
                .state()
                .ok_or(FlightError::NotScheduled)?;
            request.command(fs, now)?
        };
        ws.execute::<Flight>(key, "SetOverbooking", command)?;
    }
    Ok(())
}

/// New times (both or neither; only while nothing is sold) and/or new fares.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFlightRequest {
    /// New departure.
    #[schema(value_type = Option<String>, format = DateTime, pattern = "^(19|20|21)[0-9]{2}-")]
    #[serde(default, deserialize_with = "infra::time::opt_instant")]
    pub departure_at: Option<DateTime<Utc>>,
    /// New arrival.
    #[schema(value_type = Option<String>, format = DateTime, pattern = "^(19|20|21)[0-9]{2}-")]
    #[serde(default, deserialize_with = "infra::time::opt_instant")]
    pub arrival_at: Option<DateTime<Utc>>,
    /// New fares.
    #[schema(value_type = Option<Vec<crate::routes::schemas::FareSchema>>, min_items = 1, max_items = 26)]
    pub fares: Option<Vec<Fare>>,
    /// New overbooking for the cabins named (the others keep theirs); lowering it never takes back
    /// places sold.
    #[schema(max_items = 4)]
    pub overbooking: Option<Vec<OverbookingRequest>>,
}

/// A later departure.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelayFlightRequest {
    /// New departure.
    #[schema(value_type = String, format = DateTime, pattern = "^(19|20|21)[0-9]{2}-")]
    #[serde(deserialize_with = "infra::time::instant")]
    pub departure_at: DateTime<Utc>,
    /// New arrival.
    #[schema(value_type = String, format = DateTime, pattern = "^(19|20|21)[0-9]{2}-")]
    #[serde(deserialize_with = "infra::time::instant")]
    pub arrival_at: DateTime<Utc>,
    /// For passengers.
    #[schema(value_type = String, min_length = 1, max_length = 100, example = "late inbound aircraft")]
    pub reason: Label,
}

/// A cancellation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelFlightRequest {
    /// For passengers.
    #[schema(value_type = String, min_length = 1, max_length = 100, example = "technical fault")]
    pub reason: Label,
}

/// A flight as the write side sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlightResponse {
    /// Id.
    pub id: Uuid,
    /// Flight number.
    pub number: String,
    /// Departure airport.
    pub origin: String,
    /// Arrival airport.
    pub destination: String,
    /// Departure.
    pub departure_at: DateTime<Utc>,
    /// Arrival.
    pub arrival_at: DateTime<Utc>,
    /// Aircraft type.
    pub aircraft_id: Uuid,
    /// `scheduled`, `delayed`, `cancelled`.
    #[schema(value_type = String)]
    pub status: FlightStatus,
    /// When the flight closed (seats assigned, the overflow offloaded; nothing more is sold).
    pub closed_at: Option<DateTime<Utc>>,
    /// Fares per cabin, each cabin's classes the dearest first.
    #[schema(value_type = Vec<Object>)]
    pub fares: Vec<Fare>,
    /// Each booking class as it stands: price, nested limit, seats held or sold in it, seats it may
    /// still sell, and whether it is open (sells at least one seat).
    pub classes: Vec<ClassView>,
    /// Seat counts: `capacity` (seats), `authorized` (seats plus overbooking), `sold`, `held`, `free`
    /// (places on sale) and `unassigned` (passengers without a seat yet).
    #[schema(value_type = Object)]
    pub seats: SeatCounts,
    /// The same counts per cabin, with its overbooking.
    pub cabins: Vec<CabinView>,
}

/// One cabin's places.
#[derive(Debug, Serialize, ToSchema)]
pub struct CabinView {
    /// The cabin.
    pub cabin: &'static str,
    /// Places beyond its seats.
    pub overbooking: u32,
    /// The percentage that was set as, if it was.
    pub overbooking_percent: Option<u32>,
    /// Its counts.
    #[schema(value_type = Object)]
    pub seats: SeatCounts,
}

impl From<&FlightState> for FlightResponse {
    fn from(s: &FlightState) -> Self {
        Self {
            id: *s.id.as_uuid(),
            number: s.number.to_string(),
            origin: s.origin.to_string(),
            destination: s.destination.to_string(),
            departure_at: s.departure_at,
            arrival_at: s.arrival_at,
            aircraft_id: *s.aircraft_id.as_uuid(),
            status: s.status,
            closed_at: s.closed_at,
            fares: s.fares.values().flatten().copied().collect(),
            classes: s
                .fares
                .keys()
                .flat_map(|cabin| {
                    s.classes(*cabin).into_iter().map(|c| ClassView {
                        cabin: cabin.as_str(),
                        class: c.fare.code().to_string(),
                        price: c.fare.price,
                        limit: c.fare.limit,
                        sold: c.sold,
                        available: c.available,
                        open: c.available > 0,
                    })
                })
                .collect(),
            seats: s.counts(None),
            cabins: s
                .fares
                .keys()
                .map(|cabin| {
                    let o = s.overbooking.get(cabin).copied().unwrap_or_default();
                    CabinView {
                        cabin: cabin.as_str(),
                        overbooking: o.extra_seats,
                        overbooking_percent: o.percent,
                        seats: s.counts(Some(*cabin)),
                    }
                })
                .collect(),
        }
    }
}

/// A booking class as it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassView {
    /// Its cabin.
    pub cabin: &'static str,
    /// Its letter.
    pub class: String,
    /// Per seated passenger.
    #[schema(value_type = crate::routes::schemas::MoneySchema)]
    pub price: domain::values::Money,
    /// Nested limit (with the cheaper classes); none: the cabin's seats.
    pub limit: Option<u32>,
    /// Seats held or sold in it.
    pub sold: usize,
    /// Seats it may still sell.
    pub available: usize,
    /// Whether it sells at least one seat now.
    pub open: bool,
}

fn render(status: StatusCode) -> impl Fn(&Versioned<Flight>) -> Result<StoredResponse> + Send {
    move |done| {
        let s = done
            .aggregate
            .state()
            .ok_or_else(|| not_found("flight_not_found", "flight"))?;
        let location = Some(format!("/api/v1/flights/{}", s.id));
        versioned(status, done.version, location, FlightResponse::from(s))
    }
}

/// Runs a decision about `flight` on its lane and answers with the flight.
async fn respond(
    state: &AppState,
    flight: FlightId,
    meta: crate::executor::CommandMeta,
    decide: impl FnMut(&mut WorkingSet) -> Result<Versioned<Flight>> + Send + 'static,
    status: StatusCode,
) -> Result<Response> {
    let (_, response) = state
        .executor
        .respond(StreamKey::seats_of(flight), meta, decide, render(status))
        .await?;
    Ok(response)
}

fn unknown(code: &str, detail: String) -> ApiError {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail).into()
}

/// Schedule a flight.
#[utoipa::path(post, path = "/api/v1/flights", tag = "flights", security(("bearer" = [])),
    request_body = ScheduleFlightRequest,
    responses((status = 201, body = FlightResponse),
        (status = 422, description = "`invalid_body`, `unknown_airport`, `unknown_aircraft`, \
            `arrival_not_after_departure`, `departure_in_past`, `fares_do_not_match_cabins`, `invalid_classes`, `mixed_currencies`, \
            `fare_too_high`, `invalid_overbooking`, `no_such_cabin`", body = Problem)))]
async fn schedule_flight(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    AppJson(req): AppJson<ScheduleFlightRequest>,
) -> Result<Response> {
    require_admin(&principal)?;
    for code in [req.origin, req.destination] {
        let airport = state.executor.load::<Airport>(code.as_str()).await?;
        if airport.aggregate.details().is_none() {
            return Err(unknown(
                "unknown_airport",
                format!("airport {code} is not registered"),
            ));
        }
    }
    let aircraft_id = AircraftId::from_uuid(req.aircraft_id);
    let aircraft = state
        .executor
        .load::<Aircraft>(&aircraft_id.to_string())
        .await?;
    let layout = aircraft
        .aggregate
        .details()
        .map(|d| d.layout.clone())
        .ok_or_else(|| {
            unknown(
                "unknown_aircraft",
                format!("aircraft {aircraft_id} is not registered"),
            )
        })?;
    let id = FlightId::from_uuid(Uuid::now_v7());
    let command = FlightCommand::Schedule(Box::new(ScheduleFlight {
        id,
        number: req.number,
        origin: req.origin,
        destination: req.destination,
        departure_at: req.departure_at,
        arrival_at: req.arrival_at,
        aircraft_id,
        layout,
        fares: req.fares,
        now: state.clock.now(),
    }));
    let key = id.to_string();
    let (overbooking, now) = (req.overbooking, state.clock.now());
    let decide = move |ws: &mut WorkingSet| {
        ws.create::<Flight>(&key);
        ws.execute::<Flight>(&key, "ScheduleFlight", command.clone())?;
        set_overbooking(ws, &key, &overbooking, now)?;
        Ok(ws.get::<Flight>(&key)?.clone())
    };
    let meta = meta.for_principal(principal);
    respond(&state, id, meta, decide, StatusCode::CREATED).await
}

/// Reschedule an unsold flight and/or change its fares.
#[utoipa::path(patch, path = "/api/v1/flights/{id}", tag = "flights", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = UpdateFlightRequest,
    responses((status = 200, body = FlightResponse), (status = 404, description = "`flight_not_found`", body = Problem),
        (status = 409, description = "`flight_has_bookings` (times change only while nothing is sold), `flight_cancelled`, \
            `flight_departed`, `flight_closed`", body = Problem),
        (status = 422, description = "`invalid_body`, `incomplete_schedule`, fare rules, `invalid_overbooking`, \
            `no_such_cabin`", body = Problem),
        (status = 412, description = "`version_mismatch`", body = Problem)))]
async fn update_flight(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    AppJson(req): AppJson<UpdateFlightRequest>,
) -> Result<Response> {
    require_admin(&principal)?;
    let expected = if_match(&headers)?;
    let flight_id = FlightId::from_uuid(id);
    let now = state.clock.now();
    let reschedule = match (req.departure_at, req.arrival_at) {
        (Some(departure_at), Some(arrival_at)) => Some(FlightCommand::Reschedule {
            departure_at,
            arrival_at,
            now,
        }),
        (None, None) => None,
        _ => {
            return Err(unknown(
                "incomplete_schedule",
                "give both departure_at and arrival_at, or neither".to_owned(),
            ));
        }
    };
    let fares = req
        .fares
        .map(|fares| FlightCommand::ChangeFares { fares, now });
    let overbooking = req.overbooking.unwrap_or_default();
    let key = flight_id.to_string();
    // Both changes or neither, in one commit.
    let decide = move |ws: &mut WorkingSet| {
        ws.expect_version::<Flight>(&key, expected)?;
        if ws.get::<Flight>(&key)?.aggregate.state().is_none() {
            return Err(FlightError::NotScheduled.into());
        }
        if let Some(command) = reschedule.clone() {
            ws.execute::<Flight>(&key, "RescheduleFlight", command)?;
        }
        if let Some(command) = fares.clone() {
            ws.execute::<Flight>(&key, "ChangeFares", command)?;
        }
        set_overbooking(ws, &key, &overbooking, now)?;
        Ok(ws.get::<Flight>(&key)?.clone())
    };
    let meta = meta.for_principal(principal);
    respond(&state, flight_id, meta, decide, StatusCode::OK).await
}

/// Delay a flight; every affected booking notes it in the same commit.
#[utoipa::path(post, path = "/api/v1/flights/{id}/delay", tag = "flights", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = DelayFlightRequest,
    responses((status = 200, body = FlightResponse), (status = 404, description = "`flight_not_found`", body = Problem),
        (status = 422, description = "`delay_must_be_later`, `arrival_not_after_departure`", body = Problem)))]
async fn delay_flight(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    AppJson(req): AppJson<DelayFlightRequest>,
) -> Result<Response> {
    require_admin(&principal)?;
    let expected = if_match(&headers)?;
    let flight_id = FlightId::from_uuid(id);
    let command = FlightCommand::Delay {
        departure_at: req.departure_at,
        arrival_at: req.arrival_at,
        reason: req.reason.clone(),
        now: state.clock.now(),
    };
    let note = DelayNote {
        departure_at: req.departure_at,
        arrival_at: req.arrival_at,
        reason: req.reason,
    };
    let decide = disruption::delay(flight_id, expected, command, note);
    let meta = meta.for_principal(principal);
    respond(&state, flight_id, meta, decide, StatusCode::OK).await
}

/// Cancel a flight; every booking on it is cancelled, its seats released and its payment refunded in
/// full, in the same commit (the refunds are then paid back).
#[utoipa::path(post, path = "/api/v1/flights/{id}/cancel", tag = "flights", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CancelFlightRequest,
    responses((status = 200, body = FlightResponse), (status = 404, description = "`flight_not_found`", body = Problem),
        (status = 409, description = "`flight_cancelled`, `flight_departed`", body = Problem)))]
async fn cancel_flight(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    AppJson(req): AppJson<CancelFlightRequest>,
) -> Result<Response> {
    require_admin(&principal)?;
    let expected = if_match(&headers)?;
    let flight_id = FlightId::from_uuid(id);
    let now = state.clock.now();
    let command = FlightCommand::Cancel {
        reason: req.reason,
        now,
    };
    let decide = disruption::cancel(flight_id, expected, command, now);
    let meta = meta.for_principal(principal);
    // Journeys on this flight release seats on their other flights too: the decision takes their lanes.
    let (bookings, flights) = disruption::journeys_on(&state.executor, flight_id).await?;
    let (_, response) = state
        .executor
        .respond(
            Lane::seats_of_all(&flights),
            meta.clone(),
            decide,
            render(StatusCode::OK),
        )
        .await?;
    // The refunds are paid back beside the response; payment recovery retries any that fail.
    let span = tracing::Span::current();
    tokio::spawn(async move { settle_refunds(&state, &meta, &bookings).await }.instrument(span));
    Ok(response)
}

/// Close a flight: unpaid holds expire; if more passengers are paid in a cabin than it has seats, the
/// overflow is offloaded (the cheapest class first, the latest booked first within it), each with their
/// fare on this flight refunded and a denied-boarding compensation owed, mailed; everyone else without
/// a seat is given one (a party together where it can). All in one commit; nothing is sold or moved on
/// the flight after. It also happens by itself a set time before departure.
#[utoipa::path(post, path = "/api/v1/flights/{id}/close", tag = "flights", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = FlightResponse), (status = 404, description = "`flight_not_found`", body = Problem),
        (status = 409, description = "`flight_closed`, `flight_cancelled`, `concurrent_modification`", body = Problem),
        (status = 412, description = "`version_mismatch`", body = Problem)))]
async fn close_flight(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response> {
    require_admin(&principal)?;
    let expected = if_match(&headers)?;
    let meta = meta.for_principal(principal);
    let now = state.clock.now();
    let target = (FlightId::from_uuid(id), expected);
    let (_, response) =
        crate::process::close::close(&state, &meta, target, now, render(StatusCode::OK)).await?;
    Ok(response)
}
