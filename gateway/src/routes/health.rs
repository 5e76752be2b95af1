//! `/readyz`: Postgres, Redis and every service behind the gateway, by their own `/readyz`.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// How long an upstream's `/readyz` may take.
const UPSTREAM_READY_TIMEOUT: Duration = Duration::from_secs(2);

/// 503 when Postgres is down or the command API, the query API or the projector is not ready (writes,
/// reads or fresh read models are missing); 200 `degraded` when only Redis, the notifier, the gateway's
/// session listener or a non-critical worker behind an upstream is in trouble; 200 `ready` otherwise. Every upstream's own
/// answer is included.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<Value>) {
    let database = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    let redis = state.redis.ping().await;
    let upstreams = &state.upstreams;
    let (command, query, projector, notifier) = tokio::join!(
        upstream_ready(&state, &upstreams.command_api),
        upstream_ready(&state, &upstreams.query_api),
        upstream_ready(&state, &upstreams.projector),
        upstream_ready(&state, &upstreams.notifier),
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
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let up = |b: bool| if b { "up" } else { "down" };
    (
        status,
        axum::Json(json!({
            "status": word,
            "database": up(database), "redis": up(redis),
            "command_api": command.body, "query_api": query.body,
            "projector": projector.body, "notifier": notifier.body,
            "workers": workers.workers,
        })),
    )
}

struct Upstream {
    ready: bool,
    degraded: bool,
    body: Value,
}

async fn upstream_ready(state: &AppState, base: &str) -> Upstream {
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
