//! `/readyz`: Postgres, Redis and the upstreams.

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::AppState;

/// 200 when Postgres and both APIs answer; Redis and the notifier are reported (the gateway works
/// without them).
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let database = sqlx::query("SELECT 1").execute(&state.pool).await.is_ok();
    let redis = state.redis.generation("health").await.is_some();
    let up = |base: String| {
        let client = state.client.clone();
        async move {
            client
                .get(format!("{}/healthz", base.trim_end_matches('/')))
                .timeout(std::time::Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    };
    let (command, query, notifier) = tokio::join!(
        up(state.upstreams.command_api.clone()),
        up(state.upstreams.query_api.clone()),
        up(state.upstreams.notifier.clone())
    );
    let word = |b: bool| if b { "up" } else { "down" };
    let ready = database && command && query;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({
            "status": if ready { "ready" } else { "not_ready" },
            "database": word(database), "redis": word(redis),
            "command_api": word(command), "query_api": word(query), "notifier": word(notifier),
        })),
    )
}
