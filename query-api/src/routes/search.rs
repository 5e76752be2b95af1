//! `GET /flights`: search with filters, multi-key sort and stable cursor pages, cached in Redis under the
//! search generation the projector moves (in Postgres, with the rows) on every change.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use domain::values::{AirportCode, Cabin};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Postgres, QueryBuilder};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use super::{AppQuery, decode_cursor, encode_cursor};
use crate::error::{ApiError, Result};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![search_flights]
}

/// Search filters. Every one is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Departure airport (IATA).
    #[param(pattern = "^[A-Za-z]{3}$")]
    pub origin: Option<String>,
    /// Arrival airport (IATA).
    #[param(pattern = "^[A-Za-z]{3}$")]
    pub destination: Option<String>,
    /// Departure date, local to the origin airport (`YYYY-MM-DD`).
    #[param(value_type = Option<String>, format = Date, pattern = "^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    #[serde(default, deserialize_with = "infra::time::opt_date")]
    pub date: Option<NaiveDate>,
    /// Seats needed in one cabin (1–9, default 1).
    #[param(minimum = 1, maximum = 9)]
    pub passengers: Option<u8>,
    /// Cabin; without it each flight offers its cheapest cabin with enough seats.
    #[param(pattern = "^(economy|premium_economy|business|first)$")]
    pub cabin: Option<String>,
    /// Lowest price per seat, minor units.
    #[param(minimum = 0)]
    pub min_price: Option<i64>,
    /// Highest price per seat, minor units.
    #[param(minimum = 0)]
    pub max_price: Option<i64>,
    /// Departing at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, pattern = "^(19|20|21)[0-9]{2}-")]
    #[serde(default, deserialize_with = "infra::time::opt_instant")]
    pub departure_after: Option<DateTime<Utc>>,
    /// Departing before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, pattern = "^(19|20|21)[0-9]{2}-")]
    #[serde(default, deserialize_with = "infra::time::opt_instant")]
    pub departure_before: Option<DateTime<Utc>>,
    /// Comma-separated keys among `price`, `departure_at`, `arrival_at`, `duration`; `-` for descending.
    /// Default `departure_at`.
    #[param(
        pattern = "^-?(price|departure_at|arrival_at|duration)(,-?(price|departure_at|arrival_at|duration))*$"
    )]
    pub sort: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// One flight offer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct FlightOffer {
    /// Flight id.
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
    /// Departure, local time at the origin.
    #[schema(value_type = String, pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", example = "2026-12-24T09:30:00")]
    pub departure_local: NaiveDateTime,
    /// Arrival, local time at the destination.
    #[schema(value_type = String, pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$", example = "2026-12-24T09:30:00")]
    pub arrival_local: NaiveDateTime,
    /// Minutes in the air.
    pub duration_min: i32,
    /// `scheduled` or `delayed`.
    pub status: String,
    /// Cabin offered.
    pub cabin: String,
    /// Booking class offered: the cheapest open for the whole party in that cabin.
    pub class: String,
    /// Price per seat in that class, minor units.
    pub price_minor: i64,
    /// Currency.
    pub currency: String,
    /// Seats left in that cabin.
    pub seats_left: i32,
    /// Seats that class may still sell, at most 9 (as availability answers count them).
    pub bookable: i32,
}

/// A page of offers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchPage {
    /// Offers in order.
    pub flights: Vec<FlightOffer>,
    /// Cursor for the next page, if there is one.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Price,
    Departure,
    Arrival,
    Duration,
}

impl Key {
    fn parse(raw: &str) -> Result<(Self, bool)> {
        let (name, descending) = raw.strip_prefix('-').map_or((raw, false), |n| (n, true));
        let key = match name.trim() {
            "price" => Self::Price,
            "departure_at" => Self::Departure,
            "arrival_at" => Self::Arrival,
            "duration" => Self::Duration,
            other => return Err(ApiError::bad_query(format!("cannot sort by {other:?}"))),
        };
        Ok((key, descending))
    }

