//! One module per resource, merged into one router with its OpenAPI document.

pub mod aircraft;
pub mod airports;
pub mod bookings;
pub mod flights;
pub mod health;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use infra::auth::Principal;
use infra::http::{REQUEST_ID, etag};
use infra::problem::Problem;
use serde::Serialize;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::executor::CommandMeta;
use crate::idempotency::IDEMPOTENCY_KEY;
use crate::state::AppState;

/// The OpenAPI document's frame; paths come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Airline command API", description = "The write side: reference data, flights, bookings."),
    modifiers(&BearerAuth),
    tags((name = "airports"), (name = "aircraft"), (name = "flights"), (name = "bookings"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every command route under `/api/v1`, and the OpenAPI document describing them.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(airports::router())
        .merge(aircraft::router())
        .merge(flights::router())
        .merge(bookings::router())
}

/// Request id and idempotency key of the request, for command metadata.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    correlation_id: String,
    idempotency_key: Option<String>,
}

impl RequestMeta {
    /// Metadata for commands issued on behalf of `principal`.
    pub fn for_principal(&self, principal: Principal) -> CommandMeta {
        CommandMeta {
            principal: Some(principal),
            correlation_id: self.correlation_id.clone(),
            causation_id: None,
            idempotency_key: self.idempotency_key.clone(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let text = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Self {
            correlation_id: text(&REQUEST_ID).unwrap_or_default(),
            idempotency_key: text(&IDEMPOTENCY_KEY),
        })
    }
}

/// A JSON body with the aggregate version as `ETag` (and `Location` for a 201).
pub fn versioned<T: Serialize>(
    status: StatusCode,
    version: u64,
    location: Option<String>,
    body: T,
) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::ETAG, etag(version));
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The 403 for customers on admin routes.
pub fn require_admin(principal: &Principal) -> Result<(), crate::error::ApiError> {
    principal.require_admin().map_err(Into::into)
}

/// A 404 problem.
pub fn not_found(code: &str, what: &str) -> crate::error::ApiError {
    Problem::new(StatusCode::NOT_FOUND, code, format!("{what} not found")).into()
}
