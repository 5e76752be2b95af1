//! The consumers' dead letters, for operators (admins): list them, or put them back on their queue.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use infra::auth::Principal;
use infra::problem::Problem;
use utoipa_axum::router::OpenApiRouter;

use crate::error::Result;
use crate::state::AppState;

/// The dead-letter routes.
pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![list_dead_letters; requeue_dead_letters]
}

/// The consumer an operator route names, for admins only.
fn operator_consumer(principal: &Principal, name: &str) -> Result<&'static str, Problem> {
    principal.require_admin()?;
    match name {
        "email" => Ok("email"),
        "webhooks" => Ok("webhooks"),
        _ => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "consumer_not_found",
            "consumers are email and webhooks",
        )),
    }
}

/// Dead letters of a consumer (`email` or `webhooks`), at most 100, left in place (admins).
#[utoipa::path(get, path = "/api/v1/admin/dead-letters/{consumer}", tag = "admin", security(("bearer" = [])),
    params(("consumer" = String, Path, pattern = "^(email|webhooks)$")),
    responses((status = 200, body = Vec<Object>), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn list_dead_letters(
    State(state): State<AppState>,
    principal: Principal,
    Path(consumer): Path<String>,
) -> Result<Response> {
    let consumer = operator_consumer(&principal, &consumer)?;
    let list = crate::consumer::dead_letters(&state.amqp, consumer, 100).await?;
    Ok(axum::Json(list).into_response())
}

/// Puts a consumer's dead letters back on its queue (admins).
#[utoipa::path(post, path = "/api/v1/admin/dead-letters/{consumer}/requeue", tag = "admin", security(("bearer" = [])),
    params(("consumer" = String, Path, pattern = "^(email|webhooks)$")),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn requeue_dead_letters(
    State(state): State<AppState>,
    principal: Principal,
    Path(consumer): Path<String>,
) -> Result<Response> {
    let consumer = operator_consumer(&principal, &consumer)?;
    let moved = crate::consumer::requeue_dead_letters(&state.amqp, consumer).await?;
    Ok(axum::Json(serde_json::json!({"requeued": moved})).into_response())
}
