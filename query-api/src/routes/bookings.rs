//! `GET /bookings` (own; admins all, with filters), `GET /bookings/{id}` (current, or as of a version or
//! instant), `GET /bookings/{id}/history`. Someone else's booking is 404.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use domain::booking::{Booking, BookingState};
use domain::values::Pnr;
use infra::auth::Principal;
use infra::http::etag;
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use super::history::{AsOf, HistoryEntry, entries, fold};
use super::{AppQuery, decode_cursor, encode_cursor};
use crate::access::{owner, visible};
use crate::error::{ApiError, Result};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![list_bookings; get_booking; booking_history]
}

/// A booking.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct BookingView {
    /// Id.
    pub id: Uuid,
    /// PNR.
    pub reference: String,
    /// Owner.
    pub customer_id: Uuid,
    /// The first flight.
    pub flight_id: Uuid,
    /// `held` → `confirmed` (paid) → `cancelled`; or `held` → `expired`.
    pub status: String,
    /// The first flight's cabin.
    pub cabin: String,
    /// Travellers, with their seats on the first flight.
    #[schema(value_type = Vec<Object>)]
    pub passengers: serde_json::Value,
    /// Every flight in travel order: `flight_id`, `slice` (0 out, 1 back), `cabin`, `fare_minor` (per
    /// seated passenger), `seats` (per passenger, `null` for infants), and the flight's `number`,
    /// `origin`, `destination`, `status`, `departure_at`/`arrival_at` (UTC) and
    /// `departure_local`/`arrival_local` (at each airport).
    #[schema(value_type = Vec<Object>)]
    pub segments: serde_json::Value,
    /// Notification address.
    pub contact_email: String,
    /// Price, minor units.
    pub total_minor: i64,
    /// Currency.
    pub currency: String,
    /// Refund the fare rules give, once cancelled.
    pub refund_minor: Option<i64>,
    /// Whether the payment has been captured (shortly after it was confirmed).
    pub captured: bool,
    /// Whether the refund has been paid back (shortly after the cancellation).
    pub refunded: bool,
    /// Passengers denied boarding when a flight closed oversold: `flight_id`, `segment`, `passengers`
    /// (indexes), `refund_minor` (their fare there, paid back), `compensation_minor` (owed),
    /// `currency`, `offloaded_at`.
    #[schema(value_type = Vec<Object>)]
    pub offloads: serde_json::Value,
    /// Hold deadline.
    pub hold_expires_at: DateTime<Utc>,
    /// When made.
    pub created_at: DateTime<Utc>,
    /// Events applied.
    pub version: i64,
}

