//! `POST /airports`, `PATCH /airports/{code}` (admin).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use domain::airport::{Airport, AirportCommand, AirportDetails};
use domain::values::{AirportCode, ConnectionTime, CountryCode, Label, TimeZone};
use infra::auth::Principal;
use infra::http::{AppJson, if_match};
use infra::problem::Problem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use super::{RequestMeta, execute_one, not_found, require_admin, versioned};
use crate::error::Result;
use crate::executor::Versioned;
use crate::outcome::StoredResponse;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![register_airport; update_airport]
}

/// A new airport.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAirportRequest {
    /// IATA code.
    #[schema(value_type = String, pattern = "^[A-Za-z]{3}$", example = "CDG")]
    pub code: AirportCode,
    /// Name.
    #[schema(value_type = String, min_length = 1, max_length = 100, example = "Paris Charles de Gaulle")]
    pub name: Label,
    /// City.
    #[schema(value_type = String, min_length = 1, max_length = 100, example = "Paris")]
    pub city: Label,
    /// ISO 3166 country.
    #[schema(value_type = String, pattern = "^[A-Za-z]{2}$", example = "FR")]
    pub country: CountryCode,
    /// IANA time zone.
    #[schema(value_type = String, pattern = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$", max_length = 64, example = "Europe/Paris")]
    pub time_zone: TimeZone,
    /// Minimum connecting time in minutes (default 60): a journey leaves here no sooner after landing.
    #[serde(default)]
    #[schema(value_type = u16, minimum = 10, maximum = 720, default = 60, example = 45)]
    pub min_connection_minutes: ConnectionTime,
}

/// Changes; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAirportRequest {
    /// Name.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub name: Option<Label>,
    /// City.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    pub city: Option<Label>,
    /// Country.
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z]{2}$")]
    pub country: Option<CountryCode>,
    /// Time zone.
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$", max_length = 64)]
    pub time_zone: Option<TimeZone>,
    /// Minimum connecting time in minutes.
    #[schema(value_type = Option<u16>, minimum = 10, maximum = 720)]
    pub min_connection_minutes: Option<ConnectionTime>,
}

/// An airport.
#[derive(Debug, Serialize, ToSchema)]
pub struct AirportResponse {
    /// IATA code.
    pub code: String,
    /// Name.
    pub name: String,
    /// City.
    pub city: String,
    /// Country.
    pub country: String,
    /// Time zone.
    pub time_zone: String,
    /// Minimum connecting time, minutes.
    pub min_connection_minutes: u16,
}

impl From<&AirportDetails> for AirportResponse {
    fn from(d: &AirportDetails) -> Self {
        Self {
            code: d.code.to_string(),
            name: d.name.to_string(),
            city: d.city.to_string(),
            country: d.country.to_string(),
            time_zone: d.time_zone.to_string(),
            min_connection_minutes: d.min_connection_minutes.minutes(),
        }
    }
}

fn render(status: StatusCode) -> impl Fn(&Versioned<Airport>) -> Result<StoredResponse> + Send {
    move |done| {
        let details = done
            .aggregate
            .details()
            .ok_or_else(|| not_found("airport_not_found", "airport"))?;
        let location = Some(format!("/api/v1/airports/{}", details.code));
        versioned(
            status,
            done.version,
            location,
            AirportResponse::from(details),
        )
    }
}

/// Register an airport.
#[utoipa::path(post, path = "/api/v1/airports", tag = "airports", security(("bearer" = [])),
    request_body = RegisterAirportRequest,
    responses((status = 201, body = AirportResponse), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn register_airport(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    AppJson(req): AppJson<RegisterAirportRequest>,
) -> Result<Response> {
    require_admin(&principal)?;
    let id = req.code.to_string();
    let command = AirportCommand::Register {
        code: req.code,
        name: req.name,
        city: req.city,
        country: req.country,
        time_zone: req.time_zone,
        min_connection_minutes: req.min_connection_minutes,
    };
    let meta = meta.for_principal(principal);
    let command = ("RegisterAirport", command);
    execute_one::<Airport, _>(
        &state,
        (id, None),
        command,
        meta,
        render(StatusCode::CREATED),
    )
    .await
}

/// Update an airport.
#[utoipa::path(patch, path = "/api/v1/airports/{code}", tag = "airports", security(("bearer" = [])),
    params(("code" = String, Path, description = "IATA code")),
    request_body = UpdateAirportRequest,
    responses((status = 200, body = AirportResponse), (status = 404, body = Problem), (status = 412, body = Problem)))]
async fn update_airport(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    Path(code): Path<String>,
    headers: HeaderMap,
    AppJson(req): AppJson<UpdateAirportRequest>,
) -> Result<Response> {
    require_admin(&principal)?;
    let code = AirportCode::parse(&code)?;
    let expected = if_match(&headers)?;
    let command = AirportCommand::Update {
        name: req.name,
        city: req.city,
        country: req.country,
        time_zone: req.time_zone,
        min_connection_minutes: req.min_connection_minutes,
    };
    let meta = meta.for_principal(principal);
    let (id, command) = (code.to_string(), ("UpdateAirport", command));
    execute_one::<Airport, _>(
        &state,
        (id, expected),
        command,
        meta,
        render(StatusCode::OK),
    )
    .await
}
