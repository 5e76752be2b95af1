//! `GET /journeys`: priced offers from an origin to a destination on a day, direct or with one stop
//! (through any airport, no sooner than its minimum connecting time after landing and within a day),
//! and with `return_date` round trips (every outbound slice with every inbound one). Each slice is
//! checked by the domain's own journey rules, so an offer is always a journey a booking could hold.
//!
//! Two index reads per slice over the search rows: the flights leaving the origin that day, then the
//! flights into the destination that leave within a day of those landing; the connections are joined
//! in memory. Pages are cached under the search generation, which the flights projection moves with
//! every change of seats, fares or schedules.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::Duration as StdDuration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use domain::journey::{Itinerary, MAX_CONNECTION, Segment};
use domain::values::{AirportCode, Cabin, FlightId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use super::search::FlightOffer;
use super::{AppQuery, decode_cursor, encode_cursor};
use crate::error::{ApiError, Result};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![search_journeys]
}

/// Journey search. `origin`, `destination` and `date` are required.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JourneyParams {
    /// Where the journey starts (IATA).
    #[param(pattern = "^[A-Za-z]{3}$")]
    pub origin: Option<String>,
    /// Where it goes (IATA).
    #[param(pattern = "^[A-Za-z]{3}$")]
    pub destination: Option<String>,
    /// Outbound departure date, local to the origin (`YYYY-MM-DD`).
    #[param(value_type = Option<String>, format = Date, pattern = "^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    #[serde(default, deserialize_with = "infra::time::opt_date")]
    pub date: Option<NaiveDate>,
    /// Return departure date, local to the destination; gives round trips.
    #[param(value_type = Option<String>, format = Date, pattern = "^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
    #[serde(default, deserialize_with = "infra::time::opt_date")]
    pub return_date: Option<NaiveDate>,
    /// Travellers needing a seat (1–9, default 1), all in one cabin per flight.
    #[param(minimum = 1, maximum = 9)]
    pub passengers: Option<u8>,
    /// Cabin on every flight; without it each flight offers its cheapest cabin with enough seats.
    #[param(pattern = "^(economy|premium_economy|business|first)$")]
    pub cabin: Option<String>,
    /// Most stops per slice: 0 (direct only) or 1 (the default).
    #[param(minimum = 0, maximum = 1)]
    pub max_stops: Option<u8>,
    /// Longest slice, minutes from its first departure to its last arrival.
    #[param(minimum = 1, maximum = 10080)]
    pub max_duration: Option<u32>,
    /// The outbound leaving at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, pattern = "^(19|20|21)[0-9]{2}-")]
    #[serde(default, deserialize_with = "infra::time::opt_instant")]
    pub departure_after: Option<DateTime<Utc>>,
    /// The outbound leaving before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, pattern = "^(19|20|21)[0-9]{2}-")]
    #[serde(default, deserialize_with = "infra::time::opt_instant")]
    pub departure_before: Option<DateTime<Utc>>,
    /// `price` (default), `duration` or `departure_at`; `-` for descending.
    #[param(pattern = "^-?(price|duration|departure_at)$")]
    pub sort: Option<String>,
    /// Page size, 1–50 (default 20).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// One flight of an offer: the flight as search offers it, and the wait after it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct OfferSegment {
    /// The flight, its cabin for the party, price per seat and seats left.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub flight: FlightOffer,
    /// Minutes on the ground before the next flight of the slice; none on its last flight.
    #[sqlx(skip)]
    pub connection_min: Option<i64>,
}

/// A slice: out, or back.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OfferSlice {
    /// Where it starts.
    pub origin: String,
    /// Where it ends.
    pub destination: String,
    /// First departure (UTC).
    pub departure_at: DateTime<Utc>,
    /// Last arrival (UTC).
    pub arrival_at: DateTime<Utc>,
    /// Minutes from the first departure to the last arrival.
    pub duration_min: i64,
    /// Stops on the way.
    pub stops: usize,
    /// Its flights, in order.
    pub segments: Vec<OfferSegment>,
}

