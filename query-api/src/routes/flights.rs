//! `GET /flights/{id}`, `GET /flights/{id}/seats` (cached per version, the version read from Postgres;
//! time travel with `version` or `as_of`), `GET /flights/{id}/history` (admin).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use domain::flight::Flight;
use infra::auth::Principal;
use infra::http::etag;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use super::AppQuery;
use super::history::{AsOf, HistoryEntry, entries, fold};
use crate::error::{ApiError, Result};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![get_flight; get_seat_map; flight_history]
}

/// A cabin of a flight.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct CabinView {
    /// Cabin.
    pub cabin: String,
    /// Price per seat, minor units.
    pub price_minor: i64,
    /// Currency.
    pub currency: String,
    /// Refundable fare.
    pub refundable: bool,
    /// Cancellation fee, minor units.
    pub fee_minor: i64,
    /// Seats in the cabin.
    pub capacity: i32,
    /// On sale.
    pub seats_free: i32,
    /// Held unpaid.
    pub seats_held: i32,
    /// Sold.
    pub seats_sold: i32,
    /// Places sold beyond its seats (overbooking): `seats_free + seats_held + seats_sold` is `capacity +
    /// overbooking`.
    pub overbooking: i32,
    /// The percentage of its seats the overbooking was set as, if it was.
    pub overbooking_percent: Option<i32>,
    /// Passengers (held or sold) without a seat yet; counted in `seats_held` and `seats_sold`.
    pub unassigned: i32,
}

/// A flight.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct FlightView {
    /// Id.
    pub flight_id: Uuid,
    /// Flight number.
    pub number: String,
    /// Departure airport.
    pub origin: String,
    /// Arrival airport.
    pub destination: String,
    /// Departure (UTC).
    pub departure_at: DateTime<Utc>,
    /// Arrival (UTC).
    pub arrival_at: DateTime<Utc>,
    /// Departure, local.
    #[schema(value_type = String, pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", example = "2026-12-24T09:30:00")]
    pub departure_local: NaiveDateTime,
    /// Arrival, local.
    #[schema(value_type = String, pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", example = "2026-12-24T09:30:00")]
    pub arrival_local: NaiveDateTime,
    /// Minutes.
    pub duration_min: i32,
    /// `scheduled`, `delayed`, `cancelled`.
    pub status: String,
    /// Aircraft type.
    pub aircraft_id: Uuid,
    /// Events applied.
    pub version: i64,
    /// When the flight closed (seats assigned, the overflow offloaded; nothing more is sold).
    pub closed_at: Option<DateTime<Utc>>,
    /// Cabins.
    #[sqlx(skip)]
    pub cabins: Vec<CabinView>,
    /// Booking classes, each cabin's the dearest first.
    #[sqlx(skip)]
    pub classes: Vec<ClassView>,
}

/// A booking class of a flight as it stands.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ClassView {
    /// Cabin.
    pub cabin: String,
    /// Its letter.
    pub class: String,
    /// Price per seat, minor units.
    pub price_minor: i64,
    /// Currency.
    pub currency: String,
    /// Whether a cancellation refunds anything.
    pub refundable: bool,
    /// Cancellation fee, minor units.
    pub fee_minor: i64,
    /// Nested limit: seats it and the cheaper classes may sell together; none: the cabin's seats.
    pub nested_limit: Option<i32>,
    /// Seats held or sold in it.
    pub sold: i32,
    /// Seats it may still sell.
    pub available: i32,
}

/// One seat.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct SeatView {
    /// Seat.
    pub seat: String,
    /// Row.
    pub row_number: i32,
    /// Letter.
    pub letter: String,
    /// Cabin.
    pub cabin: String,
    /// `window`, `aisle`, `middle`, `exit_row`.
    pub characteristics: Vec<String>,
    /// `free`, `held`, `sold`.
    pub status: String,
}

/// A seat map at a version of its flight.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SeatMap {
    /// Flight.
    pub flight_id: Uuid,
    /// The flight's version this map reflects; never lower than one a client saw before.
    pub version: i64,
    /// Seats front to back.
    pub seats: Vec<SeatView>,
    /// Per cabin: its seats, the places it sells (seats plus overbooking), places held, sold and free,
    /// and the passengers (held or sold) without a seat yet.
    #[serde(default)]
    pub cabins: Vec<SeatMapCabin>,
}

