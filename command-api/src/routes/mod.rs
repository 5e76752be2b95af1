//! One module per resource, merged into one router with its OpenAPI document.

pub mod aircraft;
pub mod airports;
pub mod bookings;
pub mod flights;
pub mod health;
pub mod schemas;

use axum::extract::FromRequestParts;
pub use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use infra::auth::Principal;
use infra::http::{Committing, REQUEST_ID, etag};
use infra::problem::Problem;
use serde::Serialize;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::executor::{CommandMeta, Stream, StreamKey, Versioned, one_command};
use crate::idempotency::IDEMPOTENCY_KEY;
use crate::outcome::{IdempotencyClaim, StoredResponse};
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
    claim: Option<IdempotencyClaim>,
    committing: Option<Committing>,
    client: Option<String>,
}

impl RequestMeta {
    /// Metadata for commands issued on behalf of `principal`.
    pub fn for_principal(&self, principal: Principal) -> CommandMeta {
        CommandMeta {
            principal: Some(principal),
            correlation_id: self.correlation_id.clone(),
            causation_id: None,
            idempotency_key: self.idempotency_key.clone(),
            claim: self.claim.clone(),
            committing: self.committing.clone(),
            client: self.client.clone(),
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
            claim: parts.extensions.get::<IdempotencyClaim>().cloned(),
            committing: parts.extensions.get::<Committing>().cloned(),
            client: client_address(parts),
        })
    }
}

/// The client's address: the one the gateway forwards for (it sets `X-Forwarded-For` to the client it
/// resolved, and only its own tokens are accepted here), or else the peer's.
fn client_address(parts: &Parts) -> Option<String> {
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .and_then(|v| v.parse::<std::net::IpAddr>().ok());
    let peer = || {
        parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip())
    };
    forwarded.or_else(peer).map(|ip| ip.to_string())
}

/// A JSON body with the aggregate version as `ETag` (and `Location` for a 201), as stored for replay.
///
/// # Errors
/// Serialization failures (a bug).
pub fn versioned<T: Serialize>(
    status: StatusCode,
    version: u64,
    location: Option<String>,
    body: T,
) -> Result<StoredResponse, ApiError> {
    let body = serde_json::to_vec(&body)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("response body: {e}")))?;
    let mut headers = vec![
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
        (header::ETAG, etag(version)),
    ];
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.push((header::LOCATION, location));
    }
    Ok(StoredResponse {
        status: status.as_u16(),
        headers,
        body: body.into(),
    })
}

/// Runs one command on one aggregate (its own lane), checking `If-Match` against the version it is
/// appended to, and responds with `render`.
///
/// # Errors
/// The aggregate's rule, 412, store failures.
pub async fn execute_one<A, R>(
    state: &AppState,
    (id, expected): (String, Option<u64>),
    (name, command): (&'static str, A::Command),
    meta: CommandMeta,
    render: R,
) -> Result<Response, ApiError>
where
    A: Stream,
    A::Command: Clone + Send,
    ApiError: From<A::Error>,
    R: Fn(&Versioned<A>) -> Result<StoredResponse, ApiError> + Send + 'static,
{
    let lane = StreamKey::of::<A>(&id);
    let decide = one_command::<A>(id, expected, name, command);
    let (_, response) = state.executor.respond(lane, meta, decide, render).await?;
    Ok(response)
}

/// The 403 for customers on admin routes.
pub fn require_admin(principal: &Principal) -> Result<(), crate::error::ApiError> {
    principal.require_admin().map_err(Into::into)
}

/// A 404 problem.
pub fn not_found(code: &str, what: &str) -> crate::error::ApiError {
    Problem::new(StatusCode::NOT_FOUND, code, format!("{what} not found")).into()
}