/// A priced journey for the party.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JourneyOffer {
    /// Stable id of this combination of flights.
    pub id: String,
    /// Out, then back for a round trip.
    pub slices: Vec<OfferSlice>,
    /// Price for every passenger on every flight, minor units.
    pub total: i64,
    /// Currency.
    pub currency: String,
    /// Passengers priced.
    pub passengers: u8,
    /// Minutes over all slices.
    pub duration_min: i64,
}

/// A page of offers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JourneyPage {
    /// Offers in order.
    pub offers: Vec<JourneyOffer>,
    /// Cursor for the next page, if there is one.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Price,
    Duration,
    Departure,
}

struct Query {
    origin: AirportCode,
    destination: AirportCode,
    date: NaiveDate,
    return_date: Option<NaiveDate>,
    passengers: u8,
    cabin: Option<Cabin>,
    max_stops: u8,
    max_duration: Option<i64>,
    /// Bounds of the outbound's first departure.
    window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    sort: (Sort, bool),
    /// The sort as asked, which a cursor must match.
    sort_name: String,
    limit: usize,
    /// The last offer of the previous page: its sort value and id.
    after: Option<(Cursor, String)>,
}

/// Where a page starts: the sort it was made under and the last offer's place in it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Cursor {
    sort: String,
    currency: String,
    value: i64,
}

fn raw_sort_of(p: &JourneyParams) -> &str {
    p.sort.as_deref().unwrap_or("price")
}

fn raw_sort(raw: &str) -> String {
    raw.trim().to_owned()
}

fn validate(p: &JourneyParams) -> Result<Query> {
    let bad = |e: domain::values::ValueError| ApiError::bad_query(e.to_string());
    let code = |c: &Option<String>, name: &str| {
        c.as_deref()
            .ok_or_else(|| ApiError::bad_query(format!("`{name}` is required")))
            .and_then(|c| AirportCode::parse(c).map_err(bad))
    };
    let (origin, destination) = (
        code(&p.origin, "origin")?,
        code(&p.destination, "destination")?,
    );
    if origin == destination {
        return Err(ApiError::bad_query("origin and destination are the same"));
    }
    let date = p
        .date
        .ok_or_else(|| ApiError::bad_query("`date` is required"))?;
    if p.return_date.is_some_and(|r| r < date) {
        return Err(ApiError::bad_query("return_date is before date"));
    }
    let passengers = p.passengers.unwrap_or(1);
    if !(1..=9).contains(&passengers) {
        return Err(ApiError::bad_query("passengers must be 1 to 9"));
    }
    let max_stops = p.max_stops.unwrap_or(1);
    if max_stops > 1 {
        return Err(ApiError::bad_query("max_stops is 0 or 1"));
    }
    if p.max_duration.is_some_and(|d| !(1..=10_080).contains(&d)) {
        return Err(ApiError::bad_query("max_duration is 1 to 10080 minutes"));
    }
    let limit = p.limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::bad_query("limit must be 1 to 50"));
    }
    let raw = raw_sort_of(p);
    let (name, descending) = raw.strip_prefix('-').map_or((raw, false), |n| (n, true));
    let sort = match name {
        "price" => Sort::Price,
        "duration" => Sort::Duration,
        "departure_at" => Sort::Departure,
        other => return Err(ApiError::bad_query(format!("cannot sort by {other:?}"))),
    };
    let after = match p.after.as_deref().map(decode_cursor).transpose()? {
        None => None,
        Some(raw) => {
            let (cursor, id): (Cursor, String) = serde_json::from_value(raw)
                .ok()
                .filter(|(c, _): &(Cursor, String)| c.sort == raw_sort(raw_sort_of(p)))
                .ok_or_else(|| ApiError::bad_query("`after` does not match this search"))?;
            Some((cursor, id))
        }
    };
    Ok(Query {
        origin,
        destination,
        date,
        return_date: p.return_date,
        passengers,
        cabin: p
            .cabin
            .as_deref()
            .map(Cabin::parse)
            .transpose()
            .map_err(bad)?,
        max_stops,
        max_duration: p.max_duration.map(i64::from),
        window: (p.departure_after, p.departure_before),
        sort: (sort, descending),
        sort_name: raw_sort(raw),
        limit: limit as usize,
        after,
    })
}