/// One cabin's counts on the seat map.
#[derive(Debug, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct SeatMapCabin {
    /// The cabin.
    pub cabin: String,
    /// Its seats.
    pub capacity: i32,
    /// Places it sells: its seats plus the overbooking.
    pub authorized: i32,
    /// Places held unpaid.
    pub held: i32,
    /// Places sold.
    pub sold: i32,
    /// Places on sale.
    pub free: i32,
    /// Passengers (held or sold) without a seat yet.
    pub unassigned: i32,
}

/// A flight with its cabins.
#[utoipa::path(get, path = "/api/v1/flights/{id}", tag = "flights", params(("id" = Uuid, Path)),
    responses((status = 200, body = FlightView), (status = 404, body = infra::problem::Problem)))]
async fn get_flight(State(state): State<AppState>, Path(id): Path<Uuid>) -> Result<Response> {
    let flight: Option<FlightView> = sqlx::query_as(
        "SELECT flight_id, number, origin, destination, departure_at, arrival_at, departure_local, arrival_local, \
         duration_min, status, aircraft_id, version, closed_at FROM rm_flights WHERE flight_id = $1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    let mut flight = flight.ok_or_else(|| ApiError::not_found("flight_not_found", "flight"))?;
    flight.cabins = sqlx::query_as(
        "SELECT cabin, price_minor, currency, refundable, fee_minor, capacity, seats_free, seats_held, seats_sold, \
         overbooking, overbooking_percent, unassigned FROM rm_flight_cabins WHERE flight_id = $1 ORDER BY price_minor",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    flight.classes = sqlx::query_as(
        "SELECT cabin, class, price_minor, currency, refundable, fee_minor, nested_limit, sold, available \
         FROM rm_flight_classes WHERE flight_id = $1 ORDER BY cabin, rank",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let version = flight.version as u64;
    let mut response = axum::Json(flight).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    Ok(response)
}

/// The seat map with each seat's status.
#[utoipa::path(get, path = "/api/v1/flights/{id}/seats", tag = "flights", params(("id" = Uuid, Path), AsOf),
    responses((status = 200, body = SeatMap), (status = 404, body = infra::problem::Problem)))]
async fn get_seat_map(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    AppQuery(as_of): AppQuery<AsOf>,
) -> Result<Response> {
    if as_of.is_set() {
        let (flight, version) = fold::<Flight>(&state.pool, &id.to_string(), as_of)
            .await?
            .ok_or_else(|| ApiError::not_found("flight_not_found", "flight"))?;
        return Ok(respond(&folded_seat_map(id, &flight, version)));
    }
    if !state.cache.usable() {
        return Ok(respond(&current_seat_map(&state, id, None).await?));
    }
    // The version in Postgres is the reference: an entry is cached under the exact version it holds,
    // so whatever Redis has (empty after a restart, old after a restore) a read never goes back.
    let version = state
        .seat_map_versions
        .get(&id, || {
            sqlx::query_scalar("SELECT version FROM rm_seat_map_versions WHERE flight_id = $1")
                .bind(id)
                .fetch_optional(&state.pool)
        })
        .await?;
    let version = version.ok_or_else(|| ApiError::not_found("flight_not_found", "flight"))?;
    if let Some(bytes) = state.cache.get(&format!("seatmap:{id}:{version}")).await {
        let mut response = ([(header::CONTENT_TYPE, "application/json")], bytes).into_response();
        response
            .headers_mut()
            .insert(header::ETAG, etag(version as u64));
        return Ok(response);
    }
    let map = current_seat_map(&state, id, Some(version)).await?;
    if let Ok(bytes) = serde_json::to_vec(&map) {
        let ttl = Duration::from_secs(state.ttl.seat_map_ttl_secs);
        state
            .cache
            .put(&format!("seatmap:{id}:{}", map.version), bytes, ttl)
            .await;
    }
    Ok(respond(&map))
}

fn respond(map: &SeatMap) -> Response {
    let mut response = axum::Json(map).into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(map.version as u64));
    response
}