    const fn column(self) -> &'static str {
        match self {
            Self::Price => "price_minor",
            Self::Departure => "departure_at",
            Self::Arrival => "arrival_at",
            Self::Duration => "duration_min",
        }
    }

    fn value(self, offer: &FlightOffer) -> serde_json::Value {
        match self {
            Self::Price => offer.price_minor.into(),
            Self::Departure => offer.departure_at.to_rfc3339().into(),
            Self::Arrival => offer.arrival_at.to_rfc3339().into(),
            Self::Duration => offer.duration_min.into(),
        }
    }

    fn push_value(self, q: &mut QueryBuilder<'_, Postgres>, v: &serde_json::Value) -> Result<()> {
        let bad = || ApiError::bad_query("`after` does not match this sort");
        match self {
            Self::Price => q.push_bind(v.as_i64().ok_or_else(bad)?),
            Self::Duration => q.push_bind(
                v.as_i64()
                    .and_then(|d| i32::try_from(d).ok())
                    .ok_or_else(bad)?,
            ),
            Self::Departure | Self::Arrival => q.push_bind(
                v.as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|d| d.with_timezone(&Utc))
                    .ok_or_else(bad)?,
            ),
        };
        Ok(())
    }
}

struct Validated {
    origin: Option<AirportCode>,
    destination: Option<AirportCode>,
    cabin: Option<Cabin>,
    passengers: i32,
    limit: i64,
    sort: Vec<(Key, bool)>,
    cursor: Option<serde_json::Value>,
}

fn validate(p: &SearchParams) -> Result<Validated> {
    let code = |c: &Option<String>| {
        c.as_deref()
            .map(AirportCode::parse)
            .transpose()
            .map_err(|e| ApiError::bad_query(e.to_string()))
    };
    let passengers = i32::from(p.passengers.unwrap_or(1));
    if !(1..=9).contains(&passengers) {
        return Err(ApiError::bad_query("passengers must be 1 to 9"));
    }
    let limit = i64::from(p.limit.unwrap_or(20));
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_query("limit must be 1 to 100"));
    }
    if let (Some(lo), Some(hi)) = (p.min_price, p.max_price)
        && lo > hi
    {
        return Err(ApiError::bad_query("min_price is above max_price"));
    }
    let mut sort = Vec::new();
    for raw in p.sort.as_deref().unwrap_or("departure_at").split(',') {
        let (key, desc) = Key::parse(raw.trim())?;
        if sort.iter().any(|(k, _)| *k == key) {
            return Err(ApiError::bad_query("a sort key may appear once"));
        }
        sort.push((key, desc));
    }
    Ok(Validated {
        origin: code(&p.origin)?,
        destination: code(&p.destination)?,
        cabin: p
            .cabin
            .as_deref()
            .map(Cabin::parse)
            .transpose()
            .map_err(|e| ApiError::bad_query(e.to_string()))?,
        passengers,
        limit,
        sort,
        cursor: p.after.as_deref().map(decode_cursor).transpose()?,
    })
}

/// Search flights.
#[utoipa::path(get, path = "/api/v1/flights", tag = "flights", params(SearchParams),
    responses((status = 200, body = SearchPage), (status = 400, body = infra::problem::Problem)))]
