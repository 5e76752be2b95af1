//! Analytics for admins, added up from the analytics read model: revenue and bookings per day and route,
//! load factor per flight, revenue and seats per booking class with each flight's yield, cancellations
//! and refunds, hold-to-payment conversion and time.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use infra::auth::Principal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use super::AppQuery;
use crate::error::{ApiError, Result};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![revenue; load_factors; classes; cancellations; conversion]
}

/// A date range (UTC days, inclusive); the last 30 days by default.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// First day (`YYYY-MM-DD`, years 1900-2199).
    #[param(value_type = Option<String>, format = Date, pattern = "^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    #[serde(default, deserialize_with = "infra::time::opt_date")]
    pub from: Option<NaiveDate>,
    /// Last day (`YYYY-MM-DD`, years 1900-2199).
    #[param(value_type = Option<String>, format = Date, pattern = "^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    #[serde(default, deserialize_with = "infra::time::opt_date")]
    pub to: Option<NaiveDate>,
}

impl Range {
    fn bounds(&self) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
        let today = Utc::now().date_naive();
        let to = self.to.unwrap_or(today);
        let from = self.from.unwrap_or(to - chrono::Duration::days(30));
        if from > to {
            return Err(ApiError::bad_query("from is after to"));
        }
        let start = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let end = (to + chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        Ok((start, end))
    }
}

/// Bookings and money per day (of booking) and route.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct RevenueRow {
    /// Day.
    pub day: NaiveDate,
    /// Departure airport.
    pub origin: String,
    /// Arrival airport.
    pub destination: String,
    /// Currency.
    pub currency: String,
    /// Bookings made.
    pub bookings: i64,
    /// Of which paid.
    pub confirmed: i64,
    /// Seats paid for.
    pub seats_sold: i64,
    /// Paid, minor units.
    pub revenue_minor: i64,
    /// Refunded, minor units.
    pub refunds_minor: i64,
}

/// Revenue and bookings per day and route.
#[utoipa::path(get, path = "/api/v1/analytics/revenue", tag = "analytics", params(Range), security(("bearer" = [])),
    responses((status = 200, body = Vec<RevenueRow>), (status = 403, body = infra::problem::Problem)))]
async fn revenue(
    State(state): State<AppState>,
    principal: Principal,
    AppQuery(range): AppQuery<Range>,
) -> Result<Response> {
    let rows = report::<RevenueRow>(&state, &principal, &range, REVENUE).await?;
    Ok(axum::Json(rows).into_response())
}

/// A flight's load factor: seats paid for (and not cancelled) over capacity.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct LoadFactorRow {
    /// Flight.
    pub flight_id: Uuid,
    /// Departure airport.
    pub origin: String,
    /// Arrival airport.
    pub destination: String,
    /// Departure.
    pub departure_at: DateTime<Utc>,
    /// `scheduled`, `cancelled`.
    pub status: String,
    /// Seats.
    pub capacity: i32,
    /// Seats sold.
    pub seats_sold: i64,
    /// `seats_sold / capacity`.
    pub load_factor: f64,
}

/// Load factor per flight departing in the range.
#[utoipa::path(get, path = "/api/v1/analytics/load-factors", tag = "analytics", params(Range), security(("bearer" = [])),
    responses((status = 200, body = Vec<LoadFactorRow>), (status = 403, body = infra::problem::Problem)))]
async fn load_factors(
    State(state): State<AppState>,
    principal: Principal,
    AppQuery(range): AppQuery<Range>,
) -> Result<Response> {
    let rows = report::<LoadFactorRow>(&state, &principal, &range, LOAD_FACTORS).await?;
    Ok(axum::Json(rows).into_response())
}

/// Seats and money per booking class of a flight departing in the range (paid, not cancelled).
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct ClassRow {
    /// Flight.
    pub flight_id: Uuid,
    /// Departure airport.
    pub origin: String,
    /// Arrival airport.
    pub destination: String,
    /// Departure.
    pub departure_at: DateTime<Utc>,
    /// Booking class.
    pub class: String,
    /// Currency.
    pub currency: String,
    /// Seats sold in it.
    pub seats_sold: i64,
    /// Revenue from it, minor units (fare per seat times seats).
    pub revenue_minor: i64,
    /// The flight's yield: its revenue over its passengers in every class, minor units.
    pub flight_yield_minor: i64,
}