impl BookingView {
    fn folded(s: &BookingState, version: i64) -> Self {
        Self {
            id: *s.id.as_uuid(),
            reference: s.pnr.to_string(),
            customer_id: *s.customer_id.as_uuid(),
            flight_id: *s.flight_id().as_uuid(),
            status: serde_json::to_value(s.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            cabin: s.segments[0].cabin().to_string(),
            passengers: serde_json::to_value(s.passengers()).unwrap_or_default(),
            segments: s
                .segments
                .iter()
                .map(|g| {
                    // The read model's shape, with the times the booking knew as of then.
                    let mut segment = serde_json::to_value(g.summary()).unwrap_or_default();
                    segment["departure_at"] = serde_json::json!(g.departure_at);
                    segment["arrival_at"] = serde_json::json!(g.arrival_at);
                    segment
                })
                .collect(),
            contact_email: s.contact_email.to_string(),
            total_minor: s.total.amount_minor(),
            currency: s.total.currency().to_string(),
            refund_minor: s.refund.map(|r| r.amount_minor()),
            captured: s.captured.is_some(),
            refunded: s.refund_issued.is_some(),
            offloads: s
                .offloads
                .iter()
                .map(|o| {
                    serde_json::json!({
                        "flight_id": o.flight_id,
                        "segment": o.segment,
                        "passengers": o.passengers,
                        "refund_minor": o.refund.amount_minor(),
                        "compensation_minor": o.compensation.amount_minor(),
                        "currency": o.refund.currency().as_str(),
                        "offloaded_at": o.offloaded_at,
                    })
                })
                .collect(),
            hold_expires_at: s.hold_until,
            created_at: s.placed_at,
            version,
        }
    }
}

/// The segments in `$source` (a jsonb array) with their flights' numbers, routes and schedules now; a
/// segment's own times (a booking folded as of a moment) win over the flight's.
macro_rules! segments_of {
    ($source:literal) => {
        concat!(
            "(SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('number', f.number, 'origin', f.origin, \
             'destination', f.destination, 'status', f.status, 'departure_at', f.departure_at, 'arrival_at', f.arrival_at, \
             'departure_local', f.departure_local, 'arrival_local', f.arrival_local)) || jsonb_strip_nulls(g.value) \
             ORDER BY g.ordinality), '[]'::jsonb) \
             FROM jsonb_array_elements(",
            $source,
            ") WITH ORDINALITY g LEFT JOIN rm_flights f ON f.flight_id = (g.value ->> 'flight_id')::uuid)"
        )
    };
}

const COLUMNS: &str = concat!(
    "booking_id AS id, reference, customer_id, flight_id, status, cabin, passengers, contact_email, \
     total_minor, currency, refund_minor, captured_at IS NOT NULL AS captured, refunded_at IS NOT NULL AS refunded, \
     offloads, hold_until AS hold_expires_at, placed_at AS created_at, version, ",
    segments_of!("rm_bookings.segments"),
    " AS segments"
);

/// List filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// A PNR: six of `ABCDEFGHJKMNPQRSTUVWXYZ23456789` (no I, L, O, 0 or 1), either case.
    #[param(pattern = "^[A-HJKMNP-Za-hjkmnp-z2-9]{6}$")]
    pub reference: Option<String>,
    /// Admins: one flight's bookings (every booking with a segment on it).
    pub flight_id: Option<Uuid>,
    /// Admins: one customer's bookings.
    pub customer_id: Option<Uuid>,
    /// `held`, `confirmed`, `cancelled`, `expired`.
    #[param(pattern = "^(held|confirmed|cancelled|expired)$")]
    pub status: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// A page of bookings, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingPage {
    /// Bookings.
    pub bookings: Vec<BookingView>,
    /// Cursor for the next page.
    pub next: Option<String>,
}

/// Bookings: a customer's own, or (admins) anyone's.
#[utoipa::path(get, path = "/api/v1/bookings", tag = "bookings", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = BookingPage), (status = 400, body = infra::problem::Problem)))]
async fn list_bookings(
    State(state): State<AppState>,
    principal: Principal,
    AppQuery(p): AppQuery<ListParams>,
) -> Result<Response> {
    let limit = i64::from(p.limit.unwrap_or(20));
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_query("limit must be 1 to 100"));
    }
    let mut q =
        QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM rm_bookings WHERE true"));
    if !principal.is_admin() {
        q.push(" AND customer_id = ").push_bind(principal.user_id);
    } else if let Some(customer) = p.customer_id {
        q.push(" AND customer_id = ").push_bind(customer);
    }
    if let Some(reference) = &p.reference {
        let pnr = Pnr::parse(reference).map_err(|e| ApiError::bad_query(e.to_string()))?;
        q.push(" AND reference = ").push_bind(pnr.to_string());
    }
    if let Some(flight) = p.flight_id {
        // Every booking that flies on it: one flight, or any segment of a journey.
        q.push(" AND flight_ids @> ARRAY[")
            .push_bind(flight)
            .push("]::uuid[]");
    }
    if let Some(status) = &p.status {
        if !["held", "confirmed", "cancelled", "expired"].contains(&status.as_str()) {
            return Err(ApiError::bad_query(
                "status must be held, confirmed, cancelled or expired",
            ));
        }
        q.push(" AND status = ").push_bind(status.clone());
    }
    if let Some(after) = &p.after {
        let cursor = decode_cursor(after)?;
        let placed = cursor
            .get(0)
            .and_then(|v| v.as_str())
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc));
        let id = cursor
            .get(1)
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<Uuid>().ok());
        let (Some(placed), Some(id)) = (placed, id) else {
            return Err(ApiError::bad_query("`after` is not a cursor from this API"));
        };
        q.push(" AND (placed_at, booking_id) < (")
            .push_bind(placed)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY placed_at DESC, booking_id DESC LIMIT ")
        .push_bind(limit + 1);
    let mut bookings: Vec<BookingView> = q.build_query_as().fetch_all(&state.pool).await?;
    let next = if bookings.len() as i64 > limit {
        bookings.truncate(limit as usize);
        bookings.last().map(|b| {
            encode_cursor(&serde_json::json!([
                b.created_at.to_rfc3339(),
                b.id.to_string()
            ]))
        })
    } else {
        None
    };
    Ok(axum::Json(BookingPage { bookings, next }).into_response())
}