async fn search_flights(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<SearchParams>,
) -> Result<Response> {
    let v = validate(&params)?;
    if !state.cache.usable() {
        let (page, _) = search_replica_first(&state, &params, &v, None).await?;
        let bytes = serde_json::to_vec(&page).map_err(|e| ApiError::Internal(e.into()))?;
        return Ok(json_bytes(bytes));
    }
    // The generation in Postgres is the reference (the projector moves it with the rows): a page is
    // cached under the generation read before it was computed, so it is never older than that
    // generation, whatever Redis holds after a restart or a restore from an old snapshot.
    // One read serves every request that arrived while the previous one was in flight, and each
    // request gets a read that started after it arrived (`infra::coalesce`).
    // A search of one route is keyed by that route's generation, which only changes to its flights
    // move; any other search by the generation every change moves.
    let name = generation_name(&v);
    let reference = state
        .search_generations
        .get(&name, || {
            sqlx::query_as("SELECT epoch, generation FROM rm_cache_generations WHERE name = $1")
                .bind(&name)
                .fetch_optional(&state.pool)
        })
        .await?;
    let Some((epoch, generation)) = reference else {
        // No flight was ever projected on this route: nothing worth caching.
        let (page, _) = search_replica_first(&state, &params, &v, None).await?;
        let bytes = serde_json::to_vec(&page).map_err(|e| ApiError::Internal(e.into()))?;
        return Ok(json_bytes(bytes));
    };
    let digest = Sha256::digest(serde_json::to_vec(&params).unwrap_or_default());
    let key = format!("search:{epoch}:{generation}:{}", hex::encode(digest));
    if let Some(bytes) = state.cache.get(&key).await {
        return Ok(json_bytes(bytes));
    }
    let (page, current) =
        search_replica_first(&state, &params, &v, Some((epoch, generation))).await?;
    let bytes = serde_json::to_vec(&page).map_err(|e| ApiError::Internal(e.into()))?;
    // A page from a replica still behind the reference generation is served, not cached under it.
    if current {
        state
            .cache
            .put(
                &key,
                bytes.clone(),
                Duration::from_secs(state.ttl.search_ttl_secs),
            )
            .await;
    }
    Ok(json_bytes(bytes))
}

/// The page from the read replica when one is set (the primary when it fails), and whether the page is
/// at least as new as `reference` (always, from the primary). The replica's generation is read before
/// the search, and a replica only moves forward, so the page is at least that new.
async fn search_replica_first(
    state: &AppState,
    params: &SearchParams,
    v: &Validated,
    reference: Option<(Uuid, i64)>,
) -> Result<(SearchPage, bool)> {
    if state.replica {
        // Both reads under one bound: a hung replica costs a search `REPLICA_READ` at most.
        let replicated: Result<(SearchPage, bool)> = AppState::bounded(async {
            let at: Option<(Uuid, i64)> = sqlx::query_as(
                "SELECT epoch, generation FROM rm_cache_generations WHERE name = $1",
            )
            .bind(generation_name(v))
            .fetch_optional(&state.read)
            .await?;
            let page = run_search(&state.read, params, v).await?;
            let current = reference.is_none_or(|r| at.is_some_and(|at| at.0 == r.0 && at.1 >= r.1));
            Ok((page, current))
        })
        .await;
        match replicated {
            Ok(answer) => return Ok(answer),
            Err(e) => {
                metrics::counter!("replica_fallbacks_total", "read" => "search").increment(1);
                tracing::warn!(error.message = %e, "search on the read replica failed; the primary answers");
            }
        }
    }
    Ok((run_search(&state.pool, params, v).await?, true))
}

/// The generation a search is cached under: its route's when it names both ends, else the global one.
fn generation_name(v: &Validated) -> String {
    match (&v.origin, &v.destination) {
        (Some(origin), Some(destination)) => format!("search:{origin}-{destination}"),
        _ => "search".to_owned(),
    }
}