/// Revenue and seats per booking class, and each flight's yield (average fare per passenger), for
/// flights departing in the range.
#[utoipa::path(get, path = "/api/v1/analytics/classes", tag = "analytics", params(Range), security(("bearer" = [])),
    responses((status = 200, body = Vec<ClassRow>), (status = 403, body = infra::problem::Problem)))]
async fn classes(
    State(state): State<AppState>,
    principal: Principal,
    AppQuery(range): AppQuery<Range>,
) -> Result<Response> {
    let rows = report::<ClassRow>(&state, &principal, &range, CLASSES).await?;
    Ok(axum::Json(rows).into_response())
}

/// Cancellations, refunds and lapsed holds per day and route.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct CancellationRow {
    /// Day (of the cancellation or expiry).
    pub day: NaiveDate,
    /// Departure airport.
    pub origin: String,
    /// Arrival airport.
    pub destination: String,
    /// Bookings cancelled.
    pub cancellations: i64,
    /// Refunded, minor units.
    pub refunds_minor: i64,
    /// Holds that lapsed unpaid.
    pub expirations: i64,
}

/// Cancellations and refunds per day and route.
#[utoipa::path(get, path = "/api/v1/analytics/cancellations", tag = "analytics", params(Range), security(("bearer" = [])),
    responses((status = 200, body = Vec<CancellationRow>), (status = 403, body = infra::problem::Problem)))]
async fn cancellations(
    State(state): State<AppState>,
    principal: Principal,
    AppQuery(range): AppQuery<Range>,
) -> Result<Response> {
    let rows = report::<CancellationRow>(&state, &principal, &range, CANCELLATIONS).await?;
    Ok(axum::Json(rows).into_response())
}

/// How holds turn into payments.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Conversion {
    /// Holds placed.
    pub holds: i64,
    /// Of which paid.
    pub confirmed: i64,
    /// Of which lapsed.
    pub expired: i64,
    /// Of which cancelled before payment.
    pub cancelled_unpaid: i64,
    /// `confirmed / holds`.
    pub conversion_rate: f64,
    /// Mean seconds from hold to payment.
    pub avg_seconds_to_payment: Option<f64>,
    /// Median seconds from hold to payment.
    pub p50_seconds_to_payment: Option<f64>,
    /// 90th percentile seconds from hold to payment.
    pub p90_seconds_to_payment: Option<f64>,
}

/// Hold-to-payment conversion and time, for holds placed in the range.
#[utoipa::path(get, path = "/api/v1/analytics/conversion", tag = "analytics", params(Range), security(("bearer" = [])),
    responses((status = 200, body = Conversion), (status = 403, body = infra::problem::Problem)))]
async fn conversion(
    State(state): State<AppState>,
    principal: Principal,
    AppQuery(range): AppQuery<Range>,
) -> Result<Response> {
    // An aggregate over the whole range: always exactly one row.
    let row = report::<Conversion>(&state, &principal, &range, CONVERSION)
        .await?
        .pop();
    Ok(axum::Json(row).into_response())
}

/// Bookings and money per day of booking and route.
const REVENUE: &str = "SELECT (placed_at AT TIME ZONE 'UTC')::date AS day, origin, destination, currency, count(*) AS bookings, \
     count(confirmed_at) AS confirmed, COALESCE(sum(seats) FILTER (WHERE confirmed_at IS NOT NULL), 0)::bigint AS seats_sold, \
     COALESCE(sum(total_minor) FILTER (WHERE confirmed_at IS NOT NULL), 0)::bigint AS revenue_minor, \
     COALESCE(sum(refund_minor), 0)::bigint AS refunds_minor \
     FROM rm_analytics_bookings WHERE placed_at >= $1 AND placed_at < $2 \
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";

