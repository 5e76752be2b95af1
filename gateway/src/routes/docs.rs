//! `GET /openapi.json`: the gateway's own document merged with the services' (fetched live, so it is
//! always theirs; a service that is down is left out and logged). `GET /docs` serves Swagger UI from
//! files built into the binary, so it works offline. Errors are documented as problems throughout
//! ([`infra::problem::document_problems`]).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::OpenApi;

use crate::state::AppState;

/// The merged document.
pub async fn openapi(State(state): State<AppState>, own: OpenApi) -> Response {
    let mut merged = own;
    let upstreams = [
        &state.upstreams.command_api,
        &state.upstreams.query_api,
        &state.upstreams.notifier,
    ];
    // One instance of each: they serve the same document.
    for base in upstreams
        .into_iter()
        .filter_map(|l| crate::config::instances(l).next())
    {
        let url = format!("{}/openapi.json", base.trim_end_matches('/'));
        let fetched = state
            .client
            .get(&url)
            .timeout(state.upstreams.timeout())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        match fetched {
            Ok(response) => match response.json::<OpenApi>().await {
                Ok(doc) => merged.merge(doc),
                Err(e) => {
                    tracing::warn!(error.message = %e, url, "an upstream OpenAPI document does not parse")
                }
            },
            Err(e) => {
                tracing::warn!(error.message = %e, url, "an upstream OpenAPI document is unavailable")
            }
        }
    }
    merged.info.title = "Airline API".to_owned();
    merged.info.description = Some("Everything behind the gateway, under /api/v1.".to_owned());
    let mut doc = serde_json::to_value(merged).unwrap_or_default();
    infra::problem::document_problems(&mut doc);
    axum::Json(doc).into_response()
}