/// Search journeys.
#[utoipa::path(get, path = "/api/v1/journeys", tag = "flights", params(JourneyParams),
    responses((status = 200, body = JourneyPage), (status = 400, body = infra::problem::Problem)))]
async fn search_journeys(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<JourneyParams>,
) -> Result<Response> {
    let q = validate(&params)?;
    let reference = if state.cache.usable() {
        state
            .search_generations
            .get(&"search".to_owned(), || {
                sqlx::query_as("SELECT epoch, generation FROM rm_cache_generations WHERE name = $1")
                    .bind("search")
                    .fetch_optional(&state.pool)
            })
            .await?
    } else {
        None
    };
    let key = reference.map(|(epoch, generation): (Uuid, i64)| {
        let digest = Sha256::digest(serde_json::to_vec(&params).unwrap_or_default());
        format!("journeys:{epoch}:{generation}:{}", hex::encode(digest))
    });
    if let Some(key) = &key
        && let Some(bytes) = state.cache.get(key).await
    {
        return Ok(json(bytes));
    }
    let page = search(&state.pool, &q).await?;
    let bytes = serde_json::to_vec(&page).map_err(|e| ApiError::Internal(e.into()))?;
    if let Some(key) = &key {
        let ttl = StdDuration::from_secs(state.ttl.search_ttl_secs);
        state.cache.put(key, bytes.clone(), ttl).await;
    }
    Ok(json(bytes))
}

fn json(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

async fn search(pool: &PgPool, q: &Query) -> Result<JourneyPage> {
    let connections = connection_times(pool).await?;
    let outbound = slices(pool, q, (q.origin, q.destination), q.date, &connections).await?;
    let mut offers: Vec<JourneyOffer> = match q.return_date {
        None => outbound
            .into_iter()
            .map(|s| offer(vec![s], q.passengers))
            .collect(),
        Some(date) => {
            let inbound = slices(pool, q, (q.destination, q.origin), date, &connections).await?;
            let min_connection = min_connection(&connections);
            let (outbound, inbound) = (best(outbound, q.sort), best(inbound, q.sort));
            let mut trips = Vec::new();
            for out in &outbound {
                for back in &inbound {
                    let journey = as_segments(&out.segments)
                        .zip(as_segments(&back.segments))
                        .map(|(o, b)| Itinerary::new(vec![o, b], &min_connection));
                    let same_currency =
                        back.segments[0].flight.currency == out.segments[0].flight.currency;
                    if same_currency && journey.is_some_and(|j| j.is_ok()) {
                        trips.push(offer(vec![out.clone(), back.clone()], q.passengers));
                    }
                }
            }
            trips
        }
    };
    let (sort, descending) = q.sort;
    let place = |o: &JourneyOffer| cursor_of(&q.sort_name, sort, o);
    let order = |a: &Cursor, b: &Cursor| {
        // Prices compare within a currency; currencies stay apart, in code order.
        let by_value = if descending {
            b.value.cmp(&a.value)
        } else {
            a.value.cmp(&b.value)
        };
        a.currency.cmp(&b.currency).then(by_value)
    };
    offers.sort_by(|a, b| order(&place(a), &place(b)).then_with(|| a.id.cmp(&b.id)));
    if let Some((after, id)) = &q.after {
        offers.retain(|o| {
            let cmp = order(&place(o), after);
            cmp == Ordering::Greater || (cmp == Ordering::Equal && o.id.as_str() > id.as_str())
        });
    }
    let next = (offers.len() > q.limit).then(|| {
        let last = &offers[q.limit - 1];
        encode_cursor(&serde_json::json!([place(last), last.id]))
    });
    offers.truncate(q.limit);
    Ok(JourneyPage { offers, next })
}

/// An offer's place in the sort (departures in microseconds); prices carry their currency.
fn cursor_of(name: &str, sort: Sort, o: &JourneyOffer) -> Cursor {
    let (currency, value) = match sort {
        Sort::Price => (o.currency.clone(), o.total),
        Sort::Duration => (String::new(), o.duration_min),
        Sort::Departure => (String::new(), o.slices[0].departure_at.timestamp_micros()),
    };
    Cursor {
        sort: name.to_owned(),
        currency,
        value,
    }
}

/// Round trips pair every outbound slice with every inbound one: each side keeps its best
/// [`MAX_SLICES`] for the sort (cheapest, shortest or earliest), so a busy route costs at most
/// `MAX_SLICES²` pairs.
const MAX_SLICES: usize = 100;

fn best(mut slices: Vec<OfferSlice>, (sort, descending): (Sort, bool)) -> Vec<OfferSlice> {
    if slices.len() > MAX_SLICES {
        let price = |s: &OfferSlice| s.segments.iter().map(|g| g.flight.price_minor).sum::<i64>();
        match sort {
            Sort::Price => slices.sort_by_key(price),
            Sort::Duration => slices.sort_by_key(|s| s.duration_min),
            Sort::Departure => slices.sort_by_key(|s| s.departure_at),
        }
        if descending {
            slices.reverse();
        }
        slices.truncate(MAX_SLICES);
    }
    slices
}

/// An airport's minimum connecting time, from `connections` (an hour for an airport not there).
fn min_connection(connections: &HashMap<String, i64>) -> impl Fn(AirportCode) -> Duration + '_ {
    |code: AirportCode| Duration::minutes(connections.get(code.as_str()).copied().unwrap_or(60))
}