fn json_bytes(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

async fn run_search(pool: &sqlx::PgPool, p: &SearchParams, v: &Validated) -> Result<SearchPage> {
    let mut q = QueryBuilder::<Postgres>::new(
        "SELECT * FROM (SELECT f.flight_id, f.number, f.origin, f.destination, f.departure_at, f.arrival_at, \
         f.departure_local, f.arrival_local, f.duration_min, f.status, o.cabin, o.class, o.price_minor, o.currency, \
         o.seats_free AS seats_left, least(o.available, 9) AS bookable FROM rm_flights f JOIN LATERAL \
         (SELECT c.cabin, c.class, c.price_minor, c.currency, c.available, cab.seats_free FROM rm_flight_classes c \
         JOIN rm_flight_cabins cab ON cab.flight_id = c.flight_id AND cab.cabin = c.cabin \
         WHERE c.flight_id = f.flight_id AND c.available >= ",
    );
    q.push_bind(v.passengers);
    if let Some(cabin) = v.cabin {
        q.push(" AND c.cabin = ").push_bind(cabin.as_str());
    }
    q.push(" ORDER BY c.price_minor, c.cabin LIMIT 1) o ON true WHERE f.status <> 'cancelled' AND f.closed_at IS NULL AND f.departure_at > now()");
    if let Some(origin) = v.origin {
        q.push(" AND f.origin = ").push_bind(origin.to_string());
    }
    if let Some(destination) = v.destination {
        q.push(" AND f.destination = ")
            .push_bind(destination.to_string());
    }
    if let Some(date) = p.date {
        let start = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        q.push(" AND f.departure_local >= ").push_bind(start);
        q.push(" AND f.departure_local < ")
            .push_bind(start + chrono::Duration::days(1));
    }
    if let Some(after) = p.departure_after {
        q.push(" AND f.departure_at >= ").push_bind(after);
    }
    if let Some(before) = p.departure_before {
        q.push(" AND f.departure_at < ").push_bind(before);
    }
    q.push(") offers WHERE true");
    if let Some(lo) = p.min_price {
        q.push(" AND price_minor >= ").push_bind(lo);
    }
    if let Some(hi) = p.max_price {
        q.push(" AND price_minor <= ").push_bind(hi);
    }
    if let Some(cursor) = &v.cursor {
        push_after(&mut q, &v.sort, cursor)?;
    }
    q.push(" ORDER BY ");
    for (key, desc) in &v.sort {
        q.push(key.column())
            .push(if *desc { " DESC, " } else { " ASC, " });
    }
    q.push("flight_id ASC LIMIT ").push_bind(v.limit + 1);
    let mut rows: Vec<FlightOffer> = q.build_query_as().fetch_all(pool).await?;
    let next = if rows.len() as i64 > v.limit {
        rows.truncate(v.limit as usize);
        rows.last().map(|last| {
            let mut values: Vec<serde_json::Value> =
                v.sort.iter().map(|(k, _)| k.value(last)).collect();
            values.push(last.flight_id.to_string().into());
            encode_cursor(&serde_json::Value::Array(values))
        })
    } else {
        None
    };
    Ok(SearchPage {
        flights: rows,
        next,
    })
}

/// Rows strictly after the cursor in the sort order: for some key i, the keys before it are equal and
/// key i is past the cursor's value (in that key's direction); the flight id breaks full ties.
fn push_after(
    q: &mut QueryBuilder<'_, Postgres>,
    sort: &[(Key, bool)],
    cursor: &serde_json::Value,
) -> Result<()> {
    let values = cursor
        .as_array()
        .filter(|a| a.len() == sort.len() + 1)
        .ok_or_else(|| ApiError::bad_query("`after` does not match this sort"))?;
    let id: Uuid = values[sort.len()]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::bad_query("`after` does not match this sort"))?;
    q.push(" AND (false");
    for i in 0..=sort.len() {
        q.push(" OR (true");
        for (j, (key, _)) in sort.iter().enumerate().take(i) {
            q.push(" AND ").push(key.column()).push(" = ");
            key.push_value(q, &values[j])?;
        }
        match sort.get(i) {
            Some((key, desc)) => {
                q.push(" AND ")
                    .push(key.column())
                    .push(if *desc { " < " } else { " > " });
                key.push_value(q, &values[i])?;
            }
            None => {
                q.push(" AND flight_id > ").push_bind(id);
            }
        }
        q.push(")");
    }
    q.push(")");
    Ok(())
}
