//! The notifier's HTTP API (admins): webhook subscriptions and their delivery log under `/api/v1`
//! (reached through the gateway), dead letters under `/admin` (operators, on the notifier's own port),
//! and readiness.

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use infra::amqp::{AmqpError, AmqpSettings};
use infra::auth::{JwtVerifier, Principal};
use infra::http::AppJson;
use infra::problem::Problem;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::webhooks::{self, Delivery, Webhook};

/// Shared state.
#[derive(Clone)]
pub struct AppState {
    /// Postgres.
    pub pool: PgPool,
    /// Token checks.
    pub verifier: JwtVerifier,
    /// Calls webhook endpoints.
    pub client: reqwest::Client,
    /// The broker.
    pub amqp: AmqpSettings,
    /// The consumers' health.
    pub workers: infra::supervisor::Registry,
}

impl FromRef<AppState> for JwtVerifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

#[derive(OpenApi)]
#[openapi(info(title = "Airline notifier API"), tags((name = "webhooks")))]
struct ApiDoc;

/// The webhook routes and their OpenAPI document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(list_deliveries))
        .routes(routes!(redeliver))
}

/// A failed request: 503 when the database or the broker is away (worth a retry), 500 otherwise.
fn internal(e: impl std::error::Error + 'static) -> Response {
    let e: &(dyn std::error::Error + 'static) = &e;
    let broker_away = e
        .downcast_ref::<AmqpError>()
        .is_some_and(|a| matches!(a, AmqpError::Broker(_) | AmqpError::Timeout(_)));
    if infra::db::unavailable_in_chain(e) {
        tracing::warn!(error.message = %e, "notifier request failed: database unavailable");
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; retry later",
        )
        .into_response();
    }
    if broker_away {
        tracing::warn!(error.message = %e, "notifier request failed: broker unavailable");
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "broker_unavailable",
            "the message broker is unavailable; retry later",
        )
        .into_response();
    }
    tracing::error!(error.message = %e, "notifier request failed");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "something went wrong on our side",
    )
    .into_response()
}

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `https://…` (or `http://` for local receivers).
    pub url: String,
    /// Routing-key patterns like RabbitMQ topics: `booking.*`, `flight.FlightCancelled`, `#` (default).
    #[serde(default)]
    pub events: Vec<String>,
}

/// A created subscription with its signing secret (shown only here).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    /// The subscription.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// HMAC-SHA256 key for `Webhook-Signature`.
    pub secret: String,
}

/// Subscribe an endpoint to events.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])), request_body = CreateWebhook,
    responses((status = 201, body = CreatedWebhook), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(req): AppJson<CreateWebhook>,
) -> Response {
    if let Err(p) = principal.require_admin() {
        return p.into_response();
    }
    let url_ok = reqwest::Url::parse(&req.url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !url_ok {
        return Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_url",
            "url must be an http(s) URL",
        )
        .into_response();
    }
    let events = if req.events.is_empty() {
        vec!["#".to_owned()]
    } else {
        req.events
    };
    let pattern_ok =
        |p: &String| !p.is_empty() && p.len() <= 255 && p.split('.').all(|w| !w.is_empty());
    if !events.iter().all(pattern_ok) {
        return Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_events",
            "events are patterns like booking.*",
        )
        .into_response();
    }
    match webhooks::create(&state.pool, &req.url, &events, principal.user_id).await {
        Ok((webhook, secret)) => (
            StatusCode::CREATED,
            axum::Json(CreatedWebhook { webhook, secret }),
        )
            .into_response(),
        Err(e) => internal(e),
    }
}

/// Every subscription.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<Webhook>), (status = 403, body = Problem)))]
async fn list_webhooks(State(state): State<AppState>, principal: Principal) -> Response {
    if let Err(p) = principal.require_admin() {
        return p.into_response();
    }
    match webhooks::list(&state.pool).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(e) => internal(e),
    }
}

/// A subscription's delivery log, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<Delivery>), (status = 403, body = Problem)))]
async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Response {
    if let Err(p) = principal.require_admin() {
        return p.into_response();
    }
    match webhooks::deliveries(&state.pool, id, 100).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(e) => internal(e),
    }
}

/// Deliver again now (whatever its status) and return the outcome.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("delivery" = Uuid, Path)),
    responses((status = 200, body = Delivery), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn redeliver(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, delivery)): Path<(Uuid, Uuid)>,
) -> Response {
    if let Err(p) = principal.require_admin() {
        return p.into_response();
    }
    let owned: Result<Option<Uuid>, _> = sqlx::query_scalar(
        "SELECT delivery_id FROM webhook_deliveries WHERE delivery_id = $1 AND webhook_id = $2",
    )
    .bind(delivery)
    .bind(id)
    .fetch_optional(&state.pool)
    .await;
    match owned {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Problem::new(
                StatusCode::NOT_FOUND,
                "delivery_not_found",
                "delivery not found",
            )
            .into_response();
        }
        Err(e) => return internal(e),
    }
    match webhooks::attempt(&state.pool, &state.client, delivery).await {
        Ok(Some(d)) => axum::Json(d).into_response(),
        Ok(None) => Problem::new(
            StatusCode::NOT_FOUND,
            "delivery_not_found",
            "delivery not found",
        )
        .into_response(),
        Err(e) => internal(e),
    }
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

/// Dead letters of a consumer, left in place (operators).
pub async fn list_dead_letters(
    State(state): State<AppState>,
    principal: Principal,
    Path(consumer): Path<String>,
) -> Response {
    let consumer = match operator_consumer(&principal, &consumer) {
        Ok(c) => c,
        Err(p) => return p.into_response(),
    };
    match crate::consumer::dead_letters(&state.amqp, consumer, 100).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(e) => internal(e),
    }
}

/// Puts a consumer's dead letters back on its queue (operators).
pub async fn requeue_dead_letters(
    State(state): State<AppState>,
    principal: Principal,
    Path(consumer): Path<String>,
) -> Response {
    let consumer = match operator_consumer(&principal, &consumer) {
        Ok(c) => c,
        Err(p) => return p.into_response(),
    };
    match crate::consumer::requeue_dead_letters(&state.amqp, consumer).await {
        Ok(moved) => axum::Json(serde_json::json!({"requeued": moved})).into_response(),
        Err(e) => internal(e),
    }
}

/// Ready when Postgres answers and both consumers are consuming (not stuck in a message).
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    state
        .workers
        .report()
        .readiness(database, serde_json::Map::new())
}