/// The seat map at least as new as `reference` (the primary's version, read here when not given): from
/// the read replica when one is set and has caught up, from the primary otherwise (a replica behind,
/// without the flight yet, or failing). So a customer who just booked sees their seat held.
async fn current_seat_map(state: &AppState, id: Uuid, reference: Option<i64>) -> Result<SeatMap> {
    if state.replica {
        let reference = match reference {
            Some(v) => Some(v),
            None => {
                sqlx::query_scalar("SELECT version FROM rm_seat_map_versions WHERE flight_id = $1")
                    .bind(id)
                    .fetch_optional(&state.pool)
                    .await?
            }
        };
        let Some(reference) = reference else {
            return Err(ApiError::not_found("flight_not_found", "flight"));
        };
        match AppState::bounded(read_seat_map(&state.read, id)).await {
            Ok(map) if map.version >= reference => return Ok(map),
            Ok(_) => {
                metrics::counter!("replica_fallbacks_total", "read" => "seat_map_behind")
                    .increment(1);
            }
            Err(e) => {
                metrics::counter!("replica_fallbacks_total", "read" => "seat_map").increment(1);
                tracing::debug!(error.message = %e, "seat map not on the read replica; the primary answers");
            }
        }
    }
    read_seat_map(&state.pool, id).await
}

/// Version and seats from one snapshot, so a cached map is exactly its version.
async fn read_seat_map(pool: &sqlx::PgPool, id: Uuid) -> Result<SeatMap> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM rm_seat_map_versions WHERE flight_id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let version = version.ok_or_else(|| ApiError::not_found("flight_not_found", "flight"))?;
    let seats = sqlx::query_as(
        "SELECT seat, row_number, letter, cabin, characteristics, status FROM rm_seats WHERE flight_id = $1 \
         ORDER BY row_number, letter",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let cabins = sqlx::query_as(
        "SELECT cabin, capacity, capacity + overbooking AS authorized, seats_held AS held, seats_sold AS sold, \
         seats_free AS free, unassigned FROM rm_flight_cabins WHERE flight_id = $1 ORDER BY price_minor DESC",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(SeatMap {
        flight_id: id,
        version,
        seats,
        cabins,
    })
}

fn folded_seat_map(id: Uuid, flight: &Flight, version: i64) -> SeatMap {
    let seats = flight
        .state()
        .map(|s| {
            s.seats
                .values()
                .map(|spec| SeatView {
                    seat: spec.seat.to_string(),
                    row_number: i32::from(spec.seat.row()),
                    letter: spec.seat.letter().to_string(),
                    cabin: spec.cabin.to_string(),
                    characteristics: spec
                        .characteristics
                        .iter()
                        .filter_map(|c| serde_json::to_value(c).ok()?.as_str().map(str::to_owned))
                        .collect(),
                    status: serde_json::to_value(s.seat_status(spec.seat))
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let cabins = flight
        .state()
        .map(|s| {
            s.fares
                .keys()
                .rev()
                .map(|cabin| {
                    let c = s.counts(Some(*cabin));
                    SeatMapCabin {
                        cabin: cabin.to_string(),
                        capacity: count(c.capacity),
                        authorized: count(c.authorized),
                        held: count(c.held),
                        sold: count(c.sold),
                        free: count(c.free),
                        unassigned: count(c.unassigned),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    SeatMap {
        flight_id: id,
        version,
        seats,
        cabins,
    }
}

/// Every event of a flight (admin).
#[utoipa::path(get, path = "/api/v1/flights/{id}/history", tag = "flights", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 403, body = infra::problem::Problem),
        (status = 404, body = infra::problem::Problem)))]
async fn flight_history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Response> {
    principal.require_admin()?;
    let history = entries(&state.pool, "flight", &id.to_string()).await?;
    if history.is_empty() {
        return Err(ApiError::not_found("flight_not_found", "flight"));
    }
    Ok((StatusCode::OK, axum::Json(history)).into_response())
}