/// Seats sold over capacity per flight departing in the range.
const LOAD_FACTORS: &str = "SELECT f.flight_id, f.origin, f.destination, f.departure_at, f.status, f.capacity, \
     COALESCE(sum(b.seats) FILTER (WHERE b.confirmed_at IS NOT NULL AND b.cancelled_at IS NULL), 0)::bigint AS seats_sold, \
     (COALESCE(sum(b.seats) FILTER (WHERE b.confirmed_at IS NOT NULL AND b.cancelled_at IS NULL), 0)::float8 \
     / GREATEST(f.capacity, 1)) AS load_factor \
     FROM rm_analytics_flights f LEFT JOIN rm_analytics_segments s ON s.flight_id = f.flight_id \
     LEFT JOIN rm_analytics_bookings b ON b.booking_id = s.booking_id \
     WHERE f.departure_at >= $1 AND f.departure_at < $2 \
     GROUP BY f.flight_id ORDER BY f.departure_at, f.flight_id";

/// Paid, not cancelled seats and revenue per class of each flight departing in the range, with the
/// flight's yield over all its classes (per currency).
const CLASSES: &str = "SELECT f.flight_id, f.origin, f.destination, f.departure_at, s.class, s.currency, \
     sum(s.seats)::bigint AS seats_sold, sum(s.seats::bigint * s.fare_minor)::bigint AS revenue_minor, \
     (sum(sum(s.seats::bigint * s.fare_minor)) OVER w / GREATEST(sum(sum(s.seats)) OVER w, 1))::bigint \
         AS flight_yield_minor \
     FROM rm_analytics_flights f JOIN rm_analytics_segments s ON s.flight_id = f.flight_id \
     JOIN rm_analytics_bookings b ON b.booking_id = s.booking_id \
     WHERE f.departure_at >= $1 AND f.departure_at < $2 AND s.class IS NOT NULL \
       AND b.confirmed_at IS NOT NULL AND b.cancelled_at IS NULL \
     GROUP BY f.flight_id, f.origin, f.destination, f.departure_at, s.class, s.currency \
     WINDOW w AS (PARTITION BY f.flight_id, s.currency) \
     ORDER BY f.departure_at, f.flight_id, s.class";

/// Cancellations, refunds and lapsed holds per day and route.
const CANCELLATIONS: &str = "SELECT (COALESCE(cancelled_at, expired_at) AT TIME ZONE 'UTC')::date AS day, origin, destination, \
     count(cancelled_at) AS cancellations, COALESCE(sum(refund_minor), 0)::bigint AS refunds_minor, \
     count(expired_at) AS expirations \
     FROM rm_analytics_bookings WHERE COALESCE(cancelled_at, expired_at) >= $1 AND COALESCE(cancelled_at, expired_at) < $2 \
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";

/// Holds placed in the range: how many were paid, lapsed or cancelled, and how fast.
const CONVERSION: &str = "SELECT count(*) AS holds, count(confirmed_at) AS confirmed, count(expired_at) AS expired, \
     count(*) FILTER (WHERE cancelled_at IS NOT NULL AND confirmed_at IS NULL) AS cancelled_unpaid, \
     COALESCE(count(confirmed_at)::float8 / NULLIF(count(*), 0), 0) AS conversion_rate, \
     avg(EXTRACT(EPOCH FROM confirmed_at - placed_at))::float8 AS avg_seconds_to_payment, \
     percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM confirmed_at - placed_at))::float8 AS p50_seconds_to_payment, \
     percentile_cont(0.9) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM confirmed_at - placed_at))::float8 AS p90_seconds_to_payment \
     FROM rm_analytics_bookings WHERE placed_at >= $1 AND placed_at < $2";

/// A report's rows: `sql` over the range (`$1` inclusive, `$2` exclusive), for admins only, read from
/// the replica when there is one.
async fn report<T>(
    state: &AppState,
    principal: &Principal,
    range: &Range,
    sql: &'static str,
) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin + 'static,
{
    principal.require_admin()?;
    let (start, end) = range.bounds()?;
    let rows = state
        .replica_first("analytics", move |pool| async move {
            sqlx::query_as(sql)
                .bind(start)
                .bind(end)
                .fetch_all(&pool)
                .await
        })
        .await?;
    Ok(rows)
}