/// Every airport's minimum connecting time.
async fn connection_times(pool: &PgPool) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i32)> =
        sqlx::query_as("SELECT code, min_connection_minutes FROM rm_airports")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(c, m)| (c, i64::from(m))).collect())
}

const SEGMENT_COLUMNS: &str = "f.flight_id, f.number, f.origin, f.destination, f.departure_at, \
    f.arrival_at, f.departure_local, f.arrival_local, f.duration_min, f.status, o.cabin, o.class, \
    o.price_minor, o.currency, o.seats_free AS seats_left, least(o.available, 9) AS bookable";

/// Flights on sale with a cabin that seats the party: `where` over `f`, binds from `$3`.
fn segment_sql(condition: &str) -> String {
    format!(
        "SELECT {SEGMENT_COLUMNS} FROM rm_flights f JOIN LATERAL (SELECT c.cabin, c.class, c.price_minor, \
         c.currency, c.available, cab.seats_free FROM rm_flight_classes c JOIN rm_flight_cabins cab \
         ON cab.flight_id = c.flight_id AND cab.cabin = c.cabin WHERE c.flight_id = f.flight_id \
         AND c.available >= $1 AND ($2::text IS NULL OR c.cabin = $2) ORDER BY c.price_minor, c.cabin LIMIT 1) o ON true \
         WHERE f.status <> 'cancelled' AND f.closed_at IS NULL AND f.departure_at > now() AND {condition}"
    )
}

