//! The notifier's HTTP API (admins): webhook subscriptions and their delivery log under `/api/v1`
//! and dead letters under `/api/v1/admin` (reached through the gateway), and readiness. One module
//! per resource.

pub mod dead_letters;
pub mod health;
pub mod webhooks;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(info(title = "Airline notifier API"), tags((name = "webhooks"), (name = "admin")))]
struct ApiDoc;

/// The webhook routes and their OpenAPI document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(webhooks::router())
        .merge(dead_letters::router())
}
