//! Webhook subscriptions (create, list, delete, pause, resume, rotate the secret) and their delivery
//! log with redelivery, for admins.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use infra::auth::Principal;
use infra::http::AppJson;
use infra::problem::Problem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::destination::{self, Refusal};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::webhooks::{self, Delivery, Webhook};

/// The webhook routes.
pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![
        create_webhook, list_webhooks;
        delete_webhook;
        pause_webhook;
        resume_webhook;
        rotate_secret;
        list_deliveries;
        redeliver
    ]
}

/// The longest webhook URL.
const MAX_URL_BYTES: usize = 2048;
/// The most event patterns on one subscription.
const MAX_PATTERNS: usize = 32;
/// The longest overlap of two secrets after a rotation: a week.
const MAX_OVERLAP_SECS: u32 = 7 * 24 * 3600;

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// An `https://` or `http://` URL on the public internet: no user name or password, no loopback,
    /// private, link-local, CGNAT, metadata, multicast or other non-public address in any spelling.
    #[schema(max_length = 2048, example = "https://hooks.example.com/airline")]
    pub url: String,
    /// Routing-key patterns like RabbitMQ topics: `booking.*`, `flight.FlightCancelled`, `#` (default).
    #[serde(default)]
    #[schema(max_items = 32)]
    pub events: Vec<String>,
}

/// A secret rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long deliveries are signed with the old secret too (default a day, at most a week).
    #[schema(minimum = 0, maximum = 604_800)]
    pub overlap_secs: Option<u32>,
}

/// A new secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The subscription.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The new HMAC-SHA256 key (shown only here).
    pub secret: String,
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
) -> Result<Response> {
    principal.require_admin()?;
    if req.url.len() > MAX_URL_BYTES {
        let detail = format!("url is longer than {MAX_URL_BYTES} bytes");
        return Err(ApiError::unprocessable("invalid_url", detail));
    }
    if let Err(refusal) =
        destination::check_destination(&req.url, state.outbound.allow_private()).await
    {
        let code = match refusal {
            Refusal::Address(_) | Refusal::LocalName | Refusal::ResolvesInside => {
                "forbidden_destination"
            }
            _ => "invalid_url",
        };
        return Err(ApiError::unprocessable(code, refusal.to_string()));
    }
    if req.events.len() > MAX_PATTERNS {
        let detail = format!("at most {MAX_PATTERNS} event patterns");
        return Err(ApiError::unprocessable("invalid_events", detail));
    }
    let events = if req.events.is_empty() {
        vec!["#".to_owned()]
    } else {
        req.events
    };
    let pattern_ok =
        |p: &String| !p.is_empty() && p.len() <= 255 && p.split('.').all(|w| !w.is_empty());
    if !events.iter().all(pattern_ok) {
        let detail = "events are patterns like booking.*";
        return Err(ApiError::unprocessable("invalid_events", detail));
    }
    let (webhook, secret) =
        webhooks::create(&state.pool, &req.url, &events, principal.user_id).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedWebhook { webhook, secret }),
    )
        .into_response())
}

/// Every subscription.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<Webhook>), (status = 403, body = Problem)))]
async fn list_webhooks(State(state): State<AppState>, principal: Principal) -> Result<Response> {
    principal.require_admin()?;
    Ok(axum::Json(webhooks::list(&state.pool).await?).into_response())
}

fn webhook_not_found() -> ApiError {
    ApiError::not_found("webhook_not_found", "webhook not found")
}

/// Delete a subscription and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    principal.require_admin()?;
    if webhooks::delete(&state.pool, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(webhook_not_found())
    }
}

async fn set_active(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    active: bool,
) -> Result<axum::Json<Webhook>> {
    principal.require_admin()?;
    let webhook = webhooks::set_active(&state.pool, id, active).await?;
    webhook.map(axum::Json).ok_or_else(webhook_not_found)
}

/// Pause a subscription: events from now on are not delivered to it.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/pause", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Webhook), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn pause_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Webhook>> {
    set_active(&state, &principal, id, false).await
}

/// Resume a paused subscription.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/resume", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Webhook), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn resume_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Webhook>> {
    set_active(&state, &principal, id, true).await
}

/// Rotate the signing secret. Until `previous_secret_expires_at`, every delivery carries two `v1`
/// signatures in `Webhook-Signature` (new secret first, then the old), so a receiver can switch over.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/secret", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body(content = Option<RotateSecret>),
    responses((status = 200, body = RotatedSecret), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> Result<axum::Json<RotatedSecret>> {
    principal.require_admin()?;
    // The body is optional: none (or `{}`) takes the default overlap.
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecret::default()
    } else {
        serde_json::from_slice::<RotateSecret>(&body)
            .map_err(|e| ApiError::unprocessable("invalid_body", e.to_string()))?
    };
    let overlap = request.overlap_secs.unwrap_or(24 * 3600);
    if overlap > MAX_OVERLAP_SECS {
        let detail = format!("overlap_secs is at most {MAX_OVERLAP_SECS}");
        return Err(ApiError::unprocessable("invalid_overlap", detail));
    }
    let (webhook, secret) = webhooks::rotate_secret(&state.pool, id, overlap)
        .await?
        .ok_or_else(webhook_not_found)?;
    Ok(axum::Json(RotatedSecret { webhook, secret }))
}

/// A subscription's delivery log, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Vec<Delivery>), (status = 403, body = Problem)))]
async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<Delivery>>> {
    principal.require_admin()?;
    Ok(axum::Json(
        webhooks::deliveries(&state.pool, id, 100).await?,
    ))
}

/// Deliver again now (whatever its status) and return the outcome.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", tag = "webhooks",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("delivery" = Uuid, Path)),
    responses((status = 200, body = Delivery), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn redeliver(
    State(state): State<AppState>,
    principal: Principal,
    Path((id, delivery)): Path<(Uuid, Uuid)>,
) -> Result<axum::Json<Delivery>> {
    principal.require_admin()?;
    let not_found = || ApiError::not_found("delivery_not_found", "delivery not found");
    let owned: Option<Uuid> = sqlx::query_scalar(
        "SELECT delivery_id FROM webhook_deliveries WHERE delivery_id = $1 AND webhook_id = $2",
    )
    .bind(delivery)
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    owned.ok_or_else(not_found)?;
    let outcome = webhooks::attempt(&state.pool, &state.outbound, delivery).await?;
    outcome.map(axum::Json).ok_or_else(not_found)
}
