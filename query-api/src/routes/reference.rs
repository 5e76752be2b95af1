//! `GET /airports`, `GET /airports/{code}`, `GET /aircraft`, `GET /aircraft/{id}`, `GET /currencies`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::error::{ApiError, Result};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![list_airports; get_airport; list_aircraft; get_aircraft; list_currencies]
}

/// An airport.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AirportView {
    /// IATA code.
    pub code: String,
    /// Name.
    pub name: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: String,
    /// IANA time zone.
    pub time_zone: String,
    /// Minimum connecting time, minutes: a journey leaves here no sooner after landing.
    pub min_connection_minutes: i32,
}

/// An aircraft type.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AircraftView {
    /// Id.
    pub aircraft_id: Uuid,
    /// Model.
    pub model: String,
    /// Cabins and their rows and letters.
    #[schema(value_type = Vec<Object>)]
    pub cabins: serde_json::Value,
    /// Seats in all.
    pub seat_count: i32,
}

/// A currency prices may be in, and how its minor units read: an amount of `amount_minor` is
/// `amount_minor / 10^exponent` of the currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyView {
    /// ISO 4217 code.
    #[schema(example = "JPY")]
    pub code: &'static str,
    /// Digits after the decimal point (EUR 2, JPY 0, KWD 3).
    #[schema(minimum = 0, maximum = 3)]
    pub exponent: u8,
}

/// Every currency prices may be in, by code, with its minor-unit exponent. The same for every caller and
/// release: cacheable for a day.
#[utoipa::path(get, path = "/api/v1/currencies", tag = "reference", responses((status = 200, body = Vec<CurrencyView>)))]
async fn list_currencies() -> Response {
    let list: Vec<CurrencyView> = domain::values::Currency::known()
        .map(|(code, exponent)| CurrencyView { code, exponent })
        .collect();
    (
        [(axum::http::header::CACHE_CONTROL, "public, max-age=86400")],
        axum::Json(list),
    )
        .into_response()
}

/// Every airport, by code.
#[utoipa::path(get, path = "/api/v1/airports", tag = "reference", responses((status = 200, body = Vec<AirportView>)))]
async fn list_airports(State(state): State<AppState>) -> Result<Response> {
    let rows: Vec<AirportView> = sqlx::query_as(
        "SELECT code, name, city, country, time_zone, min_connection_minutes FROM rm_airports ORDER BY code",
    )
    .fetch_all(&state.pool)
    .await?;
    Ok(axum::Json(rows).into_response())
}

/// One airport.
#[utoipa::path(get, path = "/api/v1/airports/{code}", tag = "reference", params(("code" = String, Path)),
    responses((status = 200, body = AirportView), (status = 404, body = infra::problem::Problem)))]
async fn get_airport(State(state): State<AppState>, Path(code): Path<String>) -> Result<Response> {
    let row: Option<AirportView> = sqlx::query_as(
        "SELECT code, name, city, country, time_zone, min_connection_minutes FROM rm_airports WHERE code = $1",
    )
    .bind(code.to_ascii_uppercase())
    .fetch_optional(&state.pool)
    .await?;
    row.map(|r| axum::Json(r).into_response())
        .ok_or_else(|| ApiError::not_found("airport_not_found", "airport"))
}

/// Every aircraft type.
#[utoipa::path(get, path = "/api/v1/aircraft", tag = "reference", responses((status = 200, body = Vec<AircraftView>)))]
async fn list_aircraft(State(state): State<AppState>) -> Result<Response> {
    let rows: Vec<AircraftView> =
        sqlx::query_as("SELECT aircraft_id, model, cabins, seat_count FROM rm_aircraft ORDER BY model, aircraft_id")
            .fetch_all(&state.pool)
            .await?;
    Ok(axum::Json(rows).into_response())
}

/// One aircraft type.
#[utoipa::path(get, path = "/api/v1/aircraft/{id}", tag = "reference", params(("id" = Uuid, Path)),
    responses((status = 200, body = AircraftView), (status = 404, body = infra::problem::Problem)))]
async fn get_aircraft(State(state): State<AppState>, Path(id): Path<Uuid>) -> Result<Response> {
    let row: Option<AircraftView> = sqlx::query_as(
        "SELECT aircraft_id, model, cabins, seat_count FROM rm_aircraft WHERE aircraft_id = $1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    row.map(|r| axum::Json(r).into_response())
        .ok_or_else(|| ApiError::not_found("aircraft_not_found", "aircraft"))
}