/// The slices from `route.0` to `route.1` leaving on `date`: direct, and with one stop unless the
/// query says direct only.
async fn slices(
    pool: &PgPool,
    q: &Query,
    (from, to): (AirportCode, AirportCode),
    date: NaiveDate,
    connections: &HashMap<String, i64>,
) -> Result<Vec<OfferSlice>> {
    let start = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    let cabin = q.cabin.map(|c| c.as_str().to_owned());
    let mut first: Vec<OfferSegment> = sqlx::query_as(&segment_sql(
        "f.origin = $3 AND f.departure_local >= $4 AND f.departure_local < $5",
    ))
    .bind(i32::from(q.passengers))
    .bind(&cabin)
    .bind(from.as_str())
    .bind(start)
    .bind(start + Duration::days(1))
    .fetch_all(pool)
    .await?;
    if from == q.origin {
        let (after, before) = q.window;
        first.retain(|s| {
            after.is_none_or(|a| s.flight.departure_at >= a)
                && before.is_none_or(|b| s.flight.departure_at < b)
        });
    }
    let min_connection = min_connection(connections);
    let mut chains: Vec<Vec<OfferSegment>> = first
        .iter()
        .filter(|s| s.flight.destination == to.as_str())
        .map(|s| vec![s.clone()])
        .collect();
    let hops: Vec<&OfferSegment> = first
        .iter()
        .filter(|s| s.flight.destination != to.as_str())
        .collect();
    if q.max_stops > 0 && !hops.is_empty() {
        let earliest = hops
            .iter()
            .map(|s| s.flight.arrival_at)
            .min()
            .unwrap_or_default();
        let latest = hops
            .iter()
            .map(|s| s.flight.arrival_at)
            .max()
            .unwrap_or_default()
            + MAX_CONNECTION;
        let second: Vec<OfferSegment> = sqlx::query_as(&segment_sql(
            "f.destination = $3 AND f.departure_at >= $4 AND f.departure_at <= $5 AND f.origin <> $6",
        ))
        .bind(i32::from(q.passengers))
        .bind(&cabin)
        .bind(to.as_str())
        .bind(earliest)
        .bind(latest)
        .bind(from.as_str())
        .fetch_all(pool)
        .await?;
        for a in &hops {
            for b in second.iter().filter(|b| {
                b.flight.origin == a.flight.destination && b.flight.currency == a.flight.currency
            }) {
                chains.push(vec![(*a).clone(), b.clone()]);
            }
        }
    }
    let mut out = Vec::new();
    for chain in chains {
        // The domain decides what a journey is; search offers only what a booking could hold.
        let Some(segments) = as_segments(&chain) else {
            continue;
        };
        if Itinerary::new(vec![segments], &min_connection).is_err() {
            continue;
        }
        let slice = slice_of(chain);
        if q.max_duration.is_none_or(|d| slice.duration_min <= d) {
            out.push(slice);
        }
    }
    Ok(out)
}

fn as_segments(chain: &[OfferSegment]) -> Option<Vec<Segment>> {
    chain
        .iter()
        .map(|s| {
            Some(Segment {
                flight_id: FlightId::from_uuid(s.flight.flight_id),
                origin: AirportCode::parse(&s.flight.origin).ok()?,
                destination: AirportCode::parse(&s.flight.destination).ok()?,
                departure_at: s.flight.departure_at,
                arrival_at: s.flight.arrival_at,
            })
        })
        .collect()
}

fn slice_of(mut segments: Vec<OfferSegment>) -> OfferSlice {
    for i in 1..segments.len() {
        let wait = segments[i].flight.departure_at - segments[i - 1].flight.arrival_at;
        segments[i - 1].connection_min = Some(wait.num_minutes());
    }
    let (first, last) = (&segments[0], &segments[segments.len() - 1]);
    OfferSlice {
        origin: first.flight.origin.clone(),
        destination: last.flight.destination.clone(),
        departure_at: first.flight.departure_at,
        arrival_at: last.flight.arrival_at,
        duration_min: (last.flight.arrival_at - first.flight.departure_at).num_minutes(),
        stops: segments.len() - 1,
        segments,
    }
}

fn offer(slices: Vec<OfferSlice>, passengers: u8) -> JourneyOffer {
    let segments = || slices.iter().flat_map(|s| s.segments.iter());
    let per_seat: i64 = segments().map(|s| s.flight.price_minor).sum();
    let id = segments()
        .map(|s| s.flight.flight_id.simple().to_string())
        .collect::<Vec<_>>()
        .join("-");
    JourneyOffer {
        id,
        currency: slices[0].segments[0].flight.currency.clone(),
        total: per_seat * i64::from(passengers),
        passengers,
        duration_min: slices.iter().map(|s| s.duration_min).sum(),
        slices,
    }
}
