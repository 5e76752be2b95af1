//! One module per resource, merged into one router with its OpenAPI document.

pub mod analytics;
pub mod bookings;
pub mod events;
pub mod flights;
pub mod health;
pub mod history;
pub mod journeys;
pub mod reference;
pub mod search;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

/// The OpenAPI document's frame; paths come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Airline query API", description = "The read side: search, seat maps, bookings, history, analytics."),
    tags((name = "flights"), (name = "bookings"), (name = "reference"), (name = "analytics"), (name = "events"))
)]
pub struct ApiDoc;

/// Every read route under `/api/v1`, and the OpenAPI document describing them.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(search::router())
        .merge(journeys::router())
        .merge(flights::router())
        .merge(bookings::router())
        .merge(reference::router())
        .merge(analytics::router())
        .merge(events::router())
}

/// Query parameters whose rejections are `invalid_query` problems.
#[derive(Debug, Clone)]
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e: QueryRejection| ApiError::bad_query(e.body_text()))
    }
}

/// An opaque cursor: the last row's sort values, base64url JSON.
pub fn encode_cursor(values: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(values.to_string())
}

/// The sort values inside a cursor.
///
/// # Errors
/// `invalid_query` for a cursor this API did not make.
pub fn decode_cursor(cursor: &str) -> Result<serde_json::Value, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::bad_query("`after` is not a cursor from this API"))
}