/// A booking now, or as it was at `version` / `as_of` (folded from its events).
#[utoipa::path(get, path = "/api/v1/bookings/{id}", tag = "bookings", params(("id" = Uuid, Path), AsOf),
    security(("bearer" = [])),
    responses((status = 200, body = BookingView), (status = 404, body = infra::problem::Problem)))]
async fn get_booking(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    AppQuery(as_of): AppQuery<AsOf>,
) -> Result<Response> {
    let current: Option<BookingView> = if as_of.is_set() {
        None
    } else {
        projected_booking(&state, id).await?
    };
    // Time travel, or a booking the projector has not reached yet: fold it from the log.
    let view = match current {
        Some(view) => view,
        None => {
            let (booking, version) = fold::<Booking>(&state.pool, &id.to_string(), as_of)
                .await?
                .ok_or_else(|| ApiError::not_found("booking_not_found", "booking"))?;
            let s = booking
                .state()
                .ok_or_else(|| ApiError::not_found("booking_not_found", "booking"))?;
            let mut view = BookingView::folded(s, version);
            view.segments = sqlx::query_scalar(concat!("SELECT ", segments_of!("$1::jsonb")))
                .bind(&view.segments)
                .fetch_one(&state.pool)
                .await?;
            view
        }
    };
    visible(&principal, view.customer_id)?;
    let version = view.version as u64;
    let mut response = axum::Json(view).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    Ok(response)
}

/// The booking's row in the read model: from the read replica when one is set and its row is as new as
/// the booking's stream on the primary (one index lookup there), else from the primary. `None` when the
/// row is not there yet: the caller folds the booking from the primary's log.
async fn projected_booking(state: &AppState, id: Uuid) -> Result<Option<BookingView>> {
    let sql = format!("SELECT {COLUMNS} FROM rm_bookings WHERE booking_id = $1");
    if state.replica {
        let replicated: std::result::Result<Option<BookingView>, _> =
            AppState::bounded(sqlx::query_as(&sql).bind(id).fetch_optional(&state.read)).await;
        if let Ok(Some(view)) = replicated {
            let newest: Option<i64> = sqlx::query_scalar(
                "SELECT max(sequence) FROM events WHERE aggregate_type = 'booking' AND aggregate_id = $1",
            )
            .bind(id.to_string())
            .fetch_one(&state.pool)
            .await?;
            if newest.is_none_or(|n| view.version >= n) {
                return Ok(Some(view));
            }
            metrics::counter!("replica_fallbacks_total", "read" => "booking_behind").increment(1);
            // Behind the log: fold it from the primary, as for a booking not projected yet.
            return Ok(None);
        }
    }
    Ok(sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(&state.pool)
        .await?)
}

/// Every event of a booking: time, actor, correlation id, type, payload.
#[utoipa::path(get, path = "/api/v1/bookings/{id}/history", tag = "bookings", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = infra::problem::Problem)))]
async fn booking_history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Response> {
    visible(&principal, owner(&state.pool, id).await?)?;
    Ok(axum::Json(entries(&state.pool, "booking", &id.to_string()).await?).into_response())
}
