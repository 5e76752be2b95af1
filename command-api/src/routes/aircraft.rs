//! `POST /aircraft` (admin): a model and its seat layout.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use domain::aircraft::{Aircraft, AircraftCommand, AircraftDetails, SeatLayout, SeatSpec};
use domain::values::{AircraftId, Label};
use infra::auth::Principal;
use infra::http::AppJson;
use infra::problem::Problem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use super::{RequestMeta, execute_one, not_found, require_admin, versioned};
use crate::error::Result;
use crate::executor::Versioned;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![register_aircraft]
}

/// A new aircraft type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAircraftRequest {
    /// Model name.
    #[schema(value_type = String, min_length = 1, max_length = 100, example = "Airbus A320neo")]
    pub model: Label,
    /// Cabins front to back: `{"cabin": "economy", "first_row": 10, "last_row": 30, "letters": "ABC DEF",
    /// "exit_rows": [12, 13]}`; a space in `letters` is an aisle.
    #[schema(value_type = Vec<crate::routes::schemas::CabinLayoutSchema>, min_items = 1, max_items = 4)]
    pub cabins: SeatLayout,
}

/// An aircraft type with its derived seats.
#[derive(Debug, Serialize, ToSchema)]
pub struct AircraftResponse {
    /// Id.
    pub id: Uuid,
    /// Model.
    pub model: String,
    /// Layout as given.
    #[schema(value_type = Vec<Object>)]
    pub cabins: SeatLayout,
    /// Every seat with its characteristics.
    #[schema(value_type = Vec<Object>)]
    pub seats: Vec<SeatSpec>,
}

impl From<&AircraftDetails> for AircraftResponse {
    fn from(d: &AircraftDetails) -> Self {
        Self {
            id: *d.id.as_uuid(),
            model: d.model.to_string(),
            seats: d.layout.seats(),
            cabins: d.layout.clone(),
        }
    }
}

/// Register an aircraft type.
#[utoipa::path(post, path = "/api/v1/aircraft", tag = "aircraft", security(("bearer" = [])),
    request_body = RegisterAircraftRequest,
    responses((status = 201, body = AircraftResponse), (status = 422, body = Problem)))]
async fn register_aircraft(
    State(state): State<AppState>,
    principal: Principal,
    meta: RequestMeta,
    AppJson(req): AppJson<RegisterAircraftRequest>,
) -> Result<Response> {
    require_admin(&principal)?;
    let id = AircraftId::from_uuid(Uuid::now_v7());
    let command = AircraftCommand::Register {
        id,
        model: req.model,
        layout: req.cabins,
    };
    let render = move |done: &Versioned<Aircraft>| {
        let details = done
            .aggregate
            .details()
            .ok_or_else(|| not_found("aircraft_not_found", "aircraft"))?;
        let location = Some(format!("/api/v1/aircraft/{id}"));
        versioned(
            StatusCode::CREATED,
            done.version,
            location,
            AircraftResponse::from(details),
        )
    };
    let meta = meta.for_principal(principal);
    let command = ("RegisterAircraft", command);
    execute_one::<Aircraft, _>(&state, (id.to_string(), None), command, meta, render).await
}
