//! `/readyz`: Postgres, Redis and every service behind the gateway, by their own `/readyz`; and
//! `GET /api/v1/admin/status`, the same report in full for admins wherever they are (the console's
//! operations page), since `/readyz` tells callers off the gateway's host only the overall status.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use infra::auth::Principal;
use infra::problem::Problem;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// How long an upstream's `/readyz` may take.
const UPSTREAM_READY_TIMEOUT: Duration = Duration::from_secs(2);

/// 503 when Postgres is down or the command API, the query API or the projector is not ready (writes,
/// reads or fresh read models are missing); 200 `degraded` when only Redis, the notifier, the gateway's
/// session listener or a non-critical worker behind an upstream is in trouble; 200 `ready` otherwise. Every upstream's own
/// answer is included.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<Value>) {
    let (ready, report) = report(&state).await;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report))
}

/// The admin routes of the gateway itself.
pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![admin_status]
}

/// The whole system's state for operators: the readiness report of the gateway and of every service
/// behind it, each worker with its state, lag, restarts and last error, and the projections' lag.
/// Always 200 for an admin: `status` says `ready`, `degraded` or `not_ready`.
#[utoipa::path(get, path = "/api/v1/admin/status", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "the readiness report in full", body = Object),
        (status = 401, body = Problem), (status = 403, description = "`forbidden`: admins only", body = Problem)))]
async fn admin_status(State(state): State<AppState>, principal: Principal) -> Response {
    if let Err(problem) = principal.require_admin() {
        return problem.into_response();
    }
    axum::Json(report(&state).await.1).into_response()
}

/// Whether the system is ready, and the report that says why.
async fn report(state: &AppState) -> (bool, Value) {
    let database = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    let redis = state.redis.ping().await;
    let upstreams = &state.upstreams;
    let (command, query, projector, notifier) = tokio::join!(
        upstream_ready(state, &upstreams.command_api),
        upstream_ready(state, &upstreams.query_api),
        upstream_ready(state, &upstreams.projector),
        upstream_ready(state, &upstreams.notifier),
    );
    let required = [&command, &query, &projector];
    let ready = database && required.iter().all(|u| u.ready);
    // The session listener down means grants are read from Postgres on every request: correct, slower.
    let workers = state.workers.report();
    let degraded = !redis
        || !notifier.ready
        || required.iter().any(|u| u.degraded)
        || workers.degraded
        || !workers.ready;
    let word = match (ready, degraded) {
        (false, _) => "not_ready",
        (true, true) => "degraded",
        (true, false) => "ready",
    };
    let up = |b: bool| if b { "up" } else { "down" };
    let report = json!({
        "status": word,
        "database": up(database), "redis": up(redis),
        "command_api": command.body, "query_api": query.body,
        "projector": projector.body, "notifier": notifier.body,
        "workers": workers.workers,
    });
    (ready, report)
}

struct Upstream {
    ready: bool,
    degraded: bool,
    body: Value,
}

/// Every instance of a (comma-separated) upstream: ready when one is, degraded when any is down or
/// degraded; one instance's report as it is, several as a list.
async fn upstream_ready(state: &AppState, list: &str) -> Upstream {
    let bases: Vec<&str> = crate::config::instances(list).collect();
    if bases.len() <= 1 {
        return instance_ready(state, bases.first().copied().unwrap_or("")).await;
    }
    let each = futures::future::join_all(bases.iter().map(|b| instance_ready(state, b))).await;
    Upstream {
        ready: each.iter().any(|u| u.ready),
        degraded: each.iter().any(|u| u.degraded || !u.ready),
        body: json!({
            "status": if each.iter().all(|u| u.ready) { "ready" } else { "degraded" },
            "instances": bases.iter().zip(&each).map(|(b, u)| json!({"url": b, "report": u.body})).collect::<Vec<_>>(),
        }),
    }
}

async fn instance_ready(state: &AppState, base: &str) -> Upstream {
    if base.is_empty() {
        return Upstream {
            ready: true,
            degraded: false,
            body: json!({"status": "not_checked"}),
        };
    }
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    let answer = state
        .client
        .get(url)
        .timeout(UPSTREAM_READY_TIMEOUT)
        .send()
        .await;
    let Ok(response) = answer else {
        return Upstream {
            ready: false,
            degraded: false,
            body: json!({"status": "unreachable"}),
        };
    };
    let ok = response.status().is_success();
    let body = response
        .json::<Value>()
        .await
        .unwrap_or_else(|_| json!({"status": "unreadable"}));
    let degraded = body.get("status").and_then(Value::as_str) == Some("degraded");
    Upstream {
        ready: ok,
        degraded,
        body,
    }
}
